// `sublens study --run ...`: the plan made from recorded run folders, one variant per folder, or
// replicates (several training seeds of one network) given as NAME=DIR,DIR,... See
// include/sublens/study/plan.hpp.
#include <glob.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <set>

#include "sublens/core/error.hpp"
#include "sublens/io/run.hpp"
#include "sublens/study/plan.hpp"

namespace sublens::study {
namespace {

namespace fs = std::filesystem;

bool valid_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

// A folder's name made a valid variant name.
std::string name_from_folder(const fs::path& dir) {
  std::string name;
  for (char c : dir.filename().string()) name += valid_name_char(c) ? c : '_';
  if (name.empty() || name == "." || name == "..") name = "run";
  return name;
}

// `pattern` expanded as the shell would (sorted); itself when it is an existing path (a folder
// named "run[1]") or matches nothing, so that the run reader names the missing folder.
std::vector<fs::path> expand(const std::string& pattern) {
  std::error_code error;
  if (fs::exists(pattern, error)) return {pattern};
  glob_t matches{};
  std::vector<fs::path> out;
  if (glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
    for (std::size_t i = 0; i < matches.gl_pathc; ++i) out.emplace_back(matches.gl_pathv[i]);
  }
  globfree(&matches);
  if (out.empty()) out.emplace_back(pattern);
  return out;
}

std::string file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Replicates are the same network on the same analysis inputs: equal layers, N and labels.
void check_replicate(const io::RunFolder& first, const io::RunFolder& run) {
  std::vector<std::string> a, b;
  for (const auto& layer : first.layers) a.push_back(layer.name);
  for (const auto& layer : run.layers) b.push_back(layer.name);
  const std::string same = "must equal those of " + first.json_file().string() +
                           " (runs given as NAME=DIR,... are replicates of one network)";
  if (a != b) throw InputError(run.json_file().string(), "layers", same);
  if (run.n_inputs != first.n_inputs) throw InputError(run.json_file().string(), "n_inputs", same);
  if (file_bytes(run.labels_file()) != file_bytes(first.labels_file())) {
    throw InputError(run.labels_file().string(), "labels", same);
  }
}

// The training seed a run records (metadata.seed), if it is a non-negative integer.
std::optional<std::uint64_t> recorded_seed(const io::RunFolder& run) {
  const auto seed = run.metadata.find("seed");
  if (seed == run.metadata.end() || !seed->is_number_integer() || seed->get<std::int64_t>() < 0) {
    return std::nullopt;
  }
  return seed->get<std::uint64_t>();
}

// The seeds that name the replicates: the recorded ones when every run has a distinct one,
// else 0, 1, 2, ...
std::vector<std::uint64_t> replicate_seeds(const std::vector<io::RunFolder>& runs) {
  std::vector<std::uint64_t> seeds;
  std::set<std::uint64_t> distinct;
  for (const auto& run : runs) {
    const auto seed = recorded_seed(run);
    if (!seed || !distinct.insert(*seed).second) break;
    seeds.push_back(*seed);
  }
  if (seeds.size() == runs.size()) return seeds;
  seeds.clear();
  for (std::size_t k = 0; k < runs.size(); ++k) seeds.push_back(k);
  return seeds;
}

VariantPlan recorded_variant(const io::RunFolder& run, const std::string& name) {
  if (run.epochs.empty()) {
    throw InputError(run.json_file().string(), "epochs", "must list at least one epoch");
  }
  VariantPlan variant;
  variant.run = fs::weakly_canonical(fs::absolute(run.dir));
  variant.group = "runs";
  variant.name = name;
  variant.layers.clear();  // every layer of the run
  variant.dynamics = run.epochs.size() > 1;
  variant.inputs = true;
  return variant;
}

std::string unique(const std::string& base, std::set<std::string>& names) {
  std::string name = base;
  for (int k = 2; !names.insert(name).second; ++k) name = base + "-" + std::to_string(k);
  return name;
}

}  // namespace

RunArgument parse_run_argument(const std::string& text) {
  std::error_code error;
  const auto equals = text.find('=');
  if (equals == std::string::npos || fs::is_directory(text, error)) {
    return {"", expand(text)};
  }
  RunArgument argument{text.substr(0, equals), {}};
  if (argument.name.empty() ||
      !std::all_of(argument.name.begin(), argument.name.end(), valid_name_char)) {
    throw InputError("--run " + text, "NAME",
                     "must be letters, digits, '.', '_' or '-' (NAME=DIR,DIR,...)");
  }
  std::string rest = text.substr(equals + 1);
  for (std::size_t start = 0; start <= rest.size();) {
    const auto comma = std::min(rest.find(',', start), rest.size());
    const std::string item = rest.substr(start, comma - start);
    if (item.empty()) throw InputError("--run " + text, "DIR", "must not be empty");
    for (auto& dir : expand(item)) argument.dirs.push_back(dir);
    start = comma + 1;
  }
  return argument;
}

Plan plan_for_runs(const std::vector<RunArgument>& arguments) {
  Plan plan;
  plan.file = "--run";
  plan.name = "runs";
  std::set<std::string> names;
  std::int64_t smallest_n = std::numeric_limits<std::int64_t>::max();
  for (const auto& argument : arguments) {
    std::vector<io::RunFolder> runs;
    for (const auto& dir : argument.dirs) {
      runs.push_back(io::read_run(dir, /*check_values=*/true));
      smallest_n = std::min<std::int64_t>(smallest_n, runs.back().n_inputs);
      if (runs.size() > 1 && !argument.name.empty()) check_replicate(runs.front(), runs.back());
    }
    if (argument.name.empty()) {  // one variant per folder, named after it
      for (const auto& run : runs) {
        plan.variants.push_back(recorded_variant(run, unique(name_from_folder(run.dir), names)));
      }
      continue;
    }
    const auto seeds = replicate_seeds(runs);
    for (std::size_t k = 0; k < runs.size(); ++k) {
      const std::string name =
          runs.size() == 1 ? argument.name : argument.name + ".seed" + std::to_string(seeds[k]);
      if (!names.insert(name).second) {
        throw InputError("--run " + argument.name, "NAME",
                         "makes the variant \"" + name + "\", whose name is already used");
      }
      VariantPlan variant = recorded_variant(runs[k], name);
      if (runs.size() > 1) variant.replicate_of = argument.name;
      variant.seed = seeds[k];
      plan.variants.push_back(variant);
    }
  }
  plan.nmf_ranks.erase(std::remove_if(plan.nmf_ranks.begin(), plan.nmf_ranks.end(),
                                      [&](int rank) { return rank >= smallest_n; }),
                       plan.nmf_ranks.end());
  for (auto& variant : plan.variants) {
    variant.nmf = !plan.nmf_ranks.empty() && fs::is_regular_file(variant.run / "inputs.npy");
  }
  return plan;
}

Plan plan_for_runs(const std::vector<fs::path>& runs) {
  std::vector<RunArgument> arguments;
  for (const auto& dir : runs) arguments.push_back({"", {dir}});
  return plan_for_runs(arguments);
}

}  // namespace sublens::study
