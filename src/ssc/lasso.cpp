// Exact column-wise Lasso solver for SSC (see ssc.hpp for the method).
//
// Column i solves  min_c  1/2 c^T G c - b^T c + lambda ||c||_1,  c_i = 0,
// with G = X^T X, b = X^T x_i, lambda = 1 / tau (eq. 2 divided by tau). The gradient of the
// smooth part is X^T (X c - x_i), so the conditions of ssc.hpp read |grad_j| <= lambda off the
// support and grad_j = -lambda sign(c_j) on it.
//
// Each column: a working set W (first the 32 largest correlations |b_j|), its Lasso solved
// exactly by the homotopy path (homotopy.cpp), then the optimality conditions checked against all
// N candidates; violators join W until none is left. The checks take one of two routes:
//  - Gram route (when the float32 Gram matrix fits Options::max_gram_bytes and half the free
//    memory): G = X^T X once by SSYRK; a column's scores G c - b read |S| + 1 columns of G.
//  - Pass route (larger N): by blocks of columns, one GEMM X^T X_B gives b, and each round one
//    GEMM X^T R checks the block's residuals; after a small change of a residual, the previous
//    scores and a Cauchy-Schwarz bound on the change certify most candidates without a new pass.
//
// Mixed precision, exact answer (N >= kMixedPrecisionMinInputs). Scores and working-set Gram
// entries are float32: twice the speed of float64 and half the memory traffic. Nothing decided
// from a float32 number is taken on trust:
//  - The support's coefficients are refined in float64 against X itself (iterative refinement:
//    each step costs 2 |S| d flops, not |S|^2 d), so c is the float64 solution of the sign-fixed
//    system. When refinement does not converge or a sign flips (an ill-conditioned support, or a
//    tie the float32 path decided wrongly), the column is solved again from float64 entries.
//  - A float32 score x_j^T r differs from the exact one by at most
//    kScoreBoundSafety (d + 2) u ||x_j|| ||r||, u = 2^-24 (Higham, "Accuracy and Stability of
//    Numerical Algorithms", 2nd ed., eq. 3.5, plus the roundings of x_j and r to float32; the
//    Gram route adds the rounding of its sum, see solve_column_with_gram). Every candidate whose
//    float32 score is within that bound of the threshold is checked again in float64 (d flops
//    each); the others are certified by the bound. The reported violation is the largest exact
//    float64 violation.
// Small problems are solved in float64 throughout (the pass route, float64 GEMMs).
#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "internal.hpp"
#include "sublens/core/memory.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/core/threads.hpp"

namespace sublens::ssc::detail {
namespace {

// Memory for the N x block score matrix of one block of columns.
constexpr std::uint64_t kBlockBudgetBytes = 256ULL << 20;
// Working-set size of a column's first round (largest correlations). Measured on Fashion-MNIST
// (N = 5000, tau = 10): 24-96 all take 2.1-2.5 solves per column; 32 is the cheapest.
constexpr Index kInitialWorkingSet = 32;
// Violators added per later round: at least this many, or as many as the working set holds.
constexpr Index kMinAdded = 16;
// See the file comment: the float32 score bound in units of (d + 2) u ||x_j|| ||r||.
constexpr double kScoreBoundSafety = 2.0;
constexpr double kFloatUnitRoundoff = 0x1p-24;
// Candidates violating their condition by more than this (or `tolerance`, if smaller) join the
// working set even when the column is already within `tolerance`: the answer is kept as tight as
// float64 allows, not merely within tolerance.
constexpr double kTightViolation = 1e-12;
// Iterative refinement of the support's coefficients: at most this many float64 corrections,
// until the support's optimality conditions hold to kRefinedViolation (float64 rounding of
// X_S^T X_S c leaves ~1e-15 |S| ||c||; a float32 factor gains ~6 digits per correction when
// cond(G_SS) ~ 10, fewer when worse, and the column falls back to float64 when it cannot).
constexpr int kMaxRefinements = 6;
constexpr double kRefinedViolation = 1e-13;
// A check whose bounds leave more than kIncrementalMin + N / kIncrementalShare candidates to
// check in float64 (d flops each) makes a new pass instead (2 d N flops at GEMM speed, ~50x
// faster per flop than the single checks).
constexpr Index kIncrementalMin = 16;
constexpr Index kIncrementalShare = 16;
// Below this many inputs every column is solved in float64 from the start (the float32 passes
// save little, and a fallback costs as much as doing it exactly).
constexpr Index kMixedPrecisionMinInputs = 1024;

// The inputs as the solver sees them.
struct Inputs {
  PaperMatrix x;         // float64, d x N
  Eigen::MatrixXf x32;   // float32 copy (empty when !mixed)
  Eigen::MatrixXf gram;  // float32 X^T X, N x N, when it fits the memory budget (else empty)
  Vector norms;          // ||x_j||
  double score_unit = 0.0;
  bool mixed = false;
};

// W and the columns of G_WW the path asked for, in float32 (x32) or float64 (`exact`).
class WorkGram final : public GramColumns {
 public:
  void reset(const Inputs* in, bool exact) {
    in_ = in;
    exact_ = exact;
    work_.clear();
    columns_.clear();
  }
  bool exact() const { return exact_; }
  const std::vector<Index>& work() const { return work_; }
  Index size() const override { return static_cast<Index>(work_.size()); }
  double diagonal(Index k) override { return dot(work_[k], work_[k]); }
  const Vector& column(Index k) override {
    Vector& column = columns_[k];
    const Index have = column.size();
    if (have < size()) {
      column.conservativeResize(size());
      for (Index r = have; r < size(); ++r) column[r] = dot(work_[r], work_[k]);
    }
    return column;
  }
  // G(w_a, w_b), from a stored column when there is one.
  double entry(Index a, Index b) const {
    return columns_[b].size() > a ? columns_[b][a] : dot(work_[a], work_[b]);
  }
  // Frees the stored columns (the column is done; W stays).
  void release() { std::vector<Vector>().swap(columns_); }
  void add(const std::vector<Index>& added) {
    work_.insert(work_.end(), added.begin(), added.end());
    columns_.resize(work_.size());
  }
  double dot(Index a, Index b) const {
    const Index d = in_->x.rows();
    if (exact_) return blas_dot(d, in_->x.col(a).data(), in_->x.col(b).data());
    if (in_->gram.size() > 0) return static_cast<double>(in_->gram(a, b));
    return blas_dot(d, in_->x32.col(a).data(), in_->x32.col(b).data());
  }
  std::uint64_t bytes() const {
    std::uint64_t total = 0;
    for (const auto& column : columns_) total += 8ULL * static_cast<std::uint64_t>(column.size());
    return total;
  }

 private:
  const Inputs* in_ = nullptr;
  bool exact_ = false;
  std::vector<Index> work_;      // the working set W (candidate indices, never i)
  std::vector<Vector> columns_;  // columns_[k] = G(W, w_k) as far as computed (may be empty)
};

// One column's state during its block's rounds.
struct ColumnState {
  WorkGram gram;         // W and G_WW
  Vector target;         // b_W in the precision of `gram`
  Vector coef;           // c on W, float64-refined
  Vector residual;       // X c - x_i, float64
  Vector base_residual;  // the residual whose scores X^T r the block holds for this column
  double support_violation = 0.0;  // largest violation of the support's conditions (exact)
  bool done = false;
  bool converged = false;
  double violation = 0.0;
  int rounds = 0;
};

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

// Refines the support's coefficients of `coef` in float64 (see the file comment). False when the
// refinement does not converge or the signs change.
//  `violation` is set to the support's largest exact condition violation, tau |misfit|.
bool refine(const Inputs& in, Index i, double lambda, const WorkGram& gram, Vector& coef,
            double& violation) {
  violation = 0.0;
  const std::vector<Index>& work = gram.work();
  std::vector<Index> support;
  for (Index k = 0; k < coef.size(); ++k) {
    if (coef[k] != 0.0) support.push_back(k);
  }
  if (support.empty()) return true;
  const Index s = static_cast<Index>(support.size());
  Eigen::MatrixXd xs(in.x.rows(), s);
  Eigen::MatrixXd hs(s, s);
  Vector signs(s);
  Vector c(s);
  for (Index a = 0; a < s; ++a) {
    xs.col(a) = in.x.col(work[support[a]]);
    signs[a] = coef[support[a]] > 0 ? 1.0 : -1.0;
    c[a] = coef[support[a]];
    for (Index b = 0; b < s; ++b) hs(a, b) = gram.entry(support[a], support[b]);
  }
  const Eigen::LLT<Eigen::MatrixXd> llt(hs);
  if (llt.info() != Eigen::Success) return false;
  const Vector rhs = xs.transpose() * in.x.col(i) - lambda * signs;
  // Converged when the sign-fixed system holds to kRefinedViolation in units of the optimality
  // conditions (|residual| / lambda): the support's conditions then hold to that.
  bool converged = false;
  for (int step = 0; step <= kMaxRefinements; ++step) {
    const Vector misfit = rhs - xs.transpose() * (xs * c);
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

// Solves the working-set Lasso of column i and sets its coefficients and residual.
void solve_column(const Inputs& in, Index i, double lambda, ColumnState& state) {
  state.coef = lasso_path(state.gram, state.target, lambda).coef;
  if (!refine(in, i, lambda, state.gram, state.coef, state.support_violation) &&
      !state.gram.exact()) {
    make_exact(in, i, state);
    state.coef = lasso_path(state.gram, state.target, lambda).coef;
    if (!refine(in, i, lambda, state.gram, state.coef, state.support_violation)) {
      // float64 could not refine (a singular support): keep the path's c; measure it directly.
      state.support_violation = -1.0;
    }
  }
  state.residual = -in.x.col(i);
  for (Index k = 0; k < state.coef.size(); ++k) {
    if (state.coef[k] != 0.0) {
      state.residual.noalias() += state.coef[k] * in.x.col(state.gram.work()[k]);
    }
  }
  if (state.support_violation < 0.0) {
    state.support_violation = 0.0;
    const double tau = 1.0 / lambda;
    for (Index k = 0; k < state.coef.size(); ++k) {
      const double c = state.coef[k];
      if (c == 0.0) continue;
      const double g = tau * exact_score(in, state.gram.work()[k], state.residual);
      state.support_violation = std::max(state.support_violation, std::abs(g + (c > 0 ? 1 : -1)));
    }
  }
}

// The first working set: the largest |b_j| (ties by index, so it is deterministic).
template <typename Scores>
std::vector<Index> initial_work(const Scores& scores, Index i) {
  const Index n = scores.size();
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index{0});
  order.erase(order.begin() + i);
  const Index take = std::min<Index>(kInitialWorkingSet, static_cast<Index>(order.size()));
  std::partial_sort(order.begin(), order.begin() + take, order.end(), [&](Index p, Index q) {
    const double sp = std::abs(static_cast<double>(scores[p]));
    const double sq = std::abs(static_cast<double>(scores[q]));
    return sp != sq ? sp > sq : p < q;
  });
  order.resize(take);
  std::sort(order.begin(), order.end());
  return order;
}

// What one check of column i against all N candidates found.
struct Screen {
  bool needs_pass = false;       // too many candidates uncertain: scores need a new pass
  double violation = 0.0;        // largest exact violation (0 when none)
  std::vector<Index> violators;  // outside W, violating by more than the add threshold
  std::vector<double> strength;  // their exact |g_j|
  bool inside_violated = false;  // a working-set member off the support violates
};

// Checks the conditions of column i at its current c from the scores X^T r_base of its last
// pass (float32 or float64). The current score of candidate j is within
//   (score unit ||r_base|| + ||r - r_base||) ||x_j||
// of the stored one (rounding, plus the change of the residual since, by Cauchy-Schwarz);
// candidates that bound leaves uncertain are checked exactly in float64. With more than `limit`
// of them a new pass is cheaper: `needs_pass` is set and nothing else is done.
// `mark` (size N, all zero between calls) is scratch space.
template <typename Scores>
Screen screen(const Inputs& in, Index i, const Scores& scores, double tau, double add_threshold,
              Index limit, double margin_unit, const ColumnState& state, std::vector<Index>& mark) {
  Screen out;
  const bool stored_exact = margin_unit == 0.0;  // float64 scores of the current residual
  // The bound test over all N (a tight loop: most candidates pass it), then i and the support
  // (whose conditions are checked exactly below) are taken out.
  std::vector<Index> uncertain;
  const auto* stored = scores.data();
  const double* norms = in.norms.data();
  for (Index j = 0; j < scores.size(); ++j) {
    if (tau * std::abs(static_cast<double>(stored[j])) + margin_unit * norms[j] > 1.0) {
      uncertain.push_back(j);
    }
  }
  const std::vector<Index>& work = state.gram.work();
  for (Index k = 0; k < static_cast<Index>(work.size()); ++k) {
    if (state.coef[k] != 0.0) mark[work[k]] = 1;
  }
  mark[i] = 1;
  std::erase_if(uncertain, [&](Index j) { return mark[j] != 0; });
  for (Index j : work) mark[j] = 0;
  mark[i] = 0;
  if (!stored_exact && static_cast<Index>(uncertain.size()) > limit) {
    out.needs_pass = true;
    return out;
  }
  out.violation = state.support_violation;
  // A float32 score of the current residual first (half the memory traffic of float64, and only
  // its rounding to bound), then float64 for what that leaves uncertain.
  Eigen::VectorXf residual32;
  if (in.mixed) residual32 = state.residual.cast<float>();
  const double rounding_unit = tau * in.score_unit * state.residual.norm();
  for (Index j : uncertain) {
    double g = 0.0;
    if (stored_exact) {
      g = tau * std::abs(static_cast<double>(scores[j]));
    } else {
      if (in.mixed) {
        const double rough =
            tau * std::abs(blas_dot(residual32.size(), in.x32.col(j).data(), residual32.data()));
        if (rough - 1.0 + rounding_unit * in.norms[j] <= 0.0) continue;
      }
      g = tau * std::abs(exact_score(in, j, state.residual));
    }
    const double excess = g - 1.0;
    out.violation = std::max(out.violation, excess);
    if (excess <= add_threshold) continue;
    if (std::find(work.begin(), work.end(), j) != work.end()) {
      out.inside_violated = true;
    } else {
      out.violators.push_back(j);
      out.strength.push_back(g);
    }
  }
  return out;
}

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

void act(const Inputs& in, Index i, const Screen& found, double tau, const Options& options,
         int round, ColumnState& state);

// One column after a check: done, or its working set extended (or made exact) and re-solved.
// False when the check needs a new pass of scores first (never right after one: `fresh`).
template <typename Scores>
bool advance(const Inputs& in, Index i, const Scores& scores, double tau, const Options& options,
             int round, bool fresh, ColumnState& state, std::vector<Index>& mark) {
  const double add_threshold = std::min(options.tolerance, kTightViolation);
  const Index limit = fresh ? scores.size() : kIncrementalMin + scores.size() / kIncrementalShare;
  const double drift = (state.residual - state.base_residual).norm();
  const double margin_unit = tau * (in.score_unit * state.base_residual.norm() + drift);
  const Screen found = screen(in, i, scores, tau, add_threshold, limit, margin_unit, state, mark);
  if (found.needs_pass) return false;
  act(in, i, found, tau, options, round, state);
  return true;
}

// What a check found decides: the column is done, or its working set is extended (or made exact)
// and solved again.
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

template <typename Scalar>
using Dense = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

struct BlockTotals {
  int most_rounds = 0;
  bool all_converged = true;
  double kkt = 0.0;
  double objective = 0.0;
  std::uint64_t state_bytes_peak = 0;
  int passes = 0;  // passes over all N candidates (GEMMs of the whole block's width)
};

// Work space of one block: the last scores of each column, and the GEMM operands of a pass.
template <typename Scalar>
struct BlockSpace {
  Dense<Scalar> scores;     // N x width: X^T r_base of each column
  Dense<Scalar> fresh;      // N x width: a pass's result before it is stored
  Dense<Scalar> residuals;  // d x width
};

// Adds a finished block's columns to C and to the totals.
void collect(const std::vector<ColumnState>& states, Index start, double tau,
             std::vector<SparseColumn>& columns, BlockTotals& totals) {
  for (Index t = 0; t < static_cast<Index>(states.size()); ++t) {
    const ColumnState& state = states[t];
    totals.most_rounds = std::max(totals.most_rounds, state.rounds);
    totals.all_converged = totals.all_converged && state.converged;
    totals.kkt = std::max(totals.kkt, state.violation);
    SparseColumn& column = columns[start + t];
    double l1 = 0.0;
    for (std::size_t k = 0; k < state.gram.work().size(); ++k) {
      if (state.coef[k] != 0.0) column.emplace_back(state.gram.work()[k], state.coef[k]);
      l1 += std::abs(state.coef[k]);
    }
    totals.objective += l1 + 0.5 * tau * state.residual.squaredNorm();
    std::sort(column.begin(), column.end());
  }
}

template <typename Scalar>
decltype(auto) data_of(const Inputs& in) {
  if constexpr (std::is_same_v<Scalar, float>) {
    return (in.x32);
  } else {
    return (in.x);
  }
}

// New scores X^T r for the block's columns `which` (a pass over all N candidates).
template <typename Scalar>
void score_pass(const Inputs& in, const std::vector<Index>& which, int threads,
                std::vector<ColumnState>& states, BlockSpace<Scalar>& space) {
  const Index m = static_cast<Index>(which.size());
  if (m == 0) return;
  for (Index a = 0; a < m; ++a) {
    space.residuals.col(a) = states[which[a]].residual.template cast<Scalar>();
  }
  {
    ScopedBlasThreads blas(threads);
    space.fresh.leftCols(m).noalias() =
        data_of<Scalar>(in).transpose() * space.residuals.leftCols(m);
  }
  for (Index a = 0; a < m; ++a) {
    space.scores.col(which[a]) = space.fresh.col(a);
    states[which[a]].base_residual = states[which[a]].residual;
  }
}

// Checks (and re-solves) every active column once; returns the columns that need a pass first.
template <typename Scalar>
std::vector<Index> check_round(const Inputs& in, Index start, const std::vector<Index>& active,
                               double tau, const Options& options, int threads, int round,
                               bool fresh, std::vector<ColumnState>& states,
                               BlockSpace<Scalar>& space) {
  const Index n = in.x.cols();
  std::vector<char> wants(active.size(), 0);
  ScopedBlasThreads blas(1);
#pragma omp parallel num_threads(threads)
  {
    std::vector<Index> mark(n, 0);
#pragma omp for schedule(dynamic, 4)
    for (Index a = 0; a < static_cast<Index>(active.size()); ++a) {
      const Index t = active[a];
      const bool checked =
          advance(in, start + t, space.scores.col(t), tau, options, round, fresh, states[t], mark);
      wants[a] = checked ? 0 : 1;
    }
  }
  std::vector<Index> need;
  for (std::size_t a = 0; a < active.size(); ++a) {
    if (wants[a] != 0) need.push_back(active[a]);
  }
  return need;
}

template <typename Scalar>
void solve_block(const Inputs& in, Index start, Index count, double tau, const Options& options,
                 int threads, BlockSpace<Scalar>& space, std::vector<SparseColumn>& columns,
                 BlockTotals& totals) {
  std::vector<ColumnState> states(count);
  {
    // Round 0: the correlations b = X^T x_i, i.e. the scores of the residual -x_i at c = 0.
    ScopedBlasThreads blas(threads);
    space.scores.leftCols(count).noalias() =
        data_of<Scalar>(in).transpose() * data_of<Scalar>(in).middleCols(start, count);
    space.scores.leftCols(count) *= Scalar(-1);
  }
  ++totals.passes;
  {
    ScopedBlasThreads blas(1);
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
    for (Index t = 0; t < count; ++t) {
      ColumnState& state = states[t];
      state.gram.reset(&in, !in.mixed);
      state.base_residual = -in.x.col(start + t);
      extend(start + t, initial_work(space.scores.col(t), start + t), state);
      solve_column(in, start + t, 1.0 / tau, state);
    }
  }
  std::vector<Index> active(count);
  std::iota(active.begin(), active.end(), Index{0});
  for (int round = 1; !active.empty(); ++round) {
    const std::vector<Index> need =
        check_round(in, start, active, tau, options, threads, round, false, states, space);
    if (!need.empty()) {
      score_pass(in, need, threads, states, space);
      ++totals.passes;
      check_round(in, start, need, tau, options, threads, round, true, states, space);
    }
    std::uint64_t state_bytes = 0;
    std::vector<Index> still;
    for (Index t : active) {
      state_bytes += states[t].gram.bytes();
      if (!states[t].done) still.push_back(t);
    }
    totals.state_bytes_peak = std::max(totals.state_bytes_peak, state_bytes);
    active.swap(still);
  }
  collect(states, start, tau, columns, totals);
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

template <typename Scalar>
void solve_blocks(const Inputs& in, double tau, const Options& options, int threads,
                  std::vector<SparseColumn>& columns, BlockTotals& totals,
                  std::uint64_t& block_bytes) {
  const Index n = in.x.cols();
  const Index d = in.x.rows();
  const Index width = std::min(n, block_width(n, d, kBlockBudgetBytes));
  block_bytes =
      sizeof(Scalar) * static_cast<std::uint64_t>(width) * static_cast<std::uint64_t>(2 * n + d);
  require_memory(block_bytes,
                 "ssc: the lasso solver's block of " + std::to_string(width) + " columns");
  BlockSpace<Scalar> space{Dense<Scalar>(n, width), Dense<Scalar>(n, width),
                           Dense<Scalar>(d, width)};
  Progress progress("ssc lasso", n, options.progress);
  for (Index start = 0; start < n; start += width) {
    const Index count = std::min(width, n - start);
    solve_block<Scalar>(in, start, count, tau, options, threads, space, columns, totals);
    progress.advance(count);
  }
  progress.finish();
}

// Whether the float32 Gram matrix (4 N^2 bytes) fits Options::max_gram_bytes and half the free
// memory.
bool gram_fits(Index n, const Options& options) {
  const std::uint64_t bytes = 4ULL * static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(n);
  return bytes <= options.max_gram_bytes && bytes <= available_memory_bytes() / 2;
}

// G = X^T X in float32 (SSYRK: half the flops of a GEMM), lower triangle mirrored by tiles so every
// column of G is contiguous.
void build_gram(Inputs& in, int threads) {
  const int n = static_cast<int>(in.x32.cols());
  const int d = static_cast<int>(in.x32.rows());
  in.gram.resize(n, n);
  const float one = 1.0F;
  const float zero = 0.0F;
  {
    ScopedBlasThreads blas(threads);
    ssyrk_("L", "T", &n, &d, &one, in.x32.data(), &d, &zero, in.gram.data(), &n);
  }
  constexpr Index kTile = 64;
  const Index size = n;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (Index column_tile = 0; column_tile < size; column_tile += kTile) {
    const Index column_end = std::min(size, column_tile + kTile);
    for (Index row_tile = 0; row_tile <= column_tile; row_tile += kTile) {
      const Index row_end = std::min(size, row_tile + kTile);
      for (Index j = column_tile; j < column_end; ++j) {
        for (Index r = row_tile; r < std::min(row_end, j); ++r) in.gram(r, j) = in.gram(j, r);
      }
    }
  }
}

// Column i with the Gram matrix at hand: its scores G c - b are recomputed from |S| + 1 columns of
// G after each solve (no pass over X, no bound on the residual's change). Their float32 error is
// at most kScoreBoundSafety (d + |S| + 5) u ||x_j|| (sum_k |c_k| ||x_k|| + ||x_i||): the entries'
// rounding (as for the passes) plus that of the sum and of c in float32.
void solve_column_with_gram(const Inputs& in, Index i, double tau, const Options& options,
                            ColumnState& state, Eigen::VectorXf& scores, std::vector<Index>& mark) {
  const Index n = in.x.cols();
  const double add_threshold = std::min(options.tolerance, kTightViolation);
  state.gram.reset(&in, false);
  extend(i, initial_work(in.gram.col(i), i), state);
  solve_column(in, i, 1.0 / tau, state);
  for (int round = 1; !state.done; ++round) {
    scores = -in.gram.col(i);
    double reach = in.norms[i];
    Index terms = 1;
    const std::vector<Index>& work = state.gram.work();
    for (Index k = 0; k < state.coef.size(); ++k) {
      const double c = state.coef[k];
      if (c == 0.0) continue;
      blas_axpy(n, static_cast<float>(c), in.gram.col(work[k]).data(), scores.data());
      reach += std::abs(c) * in.norms[work[k]];
      ++terms;
    }
    const double margin_unit = tau * kScoreBoundSafety *
                               static_cast<double>(in.x.rows() + terms + 4) * kFloatUnitRoundoff *
                               reach;
    const Screen found = screen(in, i, scores, tau, add_threshold, n, margin_unit, state, mark);
    act(in, i, found, tau, options, round, state);
  }
}

void solve_with_gram(const Inputs& in, double tau, const Options& options, int threads,
                     std::vector<SparseColumn>& columns, BlockTotals& totals) {
  const Index n = in.x.cols();
  constexpr Index kChunk = 1024;  // columns per progress step
  Progress progress("ssc lasso", n, options.progress);
  std::vector<ColumnState> states;
  for (Index start = 0; start < n; start += kChunk) {
    const Index count = std::min(kChunk, n - start);
    states.assign(count, ColumnState{});
    {
      ScopedBlasThreads blas(1);
#pragma omp parallel num_threads(threads)
      {
        std::vector<Index> mark(n, 0);
        Eigen::VectorXf scores(n);
#pragma omp for schedule(dynamic, 4)
        for (Index t = 0; t < count; ++t) {
          solve_column_with_gram(in, start + t, tau, options, states[t], scores, mark);
        }
      }
    }
    collect(states, start, tau, columns, totals);
    progress.advance(count);
  }
  progress.finish();
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
  Inputs in{use_reduced ? PaperMatrix(reduced.data(), reduced.rows(), reduced.cols()) : original,
            {},
            {},
            {},
            0.0,
            n >= kMixedPrecisionMinInputs};
  const Index d = in.x.rows();
  in.norms = in.x.colwise().norm().transpose();
  in.score_unit = kScoreBoundSafety * static_cast<double>(d + 2) * kFloatUnitRoundoff;
  if (in.mixed) {
    require_memory(4ULL * static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(d),
                   "ssc: a float32 copy of the inputs");
    in.x32 = in.x.cast<float>();
  }
  BlockTotals totals;
  std::uint64_t block_bytes = 0;
  if (in.mixed && gram_fits(n, options)) {
    build_gram(in, threads);
    block_bytes = 4ULL * static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(n);
    solve_with_gram(in, tau, options, threads, columns, totals);
  } else if (in.mixed) {
    solve_blocks<float>(in, tau, options, threads, columns, totals, block_bytes);
  } else {
    solve_blocks<double>(in, tau, options, threads, columns, totals, block_bytes);
  }
  result.iterations = totals.most_rounds;
  result.converged = totals.all_converged;
  result.kkt_violation = totals.kkt;  // the exact float64 violations of the final c
  result.objective = totals.objective;
  result.peak_memory_bytes = block_bytes + totals.state_bytes_peak +
                             (in.mixed ? 4ULL * static_cast<std::uint64_t>(n * d) : 0ULL) +
                             (use_reduced ? 16ULL * static_cast<std::uint64_t>(n) * n : 0ULL);
}

}  // namespace sublens::ssc::detail
