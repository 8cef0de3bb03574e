// The self-contained HTML page. See include/sublens/report/report.hpp.
#include "sublens/report/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <set>
#include <sstream>
#include <string_view>

#include "report_assets.hpp"
#include "report_internal.hpp"

namespace sublens::report {

using nlohmann::json;

namespace internal {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void append_libraries(std::string& html) {
  for (const auto& library : assets::libraries()) {
    html += "<script>/* ";
    html += library.name;
    html += " */\n";
    html += library.source;
    html += "\n</script>\n";
  }
}

std::string script_json(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '<' && i + 1 < text.size() && text[i + 1] == '/') {
      out += "<\\/";
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::vector<std::pair<std::string, json>> figure_specs(const Report& report) {
  constexpr const char* kVegaLiteSchema = "https://vega.github.io/schema/vega-lite/v6.json";
  std::vector<std::pair<std::string, json>> specs;
  std::set<std::string> seen;
  for (const auto& section : report.sections) {
    for (const auto& figure : section.figures) {
      if (!seen.insert(figure.id).second) {
        throw std::invalid_argument("report: figure id '" + figure.id + "' is used twice");
      }
      json spec = figure.spec;
      if (!spec.contains("$schema")) spec["$schema"] = kVegaLiteSchema;
      specs.emplace_back(figure.id, std::move(spec));
    }
  }
  return specs;
}

}  // namespace internal

namespace {

// The parameter behind a heatmap's "values in cells" checkbox.
constexpr const char* kShowValues = "show_values";
json show_values_param() {
  return {{"name", kShowValues},
          {"value", true},
          {"bind", {{"input", "checkbox"}, {"name", "values in cells "}}}};
}

using internal::html_escape;
using internal::script_json;

std::string cell_text(const json& value, int digits) {
  if (value.is_null()) return "–";
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (!std::isfinite(number)) return "–";
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", digits, number);
    return text;
  }
  if (value.is_number() || value.is_boolean()) return value.dump();
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

constexpr const char* kStyle = R"css(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:72em;margin:2em auto;
  padding:0 1em;line-height:1.45;color:#222}
h1{margin-bottom:.1em}.subtitle{color:#555;margin-top:0}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.figures{display:flex;flex-wrap:wrap;gap:1.5em}.vega-figure{max-width:100%;overflow-x:auto}
a.csv{font-weight:400;font-size:.8em;margin-left:.6em}
figure{margin:0}figcaption{color:#555;font-size:.9em;max-width:40em}
.figure-title{font-weight:600;margin:.4em 0}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}th{background:#f2f2f2}
td:first-child{text-align:left}
.held{color:#1a7f37;font-weight:600}.failed{color:#b42318;font-weight:600}
.untested{color:#777;font-weight:600}
code{background:#f4f4f4;padding:0 .2em}#sublens-errors{color:#b42318;white-space:pre-wrap}
#sublens-status{color:#777;font-size:.85em}
)css";

// Renders every figure, then marks the page; errors go into #sublens-errors.
constexpr const char* kDriver = R"js(
(function () {
  var errors = document.getElementById('sublens-errors');
  function note(message) { errors.textContent += message + '\n'; }
  var consoleError = console.error;
  console.error = function () {
    note('console.error: ' + Array.prototype.map.call(arguments, String).join(' '));
    consoleError.apply(console, arguments);
  };
  window.addEventListener('error', function (e) { note('uncaught: ' + e.message); });
  window.addEventListener('unhandledrejection', function (e) { note('unhandled: ' + e.reason); });
  var specs = JSON.parse(document.getElementById('sublens-specs').textContent);
  var ids = Object.keys(specs);
  var done = 0;
  var status = document.getElementById('sublens-status');
  function mark() {
    document.body.setAttribute('data-rendered', done + '/' + ids.length);
    status.textContent = 'rendered ' + done + ' of ' + ids.length + ' figures';
  }
  // "download data (CSV)": the records of every panel of the figure (images left out), one
  // "panel" column when there are several.
  function collect(spec, panel, out) {
    if (!spec || typeof spec !== 'object') return out;
    if (spec.data && Array.isArray(spec.data.values)) out.push({panel: panel, rows: spec.data.values});
    ['layer', 'concat', 'hconcat', 'vconcat'].forEach(function (key) {
      (spec[key] || []).forEach(function (child, i) {
        var title = child.title && (child.title.text || child.title);
        collect(child, typeof title === 'string' ? title : panel || String(i + 1), out);
      });
    });
    if (spec.spec) collect(spec.spec, panel, out);
    return out;
  }
  function cell(value) {
    if (value === null || value === undefined) return '';
    var text = String(value);
    return /[",\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function offerCsv(id, spec) {
    var parts = collect(spec, '', []), fields = [], lines = [], count = 0;
    parts.forEach(function (part) {
      part.rows.forEach(function (row) {
        Object.keys(row).forEach(function (key) {
          if (key !== 'image' && fields.indexOf(key) < 0) fields.push(key);
        });
      });
    });
    var several = parts.length > 1;
    lines.push((several ? ['panel'] : []).concat(fields).map(cell).join(','));
    parts.forEach(function (part) {
      part.rows.forEach(function (row) {
        count += 1;
        lines.push((several ? [part.panel] : []).concat(fields.map(function (f) { return row[f]; }))
                   .map(cell).join(','));
      });
    });
    var link = document.getElementById('csv-' + id);
    link.href = URL.createObjectURL(new Blob([lines.join('\n') + '\n'], {type: 'text/csv'}));
    link.setAttribute('data-rows', String(count));
  }
  // The page must fit its window: a figure wider than the window is named in data-overflow.
  function checkWidth() {
    var wide = ids.filter(function (id) {
      return document.getElementById('fig-' + id).getBoundingClientRect().right >
             document.documentElement.clientWidth + 1;
    });
    document.body.setAttribute('data-overflow', wide.length ? wide.join(' ') : 'none');
  }
  mark();
  ids.forEach(function (id) {
    var element = document.getElementById('fig-' + id);
    vegaEmbed(element, specs[id], {renderer: 'svg', downloadFileName: id,
                                   actions: {export: true, source: true, compiled: false,
                                             editor: false}})
      .then(function (result) {
        element.setAttribute('data-rendered', 'yes');
        offerCsv(id, specs[id]);
        done += 1;
        mark();
        if (done === ids.length) checkWidth();
      })
      .catch(function (error) { note('figure ' + id + ': ' + error); });
  });
})();
)js";

}  // namespace

int count_figures(const Report& report) {
  int count = 0;
  for (const auto& section : report.sections) count += static_cast<int>(section.figures.size());
  return count;
}

std::string render_html(const Report& given) {
  const Report report = internal::with_unique_headings(given);
  json specs = json::object();
  for (auto& [id, spec] : internal::figure_specs(report)) specs[id] = std::move(spec);
  std::ostringstream body;
  if (!report.findings.empty()) {
    body << "<h2>Findings</h2><p>Each claim of the papers, checked against this run's numbers: "
            "held, not held, or inconclusive (too few points or replicates, or an effect inside "
            "its uncertainty), by the criterion given with its statistic.</p>"
            "<table><tr><th>claim</th><th>verdict</th><th>statistic and criterion</th></tr>";
    for (const auto& finding : report.findings) {
      const char* verdict = !finding.held ? "untested" : (*finding.held ? "held" : "failed");
      const char* word = !finding.held ? "inconclusive" : (*finding.held ? "held" : "not held");
      body << "<tr><td>" << html_escape(finding.claim) << "</td><td class=\"" << verdict << "\">"
           << word << "</td><td style=\"text-align:left\">" << html_escape(finding.statistic)
           << "</td></tr>";
    }
    body << "</table>";
  }
  for (const auto& section : report.sections) {
    body << "<h2>" << html_escape(section.title) << "</h2>";
    for (std::size_t begin = 0; begin < section.text.size();) {  // "\n\n" separates paragraphs
      std::size_t end = section.text.find("\n\n", begin);
      if (end == std::string::npos) end = section.text.size();
      body << "<p>" << html_escape(section.text.substr(begin, end - begin)) << "</p>";
      begin = end + 2;
    }
    if (!section.figures.empty()) body << "<div class=\"figures\">";
    for (const auto& figure : section.figures) {
      const std::string id = html_escape(figure.id);
      body << "<figure><div class=\"figure-title\">" << html_escape(figure.title)
           << " <a class=\"csv\" id=\"csv-" << id << "\" download=\"" << id
           << ".csv\">download data (CSV)</a></div><div class=\"vega-figure\" id=\"fig-" << id
           << "\"></div>";
      if (!figure.caption.empty()) {
        body << "<figcaption>" << html_escape(figure.caption) << "</figcaption>";
      }
      body << "</figure>";
    }
    if (!section.figures.empty()) body << "</div>";
    for (const auto& table : section.tables) {
      if (!table.title.empty()) body << "<h3>" << html_escape(table.title) << "</h3>";
      body << "<table><tr>";
      for (const auto& column : table.columns) body << "<th>" << html_escape(column) << "</th>";
      body << "</tr>";
      for (const auto& row : table.rows) {
        body << "<tr>";
        for (const auto& cell : row) {
          body << "<td>" << html_escape(cell_text(cell, table.digits)) << "</td>";
        }
        body << "</tr>";
      }
      body << "</table>";
    }
  }
  if (!report.files.empty()) {
    body << "<h2>Files</h2><p>Every number above is in these files (paths relative to the report's "
            "folder).</p><ul>";
    for (const auto& file : report.files)
      body << "<li><code>" << html_escape(file) << "</code></li>";
    body << "</ul>";
  }

  std::string html;
  html.reserve(assets::total_size() + 4096 + body.str().size());
  html += "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>";
  html += html_escape(report.title);
  html += "</title><style>";
  html += kStyle;
  html += "</style>\n";
  internal::append_libraries(html);
  html += "</head><body><h1>";
  html += html_escape(report.title);
  html += "</h1><p class=\"subtitle\">";
  html += html_escape(report.subtitle);
  html += "</p><div id=\"sublens-status\"></div><div id=\"sublens-errors\"></div>";
  html += body.str();
  html += "<script type=\"application/json\" id=\"sublens-specs\">";
  html += script_json(specs);
  html += "</script>\n<script>";
  html += kDriver;
  html += "</script></body></html>\n";
  return html;
}

json line_chart(const json& values, const std::string& x, const std::string& y,
                const std::string& color, const std::string& x_title, const std::string& y_title,
                bool log_y) {
  json encoding = {
      {"x", {{"field", x}, {"type", "quantitative"}, {"title", x_title.empty() ? x : x_title}}},
      {"y",
       {{"field", y},
        {"type", "quantitative"},
        {"title", y_title.empty() ? y : y_title},
        {"scale", log_y ? json{{"type", "log"}} : json{{"zero", false}}}}},
      {"tooltip", json::array({{{"field", x}, {"type", "quantitative"}},
                               {{"field", y}, {"type", "quantitative"}, {"format", ".4g"}}})}};
  // Whole-number x (epochs, ranks, indices): whole-number ticks.
  bool whole = true;
  for (const auto& value : values) {
    const auto found = value.find(x);
    if (found == value.end() || !found->is_number_integer()) whole = false;
  }
  if (whole) encoding["x"]["axis"] = {{"tickMinStep", 1}, {"format", "d"}};
  if (!color.empty()) {
    encoding["color"] = {{"field", color}, {"type", "nominal"}, {"sort", nullptr}};
    encoding["tooltip"].insert(encoding["tooltip"].begin(),
                               {{"field", color}, {"type", "nominal"}});
  }
  return {{"width", 360},
          {"height", 240},
          {"data", {{"values", values}}},
          {"mark", {{"type", "line"}, {"point", true}}},
          {"encoding", encoding}};
}

json heatmap(const std::vector<std::string>& row_names, const std::vector<std::string>& col_names,
             const std::vector<std::vector<double>>& values, const std::string& value_title,
             const std::string& row_title, const std::string& col_title) {
  if (values.size() != row_names.size()) {
    throw std::invalid_argument("report: heatmap has " + std::to_string(values.size()) +
                                " rows of values but " + std::to_string(row_names.size()) +
                                " row names");
  }
  json cells = json::array();
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i].size() != col_names.size()) {
      throw std::invalid_argument("report: heatmap row " + std::to_string(i) + " has " +
                                  std::to_string(values[i].size()) + " values but " +
                                  std::to_string(col_names.size()) + " column names");
    }
    for (std::size_t j = 0; j < col_names.size(); ++j) {
      cells.push_back({{"row", row_names[i]},
                       {"col", col_names[j]},
                       {"value", std::isfinite(values[i][j]) ? json(values[i][j]) : json()}});
    }
  }
  const int cell =
      std::clamp(static_cast<int>(360 / std::max<std::size_t>(1, col_names.size())), 14, 48);
  const json cells_layer = {
      {"mark", {{"type", "rect"}, {"tooltip", true}}},
      {"encoding",
       {{"color",
         {{"field", "value"},
          {"type", "quantitative"},
          {"title", value_title},
          {"scale", {{"domain", {0, 1}}, {"scheme", "viridis"}}},
          {"legend", {{"orient", "right"}, {"gradientLength", std::max(60, cell * 3)}}}}},
        {"tooltip",
         json::array({{{"field", "row"}, {"title", row_title + " (row)"}},
                      {{"field", "col"}, {"title", col_title + " (column)"}},
                      {{"field", "value"}, {"title", value_title}, {"format", ".4f"}}})}}}};
  // The values as text, legible on viridis (dark below 0.5), switched by the page's checkbox;
  // static figures (no checkbox) keep them.
  const json text_layer = {
      {"mark", {{"type", "text"}, {"fontSize", std::max(7, cell / 3)}}},
      {"encoding",
       {{"text", {{"field", "value"}, {"type", "quantitative"}, {"format", ".2f"}}},
        {"color",
         {{"condition", {{"test", "datum.value < 0.5"}, {"value", "white"}}}, {"value", "black"}}},
        {"opacity",
         {{"condition", {{"test", std::string(kShowValues)}, {"value", 1}}}, {"value", 0}}}}}};
  json spec = {
      {"width", cell * static_cast<int>(col_names.size())},
      {"height", cell * static_cast<int>(row_names.size())},
      {"data", {{"values", cells}}},
      {"encoding",
       {{"x", {{"field", "col"}, {"type", "ordinal"}, {"sort", col_names}, {"title", col_title}}},
        {"y", {{"field", "row"}, {"type", "ordinal"}, {"sort", row_names}, {"title", row_title}}}}},
      {"layer", json::array({cells_layer})}};
  // Values are legible up to about 20 x 20 cells; larger matrices stay a plain heatmap.
  constexpr std::size_t kMostCellsWithValues = 400;
  if (cells.size() <= kMostCellsWithValues) {
    spec["params"] = json::array({show_values_param()});
    spec["layer"].push_back(text_layer);
  }
  return spec;
}

json panels(const std::vector<std::pair<std::string, json>>& specs, int max_width) {
  json cells = json::array();
  int widest = 0;
  bool values_toggle = false;
  for (const auto& [title, spec] : specs) {
    json one = spec;
    one.erase("$schema");
    values_toggle = values_toggle || one.contains("params");
    one.erase("params");  // one checkbox for the figure, not one per panel
    one["title"] = title;
    widest = std::max(widest, one.value("width", 360));
    cells.push_back(std::move(one));
  }
  // Each panel also needs room for its axis labels and title (about 120 px measured on the
  // layer-name axes of the study's heatmaps) and the shared legend.
  const int columns = std::max(1, (max_width - 80) / (widest + 120));
  json figure = {{"concat", cells},
                 {"columns", std::min<int>(columns, static_cast<int>(specs.size()))},
                 {"resolve", {{"scale", {{"color", "shared"}}}}}};
  if (values_toggle) figure["params"] = json::array({show_values_param()});
  return figure;
}

json scatter(const json& values, const std::vector<std::string>& tooltip_fields, int size) {
  json tooltip = json::array();
  for (const auto& field : tooltip_fields) tooltip.push_back({{"field", field}});
  bool has_image = false;
  for (const auto& value : values) {
    if (value.contains("image")) {
      has_image = true;
      break;
    }
  }
  if (has_image) tooltip.push_back({{"field", "image"}});
  return {{"width", size},
          {"height", size},
          {"data", {{"values", values}}},
          {"mark", {{"type", "point"}, {"filled", true}, {"size", 18}, {"opacity", 0.75}}},
          {"encoding",
           {{"x", {{"field", "x"}, {"type", "quantitative"}, {"title", "eigenvector 2"}}},
            {"y", {{"field", "y"}, {"type", "quantitative"}, {"title", "eigenvector 3"}}},
            {"color", {{"field", "label"}, {"type", "nominal"}, {"title", "class"}}},
            {"tooltip", tooltip}}}};
}

json bars(const json& values, const std::string& category, const std::string& value,
          const std::string& facet, const std::string& value_title) {
  json spec = {{"data", {{"values", values}}},
               {"mark", {{"type", "bar"}, {"tooltip", true}}},
               {"encoding",
                {{"y", {{"field", category}, {"type", "nominal"}, {"sort", nullptr}}},
                 {"x", {{"field", value}, {"type", "quantitative"}, {"title", value_title}}},
                 {"color", {{"field", category}, {"type", "nominal"}, {"legend", nullptr}}}}}};
  if (facet.empty()) {
    spec["width"] = 240;
    return spec;
  }
  json inner = spec;
  inner.erase("data");
  inner["width"] = 180;
  inner["height"] = 150;
  return {{"data", {{"values", values}}},
          {"facet", {{"field", facet}, {"type", "nominal"}, {"sort", nullptr}}},
          {"columns", 3},
          {"spec", inner}};
}

json image(const std::string& data_url, int width, int height) {
  if (data_url.rfind("data:", 0) != 0) {
    throw std::invalid_argument(
        "report: image needs a data: URL (the page fetches nothing), got '" +
        data_url.substr(0, 40) + "'");
  }
  if (width < 1 || height < 1) {
    throw std::invalid_argument(
        "report: image size must be at least 1 x 1 (width = " + std::to_string(width) +
        ", height = " + std::to_string(height) + ")");
  }
  // x = y = 0 with align left / baseline top: the image fills the view; without them vega-lite
  // centres the image on (width / 2, 0). aria false: no aria-label repeating the whole data URL.
  return {{"width", width},
          {"height", height},
          {"config", {{"view", {{"stroke", nullptr}}}}},
          {"data", {{"values", json::array({{{"url", data_url}}})}}},
          {"mark",
           {{"type", "image"},
            {"width", width},
            {"height", height},
            {"align", "left"},
            {"baseline", "top"},
            {"smooth", false},
            {"aria", false}}},
          {"encoding",
           {{"url", {{"field", "url"}, {"type", "nominal"}}},
            {"x", {{"value", 0}}},
            {"y", {{"value", 0}}}}}};
}

double spearman(const std::vector<double>& x_all, const std::vector<double>& y_all) {
  if (x_all.size() != y_all.size()) {
    throw std::invalid_argument("spearman: x has " + std::to_string(x_all.size()) +
                                " values but y has " + std::to_string(y_all.size()));
  }
  // Pairs with a NaN or an infinity carry no rank: dropped (sorting them would rank arbitrarily).
  std::vector<double> x, y;
  for (std::size_t i = 0; i < x_all.size(); ++i) {
    if (std::isfinite(x_all[i]) && std::isfinite(y_all[i])) {
      x.push_back(x_all[i]);
      y.push_back(y_all[i]);
    }
  }
  const std::size_t n = x.size();
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  auto ranks = [n](const std::vector<double>& v) {
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
    std::vector<double> rank(n);
    for (std::size_t i = 0; i < n;) {
      std::size_t j = i;
      while (j + 1 < n && v[order[j + 1]] == v[order[i]]) ++j;
      const double average = 0.5 * static_cast<double>(i + j) + 1.0;
      for (std::size_t k = i; k <= j; ++k) rank[order[k]] = average;
      i = j + 1;
    }
    return rank;
  };
  const auto rx = ranks(x);
  const auto ry = ranks(y);
  const double mean = 0.5 * static_cast<double>(n + 1);
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (rx[i] - mean) * (ry[i] - mean);
    sxx += (rx[i] - mean) * (rx[i] - mean);
    syy += (ry[i] - mean) * (ry[i] - mean);
  }
  if (sxx == 0 || syy == 0) return std::numeric_limits<double>::quiet_NaN();
  return sxy / std::sqrt(sxx * syy);
}

}  // namespace sublens::report
