// Exact column-wise Lasso solver for SSC (see ssc.hpp for the method).
//
// Column i solves  min_c  1/2 c^T G c - b^T c + lambda ||c||_1,  c_i = 0,
// with G = X^T X, b = X^T x_i, lambda = 1 / tau (eq. 2 divided by tau). The gradient of the
// smooth part is X^T (X c - x_i), so the conditions of ssc.hpp read |grad_j| <= lambda off the
// support and grad_j = -lambda sign(c_j) on it.
#include <omp.h>

#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "internal.hpp"
#include "sublens/core/memory.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/core/threads.hpp"

namespace sublens::ssc::detail {
namespace {

// Memory for the N x block gradient matrix of one block of columns.
constexpr std::uint64_t kBlockBudgetBytes = 384ULL << 20;
// Working-set size of a column's first round (largest correlations above lambda).
constexpr Index kInitialWorkingSet = 64;
// Violators added per later round: at least this many, or as many as the working set holds.
constexpr Index kMinAdded = 16;
// Coordinate descent on a working set stops when no coordinate moves the fit by more than this
// (relative to ||x_i||); the exact sign-fixed solve then removes the remaining error.
constexpr double kDescentTolerance = 1e-13;
// Coordinate-descent sweeps after which the exact solve is tried.
constexpr int kSweepsBeforeExact = 4;
constexpr int kMaxSweeps = 20000;

double soft_threshold(double z, double threshold) {
  if (z > threshold) return z - threshold;
  if (z < -threshold) return z + threshold;
  return 0.0;
}

// State of one column during its block's rounds.
struct ColumnState {
  std::vector<Index> work;   // working set (candidate indices, never i)
  Vector coef;               // coefficients on the working set
  Vector target;             // b_W = X_W^T x_i
  Eigen::MatrixXd hessian;   // G_WW = X_W^T X_W
  bool done = false;
  bool converged = false;
  double violation = 0.0;       // largest optimality-condition violation of the current c
  double residual_norm2 = 0.0;  // ||X c - x_i||^2 of the current c
  int rounds = 0;
};

// Objective of the working-set Lasso, 1/2 c^T H c - q^T c + lambda ||c||_1.
double working_objective(const Eigen::MatrixXd& hessian, const Vector& target, double lambda,
                         const Vector& coef) {
  return 0.5 * coef.dot(hessian * coef) - target.dot(coef) + lambda * coef.lpNorm<1>();
}

enum class StepOutcome { kOptimal, kMoved, kFailed };

// One active-set (orthant) step from `coef`, the exact finish of the coordinate descent:
// x = argmin over the orthant of the current signs, i.e. G_SS x = b_S - lambda s_S. If x keeps
// the signs and the conditions hold on the rest of the working set, x is the exact optimum
// (kOptimal). Otherwise move towards x: to x itself when the signs agree, else to the first
// point where a coefficient reaches zero (that coefficient leaves the support). Along this
// segment the objective is a convex quadratic falling towards x, so it never increases
// (kMoved); coordinate descent then brings in new coordinates. kFailed: G_SS is (nearly)
// singular (duplicate or collinear inputs on the support); coordinate descent continues alone.
StepOutcome active_set_step(const Eigen::MatrixXd& hessian, const Vector& target, double lambda,
                            double tolerance, Vector& coef) {
  std::vector<Index> support;
  for (Index k = 0; k < coef.size(); ++k) {
    if (coef[k] != 0.0) support.push_back(k);
  }
  if (support.empty()) return StepOutcome::kFailed;
  const Index s = static_cast<Index>(support.size());
  Eigen::MatrixXd h(s, s);
  Vector rhs(s);
  Vector current(s);
  for (Index a = 0; a < s; ++a) {
    current[a] = coef[support[a]];
    rhs[a] = target[support[a]] - lambda * (current[a] > 0 ? 1.0 : -1.0);
    for (Index c = 0; c < s; ++c) h(a, c) = hessian(support[a], support[c]);
  }
  const Eigen::LLT<Eigen::MatrixXd> llt(h);
  if (llt.info() != Eigen::Success) return StepOutcome::kFailed;
  const Vector solution = llt.solve(rhs);
  // (No residual test: on an ill-conditioned G_SS the step may be inexact, but it is only taken
  // when it lowers the objective, below, and optimality is always checked against all N.)
  if (!solution.allFinite()) return StepOutcome::kFailed;
  // Largest step t in (0, 1] that keeps every sign.
  double step = 1.0;
  Index leaving = -1;
  for (Index a = 0; a < s; ++a) {
    if (solution[a] * current[a] <= 0) {
      const double t = current[a] / (current[a] - solution[a]);
      if (t < step) {
        step = t;
        leaving = a;
      }
    }
  }
  Vector candidate = coef;
  for (Index a = 0; a < s; ++a) {
    double value = current[a] + step * (solution[a] - current[a]);
    if (a == leaving || value * current[a] <= 0) value = 0.0;  // reached zero (or rounding)
    candidate[support[a]] = value;
  }
  if (working_objective(hessian, target, lambda, candidate) >
      working_objective(hessian, target, lambda, coef)) {
    return StepOutcome::kFailed;  // rounding on an ill-conditioned G_SS: keep the CD iterate
  }
  coef = candidate;
  if (leaving >= 0) return StepOutcome::kMoved;
  const Vector gradient = hessian * candidate - target;
  for (Index k = 0; k < coef.size(); ++k) {
    if (candidate[k] == 0.0 && std::abs(gradient[k]) > lambda * (1.0 + tolerance)) {
      return StepOutcome::kMoved;
    }
  }
  return StepOutcome::kOptimal;
}

// Solves the Lasso restricted to the working set, warm-started from `coef`: coordinate descent
// (cheap, finds the signs) interleaved with active-set steps (exact, and fast where coordinate
// descent crawls: ill-conditioned, nearly dense problems).
void solve_working_set(const Eigen::MatrixXd& hessian, const Vector& target, double lambda,
                       double scale, double tolerance, Vector& coef) {
  const Index k = coef.size();
  Vector gradient = hessian * coef - target;
  const double stop = kDescentTolerance * std::max(scale, 1e-300);
  for (int sweep = 1; sweep <= kMaxSweeps; ++sweep) {
    double largest_move = 0.0;
    for (Index j = 0; j < k; ++j) {
      const double h = hessian(j, j);
      if (h <= 0) continue;
      const double updated = soft_threshold(coef[j] - gradient[j] / h, lambda / h);
      const double delta = updated - coef[j];
      if (delta != 0.0) {
        gradient.noalias() += delta * hessian.col(j);
        coef[j] = updated;
        largest_move = std::max(largest_move, std::abs(delta) * std::sqrt(h));
      }
    }
    if (largest_move <= stop) return;
    if (sweep % kSweepsBeforeExact == 0) {
      const StepOutcome outcome = active_set_step(hessian, target, lambda, 0.1 * tolerance, coef);
      if (outcome == StepOutcome::kOptimal) return;
      if (outcome == StepOutcome::kMoved) gradient.noalias() = hessian * coef - target;
    }
  }
}

// R (rank x N) with R^T R = X^T X, by pivoted Cholesky of the Gram matrix (LAPACK dpstrf).
Eigen::MatrixXd reduce(const PaperMatrix& x, int threads) {
  const Index n = x.cols();
  require_memory(2ULL * 8ULL * static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(n),
                 "ssc: the Gram matrix of " + std::to_string(n) + " inputs (d > N reduction)");
  Eigen::MatrixXd gram(n, n);
  {
    ScopedBlasThreads blas(threads);
    gram.noalias() = x.transpose() * x;
  }
  const int size = static_cast<int>(n);
  std::vector<int> pivots(n);
  std::vector<double> work(2 * n);
  int rank = 0;
  int info = 0;
  const double tol = -1.0;  // LAPACK default: N * eps * max diagonal
  {
    ScopedBlasThreads blas(threads);
    dpstrf_("U", &size, gram.data(), &size, pivots.data(), &rank, &tol, work.data(), &info);
  }
  if (info < 0)
    throw std::runtime_error("ssc: dpstrf failed (info = " + std::to_string(info) + ")");
  Eigen::MatrixXd r = Eigen::MatrixXd::Zero(std::max(rank, 1), n);
  // P^T G P = U^T U  =>  G = (U P^T)^T (U P^T): column k of U goes to column pivots[k] - 1.
  for (Index k = 0; k < n; ++k) {
    const Index rows = std::min<Index>(k + 1, rank);
    r.col(pivots[k] - 1).head(rows) = gram.col(k).head(rows);
  }
  return r;
}

}  // namespace

void solve_lasso(const RowMatrix& inputs, double tau, const Options& options, int threads,
                 std::vector<SparseColumn>& columns, Result& result) {
  const Index n = inputs.rows();
  const PaperMatrix original = paper_view(inputs);
  // C depends on X only through X^T X: with d > N, a rank x N factor is exact and smaller.
  Eigen::MatrixXd reduced;
  const bool use_reduced = original.rows() > n && n > 1;
  if (use_reduced) reduced = reduce(original, threads);
  const PaperMatrix x =
      use_reduced ? PaperMatrix(reduced.data(), reduced.rows(), reduced.cols()) : original;
  const Index d = x.rows();
  const double lambda = 1.0 / tau;
  const double tolerance = options.tolerance;

  const Index width = std::min(n, block_width(n, d, kBlockBudgetBytes));
  const std::uint64_t block_bytes =
      8ULL * static_cast<std::uint64_t>(width) * static_cast<std::uint64_t>(n + d);
  require_memory(block_bytes,
                 "ssc: the lasso solver's block of " + std::to_string(width) + " columns");
  Eigen::MatrixXd gradients(n, width);  // X^T (X C_B - X_B) for the active columns of the block
  Eigen::MatrixXd residuals(d, width);  // X C_B - X_B
  std::vector<ColumnState> states(width);
  std::vector<Index> active;
  std::vector<double> squared_norms(n);
  for (Index j = 0; j < n; ++j) squared_norms[j] = x.col(j).squaredNorm();

  Progress progress("ssc lasso", n, options.progress);
  int most_rounds = 0;
  bool all_converged = true;
  double kkt = 0.0;
  double objective = 0.0;
  std::uint64_t state_bytes_peak = 0;

  for (Index start = 0; start < n; start += width) {
    const Index count = std::min(width, n - start);
    for (Index t = 0; t < count; ++t) states[t] = ColumnState{};
    active.resize(count);
    std::iota(active.begin(), active.end(), Index{0});
    // Round 0: the gradient at c = 0 is -b = -X^T x_i (the residual X c - x_i is -x_i).
    {
      ScopedBlasThreads blas(threads);
      gradients.leftCols(count).noalias() = x.transpose() * x.middleCols(start, count);
      gradients.leftCols(count) *= -1.0;
    }
    for (Index t = 0; t < count; ++t) states[t].residual_norm2 = squared_norms[start + t];
    for (int round = 0; !active.empty(); ++round) {
      if (round > 0) {
        {
          ScopedBlasThreads blas(1);
#pragma omp parallel for schedule(static) num_threads(threads)
          for (Index a = 0; a < static_cast<Index>(active.size()); ++a) {
            ColumnState& state = states[active[a]];
            auto r = residuals.col(a);
            r = -x.col(start + active[a]);
            for (std::size_t k = 0; k < state.work.size(); ++k) {
              if (state.coef[k] != 0.0) r.noalias() += state.coef[k] * x.col(state.work[k]);
            }
            state.residual_norm2 = r.squaredNorm();
          }
        }
        ScopedBlasThreads blas(threads);
        gradients.leftCols(active.size()).noalias() =
            x.transpose() * residuals.leftCols(active.size());
      }
      // Check every candidate, extend working sets, re-solve (parallel over columns).
      {
        ScopedBlasThreads blas(1);
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
        for (Index a = 0; a < static_cast<Index>(active.size()); ++a) {
          ColumnState& state = states[active[a]];
          const Index i = start + active[a];
          const auto gradient = gradients.col(a);
          std::vector<Index> violators;
          {
            // Optimality conditions of the current c against all N candidates (g = tau * grad).
            std::vector<char> mark(n, 0);
            for (Index j : state.work) mark[j] = 1;
            mark[i] = 1;
            double worst_inside = 0.0;
            for (std::size_t k = 0; k < state.work.size(); ++k) {
              const double g = tau * gradient[state.work[k]];
              const double c = state.coef[k];
              worst_inside = std::max(
                  worst_inside, c != 0.0 ? std::abs(g + (c > 0 ? 1.0 : -1.0)) : std::abs(g) - 1.0);
            }
            double worst_outside = 0.0;
            for (Index j = 0; j < n; ++j) {
              if (mark[j]) continue;
              const double excess = tau * std::abs(gradient[j]) - 1.0;
              worst_outside = std::max(worst_outside, excess);
              if (excess > tolerance) violators.push_back(j);
            }
            state.rounds = round;
            state.violation = std::max(worst_inside, worst_outside);
            if (state.violation <= tolerance) {
              state.done = true;
              state.converged = true;
              continue;
            }
            if (round >= options.max_iterations) {
              state.done = true;  // not converged; the Result says so
              continue;
            }
          }
          // Largest violations first; ties broken by index (deterministic).
          const Index budget =
              round == 0 ? kInitialWorkingSet
                         : std::max<Index>(kMinAdded, static_cast<Index>(state.work.size()));
          const Index take = std::min<Index>(budget, static_cast<Index>(violators.size()));
          std::partial_sort(violators.begin(), violators.begin() + take, violators.end(),
                            [&](Index p, Index q) {
                              const double gp = std::abs(gradient[p]);
                              const double gq = std::abs(gradient[q]);
                              return gp != gq ? gp > gq : p < q;
                            });
          violators.resize(take);
          std::sort(violators.begin(), violators.end());
          // Extend G_WW and b_W with the new indices.
          const Index old_size = static_cast<Index>(state.work.size());
          const Index new_size = old_size + take;
          Eigen::MatrixXd x_work(x.rows(), new_size);
          for (Index k = 0; k < old_size; ++k) x_work.col(k) = x.col(state.work[k]);
          for (Index k = 0; k < take; ++k) x_work.col(old_size + k) = x.col(violators[k]);
          Eigen::MatrixXd hessian(new_size, new_size);
          hessian.topLeftCorner(old_size, old_size) = state.hessian;
          hessian.rightCols(take).noalias() = x_work.transpose() * x_work.rightCols(take);
          hessian.bottomLeftCorner(take, old_size) =
              hessian.topRightCorner(old_size, take).transpose();
          Vector target(new_size);
          target.head(old_size) = state.target;
          target.tail(take).noalias() = x_work.rightCols(take).transpose() * x.col(i);
          Vector coef = Vector::Zero(new_size);
          coef.head(old_size) = state.coef;
          state.work.insert(state.work.end(), violators.begin(), violators.end());
          state.hessian = std::move(hessian);
          state.target = std::move(target);
          solve_working_set(state.hessian, state.target, lambda, std::sqrt(squared_norms[i]),
                            tolerance, coef);
          state.coef = std::move(coef);
        }
      }
      std::uint64_t state_bytes = 0;
      std::vector<Index> still;
      for (Index t : active) {
        const ColumnState& state = states[t];
        state_bytes +=
            8ULL * static_cast<std::uint64_t>(state.hessian.size() + 2 * state.coef.size());
        if (!state.done) still.push_back(t);
      }
      state_bytes_peak = std::max(state_bytes_peak, state_bytes);
      active.swap(still);
    }
    for (Index t = 0; t < count; ++t) {
      const ColumnState& state = states[t];
      most_rounds = std::max(most_rounds, state.rounds);
      if (!state.converged) all_converged = false;
      kkt = std::max(kkt, state.violation);
      SparseColumn& column = columns[start + t];
      double l1 = 0.0;
      for (std::size_t k = 0; k < state.work.size(); ++k) {
        if (state.coef[k] != 0.0) column.emplace_back(state.work[k], state.coef[k]);
        l1 += std::abs(state.coef[k]);
      }
      objective += l1 + 0.5 * tau * state.residual_norm2;
      std::sort(column.begin(), column.end());
    }
    progress.advance(count);
  }
  progress.finish();
  result.iterations = most_rounds;
  result.converged = all_converged;
  // Both from the last check of every column: g = tau X^T (X c - x_i) by GEMM with the final c.
  result.kkt_violation = kkt;
  result.objective = objective;
  result.peak_memory_bytes = block_bytes + state_bytes_peak +
                             (use_reduced ? 16ULL * static_cast<std::uint64_t>(n) * n : 0ULL);
}

}  // namespace sublens::ssc::detail
