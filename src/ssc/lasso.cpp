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
//    memory): G = X^T X once (SSYRK/SGEMM panels); a column's scores G c - b read |S| + 1 columns
//    of G.
//  - Pass route (larger N): by blocks of columns, one GEMM X^T X_B gives b, and each round one
//    GEMM X^T R checks the block's residuals. With a principal sketch (lasso_sketch.cpp: d >= 256,
//    N >= 8 d) the first working sets come from the sketch instead of that GEMM, and between
//    passes the sketch estimates the scores within a certified margin, so a column seldom needs
//    a second pass.
//  On both routes, after a small change of a residual the previous scores and a Cauchy-Schwarz
//  bound on the change certify most candidates without new scores. BLAS calls run single-threaded
//  on the solver's own OpenMP threads (GEMMs split into panels): OpenBLAS's own thread pool would
//  spin beside the column solves after every threaded call.
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
//    Gram route adds the rounding of its sum, see gram_scores). Every candidate whose
//    float32 score is within that bound of the threshold is checked again in float64 (d flops
//    each); the others are certified by the bound: below it, they hold; above it, they violate
//    for certain and join W ranked by their float32 scores (a column finishes only when none is
//    left, or on its last allowed round, whose check is exact for all). The reported violation
//    is the largest exact float64 violation.
// Small problems are solved in float64 throughout (the pass route, float64 GEMMs).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "lasso_column.hpp"
#include "sublens/core/memory.hpp"
#include "sublens/core/threads.hpp"

namespace sublens::ssc::detail {
namespace {

// Below this many inputs every column is solved in float64 from the start (the float32 passes
// save little, and a fallback costs as much as doing it exactly).
constexpr Index kMixedPrecisionMinInputs = 1024;
constexpr Index kColumnsPerThread = 512;

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

// The answer and its figures from every column's outcome, in column order (so a distributed
// solve sums the objective in the same order as a single process).
void fold(std::vector<ColumnOutcome>& outcomes, std::vector<SparseColumn>& columns,
          Result& result) {
  result.iterations = 0;
  result.converged = true;
  result.kkt_violation = 0.0;
  result.objective = 0.0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    ColumnOutcome& out = outcomes[i];
    result.iterations = std::max(result.iterations, out.rounds);
    result.converged = result.converged && out.converged;
    result.kkt_violation = std::max(result.kkt_violation, out.violation);  // exact float64
    result.objective += out.objective;
    columns[i] = std::move(out.entries);
  }
}

}  // namespace

void solve_lasso(const RowMatrix& inputs, double tau, const Options& options, int threads,
                 std::vector<SparseColumn>& columns, Result& result) {
  const Index n = inputs.rows();
  // A thread per kColumnsPerThread columns at most: on small problems a second thread only
  // contends with OpenBLAS's threads, which spin after each GEMM (measured: N = 450, 2 threads
  // 3x slower than 1).
  threads = static_cast<int>(std::clamp<Index>(n / kColumnsPerThread, 1, threads));
  const PaperMatrix original = paper_view(inputs);
  // C depends on X only through X^T X: with d > N, a rank x N factor is exact and smaller.
  Eigen::MatrixXd reduced;
  const bool use_reduced = original.rows() > n && n > 1;
  if (use_reduced) reduced = reduce(original, threads);
  using namespace lasso;  // NOLINT(google-build-using-namespace): this solver's own pieces
  Inputs in{use_reduced ? PaperMatrix(reduced.data(), reduced.rows(), reduced.cols()) : original,
            {},
            {},
            {},
            {},
            0.0,
            n >= kMixedPrecisionMinInputs};
  const Index d = in.x.rows();
  in.norms = in.x.colwise().norm().transpose();
  in.chunk_norms.resize((n + kChunk - 1) / kChunk);
  for (Index c = 0; c < in.chunk_norms.size(); ++c) {
    in.chunk_norms[c] = in.norms.segment(c * kChunk, std::min(kChunk, n - c * kChunk)).maxCoeff();
  }
  in.score_unit = kScoreBoundSafety * static_cast<double>(d + 2) * kFloatUnitRoundoff;
  if (in.mixed) {
    require_memory(4ULL * static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(d),
                   "ssc: a float32 copy of the inputs");
    in.x32 = in.x.cast<float>();
  }
  BlockTotals totals;
  std::uint64_t block_bytes = 0;
  std::vector<ColumnOutcome> outcomes(n);
  if (in.mixed && gram_fits(n, options)) {
    build_gram(in, threads);
    block_bytes = 4ULL * static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(n);
    solve_with_gram(in, tau, options, threads, outcomes, totals);
  } else {
    block_bytes = solve_by_passes(in, tau, options, threads, outcomes, totals);
  }
  if (options.schedule != nullptr && !options.schedule->gather(outcomes)) {
    result.partial = true;
    return;
  }
  fold(outcomes, columns, result);
  result.peak_memory_bytes = block_bytes + totals.state_bytes_peak +
                             (in.mixed ? 4ULL * static_cast<std::uint64_t>(n * d) : 0ULL) +
                             (use_reduced ? 16ULL * static_cast<std::uint64_t>(n) * n : 0ULL);
}

}  // namespace sublens::ssc::detail
