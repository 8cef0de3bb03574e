// The study's CSV tables, written from the variant records of study.json (one row per variant,
// per epoch x layer, per heatmap cell, ...). See pipeline.hpp.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

#include "pipeline.hpp"

namespace sublens::study::detail {
namespace {

// Entry i of an array member, null when the member or the entry is absent (older records).
json entry(const json& row, const char* key, std::size_t i) {
  return row.contains(key) && row[key].is_array() && i < row[key].size() ? row[key][i] : json();
}

std::string text(const json& value) {
  return value.is_string() ? csv_escape(value.get<std::string>()) : csv_number(value);
}

// A variant's source in one cell: the zoo recipe, or the run folder and its metadata's model.
std::string source_cell(const json& source) {
  if (source.value("kind", "") == "zoo") return "zoo: " + source["recipe"].get<std::string>();
  std::string cell = "run: " + source["run"].get<std::string>();
  const json& meta = source["metadata"];
  if (meta.is_object() && meta.contains("source") && meta["source"].is_string()) {
    cell += " (" + meta["source"].get<std::string>() + ")";
  }
  return cell;
}

std::string variants_table(const json& variants) {
  std::ostringstream table;
  table << "variant,group,model,depth,parameters,train_fraction,classes,ordered,epochs,accuracy,"
           "source\n";
  for (const auto& v : variants) {
    std::string classes;
    for (const auto& c : v["classes"]) classes += (classes.empty() ? "" : " ") + c.dump();
    table << text(v["name"]) << "," << text(v["group"]) << "," << text(v["model"]) << ","
          << text(v["depth"]) << "," << text(v["parameters"]) << ","
          << csv_number(v["train_fraction"]) << "," << classes << ","
          << (v["ordered"].get<bool>() ? 1 : 0) << "," << v["epochs"] << ","
          << csv_number(v["final_accuracy"]) << "," << csv_escape(source_cell(v["source"])) << "\n";
  }
  return table.str();
}

// The bootstrap's standard error and 95% interval of a per-layer measure (empty without one).
const char* const kIntervalHeader = ",modularity_se,modularity_lo,modularity_hi";

std::string interval_cells(const json& row, const std::string& key, std::size_t l) {
  return "," + csv_number(entry(row, (key + "_se").c_str(), l)) + "," +
         csv_number(entry(row, (key + "_lo").c_str(), l)) + "," +
         csv_number(entry(row, (key + "_hi").c_str(), l));
}

std::string modularity_table(const json& variants) {
  std::ostringstream out;
  out << "variant,epoch,layer_index,layer,modularity,ssc_accuracy,agreement" << kIntervalHeader
      << "\n";
  for (const auto& v : variants) {
    const auto& layers = v["layers"];
    for (const auto& row : v["modularity"]) {
      for (std::size_t l = 0; l < layers.size(); ++l) {
        out << text(v["name"]) << "," << row["epoch"] << "," << l << "," << text(layers[l]) << ","
            << csv_number(row["values"][l]) << "," << csv_number(entry(row, "ssc_accuracy", l))
            << "," << csv_number(entry(row, "agreement", l)) << interval_cells(row, "values", l)
            << "\n";
      }
    }
  }
  return out.str();
}

// Columns 0-7 are those of earlier versions; SSC-label accuracy and agreement (Table 1 per layer
// and epoch) follow, then the bootstrap's modularity standard error and SSC-CKA-to-final interval.
std::string dynamics_table(const json& variants) {
  std::ostringstream out;
  out << "variant,epoch,layer_index,layer,accuracy,modularity,ssc_cka_to_final,"
         "linear_cka_to_final,ssc_accuracy,agreement,modularity_se,ssc_cka_to_final_se,"
         "ssc_cka_to_final_lo,ssc_cka_to_final_hi\n";
  for (const auto& v : variants) {
    const auto& layers = v["layers"];
    for (const auto& row : v["dynamics"]) {
      for (std::size_t l = 0; l < layers.size(); ++l) {
        out << text(v["name"]) << "," << row["epoch"] << "," << l << "," << text(layers[l]) << ","
            << csv_number(row["accuracy"]) << "," << csv_number(row["modularity"][l]) << ","
            << csv_number(row["ssc_cka_to_final"][l]) << ","
            << csv_number(row["linear_cka_to_final"][l]) << ","
            << csv_number(entry(row, "ssc_accuracy", l)) << ","
            << csv_number(entry(row, "agreement", l)) << ","
            << csv_number(entry(row, "modularity_se", l)) << ","
            << csv_number(entry(row, "ssc_cka_to_final_se", l)) << ","
            << csv_number(entry(row, "ssc_cka_to_final_lo", l)) << ","
            << csv_number(entry(row, "ssc_cka_to_final_hi", l)) << "\n";
      }
    }
  }
  return out.str();
}

std::string heatmaps_table(const json& variants) {
  std::ostringstream out;
  out << "variant,epoch,row_layer,col_layer,ssc_cka\n";
  for (const auto& v : variants) {
    const auto& layers = v["layers"];
    for (const auto& h : v["heatmaps"]) {
      for (std::size_t i = 0; i < layers.size(); ++i) {
        for (std::size_t j = 0; j < layers.size(); ++j) {
          out << text(v["name"]) << "," << h["epoch"] << "," << text(layers[i]) << ","
              << text(layers[j]) << "," << csv_number(h["values"][i][j]) << "\n";
        }
      }
    }
  }
  return out.str();
}

std::string strength_table(const json& variants) {
  std::ostringstream out;
  out << "variant,epoch,adjacent,distant,strength,strength_se,strength_lo,strength_hi\n";
  for (const auto& v : variants) {
    for (const auto& h : v["heatmaps"]) {
      out << text(v["name"]) << "," << h["epoch"] << "," << csv_number(h["adjacent"]) << ","
          << csv_number(h["distant"]) << "," << csv_number(h["strength"]) << ","
          << csv_number(h.value("strength_se", json())) << ","
          << csv_number(h.value("strength_lo", json())) << ","
          << csv_number(h.value("strength_hi", json())) << "\n";
    }
  }
  return out.str();
}

// relative_rmse: RMSE over the root mean square of the factorized data (empty when factorize
// does not report it), comparable across networks whose activations differ in scale.
std::string nmf_table(const json& variants) {
  std::ostringstream out;
  out << "variant,rank,rmse,relative_rmse\n";
  for (const auto& v : variants) {
    if (v["nmf"].is_null()) continue;
    const auto& nmf = v["nmf"];
    for (std::size_t r = 0; r < nmf["ranks"].size(); ++r) {
      out << text(v["name"]) << "," << nmf["ranks"][r] << "," << csv_number(nmf["rmse"][r]) << ","
          << csv_number(entry(nmf, "relative_rmse", r)) << "\n";
    }
  }
  return out.str();
}

// One number per replicate: the final accuracy, the final heatmap's block-diagonal strength,
// the final-epoch modularity averaged over layers and the coupled-NMF RMSE per rank.
std::vector<std::pair<std::string, double>> replicate_measures(const json& v) {
  const auto number = [](const json& x) {
    return x.is_number() ? x.get<double>() : std::numeric_limits<double>::quiet_NaN();
  };
  std::vector<std::pair<std::string, double>> out = {
      {"accuracy", number(v["final_accuracy"])},
      {"block_diagonal_strength", number(v["heatmaps"].back()["strength"])}};
  double sum = 0;
  int count = 0;
  for (const auto& m : v["modularity"].back()["values"]) {
    if (!m.is_number()) continue;
    sum += m.get<double>();
    ++count;
  }
  out.emplace_back("modularity_mean_over_layers",
                   count ? sum / count : std::numeric_limits<double>::quiet_NaN());
  if (!v["nmf"].is_null()) {
    for (std::size_t r = 0; r < v["nmf"]["ranks"].size(); ++r) {
      out.emplace_back("nmf_rmse_rank" + v["nmf"]["ranks"][r].dump(), number(v["nmf"]["rmse"][r]));
    }
  }
  return out;
}

// Per replicated variant (plan `seeds`) and measure: the number of seeds, mean, sample standard
// deviation and the per-seed values ("seed:value" separated by spaces).
std::string replicates_table(const json& variants) {
  std::map<std::string, std::vector<const json*>> replicated;
  for (const auto& v : variants) {
    if (v.value("replicate_of", json()).is_string()) replicated[v["replicate_of"]].push_back(&v);
  }
  std::ostringstream out;
  out << "variant,measure,seeds,mean,sd,values\n";
  for (const auto& [name, members] : replicated) {
    std::map<std::string, std::vector<std::pair<std::string, double>>> by_measure;
    std::vector<std::string> order;
    for (const json* v : members) {
      for (const auto& [measure, value] : replicate_measures(*v)) {
        if (!by_measure.count(measure)) order.push_back(measure);
        by_measure[measure].emplace_back((*v)["seed"].dump(), value);
      }
    }
    for (const auto& measure : order) {
      const auto& values = by_measure[measure];
      // A measure no replicate has (block-diagonal strength of a 2-layer network) is left out.
      if (std::none_of(values.begin(), values.end(),
                       [](const auto& seed_value) { return std::isfinite(seed_value.second); })) {
        continue;
      }
      const auto [mean, sd] = mean_sd(values);
      std::string cells;
      for (const auto& [seed, value] : values) {
        cells += (cells.empty() ? "" : " ") + seed + ":" + csv_number(value);
      }
      out << csv_escape(name) << "," << measure << "," << values.size() << ","
          << csv_number(std::isfinite(mean) ? json(mean) : json()) << ","
          << csv_number(std::isfinite(sd) ? json(sd) : json()) << "," << cells << "\n";
    }
  }
  return out.str();
}

}  // namespace

const std::vector<std::string> kStudyTables = {
    "variants.csv",       "modularity.csv", "dynamics.csv",  "heatmaps.csv",
    "block-diagonal.csv", "nmf.csv",        "replicates.csv"};

void write_study_tables(const json& variants, const fs::path& dir) {
  io::write_file_atomically(dir / "variants.csv", variants_table(variants));
  io::write_file_atomically(dir / "modularity.csv", modularity_table(variants));
  io::write_file_atomically(dir / "dynamics.csv", dynamics_table(variants));
  io::write_file_atomically(dir / "heatmaps.csv", heatmaps_table(variants));
  io::write_file_atomically(dir / "block-diagonal.csv", strength_table(variants));
  io::write_file_atomically(dir / "nmf.csv", nmf_table(variants));
  io::write_file_atomically(dir / "replicates.csv", replicates_table(variants));
}

}  // namespace sublens::study::detail
