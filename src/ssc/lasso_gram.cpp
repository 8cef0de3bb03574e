// The Gram route of the SSC Lasso (see lasso.cpp): G = X^T X kept in float32, every column solved
// on its own with its scores G c - b read from |S| + 1 columns of G.
#include <algorithm>
#include <cmath>

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

namespace {

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

}  // namespace

void solve_with_gram(const Inputs& in, double tau, const Options& options, int threads,
                     std::vector<ColumnOutcome>& outcomes, BlockTotals& /*totals*/) {
  const Index n = in.x.cols();
  // Columns per progress step; smaller blocks balance a distributed solve (every column's answer
  // is independent of its block here).
  const Index chunk = options.schedule != nullptr ? 256 : 1024;
  std::vector<ColumnState> states;
  for_each_block(n, chunk, options, [&](Index start, Index count) {
    states.assign(count, ColumnState{});
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
    collect(states, start, tau, outcomes);
  });
}

}  // namespace sublens::ssc::detail::lasso
