// The `analyze` pipeline and its report sections. See include/sublens/study/analysis.hpp.
#include "sublens/study/analysis.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "internal.hpp"
#include "sublens/core/error.hpp"
#include "sublens/factor/latent.hpp"
#include "sublens/io/io.hpp"
#include "sublens/study/steps.hpp"
#include "sublens/study/study.hpp"

namespace sublens::study {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace): this module's helpers

// Findings thresholds, named after the papers' claims.
// Table 1 (paper A): SSC-label accuracy 95.8% vs network 95.8%; "close" = within this.
constexpr double kTable1Tolerance = 0.05;

void require_file(const fs::path& path, const std::string& option) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) {
    throw InputError(path.string(), option, "must be an existing file");
  }
}

io::NdArray read_images(const fs::path& path) {
  const std::string name = path.filename().string();
  if (path.extension() == ".npy") return io::read_npy(path);
  return io::read_idx(path);
}

// PNG data URLs of grey inputs (N x H x W or N x 1 x H x W; a 3-channel input is averaged), each
// scaled to its own [min, max]. Empty when the shape is not an image's.
std::vector<std::string> thumbnails(const fs::path& images_file, Index n_inputs) {
  const io::NdArray images = read_images(images_file);
  const auto& shape = images.shape;
  Index height = 0, width = 0, channels = 1;
  if (shape.size() == 3) {
    height = shape[1];
    width = shape[2];
  } else if (shape.size() == 4 && (shape[1] == 1 || shape[1] == 3)) {
    channels = shape[1];
    height = shape[2];
    width = shape[3];
  } else {
    return {};
  }
  if (shape[0] != n_inputs || height > 64 || width > 64) return {};
  const std::vector<double> values = images.to_double();
  const Index pixels = height * width;
  std::vector<std::string> urls;
  urls.reserve(static_cast<std::size_t>(n_inputs));
  for (Index i = 0; i < n_inputs; ++i) {
    std::vector<double> grey(static_cast<std::size_t>(pixels), 0.0);
    for (Index c = 0; c < channels; ++c) {
      for (Index p = 0; p < pixels; ++p) {
        grey[p] += values[static_cast<std::size_t>((i * channels + c) * pixels + p)] / channels;
      }
    }
    const auto [low, high] = std::minmax_element(grey.begin(), grey.end());
    const double span = *high - *low > 0 ? *high - *low : 1.0;
    factor::GrayImage image{width, height, std::vector<std::uint8_t>(grey.size())};
    for (std::size_t p = 0; p < grey.size(); ++p) {
      image.pixels[p] = static_cast<std::uint8_t>(std::lround(255.0 * (grey[p] - *low) / span));
    }
    urls.push_back("data:image/png;base64," + base64(factor::encode_png(image)));
  }
  return urls;
}

}  // namespace

json run_analysis(const AnalysisOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  // ---- Validate every input before any step runs.
  require_file(options.activations, "ACTS");
  require_file(options.labels, "--labels");
  const std::vector<io::ArrayInfo> arrays = io::list_arrays(options.activations);
  if (arrays.empty()) throw InputError(options.activations.string(), "arrays", "must hold a layer");
  const std::int64_t n = arrays.front().shape.empty() ? 0 : arrays.front().shape.front();
  if (n < 3) {
    throw InputError(options.activations.string(), "shape", "must have N >= 3 inputs");
  }
  const std::vector<std::int64_t> labels = io::read_int_vector(options.labels);
  if (static_cast<std::int64_t>(labels.size()) != n) {
    throw InputError(options.labels.string(), "shape",
                     "must have N = " + std::to_string(n) +
                         " entries (the activations' first "
                         "axis), not " +
                         std::to_string(labels.size()));
  }
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) {
      throw InputError(options.labels.string(), "values",
                       "must be class indices >= 0 (entry " + std::to_string(i) + " is " +
                           std::to_string(labels[i]) + ")");
    }
  }
  const std::int64_t n_classes = *std::max_element(labels.begin(), labels.end()) + 1;
  if (!options.predictions.empty()) {
    require_file(options.predictions, "--predictions");
    const auto predictions = io::read_int_vector(options.predictions);
    if (static_cast<std::int64_t>(predictions.size()) != n) {
      throw InputError(options.predictions.string(), "shape",
                       "must have N = " + std::to_string(n) + " entries, not " +
                           std::to_string(predictions.size()));
    }
  }
  RowMatrix logits;
  if (!options.logits.empty()) {
    require_file(options.logits, "--logits");
    logits = io::read_matrix(options.logits);
    if (logits.rows() != n || logits.cols() < 2) {
      throw InputError(options.logits.string(), "shape",
                       "must be N x classes with N = " + std::to_string(n) +
                           " and classes >= 2, not " + std::to_string(logits.rows()) + " x " +
                           std::to_string(logits.cols()));
    }
  }
  if (!options.images.empty()) {
    require_file(options.images, "--images");
    const io::NdArray images = read_images(options.images);
    if (images.shape.empty() || images.shape.front() != n) {
      throw InputError(options.images.string(), "shape",
                       "first axis must be N = " + std::to_string(n) + " (the activations')");
    }
  }
  if (!options.graphs.empty()) {
    for (const auto& array : arrays)
      require_file(options.graphs / (io::layer_file_stem(array.name) + ".npz"), "--graphs");
  }

  const fs::path dir = options.output;
  fs::create_directories(dir);
  const std::string acts = options.activations.string();
  const std::string label_file = options.labels.string();
  std::vector<std::string> layers;
  for (const auto& array : arrays) layers.push_back(array.name);
  const std::string last = layers.back();
  const int n_layers = static_cast<int>(layers.size());

  // Predictions: given, or argmax of the logits (written so the steps can read them).
  fs::path predictions = options.predictions;
  if (predictions.empty() && logits.size() > 0) {
    predictions = dir / "predictions.npy";
    std::vector<std::int64_t> argmax(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) logits.row(i).maxCoeff(&argmax[static_cast<std::size_t>(i)]);
    const io::NdArray array = io::NdArray::from_int64({n}, argmax.data());
    io::write_atomically(predictions,
                         [&](const fs::path& temporary) { io::write_npy(temporary, array); });
  }
  std::vector<int> ranks;
  for (int rank : options.ranks) {
    if (rank >= 1 && rank < n) ranks.push_back(rank);
  }
  const bool run_nmf = options.nmf && !options.images.empty() && !ranks.empty();
  const int planned = (options.graphs.empty() ? 1 : 0) + 2 * n_layers + 2 +
                      (predictions.empty() ? 0 : 1) + (logits.size() > 0 ? 1 : 0) + 1 +
                      (run_nmf ? 1 : 0);
  StepRunner steps(dir, options.who, planned, options.key_root);

  // ---- 1. SSC graph of every layer.
  const fs::path graphs = options.graphs.empty() ? dir / "graphs" : options.graphs;
  std::vector<json> ssc_lines;
  if (options.graphs.empty()) {
    ssc_lines = steps.run({"ssc",
                           {"ssc", acts, "--all-layers", "--tau", csv_number(json(options.tau)),
                            "--threads", std::to_string(options.threads), "-o", graphs.string()},
                           {options.activations},
                           {graphs},
                           /*capture_stderr=*/false,
                           /*show_progress=*/false,
                           /*clear_outputs=*/true});
  }
  auto graph_of = [&](const std::string& layer) {
    return graphs / (io::layer_file_stem(layer) + ".npz");
  };

  // ---- 2. Modularity per layer, embeddings per layer.
  json layer_rows = json::array();
  fs::create_directories(dir / "embeddings");
  for (int index = 0; index < n_layers; ++index) {
    const std::string& layer = layers[index];
    const json modularity =
        steps
            .run({"modularity-" + layer,
                  {"modularity", graph_of(layer).string(), "--labels", label_file},
                  {graph_of(layer), options.labels},
                  {}})
            .at(0);
    const fs::path embedding = dir / "embeddings" / (io::layer_file_stem(layer) + ".npy");
    steps.run({"embed-" + layer,
               {"embed", graph_of(layer).string(), "-k", "3", "-o", embedding.string()},
               {graph_of(layer)},
               {embedding}});
    json row = {{"name", layer},
                {"index", index},
                {"d", 1},
                {"modularity", modularity["modularity"]},
                {"nnz", modularity["nnz"]},
                {"n_isolated", modularity["n_isolated"]},
                {"graph", options.graphs.empty() ? relative_to_dir(graph_of(layer), dir)
                                                 : graph_of(layer).string()},
                {"embedding", relative_to_dir(embedding, dir)}};
    std::int64_t d = 1;
    for (std::size_t k = 1; k < arrays[index].shape.size(); ++k) d *= arrays[index].shape[k];
    row["d"] = d;
    layer_rows.push_back(row);
  }

  // ---- 3. SSC-CKA and Linear-CKA between all layers (in the network's layer order).
  auto cka_matrix = [&](const std::string& name, std::vector<std::string> args,
                        const fs::path& input, const fs::path& output) {
    args.insert(args.end(), {"-o", output.string()});
    const json summary = steps.run({name, args, {input}, {output}}).at(0);
    const RowMatrix ordered =
        in_layer_order(io::read_matrix(output), summary, layers, "analyze: " + name);
    return json{{"rows", layers},
                {"cols", layers},
                {"values", matrix_json(ordered)},
                {"file", relative_to_dir(output, dir)},
                {"csv", relative_to_dir(fs::path(output).replace_extension(".csv"), dir)}};
  };
  const json ssc_cka = cka_matrix("ssc-cka", {"cka-matrix", graphs.string(), "--kind", "graph"},
                                  graphs, dir / "ssc-cka.npy");
  const json linear_cka = cka_matrix("linear-cka", {"cka-matrix", acts, "--kind", "linear"},
                                     options.activations, dir / "linear-cka.npy");

  // ---- 4. Table 1 at the last layer.
  json table1 = nullptr;
  if (!predictions.empty()) {
    const fs::path ssc_labels = dir / "ssc-labels.npy";
    const json line = steps
                          .run({"ssc-labels",
                                {"ssc-labels", graph_of(last).string(), "--labels", label_file,
                                 "--predictions", predictions.string(), "-o", ssc_labels.string()},
                                {graph_of(last), options.labels, predictions},
                                {ssc_labels}})
                          .at(0);
    table1 = {{"layer", last},
              {"ssc_accuracy", line["ssc_accuracy"]},
              {"network_accuracy", line["network_accuracy"]},
              {"agreement", line["agreement"]},
              {"n_unlabelled", line["n_unlabelled"]},
              {"file", relative_to_dir(ssc_labels, dir)}};
  }

  // ---- 5. The most confidently wrong inputs and their neighbourhoods.
  json confidently_wrong = json::array();
  if (logits.size() > 0) {
    std::vector<std::string> args = {"neighbors",
                                     graph_of(last).string(),
                                     "--labels",
                                     label_file,
                                     "--scores",
                                     options.logits.string(),
                                     "--predictions",
                                     predictions.string(),
                                     "--confidently-wrong",
                                     std::to_string(options.confidently_wrong),
                                     "--top",
                                     std::to_string(options.top)};
    for (const auto& line :
         steps.run({"neighbors",
                    args,
                    {graph_of(last), options.labels, options.logits, predictions},
                    {}})) {
      confidently_wrong.push_back(line);
    }
  }

  // ---- 6. Singular spectra (paper B).
  const json spectrum = steps
                            .run({"spectrum",
                                  {"spectrum", acts, "-k", std::to_string(options.spectrum_k), "-o",
                                   (dir / "spectrum").string()},
                                  {options.activations},
                                  {dir / "spectrum" / "spectrum.csv"}})
                            .at(0);
  json spectra = json::array();
  for (const auto& layer : spectrum["layers"]) {
    spectra.push_back({{"layer", layer["layer"]}, {"singular_values", layer["singular_values"]}});
  }

  // ---- 7. Coupled NMF rank sweep (paper B).
  json nmf = nullptr;
  if (run_nmf) {
    std::string rank_list;
    for (int rank : ranks) {
      if (!rank_list.empty()) rank_list += ',';
      rank_list += std::to_string(rank);
    }
    const json sweep =
        steps
            .run({"factorize",
                  {"factorize", "--inputs", options.images.string(), "--acts", acts, "--ranks",
                   rank_list, "--seeds", "1", "--seed", std::to_string(options.seed), "--solver",
                   "hals", "--max-iter", std::to_string(options.nmf_max_iterations), "--shift-min",
                   "--no-latent", "-o", (dir / "nmf").string()},
                  {options.images, options.activations},
                  {dir / "nmf" / "sweep.csv"}})
            .at(0);
    json rows = json::array();
    for (const auto& rank : sweep["ranks"]) {
      rows.push_back({{"rank", rank["rank"]}, {"rmse", rank["rmse_mean"]}, {"block", "all"}});
      for (const auto& block : rank["blocks"]) {
        rows.push_back({{"rank", rank["rank"]},
                        {"rmse", block["rmse_mean"]},
                        {"block", (block["kind"] == "input" ? "input " : "") +
                                      block["block"].get<std::string>()}});
      }
    }
    nmf = {{"ranks", ranks}, {"rmse", rows}, {"csv", "nmf/sweep.csv"}};
  }

  // ---- Findings, computed from the numbers.
  json findings = json::array();
  {
    std::vector<double> index, modularity;
    for (const auto& row : layer_rows) {
      if (!row["modularity"].is_number()) continue;
      index.push_back(row["index"].get<double>());
      modularity.push_back(row["modularity"].get<double>());
    }
    const double rho = report::spearman(index, modularity);
    const std::string claim = "Deeper layers have higher modularity (paper A, Fig. 1)";
    if (index.size() < 3 || !std::isfinite(rho)) {
      findings.push_back(finding_json(claim, std::nullopt, "needs >= 3 layers with a modularity"));
    } else {
      findings.push_back(finding_json(claim, rho > 0,
                                      format("Spearman rank correlation of modularity with layer "
                                             "index: %.3f",
                                             rho) +
                                          " over " + std::to_string(index.size()) + " layers"));
    }
  }
  {
    RowMatrix values(n_layers, n_layers);
    for (int i = 0; i < n_layers; ++i) {
      for (int j = 0; j < n_layers; ++j) {
        const auto& value = ssc_cka["values"][i][j];
        values(i, j) =
            value.is_number() ? value.get<double>() : std::numeric_limits<double>::quiet_NaN();
      }
    }
    const auto [near, far] = block_diagonal(values);
    const std::string claim =
        "SSC-CKA heatmap is block-diagonal: neighbouring layers are more similar than distant "
        "ones (paper A, Fig. 3-7)";
    if (n_layers < 3 || !std::isfinite(near) || !std::isfinite(far)) {
      findings.push_back(finding_json(claim, std::nullopt, "needs >= 3 layers"));
    } else {
      findings.push_back(finding_json(claim, near > far,
                                      format("mean SSC-CKA of adjacent layers %.3f", near) +
                                          format(" vs layers >= 2 apart %.3f", far) +
                                          format(" (block-diagonal strength %.3f)", near - far)));
    }
  }
  {
    const std::string claim =
        "SSC labels at the last layer are about as accurate as the network (paper A, Table 1: "
        "95.8% vs 95.8%)";
    if (table1.is_null() || !table1["ssc_accuracy"].is_number()) {
      findings.push_back(finding_json(claim, std::nullopt, "needs --predictions or --logits"));
    } else {
      const double ssc = table1["ssc_accuracy"].get<double>();
      const double network = table1["network_accuracy"].get<double>();
      findings.push_back(finding_json(
          claim, std::abs(ssc - network) <= kTable1Tolerance,
          format("SSC-label accuracy %.3f", ssc) + format(", network accuracy %.3f", network) +
              format(", agreement %.3f", table1["agreement"].get<double>()) +
              format(" (held: within %.2f)", kTable1Tolerance)));
    }
  }
  {
    const std::string claim =
        "Confidently wrong inputs lie among inputs of their true class (paper A, Fig. 9)";
    int explained = 0, total = 0;
    for (const auto& input : confidently_wrong) {
      if (!input.contains("ssc_label")) continue;
      ++total;
      if (input["ssc_label"] == input["label"]) ++explained;
    }
    if (total == 0) {
      findings.push_back(finding_json(
          claim, std::nullopt, logits.size() > 0 ? "no misclassified inputs" : "needs --logits"));
    } else {
      findings.push_back(finding_json(claim, 2 * explained > total,
                                      std::to_string(explained) + " of " + std::to_string(total) +
                                          " have the true class as the largest class affinity"));
    }
  }

  json files = json::array(
      {"result.json", "layers.csv", ssc_cka["csv"], linear_cka["csv"], "spectrum/spectrum.csv"});
  json result = {{"command", "analyze"},
                 {"activations", acts},
                 {"labels", label_file},
                 {"predictions", predictions.empty() ? json() : json(predictions.string())},
                 {"logits", options.logits.empty() ? json() : json(options.logits.string())},
                 {"images", options.images.empty() ? json() : json(options.images.string())},
                 {"n_inputs", n},
                 {"n_classes", n_classes},
                 {"layers", layer_rows},
                 {"ssc", ssc_lines},
                 {"ssc_cka", ssc_cka},
                 {"linear_cka", linear_cka},
                 {"table1", table1},
                 {"confidently_wrong", confidently_wrong},
                 {"spectra", spectra},
                 {"nmf", nmf},
                 {"findings", findings},
                 {"steps_run", steps.ran()},
                 {"steps_skipped", steps.skipped()}};

  // ---- Tables.
  std::ostringstream layers_csv;
  layers_csv << "layer,index,d,modularity,nnz,n_isolated\n";
  for (const auto& row : layer_rows) {
    layers_csv << csv_escape(row["name"].get<std::string>()) << "," << row["index"] << ","
               << row["d"] << "," << csv_number(row["modularity"]) << "," << row["nnz"] << ","
               << row["n_isolated"] << "\n";
  }
  io::write_file_atomically(dir / "layers.csv", layers_csv.str());
  if (!table1.is_null()) {
    io::write_file_atomically(dir / "table1.csv",
                              "layer,ssc_accuracy,network_accuracy,agreement\n" + csv_escape(last) +
                                  "," + csv_number(table1["ssc_accuracy"]) + "," +
                                  csv_number(table1["network_accuracy"]) + "," +
                                  csv_number(table1["agreement"]) + "\n");
    files.push_back("table1.csv");
  }
  if (!confidently_wrong.empty()) {
    std::ostringstream csv;
    csv << "index,label,predicted,confidence,ssc_label,neighbours\n";
    for (const auto& input : confidently_wrong) {
      std::string neighbours;
      for (const auto& neighbour : input.value("top", json::array())) {
        if (!neighbours.empty()) neighbours += ' ';
        neighbours += neighbour["index"].dump();
        neighbours += ':';
        neighbours += neighbour["label"].dump();
      }
      csv << input.value("index", -1) << "," << input.value("label", -1) << ","
          << input.value("predicted", -1) << "," << csv_number(input["confidence"]) << ","
          << input.value("ssc_label", -1) << "," << neighbours << "\n";
    }
    io::write_file_atomically(dir / "confidently-wrong.csv", csv.str());
    files.push_back("confidently-wrong.csv");
  }
  if (!nmf.is_null()) files.push_back("nmf/sweep.csv");
  result["files"] = files;
  result["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // result.json holds no timings of its own steps beyond `seconds`, which is dropped from the
  // file so that a rerun writes byte-identical tables.
  json stored = result;
  stored.erase("seconds");
  stored.erase("steps_run");
  stored.erase("steps_skipped");
  io::write_file_atomically(dir / "result.json", stored.dump(1) + "\n");

  if (options.write_report) {
    result["report"] = render_report(dir, options.figures)["report"];
  }
  return result;
}

void add_analysis_to_report(const json& result, const fs::path& dir, report::Report& page,
                            const std::string& id_prefix) {
  for (const auto& item : result["findings"]) {
    page.findings.push_back(
        {item["claim"].get<std::string>(),
         item["held"].is_null() ? std::nullopt : std::optional<bool>(item["held"].get<bool>()),
         item["statistic"].get<std::string>()});
  }
  const auto& layers = result["layers"];

  // Graph structure.
  report::Section structure{"Graph structure of each layer",
                            "SSC affinity graph per layer (W = |C| + |C|^T), modularity with the "
                            "class labels as communities (eq. 5), and CKA between layers."};
  json modularity = json::array();
  for (const auto& layer : layers) {
    modularity.push_back({{"layer", layer["name"]},
                          {"layer index", layer["index"]},
                          {"modularity", layer["modularity"]}});
  }
  auto line =
      report::line_chart(modularity, "layer index", "modularity", "", "layer", "modularity");
  line["encoding"]["x"] = {
      {"field", "layer"}, {"type", "ordinal"}, {"sort", nullptr}, {"axis", {{"labelAngle", -45}}}};
  line["encoding"]["tooltip"].insert(line["encoding"]["tooltip"].begin(), {{"field", "layer"}});
  structure.figures.push_back({id_prefix + "modularity", "Modularity vs layer",
                               "Higher: the layer's SSC graph links inputs of the same class.",
                               line});
  for (const auto& [key, title] :
       {std::pair<std::string, std::string>{"ssc_cka", "SSC-CKA"}, {"linear_cka", "Linear-CKA"}}) {
    const auto& cka = result[key];
    std::vector<std::vector<double>> values;
    for (const auto& row : cka["values"]) {
      std::vector<double> numbers;
      for (const auto& value : row) {
        numbers.push_back(value.is_number() ? value.get<double>()
                                            : std::numeric_limits<double>::quiet_NaN());
      }
      values.push_back(numbers);
    }
    structure.figures.push_back(
        {id_prefix + (key == "ssc_cka" ? "ssc-cka" : "linear-cka"), title + " between layers",
         "Hover a cell for both layers and the value (" + cka["csv"].get<std::string>() + ").",
         report::heatmap(cka["rows"].get<std::vector<std::string>>(),
                         cka["cols"].get<std::vector<std::string>>(), values, title)});
  }
  report::Table layer_table{"Layers", {"layer", "d", "modularity", "graph nnz", "isolated"}, {}};
  for (const auto& layer : layers) {
    layer_table.rows.push_back(
        {layer["name"], layer["d"], layer["modularity"], layer["nnz"], layer["n_isolated"]});
  }
  structure.tables.push_back(layer_table);
  page.sections.push_back(structure);

  // Inputs: embeddings, Table 1, confidently wrong inputs.
  report::Section inputs{"Inputs",
                         "2-D spectral embedding of each layer's graph: eigenvectors 2 and 3 of "
                         "D^-1/2 W D^-1/2 (the first is proportional to sqrt(degree) and carries "
                         "no structure), coloured by class; hover a point for its label and "
                         "prediction (and image, when --images was given)."};
  const auto labels = io::read_int_vector(result["labels"].get<std::string>());
  std::vector<std::int64_t> predictions;
  if (result["predictions"].is_string()) {
    predictions = io::read_int_vector(result["predictions"].get<std::string>());
  }
  std::vector<std::string> images;
  const Index n = result["n_inputs"].get<Index>();
  if (result["images"].is_string() && n <= 2000) {
    images = thumbnails(result["images"].get<std::string>(), n);
  }
  // Paper A, Fig. 8 embeds the correctly classified inputs (the wrong ones are explained below).
  const bool only_correct = !predictions.empty() && predictions.size() == labels.size();
  std::string shown = "all " + std::to_string(labels.size()) + " inputs";
  if (only_correct) {
    std::size_t correct = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) correct += predictions[i] == labels[i];
    shown = "the " + std::to_string(correct) + " correctly classified inputs of " +
            std::to_string(labels.size()) + " (paper A, Fig. 8)";
  }
  for (const auto& layer : layers) {
    const RowMatrix embedding = io::read_matrix(dir / layer["embedding"].get<std::string>());
    json points = json::array();
    const Index first = embedding.cols() >= 3 ? 1 : 0;  // skip the trivial eigenvector
    for (Index i = 0; i < embedding.rows() && i < static_cast<Index>(labels.size()); ++i) {
      if (embedding.cols() < first + 2 || !std::isfinite(embedding(i, first)) ||
          !std::isfinite(embedding(i, first + 1))) {
        continue;
      }
      const auto row = static_cast<std::size_t>(i);
      if (only_correct && predictions[row] != labels[row]) continue;
      json point = {{"x", embedding(i, first)},
                    {"y", embedding(i, first + 1)},
                    {"input", i},
                    {"label", labels[static_cast<std::size_t>(i)]}};
      if (!predictions.empty()) point["prediction"] = predictions[static_cast<std::size_t>(i)];
      if (!images.empty()) point["image"] = images[static_cast<std::size_t>(i)];
      points.push_back(point);
    }
    std::vector<std::string> tooltip = {"input", "label"};
    if (!predictions.empty()) tooltip.push_back("prediction");
    const std::string name = layer["name"].get<std::string>();
    inputs.figures.push_back({id_prefix + "embedding-" + std::to_string(layer["index"].get<int>()),
                              "Embedding: " + name, "Shows " + shown + ".",
                              report::scatter(points, tooltip)});
  }
  if (!result["table1"].is_null()) {
    const auto& table1 = result["table1"];
    inputs.tables.push_back(
        {"Table 1 (layer " + table1["layer"].get<std::string>() + ")",
         {"SSC-label accuracy", "network accuracy", "agreement"},
         {{table1["ssc_accuracy"], table1["network_accuracy"], table1["agreement"]}}});
  }
  if (!result["confidently_wrong"].empty()) {
    json affinity = json::array();
    report::Table table{
        "Most confidently wrong inputs and their top neighbours",
        {"input", "label", "predicted", "confidence", "SSC label", "neighbours (input:label)"},
        {}};
    for (const auto& input : result["confidently_wrong"]) {
      const std::string facet = "input " + input["index"].dump() + " (label " +
                                input["label"].dump() + ", predicted " + input["predicted"].dump() +
                                ")";
      const auto& classes = input.value("class_affinity", json::array());
      for (std::size_t c = 0; c < classes.size(); ++c) {
        affinity.push_back(
            {{"input", facet}, {"class", std::to_string(c)}, {"affinity", classes[c]}});
      }
      std::string neighbours;
      for (const auto& neighbour : input.value("top", json::array())) {
        neighbours += (neighbours.empty() ? "" : "  ") + neighbour["index"].dump() + ":" +
                      neighbour["label"].dump();
      }
      table.rows.push_back({input["index"], input["label"], input["predicted"], input["confidence"],
                            input.value("ssc_label", json()), neighbours});
    }
    inputs.figures.push_back(
        {id_prefix + "class-affinity", "Class affinity of the most confidently wrong inputs",
         "Normalised class-wise sum of each input's affinities at the last layer (paper A, "
         "Fig. 9).",
         report::bars(affinity, "class", "affinity", "input", "share of affinity")});
    if (!images.empty()) {
      // Paper A, Fig. 9: each input's image, then its top neighbours' images by affinity.
      json cells = json::array();
      for (const auto& input : result["confidently_wrong"]) {
        const std::string row = "input " + input["index"].dump() + " (label " +
                                input["label"].dump() + ", predicted " + input["predicted"].dump() +
                                ")";
        auto cell = [&](int slot, const json& index, const std::string& caption) {
          const auto at = index.get<std::size_t>();
          if (at < images.size()) {
            cells.push_back(
                {{"row", row}, {"slot", slot}, {"url", images[at]}, {"caption", caption}});
          }
        };
        cell(0, input["index"], row);
        int slot = 1;
        for (const auto& neighbour : input.value("top", json::array())) {
          char weight[32];
          std::snprintf(weight, sizeof weight, "%.3f", neighbour.value("weight", 0.0));
          cell(slot, neighbour["index"],
               "neighbour " + std::to_string(slot) + ": input " + neighbour["index"].dump() +
                   ", label " + neighbour["label"].dump() + ", affinity " + weight);
          ++slot;
        }
      }
      json spec = {
          {"data", {{"values", cells}}},
          {"mark", {{"type", "image"}, {"width", 48}, {"height", 48}}},
          {"encoding",
           {{"x",
             {{"field", "slot"},
              {"type", "ordinal"},
              {"title", "the input, then its neighbours by affinity"},
              {"axis",
               {{"labelAngle", 0},
                {"labelExpr", "datum.value == 0 ? 'input' : '#' + datum.value"}}}}},
            {"y", {{"field", "row"}, {"type", "nominal"}, {"sort", nullptr}, {"title", nullptr}}},
            {"url", {{"field", "url"}, {"type", "nominal"}}},
            {"tooltip", json::array({{{"field", "caption"}, {"type", "nominal"}}})}}},
          {"width", {{"step", 54}}},
          {"height", {{"step", 54}}}};
      inputs.figures.push_back({id_prefix + "neighbour-images",
                                "The most confidently wrong inputs and their top neighbours",
                                "Hover an image for its input, label and affinity.", spec});
    }
    inputs.tables.push_back(table);
  }
  page.sections.push_back(inputs);

  // Paper B.
  report::Section compress{"Compressibility (paper B)",
                           "Top singular values of each layer's activations (semi-log) and, when "
                           "images were given, the coupled NMF's RMSE against rank."};
  json spectra = json::array();
  for (const auto& layer : result["spectra"]) {
    int k = 1;
    for (const auto& value : layer["singular_values"]) {
      if (value.is_number() && value.get<double>() > 0) {
        spectra.push_back({{"layer", layer["layer"]}, {"k", k}, {"singular value", value}});
      }
      ++k;
    }
  }
  compress.figures.push_back({id_prefix + "spectra", "Singular spectra", "",
                              report::line_chart(spectra, "k", "singular value", "layer", "index",
                                                 "singular value", true)});
  if (!result["nmf"].is_null()) {
    compress.figures.push_back(
        {id_prefix + "nmf-rmse", "Coupled NMF: RMSE vs rank",
         "Lower RMSE at a rank: that block is more compressible.",
         report::line_chart(result["nmf"]["rmse"], "rank", "rmse", "block", "rank", "RMSE")});
  }
  page.sections.push_back(compress);
}

}  // namespace sublens::study
