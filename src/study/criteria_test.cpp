// The verdict rules on hand-made numbers: each criterion held, not held and inconclusive; the
// permutation p-value against counts worked out by hand.
#include "criteria.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace sublens::study::findings {
namespace {

constexpr double kExact = 1e-12;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(SpearmanPermutationP, CountsOrderingsByHand) {
  // Perfectly rising: only the identity ordering reaches rho = 1, p = 1/4! for a rising claim.
  EXPECT_NEAR(spearman_permutation_p({1, 2, 3, 4}, {1, 2, 3, 4}, 1), 1.0 / 24, kExact);
  // ... and every ordering reaches rho >= -1 for a falling claim.
  EXPECT_NEAR(spearman_permutation_p({1, 2, 3, 4}, {1, 2, 3, 4}, -1), 1.0, kExact);
  // Three points: the best a rising trend can do is 1/3! = 0.167.
  EXPECT_NEAR(spearman_permutation_p({1, 2, 3}, {0.1, 0.2, 0.3}, 1), 1.0 / 6, kExact);
  // y = (1, 3, 2): rho = 0.5; orderings with rho >= 0.5 are (1,2,3), (1,3,2), (2,1,3): 3 of 6.
  EXPECT_NEAR(spearman_permutation_p({1, 2, 3}, {1, 3, 2}, 1), 0.5, kExact);
  // Ties in x (replicates): x = (1, 1, 2, 2), y = (1, 2, 3, 4). rho >= observed needs both large
  // values at x = 2: 2! * 2! = 4 of 24 orderings.
  EXPECT_NEAR(spearman_permutation_p({1, 1, 2, 2}, {1, 2, 3, 4}, 1), 4.0 / 24, kExact);
  // Non-finite pairs are dropped.
  EXPECT_NEAR(spearman_permutation_p({1, 2, 3, 4, 5}, {1, 2, 3, 4, kNaN}, 1), 1.0 / 24, kExact);
}

TEST(SpearmanPermutationP, RandomPermutationsAboveEightPoints) {
  std::vector<double> x, y;
  for (int i = 0; i < 12; ++i) {
    x.push_back(i);
    y.push_back(i);
  }
  // Exact p = 1/12! ~ 2e-9: no random draw reaches it, p = 1 / (draws + 1).
  EXPECT_NEAR(spearman_permutation_p(x, y, 1), 1.0 / (kRandomPermutations + 1), kExact);
}

TEST(TrendVerdict, HeldNotHeldInconclusive) {
  const std::vector<double> x = {1, 2, 3, 4, 5};
  EXPECT_EQ(trend_verdict(kTrend, x, {0.1, 0.2, 0.3, 0.4, 0.5}, 1).outcome, Outcome::kHeld);
  EXPECT_EQ(trend_verdict(kTrend, x, {0.5, 0.4, 0.3, 0.2, 0.1}, -1).outcome, Outcome::kHeld);
  // Opposite direction: not held.
  EXPECT_EQ(trend_verdict(kTrend, x, {0.5, 0.4, 0.3, 0.2, 0.1}, 1).outcome, Outcome::kNotHeld);
  // A weak rise (rho 0.3): inconclusive, neither held nor clearly absent.
  const Verdict weak = trend_verdict(kTrend, x, {0.1, 0.3, 0.2, 0.5, 0.15}, 1);
  EXPECT_EQ(weak.outcome, Outcome::kInconclusive);
  EXPECT_NE(weak.reason.find("weaker"), std::string::npos);
  // Three points (the demo: 5% -> 0.2189, 25% -> 0.1834, 100% -> 0.2373), even perfectly
  // monotone ones: an exact permutation test cannot reach p < 0.05.
  const Verdict three = trend_verdict(kTrend, {1, 2, 3}, {0.1, 0.2, 0.3}, 1);
  EXPECT_EQ(three.outcome, Outcome::kInconclusive);
  EXPECT_NE(three.reason.find("cannot reach p < 0.05"), std::string::npos);
  // A perfect rise whose end-to-end change (0.4) is inside 2 standard errors (0.3 each: change
  // standard error 0.42): inconclusive.
  const Verdict noisy =
      trend_verdict(kTrend, x, {0.1, 0.2, 0.3, 0.4, 0.5}, 1, {0.3, 0.3, 0.3, 0.3, 0.3});
  EXPECT_EQ(noisy.outcome, Outcome::kInconclusive);
  EXPECT_NE(noisy.reason.find("standard errors"), std::string::npos);
  // Small standard errors keep it held.
  EXPECT_EQ(trend_verdict(kTrend, x, {0.1, 0.2, 0.3, 0.4, 0.5}, 1, {0.01, 0.01, 0.01, 0.01, 0.01})
                .outcome,
            Outcome::kHeld);
  // No direction claimed: the statistic without a verdict.
  EXPECT_EQ(trend_verdict(kTrend, x, {0.1, 0.2, 0.3, 0.4, 0.5}, 0).outcome, Outcome::kInconclusive);
}

TEST(TrendVerdict, ReplicatesGiveTheSpread) {
  // Two seeds at each of 3 values of x: 6 points. Replicates agree closely: held.
  const std::vector<double> x = {1, 1, 2, 2, 3, 3};
  EXPECT_EQ(trend_verdict(kTrend, x, {0.10, 0.11, 0.20, 0.21, 0.30, 0.31}, 1).outcome,
            Outcome::kHeld);
  // Replicates disagree more than the trend: sd/sqrt(2) at the ends (0.2 each) puts the change
  // (0.2) inside 2 standard errors, whatever rho says.
  const Verdict spread = trend_verdict(kTrend, x, {0.0, 0.4, 0.3, 0.35, 0.2, 0.6}, 1);
  EXPECT_EQ(spread.outcome, Outcome::kInconclusive);
  EXPECT_NE(spread.result.find("standard error 0.28"), std::string::npos) << spread.result;
}

TEST(MajorityVerdict, HeldNotHeldInconclusive) {
  using O = Outcome;
  EXPECT_EQ(majority_verdict(kMajority, {O::kHeld, O::kHeld, O::kNotHeld}, "layers").outcome,
            O::kHeld);
  EXPECT_EQ(majority_verdict(kMajority, {O::kHeld, O::kNotHeld, O::kNotHeld}, "layers").outcome,
            O::kNotHeld);
  // One held, one not, two inside their uncertainty: no majority either way.
  EXPECT_EQ(majority_verdict(kMajority, {O::kHeld, O::kNotHeld, O::kInconclusive, O::kInconclusive},
                             "layers")
                .outcome,
            O::kInconclusive);
  // Too few units.
  EXPECT_EQ(majority_verdict(kMajority, {O::kHeld, O::kHeld}, "layers").outcome, O::kInconclusive);
}

TEST(EveryVerdict, AtEveryRank) {
  using O = Outcome;
  EXPECT_EQ(every_verdict({O::kHeld, O::kHeld}, "ranks").outcome, O::kHeld);
  EXPECT_EQ(every_verdict({O::kHeld, O::kNotHeld}, "ranks").outcome, O::kNotHeld);
  EXPECT_EQ(every_verdict({O::kHeld, O::kInconclusive}, "ranks").outcome, O::kInconclusive);
  EXPECT_EQ(every_verdict({}, "ranks").outcome, O::kInconclusive);
}

TEST(DifferenceOutcome, OutsideTwoStandardErrors) {
  EXPECT_EQ(difference_outcome(kDifference, 0.1, kNaN), Outcome::kHeld);
  EXPECT_EQ(difference_outcome(kDifference, -0.1, kNaN), Outcome::kNotHeld);
  EXPECT_EQ(difference_outcome(kDifference, 0.1, 0.06), Outcome::kInconclusive);
  EXPECT_EQ(difference_outcome(kDifference, 0.1, 0.04), Outcome::kHeld);
  EXPECT_EQ(difference_outcome(kDifference, -0.1, 0.04), Outcome::kNotHeld);
}

TEST(Describe, StatesStatisticTestAndThreshold) {
  const std::string text = describe(kTrend, 1, "depth");
  EXPECT_NE(text.find("Spearman rho with depth >= 0.8"), std::string::npos) << text;
  EXPECT_NE(text.find("permutation p < 0.05"), std::string::npos) << text;
  EXPECT_NE(describe(kTrend, -1, "epoch").find("<= -0.8"), std::string::npos);
}

}  // namespace
}  // namespace sublens::study::findings
