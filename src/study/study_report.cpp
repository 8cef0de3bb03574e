// The study's report: findings, the variants and their sources, training dynamics, heatmaps side
// by side per group, each `inputs` variant's analysis and the coupled NMF per group; and `sublens
// report DIR`. See pipeline.hpp.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "findings.hpp"
#include "pipeline.hpp"
#include "sublens/core/error.hpp"
#include "sublens/study/analysis.hpp"
#include "sublens/study/study.hpp"

namespace sublens::study::detail {
namespace {

std::string figure_id(const std::string& text) {
  std::string id;
  for (char c : text) {
    const char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    id += std::isalnum(static_cast<unsigned char>(lower)) ? lower : '-';
  }
  return id;
}

std::pair<int, int> png_size(const std::string& bytes) {
  if (bytes.size() < 24) return {0, 0};
  auto be32 = [&](std::size_t at) {
    return (static_cast<int>(static_cast<unsigned char>(bytes[at])) << 24) |
           (static_cast<int>(static_cast<unsigned char>(bytes[at + 1])) << 16) |
           (static_cast<int>(static_cast<unsigned char>(bytes[at + 2])) << 8) |
           static_cast<int>(static_cast<unsigned char>(bytes[at + 3]));
  };
  return {be32(16), be32(20)};
}

// A PNG written by a step, as an image figure scaled to at most `max_width` pixels.
std::optional<report::Figure> png_figure(const fs::path& file, const std::string& id,
                                         const std::string& title, const std::string& caption,
                                         int max_width) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  auto [width, height] = png_size(bytes.str());
  if (width <= 0 || height <= 0) return std::nullopt;
  const double scale = std::min(4.0, static_cast<double>(max_width) / width);
  return report::Figure{id, title, caption,
                        report::image("data:image/png;base64," + base64(bytes.str()),
                                      static_cast<int>(std::lround(width * scale)),
                                      static_cast<int>(std::lround(height * scale)))};
}

std::vector<std::vector<double>> values_of(const json& rows) {
  std::vector<std::vector<double>> values;
  for (const auto& row : rows) {
    std::vector<double> numbers;
    for (const auto& value : row) numbers.push_back(get_number(value));
    values.push_back(numbers);
  }
  return values;
}

std::vector<std::string> group_order(const json& variants) {
  std::vector<std::string> groups;
  for (const auto& v : variants) {
    const std::string group = v["group"].get<std::string>();
    if (std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
  }
  return groups;
}

// A variant's source in words: its zoo training recipe, or the recorded run and its metadata.
std::string source_text(const json& v) {
  const json& source = v.value("source", json());
  if (!source.is_object()) return "";
  if (source.value("kind", "") == "zoo") {
    return "trained by the study: " + source["recipe"].get<std::string>();
  }
  std::string text = "recorded run " + source["run"].get<std::string>();
  const json& meta = source["metadata"];
  if (meta.is_object() && !meta.empty()) {
    std::string facts;
    for (const auto& [key, value] : meta.items()) {
      if (key == "recipe") continue;
      facts += (facts.empty() ? "" : ", ") + key + " " +
               (value.is_string() ? value.get<std::string>() : value.dump());
    }
    text += " (" + facts + ")";
  }
  return text;
}

const char* const kIntervalCaption =
    "Bars: the 95% bootstrap interval over the analysis inputs (plan key bootstrap), the "
    "measure's own noise floor. ";
const char* const kSpreadCaption =
    "A network trained with several seeds (replicates) is one line: the mean over its seeds, "
    "with bars of +/- one standard deviation across the seeds (the training's own "
    "variability); hover a point for each seed's value (also in replicates.csv). ";

bool has_field(const json& records, const std::string& field) {
  return std::any_of(records.begin(), records.end(),
                     [&](const json& r) { return r.contains(field); });
}

// The captions of the bars a chart's records have.
std::string bars_caption(const json& records) {
  return std::string(has_field(records, "95% low") ? kIntervalCaption : "") +
         (has_field(records, "seed low") ? kSpreadCaption : "");
}

// A record's 95% bootstrap interval from row[key + "_lo"][l] / row[key + "_hi"][l], if any.
void add_interval(json& record, const json& row, const std::string& key, std::size_t l) {
  const auto lo = row.find(key + "_lo");
  const auto hi = row.find(key + "_hi");
  if (lo == row.end() || hi == row.end() || !lo->is_array() || l >= lo->size()) return;
  if (!(*lo)[l].is_number() || !(*hi)[l].is_number()) return;
  record["95% low"] = (*lo)[l];
  record["95% high"] = (*hi)[l];
}

report::Section overview_section(const json& variants) {
  report::Section overview{"Variants",
                           "Each network, with its accuracy on the analysis set at the final "
                           "epoch and where it came from (the study's training recipe, or a "
                           "recorded run's metadata)."};
  report::Table table{"Variants",
                      {"variant", "group", "model", "depth", "parameters", "training fraction",
                       "classes", "ordered", "epochs", "accuracy", "source"}};
  json modularity_records = json::array();
  for (const auto& v : variants) {
    std::string classes;
    for (const auto& c : v["classes"]) classes += (classes.empty() ? "" : " ") + c.dump();
    table.rows.push_back({v["name"], v["group"], v["model"], v["depth"], v["parameters"],
                          v["train_fraction"], classes.empty() ? "all" : classes,
                          v["ordered"].get<bool>() ? "yes" : "no", v["epochs"], v["final_accuracy"],
                          source_text(v)});
    const auto& last_row = v["modularity"].back();
    const auto& last = last_row["values"];
    for (std::size_t l = 0; l < last.size(); ++l) {
      modularity_records.push_back({{"variant", v["name"]},
                                    {"layer index", l},
                                    {"layer", v["layers"][l]},
                                    {"modularity", last[l]}});
      add_interval(modularity_records.back(), last_row, "values", l);
    }
  }
  overview.tables.push_back(table);
  modularity_records = pool_replicates(modularity_records, variants, "variant",
                                       {"layer index", "layer"}, "modularity");
  auto modularity_chart = report::line_chart(modularity_records, "layer index", "modularity",
                                             "variant", "layer index", "modularity");
  modularity_chart["encoding"]["tooltip"].insert(modularity_chart["encoding"]["tooltip"].begin(),
                                                 {{"field", "layer"}});
  overview.figures.push_back(
      {"study-modularity", "Modularity vs layer, final epoch",
       std::string("Modularity of each layer's SSC graph with the class labels (eq. 5); hover a "
                   "point for the layer's name. ") +
           bars_caption(modularity_records),
       with_bars(modularity_chart)});
  return overview;
}

// Paper A, Table 1 per layer and epoch: SSC-label accuracy (agreement with the network).
report::Table table1_by_epoch(const json& v) {
  report::Table table{
      "SSC-label accuracy per layer and epoch (agreement with the network's "
      "predictions in brackets; paper A, Table 1)",
      {"epoch", "network accuracy"}};
  for (const auto& layer : v["layers"]) table.columns.push_back(layer.get<std::string>());
  for (const auto& row : v["dynamics"]) {
    std::vector<json> cells = {row["epoch"], row["accuracy"]};
    for (std::size_t l = 0; l < v["layers"].size(); ++l) {
      const double accuracy = get_number(row["ssc_accuracy"][l]);
      const double agreement = get_number(row["agreement"][l]);
      cells.push_back(format("%.3f", accuracy) + format(" (%.3f)", agreement));
    }
    table.rows.push_back(cells);
  }
  return table;
}

const std::vector<std::pair<std::string, std::string>> kDynamicsMeasures = {
    {"modularity", "Modularity"},
    {"ssc_cka_to_final", "SSC-CKA to the final epoch"},
    {"linear_cka_to_final", "Linear-CKA to the final epoch"}};

// The chart records of the variants' dynamics: per epoch and layer, the measure `key` (with its
// bootstrap interval), or with key "accuracy" the network's accuracy per epoch; replicates pooled.
json dynamics_records(const std::vector<const json*>& members, const json& variants,
                      const std::string& key) {
  json records = json::array();
  for (const json* v : members) {
    const auto& layers = (*v)["layers"];
    for (const auto& row : (*v)["dynamics"]) {
      if (key == "accuracy") {
        records.push_back({{"variant", (*v)["name"]}, {"epoch", row["epoch"]}, {key, row[key]}});
        continue;
      }
      for (std::size_t l = 0; l < layers.size(); ++l) {
        records.push_back({{"variant", (*v)["name"]},
                           {"epoch", row["epoch"]},
                           {"layer", layers[l]},
                           {key, row[key][l]}});
        add_interval(records.back(), row, key, l);
      }
    }
  }
  const std::vector<std::string> keys = key == "accuracy"
                                            ? std::vector<std::string>{"epoch"}
                                            : std::vector<std::string>{"epoch", "layer"};
  return pool_replicates(records, variants, "variant", keys, key);
}

// Paper A, Fig. 1-2 as one figure: a panel per measure against the epoch (one colour per layer,
// shared by the panels) and the network's accuracy.
report::Figure dynamics_figure(const std::vector<const json*>& members, const json& variants,
                               const std::string& name) {
  std::vector<std::pair<std::string, json>> panels;
  std::string caption;
  for (const auto& [key, title] : kDynamicsMeasures) {
    const json records = dynamics_records(members, variants, key);
    if (caption.empty()) caption = bars_caption(records);
    panels.emplace_back(title + " vs epoch", with_bars(report::line_chart(
                                                 records, "epoch", key, "layer", "epoch", title)));
  }
  panels.emplace_back("Accuracy on the analysis set",
                      with_bars(report::line_chart(dynamics_records(members, variants, "accuracy"),
                                                   "epoch", "accuracy", "", "epoch", "accuracy")));
  const auto layers = (*members.front())["layers"].get<std::vector<std::string>>();
  return {figure_id("dynamics-" + name), "Training dynamics: " + name,
          "One colour per layer in every panel. " + caption,
          report::with_layer_colors(report::panels(panels), layers)};
}

report::Section dynamics_section(const std::string& title) {
  return {"Training dynamics: " + title + " (paper A, Fig. 1-2)",
          "Per layer, at every epoch: modularity of the SSC graph with the class labels, and CKA "
          "of the layer at that epoch with the same layer at the final epoch (SSC-CKA on the "
          "graphs, Linear-CKA on the activations), beside the network's accuracy."};
}

// Paper A, Fig. 1-2, and Table 1 per layer and epoch; a replicated network once, its seeds
// pooled (Table 1 per seed).
void add_dynamics_sections(const json& variants, report::Report& page) {
  const auto replicated = replicate_groups(variants);
  std::set<std::string> done;
  for (const auto& v : variants) {
    if (v["dynamics"].empty()) continue;
    const std::string name = v["name"].get<std::string>();
    const auto group = replicated.find(name);
    if (group == replicated.end()) {
      report::Section section = dynamics_section(name);
      section.figures.push_back(dynamics_figure({&v}, variants, name));
      section.tables.push_back(table1_by_epoch(v));
      page.sections.push_back(section);
      continue;
    }
    if (!done.insert(group->second).second) continue;
    std::vector<const json*> members;
    for (const auto& m : variants) {
      if (m.value("replicate_of", json()) == json(group->second)) members.push_back(&m);
    }
    report::Section section = dynamics_section(replicate_label(group->second, variants));
    section.figures.push_back(dynamics_figure(members, variants, group->second));
    for (const json* m : members) {
      report::Table table = table1_by_epoch(*m);
      table.title = (*m)["name"].get<std::string>() + ": " + table.title;
      section.tables.push_back(table);
    }
    page.sections.push_back(section);
  }
}

// Paper A, Fig. 3-7: heatmaps side by side per group, and per epoch within a variant.
void add_heatmap_sections(const json& variants, report::Report& page) {
  for (const auto& group : group_order(variants)) {
    report::Section section{"SSC-CKA between layers: " + group + " (paper A, Fig. 3-7)",
                            "Pairwise SSC-CKA between the analysed layers of each network at its "
                            "final epoch, side by side on one colour scale (0-1, shared by every "
                            "panel); hover a cell for both layers and the value. Block-diagonal "
                            "strength: mean SSC-CKA of adjacent layers "
                            "minus the mean over layers two or more apart."};
    std::vector<std::pair<std::string, json>> specs;
    report::Table strength{
        "Block-diagonal strength",
        {"variant", "epoch", "adjacent", "distant", "strength", "strength SE (bootstrap)"}};
    for (const auto& v : variants) {
      if (v["group"] != group) continue;
      const auto names = v["layers"].get<std::vector<std::string>>();
      const auto& last = v["heatmaps"].back();
      const std::string model = v["model"].is_string() ? v["model"].get<std::string>() : "";
      const std::string title = model.empty() || v["name"] == model
                                    ? v["name"].get<std::string>()
                                    : v["name"].get<std::string>() + " (" + model + ")";
      specs.emplace_back(title,
                         report::heatmap(names, names, values_of(last["values"]), "SSC-CKA"));
      for (const auto& h : v["heatmaps"]) {
        strength.rows.push_back({v["name"], h["epoch"], h["adjacent"], h["distant"], h["strength"],
                                 h.value("strength_se", json())});
      }
      if (v["heatmaps"].size() > 1) {
        std::vector<std::pair<std::string, json>> by_epoch;
        for (const auto& h : v["heatmaps"]) {
          by_epoch.emplace_back("epoch " + h["epoch"].dump(),
                                report::heatmap(names, names, values_of(h["values"]), "SSC-CKA"));
        }
        section.figures.push_back(
            {figure_id("heatmaps-" + v["name"].get<std::string>() + "-epochs"),
             "SSC-CKA by epoch: " + v["name"].get<std::string>(), "", report::panels(by_epoch)});
      }
    }
    section.figures.insert(section.figures.begin(),
                           report::Figure{figure_id("heatmaps-" + group), "SSC-CKA: " + group, "",
                                          report::panels(specs)});
    section.tables.push_back(strength);
    page.sections.push_back(section);
  }
}

bool decided_across_networks(const report::Report& page, const std::string& claim) {
  return std::any_of(page.findings.begin(), page.findings.end(),
                     [&](const report::Finding& f) { return f.claim == claim; });
}

// Paper A, Fig. 8-9 and Table 1: the analyses of the `inputs` variants.
void add_analysis_sections(const json& variants, const fs::path& dir, report::Report& page) {
  for (const auto& v : variants) {
    if (!v["analysis"].is_string()) continue;
    const std::string name = v["name"].get<std::string>();
    const fs::path result_file = dir / v["analysis"].get<std::string>();
    const json result = read_json_file(result_file);
    report::Report part;
    add_analysis_to_report(result, result_file.parent_path(), part, figure_id(name) + "-");
    for (auto& finding : part.findings) {
      // A claim the study decides across its networks (deeper layers more modular) is not
      // repeated per network: the study's row lists each network's result.
      if (decided_across_networks(page, finding.claim)) continue;
      finding.claim += " [" + name + "]";
      page.findings.push_back(finding);
    }
    for (auto& section : part.sections) {
      section.title = name + ", final epoch: " + section.title;
      page.sections.push_back(section);
    }
  }
}

// NMF needs non-negative data: which layers were shifted to a minimum of 0 (--shift-min).
std::string shifted_note(const std::vector<const json*>& members) {
  std::string shifted;
  for (const json* v : members) {
    for (const auto& block : (*v)["nmf"].value("shifted", json::array())) {
      shifted += (shifted.empty() ? "" : ", ") + (*v)["name"].get<std::string>() + ": " +
                 (block["block"].is_string() ? block["block"].get<std::string>() : "?") +
                 format(" (+%.4g)", get_number(block["shift"]));
    }
  }
  if (shifted.empty()) return " Every factorized layer was non-negative; none was shifted.";
  return " Layers with negative values (e.g. pre-ReLU or logits) were shifted by their minimum "
         "to be non-negative before factorizing, which changes their scale: " +
         shifted + ".";
}

// RMSE (and relative RMSE) per variant and rank: the table and the chart's records.
report::Table nmf_table(const std::vector<const json*>& members, json& records) {
  report::Table table{
      "RMSE vs rank (relative RMSE in brackets: ||residual|| / ||data||, comparable across "
      "networks)",
      {"variant", "accuracy"},
      {},
      4};
  for (const auto& rank : (*members.front())["nmf"]["ranks"]) {
    table.columns.push_back("rank " + rank.dump());
  }
  for (const json* v : members) {
    const auto& nmf = (*v)["nmf"];
    std::vector<json> row = {(*v)["name"], (*v)["final_accuracy"]};
    for (std::size_t r = 0; r < nmf["ranks"].size(); ++r) {
      const json relative = nmf.contains("relative_rmse") && r < nmf["relative_rmse"].size()
                                ? nmf["relative_rmse"][r]
                                : json();
      records.push_back({{"variant", (*v)["name"]},
                         {"rank", nmf["ranks"][r]},
                         {"rmse", nmf["rmse"][r]},
                         {"relative_rmse", relative}});
      row.push_back(relative.is_number() ? json(format("%.4f", get_number(nmf["rmse"][r])) +
                                                format(" (%.4f)", get_number(relative)))
                                         : nmf["rmse"][r]);
    }
    table.rows.push_back(row);
  }
  return table;
}

json spectra_records(const std::vector<const json*>& members) {
  json records = json::array();
  for (const json* v : members) {
    for (const auto& layer : (*v)["spectra"]) {
      int k = 1;
      for (const auto& value : layer["singular_values"]) {
        if (get_number(value) > 0) {
          records.push_back({{"series", (*v)["name"].get<std::string>() + ": " +
                                            layer["layer"].get<std::string>()},
                             {"k", k},
                             {"singular value", value}});
        }
        ++k;
      }
    }
  }
  return records;
}

void add_latent_figures(const std::vector<const json*>& members, const fs::path& dir,
                        report::Section& section) {
  for (const json* v : members) {
    const std::string name = (*v)["name"].get<std::string>();
    for (const auto& latent : (*v)["nmf"]["latent"]) {
      const std::string file = latent["file"].get<std::string>();
      if (auto figure = png_figure(
              dir / file, figure_id("latent-" + name + "-" + latent["block"].get<std::string>()),
              name + ": " + latent["title"].get<std::string>(), file, 640)) {
        section.figures.push_back(*figure);
      }
    }
  }
}

// Paper B per group: RMSE vs rank (relative when known), spectra, latent images.
void add_nmf_sections(const json& variants, const fs::path& dir, report::Report& page) {
  for (const auto& group : group_order(variants)) {
    std::vector<const json*> members;
    for (const auto& v : variants) {
      if (v["group"] == group && !v["nmf"].is_null()) members.push_back(&v);
    }
    if (members.empty()) continue;
    report::Section section{"Coupled NMF: " + group + " (paper B)",
                            "RMSE of the coupled factorization of the input images and the "
                            "layers' activations against rank, the layers' top singular values "
                            "(semi-log), and at the smallest rank the latent images (columns of "
                            "P reshaped to images) and neuron x factor heatmaps (O). Paper B: the "
                            "poorer the training, the lower the RMSE at every rank." +
                                shifted_note(members)};
    json rmse = json::array();
    section.tables.push_back(nmf_table(members, rmse));
    const bool relative = !rmse.empty() && rmse[0]["relative_rmse"].is_number();
    const std::string field = relative ? "relative_rmse" : "rmse";
    rmse = pool_replicates(rmse, variants, "variant", {"rank"}, field);
    section.figures.push_back({figure_id("nmf-rmse-" + group),
                               relative ? "Relative RMSE vs rank" : "RMSE vs rank",
                               bars_caption(rmse),
                               with_bars(report::line_chart(rmse, "rank", field, "variant", "rank",
                                                            relative ? "relative RMSE" : "RMSE"))});
    section.figures.push_back({figure_id("spectra-" + group), "Singular spectra", "",
                               report::line_chart(spectra_records(members), "k", "singular value",
                                                  "series", "index", "singular value", true)});
    add_latent_figures(members, dir, section);
    page.sections.push_back(section);
  }
}

// Ids come from names ("a.b" and "a-b", "R8" and "r8" meet in figure_id): number repeats.
void number_repeated_ids(report::Report& page) {
  std::set<std::string> seen;
  for (auto& section : page.sections) {
    for (auto& figure : section.figures) {
      const std::string base = figure.id;
      for (int k = 2; !seen.insert(figure.id).second; ++k)
        figure.id = base + "-" + std::to_string(k);
    }
  }
}

}  // namespace

report::Report study_report(const json& study, const fs::path& dir) {
  const auto& plan = study["plan"];
  const auto& variants = study["variants"];
  const bool all_recorded = std::all_of(variants.begin(), variants.end(), [](const json& v) {
    return v.value("source", json()).value("kind", "") == "run";
  });
  const std::string inputs = all_recorded
                                 ? "recorded runs"
                                 : plan["dataset"].get<std::string>() + ", " + plan["n"].dump() +
                                       " " + plan["split"].get<std::string>() + " inputs";
  report::Report page{"sublens study: " + plan["name"].get<std::string>(),
                      inputs + ", " + std::to_string(variants.size()) +
                          " variants; every number is in study.json and the CSV tables."};
  for (const auto& item : study["findings"])
    page.findings.push_back(findings::report_finding(item));
  page.sections.push_back(overview_section(variants));
  add_dynamics_sections(variants, page);
  add_heatmap_sections(variants, page);
  add_analysis_sections(variants, dir, page);
  add_nmf_sections(variants, dir, page);
  page.files = kStudyTables;
  page.files.insert(page.files.begin(), "study.json");
  number_repeated_ids(page);
  return page;
}

json render(const report::Report& page, const fs::path& dir, bool figures) {
  const fs::path html = dir / "report.html";
  io::write_file_atomically(html, report::render_html(page));
  json out = {{"report", html.string()}, {"figures", report::count_figures(page)}};
  if (figures) {
    // The figures are a convenience next to the page and the tables: a Chromium that is missing,
    // misconfigured or fails must not turn hours of finished work into a failed run.
    std::string problem;
    try {
      const report::StaticFigures written = report::write_static_figures(page, dir / "figures");
      problem = written.skipped_reason;
    } catch (const std::exception& error) {
      problem = error.what();
    }
    if (!problem.empty()) {
      std::fprintf(stderr, "sublens: warning: static figures not written: %s\n", problem.c_str());
      out["figures_dir"] = nullptr;
      out["figures_problem"] = problem;
    } else {
      out["figures_dir"] = (dir / "figures").string();
    }
  }
  return out;
}

}  // namespace sublens::study::detail

namespace sublens::study {

namespace fs = std::filesystem;
using detail::read_json_file;
using detail::render;
using detail::study_report;
using nlohmann::json;

json render_report(const fs::path& dir, bool figures) {
  std::error_code error;
  if (fs::is_regular_file(dir / "study.json", error)) {
    const json study = read_json_file(dir / "study.json");
    if (study.value("command", "") != "study") {
      throw InputError((dir / "study.json").string(), "command", "must be \"study\"");
    }
    return render(study_report(study, fs::absolute(dir)), dir, figures);
  }
  if (fs::is_regular_file(dir / "result.json", error)) {
    const json result = read_json_file(dir / "result.json");
    if (result.value("command", "") != "analyze") {
      throw InputError((dir / "result.json").string(), "command", "must be \"analyze\"");
    }
    report::Report page{"sublens analyze", result["activations"].get<std::string>() + ": " +
                                               result["n_inputs"].dump() + " inputs, " +
                                               std::to_string(result["layers"].size()) +
                                               " layers, " + result["n_classes"].dump() +
                                               " classes"};
    add_analysis_to_report(result, dir, page);
    page.files = result["files"].get<std::vector<std::string>>();
    return render(page, dir, figures);
  }
  throw InputError(dir.string(), "DIR",
                   "must hold study.json (from `sublens study`) or result.json (from `sublens "
                   "analyze`)");
}

}  // namespace sublens::study
