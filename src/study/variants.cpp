// Resolving a plan's variants before anything runs: zoo models (capture points from `sublens
// models`, layer selections, analysed epochs) and recorded run folders (run.json against the
// variant's keys). See pipeline.hpp.
#include <fnmatch.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "pipeline.hpp"
#include "sublens/core/error.hpp"
#include "sublens/io/run.hpp"
#include "sublens/study/study.hpp"

namespace sublens::study::detail {
namespace {

// The capture points a layer selection names, in forward order (see VariantPlan::layers).
std::vector<std::string> resolve_layers(const json& points,
                                        const std::vector<std::string>& selection, const Plan& plan,
                                        const std::string& key, const std::string& model) {
  std::vector<std::string> names;
  std::vector<bool> spatial;
  for (const auto& point : points) {
    if (point["name"] == "logits") continue;
    names.push_back(point["name"].get<std::string>());
    spatial.push_back(point["shape"].size() == 3);
  }
  std::vector<std::string> chosen;
  const std::string& first = selection.at(0);
  if (first == "all") return names;
  if (first == "convs" || first == "final-conv" || first == "blocks") {
    // A block output is a spatial capture point that is neither a conv inside a block
    // ("stage1.block1.conv1") nor nested in another capture point ("block1.layer3" in "block1").
    auto nested = [&](const std::string& name) {
      for (std::size_t dot = name.find('.'); dot != std::string::npos;
           dot = name.find('.', dot + 1)) {
        if (std::find(names.begin(), names.end(), name.substr(0, dot)) != names.end()) return true;
      }
      return false;
    };
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (!spatial[i]) continue;
      const std::string last = names[i].substr(names[i].rfind('.') + 1);
      if (first == "blocks" && (last.rfind("conv", 0) == 0 || nested(names[i]))) continue;
      chosen.push_back(names[i]);
    }
    if (first == "final-conv" && !chosen.empty()) chosen = {chosen.back()};
    if (chosen.empty()) {
      throw InputError(plan.file.string(), key,
                       "preset \"" + first + "\" selects no capture point of " + model);
    }
    return chosen;
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    for (const auto& pattern : selection) {
      if (fnmatch(pattern.c_str(), names[i].c_str(), 0) == 0) {
        chosen.push_back(names[i]);
        break;
      }
    }
  }
  for (const auto& pattern : selection) {
    if (std::none_of(names.begin(), names.end(), [&](const std::string& name) {
          return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
        })) {
      throw InputError(plan.file.string(), key,
                       std::string("\"")
                           .append(pattern)
                           .append("\" matches no capture point of ")
                           .append(model)
                           .append(" (")
                           .append(join(names, ", "))
                           .append(")"));
    }
  }
  return chosen;
}

// The analysed epochs of a zoo variant: with dynamics 1, k, 2k, ... and the last, plus the
// heatmap epochs (they need their graphs); without, the heatmap epochs.
std::vector<int> zoo_epochs(const VariantPlan& v) {
  std::vector<int> epochs;
  if (v.dynamics) {
    for (int e = 1; e <= v.epochs; ++e) {
      if (e == 1 || e % v.dynamics_every == 0 || e == v.epochs) epochs.push_back(e);
    }
  }
  for (int e : v.heatmap_epochs) {
    if (std::find(epochs.begin(), epochs.end(), e) == epochs.end()) epochs.push_back(e);
  }
  std::sort(epochs.begin(), epochs.end());
  return epochs;
}

// `sublens models` for a zoo variant (memoised per distinct model); its refusal names the key.
const json& describe_model(const Plan& plan, const VariantPlan& v, const DatasetFacts& facts,
                           const std::string& key, std::map<std::vector<std::string>, json>& memo) {
  std::vector<std::string> args = {"models"};
  const auto model = model_args(v);
  args.insert(args.end(), model.begin(), model.end());
  args.insert(args.end(), {"--input",
                           std::to_string(facts.shape[0]) + "," + std::to_string(facts.shape[1]) +
                               "," + std::to_string(facts.shape[2]),
                           "--num-classes", std::to_string(facts.classes)});
  try {
    if (!memo.count(args)) memo[args] = run_self(args, true).at(0);
  } catch (const StepFailed& failure) {
    std::string message = failure.error_output;
    if (const auto colon = message.find("error: "); colon != std::string::npos) {
      message = message.substr(colon + 7);
    }
    message = message.substr(0, message.find('\n'));
    if (failure.exit_code != 2) {
      throw std::runtime_error(std::string(failure.what()) + ": " + message);
    }
    throw InputError(plan.file.string(), key, message);
  }
  return memo[args];
}

Variant resolve_zoo(const Plan& plan, const VariantPlan& v, const std::string& key,
                    const DatasetFacts& facts, const fs::path& dir,
                    std::map<std::vector<std::string>, json>& memo) {
  Variant variant;
  variant.plan = &v;
  variant.paths = Paths{dir, v.name};
  variant.run = RunFiles{dir / "acts" / v.name};
  variant.description = describe_model(plan, v, facts, key, memo);
  const json& points = variant.description["capture_points"];
  const std::string model = variant.description["model"].get<std::string>();
  variant.layers = resolve_layers(points, v.layers, plan, key + ".layers", model);
  variant.nmf_layers = plan.nmf_layers.empty() || !v.nmf
                           ? variant.layers
                           : resolve_layers(points, plan.nmf_layers, plan, "nmf.layers", model);
  variant.nmf_separate =
      !std::all_of(variant.nmf_layers.begin(), variant.nmf_layers.end(), [&](auto& l) {
        return std::find(variant.layers.begin(), variant.layers.end(), l) != variant.layers.end();
      });
  variant.epochs = zoo_epochs(v);
  variant.nmf_acts = variant.nmf_separate ? dir / "nmf-acts" / (v.name + ".safetensors")
                                          : variant.run.acts(variant.last());
  return variant;
}

// The layers of a recorded run a variant analyses: all of them, or those its globs match.
std::vector<std::string> run_layers(const io::RunFolder& run, const VariantPlan& v,
                                    const std::string& key, const Plan& plan) {
  std::vector<std::string> names;
  for (const auto& layer : run.layers) names.push_back(layer.name);
  if (v.layers.empty()) return names;
  std::vector<std::string> chosen;
  for (const auto& name : names) {
    if (std::any_of(v.layers.begin(), v.layers.end(), [&](const std::string& pattern) {
          return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
        })) {
      chosen.push_back(name);
    }
  }
  for (const auto& pattern : v.layers) {
    if (std::none_of(names.begin(), names.end(), [&](const std::string& name) {
          return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
        })) {
      throw InputError(plan.file.string(), key,
                       "\"" + pattern + "\" matches no layer of the run " + run.dir.string() +
                           " (" + join(names, ", ") + ")");
    }
  }
  return chosen;
}

// Recorded epochs analysed: with dynamics the first, every k-th and the last; plus the heatmap
// epochs, which must have been recorded.
std::vector<int> run_epochs(const io::RunFolder& run, const VariantPlan& v, const std::string& key,
                            const Plan& plan) {
  std::vector<int> recorded;
  for (const auto& e : run.epochs) recorded.push_back(e.epoch);
  std::vector<int> epochs;
  if (v.dynamics) {
    for (int e : recorded) {
      if (e == recorded.front() || e % v.dynamics_every == 0 || e == recorded.back()) {
        epochs.push_back(e);
      }
    }
  }
  std::vector<std::string> listed;
  listed.reserve(recorded.size());
  for (int e : recorded) listed.push_back(std::to_string(e));
  for (int e : v.heatmap_epochs) {
    if (std::find(recorded.begin(), recorded.end(), e) == recorded.end()) {
      throw InputError(plan.file.string(), key + ".heatmap_epochs",
                       "epoch " + std::to_string(e) + " was not recorded in " +
                           run.json_file().string() + " (recorded: " + join(listed, ", ") + ")");
    }
    epochs.push_back(e);
  }
  epochs.push_back(recorded.back());
  std::sort(epochs.begin(), epochs.end());
  epochs.erase(std::unique(epochs.begin(), epochs.end()), epochs.end());
  return epochs;
}

Variant resolve_recorded(const Plan& plan, const VariantPlan& v, const std::string& key,
                         const fs::path& dir) {
  std::error_code error;
  if (!fs::is_directory(v.run, error) || !io::is_run_folder(v.run)) {
    throw InputError(plan.file.string(), key + ".run",
                     "must be a run folder holding run.json (" + v.run.string() + ")");
  }
  const io::RunFolder run = io::read_run(v.run, /*check_values=*/true);
  if (run.epochs.empty()) {
    throw InputError(run.json_file().string(), "epochs", "must list at least one recorded epoch");
  }
  Variant variant;
  variant.plan = &v;
  variant.paths = Paths{dir, v.name};
  variant.run = RunFiles{v.run};
  variant.layers = run_layers(run, v, key + ".layers", plan);
  variant.nmf_layers = variant.layers;
  variant.all_layers = variant.layers.size() == run.layers.size();
  variant.epochs = run_epochs(run, v, key, plan);
  variant.nmf_acts = variant.run.acts(variant.last());
  if (v.nmf && !run.input_shape) {
    throw InputError(plan.file.string(), key + ".nmf",
                     "needs the run's inputs (" + run.inputs_file().string() +
                         " is absent): coupled NMF factorizes inputs and activations together");
  }
  if (v.nmf && plan.nmf_ranks.back() >= run.n_inputs) {
    throw InputError(plan.file.string(), "nmf.ranks",
                     "must be < the run's N = " + std::to_string(run.n_inputs) + " (" +
                         run.json_file().string() + ")");
  }
  variant.description = {{"recorded", true},
                         {"n_inputs", run.n_inputs},
                         {"n_classes", run.n_classes},
                         {"epochs", run.epochs.size()},
                         {"metadata", run.metadata}};
  return variant;
}

}  // namespace

json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path.string(), "file", "must exist and be readable");
  try {
    return json::parse(in);
  } catch (const json::exception& error) {
    throw InputError(path.string(), "JSON", error.what());
  }
}

std::vector<std::string> model_args(const VariantPlan& v) {
  std::vector<std::string> args = {"--model", v.model};
  if (v.depth > 0) args.insert(args.end(), {"--depth", std::to_string(v.depth)});
  if (v.width > 0) args.insert(args.end(), {"--width", std::to_string(v.width)});
  if (v.base_width > 0) args.insert(args.end(), {"--base-width", std::to_string(v.base_width)});
  if (v.growth_rate > 0) {
    args.insert(args.end(), {"--growth-rate", std::to_string(v.growth_rate)});
  }
  return args;
}

DatasetFacts dataset_facts(const Plan& plan) {
  if (plan.dataset == "cifar10") return {{3, 32, 32}, 10};
  if (plan.dataset == "cifar100") return {{3, 32, 32}, 100};
  if (plan.dataset != "npy") return {{1, 28, 28}, 10};
  std::vector<std::int64_t> shape;
  for (const std::string& split : std::vector<std::string>{"train", plan.split}) {
    const fs::path images = plan.data_dir / (split + "_images.npy");
    std::error_code error;
    if (!fs::is_regular_file(images, error)) {
      throw InputError(
          plan.file.string(), "dataset.data_dir",
          "must hold " + images.filename().string() + " for dataset npy (" + images.string() + ")");
    }
    const auto arrays = io::list_arrays(images);
    const auto& s = arrays.at(0).shape;
    if (s.size() != 3 && s.size() != 4) {
      throw InputError(images.string(), "shape", "must be N x H x W or N x C x H x W");
    }
    if (split == plan.split && plan.n > s[0]) {
      throw InputError(
          plan.file.string(), "analysis.n",
          "must be <= " + std::to_string(s[0]) + " (images in " + images.string() + ")");
    }
    shape = s.size() == 3 ? std::vector<std::int64_t>{1, s[1], s[2]}
                          : std::vector<std::int64_t>{s[1], s[2], s[3]};
  }
  // The class count only sizes the logits of `sublens models` (parameter counts); the labels
  // themselves are read by the training.
  return {shape, 10};
}

std::vector<Variant> resolve_variants(const Plan& plan, const fs::path& dir) {
  const bool any_zoo = std::any_of(plan.variants.begin(), plan.variants.end(),
                                   [](const VariantPlan& v) { return v.run.empty(); });
  const DatasetFacts facts = any_zoo ? dataset_facts(plan) : DatasetFacts{};
  std::vector<Variant> variants;
  std::map<std::vector<std::string>, json> memo;
  for (std::size_t i = 0; i < plan.variants.size(); ++i) {
    const VariantPlan& v = plan.variants[i];
    const std::string key = "variants[" + std::to_string(i) + "]";
    variants.push_back(v.run.empty() ? resolve_zoo(plan, v, key, facts, dir, memo)
                                     : resolve_recorded(plan, v, key, dir));
  }
  return variants;
}

}  // namespace sublens::study::detail

namespace sublens::study {

using nlohmann::json;

json check_plan(const Plan& plan) {
  // Fixed shapes for the standard datasets: their files need not be present for a check.
  json variants = json::array();
  for (const detail::Variant& v : detail::resolve_variants(plan, {})) {
    json row = {{"name", v.plan->name},
                {"layers", v.layers},
                {"nmf_layers", v.plan->nmf ? json(v.nmf_layers) : json()},
                {"epochs_analysed", v.epochs}};
    if (v.recorded()) {
      row["run"] = v.run.dir.string();
      row["metadata"] = v.description["metadata"];
    } else {
      row["model"] = v.description["model"];
      row["parameters"] = v.description["parameters"];
    }
    variants.push_back(row);
  }
  return {{"plan", to_json(plan)}, {"variants", variants}};
}

}  // namespace sublens::study
