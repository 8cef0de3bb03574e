#include "command.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "sublens/core/error.hpp"
#include "sublens/io/io.hpp"

namespace sublens::cli {
namespace {
std::vector<CommandSpec>& registry() {
  static std::vector<CommandSpec> commands;
  return commands;
}

std::string& current_command() {
  static std::string name;
  return name;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}
}  // namespace

bool register_command(CommandSpec spec) {
  registry().push_back(std::move(spec));
  return true;
}

const std::vector<CommandSpec>& registered_commands() { return registry(); }

void set_command_name(std::string name) { current_command() = std::move(name); }

void warn(const std::string& message) {
  std::fprintf(stderr, "sublens %s: warning: %s\n", current_command().c_str(), message.c_str());
}

void apply_global_threads(const CLI::Option& global_threads, CLI::App& command) {
  if (global_threads.count() == 0) return;
  CLI::Option* own = command.get_option_no_throw("--threads");
  if (own == nullptr) {
    throw CLI::ValidationError("--threads", "does not apply to '" + command.get_name() + "'");
  }
  if (own->count() > 0) return;  // the command's own --threads wins
  for (const auto& value : global_threads.results()) own->add_result(value);
  own->run_callback();
}

int report_parse_error(CLI::App& app, const CLI::ParseError& error) {
  if (error.get_exit_code() == 0) return app.exit(error);  // --help, --version
  const std::vector<CLI::App*> chosen = app.get_subcommands();
  const std::string name = chosen.empty() ? "sublens" : "sublens " + chosen.front()->get_name();
  std::string what = error.what();
  if (chosen.empty() && !app.remaining().empty()) {
    std::string commands;
    for (const auto& spec : registered_commands())
      commands += (commands.empty() ? "" : ", ") + spec.name;
    what =
        "unknown command or option '" + app.remaining().front() + "' (commands: " + commands + ")";
  }
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
  std::fprintf(stderr, "%s: error: %s (see '%s --help')\n", name.c_str(), what.c_str(),
               name.c_str());
  return 2;
}

void warn_deprecated_spellings() {
  for (const auto& line : take_deprecation_lines()) warn(line);
}

std::vector<std::string> select_layers(const std::string& source,
                                       const std::vector<std::string>& available,
                                       const std::vector<std::string>& patterns,
                                       const std::string& option) {
  if (patterns.empty()) return available;
  std::vector<std::string> selected;
  for (const auto& pattern : patterns) {
    bool matched = false;
    for (const auto& name : available) {
      if (name != pattern && fnmatch(pattern.c_str(), name.c_str(), 0) != 0) continue;
      matched = true;
      if (std::find(selected.begin(), selected.end(), name) == selected.end()) {
        selected.push_back(name);
      }
    }
    if (!matched) {
      std::string field = option;
      field.append(" '").append(pattern).append("'");
      throw InputError(source, field, "matches no layer (available: " + join(available) + ")");
    }
  }
  return selected;
}

std::vector<std::string> select_activation_layers(const std::filesystem::path& path,
                                                  const std::vector<std::string>& patterns,
                                                  const std::string& option) {
  std::vector<std::string> available;
  for (const auto& array : io::list_arrays(path)) available.push_back(array.name);
  return select_layers(path.string(), available, patterns, option);
}

SparseMatrix read_affinity_graph(const std::filesystem::path& path, const std::string& option) {
  require_readable_file(path, option);
  if (!is_sparse_npz(path)) {
    const std::string got = path.extension() == ".npz" ? "an .npz of dense arrays (activations?)"
                            : path.extension() == ".npy"
                                ? "a dense .npy array"
                                : "a " + path.extension().string() + " file";
    throw InputError(path.string(), option,
                     "expects an affinity graph (scipy-sparse .npz) from `sublens ssc`, got " +
                         got + "; run `sublens ssc ACTS --layers NAME -o w.npz` first");
  }
  return io::read_sparse_npz(path);
}

IntVector read_labels(const std::filesystem::path& path, const std::string& option) {
  IntVector labels = read_int_vector(path);
  if (labels.size() == 0 || labels.minCoeff() < 0) return labels;  // the consumer reports these
  const std::int64_t largest = labels.maxCoeff();
  std::vector<bool> present(static_cast<std::size_t>(largest) + 1, false);
  for (const std::int64_t label : labels) present[static_cast<std::size_t>(label)] = true;
  std::vector<std::string> absent;
  for (std::size_t c = 0; c < present.size(); ++c) {
    if (!present[c]) absent.push_back(std::to_string(c));
  }
  if (absent.empty()) return labels;
  const std::string counted = "classes are counted from 0 to " + std::to_string(largest) +
                              " (n_classes " + std::to_string(largest + 1) + ")";
  if (absent.size() == 1 && absent.front() == "0") {
    warn(path.string() + ": " + option + ": labels look 1-based (no 0); " + counted +
         "; subtract 1 if class 0 is not meant to be empty");
  } else {
    const std::size_t shown = std::min<std::size_t>(absent.size(), 10);
    std::string missing =
        join({absent.begin(), absent.begin() + static_cast<std::ptrdiff_t>(shown)});
    if (shown < absent.size()) missing += " and " + std::to_string(absent.size() - shown) + " more";
    warn(path.string() + ": " + option + ": labels have gaps (no " + missing + "); " + counted +
         "; renumber them 0..C-1 if those classes are not meant to be empty");
  }
  return labels;
}

void require_writable_file(const std::filesystem::path& output, const std::string& option) {
  namespace fs = std::filesystem;
  if (output.empty()) throw InputError("(none)", option, "an output path is required");
  if (fs::is_directory(output))
    throw InputError(output.string(), option, "is a folder, expected a file path");
  const fs::path parent = output.has_parent_path() ? output.parent_path() : fs::path(".");
  if (!fs::is_directory(parent)) {
    throw InputError(output.string(), option, "folder " + parent.string() + " does not exist");
  }
}

void require_readable_file(const std::filesystem::path& input, const std::string& option) {
  namespace fs = std::filesystem;
  if (!fs::exists(input)) throw InputError(input.string(), option, "file does not exist");
  if (fs::is_directory(input))
    throw InputError(input.string(), option, "is a folder, expected a file");
}

nlohmann::json json_number(double value) {
  if (!std::isfinite(value)) return nullptr;
  return value;
}

IntVector read_int_vector(const std::filesystem::path& path) {
  const std::vector<std::int64_t> values = io::read_int_vector(path);
  return Eigen::Map<const IntVector>(values.data(), static_cast<Index>(values.size()));
}

bool is_sparse_npz(const std::filesystem::path& path) {
  return path.extension() == ".npz" && io::sparse_npz_format(path).has_value();
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace sublens::cli
