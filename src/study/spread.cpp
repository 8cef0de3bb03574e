// The study report's spread: replicates (several training seeds of one network) pooled into one
// series with their standard deviation, and error bars for that spread and for the bootstrap
// intervals. See pipeline.hpp.
#include <algorithm>
#include <cmath>
#include <map>

#include "pipeline.hpp"

namespace sublens::study::detail {
namespace {

// The part of a record that identifies its point: its replicate group and the `keys` fields.
std::string point_key(const std::string& group, const json& record,
                      const std::vector<std::string>& keys) {
  std::string key = group;
  for (const auto& field : keys) key += '\x1f' + record.value(field, json()).dump();
  return key;
}

// The pooled point: the `keys` fields of the first seed's record, the series' label, the mean of
// `y` and the spread (other fields differ between seeds and are left out).
json pooled_point(const json& first, const std::vector<std::string>& keys,
                  const std::string& series, const std::string& label, const std::string& y,
                  const std::vector<std::pair<std::string, double>>& seeds) {
  json point = json::object();
  for (const auto& key : keys) point[key] = first.value(key, json());
  const auto [mean, sd] = mean_sd(seeds);
  std::string values;
  for (const auto& [seed, value] : seeds) {
    values += (values.empty() ? "" : ", ") + seed + ": " + format("%.4g", value);
  }
  point[series] = label;
  point[y] = mean;
  point["seeds"] = values;
  if (seeds.size() > 1) {
    point["seed sd"] = sd;
    point["seed low"] = mean - sd;
    point["seed high"] = mean + sd;
  }
  return point;
}

}  // namespace

std::map<std::string, std::string> replicate_groups(const json& variants) {
  std::map<std::string, std::string> groups;
  for (const auto& v : variants) {
    if (v.value("replicate_of", json()).is_string()) groups[v["name"]] = v["replicate_of"];
  }
  return groups;
}

std::string replicate_label(const std::string& group, const json& variants) {
  int seeds = 0;
  for (const auto& v : variants) seeds += v.value("replicate_of", json()) == json(group);
  return group + " (mean of " + std::to_string(seeds) + " seeds)";
}

json pool_replicates(const json& records, const json& variants, const std::string& series,
                     const std::vector<std::string>& keys, const std::string& y) {
  const auto groups = replicate_groups(variants);
  std::map<std::string, std::string> seed_of;
  for (const auto& v : variants) seed_of[v["name"]] = "seed " + v.value("seed", json()).dump();
  std::vector<std::string> order;  // pooled points, first appearance
  std::map<std::string, std::pair<json, std::vector<std::pair<std::string, double>>>> points;
  json out = json::array();
  for (const auto& record : records) {
    const std::string name = record.value(series, json("")).get<std::string>();
    const auto group = groups.find(name);
    if (group == groups.end()) {
      out.push_back(record);
      continue;
    }
    const std::string key = point_key(group->second, record, keys);
    if (!points.count(key)) {
      order.push_back(key);
      points[key].first = record;
      points[key].first[series] = replicate_label(group->second, variants);
    }
    const double value = get_number(record.value(y, json()));
    if (std::isfinite(value)) points[key].second.emplace_back(seed_of[name], value);
  }
  for (const auto& key : order) {
    const auto& [first, seeds] = points[key];
    if (seeds.empty()) continue;
    out.push_back(pooled_point(first, keys, series, first[series].get<std::string>(), y, seeds));
  }
  return out;
}

// The chart (a single-mark line chart) with an error-bar layer per kind of bar its records have.
json with_bars(json chart) {
  const json& records = chart["data"]["values"];
  json layers = json::array({{{"mark", chart["mark"]}, {"encoding", chart["encoding"]}}});
  for (const auto& [low, high] :
       {std::pair<std::string, std::string>{"95% low", "95% high"}, {"seed low", "seed high"}}) {
    if (std::none_of(records.begin(), records.end(),
                     [&](const json& r) { return r.contains(low); })) {
      continue;
    }
    json y = {{"field", low}, {"type", "quantitative"}, {"title", chart["encoding"]["y"]["title"]}};
    if (chart["encoding"]["y"].contains("scale")) y["scale"] = chart["encoding"]["y"]["scale"];
    json bars = {
        {"mark", {{"type", "errorbar"}, {"ticks", true}}},
        {"encoding", {{"x", chart["encoding"]["x"]}, {"y", y}, {"y2", {{"field", high}}}}}};
    if (chart["encoding"].contains("color")) bars["encoding"]["color"] = chart["encoding"]["color"];
    layers.push_back(bars);
  }
  if (layers.size() == 1) return chart;
  if (std::any_of(records.begin(), records.end(),
                  [](const json& r) { return r.contains("seeds"); })) {
    layers[0]["encoding"]["tooltip"].push_back({{"field", "seeds"}, {"type", "nominal"}});
  }
  chart.erase("mark");
  chart.erase("encoding");
  chart["layer"] = layers;
  return chart;
}

}  // namespace sublens::study::detail
