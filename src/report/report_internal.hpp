// Helpers shared by the HTML page (report.cpp) and the static export (static_figures.cpp); private
// to sublens_report.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sublens/report/report.hpp"

namespace sublens::report::internal {

// `text` with <, >, & and " replaced by character references (element text and attributes).
std::string html_escape(std::string_view text);

// JSON that is safe inside <script>: "</" cannot close the element, U+2028/9 are escaped by dump.
std::string script_json(const nlohmann::json& value);

// Appends one <script> element per compiled-in library (vega, vega-lite, vega-embed).
void append_libraries(std::string& html);

// Every figure of `report` as (id, spec) in page order, "$schema" filled in where missing (the
// Vega-Lite v6 schema). Throws std::invalid_argument when an id is used twice.
std::vector<std::pair<std::string, nlohmann::json>> figure_specs(const Report& report);

// `report` with unique headings (see struct Report): sections of one title merged into the
// first, tables of one title in a section merged, each finding once. Throws
// std::invalid_argument for a section titled "Findings" or "Files" or tables that cannot merge.
Report with_unique_headings(const Report& report);

}  // namespace sublens::report::internal
