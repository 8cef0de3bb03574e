// The papers' claims as pure functions of result tables. See findings.hpp.
#include "findings.hpp"

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "internal.hpp"
#include "sublens/report/report.hpp"

namespace sublens::study::findings {
namespace {

using detail::finding_json;
using detail::format;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

double number(const json& value) { return value.is_number() ? value.get<double>() : kNaN; }

std::string listed(const std::string& list, const std::string& item) {
  return list + (list.empty() ? "" : ", ") + item;
}

// Spearman's rho as a finding: held when its sign is `expected_sign`; undecided when it is NaN or
// zero, or when the paper claims no direction (expected_sign 0).
std::optional<bool> sign_held(double rho, int expected_sign) {
  if (!std::isfinite(rho) || rho == 0 || expected_sign == 0) return std::nullopt;
  return expected_sign > 0 ? rho > 0 : rho < 0;
}

std::string tagged(const std::string& claim, const json& variant) {
  return claim + " [" + variant["name"].get<std::string>() + "]";
}

// Where a variant came from, for the statistic: "trained by the study (cnn2)" or "recorded run
// r18 (pytorch-recorder)"; empty for records without a source.
std::string source_note(const json& variant) {
  const json source = variant.value("source", json());
  if (!source.is_object()) return "";
  if (source.value("kind", "") == "zoo") {
    const json& model = variant.value("model", json());
    return "; variant trained by the study (" +
           (model.is_string() ? model.get<std::string>() : "") + ")";
  }
  std::string note = "; variant from the recorded run " + source.value("run", std::string());
  const json& meta = source.value("metadata", json());
  if (meta.is_object() && meta.contains("source") && meta["source"].is_string()) {
    note += " (" + meta["source"].get<std::string>() + ")";
  }
  return note;
}

// Epoch e -> mean over layers of SSC-CKA-to-final(e) - (e - 1), for consecutive analysed epochs.
std::map<int, double> cka_gain_per_epoch(const json& dynamics) {
  std::map<int, double> gain;
  for (std::size_t r = 1; r < dynamics.size(); ++r) {
    const int epoch = dynamics[r]["epoch"].get<int>();
    if (dynamics[r - 1]["epoch"].get<int>() != epoch - 1) continue;
    double sum = 0;
    int count = 0;
    for (std::size_t l = 0; l < dynamics[r]["ssc_cka_to_final"].size(); ++l) {
      const double delta = number(dynamics[r]["ssc_cka_to_final"][l]) -
                           number(dynamics[r - 1]["ssc_cka_to_final"][l]);
      if (std::isfinite(delta)) {
        sum += delta;
        ++count;
      }
    }
    if (count > 0) gain[epoch] = sum / count;
  }
  return gain;
}

std::string grown_statistic(int grew, int compared, const std::string& values) {
  std::string text = std::to_string(grew);
  text += " of ";
  text += std::to_string(compared);
  text += " layers grew from the first to the last epoch: ";
  text += values;
  return text;
}

}  // namespace

std::optional<json> shallow_layers_converge_first(const json& v) {
  const auto& dynamics = v["dynamics"];
  if (dynamics.size() < 2) return std::nullopt;
  const auto& layers = v["layers"];
  std::vector<double> index, converged;
  std::string statistic;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    double epoch = kNaN;
    for (const auto& row : dynamics) {
      if (number(row["ssc_cka_to_final"][l]) >= kConvergedCka) {
        epoch = row["epoch"].get<double>();
        break;
      }
    }
    index.push_back(static_cast<double>(l));
    converged.push_back(epoch);
    statistic = listed(statistic, layers[l].get<std::string>() + " " + format("%.0f", epoch));
  }
  const double rho = report::spearman(index, converged);
  return finding_json(tagged("Shallower layers converge earlier (paper A, Fig. 2)", v),
                      sign_held(rho, 1),
                      "epoch at which SSC-CKA to the final epoch first reaches 0.9: " + statistic +
                          format("; Spearman rho with layer index %.3f", rho) + source_note(v));
}

std::optional<json> modularity_grows_with_training(const json& v) {
  const auto& dynamics = v["dynamics"];
  if (dynamics.size() < 2) return std::nullopt;
  const auto& layers = v["layers"];
  int grew = 0, compared = 0;
  std::string values;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const double first = number(dynamics.front()["modularity"][l]);
    const double last = number(dynamics.back()["modularity"][l]);
    if (std::isfinite(first) && std::isfinite(last)) {
      ++compared;
      grew += last > first;
    }
    values = listed(
        values, layers[l].get<std::string>() + format(" %.3f", first) + format(" -> %.3f", last));
  }
  return finding_json(tagged("Modularity grows with training (paper A, Fig. 1)", v),
                      compared == 0 ? std::nullopt : std::optional<bool>(2 * grew > compared),
                      grown_statistic(grew, compared, values) + source_note(v));
}

std::optional<json> cka_jumps_at_lr_decay(const json& v) {
  if (!v["lr_step"].is_number() || !v["epochs"].is_number()) return std::nullopt;
  std::map<int, double> gain = cka_gain_per_epoch(v["dynamics"]);
  const int step = v["lr_step"].get<int>();
  bool held = true;
  int decays = 0;
  std::string statistic;
  for (int decay = step + 1; decay <= v["epochs"].get<int>(); decay += step) {
    if (!gain.count(decay)) continue;
    double before = 0;
    int count = 0;
    for (int e = decay - 1; e >= std::max(2, decay - 3) && e > decay - step; --e) {
      if (gain.count(e)) {
        before += gain[e];
        ++count;
      }
    }
    if (count == 0) continue;
    before /= count;
    ++decays;
    held = held && gain[decay] > before;
    statistic += statistic.empty() ? "epoch " : "; epoch ";
    statistic += std::to_string(decay);
    statistic += format(": gain %.3f", gain[decay]);
    statistic += format(" vs %.3f per epoch before", before);
  }
  if (decays == 0) return std::nullopt;
  return finding_json(
      tagged("SSC-CKA to the final epoch jumps at each learning-rate decay (paper A, section 4)",
             v),
      held, "mean over layers of the SSC-CKA gain across the decay: " + statistic);
}

json deeper_layers_more_modular(const json& variants) {
  int tested = 0, held = 0;
  std::string statistic;
  for (const auto& v : variants) {
    const auto& last = v["modularity"].back()["values"];
    std::vector<double> index, modularity;
    for (std::size_t l = 0; l < last.size(); ++l) {
      if (!last[l].is_number()) continue;
      index.push_back(static_cast<double>(l));
      modularity.push_back(last[l].get<double>());
    }
    const double rho = report::spearman(index, modularity);
    if (index.size() < 3 || !std::isfinite(rho)) continue;
    ++tested;
    held += rho > 0;
    statistic = listed(statistic, v["name"].get<std::string>() + format(" %.3f", rho));
  }
  return finding_json(
      "Deeper layers have higher modularity (paper A, Fig. 1)",
      tested == 0 ? std::nullopt : std::optional<bool>(2 * held > tested),
      tested == 0 ? "needs a variant with >= 3 layers"
                  : "Spearman rho of final-epoch modularity with layer index: " + statistic);
}

std::optional<json> block_diagonal_trend(const std::vector<const json*>& members,
                                         const std::string& group, const std::string& attribute,
                                         const std::string& claim, int sign) {
  std::vector<double> x, strength;
  std::string statistic;
  std::set<double> distinct;
  for (const json* v : members) {
    const double value = number((*v)[attribute]);
    const double s = number((*v)["heatmaps"].back()["strength"]);
    if (!std::isfinite(s) || !std::isfinite(value)) continue;
    x.push_back(value);
    strength.push_back(s);
    distinct.insert(value);
    statistic = listed(statistic, (*v)["name"].get<std::string>() + format(" %.3f", s));
  }
  if (distinct.size() < 2) return std::nullopt;
  const double rho = report::spearman(x, strength);
  return finding_json(claim + " [" + group + "]", sign_held(rho, sign),
                      "block-diagonal strength (mean SSC-CKA of adjacent layers minus layers >= 2 "
                      "apart): " +
                          statistic + "; Spearman rho with " + attribute + format(" %.3f", rho));
}

std::optional<json> block_diagonal_fades_with_epochs(const json& v) {
  const auto& heatmaps = v["heatmaps"];
  if (heatmaps.size() < 2) return std::nullopt;
  std::vector<double> epochs, strength;
  std::string statistic;
  for (const auto& h : heatmaps) {
    epochs.push_back(h["epoch"].get<double>());
    strength.push_back(number(h["strength"]));
    statistic = listed(statistic, "epoch " + h["epoch"].dump() + format(" %.3f", strength.back()));
  }
  const double rho = report::spearman(epochs, strength);
  return finding_json(
      tagged("Block-diagonal structure is stronger after fewer epochs (paper A, Fig. 6)", v),
      sign_held(rho, -1),
      "block-diagonal strength: " + statistic + format("; Spearman rho with epoch %.3f", rho) +
          source_note(v));
}

std::optional<json> poorer_training_lower_rmse(const std::vector<const json*>& members,
                                               const std::string& group) {
  std::vector<const json*> nmf;
  for (const json* v : members) {
    if (!(*v)["nmf"].is_null()) nmf.push_back(v);
  }
  if (nmf.size() < 2) return std::nullopt;
  const auto& ranks = (*nmf.front())["nmf"]["ranks"];
  bool contradicted = false, undecided = false;
  std::string statistic;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    std::vector<double> accuracy, rmse;
    for (const json* v : nmf) {
      accuracy.push_back(number((*v)["final_accuracy"]));
      rmse.push_back(number((*v)["nmf"]["rmse"][r]));
    }
    const double rho = report::spearman(accuracy, rmse);
    const auto held = sign_held(rho, 1);
    undecided = undecided || !held;
    contradicted = contradicted || held == false;
    statistic = listed(statistic, "rank " + ranks[r].dump() + format(" %.3f", rho));
  }
  std::string values;
  for (const json* v : nmf) {
    values = listed(values, (*v)["name"].get<std::string>() +
                                format(": accuracy %.3f", number((*v)["final_accuracy"])) +
                                format(" RMSE %.4f", number((*v)["nmf"]["rmse"].back())));
  }
  return finding_json(
      "Poorer training gives lower coupled-NMF RMSE at every rank (paper B) [" + group + "]",
      contradicted ? std::optional<bool>(false)
      : undecided  ? std::nullopt
                   : std::optional<bool>(true),
      "Spearman rho of RMSE with accuracy per rank: " + statistic + " (" + values +
          "); held when rho > 0 at every rank");
}

json study_findings(const json& variants) {
  json out = json::array();
  const auto add = [&](const std::optional<json>& finding) {
    if (finding) out.push_back(*finding);
  };
  for (const auto& v : variants) {
    add(shallow_layers_converge_first(v));
    add(modularity_grows_with_training(v));
    add(cka_jumps_at_lr_decay(v));
  }
  out.push_back(deeper_layers_more_modular(variants));
  std::map<std::string, std::vector<const json*>> groups;
  for (const auto& v : variants) groups[v["group"].get<std::string>()].push_back(&v);
  for (const auto& entry : groups) {
    const std::string& group = entry.first;
    add(block_diagonal_trend(entry.second, group, "depth",
                             "Block-diagonal structure grows with depth (paper A, Fig. 3-4)", 1));
    // Paper A, Fig. 5 shows width without claiming a direction: the statistic, no verdict.
    add(block_diagonal_trend(entry.second, group, "width",
                             "Block-diagonal structure changes with width (paper A, Fig. 5)", 0));
    add(block_diagonal_trend(
        entry.second, group, "train_fraction",
        "Block-diagonal structure grows with less training data (paper A, Fig. 7)", -1));
  }
  for (const auto& v : variants) add(block_diagonal_fades_with_epochs(v));
  for (const auto& entry : groups) add(poorer_training_lower_rmse(entry.second, entry.first));
  return out;
}

// ---- one analysis -------------------------------------------------------------------------------

json modularity_rises_with_layer(const json& layers) {
  std::vector<double> index, modularity;
  for (const auto& row : layers) {
    if (!row["modularity"].is_number()) continue;
    index.push_back(row["index"].get<double>());
    modularity.push_back(row["modularity"].get<double>());
  }
  const double rho = report::spearman(index, modularity);
  const std::string claim = "Deeper layers have higher modularity (paper A, Fig. 1)";
  if (index.size() < 3 || !std::isfinite(rho)) {
    return finding_json(claim, std::nullopt, "needs >= 3 layers with a modularity");
  }
  return finding_json(
      claim, rho > 0,
      format("Spearman rank correlation of modularity with layer index: %.3f", rho) + " over " +
          std::to_string(index.size()) + " layers");
}

json ssc_cka_block_diagonal(const json& ssc_cka) {
  const auto n = static_cast<Index>(ssc_cka["values"].size());
  RowMatrix values(n, n);
  for (Index i = 0; i < n; ++i) {
    for (Index j = 0; j < n; ++j) values(i, j) = number(ssc_cka["values"][i][j]);
  }
  const auto [near, far] = detail::block_diagonal(values);
  const std::string claim =
      "SSC-CKA heatmap is block-diagonal: neighbouring layers are more similar than distant ones "
      "(paper A, Fig. 3-7)";
  if (n < 3 || !std::isfinite(near) || !std::isfinite(far)) {
    return finding_json(claim, std::nullopt, "needs >= 3 layers");
  }
  return finding_json(claim, near > far,
                      format("mean SSC-CKA of adjacent layers %.3f", near) +
                          format(" vs layers >= 2 apart %.3f", far) +
                          format(" (block-diagonal strength %.3f)", near - far));
}

json ssc_labels_match_network(const json& table1) {
  const std::string claim =
      "SSC labels at the last layer are about as accurate as the network (paper A, Table 1: "
      "95.8% vs 95.8%)";
  if (table1.is_null() || !table1["ssc_accuracy"].is_number()) {
    return finding_json(claim, std::nullopt, "needs --predictions or --logits");
  }
  const double ssc = table1["ssc_accuracy"].get<double>();
  const double network = table1["network_accuracy"].get<double>();
  return finding_json(claim, std::abs(ssc - network) <= kTable1Tolerance,
                      format("SSC-label accuracy %.3f", ssc) +
                          format(", network accuracy %.3f", network) +
                          format(", agreement %.3f", number(table1["agreement"])) +
                          format(" (held: within %.2f)", kTable1Tolerance));
}

json wrong_inputs_among_true_class(const json& confidently_wrong, bool has_logits) {
  const std::string claim =
      "Confidently wrong inputs lie among inputs of their true class (paper A, Fig. 9)";
  int explained = 0, total = 0;
  for (const auto& input : confidently_wrong) {
    if (!input.contains("ssc_label")) continue;
    ++total;
    explained += input["ssc_label"] == input["label"];
  }
  if (total == 0) {
    return finding_json(claim, std::nullopt,
                        has_logits ? "no misclassified inputs" : "needs --logits");
  }
  return finding_json(claim, 2 * explained > total,
                      std::to_string(explained) + " of " + std::to_string(total) +
                          " have the true class as the largest class affinity");
}

json analysis_findings(const json& layers, const json& ssc_cka, const json& table1,
                       const json& confidently_wrong, bool has_logits) {
  return json::array({modularity_rises_with_layer(layers), ssc_cka_block_diagonal(ssc_cka),
                      ssc_labels_match_network(table1),
                      wrong_inputs_among_true_class(confidently_wrong, has_logits)});
}

}  // namespace sublens::study::findings
