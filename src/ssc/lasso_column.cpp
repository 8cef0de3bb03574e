// One column of the SSC Lasso: its working set, solve, float64 refinement, and what a check
// decides.
#include "lasso_column.hpp"

#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>
#include <utility>

namespace sublens::ssc::detail::lasso {
namespace {

// Iterative refinement of the support's coefficients: at most this many float64 corrections,
// until the support's optimality conditions hold to kRefinedViolation (float64 rounding of
// X_S^T X_S c leaves ~1e-15 |S| ||c||; a float32 factor gains ~6 digits per correction when
// cond(G_SS) ~ 10, fewer when worse, and the column falls back to float64 when it cannot).
constexpr int kMaxRefinements = 6;
constexpr double kRefinedViolation = 1e-13;
// Violators added per later round: at least this many, or as many as the working set holds.
constexpr Index kMinAdded = 16;

}  // namespace

// Adds candidates to W (with their b entries).
void extend(Index i, const std::vector<Index>& added, ColumnState& state) {
  const Index old_size = state.gram.size();
  state.gram.add(added);
  const Index size = state.gram.size();
  state.target.conservativeResize(size);
  for (Index k = old_size; k < size; ++k) state.target[k] = state.gram.dot(state.gram.work()[k], i);
  state.coef.conservativeResize(size);
  state.coef.tail(size - old_size).setZero();
}

// All of the column's working-set data again, in float64.
void make_exact(const Inputs& in, Index i, ColumnState& state) {
  const std::vector<Index> work = state.gram.work();
  state.gram.reset(&in, true);
  state.target.resize(0);
  state.coef.resize(0);
  extend(i, work, state);
}

// x_j^T r in float64.
double exact_score(const Inputs& in, Index j, const Vector& residual) {
  return blas_dot(residual.size(), in.x.col(j).data(), residual.data());
}

namespace {

// r = X_S c - x_i in float64 (daxpy over the support's columns of X, no copy of them).
void support_residual(const Inputs& in, Index i, const std::vector<Index>& columns, const Vector& c,
                      Vector& residual) {
  residual = -in.x.col(i);
  for (std::size_t a = 0; a < columns.size(); ++a) {
    blas_axpy(residual.size(), c[static_cast<Index>(a)], in.x.col(columns[a]).data(),
              residual.data());
  }
}

// Refines the support's coefficients of `coef` in float64 (see the file comment). False when the
// refinement does not converge or the signs change. Each step forms r = X_S c - x_i and the
// misfit of the sign-fixed system, -X_S^T r - lambda s (2 |S| d flops, by BLAS level 1 on the
// columns of X in place).
//  `violation` is set to the support's largest exact condition violation, tau |misfit|, and
//  `residual` to r at the refined c (when true).
bool refine(const Inputs& in, Index i, double lambda, const WorkGram& gram, Vector& coef,
            double& violation, Vector& residual) {
  violation = 0.0;
  const std::vector<Index>& work = gram.work();
  std::vector<Index> support;
  for (Index k = 0; k < coef.size(); ++k) {
    if (coef[k] != 0.0) support.push_back(k);
  }
  const Index s = static_cast<Index>(support.size());
  if (s == 0) {
    residual = -in.x.col(i);
    return true;
  }
  std::vector<Index> columns(support.size());
  Eigen::MatrixXd hs(s, s);
  Vector signs(s);
  Vector c(s);
  for (Index a = 0; a < s; ++a) {
    columns[a] = work[support[a]];
    signs[a] = coef[support[a]] > 0 ? 1.0 : -1.0;
    c[a] = coef[support[a]];
    for (Index b = 0; b < s; ++b) hs(a, b) = gram.entry(support[a], support[b]);
  }
  const Eigen::LLT<Eigen::MatrixXd> llt(hs);
  if (llt.info() != Eigen::Success) return false;
  // Converged when the sign-fixed system holds to kRefinedViolation in units of the optimality
  // conditions (|misfit| / lambda): the support's conditions then hold to that.
  bool converged = false;
  Vector misfit(s);
  for (int step = 0; step <= kMaxRefinements; ++step) {
    support_residual(in, i, columns, c, residual);
    for (Index a = 0; a < s; ++a) {
      misfit[a] = -blas_dot(residual.size(), in.x.col(columns[a]).data(), residual.data()) -
                  lambda * signs[a];
    }
    violation = misfit.lpNorm<Eigen::Infinity>() / lambda;
    converged = violation <= kRefinedViolation;
    if (converged || step == kMaxRefinements) break;
    const Vector correction = llt.solve(misfit);
    if (!correction.allFinite()) return false;
    c += correction;
  }
  if (!converged) return false;
  for (Index a = 0; a < s; ++a) {
    if (c[a] * signs[a] <= 0) return false;
    coef[support[a]] = c[a];
  }
  return true;
}

}  // namespace

// Solves the working-set Lasso of column i and sets its coefficients and residual.
void solve_column(const Inputs& in, Index i, double lambda, ColumnState& state) {
  state.coef = lasso_path(state.gram, state.target, lambda).coef;
  if (refine(in, i, lambda, state.gram, state.coef, state.support_violation, state.residual)) {
    return;
  }
  if (!state.gram.exact()) {
    make_exact(in, i, state);
    state.coef = lasso_path(state.gram, state.target, lambda).coef;
    if (refine(in, i, lambda, state.gram, state.coef, state.support_violation, state.residual)) {
      return;
    }
  }
  // float64 could not refine (a singular support): keep the path's c; measure it directly.
  std::vector<Index> columns;
  Vector c(state.coef.size());
  for (Index k = 0; k < state.coef.size(); ++k) {
    if (state.coef[k] == 0.0) continue;
    c[static_cast<Index>(columns.size())] = state.coef[k];
    columns.push_back(state.gram.work()[k]);
  }
  support_residual(in, i, columns, c, state.residual);
  state.support_violation = 0.0;
  const double tau = 1.0 / lambda;
  for (std::size_t a = 0; a < columns.size(); ++a) {
    const double g = tau * exact_score(in, columns[a], state.residual);
    const double sign = c[static_cast<Index>(a)] > 0 ? 1.0 : -1.0;
    state.support_violation = std::max(state.support_violation, std::abs(g + sign));
  }
}

namespace {

// Keeps the strongest violators (as many as the working set holds, at least kMinAdded), sorted.
std::vector<Index> strongest(const Screen& screen, Index working_set) {
  std::vector<Index> order(screen.violators.size());
  std::iota(order.begin(), order.end(), Index{0});
  const Index take =
      std::min<Index>(std::max(kMinAdded, working_set), static_cast<Index>(order.size()));
  std::partial_sort(order.begin(), order.begin() + take, order.end(), [&](Index p, Index q) {
    return screen.strength[p] != screen.strength[q] ? screen.strength[p] > screen.strength[q]
                                                    : screen.violators[p] < screen.violators[q];
  });
  std::vector<Index> chosen;
  for (Index k = 0; k < take; ++k) chosen.push_back(screen.violators[order[k]]);
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

}  // namespace

void act(const Inputs& in, Index i, const Screen& found, double tau, const Options& options,
         int round, ColumnState& state) {
  state.rounds = round;
  state.violation = found.violation;
  const bool settled = found.violators.empty() && (!found.inside_violated || state.gram.exact());
  if (settled || round >= options.max_iterations) {
    state.done = true;
    state.converged = state.violation <= options.tolerance;
    state.gram.release();
    return;
  }
  if (found.inside_violated && !state.gram.exact()) make_exact(in, i, state);
  if (!found.violators.empty()) extend(i, strongest(found, state.gram.size()), state);
  solve_column(in, i, 1.0 / tau, state);
}

void collect(const std::vector<ColumnState>& states, std::span<const Index> columns, double tau,
             std::vector<ColumnOutcome>& outcomes) {
  for (Index t = 0; t < static_cast<Index>(states.size()); ++t) {
    const ColumnState& state = states[t];
    ColumnOutcome& out = outcomes[columns[t]];
    double l1 = 0.0;
    for (std::size_t k = 0; k < state.gram.work().size(); ++k) {
      if (state.coef[k] != 0.0) out.entries.emplace_back(state.gram.work()[k], state.coef[k]);
      l1 += std::abs(state.coef[k]);
    }
    std::sort(out.entries.begin(), out.entries.end());
    out.objective = l1 + 0.5 * tau * state.residual.squaredNorm();
    out.violation = state.violation;
    out.rounds = state.rounds;
    out.converged = state.converged;
    out.solved = true;
  }
}

}  // namespace sublens::ssc::detail::lasso
