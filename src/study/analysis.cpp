// The `analyze` pipeline: checks, steps, tables and result.json of one set of activations. Its
// findings are in findings.cpp, its report sections in analysis_report.cpp. See
// include/sublens/study/analysis.hpp.
#include "sublens/study/analysis.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <sstream>

#include "findings.hpp"
#include "internal.hpp"
#include "sublens/core/error.hpp"
#include "sublens/io/io.hpp"
#include "sublens/study/steps.hpp"
#include "sublens/study/study.hpp"

namespace sublens::study {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace): this module's helpers

void require_file(const fs::path& path, const std::string& option) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) {
    throw InputError(path.string(), option, "must be an existing file");
  }
}

// What the inputs hold, once checked.
struct Checked {
  std::int64_t n = 0;
  std::int64_t n_classes = 0;
  std::vector<std::string> layers;  // network order
  std::vector<std::int64_t> dims;   // per layer
  RowMatrix logits;                 // empty without --logits
};

// Names for classes 0 .. n_classes - 1 (at least as many as the labels use), unique, non-empty.
void check_class_names(const std::vector<std::string>& names, std::int64_t n_classes,
                       const fs::path& labels) {
  if (names.empty()) return;
  if (static_cast<std::int64_t>(names.size()) < n_classes) {
    throw InputError("--class-names", "count",
                     "must name every class of " + labels.string() + " (" +
                         std::to_string(n_classes) + "), not " + std::to_string(names.size()));
  }
  std::set<std::string> seen;
  for (const auto& name : names) {
    if (name.empty()) throw InputError("--class-names", "name", "must not be empty");
    if (!seen.insert(name).second) {
      throw InputError("--class-names", "name", "must be unique (\"" + name + "\" repeats)");
    }
  }
}

void check_labels(const AnalysisOptions& options, Checked& checked) {
  const std::vector<std::int64_t> labels = io::read_int_vector(options.labels);
  if (static_cast<std::int64_t>(labels.size()) != checked.n) {
    throw InputError(options.labels.string(), "shape",
                     "must have N = " + std::to_string(checked.n) +
                         " entries (the activations' first axis), not " +
                         std::to_string(labels.size()));
  }
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) {
      throw InputError(options.labels.string(), "values",
                       "must be class indices >= 0 (entry " + std::to_string(i) + " is " +
                           std::to_string(labels[i]) + ")");
    }
  }
  checked.n_classes = *std::max_element(labels.begin(), labels.end()) + 1;
  check_class_names(options.class_names, checked.n_classes, options.labels);
}

// The layers in network order: options.layers, or the file's order.
void check_layers(const AnalysisOptions& options, const std::vector<io::ArrayInfo>& arrays,
                  Checked& checked) {
  auto dims = [](const io::ArrayInfo& array) {
    std::int64_t d = 1;
    for (std::size_t k = 1; k < array.shape.size(); ++k) d *= array.shape[k];
    return d;
  };
  if (options.layers.empty()) {
    for (const auto& array : arrays) {
      checked.layers.push_back(array.name);
      checked.dims.push_back(dims(array));
    }
    return;
  }
  for (const auto& layer : options.layers) {
    const auto found = std::find_if(arrays.begin(), arrays.end(),
                                    [&](const io::ArrayInfo& a) { return a.name == layer; });
    if (found == arrays.end()) {
      throw InputError(options.activations.string(), "layers", "has no layer " + layer);
    }
    checked.layers.push_back(layer);
    checked.dims.push_back(dims(*found));
  }
}

void check_optional_inputs(const AnalysisOptions& options, Checked& checked) {
  const std::int64_t n = checked.n;
  if (!options.predictions.empty()) {
    require_file(options.predictions, "--predictions");
    const auto predictions = io::read_int_vector(options.predictions);
    if (static_cast<std::int64_t>(predictions.size()) != n) {
      throw InputError(options.predictions.string(), "shape",
                       "must have N = " + std::to_string(n) + " entries, not " +
                           std::to_string(predictions.size()));
    }
  }
  if (!options.logits.empty()) {
    require_file(options.logits, "--logits");
    checked.logits = io::read_matrix(options.logits);
    if (checked.logits.rows() != n || checked.logits.cols() < 2) {
      throw InputError(options.logits.string(), "shape",
                       "must be N x classes with N = " + std::to_string(n) +
                           " and classes >= 2, not " + std::to_string(checked.logits.rows()) +
                           " x " + std::to_string(checked.logits.cols()));
    }
  }
  if (!options.images.empty()) {
    require_file(options.images, "--images");
    const auto arrays = io::list_arrays(options.images);
    if (arrays.empty() || arrays.front().shape.empty() || arrays.front().shape.front() != n) {
      throw InputError(options.images.string(), "shape",
                       "first axis must be N = " + std::to_string(n) + " (the activations')");
    }
  }
  if (!options.graphs.empty()) {
    for (const auto& layer : checked.layers) {
      require_file(options.graphs / (io::layer_file_stem(layer) + ".npz"), "--graphs");
    }
  }
}

// Every input, before any step runs.
Checked check_inputs(const AnalysisOptions& options) {
  require_file(options.activations, "ACTS");
  require_file(options.labels, "--labels");
  const std::vector<io::ArrayInfo> arrays = io::list_arrays(options.activations);
  if (arrays.empty()) throw InputError(options.activations.string(), "arrays", "must hold a layer");
  Checked checked;
  checked.n = arrays.front().shape.empty() ? 0 : arrays.front().shape.front();
  if (checked.n < 3) {
    throw InputError(options.activations.string(), "shape", "must have N >= 3 inputs");
  }
  check_labels(options, checked);
  check_layers(options, arrays, checked);
  check_optional_inputs(options, checked);
  return checked;
}

// One analysis in progress: its options, folder, steps and checked inputs.
struct Analysis {
  const AnalysisOptions& options;
  const Checked& checked;
  fs::path dir;
  fs::path graphs;
  fs::path predictions;  // given, or the argmax of the logits; empty without either
  StepRunner& steps;
  fs::path graph(const std::string& layer) const {
    return graphs / (io::layer_file_stem(layer) + ".npz");
  }
  const std::string& last() const { return checked.layers.back(); }
};

// Predictions given, or the argmax of the logits (written so the steps can read them).
fs::path predictions_file(const AnalysisOptions& options, const Checked& checked,
                          const fs::path& dir) {
  if (!options.predictions.empty() || checked.logits.size() == 0) return options.predictions;
  fs::path file = dir / "predictions.npy";
  std::vector<std::int64_t> argmax(static_cast<std::size_t>(checked.n));
  for (Index i = 0; i < checked.n; ++i) {
    checked.logits.row(i).maxCoeff(&argmax[static_cast<std::size_t>(i)]);
  }
  const io::NdArray array = io::NdArray::from_int64({checked.n}, argmax.data());
  io::write_atomically(file, [&](const fs::path& temporary) { io::write_npy(temporary, array); });
  return file;
}

std::vector<json> ssc_graphs(Analysis& a) {
  if (!a.options.graphs.empty()) return {};
  std::vector<std::string> args = {
      "ssc",       a.options.activations.string(),    "--tau", csv_number(json(a.options.tau)),
      "--threads", std::to_string(a.options.threads), "-o",    a.graphs.string()};
  if (a.options.layers.empty()) {
    args.emplace_back("--all-layers");
  } else {
    for (const auto& layer : a.checked.layers) args.insert(args.end(), {"--layers", layer});
  }
  return a.steps.run({"ssc",
                      args,
                      {a.options.activations},
                      {a.graphs},
                      /*capture_stderr=*/false,
                      /*show_progress=*/false,
                      /*clear_outputs=*/true});
}

// Per layer: modularity, spectral embedding and (with predictions) SSC labels (Table 1).
json layer_measures(Analysis& a) {
  json rows = json::array();
  fs::create_directories(a.dir / "embeddings");
  const std::string labels = a.options.labels.string();
  for (std::size_t index = 0; index < a.checked.layers.size(); ++index) {
    const std::string& layer = a.checked.layers[index];
    const json modularity = a.steps
                                .run({"modularity-" + layer,
                                      {"modularity", a.graph(layer).string(), "--labels", labels},
                                      {a.graph(layer), a.options.labels},
                                      {}})
                                .at(0);
    const fs::path embedding = a.dir / "embeddings" / (io::layer_file_stem(layer) + ".npy");
    a.steps.run({"embed-" + layer,
                 {"embed", a.graph(layer).string(), "-k", "3", "-o", embedding.string()},
                 {a.graph(layer)},
                 {embedding}});
    json row = {{"name", layer},
                {"index", index},
                {"d", a.checked.dims[index]},
                {"modularity", modularity["modularity"]},
                {"nnz", modularity["nnz"]},
                {"n_isolated", modularity["n_isolated"]},
                {"graph", a.options.graphs.empty() ? relative_to_dir(a.graph(layer), a.dir)
                                                   : a.graph(layer).string()},
                {"embedding", relative_to_dir(embedding, a.dir)}};
    if (!a.predictions.empty()) {
      const json table1 = a.steps
                              .run({"ssc-labels-" + layer,
                                    {"ssc-labels", a.graph(layer).string(), "--labels", labels,
                                     "--predictions", a.predictions.string()},
                                    {a.graph(layer), a.options.labels, a.predictions},
                                    {}})
                              .at(0);
      row["ssc_accuracy"] = table1["ssc_accuracy"];
      row["network_accuracy"] = table1["network_accuracy"];
      row["agreement"] = table1["agreement"];
    }
    rows.push_back(row);
  }
  return rows;
}

// A CKA matrix between the layers in the network's layer order (`cka-matrix --layers` sets the
// order of its .npy and .csv).
json cka_between_layers(Analysis& a, const std::string& name, std::vector<std::string> args,
                        const fs::path& input) {
  const fs::path npy = a.dir / (name + ".npy");
  const std::vector<std::string>& layers = a.checked.layers;
  for (const auto& layer : layers) args.insert(args.end(), {"--layers", layer});
  args.insert(args.end(), {"-o", npy.string()});
  const json summary = a.steps.run({name, args, {input}, {npy}}).at(0);
  const RowMatrix ordered = in_layer_order(io::read_matrix(npy), summary, layers, name);
  return json{{"rows", layers},
              {"cols", layers},
              {"values", matrix_json(ordered)},
              {"file", relative_to_dir(npy, a.dir)},
              {"csv", relative_to_dir(fs::path(npy).replace_extension(".csv"), a.dir)}};
}

// Table 1 at the last layer (the paper's), from the per-layer rows.
json table1_of(const Analysis& a, const json& layer_rows) {
  if (a.predictions.empty()) return nullptr;
  const json& last = layer_rows.back();
  return {{"layer", a.last()},
          {"ssc_accuracy", last["ssc_accuracy"]},
          {"network_accuracy", last["network_accuracy"]},
          {"agreement", last["agreement"]}};
}

json confidently_wrong_inputs(Analysis& a) {
  json rows = json::array();
  if (a.checked.logits.size() == 0) return rows;
  std::vector<std::string> args = {"neighbors",
                                   a.graph(a.last()).string(),
                                   "--labels",
                                   a.options.labels.string(),
                                   "--scores",
                                   a.options.logits.string(),
                                   "--predictions",
                                   a.predictions.string(),
                                   "--confidently-wrong",
                                   std::to_string(a.options.confidently_wrong),
                                   "--top",
                                   std::to_string(a.options.top)};
  for (const auto& line :
       a.steps.run({"neighbors",
                    args,
                    {a.graph(a.last()), a.options.labels, a.options.logits, a.predictions},
                    {}})) {
    rows.push_back(line);
  }
  return rows;
}

std::string join_layers(const Analysis& a) {
  std::string out;
  for (const auto& layer : a.checked.layers) out += (out.empty() ? "" : ",") + layer;
  return out;
}

// Paper B: singular spectra of every layer.
json spectra_of(Analysis& a) {
  std::vector<std::string> args = {"spectrum", a.options.activations.string(),
                                   "-k",       std::to_string(a.options.spectrum_k),
                                   "-o",       (a.dir / "spectrum").string()};
  if (!a.options.layers.empty()) args.insert(args.end(), {"--layers", join_layers(a)});
  const json spectrum =
      a.steps
          .run({"spectrum", args, {a.options.activations}, {a.dir / "spectrum" / "spectrum.csv"}})
          .at(0);
  json rows = json::array();
  for (const auto& layer : spectrum["layers"]) {
    rows.push_back({{"layer", layer["layer"]}, {"singular_values", layer["singular_values"]}});
  }
  return rows;
}

// Paper B: the coupled-NMF rank sweep of the images with every layer (ranks below N). Layers
// with negative values are shifted to a minimum of 0 (--shift-min); the result names them.
json nmf_of(Analysis& a) {
  std::vector<int> ranks;
  for (int rank : a.options.ranks) {
    if (rank >= 1 && rank < a.checked.n) ranks.push_back(rank);
  }
  if (!a.options.nmf || a.options.images.empty() || ranks.empty()) return nullptr;
  std::string rank_list;
  for (int rank : ranks) rank_list += (rank_list.empty() ? "" : ",") + std::to_string(rank);
  std::vector<std::string> args = {"factorize",
                                   "--inputs",
                                   a.options.images.string(),
                                   "--acts",
                                   a.options.activations.string(),
                                   "--ranks",
                                   rank_list,
                                   "--seeds",
                                   "1",
                                   "--seed",
                                   std::to_string(a.options.seed),
                                   "--solver",
                                   "hals",
                                   "--max-iter",
                                   std::to_string(a.options.nmf_max_iterations),
                                   "--shift-min",
                                   "--no-latent",
                                   "-o",
                                   (a.dir / "nmf").string()};
  if (!a.options.layers.empty()) args.insert(args.end(), {"--layers", join_layers(a)});
  const json sweep = a.steps
                         .run({"factorize",
                               args,
                               {a.options.images, a.options.activations},
                               {a.dir / "nmf" / "sweep.csv"}})
                         .at(0);
  json rows = json::array();
  for (const auto& rank : sweep["ranks"]) {
    rows.push_back({{"rank", rank["rank"]},
                    {"rmse", rank["rmse_mean"]},
                    {"relative_rmse", rank.value("relative_rmse_mean", json())},
                    {"block", "all"}});
    for (const auto& block : rank["blocks"]) {
      rows.push_back({{"rank", rank["rank"]},
                      {"rmse", block["rmse_mean"]},
                      {"relative_rmse", block.value("relative_rmse_mean", json())},
                      {"block", (block["kind"] == "input" ? "input " : "") +
                                    block["block"].get<std::string>()}});
    }
  }
  json shifted = json::array();
  for (const auto& block : sweep.value("blocks", json::array())) {
    if (block.value("shift", 0.0) > 0) {
      shifted.push_back({{"block", block["name"]}, {"shift", block["shift"]}});
    }
  }
  return {{"ranks", ranks}, {"rmse", rows}, {"shifted", shifted}, {"csv", "nmf/sweep.csv"}};
}

// layers.csv (with Table 1 per layer), table1.csv, confidently-wrong.csv; returns the files.
json write_analysis_tables(const Analysis& a, const json& layer_rows, const json& table1,
                           const json& confidently_wrong) {
  json files = json::array();
  std::ostringstream layers_csv;
  layers_csv << "layer,index,d,modularity,nnz,n_isolated,ssc_accuracy,agreement\n";
  for (const auto& row : layer_rows) {
    layers_csv << csv_escape(row["name"].get<std::string>()) << "," << row["index"] << ","
               << row["d"] << "," << csv_number(row["modularity"]) << "," << row["nnz"] << ","
               << row["n_isolated"] << "," << csv_number(row.value("ssc_accuracy", json())) << ","
               << csv_number(row.value("agreement", json())) << "\n";
  }
  io::write_file_atomically(a.dir / "layers.csv", layers_csv.str());
  files.push_back("layers.csv");
  if (!table1.is_null()) {
    std::ostringstream csv;
    csv << "layer,ssc_accuracy,network_accuracy,agreement\n";
    for (const auto& row : layer_rows) {
      csv << csv_escape(row["name"].get<std::string>()) << "," << csv_number(row["ssc_accuracy"])
          << "," << csv_number(row["network_accuracy"]) << "," << csv_number(row["agreement"])
          << "\n";
    }
    io::write_file_atomically(a.dir / "table1.csv", csv.str());
    files.push_back("table1.csv");
  }
  if (!confidently_wrong.empty()) {
    std::ostringstream csv;
    csv << "index,label,predicted,confidence,ssc_label,neighbours\n";
    for (const auto& input : confidently_wrong) {
      std::string neighbours;
      for (const auto& neighbour : input.value("top", json::array())) {
        neighbours += (neighbours.empty() ? "" : " ") + neighbour["index"].dump() + ":" +
                      neighbour["label"].dump();
      }
      csv << input.value("index", -1) << "," << input.value("label", -1) << ","
          << input.value("predicted", -1) << "," << csv_number(input["confidence"]) << ","
          << input.value("ssc_label", -1) << "," << neighbours << "\n";
    }
    io::write_file_atomically(a.dir / "confidently-wrong.csv", csv.str());
    files.push_back("confidently-wrong.csv");
  }
  return files;
}

json compute(Analysis& a) {
  const std::vector<json> ssc_lines = ssc_graphs(a);
  const json layer_rows = layer_measures(a);
  const json ssc_cka = cka_between_layers(
      a, "ssc-cka", {"cka-matrix", a.graphs.string(), "--kind", "graph"}, a.graphs);
  const json linear_cka = cka_between_layers(
      a, "linear-cka", {"cka-matrix", a.options.activations.string(), "--kind", "linear"},
      a.options.activations);
  const json table1 = table1_of(a, layer_rows);
  const json confidently_wrong = confidently_wrong_inputs(a);
  const json spectra = spectra_of(a);
  const json nmf = nmf_of(a);
  const bool has_logits = a.checked.logits.size() > 0;
  const AnalysisOptions& o = a.options;
  auto path_or_null = [](const fs::path& path) {
    return path.empty() ? json() : json(path.string());
  };
  json files =
      json::array({"result.json", ssc_cka["csv"], linear_cka["csv"], "spectrum/spectrum.csv"});
  for (const auto& file : write_analysis_tables(a, layer_rows, table1, confidently_wrong)) {
    files.push_back(file);
  }
  if (!nmf.is_null()) files.push_back("nmf/sweep.csv");
  return {{"command", "analyze"},
          {"activations", o.activations.string()},
          {"labels", o.labels.string()},
          {"predictions", path_or_null(a.predictions)},
          {"logits", path_or_null(o.logits)},
          {"images", path_or_null(o.images)},
          {"n_inputs", a.checked.n},
          {"n_classes", a.checked.n_classes},
          {"class_names", o.class_names.empty() ? json() : json(o.class_names)},
          {"layers", layer_rows},
          {"ssc", ssc_lines},
          {"ssc_cka", ssc_cka},
          {"linear_cka", linear_cka},
          {"table1", table1},
          {"confidently_wrong", confidently_wrong},
          {"spectra", spectra},
          {"nmf", nmf},
          {"findings",
           findings::analysis_findings(layer_rows, ssc_cka, table1, confidently_wrong, has_logits)},
          {"files", files}};
}

// A step rejected its input (exit 2; it printed why): the user's error. Unless a step finished
// (its result is kept for the rerun), what this run wrote holds nothing of value: the folder it
// created, or in an existing folder an empty steps/ and the predictions it derived.
void remove_what_this_run_wrote(const fs::path& dir, bool created, bool had_predictions) {
  std::error_code error;
  if (!fs::is_empty(dir / "steps", error) && fs::exists(dir / "steps", error)) return;
  if (created) {
    fs::remove_all(dir, error);
    return;
  }
  if (fs::is_empty(dir / "steps", error)) fs::remove(dir / "steps", error);
  if (!had_predictions) fs::remove(dir / "predictions.npy", error);
}

}  // namespace

json run_analysis(const AnalysisOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const Checked checked = check_inputs(options);
  const fs::path dir = options.output;
  std::error_code error;
  const bool created = !fs::exists(dir, error);
  const bool had_predictions = fs::exists(dir / "predictions.npy", error);
  fs::create_directories(dir);
  json result;
  int ran = 0, skipped = 0;
  try {
    const fs::path predictions = predictions_file(options, checked, dir);
    const int n_layers = static_cast<int>(checked.layers.size());
    const int planned = (options.graphs.empty() ? 1 : 0) +
                        n_layers * (2 + (predictions.empty() ? 0 : 1)) + 2 +
                        (checked.logits.size() > 0 ? 1 : 0) + 2;
    StepRunner steps(dir, options.who, planned, options.key_root);
    Analysis analysis{options,     checked,
                      dir,         options.graphs.empty() ? dir / "graphs" : options.graphs,
                      predictions, steps};
    result = compute(analysis);
    ran = steps.ran();
    skipped = steps.skipped();
  } catch (const StepFailed& failure) {
    if (failure.exit_code == 2) remove_what_this_run_wrote(dir, created, had_predictions);
    throw;
  }
  // result.json holds no timings or step counts: a rerun writes byte-identical files.
  io::write_file_atomically(dir / "result.json", result.dump(1) + "\n");
  result["steps_run"] = ran;
  result["steps_skipped"] = skipped;
  result["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (options.write_report) result["report"] = render_report(dir, options.figures)["report"];
  return result;
}

}  // namespace sublens::study
