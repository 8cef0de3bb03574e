// Unique headings: sections of one title merged, tables of one title merged, findings listed
// once. See include/sublens/report/report.hpp (struct Report).
#include <algorithm>
#include <stdexcept>

#include "report_internal.hpp"

namespace sublens::report::internal {
namespace {

bool same_finding(const Finding& a, const Finding& b) {
  return a.claim == b.claim && a.held == b.held && a.statistic == b.statistic;
}

// Appends `table` to `tables`, or its rows to the table of the same title.
void add_table(std::vector<Table>& tables, const Table& table, const std::string& section) {
  const auto same = std::find_if(tables.begin(), tables.end(), [&](const Table& t) {
    return !table.title.empty() && t.title == table.title;
  });
  if (same == tables.end()) {
    tables.push_back(table);
    return;
  }
  if (same->columns != table.columns) {
    throw std::invalid_argument("report: section '" + section + "' has two tables titled '" +
                                table.title + "' with other columns (headings must be unique)");
  }
  same->rows.insert(same->rows.end(), table.rows.begin(), table.rows.end());
}

void merge_into(Section& into, const Section& from) {
  if (!from.text.empty() && into.text != from.text) {
    into.text += (into.text.empty() ? "" : "\n\n") + from.text;
  }
  into.figures.insert(into.figures.end(), from.figures.begin(), from.figures.end());
  for (const auto& table : from.tables) add_table(into.tables, table, into.title);
}

}  // namespace

Report with_unique_headings(const Report& report) {
  Report out{report.title, report.subtitle, {}, {}, report.files};
  for (const auto& finding : report.findings) {
    const bool listed = std::any_of(out.findings.begin(), out.findings.end(),
                                    [&](const Finding& f) { return same_finding(f, finding); });
    if (!listed) out.findings.push_back(finding);
  }
  for (const auto& section : report.sections) {
    if (section.title == "Findings" || section.title == "Files") {
      throw std::invalid_argument("report: section title '" + section.title +
                                  "' is the page's own heading; choose another");
    }
    const auto same = std::find_if(out.sections.begin(), out.sections.end(),
                                   [&](const Section& s) { return s.title == section.title; });
    if (same != out.sections.end()) {
      merge_into(*same, section);
      continue;
    }
    Section copy{section.title, section.text, section.figures, {}};
    for (const auto& table : section.tables) add_table(copy.tables, table, section.title);
    out.sections.push_back(std::move(copy));
  }
  return out;
}

}  // namespace sublens::report::internal
