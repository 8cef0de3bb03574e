// The report sections of one analysis (`sublens analyze`, a study variant's final network):
// graph structure, inputs (embeddings, Table 1, confidently wrong inputs), compressibility.
// See include/sublens/study/analysis.hpp.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "findings.hpp"
#include "internal.hpp"
#include "sublens/factor/latent.hpp"
#include "sublens/io/io.hpp"
#include "sublens/study/analysis.hpp"

namespace sublens::study {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace): this module's helpers

io::NdArray read_images(const fs::path& path) {
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
        grey[p] += values[static_cast<std::size_t>((i * channels + c) * pixels + p)] /
                   static_cast<double>(channels);
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

// What was done to layers with negative values (NMF needs non-negative data).
std::string nmf_shift_note(const json& nmf) {
  std::string shifted;
  for (const auto& block : nmf.value("shifted", json::array())) {
    shifted += (shifted.empty() ? "" : ", ") + block["block"].get<std::string>();
  }
  if (shifted.empty()) return "";
  return " Layers with negative values were shifted by their minimum to be non-negative before "
         "factorizing (" +
         shifted + "): compare them by relative RMSE, not RMSE.";
}

// Graph structure: modularity per layer, SSC-CKA and Linear-CKA heatmaps, the layer table.
report::Section structure_section(const json& result, const std::string& id_prefix) {
  const auto& layers = result["layers"];
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
  return structure;
}

// Paper A, Fig. 9: each confidently wrong input's image, then its top neighbours' images.
// Class k as the report names it: its name when the analysis was given class names (run.json's
// class_names, --class-names), else the number.
std::string class_name(const json& result, const json& k) {
  const json& names = result.value("class_names", json());
  if (names.is_array() && k.is_number_integer() && k.get<std::int64_t>() >= 0 &&
      k.get<std::size_t>() < names.size()) {
    return names[k.get<std::size_t>()].get<std::string>();
  }
  return k.dump();
}

// "input 12 (label Shirt, predicted T-shirt/top)": the row of an explained input, in every figure.
std::string wrong_input_title(const json& result, const json& input) {
  return "input " + input["index"].dump() + " (label " + class_name(result, input["label"]) +
         ", predicted " + class_name(result, input["predicted"]) + ")";
}

json neighbour_images(const json& result, const std::vector<std::string>& images) {
  const json& wrong = result["confidently_wrong"];
  // Paper A, Fig. 9: each input's image, then its top neighbours' images by affinity.
  json cells = json::array();
  for (const auto& input : wrong) {
    const std::string row = wrong_input_title(result, input);
    auto cell = [&](int slot, const json& index, const std::string& caption) {
      const auto at = index.get<std::size_t>();
      if (at < images.size()) {
        cells.push_back({{"row", row}, {"slot", slot}, {"url", images[at]}, {"caption", caption}});
      }
    };
    cell(0, input["index"], row);
    int slot = 1;
    for (const auto& neighbour : input.value("top", json::array())) {
      char weight[32];
      std::snprintf(weight, sizeof weight, "%.3f", neighbour.value("weight", 0.0));
      cell(slot, neighbour["index"],
           "neighbour " + std::to_string(slot) + ": input " + neighbour["index"].dump() +
               ", label " + class_name(result, neighbour["label"]) + ", affinity " + weight);
      ++slot;
    }
  }
  return {
      {"data", {{"values", cells}}},
      {"mark", {{"type", "image"}, {"width", 48}, {"height", 48}}},
      {"encoding",
       {{"x",
         {{"field", "slot"},
          {"type", "ordinal"},
          {"title", "the input, then its neighbours by affinity"},
          {"axis",
           {{"labelAngle", 0}, {"labelExpr", "datum.value == 0 ? 'input' : '#' + datum.value"}}}}},
        {"y", {{"field", "row"}, {"type", "nominal"}, {"sort", nullptr}, {"title", nullptr}}},
        {"url", {{"field", "url"}, {"type", "nominal"}}},
        {"tooltip", json::array({{{"field", "caption"}, {"type", "nominal"}}})}}},
      {"width", {{"step", 54}}},
      {"height", {{"step", 54}}}};
}

// Paper A, Table 1 at every layer (the paper reports the last).
report::Table table1_per_layer(const json& result) {
  const auto& layers = result["layers"];
  report::Table table1{"Table 1 per layer: SSC labels vs the network's predictions",
                       {"layer", "SSC-label accuracy", "network accuracy", "agreement"}};
  for (const auto& layer : layers) {
    if (!layer.contains("ssc_accuracy")) continue;
    table1.rows.push_back({layer["name"], layer["ssc_accuracy"],
                           result["table1"]["network_accuracy"], layer["agreement"]});
  }
  if (table1.rows.empty()) {
    const auto& last = result["table1"];
    table1.rows.push_back(
        {last["layer"], last["ssc_accuracy"], last["network_accuracy"], last["agreement"]});
  }
  return table1;
}

// What the input figures show of each input.
struct InputData {
  const json& result;
  const std::vector<std::int64_t>& labels;
  const std::vector<std::int64_t>& predictions;  // empty without predictions
  const std::vector<std::string>& images;        // thumbnails; empty without images
};

// Paper A, Fig. 9: per explained input (panels in the order of the image grid), its affinity to
// each class, the true and the predicted class marked by colour.
json affinity_bars(const json& result) {
  json affinity = json::array();
  for (const auto& input : result["confidently_wrong"]) {
    const auto& classes = input.value("class_affinity", json::array());
    for (std::size_t c = 0; c < classes.size(); ++c) {
      const json k(c);
      const char* role = k == input["label"]       ? "true class"
                         : k == input["predicted"] ? "predicted class"
                                                   : "other class";
      affinity.push_back({{"input", wrong_input_title(result, input)},
                          {"class", class_name(result, k)},
                          {"affinity", classes[c]},
                          {"role", role}});
    }
  }
  json spec = report::bars(affinity, "class", "affinity", "input", "share of affinity");
  spec["spec"]["encoding"]["color"] = {
      {"field", "role"},
      {"type", "nominal"},
      {"title", nullptr},
      {"scale",
       {{"domain", {"true class", "predicted class", "other class"}},
        {"range", {"#2ca02c", "#d62728", "#9e9e9e"}}}}};
  return spec;
}

// Paper A, Fig. 8: each layer's 2-D spectral embedding of the correctly classified inputs.
void add_embeddings(const json& result, const fs::path& dir, const std::string& id_prefix,
                    const InputData& data, report::Section& inputs) {
  const auto& labels = data.labels;
  const auto& predictions = data.predictions;
  const auto& images = data.images;
  const auto& layers = result["layers"];
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
                    {"label", class_name(data.result, labels[row])}};
      if (!predictions.empty()) point["prediction"] = class_name(data.result, predictions[row]);
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
}

// Inputs: embeddings (Fig. 8), Table 1, confidently wrong inputs (Fig. 9).
report::Section inputs_section(const json& result, const fs::path& dir,
                               const std::string& id_prefix) {
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
  add_embeddings(result, dir, id_prefix, {result, labels, predictions, images}, inputs);
  if (!result["table1"].is_null()) inputs.tables.push_back(table1_per_layer(result));
  if (!result["confidently_wrong"].empty()) {
    report::Table table{
        "Most confidently wrong inputs and their top neighbours",
        {"input", "label", "predicted", "confidence", "SSC label", "neighbours (input:label)"},
        {}};
    for (const auto& input : result["confidently_wrong"]) {
      std::string neighbours;
      for (const auto& neighbour : input.value("top", json::array())) {
        neighbours += (neighbours.empty() ? "" : "  ") + neighbour["index"].dump() + ":" +
                      class_name(result, neighbour["label"]);
      }
      const json ssc_label = input.value("ssc_label", json());
      table.rows.push_back({input["index"], class_name(result, input["label"]),
                            class_name(result, input["predicted"]), input["confidence"],
                            ssc_label.is_null() ? ssc_label : json(class_name(result, ssc_label)),
                            neighbours});
    }
    inputs.figures.push_back(
        {id_prefix + "class-affinity", "Class affinity of the most confidently wrong inputs",
         "Normalised class-wise sum of each input's affinities at the last layer (paper A, "
         "Fig. 9), one panel per input in the order of the image grid; the true class's bar is "
         "green, the predicted class's red.",
         affinity_bars(result)});
    if (!images.empty()) {
      inputs.figures.push_back({id_prefix + "neighbour-images",
                                "The most confidently wrong inputs and their top neighbours",
                                "Hover an image for its input, label and affinity.",
                                neighbour_images(result, images)});
    }
    inputs.tables.push_back(table);
  }
  return inputs;
}

// Paper B: singular spectra and the coupled NMF's (relative) RMSE against rank.
report::Section compress_section(const json& result, const std::string& id_prefix) {
  report::Section compress{"Compressibility (paper B)",
                           "Top singular values of each layer's activations (semi-log) and, when "
                           "images were given, the coupled NMF's RMSE against rank."};
  json spectra = json::array();
  std::vector<std::string> layers;  // network order: one colour per layer in every figure
  for (const auto& layer : result["spectra"]) {
    layers.push_back(layer["layer"].get<std::string>());
    int k = 1;
    for (const auto& value : layer["singular_values"]) {
      if (value.is_number() && value.get<double>() > 0) {
        spectra.push_back({{"layer", layer["layer"]}, {"k", k}, {"singular value", value}});
      }
      ++k;
    }
  }
  compress.figures.push_back(
      {id_prefix + "spectra", "Singular spectra", "",
       report::with_layer_colors(report::line_chart(spectra, "k", "singular value", "layer",
                                                    "index", "singular value", true),
                                 layers)});
  if (!result["nmf"].is_null()) {
    // Relative RMSE (residual over the block's own norm) compares layers of different scales;
    // the plain RMSE is in each block's units (older results have only that).
    const auto& rows = result["nmf"]["rmse"];
    const bool relative = !rows.empty() && rows[0].value("relative_rmse", json()).is_number();
    const std::string field = relative ? "relative_rmse" : "rmse";
    compress.figures.push_back(
        {id_prefix + "nmf-rmse",
         relative ? "Coupled NMF: relative RMSE vs rank" : "Coupled NMF: RMSE vs rank",
         "Lower at a rank: that block is more compressible." + nmf_shift_note(result["nmf"]),
         report::line_chart(rows, "rank", field, "block", "rank",
                            relative ? "relative RMSE" : "RMSE")});
  }
  return compress;
}

}  // namespace

void add_analysis_to_report(const json& result, const fs::path& dir, report::Report& page,
                            const std::string& id_prefix) {
  for (const auto& item : result["findings"])
    page.findings.push_back(findings::report_finding(item));
  page.sections.push_back(structure_section(result, id_prefix));
  page.sections.push_back(inputs_section(result, dir, id_prefix));
  page.sections.push_back(compress_section(result, id_prefix));
}

}  // namespace sublens::study
