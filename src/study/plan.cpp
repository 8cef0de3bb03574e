// Study plans (TOML, read with toml++). See include/sublens/study/plan.hpp and plans/README.md.
#include "sublens/study/plan.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

#include "sublens/core/error.hpp"
#include "sublens/io/run.hpp"
#include "sublens/models/models.hpp"

namespace sublens::study {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::set<std::string> kDatasets = {"fashion-mnist", "mnist", "cifar10", "cifar100", "npy"};
const std::set<std::string> kPresets = {"blocks", "convs", "final-conv", "all"};

// Keys of [training] that a variant may also set.
const std::set<std::string> kTrainingKeys = {
    "model",          "depth",          "width",    "base_width", "growth_rate", "train_fraction",
    "classes",        "ordered",        "epochs",   "batch_size", "lr",          "momentum",
    "weight_decay",   "lr_step",        "lr_gamma", "seed",       "layers",      "dynamics",
    "dynamics_every", "heatmap_epochs", "inputs",   "nmf",        "seeds"};

// Keys a recorded-run variant may set (the rest describe training).
const std::set<std::string> kRunKeys = {"name",   "group",    "run",
                                        "layers", "dynamics", "dynamics_every",
                                        "inputs", "nmf",      "heatmap_epochs"};

class Reader {
 public:
  explicit Reader(fs::path file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& constraint) const {
    throw InputError(file_.string(), key, constraint);
  }

  void only_keys(const toml::table& table, const std::string& where,
                 const std::set<std::string>& allowed) const {
    for (const auto& [key, node] : table) {
      const std::string name(key.str());
      if (!allowed.count(name)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        list.insert(0, "is not a known key (known: ");
        list += ")";
        fail(where.empty() ? name : std::string(where).append(".").append(name), list);
      }
    }
  }

  const toml::table* table(const toml::table& parent, const std::string& key,
                           const std::string& where) const {
    const toml::node* node = parent.get(key);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) fail(where, "must be a table ([" + key + "])");
    return node->as_table();
  }

  void string(const toml::table& t, const std::string& key, const std::string& where,
              std::string& out) const {
    if (const toml::node* node = t.get(key)) {
      if (!node->is_string()) fail(where, "must be a string");
      out = node->as_string()->get();
    }
  }

  template <typename Int>
  void integer(const toml::table& t, const std::string& key, const std::string& where, Int& out,
               std::int64_t low,
               std::int64_t high = std::numeric_limits<std::int32_t>::max()) const {
    if (const toml::node* node = t.get(key)) {
      if (!node->is_integer()) fail(where, "must be an integer");
      const std::int64_t value = node->as_integer()->get();
      if (value < low || value > high) {
        fail(where, "must be in [" + std::to_string(low) + ", " + std::to_string(high) + "], not " +
                        std::to_string(value));
      }
      out = static_cast<Int>(value);
    }
  }

  void number(const toml::table& t, const std::string& key, const std::string& where,
              double& out) const {
    if (const toml::node* node = t.get(key)) {
      if (node->is_integer()) {
        out = static_cast<double>(node->as_integer()->get());
      } else if (node->is_floating_point()) {
        out = node->as_floating_point()->get();
      } else {
        fail(where, "must be a number");
      }
      if (!std::isfinite(out)) fail(where, "must be finite");
    }
  }

  void boolean(const toml::table& t, const std::string& key, const std::string& where,
               bool& out) const {
    if (const toml::node* node = t.get(key)) {
      if (!node->is_boolean()) fail(where, "must be true or false");
      out = node->as_boolean()->get();
    }
  }

  template <typename Int>
  void integers(const toml::table& t, const std::string& key, const std::string& where,
                std::vector<Int>& out, std::int64_t low,
                std::int64_t high = std::numeric_limits<std::int32_t>::max()) const {
    if (const toml::node* node = t.get(key)) {
      if (!node->is_array()) fail(where, "must be an array of integers");
      out.clear();
      for (const auto& item : *node->as_array()) {
        if (!item.is_integer()) fail(where, "must be an array of integers");
        const std::int64_t value = item.as_integer()->get();
        if (value < low || value > high) {
          fail(where, "entries must be in [" + std::to_string(low) + ", " + std::to_string(high) +
                          "], not " + std::to_string(value));
        }
        out.push_back(static_cast<Int>(value));
      }
    }
  }

  // A preset name or a list of globs.
  void layers(const toml::table& t, const std::string& key, const std::string& where,
              std::vector<std::string>& out) const {
    const toml::node* node = t.get(key);
    if (node == nullptr) return;
    out.clear();
    if (node->is_string()) {
      out.push_back(node->as_string()->get());
    } else if (node->is_array()) {
      for (const auto& item : *node->as_array()) {
        if (!item.is_string()) fail(where, "must be a preset name or an array of layer globs");
        out.push_back(item.as_string()->get());
      }
    } else {
      fail(where, "must be a preset name or an array of layer globs");
    }
    if (out.empty()) fail(where, "must name at least one layer");
    if (out.size() > 1) {
      for (const auto& entry : out) {
        if (kPresets.count(entry)) {
          fail(where, "preset \"" + entry + "\" must be given alone, not in a list");
        }
      }
    }
  }

  // The [training] keys of `t` (a [training] table or one [[variants]] entry) into `variant`.
  void training(const toml::table& t, const std::string& where, VariantPlan& variant) const {
    const auto at = [&](const std::string& key) { return where + "." + key; };
    string(t, "model", at("model"), variant.model);
    try {
      (void)models::parse_model_name(variant.model);  // the zoo's own parser: one list of names
    } catch (const std::exception& error) {
      fail(at("model"), std::string(error.what()) + "; see `sublens models`");
    }
    integer(t, "depth", at("depth"), variant.depth, 0, 1000);
    integer(t, "width", at("width"), variant.width, 0, 64);
    integer(t, "base_width", at("base_width"), variant.base_width, 0, 4096);
    integer(t, "growth_rate", at("growth_rate"), variant.growth_rate, 0, 1024);
    number(t, "train_fraction", at("train_fraction"), variant.train_fraction);
    if (!(variant.train_fraction > 0 && variant.train_fraction <= 1)) {
      fail(at("train_fraction"), "must be in (0, 1]");
    }
    integers(t, "classes", at("classes"), variant.classes, 0);
    boolean(t, "ordered", at("ordered"), variant.ordered);
    integer(t, "epochs", at("epochs"), variant.epochs, 1, 100000);
    integer(t, "batch_size", at("batch_size"), variant.batch_size, 1, 1 << 20);
    number(t, "lr", at("lr"), variant.lr);
    if (!(variant.lr > 0)) fail(at("lr"), "must be > 0");
    number(t, "momentum", at("momentum"), variant.momentum);
    if (!(variant.momentum >= 0 && variant.momentum < 1)) fail(at("momentum"), "must be in [0, 1)");
    number(t, "weight_decay", at("weight_decay"), variant.weight_decay);
    if (!(variant.weight_decay >= 0)) fail(at("weight_decay"), "must be >= 0");
    integer(t, "lr_step", at("lr_step"), variant.lr_step, 1, 100000);
    number(t, "lr_gamma", at("lr_gamma"), variant.lr_gamma);
    if (!(variant.lr_gamma > 0 && variant.lr_gamma <= 1)) fail(at("lr_gamma"), "must be in (0, 1]");
    integer(t, "seed", at("seed"), variant.seed, 0, std::numeric_limits<std::int64_t>::max());
    integer(t, "seeds", at("seeds"), variant.seeds, 1, 100);
    layers(t, "layers", at("layers"), variant.layers);
    boolean(t, "dynamics", at("dynamics"), variant.dynamics);
    integer(t, "dynamics_every", at("dynamics_every"), variant.dynamics_every, 1, 100000);
    integers(t, "heatmap_epochs", at("heatmap_epochs"), variant.heatmap_epochs, 1);
    boolean(t, "inputs", at("inputs"), variant.inputs);
    boolean(t, "nmf", at("nmf"), variant.nmf);
  }

  // A [[variants]] entry with `run = "path"`: a recorded run folder, resolved when the study
  // starts (its layers, epochs and files are checked against the keys then).
  void recorded(const toml::table& t, const std::string& where, VariantPlan& variant) const {
    for (const auto& [key, node] : t) {
      const std::string name(key.str());
      if (!kRunKeys.count(name)) {
        std::string constraint = "is a training key; it does not apply to a recorded run (";
        constraint += where;
        constraint += ".run)";
        fail(std::string(where).append(".").append(name), constraint);
      }
    }
    std::string run;
    string(t, "run", where + ".run", run);
    if (run.empty()) fail(where + ".run", "must name a run folder");
    variant.run = run;
    // Relative to the plan file, like dataset.data_dir.
    if (variant.run.is_relative() && file_.has_parent_path()) {
      variant.run = file_.parent_path() / variant.run;
    }
    variant.run = fs::weakly_canonical(fs::absolute(variant.run));
    if (t.get("layers") != nullptr) {
      layers(t, "layers", where + ".layers", variant.layers);
      if (kPresets.count(variant.layers.front())) {
        fail(where + ".layers", "preset \"" + variant.layers.front() +
                                    "\" needs a zoo model; name the run's layers (globs)");
      }
    } else if (!variant.layers.empty() && kPresets.count(variant.layers.front())) {
      variant.layers.clear();  // every layer of the run
    }
    boolean(t, "dynamics", where + ".dynamics", variant.dynamics);
    integer(t, "dynamics_every", where + ".dynamics_every", variant.dynamics_every, 1, 100000);
    integers(t, "heatmap_epochs", where + ".heatmap_epochs", variant.heatmap_epochs, 0);
    boolean(t, "inputs", where + ".inputs", variant.inputs);
    boolean(t, "nmf", where + ".nmf", variant.nmf);
  }

 private:
  fs::path file_;
};

// Classes and heatmap epochs of a zoo variant against the dataset and its training.
void check_zoo_variant(const Reader& reader, const std::string& where, const Plan& plan,
                       const VariantPlan& variant) {
  const int classes = plan.dataset == "cifar100" ? 100 : plan.dataset == "npy" ? 0 : 10;
  std::set<std::int64_t> distinct;
  for (const auto c : variant.classes) {
    if (classes > 0 && c >= classes) {
      reader.fail(where + ".classes", "entries must be < " + std::to_string(classes) + " (" +
                                          plan.dataset + " has " + std::to_string(classes) +
                                          " classes)");
    }
    if (!distinct.insert(c).second) {
      reader.fail(where + ".classes", "must not repeat a class (" + std::to_string(c) + ")");
    }
  }
  for (int epoch : variant.heatmap_epochs) {
    if (epoch > variant.epochs) {
      reader.fail(where + ".heatmap_epochs",
                  "must be <= epochs = " + std::to_string(variant.epochs));
    }
  }
}

// One [[variants]] entry: a zoo variant (training keys over [training]'s) or a recorded run.
VariantPlan read_variant(const Reader& reader, const toml::table& table, const std::string& where,
                         const VariantPlan& defaults, const Plan& plan,
                         std::set<std::string>& names) {
  static const std::regex valid_name(R"([A-Za-z0-9._-]+)");
  VariantPlan variant = defaults;
  variant.group = "variants";
  reader.string(table, "name", where + ".name", variant.name);
  reader.string(table, "group", where + ".group", variant.group);
  if (!std::regex_match(variant.name, valid_name) || variant.name == "." || variant.name == "..") {
    reader.fail(where + ".name", "must be a non-empty name of letters, digits, '.', '_', '-'");
  }
  if (!names.insert(variant.name).second) {
    reader.fail(where + ".name", "must be unique (\"" + variant.name + "\" is used twice)");
  }
  if (variant.group.empty()) reader.fail(where + ".group", "must not be empty");
  if (table.get("run") != nullptr) {
    reader.recorded(table, where, variant);
  } else {
    std::set<std::string> allowed = kTrainingKeys;
    allowed.insert({"name", "group", "run"});
    reader.only_keys(table, where, allowed);
    reader.training(table, where, variant);
    check_zoo_variant(reader, where, plan, variant);
  }
  std::sort(variant.heatmap_epochs.begin(), variant.heatmap_epochs.end());
  variant.heatmap_epochs.erase(
      std::unique(variant.heatmap_epochs.begin(), variant.heatmap_epochs.end()),
      variant.heatmap_epochs.end());
  if (variant.run.empty() &&
      (variant.heatmap_epochs.empty() || variant.heatmap_epochs.back() != variant.epochs)) {
    variant.heatmap_epochs.push_back(variant.epochs);
  }
  return variant;
}

// A variant with `seeds = N` > 1 as N variants "<name>.seed<k>" (seed + k), each naming the
// variant it replicates; the variant itself when N is 1.
std::vector<VariantPlan> replicates(const Reader& reader, const std::string& where,
                                    const VariantPlan& variant, std::set<std::string>& names) {
  if (variant.seeds == 1) return {variant};
  std::vector<VariantPlan> out;
  for (int k = 0; k < variant.seeds; ++k) {
    VariantPlan replicate = variant;
    replicate.name = variant.name + ".seed" + std::to_string(k);
    replicate.seed = variant.seed + static_cast<std::uint64_t>(k);
    replicate.seeds = 1;
    replicate.replicate_of = variant.name;
    if (!names.insert(replicate.name).second) {
      reader.fail(where + ".seeds",
                  "makes the variant \"" + replicate.name + "\", whose name is already used");
    }
    out.push_back(replicate);
  }
  return out;
}

toml::table parse_toml(const std::string& text, const fs::path& file) {
  try {
    return toml::parse(text, file.string());
  } catch (const toml::parse_error& error) {
    const auto& begin = error.source().begin;
    throw InputError(
        file.string(),
        "line " + std::to_string(begin.line) + ", column " + std::to_string(begin.column),
        "is not valid TOML: " + std::string(error.description()));
  }
}

// [dataset]: its name and folder (absolute, canonical: part of the steps' keys).
void read_dataset(const Reader& reader, const toml::table& root, const fs::path& file, Plan& plan) {
  if (const toml::table* dataset = reader.table(root, "dataset", "dataset")) {
    reader.only_keys(*dataset, "dataset", {"name", "data_dir"});
    reader.string(*dataset, "name", "dataset.name", plan.dataset);
    std::string data_dir;
    reader.string(*dataset, "data_dir", "dataset.data_dir", data_dir);
    plan.data_dir = data_dir;
  }
  if (!kDatasets.count(plan.dataset)) {
    reader.fail("dataset.name", "must be fashion-mnist, mnist, cifar10, cifar100 or npy");
  }
  if (plan.dataset == "fashion-mnist" && plan.data_dir.empty()) {
    plan.data_dir = "/usr/share/datasets/fashion-mnist";
  }
  if (plan.data_dir.empty()) reader.fail("dataset.data_dir", "is required for " + plan.dataset);
  // Relative folders are relative to the plan file, so a plan and its data can move together.
  if (plan.data_dir.is_relative() && file.has_parent_path()) {
    plan.data_dir = file.parent_path() / plan.data_dir;
  }
  // One spelling of the folder whichever way the plan was named (plans/p.toml, ./plans/p.toml,
  // from another directory): it is part of the steps' keys and of the training recipe.
  plan.data_dir = fs::weakly_canonical(fs::absolute(plan.data_dir));
}

// [analysis]: the analysis set, SSC and report settings; its `layers` go to `defaults`.
void read_analysis(const Reader& reader, const toml::table& root, Plan& plan,
                   VariantPlan& defaults) {
  if (const toml::table* analysis = reader.table(root, "analysis", "analysis")) {
    reader.only_keys(*analysis, "analysis",
                     {"n", "seed", "split", "layers", "tau", "threads", "confidently_wrong", "top",
                      "spectrum_k", "bootstrap", "bootstrap_seed"});
    reader.integer(*analysis, "n", "analysis.n", plan.n, 3, 10'000'000);
    reader.integer(*analysis, "seed", "analysis.seed", plan.sample_seed, 0,
                   std::numeric_limits<std::int64_t>::max());
    reader.string(*analysis, "split", "analysis.split", plan.split);
    if (plan.split != "test" && plan.split != "train") {
      reader.fail("analysis.split", "must be test or train");
    }
    reader.layers(*analysis, "layers", "analysis.layers", defaults.layers);
    reader.number(*analysis, "tau", "analysis.tau", plan.tau);
    if (!(plan.tau > 0)) reader.fail("analysis.tau", "must be > 0");
    reader.integer(*analysis, "threads", "analysis.threads", plan.threads, 0, 4096);
    reader.integer(*analysis, "confidently_wrong", "analysis.confidently_wrong",
                   plan.confidently_wrong, 0, 1000);
    reader.integer(*analysis, "top", "analysis.top", plan.top, 1, 1000);
    reader.integer(*analysis, "spectrum_k", "analysis.spectrum_k", plan.spectrum_k, 1, 100000);
    reader.integer(*analysis, "bootstrap", "analysis.bootstrap", plan.bootstrap, 0, 10000);
    reader.integer(*analysis, "bootstrap_seed", "analysis.bootstrap_seed", plan.bootstrap_seed, 0,
                   std::numeric_limits<std::int64_t>::max());
  }
}

// [nmf]: ranks (sorted, unique, below analysis.n), layers, iterations.
void read_nmf(const Reader& reader, const toml::table& root, Plan& plan) {
  if (const toml::table* nmf = reader.table(root, "nmf", "nmf")) {
    reader.only_keys(*nmf, "nmf", {"ranks", "layers", "max_iter"});
    reader.integers(*nmf, "ranks", "nmf.ranks", plan.nmf_ranks, 1);
    if (plan.nmf_ranks.empty()) reader.fail("nmf.ranks", "must list at least one rank");
    reader.layers(*nmf, "layers", "nmf.layers", plan.nmf_layers);
    reader.integer(*nmf, "max_iter", "nmf.max_iter", plan.nmf_max_iterations, 1, 1'000'000);
  }
  std::sort(plan.nmf_ranks.begin(), plan.nmf_ranks.end());
  plan.nmf_ranks.erase(std::unique(plan.nmf_ranks.begin(), plan.nmf_ranks.end()),
                       plan.nmf_ranks.end());
  if (plan.nmf_ranks.back() >= plan.n) {
    reader.fail("nmf.ranks", "must be < analysis.n = " + std::to_string(plan.n) +
                                 " (the default ranks go up to 50)");
  }
}

// analysis.n against the size of the dataset's split (npy: checked when the study starts).
void check_split_size(const Reader& reader, const Plan& plan) {
  // What the dataset's standard files hold (npy: read from its headers when the study starts).
  const std::int64_t split_size = plan.dataset == "npy"                 ? 0
                                  : plan.split == "test"                ? 10000
                                  : plan.dataset.rfind("cifar", 0) == 0 ? 50000
                                                                        : 60000;
  if (split_size > 0 && plan.n > split_size) {
    reader.fail("analysis.n", "must be <= " + std::to_string(split_size) + " (images in the " +
                                  plan.dataset + " " + plan.split + " split)");
  }
}

}  // namespace

Plan parse_plan(const std::string& text, const fs::path& file) {
  const Reader reader(file);
  const toml::table root = parse_toml(text, file);
  reader.only_keys(root, "", {"name", "dataset", "analysis", "nmf", "training", "variants"});
  Plan plan;
  plan.file = file;
  reader.string(root, "name", "name", plan.name);
  read_dataset(reader, root, file, plan);
  VariantPlan defaults;
  read_analysis(reader, root, plan, defaults);
  read_nmf(reader, root, plan);
  check_split_size(reader, plan);
  if (const toml::table* training = reader.table(root, "training", "training")) {
    reader.only_keys(*training, "training", kTrainingKeys);
    reader.training(*training, "training", defaults);
  }

  const toml::node* variants = root.get("variants");
  if (variants == nullptr || !variants->is_array_of_tables() || variants->as_array()->empty()) {
    reader.fail("variants", "must hold at least one [[variants]] table");
  }
  std::set<std::string> names;
  std::size_t index = 0;
  for (const auto& node : *variants->as_array()) {
    const std::string where = "variants[" + std::to_string(index++) + "]";
    const VariantPlan variant =
        read_variant(reader, *node.as_table(), where, defaults, plan, names);
    for (const VariantPlan& replicate : replicates(reader, where, variant, names)) {
      plan.variants.push_back(replicate);
    }
  }
  return plan;
}

Plan read_plan(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(file.string(), "PLAN", "must be a readable TOML file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_plan(text.str(), file);
}

json to_json(const Plan& plan) {
  json variants = json::array();
  for (const auto& v : plan.variants) {
    json variant = {{"name", v.name},
                    {"group", v.group},
                    {"layers", v.layers},
                    {"dynamics", v.dynamics},
                    {"dynamics_every", v.dynamics_every},
                    {"heatmap_epochs", v.heatmap_epochs},
                    {"inputs", v.inputs},
                    {"nmf", v.nmf}};
    if (!v.run.empty()) {  // a recorded run: only the keys that apply to it
      variant["run"] = v.run.string();
    } else {
      variant.update({{"model", v.model},
                      {"depth", v.depth},
                      {"width", v.width},
                      {"base_width", v.base_width},
                      {"growth_rate", v.growth_rate},
                      {"train_fraction", v.train_fraction},
                      {"classes", v.classes},
                      {"ordered", v.ordered},
                      {"epochs", v.epochs},
                      {"batch_size", v.batch_size},
                      {"lr", v.lr},
                      {"momentum", v.momentum},
                      {"weight_decay", v.weight_decay},
                      {"lr_step", v.lr_step},
                      {"lr_gamma", v.lr_gamma},
                      {"seed", v.seed}});
    }
    variants.push_back(std::move(variant));
  }
  return {{"name", plan.name},
          {"dataset", plan.dataset},
          {"data_dir", plan.data_dir.string()},
          {"n", plan.n},
          {"sample_seed", plan.sample_seed},
          {"split", plan.split},
          {"tau", plan.tau},
          {"confidently_wrong", plan.confidently_wrong},
          {"top", plan.top},
          {"spectrum_k", plan.spectrum_k},
          {"bootstrap", plan.bootstrap},
          {"bootstrap_seed", plan.bootstrap_seed},
          {"nmf_ranks", plan.nmf_ranks},
          {"nmf_layers", plan.nmf_layers},
          {"nmf_max_iterations", plan.nmf_max_iterations},
          {"variants", variants}};
}

}  // namespace sublens::study
