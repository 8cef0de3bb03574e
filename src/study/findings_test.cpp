// The papers' claims on hand-made result tables: each finding held, not held and undecided.
#include "findings.hpp"

#include <gtest/gtest.h>

namespace sublens::study::findings {
namespace {

const json kNull = nullptr;

// A variant record with the fields the findings read; `cka[e][l]` and `modularity[e][l]` per
// analysed epoch e (epochs 1, 2, ...) and layer l.
json variant(const std::string& name, const std::vector<std::vector<double>>& cka,
             const std::vector<std::vector<double>>& modularity) {
  json v = {{"name", name},
            {"group", "g"},
            {"epochs", cka.size()},
            {"lr_step", 1000},
            {"depth", 8},
            {"width", 1},
            {"train_fraction", 1.0},
            {"final_accuracy", 0.5},
            {"nmf", nullptr},
            {"layers", json::array()}};
  for (std::size_t l = 0; l < modularity.front().size(); ++l) {
    v["layers"].push_back("layer" + std::to_string(l));
  }
  v["dynamics"] = json::array();
  v["modularity"] = json::array();
  for (std::size_t e = 0; e < cka.size(); ++e) {
    const int epoch = static_cast<int>(e) + 1;
    v["dynamics"].push_back(
        {{"epoch", epoch}, {"ssc_cka_to_final", cka[e]}, {"modularity", modularity[e]}});
    v["modularity"].push_back({{"epoch", epoch}, {"values", modularity[e]}});
  }
  v["heatmaps"] = json::array({{{"epoch", cka.size()}, {"strength", 0.1}}});
  return v;
}

json held(const std::optional<json>& finding) {
  EXPECT_TRUE(finding.has_value());
  return finding ? (*finding)["held"] : json("missing");
}

TEST(ShallowLayersConvergeFirst, HeldNotHeldUndecided) {
  // Layer 0 reaches 0.9 at epoch 1, layer 1 at 2, layer 2 at 3: rho = +1.
  const json rising = variant("a", {{0.95, 0.5, 0.2}, {0.97, 0.92, 0.5}, {1, 1, 1}},
                              {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}});
  EXPECT_EQ(held(shallow_layers_converge_first(rising)), true);
  const json falling = variant("b", {{0.2, 0.5, 0.95}, {0.5, 0.92, 0.97}, {1, 1, 1}},
                               {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}});
  EXPECT_EQ(held(shallow_layers_converge_first(falling)), false);
  // Every layer converges at once: rho is NaN, undecided.
  const json flat = variant("c", {{0.1, 0.1, 0.1}, {1, 1, 1}}, {{0, 0, 0}, {0, 0, 0}});
  EXPECT_EQ(held(shallow_layers_converge_first(flat)), kNull);
  // One analysed epoch: no dynamics, no finding.
  EXPECT_FALSE(shallow_layers_converge_first(variant("d", {{1, 1}}, {{0, 0}})).has_value());
}

TEST(Findings, NameTheVariantsSource) {
  json v = variant("a", {{0.95, 0.5, 0.2}, {0.97, 0.92, 0.5}, {1, 1, 1}},
                   {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}});
  v["source"] = {
      {"kind", "run"}, {"run", "/runs/r18"}, {"metadata", {{"source", "pytorch-recorder"}}}};
  const std::string statistic = (*shallow_layers_converge_first(v))["statistic"];
  EXPECT_NE(statistic.find("recorded run /runs/r18 (pytorch-recorder)"), std::string::npos);
}

TEST(ModularityGrowsWithTraining, HeldNotHeldUndecided) {
  const json cka = {{0.5, 0.5}, {1, 1}};
  const auto grows = variant("a", cka, {{0.1, 0.2}, {0.3, 0.4}});
  EXPECT_EQ(held(modularity_grows_with_training(grows)), true);
  const auto shrinks = variant("b", cka, {{0.3, 0.4}, {0.1, 0.2}});
  EXPECT_EQ(held(modularity_grows_with_training(shrinks)), false);
  json missing = variant("c", cka, {{0.1, 0.2}, {0.3, 0.4}});
  missing["dynamics"][0]["modularity"] = {nullptr, nullptr};
  EXPECT_EQ(held(modularity_grows_with_training(missing)), kNull);
}

TEST(CkaJumpsAtLrDecay, HeldNotHeldUndecided) {
  // Decay after epoch 2 (lr_step 2): the gain 2 -> 3 against the gain 1 -> 2.
  json jump =
      variant("a", {{0.1, 0.1}, {0.2, 0.2}, {0.8, 0.8}, {1, 1}}, {{0, 0}, {0, 0}, {0, 0}, {0, 0}});
  jump["lr_step"] = 2;
  EXPECT_EQ(held(cka_jumps_at_lr_decay(jump)), true);
  json no_jump =
      variant("b", {{0.1, 0.1}, {0.6, 0.6}, {0.7, 0.7}, {1, 1}}, {{0, 0}, {0, 0}, {0, 0}, {0, 0}});
  no_jump["lr_step"] = 2;
  EXPECT_EQ(held(cka_jumps_at_lr_decay(no_jump)), false);
  // A recorded run has no known schedule: no finding.
  json recorded = jump;
  recorded["lr_step"] = nullptr;
  EXPECT_FALSE(cka_jumps_at_lr_decay(recorded).has_value());
}

TEST(DeeperLayersMoreModular, HeldNotHeldUndecided) {
  const json cka = {{1, 1, 1}};
  EXPECT_EQ(deeper_layers_more_modular(json::array({variant("a", cka, {{0.1, 0.2, 0.3}})}))["held"],
            true);
  EXPECT_EQ(deeper_layers_more_modular(json::array({variant("a", cka, {{0.3, 0.2, 0.1}})}))["held"],
            false);
  // Two layers are too few for a rank correlation.
  EXPECT_EQ(deeper_layers_more_modular(json::array({variant("a", {{1, 1}}, {{0.1, 0.2}})}))["held"],
            kNull);
}

TEST(BlockDiagonalTrend, HeldNotHeldUndecided) {
  json shallow = variant("shallow", {{1, 1, 1}}, {{0, 0, 0}});
  json deep = variant("deep", {{1, 1, 1}}, {{0, 0, 0}});
  shallow["depth"] = 8;
  deep["depth"] = 20;
  shallow["heatmaps"][0]["strength"] = 0.1;
  deep["heatmaps"][0]["strength"] = 0.3;
  const std::string claim = "grows with depth";
  EXPECT_EQ(held(block_diagonal_trend({&shallow, &deep}, "g", "depth", claim, 1)), true);
  deep["heatmaps"][0]["strength"] = 0.05;
  EXPECT_EQ(held(block_diagonal_trend({&shallow, &deep}, "g", "depth", claim, 1)), false);
  // No direction claimed (width): the statistic, no verdict.
  EXPECT_EQ(held(block_diagonal_trend({&shallow, &deep}, "g", "depth", claim, 0)), kNull);
  // One distinct depth: nothing to compare.
  deep["depth"] = 8;
  EXPECT_FALSE(block_diagonal_trend({&shallow, &deep}, "g", "depth", claim, 1).has_value());
}

TEST(BlockDiagonalFadesWithEpochs, HeldNotHeldUndecided) {
  json v = variant("a", {{1, 1, 1}}, {{0, 0, 0}});
  v["heatmaps"] = {{{"epoch", 1}, {"strength", 0.3}}, {{"epoch", 2}, {"strength", 0.1}}};
  EXPECT_EQ(held(block_diagonal_fades_with_epochs(v)), true);
  v["heatmaps"][1]["strength"] = 0.5;
  EXPECT_EQ(held(block_diagonal_fades_with_epochs(v)), false);
  v["heatmaps"][1]["strength"] = nullptr;
  EXPECT_EQ(held(block_diagonal_fades_with_epochs(v)), kNull);
}

TEST(PoorerTrainingLowerRmse, HeldNotHeldUndecided) {
  json poor = variant("poor", {{1}}, {{0}});
  json good = variant("good", {{1}}, {{0}});
  poor["final_accuracy"] = 0.5;
  good["final_accuracy"] = 0.9;
  poor["nmf"] = {{"ranks", {4, 8}}, {"rmse", {0.1, 0.05}}};
  good["nmf"] = {{"ranks", {4, 8}}, {"rmse", {0.2, 0.1}}};
  EXPECT_EQ(held(poorer_training_lower_rmse({&poor, &good}, "g")), true);
  good["nmf"]["rmse"] = {0.05, 0.01};
  EXPECT_EQ(held(poorer_training_lower_rmse({&poor, &good}, "g")), false);
  good["final_accuracy"] = 0.5;  // equal accuracies: no correlation
  EXPECT_EQ(held(poorer_training_lower_rmse({&poor, &good}, "g")), kNull);
}

TEST(AnalysisFindings, HeldNotHeldUndecided) {
  const json rising = json::array({{{"index", 0}, {"modularity", 0.1}},
                                   {{"index", 1}, {"modularity", 0.2}},
                                   {{"index", 2}, {"modularity", 0.3}}});
  EXPECT_EQ(modularity_rises_with_layer(rising)["held"], true);
  json falling = rising;
  falling[0]["modularity"] = 0.9;
  falling[1]["modularity"] = 0.5;
  EXPECT_EQ(modularity_rises_with_layer(falling)["held"], false);
  EXPECT_EQ(modularity_rises_with_layer(json::array())["held"], kNull);

  const json block = {{"values", {{1, 0.8, 0.2}, {0.8, 1, 0.8}, {0.2, 0.8, 1}}}};
  EXPECT_EQ(ssc_cka_block_diagonal(block)["held"], true);
  const json flat = {{"values", {{1, 0.2, 0.8}, {0.2, 1, 0.2}, {0.8, 0.2, 1}}}};
  EXPECT_EQ(ssc_cka_block_diagonal(flat)["held"], false);
  EXPECT_EQ(ssc_cka_block_diagonal(json{{"values", {{1, 0.5}, {0.5, 1}}}})["held"], kNull);

  const json close = {{"ssc_accuracy", 0.9}, {"network_accuracy", 0.92}, {"agreement", 0.95}};
  EXPECT_EQ(ssc_labels_match_network(close)["held"], true);
  const json far = {{"ssc_accuracy", 0.6}, {"network_accuracy", 0.92}, {"agreement", 0.6}};
  EXPECT_EQ(ssc_labels_match_network(far)["held"], false);
  EXPECT_EQ(ssc_labels_match_network(nullptr)["held"], kNull);

  const json explained = json::array({{{"label", 1}, {"ssc_label", 1}}});
  EXPECT_EQ(wrong_inputs_among_true_class(explained, true)["held"], true);
  const json unexplained = json::array({{{"label", 1}, {"ssc_label", 2}}});
  EXPECT_EQ(wrong_inputs_among_true_class(unexplained, true)["held"], false);
  EXPECT_EQ(wrong_inputs_among_true_class(json::array(), true)["held"], kNull);
}

}  // namespace
}  // namespace sublens::study::findings
