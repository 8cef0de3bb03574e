// The measures of one variant, all read from its run folder (zoo-trained or recorded alike):
// SSC graphs and modularity with SSC-label accuracy (Table 1) per analysed epoch and layer, CKA
// to the final epoch (dynamics), pairwise SSC-CKA heatmaps, the `analyze` of the final network
// and the coupled NMF. See pipeline.hpp.
#include <cmath>
#include <map>

#include "bootstrap.hpp"
#include "pipeline.hpp"
#include "sublens/io/run.hpp"
#include "sublens/study/analysis.hpp"

namespace sublens::study::detail {
namespace {

json finite_or_null(double value) { return std::isfinite(value) ? json(value) : json(); }

// The bootstrap of one variant's measures over its analysis inputs (plan `bootstrap`; what is
// resampled: bootstrap.hpp): the same resamples for every layer and epoch, its graphs read once.
class Noise {
 public:
  Noise(const StudyContext& context, const Variant& variant) : variant_(variant) {
    if (context.plan.bootstrap <= 0) return;
    const std::vector<std::int64_t> labels = io::read_int_vector(variant.run.labels());
    labels_ = Eigen::Map<const IntVector>(labels.data(), static_cast<Index>(labels.size()));
    samples_ = bootstrap::draw(labels_.size(), context.plan.bootstrap, context.plan.bootstrap_seed);
  }
  bool enabled() const { return !samples_.empty(); }
  bootstrap::Interval modularity(int epoch, const std::string& layer) {
    return bootstrap::modularity(graph(epoch, layer), labels_, samples_);
  }
  bootstrap::Interval cka(int epoch, int other, const std::string& layer) {
    return bootstrap::graph_cka(graph(epoch, layer), graph(other, layer), samples_);
  }
  bootstrap::Interval strength(int epoch) {
    std::vector<SparseMatrix> graphs;
    for (const auto& layer : variant_.layers) graphs.push_back(graph(epoch, layer));
    return bootstrap::heatmap_strength(graphs, samples_);
  }

 private:
  const SparseMatrix& graph(int epoch, const std::string& layer) {
    auto found = graphs_.find({epoch, layer});
    if (found == graphs_.end()) {
      found = graphs_
                  .emplace(std::make_pair(epoch, layer),
                           io::read_sparse_npz(variant_.paths.graph(epoch, layer)))
                  .first;
    }
    return found->second;
  }

  const Variant& variant_;
  IntVector labels_;
  bootstrap::Resamples samples_;
  std::map<std::pair<int, std::string>, SparseMatrix> graphs_;
};

// Per layer: the standard errors and 95% interval bounds of `measure(layer)` into row[key + "_se"],
// row[key + "_lo"], row[key + "_hi"].
template <class Measure>
void add_intervals(json& row, const std::string& key, const std::vector<std::string>& layers,
                   Measure measure) {
  json se = json::array(), lo = json::array(), hi = json::array();
  for (const auto& layer : layers) {
    const bootstrap::Interval interval = measure(layer);
    se.push_back(finite_or_null(interval.se));
    lo.push_back(finite_or_null(interval.lo));
    hi.push_back(finite_or_null(interval.hi));
  }
  row[key + "_se"] = se;
  row[key + "_lo"] = lo;
  row[key + "_hi"] = hi;
}

// `sublens ssc` of the variant's layers at one epoch into paths.graphs(epoch)/<layer>.npz.
std::vector<std::string> ssc_args(const StudyContext& context, const Variant& variant, int epoch) {
  std::vector<std::string> args = {"ssc",       variant.run.acts(epoch).string(),
                                   "--tau",     number_arg(context.plan.tau),
                                   "--threads", context.threads};
  if (variant.all_layers) {
    args.insert(args.end(), {"--all-layers", "-o", variant.paths.graphs(epoch).string()});
    return args;
  }
  for (const auto& layer : variant.layers) args.insert(args.end(), {"--layers", layer});
  // One layer: ssc writes a file, not a folder.
  args.insert(args.end(), {"-o", variant.layers.size() == 1
                                     ? variant.paths.graph(epoch, variant.layers[0]).string()
                                     : variant.paths.graphs(epoch).string()});
  return args;
}

}  // namespace

json epoch_graph_measures(StudyContext& context, const Variant& variant, int epoch) {
  const std::string& name = variant.plan->name;
  const Paths& paths = variant.paths;
  const RunFiles& run = variant.run;
  // One layer of several: ssc writes one file, into a folder made for it; else the folder.
  const bool one_file = !variant.all_layers && variant.layers.size() == 1;
  fs::create_directories(one_file ? paths.graphs(epoch) : paths.graphs(epoch).parent_path());
  context.steps.run({step_name("ssc", name, epoch),
                     ssc_args(context, variant, epoch),
                     {run.acts(epoch)},
                     {one_file ? paths.graph(epoch, variant.layers[0]) : paths.graphs(epoch)},
                     /*capture_stderr=*/false,
                     /*show_progress=*/false,
                     /*clear_outputs=*/true});
  json modularity = json::array(), ssc_accuracy = json::array(), agreement = json::array();
  for (const auto& layer : variant.layers) {
    const fs::path graph = paths.graph(epoch, layer);
    modularity.push_back(
        context.steps
            .run({step_name("modularity", name, epoch, layer),
                  {"modularity", graph.string(), "--labels", run.labels().string()},
                  {graph, run.labels()},
                  {}})
            .at(0)["modularity"]);
    const json labels = context.steps
                            .run({step_name("ssc-labels", name, epoch, layer),
                                  {"ssc-labels", graph.string(), "--labels", run.labels().string(),
                                   "--predictions", run.predictions(epoch).string()},
                                  {graph, run.labels(), run.predictions(epoch)},
                                  {}})
                            .at(0);
    ssc_accuracy.push_back(labels["ssc_accuracy"]);
    agreement.push_back(labels["agreement"]);
  }
  return {{"epoch", epoch},
          {"values", modularity},
          {"ssc_accuracy", ssc_accuracy},
          {"agreement", agreement}};
}

namespace {

// Per analysed epoch: SSC graphs of every layer, then per layer modularity and SSC labels.
json graph_measures(StudyContext& context, const Variant& variant, Noise& noise) {
  json rows = json::array();
  for (int epoch : variant.epochs) {
    rows.push_back(epoch_graph_measures(context, variant, epoch));
    if (noise.enabled()) {
      add_intervals(rows.back(), "values", variant.layers,
                    [&](const std::string& layer) { return noise.modularity(epoch, layer); });
    }
  }
  return rows;
}

// The diagonal of one `cka-matrix` of epoch `epoch` against the final epoch: per layer the CKA
// with itself at the final epoch.
json cka_to_final(StudyContext& context, const Variant& variant, const std::string& kind, int epoch,
                  const fs::path& a, const fs::path& b) {
  const fs::path output = context.dir / "dynamics" / variant.plan->name /
                          (kind + "-cka-" + epoch_tag(epoch) + "-vs-final.npy");
  std::vector<std::string> args = {"cka-matrix", a.string(), b.string(),     "--kind",
                                   kind,         "-o",       output.string()};
  if (kind == "linear" && !variant.all_layers) {
    for (const auto& layer : variant.layers) args.insert(args.end(), {"--layers", layer});
  }
  const json summary = context.steps
                           .run({step_name(kind + "-cka-to-final", variant.plan->name, epoch),
                                 args,
                                 {a, b},
                                 {output}})
                           .at(0);
  const RowMatrix matrix =
      in_layer_order(io::read_matrix(output), summary, variant.layers, output.string());
  json values = json::array();
  for (Index l = 0; l < matrix.rows(); ++l) values.push_back(finite_or_null(matrix(l, l)));
  return values;
}

// Paper A, Fig. 1-2: per analysed epoch and layer.
json dynamics(StudyContext& context, const Variant& variant, const json& graphs,
              const std::map<int, double>& accuracy, Noise& noise) {
  json rows = json::array();
  if (!variant.plan->dynamics) return rows;
  fs::create_directories(context.dir / "dynamics" / variant.plan->name);
  const int last = variant.last();
  for (std::size_t e = 0; e < variant.epochs.size(); ++e) {
    const int epoch = variant.epochs[e];
    rows.push_back(
        {{"epoch", epoch},
         {"accuracy", accuracy.at(epoch)},
         {"modularity", graphs[e]["values"]},
         {"ssc_accuracy", graphs[e]["ssc_accuracy"]},
         {"agreement", graphs[e]["agreement"]},
         {"ssc_cka_to_final",
          cka_to_final(context, variant, "graph", epoch, variant.paths.graphs(epoch),
                       variant.paths.graphs(last))},
         {"linear_cka_to_final", cka_to_final(context, variant, "linear", epoch,
                                              variant.run.acts(epoch), variant.run.acts(last))}});
    if (!noise.enabled()) continue;
    rows.back()["modularity_se"] = graphs[e]["values_se"];
    rows.back()["modularity_lo"] = graphs[e]["values_lo"];
    rows.back()["modularity_hi"] = graphs[e]["values_hi"];
    add_intervals(rows.back(), "ssc_cka_to_final", variant.layers,
                  [&](const std::string& layer) { return noise.cka(epoch, last, layer); });
  }
  return rows;
}

// Paper A, Fig. 3-7: pairwise SSC-CKA between the variant's layers at each heatmap epoch.
json heatmaps(StudyContext& context, const Variant& variant, Noise& noise) {
  json rows = json::array();
  std::vector<int> epochs = variant.plan->heatmap_epochs;
  if (epochs.empty() || epochs.back() != variant.last()) epochs.push_back(variant.last());
  for (int epoch : epochs) {
    const Paths& paths = variant.paths;
    fs::create_directories(paths.heatmap(epoch).parent_path());
    std::vector<std::string> args = {"cka-matrix", paths.graphs(epoch).string(), "--kind", "graph",
                                     "-o",         paths.heatmap(epoch).string()};
    const json summary = context.steps
                             .run({step_name("heatmap", variant.plan->name, epoch),
                                   args,
                                   {paths.graphs(epoch)},
                                   {paths.heatmap(epoch)}})
                             .at(0);
    const RowMatrix ordered = in_layer_order(io::read_matrix(paths.heatmap(epoch)), summary,
                                             variant.layers, paths.heatmap(epoch).string());
    const auto [adjacent, distant] = block_diagonal(ordered);
    rows.push_back({{"epoch", epoch},
                    {"values", matrix_json(ordered)},
                    {"file", relative_to_dir(paths.heatmap(epoch), context.dir)},
                    {"adjacent", finite_or_null(adjacent)},
                    {"distant", finite_or_null(distant)},
                    {"strength", finite_or_null(adjacent - distant)}});
    if (!noise.enabled()) continue;
    const bootstrap::Interval strength = noise.strength(epoch);
    rows.back().update({{"strength_se", finite_or_null(strength.se)},
                        {"strength_lo", finite_or_null(strength.lo)},
                        {"strength_hi", finite_or_null(strength.hi)}});
  }
  return rows;
}

// Paper A, Fig. 8-9 and Table 1 on the final network: `analyze` of the final epoch (`run`: the
// variant's run folder, read once by measure_variant).
json inputs_analysis(StudyContext& context, const Variant& variant, const io::RunFolder& run) {
  if (!variant.plan->inputs) return nullptr;
  const int last = variant.last();
  AnalysisOptions options;
  options.activations = variant.run.acts(last);
  options.layers = variant.layers;
  options.labels = variant.run.labels();
  options.class_names = run.class_names;
  options.predictions = variant.run.predictions(last);
  options.logits = variant.run.softmax(last);
  if (run.input_shape.has_value()) options.images = variant.run.inputs();
  options.graphs = variant.paths.graphs(last);
  options.output = context.dir / "variants" / variant.plan->name;
  options.threads = context.thread_count;
  options.tau = context.plan.tau;
  options.confidently_wrong = context.plan.confidently_wrong;
  options.top = context.plan.top;
  options.spectrum_k = context.plan.spectrum_k;
  options.nmf = false;
  options.write_report = false;
  options.who = context.who + ": " + variant.plan->name;
  options.key_root = context.dir;
  const json result = run_analysis(options);
  context.analysis_ran += result["steps_run"].get<int>();
  context.analysis_skipped += result["steps_skipped"].get<int>();
  return relative_to_dir(options.output / "result.json", context.dir);
}

// Latent images (P, per input channel) and neuron x factor heatmaps (O, per layer) at a rank.
json latent_figures(const fs::path& rank_dir, const Variant& variant, const fs::path& dir) {
  json latent = json::array();
  for (int c = 0;; ++c) {
    const fs::path file = rank_dir / ("P_" + std::to_string(c) + ".png");
    if (!fs::exists(file)) break;
    latent.push_back({{"block", "P_" + std::to_string(c)},
                      {"title", "latent images (P, channel " + std::to_string(c) + ")"},
                      {"file", relative_to_dir(file, dir)}});
  }
  for (const auto& layer : variant.nmf_layers) {
    const fs::path file = rank_dir / ("O_" + io::layer_file_stem(layer) + ".png");
    if (fs::exists(file)) {
      latent.push_back({{"block", "O_" + layer},
                        {"title", "neuron x factor (O, " + layer + ")"},
                        {"file", relative_to_dir(file, dir)}});
    }
  }
  return latent;
}

// Paper B: the coupled-NMF rank sweep of the inputs with the final activations. Layers with
// negative values are shifted to a minimum of 0 (--shift-min); the sweep names them. The RMSE
// relative to each block's own scale (when factorize reports it) compares across layers.
json nmf_sweep(StudyContext& context, const Variant& variant) {
  const Plan& plan = context.plan;
  std::vector<std::string> ranks;
  for (int rank : plan.nmf_ranks) ranks.push_back(std::to_string(rank));
  const fs::path nmf_dir = context.dir / "nmf" / variant.plan->name;
  const std::uint64_t seed = variant.recorded() ? 0 : variant.plan->seed;
  std::vector<std::string> args = {"factorize",
                                   "--inputs",
                                   variant.run.inputs().string(),
                                   "--acts",
                                   variant.nmf_acts.string(),
                                   "--ranks",
                                   join(ranks, ","),
                                   "--seeds",
                                   "1",
                                   "--seed",
                                   std::to_string(seed),
                                   "--solver",
                                   "hals",
                                   "--max-iter",
                                   std::to_string(plan.nmf_max_iterations),
                                   "--shift-min",
                                   "-o",
                                   nmf_dir.string()};
  for (const auto& layer : variant.nmf_layers) args.insert(args.end(), {"--layers", layer});
  const json sweep = context.steps
                         .run({step_name("nmf", variant.plan->name),
                               args,
                               {variant.run.inputs(), variant.nmf_acts},
                               {nmf_dir / "sweep.csv"}})
                         .at(0);
  json rmse = json::array(), relative = json::array();
  for (const auto& rank : sweep["ranks"]) {
    rmse.push_back(rank["rmse_mean"]);
    relative.push_back(rank.value("relative_rmse_mean", json()));
  }
  json shifted = json::array();
  for (const auto& block : sweep.value("blocks", json::array())) {
    if (get_number(block.value("shift", json())) > 0) {
      shifted.push_back({{"block", block.value("name", block.value("block", json()))},
                         {"shift", block["shift"]}});
    }
  }
  return {{"ranks", plan.nmf_ranks},
          {"rmse", rmse},
          {"relative_rmse", relative},
          {"shifted", shifted},
          {"layers", variant.nmf_layers},
          {"csv", relative_to_dir(nmf_dir / "sweep.csv", context.dir)},
          {"latent", latent_figures(nmf_dir / ("rank" + std::to_string(plan.nmf_ranks.front())),
                                    variant, context.dir)}};
}

json spectra(StudyContext& context, const Variant& variant) {
  const fs::path out = context.dir / "spectra" / variant.plan->name;
  std::vector<std::string> args = {"spectrum", variant.nmf_acts.string(),
                                   "-k",       std::to_string(context.plan.spectrum_k),
                                   "-o",       out.string()};
  for (const auto& layer : variant.nmf_layers) args.insert(args.end(), {"--layers", layer});
  const json spectrum = context.steps
                            .run({step_name("spectrum", variant.plan->name),
                                  args,
                                  {variant.nmf_acts},
                                  {out / "spectrum.csv"}})
                            .at(0);
  json rows = json::array();
  for (const auto& layer : spectrum["layers"]) {
    rows.push_back({{"layer", layer["layer"]}, {"singular_values", layer["singular_values"]}});
  }
  return rows;
}

// Where the variant came from, for the tables, the findings and the report.
json source_of(const Variant& variant) {
  const VariantPlan& v = *variant.plan;
  if (variant.recorded()) {
    return {
        {"kind", "run"}, {"run", v.run.string()}, {"metadata", variant.description["metadata"]}};
  }
  std::string recipe =
      variant.description["model"].get<std::string>() + ", " + std::to_string(v.epochs) +
      " epochs, SGD lr " + number_arg(v.lr) + " momentum " + number_arg(v.momentum) +
      " weight decay " + number_arg(v.weight_decay) + ", lr x" + number_arg(v.lr_gamma) +
      " every " + std::to_string(v.lr_step) + " epochs, batch " + std::to_string(v.batch_size) +
      ", training fraction " + number_arg(v.train_fraction) + ", seed " + std::to_string(v.seed);
  return {{"kind", "zoo"},
          {"recipe", recipe},
          {"run", relative_to_dir(variant.paths.train(), variant.paths.dir)}};
}

// The variant's identity columns: the zoo's description, or a recorded run's metadata (depth:
// its metadata's "depth", else the number of analysed layers).
json identity(const Variant& variant) {
  const VariantPlan& v = *variant.plan;
  if (!variant.recorded()) {
    const json& d = variant.description;
    return {{"model", d["model"]},
            {"family", d["family"]},
            {"depth", d["spec"]["depth"]},
            {"width", d["spec"]["width"]},
            {"parameters", d["parameters"]},
            {"train_fraction", v.train_fraction},
            {"classes", v.classes},
            {"ordered", v.ordered},
            {"epochs", v.epochs},
            {"lr_step", v.lr_step}};
  }
  const json& meta = variant.description["metadata"];
  auto meta_value = [&](const char* key, const json& fallback) {
    return meta.is_object() && meta.contains(key) ? meta[key] : fallback;
  };
  return {{"model", meta_value("model", "recorded run")},
          {"family", nullptr},
          {"depth", meta_value("depth", static_cast<int>(variant.layers.size()))},
          {"width", meta_value("width", nullptr)},
          {"parameters", meta_value("parameters", nullptr)},
          {"train_fraction", nullptr},
          {"classes", json::array()},
          {"ordered", false},
          {"epochs", variant.last()},
          {"lr_step", nullptr}};
}

}  // namespace

int planned_steps(const Variant& variant) {
  const VariantPlan& v = *variant.plan;
  const int layers = static_cast<int>(variant.layers.size());
  const int epochs = static_cast<int>(variant.epochs.size());
  const int capture = variant.recorded() ? 0 : 1 + epochs + (variant.nmf_separate ? 1 : 0);
  // heatmaps() adds the final epoch when the plan does not name it.
  const bool final_heatmap_added =
      v.heatmap_epochs.empty() || v.heatmap_epochs.back() != variant.last();
  const int heatmaps = static_cast<int>(v.heatmap_epochs.size()) + (final_heatmap_added ? 1 : 0);
  return capture + epochs * (1 + 2 * layers) + (v.dynamics ? 2 * epochs : 0) + heatmaps +
         (v.nmf ? 2 : 0);
}

json measure_variant(StudyContext& context, const Variant& variant) {
  const io::RunFolder run = io::read_run(variant.run.dir);
  std::map<int, double> accuracy;
  json accuracy_rows = json::array();
  for (const auto& e : run.epochs) {
    if (std::find(variant.epochs.begin(), variant.epochs.end(), e.epoch) == variant.epochs.end()) {
      continue;
    }
    accuracy[e.epoch] = e.accuracy;
    accuracy_rows.push_back({{"epoch", e.epoch}, {"accuracy", e.accuracy}});
  }
  fs::create_directories(context.dir / "graphs" / variant.plan->name);
  Noise noise(context, variant);
  const json graphs = graph_measures(context, variant, noise);
  json record = {{"name", variant.plan->name}, {"group", variant.plan->group}};
  record.update(identity(variant));
  record.update({{"source", source_of(variant)},
                 {"layers", variant.layers},
                 {"accuracy", accuracy_rows},
                 {"final_accuracy", accuracy.at(variant.last())},
                 {"modularity", graphs},
                 {"dynamics", dynamics(context, variant, graphs, accuracy, noise)},
                 {"heatmaps", heatmaps(context, variant, noise)},
                 {"analysis", inputs_analysis(context, variant, run)},
                 {"nmf", variant.plan->nmf ? nmf_sweep(context, variant) : json()},
                 {"spectra", variant.plan->nmf ? spectra(context, variant) : json()},
                 {"run", relative_to_dir(variant.run.dir, context.dir)}});
  const VariantPlan& plan = *variant.plan;
  record["replicate_of"] = plan.replicate_of.empty() ? json() : json(plan.replicate_of);
  // A recorded run's seed is known only for replicates (metadata.seed, or their index).
  record["seed"] = variant.recorded() && plan.replicate_of.empty() ? json() : json(plan.seed);
  return record;
}

}  // namespace sublens::study::detail
