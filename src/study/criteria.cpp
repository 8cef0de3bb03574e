// Verdicts from numbers: the permutation test, the trend, majority and every-unit rules. See
// criteria.hpp.
#include "criteria.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "internal.hpp"
#include "sublens/report/report.hpp"

namespace sublens::study::findings {
namespace {

using detail::format;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Points {
  std::vector<double> x, y, se;
};

Points finite_points(const std::vector<double>& x, const std::vector<double>& y,
                     const std::vector<double>& se) {
  Points points;
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) continue;
    points.x.push_back(x[i]);
    points.y.push_back(y[i]);
    points.se.push_back(i < se.size() ? se[i] : kNaN);
  }
  return points;
}

double factorial(std::size_t n) {
  double f = 1;
  for (std::size_t k = 2; k <= n; ++k) f *= static_cast<double>(k);
  return f;
}

// Mean and standard error of the points at x == at: the per-point errors combined when all are
// known, else the spread of the points (sd / sqrt(k)) when there are replicates, else NaN.
std::pair<double, double> mean_and_se_at(const Points& p, double at) {
  double sum = 0, var_sum = 0;
  std::vector<double> values;
  bool all_se = true;
  for (std::size_t i = 0; i < p.x.size(); ++i) {
    if (p.x[i] != at) continue;
    values.push_back(p.y[i]);
    sum += p.y[i];
    all_se = all_se && std::isfinite(p.se[i]);
    if (std::isfinite(p.se[i])) var_sum += p.se[i] * p.se[i];
  }
  const auto k = static_cast<double>(values.size());
  const double mean = sum / k;
  if (all_se) return {mean, std::sqrt(var_sum) / k};
  if (values.size() < 2) return {mean, kNaN};
  double ss = 0;
  for (double v : values) ss += (v - mean) * (v - mean);
  return {mean, std::sqrt(ss / (k - 1)) / std::sqrt(k)};
}

std::string count_text(std::size_t n, const std::string& unit) {
  return std::to_string(n) + " " + unit;
}

}  // namespace

const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::kHeld:
      return "held";
    case Outcome::kNotHeld:
      return "not held";
    case Outcome::kInconclusive:
      break;
  }
  return "inconclusive";
}

double spearman_permutation_p(const std::vector<double>& x_all, const std::vector<double>& y_all,
                              int sign) {
  const Points p = finite_points(x_all, y_all, {});
  const std::size_t n = p.x.size();
  const double observed = sign * report::spearman(p.x, p.y);
  if (n < 2 || !std::isfinite(observed)) return kNaN;
  // Ties give the same rho through different orderings: compare with a tolerance.
  const auto at_least = [&](const std::vector<double>& y) {
    return sign * report::spearman(p.x, y) >= observed - 1e-12;
  };
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::vector<double> y(n);
  const auto permuted = [&]() -> const std::vector<double>& {
    for (std::size_t i = 0; i < n; ++i) y[i] = p.y[order[i]];
    return y;
  };
  if (n <= kExactPoints) {
    double hits = 0;
    do {
      hits += at_least(permuted());
    } while (std::next_permutation(order.begin(), order.end()));
    return hits / factorial(n);
  }
  std::mt19937_64 random(0);
  double hits = 0;
  for (int draw = 0; draw < kRandomPermutations; ++draw) {
    std::shuffle(order.begin(), order.end(), random);
    hits += at_least(permuted());
  }
  return (hits + 1) / (kRandomPermutations + 1);
}

Verdict trend_verdict(const TrendCriterion& c, const std::vector<double>& x,
                      const std::vector<double>& y, int sign, const std::vector<double>& se) {
  const Points p = finite_points(x, y, se);
  const std::size_t n = p.x.size();
  Verdict verdict;
  if (n < c.min_points) {
    verdict.result = count_text(n, "points");
    verdict.reason =
        count_text(n, "points") +
        format(": the smallest exact permutation p is %.3g", n < 2 ? 1.0 : 1.0 / factorial(n)) +
        "; fewer than " + std::to_string(c.min_points) +
        format(" points cannot reach p < %.2g", c.alpha);
    return verdict;
  }
  const double rho = report::spearman(p.x, p.y);
  if (!std::isfinite(rho)) {
    verdict.result = count_text(n, "points");
    verdict.reason = "no variation to rank (every x or every value equal)";
    return verdict;
  }
  const double pvalue = spearman_permutation_p(p.x, p.y, sign == 0 ? 1 : sign);
  verdict.result = format("Spearman rho %.3f", rho) +
                   format(", one-sided permutation p %.3g", pvalue) + ", n " + std::to_string(n);
  const auto [x_lo, x_hi] = std::minmax_element(p.x.begin(), p.x.end());
  const auto [lo, lo_se] = mean_and_se_at(p, *x_lo);
  const auto [hi, hi_se] = mean_and_se_at(p, *x_hi);
  const double change_se = std::sqrt(lo_se * lo_se + hi_se * hi_se);
  const bool inside = std::isfinite(change_se) && std::abs(hi - lo) < c.se_factor * change_se;
  if (std::isfinite(change_se)) {
    verdict.result +=
        format(", change %.3g", hi - lo) + format(" (standard error %.2g)", change_se);
  }
  if (sign == 0) {
    verdict.reason = "the paper claims no direction: the statistic without a verdict";
  } else if (inside) {
    verdict.reason = format("the change is within %.0f standard errors", c.se_factor);
  } else if (sign * rho >= c.min_rho && pvalue < c.alpha) {
    verdict.outcome = Outcome::kHeld;
  } else if (sign * rho <= 0) {
    verdict.outcome = Outcome::kNotHeld;
    verdict.reason = "no trend in the paper's direction";
  } else {
    verdict.reason = format("a trend in the paper's direction, weaker than rho %.1f", c.min_rho) +
                     format(" with p < %.2g", c.alpha);
  }
  return verdict;
}

Verdict majority_verdict(const MajorityCriterion& c, const std::vector<Outcome>& units,
                         const std::string& unit_name) {
  const auto count = [&](Outcome o) {
    return static_cast<std::size_t>(std::count(units.begin(), units.end(), o));
  };
  const std::size_t held = count(Outcome::kHeld), not_held = count(Outcome::kNotHeld);
  const std::size_t n = units.size();
  Verdict verdict;
  verdict.result = std::to_string(held) + " of " + count_text(n, unit_name) + " held, " +
                   std::to_string(not_held) + " not held, " + std::to_string(n - held - not_held) +
                   " inconclusive";
  if (n < c.min_units) {
    verdict.reason = "fewer than " + count_text(c.min_units, unit_name);
  } else if (2 * held > n) {
    verdict.outcome = Outcome::kHeld;
  } else if (2 * not_held >= n) {
    verdict.outcome = Outcome::kNotHeld;
    verdict.reason = "at most half the " + unit_name + " could show it";
  } else {
    verdict.reason = "too many inconclusive " + unit_name + " for a majority either way";
  }
  return verdict;
}

Verdict every_verdict(const std::vector<Outcome>& units, const std::string& unit_name) {
  const auto count = [&](Outcome o) {
    return static_cast<std::size_t>(std::count(units.begin(), units.end(), o));
  };
  Verdict verdict;
  verdict.result = std::to_string(count(Outcome::kHeld)) + " of " +
                   count_text(units.size(), unit_name) + " held, " +
                   std::to_string(count(Outcome::kNotHeld)) + " not held";
  if (units.empty()) {
    verdict.reason = "no " + unit_name;
  } else if (count(Outcome::kNotHeld) > 0) {
    verdict.outcome = Outcome::kNotHeld;
    verdict.reason = "not held at every one of the " + unit_name;
  } else if (count(Outcome::kHeld) == units.size()) {
    verdict.outcome = Outcome::kHeld;
  } else {
    verdict.reason = "inconclusive at some of the " + unit_name;
  }
  return verdict;
}

Outcome difference_outcome(const DifferenceCriterion& c, double difference, double se) {
  if (!std::isfinite(difference)) return Outcome::kInconclusive;
  if (std::isfinite(se) && std::abs(difference) < c.se_factor * se) return Outcome::kInconclusive;
  return difference > 0 ? Outcome::kHeld : Outcome::kNotHeld;
}

std::string describe(const TrendCriterion& c, int sign, const std::string& x_name) {
  if (sign == 0) return "no verdict: the paper shows this without claiming a direction";
  return std::string("held when Spearman rho with ") + x_name + (sign > 0 ? " >= " : " <= ") +
         format(sign > 0 ? "%.1f" : "-%.1f", c.min_rho) +
         format(" and a one-sided permutation p < %.2g", c.alpha) +
         " (replicates pooled; >= " + std::to_string(c.min_points) +
         " points) and the change from the smallest to the largest " + x_name +
         format(" exceeds %.0f standard errors where replicates or a bootstrap give one",
                c.se_factor) +
         "; not held when rho has the opposite sign or is 0; inconclusive otherwise";
}

std::string describe(const MajorityCriterion& c, const std::string& unit_name,
                     const std::string& unit_rule) {
  return "held when more than half the " + unit_name + " hold (" + unit_rule +
         "); not held when at least half do not; inconclusive otherwise or with fewer than " +
         count_text(c.min_units, unit_name);
}

std::string describe_every(const std::string& unit_name, const std::string& unit_rule) {
  return "held only when it holds at every one of the " + unit_name + " (" + unit_rule +
         "); not held when it fails at any; inconclusive otherwise";
}

}  // namespace sublens::study::findings
