// The papers' claims on hand-made result tables: each finding held, not held and inconclusive.
#include "findings.hpp"

#include <gtest/gtest.h>

#include <algorithm>

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

// Variants whose only differences are `attribute` and the final heatmap's strength.
std::vector<json> trend_members(const std::string& attribute, const std::vector<double>& x,
                                const std::vector<double>& strength) {
  std::vector<json> members;
  for (std::size_t i = 0; i < x.size(); ++i) {
    json v = variant("v" + std::to_string(i), {{1, 1, 1}}, {{0, 0, 0}});
    v[attribute] = x[i];
    v["heatmaps"][0]["strength"] = strength[i];
    members.push_back(v);
  }
  return members;
}

std::vector<const json*> pointers(const std::vector<json>& members) {
  std::vector<const json*> out;
  for (const auto& v : members) out.push_back(&v);
  return out;
}

TEST(ShallowLayersConvergeFirst, HeldNotHeldInconclusive) {
  // Layer l reaches 0.9 at epoch l + 1: rho = +1 over 4 layers, exact p = 1/24.
  const json rising = variant(
      "a", {{0.95, 0.5, 0.2, 0.1}, {0.97, 0.92, 0.5, 0.2}, {0.98, 0.95, 0.91, 0.5}, {1, 1, 1, 1}},
      {{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}});
  const json found = *shallow_layers_converge_first(rising);
  EXPECT_EQ(found["held"], true);
  EXPECT_EQ(found["verdict"], "held");
  EXPECT_NE(found["criterion"].get<std::string>().find("permutation p < 0.05"), std::string::npos);
  EXPECT_FALSE(found["measured"].get<std::string>().empty());
  json falling = rising;
  for (auto& row : falling["dynamics"]) {
    auto& cka = row["ssc_cka_to_final"];
    std::reverse(cka.begin(), cka.end());
  }
  EXPECT_EQ(held(shallow_layers_converge_first(falling)), false);
  // Every layer converges at once: rho is NaN, inconclusive.
  const json flat =
      variant("c", {{0.1, 0.1, 0.1, 0.1}, {1, 1, 1, 1}}, {{0, 0, 0, 0}, {0, 0, 0, 0}});
  EXPECT_EQ(held(shallow_layers_converge_first(flat)), kNull);
  // Three layers, even in order, cannot reach p < 0.05.
  const json three = variant("t", {{0.95, 0.5, 0.2}, {0.97, 0.92, 0.5}, {1, 1, 1}},
                             {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}});
  const json few = *shallow_layers_converge_first(three);
  EXPECT_EQ(few["verdict"], "inconclusive");
  EXPECT_NE(few["reason"].get<std::string>().find("3 points"), std::string::npos);
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

TEST(ModularityGrowsWithTraining, HeldNotHeldInconclusive) {
  const json cka = {{0.5, 0.5, 0.5}, {1, 1, 1}};
  const auto grows = variant("a", cka, {{0.1, 0.2, 0.3}, {0.3, 0.4, 0.2}});
  EXPECT_EQ(held(modularity_grows_with_training(grows)), true);
  const auto shrinks = variant("b", cka, {{0.3, 0.4, 0.3}, {0.1, 0.2, 0.4}});
  EXPECT_EQ(held(modularity_grows_with_training(shrinks)), false);
  json missing = variant("c", cka, {{0.1, 0.2, 0.3}, {0.3, 0.4, 0.5}});
  missing["dynamics"][0]["modularity"] = {nullptr, nullptr, nullptr};
  EXPECT_EQ(held(modularity_grows_with_training(missing)), kNull);
  // Growth of 0.2 per layer with bootstrap standard errors of 0.1 at each epoch (0.14 for the
  // difference): inside 2 standard errors in every layer.
  json noisy = variant("d", cka, {{0.1, 0.2, 0.3}, {0.3, 0.4, 0.5}});
  for (auto& row : noisy["dynamics"]) row["modularity_se"] = {0.1, 0.1, 0.1};
  EXPECT_EQ(held(modularity_grows_with_training(noisy)), kNull);
  // Two layers are too few for a majority.
  EXPECT_EQ(held(modularity_grows_with_training(
                variant("e", {{0.5, 0.5}, {1, 1}}, {{0.1, 0.2}, {0.3, 0.4}}))),
            kNull);
}

TEST(CkaJumpsAtLrDecay, HeldNotHeldInconclusive) {
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

TEST(DeeperLayersMoreModular, HeldNotHeldInconclusive) {
  const json cka = {{1, 1, 1, 1}};
  const json up = variant("up", cka, {{0.1, 0.2, 0.3, 0.4}});
  const json down = variant("down", cka, {{0.4, 0.3, 0.2, 0.1}});
  EXPECT_EQ(deeper_layers_more_modular(json::array({up, up, down}))["held"], true);
  EXPECT_EQ(deeper_layers_more_modular(json::array({up, down, down}))["held"], false);
  // Fewer than 3 networks.
  EXPECT_EQ(deeper_layers_more_modular(json::array({up, up}))["held"], kNull);
  // Three layers per network: no network can decide, so neither can the majority.
  const json short_net = variant("s", {{1, 1, 1}}, {{0.1, 0.2, 0.3}});
  EXPECT_EQ(deeper_layers_more_modular(json::array({short_net, short_net, short_net}))["held"],
            kNull);
}

TEST(BlockDiagonalTrend, HeldNotHeldInconclusive) {
  const std::string claim = "grows with depth";
  const auto rising = trend_members("depth", {8, 14, 20, 26}, {0.1, 0.2, 0.3, 0.4});
  EXPECT_EQ(held(block_diagonal_trend(pointers(rising), "g", "depth", claim, 1)), true);
  const auto falling = trend_members("depth", {8, 14, 20, 26}, {0.4, 0.3, 0.2, 0.1});
  EXPECT_EQ(held(block_diagonal_trend(pointers(falling), "g", "depth", claim, 1)), false);
  // The demo: 0.086 / 0.085 / 0.079 over three values: inconclusive, not held.
  const auto three = trend_members("train_fraction", {0.02, 0.05, 0.2}, {0.086, 0.085, 0.079});
  EXPECT_EQ(held(block_diagonal_trend(pointers(three), "g", "train_fraction", claim, -1)), kNull);
  // Bootstrap standard errors larger than the change: inconclusive.
  auto noisy = trend_members("depth", {8, 14, 20, 26}, {0.1, 0.11, 0.12, 0.13});
  for (auto& v : noisy) v["heatmaps"][0]["strength_se"] = 0.05;
  EXPECT_EQ(held(block_diagonal_trend(pointers(noisy), "g", "depth", claim, 1)), kNull);
  // Two seeds per depth, replicates pooled: 8 points.
  const auto seeds = trend_members("depth", {8, 8, 14, 14, 20, 20, 26, 26},
                                   {0.10, 0.11, 0.20, 0.19, 0.30, 0.31, 0.40, 0.41});
  EXPECT_EQ(held(block_diagonal_trend(pointers(seeds), "g", "depth", claim, 1)), true);
  // No direction claimed (width): the statistic, no verdict.
  EXPECT_EQ(held(block_diagonal_trend(pointers(rising), "g", "depth", claim, 0)), kNull);
  // One distinct depth: nothing to compare.
  const auto same = trend_members("depth", {8, 8}, {0.1, 0.2});
  EXPECT_FALSE(block_diagonal_trend(pointers(same), "g", "depth", claim, 1).has_value());
}

TEST(BlockDiagonalFadesWithEpochs, HeldNotHeldInconclusive) {
  json v = variant("a", {{1, 1, 1}}, {{0, 0, 0}});
  v["heatmaps"] = json::array();
  for (int e = 1; e <= 4; ++e) v["heatmaps"].push_back({{"epoch", e}, {"strength", 0.5 - 0.1 * e}});
  EXPECT_EQ(held(block_diagonal_fades_with_epochs(v)), true);
  v["heatmaps"][3]["strength"] = 0.5;
  v["heatmaps"][0]["strength"] = 0.05;
  EXPECT_EQ(held(block_diagonal_fades_with_epochs(v)), false);
  // The demo: epochs 1, 3, 8 at 0.100, 0.107, 0.096: three points, inconclusive.
  v["heatmaps"] = {{{"epoch", 1}, {"strength", 0.100}},
                   {{"epoch", 3}, {"strength", 0.107}},
                   {{"epoch", 8}, {"strength", 0.096}}};
  EXPECT_EQ(held(block_diagonal_fades_with_epochs(v)), kNull);
}

TEST(PoorerTrainingLowerRmse, AtEveryRank) {
  std::vector<json> nets;
  for (int i = 0; i < 4; ++i) {
    json v = variant("n" + std::to_string(i), {{1}}, {{0}});
    v["final_accuracy"] = 0.5 + 0.1 * i;
    v["nmf"] = {{"ranks", {4, 8}}, {"rmse", {0.1 + 0.1 * i, 0.05 + 0.05 * i}}};
    nets.push_back(v);
  }
  EXPECT_EQ(held(poorer_training_lower_rmse(pointers(nets), "g")), true);
  // Falling at rank 8 only: "at every rank" fails.
  auto one_rank = nets;
  for (int i = 0; i < 4; ++i) one_rank[i]["nmf"]["rmse"][1] = 0.5 - 0.1 * i;
  EXPECT_EQ(held(poorer_training_lower_rmse(pointers(one_rank), "g")), false);
  // The demo: three networks, not monotone: inconclusive (3 points), not held.
  auto three = std::vector<json>(nets.begin(), nets.begin() + 3);
  three[0]["nmf"]["rmse"] = {0.2189, 0.2189};
  three[1]["nmf"]["rmse"] = {0.1834, 0.1834};
  three[2]["nmf"]["rmse"] = {0.2373, 0.2373};
  EXPECT_EQ(held(poorer_training_lower_rmse(pointers(three), "g")), kNull);
}

TEST(AnalysisFindings, HeldNotHeldInconclusive) {
  const json rising = json::array({{{"index", 0}, {"modularity", 0.1}},
                                   {{"index", 1}, {"modularity", 0.2}},
                                   {{"index", 2}, {"modularity", 0.3}},
                                   {{"index", 3}, {"modularity", 0.4}}});
  EXPECT_EQ(modularity_rises_with_layer(rising)["held"], true);
  json falling = rising;
  falling[0]["modularity"] = 0.9;
  falling[1]["modularity"] = 0.5;
  EXPECT_EQ(modularity_rises_with_layer(falling)["held"], false);
  json noisy = rising;
  for (auto& row : noisy) row["modularity_se"] = 0.2;
  EXPECT_EQ(modularity_rises_with_layer(noisy)["held"], kNull);
  EXPECT_EQ(modularity_rises_with_layer(json::array())["held"], kNull);

  const json block = {{"values", {{1, 0.8, 0.2}, {0.8, 1, 0.8}, {0.2, 0.8, 1}}}};
  EXPECT_EQ(ssc_cka_block_diagonal(block)["held"], true);
  const json flat = {{"values", {{1, 0.2, 0.8}, {0.2, 1, 0.2}, {0.8, 0.2, 1}}}};
  EXPECT_EQ(ssc_cka_block_diagonal(flat)["held"], false);
  EXPECT_EQ(ssc_cka_block_diagonal(json{{"values", {{1, 0.5}, {0.5, 1}}}})["held"], kNull);
  json noisy_block = block;
  noisy_block["strength_se"] = 0.5;
  EXPECT_EQ(ssc_cka_block_diagonal(noisy_block)["held"], kNull);

  const json close = {{"ssc_accuracy", 0.9}, {"network_accuracy", 0.92}, {"agreement", 0.95}};
  EXPECT_EQ(ssc_labels_match_network(close)["held"], true);
  const json far = {{"ssc_accuracy", 0.6}, {"network_accuracy", 0.92}, {"agreement", 0.6}};
  EXPECT_EQ(ssc_labels_match_network(far)["held"], false);
  EXPECT_EQ(ssc_labels_match_network(nullptr)["held"], kNull);

  const json right = {{"label", 1}, {"ssc_label", 1}};
  const json wrong = {{"label", 1}, {"ssc_label", 2}};
  EXPECT_EQ(wrong_inputs_among_true_class(json::array({right, right, wrong}), true)["held"], true);
  EXPECT_EQ(wrong_inputs_among_true_class(json::array({right, wrong, wrong}), true)["held"], false);
  // One input is too few to speak of "lie among".
  EXPECT_EQ(wrong_inputs_among_true_class(json::array({right}), true)["held"], kNull);
  EXPECT_EQ(wrong_inputs_among_true_class(json::array(), true)["held"], kNull);
}

}  // namespace
}  // namespace sublens::study::findings
