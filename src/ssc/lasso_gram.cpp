// The Gram route of the SSC Lasso (see lasso.cpp): G = X^T X kept in float32, every column solved
// on its own with its scores G c - b read from |S| + 1 columns of G.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>

#include "lasso_column.hpp"
#include "sublens/core/memory.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/core/threads.hpp"

namespace sublens::ssc::detail::lasso {

// Whether the float32 Gram matrix (4 N^2 bytes) fits Options::max_gram_bytes and half the free
// memory.
bool gram_fits(Index n, const Options& options) {
  const std::uint64_t bytes = 4ULL * static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(n);
  return bytes <= options.max_gram_bytes && bytes <= available_memory_bytes() / 2;
}

namespace {

// Columns of G per tile of its construction: a diagonal block by SSYRK, the rest of the column
// panel below it by one SGEMM; enough tiles for the threads to balance (their work shrinks along
// the diagonal), each large enough for the GEMM kernels' full speed.
constexpr Index kPanel = 256;

}  // namespace

// G = X^T X in float32 (SSYRK on diagonal blocks: half the flops of a GEMM), by column panels on
// this solver's own threads with single-threaded BLAS calls: OpenBLAS's thread pool is never
// woken, so no pool thread spins beside the column solves afterwards (measured: ~0.1 s of a
// spinning thread per threaded BLAS call on 2 cores), and G does not depend on the thread count.
// The lower triangle is then mirrored by tiles so every column of G is contiguous.
void build_gram(Inputs& in, int threads) {
  const Index size = in.x32.cols();
  const int d = static_cast<int>(in.x32.rows());
  in.gram.resize(size, size);
  const float one = 1.0F;
  const float zero = 0.0F;
  const int ld = static_cast<int>(size);
  {
    ScopedBlasThreads blas(1);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (Index start = 0; start < size; start += kPanel) {  // the largest panels first
      const int width = static_cast<int>(std::min(kPanel, size - start));
      const int below = static_cast<int>(size - start - width);
      float* diagonal = in.gram.data() + start * size + start;
      const float* panel = in.x32.data() + start * d;
      ssyrk_("L", "T", &width, &d, &one, panel, &d, &zero, diagonal, &ld);
      if (below > 0) {
        sgemm_("T", "N", &below, &width, &d, &one, panel + static_cast<Index>(width) * d, &d, panel,
               &d, &zero, diagonal + width, &ld);
      }
    }
  }
  constexpr Index kTile = 64;
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

namespace {

// A check from the last scores whose bounds leave more than this many candidates (plus
// kIncrementalMin) to check one by one (d flops each, at random columns of X) recomputes the
// scores instead (reading |S| + 1 columns of G: N (|S| + 1) flops from memory), in units of
// N (|S| + 1) / d.
constexpr double kIncrementalShare = 0.5;
constexpr Index kIncrementalMin = 16;

// Scores G c - b of column i at its current c, from |S| + 1 columns of G. Returns their float32
// error bound in units of tau ||x_j||: kScoreBoundSafety (d + |S| + 5) u (sum_k |c_k| ||x_k|| +
// ||x_i||), the entries' rounding (as for the passes) plus that of the sum and of c in float32.
// `terms` is set to |S| + 1.
double gram_scores(const Inputs& in, Index i, double tau, const ColumnState& state,
                   Eigen::VectorXf& scores, Index& terms) {
  const Index n = in.x.cols();
  scores = -in.gram.col(i);
  double reach = in.norms[i];
  terms = 1;
  const std::vector<Index>& work = state.gram.work();
  for (Index k = 0; k < state.coef.size(); ++k) {
    const double c = state.coef[k];
    if (c == 0.0) continue;
    blas_axpy(n, static_cast<float>(c), in.gram.col(work[k]).data(), scores.data());
    reach += std::abs(c) * in.norms[work[k]];
    ++terms;
  }
  return tau * kScoreBoundSafety * static_cast<double>(in.x.rows() + terms + 4) *
         kFloatUnitRoundoff * reach;
}

// Column i with the Gram matrix at hand. After a solve, the check first tries the scores of the
// last computation (for the residual r_base): the exact score of candidate j moves by at most
// ||x_j|| ||r - r_base|| since (Cauchy-Schwarz), so when the residual changed little, the stored
// scores certify most candidates and the few left are checked one by one (as on the pass route).
// Otherwise, or when too many are left, the scores are recomputed from G.
void solve_column_with_gram(const Inputs& in, Index i, double tau, const Options& options,
                            ColumnState& state, Eigen::VectorXf& scores, std::vector<Index>& mark) {
  const Index n = in.x.cols();
  const Index d = in.x.rows();
  const double add_threshold = std::min(options.tolerance, kTightViolation);
  state.gram.reset(&in, false);
  extend(i, initial_work(in.gram.col(i), i), state);
  solve_column(in, i, 1.0 / tau, state);
  double base_margin = -1.0;  // the stored scores' rounding bound; < 0: none stored yet
  Index terms = 1;
  for (int round = 1; !state.done; ++round) {
    const bool last = round >= options.max_iterations;
    if (base_margin >= 0.0) {
      const double drift = tau * (state.residual - state.base_residual).norm();
      const auto limit = static_cast<Index>(kIncrementalShare * static_cast<double>(n * terms) /
                                            static_cast<double>(d)) +
                         kIncrementalMin;
      if (drift < 1.0) {  // else every candidate is uncertain
        const Screen found = screen(in, i, scores, tau, add_threshold, limit,
                                    Margin{base_margin + drift}, last, state, mark);
        if (!found.needs_pass) {
          act(in, i, found, tau, options, round, state);
          continue;
        }
      }
    }
    base_margin = gram_scores(in, i, tau, state, scores, terms);
    state.base_residual = state.residual;
    const Screen found =
        screen(in, i, scores, tau, add_threshold, n, Margin{base_margin}, last, state, mark);
    act(in, i, found, tau, options, round, state);
  }
}

}  // namespace

void solve_with_gram(const Inputs& in, double tau, const Options& options, int threads,
                     std::vector<ColumnOutcome>& outcomes, BlockTotals& /*totals*/) {
  const Index n = in.x.cols();
  // Columns per progress step; smaller blocks balance a distributed solve (every column's answer
  // is independent of its block here). Blocks of the locality order; a distributed solve keeps
  // the index order, since processes on different CPUs could round the projection differently
  // and then disagree on which columns a block holds.
  const Index chunk = options.schedule != nullptr ? 256 : 1024;
  std::vector<Index> order(n);
  std::iota(order.begin(), order.end(), Index{0});
  if (options.schedule == nullptr) order = locality_order(in.x32);
  std::vector<ColumnState> states;
  for_each_block(n, chunk, options, [&](Index start, Index count) {
    states.assign(count, ColumnState{});
    const std::span<const Index> columns(order.data() + start, count);
    ScopedBlasThreads blas(1);
#pragma omp parallel num_threads(threads)
    {
      std::vector<Index> mark(n, 0);
      Eigen::VectorXf scores(n);
#pragma omp for schedule(dynamic, 4)
      for (Index t = 0; t < count; ++t) {
        solve_column_with_gram(in, columns[t], tau, options, states[t], scores, mark);
      }
    }
    collect(states, columns, tau, outcomes);
  });
}

}  // namespace sublens::ssc::detail::lasso
