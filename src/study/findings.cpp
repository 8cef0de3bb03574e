// The papers' claims as pure functions of result tables. See findings.hpp; the verdict rules
// (thresholds, tests) are in criteria.hpp.
#include "findings.hpp"

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "criteria.hpp"
#include "internal.hpp"
#include "sublens/report/report.hpp"

namespace sublens::study::findings {
namespace {

using detail::format;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Each claim once: its wording (the paper and figure) and one sentence on what was measured.
struct Claim {
  const char* text;
  const char* measured;
};

const Claim kShallowFirst{
    "Shallower layers converge earlier (paper A, Fig. 2)",
    "For each layer, the first analysed epoch at which its SSC-CKA to the final epoch reaches "
    "0.9, ranked against the layer index."};
const Claim kModularityGrows{
    "Modularity grows with training (paper A, Fig. 1)",
    "Each layer's modularity at the first and at the last analysed epoch."};
const Claim kCkaJumps{
    "SSC-CKA to the final epoch jumps at each learning-rate decay (paper A, section 4)",
    "The mean over layers of the gain in SSC-CKA to the final epoch across each learning-rate "
    "decay, against the mean gain per epoch in up to 3 epochs before it."};
const Claim kDeeperModular{
    "Deeper layers have higher modularity (paper A, Fig. 1)",
    "Each network's final-epoch modularity per layer, ranked against the layer index."};
const Claim kFadesWithEpochs{
    "Block-diagonal structure is stronger after fewer epochs (paper A, Fig. 6)",
    "Block-diagonal strength (mean SSC-CKA of adjacent layers minus that of layers >= 2 apart) "
    "of each analysed epoch's heatmap, ranked against the epoch."};
const Claim kPoorerLowerRmse{
    "Poorer training gives lower coupled-NMF RMSE at every rank (paper B)",
    "The coupled-NMF reconstruction RMSE of each network at each rank, ranked against the "
    "network's final accuracy."};
const Claim kBlockDiagonal{
    "SSC-CKA heatmap is block-diagonal: neighbouring layers are more similar than distant ones "
    "(paper A, Fig. 3-7)",
    "The mean SSC-CKA of adjacent layers against that of layers >= 2 apart in the final "
    "network's heatmap."};
const Claim kSscLabels{
    "SSC labels at the last layer are about as accurate as the network (paper A, Table 1: "
    "95.8% vs 95.8%)",
    "The accuracy of the labels SSC's clusters give the last layer's inputs against the "
    "network's accuracy on the same inputs."};
const Claim kWrongInputs{
    "Confidently wrong inputs lie among inputs of their true class (paper A, Fig. 9)",
    "For each confidently misclassified input, whether its largest SSC class affinity is its "
    "true class."};
const char* const kStrengthMeasured =
    "Block-diagonal strength (mean SSC-CKA of adjacent layers minus that of layers >= 2 apart) of "
    "each network's final heatmap, ranked against the networks' ";

double number(const json& value) { return value.is_number() ? value.get<double>() : kNaN; }

// Entry i of an array member as a number, NaN when absent (no bootstrap, older records).
double number_at(const json& row, const char* key, std::size_t i) {
  return row.contains(key) && row[key].is_array() && i < row[key].size() ? number(row[key][i])
                                                                         : kNaN;
}

double number_of(const json& row, const char* key) {
  return row.contains(key) ? number(row[key]) : kNaN;
}

std::string listed(const std::string& list, const std::string& item) {
  return list + (list.empty() ? "" : ", ") + item;
}

// A finding: "held" true / false / null (inconclusive) for older readers, "verdict" in words,
// "statistic" (the numbers), "criterion", "measured" and, unless held, "reason".
json finding(const std::string& claim, const std::string& measured, const std::string& criterion,
             const Verdict& verdict, const std::string& values) {
  json held;
  if (verdict.outcome != Outcome::kInconclusive) held = verdict.outcome == Outcome::kHeld;
  std::string statistic = values;
  if (!verdict.result.empty()) statistic += (values.empty() ? "" : "; ") + verdict.result;
  return {{"claim", claim},
          {"held", held},
          {"verdict", outcome_name(verdict.outcome)},
          {"statistic", statistic},
          {"criterion", criterion},
          {"measured", measured},
          {"reason", verdict.reason}};
}

json finding(const Claim& claim, const std::string& tag, const std::string& criterion,
             const Verdict& verdict, const std::string& values) {
  return finding(claim.text + tag, claim.measured, criterion, verdict, values);
}

std::string tag(const json& variant) { return " [" + variant["name"].get<std::string>() + "]"; }

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

// Final-epoch modularity per layer of one variant as a trend verdict over the layer index.
Verdict layer_modularity_trend(const json& v) {
  const auto& last = v["modularity"].back();
  std::vector<double> index, modularity, se;
  for (std::size_t l = 0; l < last["values"].size(); ++l) {
    index.push_back(static_cast<double>(l));
    modularity.push_back(number(last["values"][l]));
    se.push_back(number_at(last, "values_se", l));
  }
  return trend_verdict(kTrend, index, modularity, 1, se);
}

std::string difference_rule() {
  return format("a difference counts only outside %.0f standard errors where a bootstrap gives one",
                kDifference.se_factor);
}

}  // namespace

std::optional<json> shallow_layers_converge_first(const json& v) {
  const auto& dynamics = v["dynamics"];
  if (dynamics.size() < 2) return std::nullopt;
  const auto& layers = v["layers"];
  std::vector<double> index, converged;
  std::string values;
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
    values = listed(values, layers[l].get<std::string>() + " " + format("%.0f", epoch));
  }
  return finding(kShallowFirst, tag(v), describe(kTrend, 1, "layer index"),
                 trend_verdict(kTrend, index, converged, 1),
                 "epoch of SSC-CKA >= 0.9: " + values + source_note(v));
}

std::optional<json> modularity_grows_with_training(const json& v) {
  const auto& dynamics = v["dynamics"];
  if (dynamics.size() < 2) return std::nullopt;
  const auto& layers = v["layers"];
  const json& first = dynamics.front();
  const json& last = dynamics.back();
  std::vector<Outcome> units;
  std::string values;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const double before = number(first["modularity"][l]);
    const double after = number(last["modularity"][l]);
    const double se_before = number_at(first, "modularity_se", l);
    const double se_after = number_at(last, "modularity_se", l);
    if (std::isfinite(before) && std::isfinite(after)) {
      units.push_back(
          difference_outcome(kDifference, after - before, std::hypot(se_before, se_after)));
    }
    values = listed(
        values, layers[l].get<std::string>() + format(" %.3f", before) + format(" -> %.3f", after));
  }
  return finding(kModularityGrows, tag(v),
                 describe(kMajority, "layers",
                          "the last epoch's modularity above the first's; " + difference_rule()),
                 majority_verdict(kMajority, units, "layers"), values + source_note(v));
}

std::optional<json> cka_jumps_at_lr_decay(const json& v) {
  if (!v["lr_step"].is_number() || !v["epochs"].is_number()) return std::nullopt;
  std::map<int, double> gain = cka_gain_per_epoch(v["dynamics"]);
  const int step = v["lr_step"].get<int>();
  std::vector<Outcome> units;
  std::string values;
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
    units.push_back(difference_outcome(kDifference, gain[decay] - before, kNaN));
    values = listed(values, "epoch " + std::to_string(decay) + format(": gain %.3f", gain[decay]) +
                                format(" vs %.3f per epoch before", before));
  }
  if (units.empty()) return std::nullopt;
  return finding(kCkaJumps, tag(v),
                 describe_every("decays", "the gain across the decay above the gain before it"),
                 every_verdict(units, "decays"), values);
}

json deeper_layers_more_modular(const json& variants) {
  std::vector<Outcome> units;
  std::string values;
  for (const auto& v : variants) {
    const Verdict verdict = layer_modularity_trend(v);
    units.push_back(verdict.outcome);
    values = listed(values, v["name"].get<std::string>() + " " + outcome_name(verdict.outcome) +
                                " (" + verdict.result + ")");
  }
  return finding(
      kDeeperModular, "",
      describe(kMajority, "networks", "each network: " + describe(kTrend, 1, "layer index")),
      majority_verdict(kMajority, units, "networks"), values);
}

std::optional<json> block_diagonal_trend(const std::vector<const json*>& members,
                                         const std::string& group, const std::string& attribute,
                                         const std::string& claim, int sign) {
  std::vector<double> x, strength, se;
  std::string values;
  std::set<double> distinct;
  for (const json* v : members) {
    const double value = number((*v)[attribute]);
    const json& last = (*v)["heatmaps"].back();
    const double s = number(last["strength"]);
    if (!std::isfinite(s) || !std::isfinite(value)) continue;
    x.push_back(value);
    strength.push_back(s);
    se.push_back(number_of(last, "strength_se"));
    distinct.insert(value);
    values = listed(values, (*v)["name"].get<std::string>() + format(" %.3f", s));
  }
  if (distinct.size() < 2) return std::nullopt;
  return finding(claim + " [" + group + "]", kStrengthMeasured + attribute + ".",
                 describe(kTrend, sign, attribute), trend_verdict(kTrend, x, strength, sign, se),
                 "block-diagonal strength: " + values);
}

std::optional<json> block_diagonal_fades_with_epochs(const json& v) {
  const auto& heatmaps = v["heatmaps"];
  if (heatmaps.size() < 2) return std::nullopt;
  std::vector<double> epochs, strength, se;
  std::string values;
  for (const auto& h : heatmaps) {
    epochs.push_back(h["epoch"].get<double>());
    strength.push_back(number(h["strength"]));
    se.push_back(number_of(h, "strength_se"));
    values = listed(values, "epoch " + h["epoch"].dump() + format(" %.3f", strength.back()));
  }
  return finding(kFadesWithEpochs, tag(v), describe(kTrend, -1, "epoch"),
                 trend_verdict(kTrend, epochs, strength, -1, se),
                 "block-diagonal strength: " + values + source_note(v));
}

std::optional<json> poorer_training_lower_rmse(const std::vector<const json*>& members,
                                               const std::string& group) {
  std::vector<const json*> nmf;
  for (const json* v : members) {
    if (!(*v)["nmf"].is_null()) nmf.push_back(v);
  }
  if (nmf.size() < 2) return std::nullopt;
  const auto& ranks = (*nmf.front())["nmf"]["ranks"];
  std::vector<Outcome> units;
  std::string per_rank;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    std::vector<double> accuracy, rmse;
    for (const json* v : nmf) {
      accuracy.push_back(number((*v)["final_accuracy"]));
      rmse.push_back(number((*v)["nmf"]["rmse"][r]));
    }
    const Verdict verdict = trend_verdict(kTrend, accuracy, rmse, 1);
    units.push_back(verdict.outcome);
    per_rank = listed(per_rank, "rank " + ranks[r].dump() + ": " + verdict.result);
  }
  std::string values;
  for (const json* v : nmf) {
    values = listed(values, (*v)["name"].get<std::string>() +
                                format(": accuracy %.3f", number((*v)["final_accuracy"])) +
                                format(" RMSE %.4f", number((*v)["nmf"]["rmse"].back())));
  }
  Verdict verdict = every_verdict(units, "ranks");
  verdict.result = per_rank + "; " + verdict.result;
  return finding(kPoorerLowerRmse, " [" + group + "]",
                 describe_every("ranks", "per rank: " + describe(kTrend, 1, "accuracy")), verdict,
                 values);
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
  std::vector<double> index, modularity, se;
  for (const auto& row : layers) {
    index.push_back(row["index"].get<double>());
    modularity.push_back(number(row["modularity"]));
    se.push_back(number_of(row, "modularity_se"));
  }
  return finding(kDeeperModular, "", describe(kTrend, 1, "layer index"),
                 trend_verdict(kTrend, index, modularity, 1, se), "");
}

json ssc_cka_block_diagonal(const json& ssc_cka) {
  const auto n = static_cast<Index>(ssc_cka["values"].size());
  RowMatrix values(n, n);
  for (Index i = 0; i < n; ++i) {
    for (Index j = 0; j < n; ++j) values(i, j) = number(ssc_cka["values"][i][j]);
  }
  const auto [near, far] = detail::block_diagonal(values);
  const double se = number_of(ssc_cka, "strength_se");
  Verdict verdict;
  if (n < 3 || !std::isfinite(near) || !std::isfinite(far)) {
    verdict.reason = "needs >= 3 layers";
  } else {
    verdict.outcome = difference_outcome(kDifference, near - far, se);
    verdict.result = format("adjacent %.3f", near) + format(" vs >= 2 apart %.3f", far) +
                     format(" (strength %.3f", near - far) +
                     (std::isfinite(se) ? format(", standard error %.2g)", se) : ")");
    if (verdict.outcome == Outcome::kInconclusive) verdict.reason = "inside its uncertainty";
  }
  return finding(kBlockDiagonal, "",
                 "held when the adjacent mean exceeds the distant one; " + difference_rule(),
                 verdict, "");
}

json ssc_labels_match_network(const json& table1) {
  const std::string criterion = format(
      "held when the two accuracies differ by at most %.2f; not held otherwise", kTable1Tolerance);
  Verdict verdict;
  if (table1.is_null() || !table1["ssc_accuracy"].is_number()) {
    verdict.reason = "needs --predictions or --logits";
    return finding(kSscLabels, "", criterion, verdict, "");
  }
  const double ssc = table1["ssc_accuracy"].get<double>();
  const double network = table1["network_accuracy"].get<double>();
  const bool close = std::abs(ssc - network) <= kTable1Tolerance;
  verdict.outcome = close ? Outcome::kHeld : Outcome::kNotHeld;
  if (!close) verdict.reason = format("the accuracies differ by %.3f", std::abs(ssc - network));
  return finding(kSscLabels, "", criterion, verdict,
                 format("SSC-label accuracy %.3f", ssc) +
                     format(", network accuracy %.3f", network) +
                     format(", agreement %.3f", number(table1["agreement"])));
}

json wrong_inputs_among_true_class(const json& confidently_wrong, bool has_logits) {
  std::vector<Outcome> units;
  for (const auto& input : confidently_wrong) {
    if (!input.contains("ssc_label")) continue;
    units.push_back(input["ssc_label"] == input["label"] ? Outcome::kHeld : Outcome::kNotHeld);
  }
  Verdict verdict = majority_verdict(kMajority, units, "inputs");
  if (units.empty()) verdict.reason = has_logits ? "no misclassified inputs" : "needs --logits";
  return finding(kWrongInputs, "",
                 describe(kMajority, "inputs", "the true class has the largest affinity"), verdict,
                 "");
}

json analysis_findings(const json& layers, const json& ssc_cka, const json& table1,
                       const json& confidently_wrong, bool has_logits) {
  return json::array({modularity_rises_with_layer(layers), ssc_cka_block_diagonal(ssc_cka),
                      ssc_labels_match_network(table1),
                      wrong_inputs_among_true_class(confidently_wrong, has_logits)});
}

report::Finding report_finding(const json& item) {
  const std::string verdict = item.value("verdict", std::string());
  const std::string reason = item.value("reason", std::string());
  std::string text;
  if (verdict == "inconclusive") text = "Inconclusive: " + reason + ". ";
  if (verdict == "not held" && !reason.empty()) text = "Not held: " + reason + ". ";
  if (item.contains("measured")) text += "Measured: " + item["measured"].get<std::string>() + " ";
  text += item["statistic"].get<std::string>();
  if (item.contains("criterion")) text += ". Criterion: " + item["criterion"].get<std::string>();
  return {item["claim"].get<std::string>(),
          item["held"].is_null() ? std::nullopt : std::optional<bool>(item["held"].get<bool>()),
          text};
}

}  // namespace sublens::study::findings
