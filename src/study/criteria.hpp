// The rules that turn a finding's numbers into a verdict: held, not held or inconclusive. Every
// finding of findings.cpp decides through one of these criteria, whose thresholds live here (and
// nowhere else) and whose text the report prints beside each verdict.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace sublens::study::findings {

enum class Outcome { kHeld, kNotHeld, kInconclusive };

// An outcome with the numbers behind it ("rho 0.94, one-sided exact permutation p 0.008, n 6")
// and, unless held, why ("3 points: an exact permutation test cannot reach p < 0.05").
struct Verdict {
  Outcome outcome = Outcome::kInconclusive;
  std::string result;
  std::string reason;
};

// A monotone trend in the paper's direction: Spearman rho of y with x (replicates pooled as
// points with the same x) and a one-sided permutation p-value (exact up to kExactPoints points).
struct TrendCriterion {
  double min_rho;          // held: sign * rho >= min_rho ...
  double alpha;            // ... and p < alpha ...
  std::size_t min_points;  // ... over at least this many points (3 points: the smallest exact p
                           // is 1/3! = 0.167, so fewer than 4 can never reach p < 0.05)
  double se_factor;        // ... and the change from the smallest to the largest x exceeds
                           // se_factor standard errors, where replicates or a bootstrap give one
};
// Most units (layers, variants, inputs) show the effect: held when more than half do, not held
// when more than half do not (inconclusive units counted as showing it), inconclusive otherwise.
struct MajorityCriterion {
  std::size_t min_units;
};
// A difference that counts only outside se_factor standard errors (when one is known).
struct DifferenceCriterion {
  double se_factor;
};

inline constexpr TrendCriterion kTrend{0.8, 0.05, 4, 2.0};
inline constexpr MajorityCriterion kMajority{3};
inline constexpr DifferenceCriterion kDifference{2.0};
// Up to this many points the permutation test enumerates every permutation (8! = 40320); above,
// kRandomPermutations random permutations from a fixed seed give p = (hits + 1) / (draws + 1).
inline constexpr std::size_t kExactPoints = 8;
inline constexpr int kRandomPermutations = 20000;

// One-sided p-value of Spearman's rho of y with x in direction `sign` (+1: rising, -1: falling):
// the share of orderings of y whose sign * rho is at least the observed one. Pairs with a
// non-finite value are dropped; NaN for fewer than 2 points.
double spearman_permutation_p(const std::vector<double>& x, const std::vector<double>& y, int sign);

// `se`: per-point standard errors (empty or NaN where unknown).
Verdict trend_verdict(const TrendCriterion& criterion, const std::vector<double>& x,
                      const std::vector<double>& y, int sign, const std::vector<double>& se = {});
Verdict majority_verdict(const MajorityCriterion& criterion, const std::vector<Outcome>& units,
                         const std::string& unit_name);
// Held only when every unit holds ("at every rank"); not held when any unit is not held.
Verdict every_verdict(const std::vector<Outcome>& units, const std::string& unit_name);
// A difference's sign as an outcome: held when it is > 0, not held when < 0 (<= 0 when its
// standard error is unknown), inconclusive inside se_factor standard errors.
Outcome difference_outcome(const DifferenceCriterion& criterion, double difference, double se);

// The criteria in words, for the report.
std::string describe(const TrendCriterion& criterion, int sign, const std::string& x_name);
std::string describe(const MajorityCriterion& criterion, const std::string& unit_name,
                     const std::string& unit_rule);
std::string describe_every(const std::string& unit_name, const std::string& unit_rule);

const char* outcome_name(Outcome outcome);

}  // namespace sublens::study::findings
