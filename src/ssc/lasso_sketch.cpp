// The pass route's principal sketch (see lasso.cpp and lasso_passes.cpp).
//
// Round 0 of the pass route needs the correlations b = X^T x_i only to pick each column's first
// working set (its 32 largest |b_j|): the residual changes so much in the first solve that the
// next check needs new scores anyway. A full pass for that costs 2 d N^2 flops (~45 s at
// N = 70,000, d = 784 on an AVX2 machine). The sketch ranks candidates by their correlations on the
// k leading (uncentred) principal directions instead, 2 k N^2 flops, and then ranks its
// kSketchCandidates best exactly (float32 dot products, d flops each). Measured on Fashion-MNIST
// (N = 10,000, 40 columns; tools: numpy): with k = 128, 99.8% of the exact top 32 are among the
// sketch's top 64 (97% with k = 64). Nothing depends on the sketch being right: a candidate it
// missed is found by the exact checks that follow.
// Between passes the sketch also bounds how a column's scores moved (sketch_estimates).
#include <algorithm>
#include <cmath>
#include <string>

#include "lasso_column.hpp"
#include "sublens/core/memory.hpp"
#include "sublens/core/threads.hpp"

namespace sublens::ssc::detail::lasso {
namespace {

// Principal directions kept: k = min(kSketchRank, d / 4), so round 0 costs at most a quarter of
// a pass. 128 measured best on Fashion-MNIST at N = 35,000 (64: 8% slower; 192: the same). Below
// kSketchMinDimension features the set-up and the narrower sketch save too little.
constexpr Index kSketchRank = 128;
constexpr Index kSketchMinDimension = 256;
// X X^T (d x d) and its eigendecomposition cost 2 d^2 N + O(d^3) flops: worth it while d is small
// against N (the pass it replaces costs 2 d N^2), and its d x d work space stays small.
constexpr Index kSketchMaxDimension = 4096;
constexpr Index kSketchMinRatio = 8;  // N >= 8 d
// X X^T is summed over this many fixed slices of the inputs, each by one single-threaded SSYRK
// in its own buffer, then added in order: the sketch does not depend on the thread count.
constexpr Index kSlices = 4;

// X32 X32^T (d x d, lower triangle) in float64, summed over kSlices fixed slices of the columns.
Eigen::MatrixXd second_moment(const Eigen::MatrixXf& x, int threads) {
  const Index d = x.rows();
  const Index n = x.cols();
  const Index slice = (n + kSlices - 1) / kSlices;
  std::vector<Eigen::MatrixXf> parts(kSlices, Eigen::MatrixXf::Zero(d, d));
  const float one = 1.0F;
  const float zero = 0.0F;
  const int size = static_cast<int>(d);
  ScopedBlasThreads blas(1);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (Index s = 0; s < kSlices; ++s) {
    const Index begin = std::min(n, s * slice);
    const int count = static_cast<int>(std::min(n, begin + slice) - begin);
    if (count > 0) {
      ssyrk_("L", "N", &size, &count, &one, x.data() + begin * d, &size, &zero, parts[s].data(),
             &size);
    }
  }
  Eigen::MatrixXd sum = Eigen::MatrixXd::Zero(d, d);
  for (const Eigen::MatrixXf& part : parts) sum += part.cast<double>();
  return sum;
}

// y_j = fl32(P^T x_j), and an upper bound of ||x_j - P y_j|| from its float64 computation (by
// panels of columns: the d x panel float64 remainders stay small): the computed norm plus
// 4 (k + 2) (sqrt(k) + 1) eps (||x_j|| + ||y_j||), twice Higham's bound for P y_j
// (||P||_F = sqrt(k)) and the difference.
void project(const Inputs& in, int threads, Sketch& sketch) {
  const Index n = in.x.cols();
  const auto k = static_cast<double>(sketch.directions.cols());
  constexpr Index kPanel = 2048;
  sketch.coords.resize(sketch.directions.cols(), n);
  sketch.remainders.resize(n);
  ScopedBlasThreads blas(1);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (Index start = 0; start < n; start += kPanel) {
    const Index count = std::min(kPanel, n - start);
    const Eigen::MatrixXd y = sketch.directions.transpose() * in.x.middleCols(start, count);
    sketch.coords.middleCols(start, count) = y.cast<float>();
    const Eigen::MatrixXd rounded = sketch.coords.middleCols(start, count).cast<double>();
    const Eigen::MatrixXd off = in.x.middleCols(start, count) - sketch.directions * rounded;
    for (Index t = 0; t < count; ++t) {
      const double slack = 4.0 * (k + 2.0) * (std::sqrt(k) + 1.0) * 0x1p-53 *
                           (in.norms[start + t] + rounded.col(t).norm());
      sketch.remainders[start + t] = off.col(t).norm() * (1.0 + 0x1p-50) + slack;
    }
  }
  sketch.chunk_remainders.resize((n + kChunk - 1) / kChunk);
  for (Index c = 0; c < sketch.chunk_remainders.size(); ++c) {
    sketch.chunk_remainders[c] =
        sketch.remainders.segment(c * kChunk, std::min(kChunk, n - c * kChunk)).maxCoeff();
  }
}

}  // namespace

Sketch principal_sketch(const Inputs& in, int threads) {
  const Index d = in.x.rows();
  const Index n = in.x.cols();
  if (!in.mixed || d < kSketchMinDimension || d > kSketchMaxDimension || n < kSketchMinRatio * d) {
    return {};
  }
  const auto dd = static_cast<std::uint64_t>(d) * static_cast<std::uint64_t>(d);
  require_memory(
      (4ULL * kSlices + 16ULL) * dd +
          (4ULL * static_cast<std::uint64_t>(kSketchRank) + 16ULL) * static_cast<std::uint64_t>(n) +
          16ULL * static_cast<std::uint64_t>(d) * 2048ULL * static_cast<std::uint64_t>(threads),
      "ssc: the principal sketch of " + std::to_string(d) + " features");
  Eigen::MatrixXd moment = second_moment(in.x32, threads);
  {
    ScopedBlasThreads blas(1);  // LAPACK's result must not depend on the thread count
    symmetric_eigen(moment);    // ascending: the leading directions are the last columns
  }
  Sketch sketch;
  sketch.directions = moment.rightCols(std::min(kSketchRank, d / 4));
  project(in, threads, sketch);
  return sketch;
}

std::vector<Index> ranked_exactly(const Inputs& in, Index i, const std::vector<Index>& candidates) {
  std::vector<std::pair<double, Index>> ranked;
  ranked.reserve(candidates.size());
  const Index d = in.x32.rows();
  for (Index j : candidates) {
    ranked.emplace_back(std::abs(blas_dot(d, in.x32.col(j).data(), in.x32.col(i).data())), j);
  }
  const auto take = std::min<std::size_t>(kInitialWorkingSet, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(take),
                    ranked.end(), [](const auto& p, const auto& q) {
                      return p.first != q.first ? p.first > q.first : p.second < q.second;
                    });
  std::vector<Index> chosen;
  for (std::size_t k = 0; k < take; ++k) chosen.push_back(ranked[k].second);
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

}  // namespace sublens::ssc::detail::lasso
