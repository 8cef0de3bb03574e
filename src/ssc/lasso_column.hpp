// Private to the SSC Lasso solver (lasso*.cpp): one column's state and the steps every checking
// route shares. See lasso.cpp for the method.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "internal.hpp"
#include "sublens/core/progress.hpp"

namespace sublens::ssc::detail::lasso {

// Working-set size of a column's first round (largest correlations). Measured on Fashion-MNIST
// (N = 5000, tau = 10): 24-96 all take 2.1-2.5 solves per column; 32 is the cheapest.
constexpr Index kInitialWorkingSet = 32;
// See the file comment: the float32 score bound in units of (d + 2) u ||x_j|| ||r||.
constexpr double kScoreBoundSafety = 2.0;
constexpr double kFloatUnitRoundoff = 0x1p-24;
// Candidates violating their condition by more than this (or `tolerance`, if smaller) join the
// working set even when the column is already within `tolerance`: the answer is kept as tight as
// float64 allows, not merely within tolerance.
constexpr double kTightViolation = 1e-12;

// Candidates per chunk of the loops over all N scores (initial_work, screen): a chunk whose
// largest |score| cannot pass the test is skipped after one vectorised max (Eigen's packets), and
// most chunks are.
constexpr Index kChunk = 16;

// The inputs as the solver sees them.
struct Inputs {
  PaperMatrix x;         // float64, d x N
  Eigen::MatrixXf x32;   // float32 copy (empty when !mixed)
  Eigen::MatrixXf gram;  // float32 X^T X, N x N, when it fits the memory budget (else empty)
  Vector norms;          // ||x_j||
  Vector chunk_norms;    // max ||x_j|| over each kChunk consecutive candidates (see screen)
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
void extend(Index i, const std::vector<Index>& added, ColumnState& state);
// All of the column's working-set data again, in float64.
void make_exact(const Inputs& in, Index i, ColumnState& state);
// x_j^T r in float64.
double exact_score(const Inputs& in, Index j, const Vector& residual);
// Solves the working-set Lasso of column i and sets its coefficients and residual.
void solve_column(const Inputs& in, Index i, double lambda, ColumnState& state);

// max |scores_j| over start <= j < end (end - start <= kChunk): a fixed-size, unrolled and
// vectorised max for a whole chunk.
template <typename Scores>
auto chunk_max(const Scores& scores, Index start, Index end) {
  if (end - start == kChunk) return scores.template segment<kChunk>(start).cwiseAbs().maxCoeff();
  return scores.segment(start, end - start).cwiseAbs().maxCoeff();
}

// The first working set: the `size` largest |b_j| (ties by index, so it is deterministic). One
// pass with a min-heap of `size` entries: O(N), most candidates fail the first comparison.
template <typename Scores>
std::vector<Index> initial_work(const Scores& scores, Index i, Index size = kInitialWorkingSet) {
  const Index n = scores.size();
  const Index take = std::min<Index>(size, n - 1);
  using Entry = std::pair<double, Index>;  // (|b_j|, j)
  // The heap's top is the weakest kept entry: the smallest value, then the largest index.
  const auto weaker = [](const Entry& p, const Entry& q) {
    return p.first != q.first ? p.first > q.first : p.second < q.second;
  };
  std::vector<Entry> heap;
  heap.reserve(static_cast<std::size_t>(take) + 1);
  const auto* values = scores.data();
  for (Index start = 0; start < n; start += kChunk) {
    const Index end = std::min(n, start + kChunk);
    if (static_cast<Index>(heap.size()) == take &&
        (take == 0 || static_cast<double>(chunk_max(scores, start, end)) <= heap.front().first)) {
      continue;  // nothing in this chunk beats the weakest kept entry
    }
    for (Index j = start; j < end; ++j) {
      if (j == i) continue;
      const double v = std::abs(static_cast<double>(values[j]));
      if (static_cast<Index>(heap.size()) < take) {
        heap.emplace_back(v, j);
        std::push_heap(heap.begin(), heap.end(), weaker);
      } else if (take > 0 && v > heap.front().first) {  // a later j never wins a tie
        std::pop_heap(heap.begin(), heap.end(), weaker);
        heap.back() = {v, j};
        std::push_heap(heap.begin(), heap.end(), weaker);
      }
    }
  }
  std::vector<Index> order;
  order.reserve(heap.size());
  for (const Entry& entry : heap) order.push_back(entry.second);
  std::sort(order.begin(), order.end());
  return order;
}

// What one check of column i against all N candidates found.
struct Screen {
  bool needs_pass = false;  // too many candidates uncertain: scores need a new pass
  // Largest exact violation (0 when none); with certain violators (not checked exactly), a
  // certified lower bound of it, above the add threshold.
  double violation = 0.0;
  std::vector<Index> violators;  // outside W, violating by more than the add threshold
  std::vector<double> strength;  // their |g_j| (exact, or from the stored score)
  bool inside_violated = false;  // a working-set member off the support violates
};

// How far the exact current score of candidate j may be from a stored one, in units of tau:
//   per_norm ||x_j|| + per_remainder ||e_j||
// (e_j: x_j's part off the pass route's sketch, see Sketch; per_remainder is 0 without one).
struct Margin {
  double per_norm = 0.0;
  double per_remainder = 0.0;
  const Vector* remainders = nullptr;        // ||e_j|| (when per_remainder > 0)
  const Vector* chunk_remainders = nullptr;  // their largest over each kChunk candidates
  bool exact() const { return per_norm == 0.0 && per_remainder == 0.0; }
  double chunk(const Inputs& in, Index c) const {
    return per_norm * in.chunk_norms[c] +
           (per_remainder > 0.0 ? per_remainder * (*chunk_remainders)[c] : 0.0);
  }
  double at(const Inputs& in, Index j) const {
    return per_norm * in.norms[j] + (per_remainder > 0.0 ? per_remainder * (*remainders)[j] : 0.0);
  }
};

// Checks the conditions of column i at its current c from stored scores (float32 or float64):
// those of the residual r_base of its last pass, or those estimates corrected by the sketch. The
// current score of candidate j is within `margin` of the stored one: on the Gram route and the
// pass route without a sketch, margin = (score unit ||r_base|| + ||r - r_base||) ||x_j||
// (rounding, plus the change of the residual since, by Cauchy-Schwarz); candidates the margin
// leaves uncertain are checked exactly in float64. A candidate whose stored score violates its
// condition by more than the margin plus the add threshold is a violator for certain: it is ranked
// by its stored score and counted in `violation` by its certified lower bound, without a float64
// check (most of a column's checks are such violators, and only the strongest of them join W).
// `exact_violators` (the column's last allowed round, whose violation is reported) checks them in
// float64 too. With more than `limit` uncertain candidates a new pass is cheaper: `needs_pass` is
// set and nothing else is done. `mark` (size N, all zero between calls) is scratch space.
template <typename Scores>
Screen screen(const Inputs& in, Index i, const Scores& scores, double tau, double add_threshold,
              Index limit, const Margin& margin, bool exact_violators, const ColumnState& state,
              std::vector<Index>& mark) {
  Screen out;
  const bool stored_exact = margin.exact();  // float64 scores of the current residual
  // The bound test over all N (a tight loop: most candidates pass it), then i and the support
  // (whose conditions are checked exactly below) are taken out.
  // Rounding is monotone, so a chunk whose largest |score| and norm fail the test has no
  // candidate that passes it.
  std::vector<Index> uncertain;
  const auto* stored = scores.data();
  const Index n = scores.size();
  // More uncertain candidates than `limit` plus what is taken out below: a new pass, at once.
  const Index give_up = stored_exact ? n : limit + state.gram.size() + 1;
  for (Index start = 0; start < n && static_cast<Index>(uncertain.size()) <= give_up;
       start += kChunk) {
    const Index end = std::min(n, start + kChunk);
    const double largest = chunk_max(scores, start, end);
    if (tau * largest + margin.chunk(in, start / kChunk) <= 1.0) continue;
    for (Index j = start; j < end; ++j) {
      if (tau * std::abs(static_cast<double>(stored[j])) + margin.at(in, j) > 1.0) {
        uncertain.push_back(j);
      }
    }
  }
  // mark: 1 = i or on the support (checked exactly below), 2 = in W off the support.
  const std::vector<Index>& work = state.gram.work();
  for (Index k = 0; k < static_cast<Index>(work.size()); ++k) {
    mark[work[k]] = state.coef[k] != 0.0 ? 1 : 2;
  }
  mark[i] = 1;
  std::erase_if(uncertain, [&](Index j) { return mark[j] == 1; });
  const auto clear_marks = [&] {
    for (Index j : work) mark[j] = 0;
    mark[i] = 0;
  };
  if (!stored_exact && static_cast<Index>(uncertain.size()) > limit) {  // (also after give_up)
    clear_marks();
    out.needs_pass = true;
    return out;
  }
  out.violation = state.support_violation;
  const auto add = [&](Index j, double g) {
    if (mark[j] == 2) {
      out.inside_violated = true;
    } else {
      out.violators.push_back(j);
      out.strength.push_back(g);
    }
  };
  // A float32 score of the current residual first (half the memory traffic of float64, and only
  // its rounding to bound), then float64 for what that leaves uncertain.
  Eigen::VectorXf residual32;
  const double rounding_unit = tau * in.score_unit * state.residual.norm();
  for (Index j : uncertain) {
    const double stored_g = tau * std::abs(static_cast<double>(stored[j]));
    const double certain_g = stored_g - margin.at(in, j);  // lower bound of the exact |g_j|
    if (stored_exact) {
      out.violation = std::max(out.violation, stored_g - 1.0);
      if (stored_g - 1.0 > add_threshold) add(j, stored_g);
      continue;
    }
    if (!exact_violators && certain_g - 1.0 > add_threshold) {
      out.violation = std::max(out.violation, certain_g - 1.0);
      add(j, stored_g);
      continue;
    }
    if (in.mixed) {
      if (residual32.size() == 0) residual32 = state.residual.cast<float>();
      const double rough =
          tau * std::abs(blas_dot(residual32.size(), in.x32.col(j).data(), residual32.data()));
      if (rough - 1.0 + rounding_unit * in.norms[j] <= 0.0) continue;
    }
    const double g = tau * std::abs(exact_score(in, j, state.residual));
    out.violation = std::max(out.violation, g - 1.0);
    if (g - 1.0 > add_threshold) add(j, g);
  }
  clear_marks();
  return out;
}

// What a check found decides: the column is done, or its working set is extended (or made exact)
// and solved again.
void act(const Inputs& in, Index i, const Screen& found, double tau, const Options& options,
         int round, ColumnState& state);

// This process's work figures (the answer's figures are folded from the ColumnOutcomes).
struct BlockTotals {
  std::uint64_t state_bytes_peak = 0;
  int passes = 0;  // passes over all N candidates (GEMMs of the whole block's width)
};

// Records finished columns (states[t] is column columns[t]).
void collect(const std::vector<ColumnState>& states, std::span<const Index> columns, double tau,
             std::vector<ColumnOutcome>& outcomes);

// Calls solve(start, count) for every block of `width` columns of 0 .. n - 1 that this process
// is given (all of them without Options::schedule), and counts progress: on a distributed solve,
// the blocks handed out to other processes count as they are handed out.
template <typename Solve>
void for_each_block(Index n, Index width, const Options& options, Solve solve) {
  const Index blocks = (n + width - 1) / width;
  Progress progress("ssc lasso", n, options.progress);
  Index seen = 0;  // blocks counted so far
  for (Index b = 0; b < blocks; ++b) {
    if (options.schedule != nullptr) {
      b = options.schedule->next_block(blocks);
      if (b < 0) break;
    }
    progress.advance(std::min(b * width, n) - std::min(seen * width, n));  // others' blocks
    const Index start = b * width;
    const Index count = std::min(width, n - start);
    solve(start, count);
    progress.advance(count);
    seen = b + 1;
  }
  progress.finish();
}

// The pass route's principal sketch (lasso_sketch.cpp): the inputs on their k leading uncentred
// principal directions P. Its correlations rank each column's first candidates, and it estimates
// how a column's scores change between passes (see sketch_estimates in lasso_passes.cpp).
struct Sketch {
  Eigen::MatrixXd directions;  // P, d x k, orthonormal columns
  Eigen::MatrixXf coords;      // y_j = fl32(P^T x_j), k x N
  Vector remainders;           // upper bounds of ||e_j||, e_j = x_j - P y_j (exactly)
  Vector chunk_remainders;     // their largest over each kChunk consecutive candidates
  bool empty() const { return coords.size() == 0; }
};
// Empty where a sketch would not save time.
Sketch principal_sketch(const Inputs& in, int threads);
// Candidates the sketch proposes for a first working set.
constexpr Index kSketchCandidates = 2 * kInitialWorkingSet;
// The kInitialWorkingSet of `candidates` with the largest exact |x_j^T x_i| (float32), sorted.
std::vector<Index> ranked_exactly(const Inputs& in, Index i, const std::vector<Index>& candidates);

// The Gram route's column order (lasso_order.cpp): neighbouring inputs one after the other.
std::vector<Index> locality_order(const Eigen::MatrixXf& x);

// The two checking routes (lasso_gram.cpp, lasso_passes.cpp).
bool gram_fits(Index n, const Options& options);
void build_gram(Inputs& in, int threads);
void solve_with_gram(const Inputs& in, double tau, const Options& options, int threads,
                     std::vector<ColumnOutcome>& outcomes, BlockTotals& totals);
// Returns the bytes of its block work space.
std::uint64_t solve_by_passes(const Inputs& in, double tau, const Options& options, int threads,
                              std::vector<ColumnOutcome>& outcomes, BlockTotals& totals);

}  // namespace sublens::ssc::detail::lasso
