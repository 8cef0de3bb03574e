// One colour per layer across every figure of a network. See include/sublens/report/report.hpp.
#include <set>
#include <stdexcept>

#include "sublens/report/report.hpp"

namespace sublens::report {

using nlohmann::json;

const std::vector<std::string>& layer_palette() {
  // Tableau 10 (Vega's "tableau10"), then the light hues of Tableau 20 in the same order.
  static const std::vector<std::string> palette = {
      "#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2",
      "#ff9da6", "#9d755d", "#bab0ac", "#9ecae9", "#ffbf79", "#ff9d98", "#88d27a",
      "#83bcb6", "#f2cf5b", "#d6a5c9", "#fcbfd2", "#d8b5a5", "#d9d9d9"};
  return palette;
}

json layer_color_scale(const std::vector<std::string>& layers) {
  std::set<std::string> seen;
  json range = json::array();
  for (std::size_t k = 0; k < layers.size(); ++k) {
    if (!seen.insert(layers[k]).second) {
      throw std::invalid_argument("report: layer_color_scale: layer '" + layers[k] +
                                  "' is listed twice");
    }
    range.push_back(layer_palette()[k % layer_palette().size()]);
  }
  return {{"domain", layers}, {"range", range}};
}

namespace {

void set_scale(json& node, const json& scale, const std::string& field) {
  if (node.is_array()) {
    for (auto& child : node) set_scale(child, scale, field);
    return;
  }
  if (!node.is_object()) return;
  const auto encoding = node.find("encoding");
  if (encoding != node.end() && encoding->is_object() && encoding->contains("color")) {
    json& color = (*encoding)["color"];
    if (color.is_object() && color.value("field", "") == field) color["scale"] = scale;
  }
  for (const char* key : {"layer", "concat", "hconcat", "vconcat", "spec"}) {
    const auto child = node.find(key);
    if (child != node.end()) set_scale(*child, scale, field);
  }
}

}  // namespace

json with_layer_colors(json spec, const std::vector<std::string>& layers,
                       const std::string& field) {
  set_scale(spec, layer_color_scale(layers), field);
  return spec;
}

}  // namespace sublens::report
