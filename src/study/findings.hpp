// The papers' claims checked against result tables: pure functions of the numbers a study or an
// analysis computed (no files, no steps), so each can be tested on hand-made tables.
//
// A finding is {"claim", "verdict": "held" | "not held" | "inconclusive", "held": true | false |
// null (inconclusive), "statistic" (the numbers), "criterion" (the rule in words, from
// criteria.hpp), "measured" (one sentence), "reason" (why not held or inconclusive)}.
//
// Study findings read the variant records of study.json ("variants"): per variant "name",
// "group", "layers", "dynamics" (rows {"epoch", "modularity": [per layer], "ssc_cka_to_final":
// [...]}), "modularity" (rows {"epoch", "values": [per layer]}), "heatmaps" (rows {"epoch",
// "strength"}), "nmf" (null or {"ranks", "rmse"}), "final_accuracy", "depth", "width",
// "train_fraction", "epochs", "lr_step" (null for recorded runs: no schedule known). Optional
// standard errors (bootstrap): "modularity_se" beside "modularity" in dynamics rows,
// "values_se" beside "values" in modularity rows, "strength_se" in heatmap rows. Replicates
// (several seeds) are variant records of their own: trends pool them as points.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sublens/report/report.hpp"

namespace sublens::study::findings {

using nlohmann::json;

// Paper A, Fig. 2: a layer has converged once its SSC-CKA to the final epoch reaches this.
constexpr double kConvergedCka = 0.9;
// Paper A, Table 1: SSC-label accuracy 95.8% vs network 95.8%; "close" = within this.
constexpr double kTable1Tolerance = 0.05;

// ---- one variant's training dynamics (null when it has fewer than 2 analysed epochs) --------
// Paper A, Fig. 2: the epoch each layer first reaches kConvergedCka rises with layer index.
std::optional<json> shallow_layers_converge_first(const json& variant);
// Paper A, Fig. 1: modularity grows from the first to the last analysed epoch in most layers.
std::optional<json> modularity_grows_with_training(const json& variant);
// Paper A, section 4: SSC-CKA to the final epoch gains more across each learning-rate decay
// than in the (up to 3) epochs before it. Null without consecutive analysed epochs around a
// decay or without a known schedule ("lr_step" null).
std::optional<json> cka_jumps_at_lr_decay(const json& variant);

// ---- across variants --------------------------------------------------------------------------
// Paper A, Fig. 1: final-epoch modularity rises with layer index in most networks.
json deeper_layers_more_modular(const json& variants);
// Paper A, Fig. 3-7: Spearman rho of the final heatmap's block-diagonal strength with
// `attribute` ("depth", "width", "train_fraction") over `members` (one group); `sign` is the
// paper's direction (0: statistic only). Null when fewer than 2 distinct attribute values.
std::optional<json> block_diagonal_trend(const std::vector<const json*>& members,
                                         const std::string& group, const std::string& attribute,
                                         const std::string& claim, int sign);
// Paper A, Fig. 6: block-diagonal strength falls with epoch (needs >= 2 heatmaps).
std::optional<json> block_diagonal_fades_with_epochs(const json& variant);
// Paper B: RMSE rises with accuracy at every rank (needs >= 2 members with NMF).
std::optional<json> poorer_training_lower_rmse(const std::vector<const json*>& members,
                                               const std::string& group);
// Every study finding, in report order.
json study_findings(const json& variants);

// ---- one analysis (`sublens analyze`, a variant's final network) ------------------------------
// `layers`: rows {"index", "modularity"}; `ssc_cka`: {"values": n x n}; `table1`: null or
// {"ssc_accuracy", "network_accuracy", "agreement"}; `confidently_wrong`: rows {"label",
// "ssc_label"}; `has_logits`: whether confidently wrong inputs could be looked for.
json modularity_rises_with_layer(const json& layers);
json ssc_cka_block_diagonal(const json& ssc_cka);
json ssc_labels_match_network(const json& table1);
json wrong_inputs_among_true_class(const json& confidently_wrong, bool has_logits);
json analysis_findings(const json& layers, const json& ssc_cka, const json& table1,
                       const json& confidently_wrong, bool has_logits);

// A finding as the report's row: the verdict and its reason, what was measured, the numbers and
// the criterion in the statistic cell (records without them, from older results, as they are).
report::Finding report_finding(const json& finding);

}  // namespace sublens::study::findings
