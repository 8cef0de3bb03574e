// The pass route of the SSC Lasso (see lasso.cpp): by blocks of columns, GEMMs over X give the
// correlations and each round's scores; small changes of a residual are certified from the last
// scores. Used when the Gram matrix does not fit, and in float64 for small problems.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <type_traits>

#include "lasso_column.hpp"
#include "sublens/core/memory.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/core/threads.hpp"

namespace sublens::ssc::detail::lasso {
namespace {

// Memory for the N x block score matrices of one block of columns (float64 ones; float32 blocks
// are twice as wide). Wider blocks spread the passes that only a few of a block's columns still
// need (each reads all of X, whatever its width) over more columns: at N = 70,000 a block of 238
// columns spent 12% of the time packing X for such passes (a block of 953 is 0.54 GB).
constexpr std::uint64_t kBlockBudgetBytes = 512ULL << 20;
// A check whose bounds leave more than kIncrementalMin + N / kIncrementalShare candidates to
// check in float64 (d flops each) makes a new pass instead (2 d N flops at GEMM speed, ~50x
// faster per flop than the single checks).
constexpr Index kIncrementalMin = 16;
constexpr Index kIncrementalShare = 16;
// Slack for the float64 rounding of ||(I - P P^T) dr|| (sketch_estimates), relative to ||dr||.
constexpr double kSketchRelativeSlack = 1e-12;

// The margin of the scores a column's last pass stored: their rounding plus the change of the
// residual since, by Cauchy-Schwarz (see screen).
Margin pass_margin(const Inputs& in, double tau, const ColumnState& state) {
  const double drift = (state.residual - state.base_residual).norm();
  return Margin{tau * (in.score_unit * state.base_residual.norm() + drift)};
}

// One column after a check of `scores` (within `margin`): done, or its working set extended (or
// made exact) and re-solved. False when the check needs a new pass of scores first (never right
// after one: `fresh`).
template <typename Scores>
bool advance(const Inputs& in, Index i, const Scores& scores, const Margin& margin, double tau,
             const Options& options, int round, bool fresh, ColumnState& state,
             std::vector<Index>& mark) {
  const double add_threshold = std::min(options.tolerance, kTightViolation);
  const Index limit = fresh ? scores.size() : kIncrementalMin + scores.size() / kIncrementalShare;
  const bool last = round >= options.max_iterations;
  const Screen found = screen(in, i, scores, tau, add_threshold, limit, margin, last, state, mark);
  if (found.needs_pass) return false;
  act(in, i, found, tau, options, round, state);
  return true;
}

template <typename Scalar>
using Dense = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

// Work space of one block: the last scores of each column, and the GEMM operands of a pass.
template <typename Scalar>
struct BlockSpace {
  Dense<Scalar> scores;     // N x width: X^T r_base of each column
  Dense<Scalar> fresh;      // N x width: a pass's result before it is stored
  Dense<Scalar> residuals;  // d x width
};

template <typename Scalar>
decltype(auto) data_of(const Inputs& in) {
  if constexpr (std::is_same_v<Scalar, float>) {
    return (in.x32);
  } else {
    return (in.x);
  }
}

// X^T B is computed in kPanels panels of rows (at least kMinPanelRows each): enough for the
// threads to balance, few enough that re-packing B for each panel's GEMM costs little (with
// 512-row panels at N = 70,000 it was ~10% of the GEMMs' time). A fixed count, so the product
// does not depend on the thread count.
constexpr Index kPanels = 16;
constexpr Index kMinPanelRows = 512;

// product = X^T B (N x m) by panels of rows, each one single-threaded GEMM on this
// solver's own threads: OpenBLAS's thread pool stays asleep, instead of spinning beside the column
// solves that follow every pass (measured: 14% of the CPU time on 2 cores).
template <typename Data, typename Right, typename Product>
void product_tn(const Data& x, const Right& right, Product&& product, int threads) {
  const Index n = x.cols();
  const Index panel = std::max(kMinPanelRows, (n + kPanels - 1) / kPanels);
  ScopedBlasThreads blas(1);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (Index start = 0; start < n; start += panel) {
    const Index rows = std::min(panel, n - start);
    product.middleRows(start, rows).noalias() = x.middleCols(start, rows).transpose() * right;
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
    states[which[a]].base_residual = states[which[a]].residual;
  }
  // The block's first m columns (`which` is increasing): straight into place, no copy.
  if (which.back() == m - 1) {
    product_tn(data_of<Scalar>(in), space.residuals.leftCols(m), space.scores.leftCols(m), threads);
    return;
  }
  product_tn(data_of<Scalar>(in), space.residuals.leftCols(m), space.fresh.leftCols(m), threads);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (Index a = 0; a < m; ++a) space.scores.col(which[a]) = space.fresh.col(a);
}

// Checks (and re-solves) every active column once; returns the columns that need a pass first.
// Without `estimates`, from the scores of each column's last pass; with them, from the sketch's
// estimates of the current scores (space.fresh, column a for active[a]) within their margins.
template <typename Scalar>
std::vector<Index> check_round(const Inputs& in, Index start, const std::vector<Index>& active,
                               double tau, const Options& options, int threads, int round,
                               bool fresh, std::vector<ColumnState>& states,
                               BlockSpace<Scalar>& space,
                               const std::vector<Margin>* estimates = nullptr) {
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
          estimates != nullptr
              ? advance(in, start + t, space.fresh.col(a), (*estimates)[a], tau, options, round,
                        fresh, states[t], mark)
              : advance(in, start + t, space.scores.col(t), pass_margin(in, tau, states[t]), tau,
                        options, round, fresh, states[t], mark);
      wants[a] = checked ? 0 : 1;
    }
  }
  std::vector<Index> need;
  for (std::size_t a = 0; a < active.size(); ++a) {
    if (wants[a] != 0) need.push_back(active[a]);
  }
  return need;
}

// The sketch's estimates of the current scores of the `active` columns, in space.fresh (column
// a for active[a]): x_j^T r = x_j^T r_base + y_j^T P^T (r - r_base) + e_j^T (r - r_base), the
// first stored by the last pass, the second by one GEMM with the k x N sketch (k/d of a pass),
// the third bounded by ||e_j|| ||(I - P P^T)(r - r_base)||: with most of each input in the
// sketch's span, far tighter than the plain Cauchy-Schwarz bound (Fashion-MNIST, N = 10,000,
// after the first re-solve: ~5,500 uncertain candidates with the plain bound, ~160 with k = 64,
// ~65 with k = 128). Returns the margins.
// Float32 rounding, each term in units of u = 2^-24 and kScoreBoundSafety times Higham's bound:
// the stored score's (score unit ||r_base|| ||x_j||), the sum's (u (||r_base|| + ||dr||)
// ||x_j||), the sketch product's ((k + 3) u ||x_j|| ||dr||: the k-term dot and the rounding of
// P^T dr and y_j), and P^T e_j = y_j - fl(y_j) (u ||x_j||, times ||P^T dr|| <= ||dr||).
std::vector<Margin> sketch_estimates(const Inputs& in, const Sketch& sketch,
                                     const std::vector<Index>& active, double tau, int threads,
                                     const std::vector<ColumnState>& states,
                                     BlockSpace<float>& space) {
  const Index m = static_cast<Index>(active.size());
  const Index k = sketch.directions.cols();
  Eigen::MatrixXf shares(k, m);
  std::vector<Margin> margins(m);
  ScopedBlasThreads blas(1);  // (the GEMVs below would wake OpenBLAS's pool)
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads)
  for (Index a = 0; a < m; ++a) {
    const ColumnState& state = states[active[a]];
    const Vector change = state.residual - state.base_residual;
    const Vector share = sketch.directions.transpose() * change;
    shares.col(a) = share.cast<float>();
    const double drift = change.norm();
    const double off = (change - sketch.directions * share).norm();
    const double base = state.base_residual.norm();
    const double unit = kScoreBoundSafety * kFloatUnitRoundoff;
    margins[a] = Margin{tau * (in.score_unit * base + unit * (base + drift) +
                               unit * static_cast<double>(k + 4) * drift),
                        tau * (off + kSketchRelativeSlack * drift), &sketch.remainders,
                        &sketch.chunk_remainders};
  }
  product_tn(sketch.coords, shares, space.fresh.leftCols(m), threads);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (Index a = 0; a < m; ++a) space.fresh.col(a) += space.scores.col(active[a]);
  return margins;
}

// Round 0: each column's first working set and solve. Without a sketch, from the correlations
// b = X^T x_i (one pass), which are also the scores of the residual -x_i at c = 0; with one, from
// the sketch's correlations (no scores are kept: round 1 makes a pass).
template <typename Scalar>
void first_round(const Inputs& in, const Sketch& sketch, Index start, Index count, double tau,
                 int threads, BlockSpace<Scalar>& space, std::vector<ColumnState>& states) {
  if constexpr (std::is_same_v<Scalar, float>) {  // (the sketch is float32, and only mixed)
    if (!sketch.empty()) {
      product_tn(sketch.coords, sketch.coords.middleCols(start, count),
                 space.scores.leftCols(count), threads);
    }
  }
  if (sketch.empty()) {
    product_tn(data_of<Scalar>(in), data_of<Scalar>(in).middleCols(start, count),
               space.scores.leftCols(count), threads);
    space.scores.leftCols(count) *= Scalar(-1);
  }
  ScopedBlasThreads blas(1);
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
  for (Index t = 0; t < count; ++t) {
    const Index i = start + t;
    ColumnState& state = states[t];
    state.gram.reset(&in, !in.mixed);
    state.base_residual = -in.x.col(i);
    extend(i,
           sketch.empty()
               ? initial_work(space.scores.col(t), i)
               : ranked_exactly(in, i, initial_work(space.scores.col(t), i, kSketchCandidates)),
           state);
    solve_column(in, i, 1.0 / tau, state);
  }
}

// A round's checks for the active columns: with a sketch, from its estimates after round 1 (a
// pass of all: round 0 kept no scores); else from the scores of each column's last pass.
// Returns the columns that need a new pass.
template <typename Scalar>
std::vector<Index> incremental_checks(const Inputs& in, const Sketch& sketch, Index start,
                                      const std::vector<Index>& active, double tau,
                                      const Options& options, int threads, int round,
                                      std::vector<ColumnState>& states, BlockSpace<Scalar>& space) {
  if constexpr (std::is_same_v<Scalar, float>) {
    if (!sketch.empty()) {
      if (round == 1) return active;
      const std::vector<Margin> margins =
          sketch_estimates(in, sketch, active, tau, threads, states, space);
      return check_round(in, start, active, tau, options, threads, round, false, states, space,
                         &margins);
    }
  }
  return check_round(in, start, active, tau, options, threads, round, false, states, space);
}

template <typename Scalar>
void solve_block(const Inputs& in, const Sketch& sketch, Index start, Index count, double tau,
                 const Options& options, int threads, BlockSpace<Scalar>& space,
                 std::vector<ColumnOutcome>& outcomes, BlockTotals& totals) {
  std::vector<ColumnState> states(count);
  first_round(in, sketch, start, count, tau, threads, space, states);
  if (sketch.empty()) ++totals.passes;
  std::vector<Index> active(count);
  std::iota(active.begin(), active.end(), Index{0});
  for (int round = 1; !active.empty(); ++round) {
    const std::vector<Index> need =
        incremental_checks(in, sketch, start, active, tau, options, threads, round, states, space);
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
  std::vector<Index> columns(count);
  std::iota(columns.begin(), columns.end(), start);
  collect(states, columns, tau, outcomes);
}

template <typename Scalar>
void solve_blocks(const Inputs& in, double tau, const Options& options, int threads,
                  std::vector<ColumnOutcome>& outcomes, BlockTotals& totals,
                  std::uint64_t& block_bytes) {
  const Index n = in.x.cols();
  const Index d = in.x.rows();
  Index width = std::min(n, block_width(n, d, kBlockBudgetBytes * 8 / sizeof(Scalar)));
  if (options.schedule != nullptr) {  // a few blocks per process, for the dynamic schedule
    const Index share =
        (n + 4 * options.schedule->processes() - 1) / (4 * options.schedule->processes());
    width = std::min(width, std::max(share, std::min<Index>(n, 64)));  // never above the budget
  }
  block_bytes =
      sizeof(Scalar) * static_cast<std::uint64_t>(width) * static_cast<std::uint64_t>(2 * n + d);
  require_memory(block_bytes,
                 "ssc: the lasso solver's block of " + std::to_string(width) + " columns");
  BlockSpace<Scalar> space{Dense<Scalar>(n, width), Dense<Scalar>(n, width),
                           Dense<Scalar>(d, width)};
  const Sketch sketch = principal_sketch(in, threads);
  block_bytes +=
      4ULL * static_cast<std::uint64_t>(sketch.coords.size()) +
      8ULL * static_cast<std::uint64_t>(sketch.directions.size() + sketch.remainders.size() +
                                        sketch.chunk_remainders.size());
  for_each_block(n, width, options, [&](Index start, Index count) {
    solve_block<Scalar>(in, sketch, start, count, tau, options, threads, space, outcomes, totals);
  });
}

}  // namespace

std::uint64_t solve_by_passes(const Inputs& in, double tau, const Options& options, int threads,
                              std::vector<ColumnOutcome>& outcomes, BlockTotals& totals) {
  std::uint64_t block_bytes = 0;
  if (in.mixed) {
    solve_blocks<float>(in, tau, options, threads, outcomes, totals, block_bytes);
  } else {
    solve_blocks<double>(in, tau, options, threads, outcomes, totals, block_bytes);
  }
  return block_bytes;
}

}  // namespace sublens::ssc::detail::lasso
