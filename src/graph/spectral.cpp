// Spectral embedding, k-means and spectral clustering: see include/sublens/graph/spectral.hpp.
#include "sublens/graph/spectral.hpp"

#include <Spectra/SymEigsSolver.h>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>

#include "sublens/core/progress.hpp"
#include "sublens/core/threads.hpp"
#include "sublens/graph/modularity.hpp"

namespace sublens::graph {
namespace {

// y = A x for a full (both triangles stored) symmetric CSR matrix, rows in parallel: each y_i is
// one row's dot product, so the result does not depend on the thread count. (Spectra's
// SparseSymMatProd reads one triangle and scatters into y, which cannot be split over rows.)
class FullSymmetricProduct {
 public:
  using Scalar = double;
  explicit FullSymmetricProduct(const SparseMatrix& matrix) : matrix_(matrix) {}
  Index rows() const { return matrix_.rows(); }
  Index cols() const { return matrix_.cols(); }
  void perform_op(const double* x, double* y) const {
    const auto* outer = matrix_.outerIndexPtr();
    const auto* inner = matrix_.innerIndexPtr();
    const double* value = matrix_.valuePtr();
    const Index n = matrix_.rows();
#pragma omp parallel for schedule(static, 1024)
    for (Index i = 0; i < n; ++i) {
      double sum = 0.0;
      for (auto p = outer[i]; p < outer[i + 1]; ++p) sum += value[p] * x[inner[p]];
      y[i] = sum;
    }
  }

 private:
  const SparseMatrix& matrix_;
};

// Flips each column so that its largest-magnitude entry is positive.
void fix_signs(Matrix* vectors) {
  for (Index j = 0; j < vectors->cols(); ++j) {
    Index arg = 0;
    vectors->col(j).cwiseAbs().maxCoeff(&arg);
    if ((*vectors)(arg, j) < 0) vectors->col(j) *= -1.0;
  }
}

double squared_distance(const Eigen::Ref<const RowMatrix>& points, Index i,
                        const RowMatrix& centers, Index c) {
  return (points.row(i) - centers.row(c)).squaredNorm();
}

// The centre nearest to point i (the first one on ties) and its squared distance.
Index nearest_center(const Eigen::Ref<const RowMatrix>& points, Index i, const RowMatrix& centers,
                     double* best_distance) {
  Index arg = 0;
  *best_distance = std::numeric_limits<double>::infinity();
  for (Index c = 0; c < centers.rows(); ++c) {
    const double dist = squared_distance(points, i, centers, c);
    if (dist < *best_distance) {
      *best_distance = dist;
      arg = c;
    }
  }
  return arg;
}

}  // namespace

std::string to_string(LaplacianKind kind) {
  return kind == LaplacianKind::kNormalized ? "normalized" : "none";
}

LaplacianKind parse_laplacian(const std::string& name) {
  if (name == "normalized") return LaplacianKind::kNormalized;
  if (name == "none") return LaplacianKind::kNone;
  throw std::invalid_argument("embed: --laplacian must be 'normalized' or 'none' (got '" + name +
                              "')");
}

EmbeddingResult spectral_embedding(const SparseMatrix& affinity, const EmbeddingOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  require_option(options.max_iterations >= 1, "embed", "max_iterations", "at least 1",
                 static_cast<double>(options.max_iterations));
  require_option(std::isfinite(options.tolerance) && options.tolerance > 0, "embed", "tolerance",
                 "a finite number > 0", options.tolerance);
  validate_affinity(affinity, "embed", /*symmetric=*/true);
  const Index n = affinity.rows();
  EmbeddingResult result;
  // Degrees; isolated inputs are removed from the operator.
  Vector degree = Vector::Zero(n);
  for (Index i = 0; i < n; ++i) {
    for (SparseMatrix::InnerIterator it(affinity, i); it; ++it) degree(i) += it.value();
  }
  std::vector<Index> active_index(static_cast<std::size_t>(n), -1);
  std::vector<Index> active;
  for (Index i = 0; i < n; ++i) {
    if (degree(i) > 0.0) {
      active_index[static_cast<std::size_t>(i)] = static_cast<Index>(active.size());
      active.push_back(i);
    } else {
      result.isolated.push_back(i);
    }
  }
  const Index m = static_cast<Index>(active.size());
  const Index k = options.dimensions;
  if (k < 1 || k >= m) {
    throw std::invalid_argument(
        "embed: k must satisfy 1 <= k <= n - 1 where n is the number of non-isolated inputs (k = " +
        std::to_string(k) + ", n = " + std::to_string(m) + ")");
  }
  // The operator on the active inputs: S = D^{-1/2} W D^{-1/2} or W.
  std::vector<Eigen::Triplet<double, std::int32_t>> triplets;
  triplets.reserve(static_cast<std::size_t>(affinity.nonZeros()));
  for (Index i = 0; i < n; ++i) {
    const Index ai = active_index[static_cast<std::size_t>(i)];
    if (ai < 0) continue;
    for (SparseMatrix::InnerIterator it(affinity, i); it; ++it) {
      const Index aj = active_index[static_cast<std::size_t>(it.col())];
      if (aj < 0 || it.value() == 0.0) continue;
      const double value = options.laplacian == LaplacianKind::kNormalized
                               ? it.value() / std::sqrt(degree(i) * degree(it.col()))
                               : it.value();
      triplets.emplace_back(static_cast<std::int32_t>(ai), static_cast<std::int32_t>(aj), value);
    }
  }
  SparseMatrix op(m, m);
  op.setFromTriplets(triplets.begin(), triplets.end());
  op.makeCompressed();

  Matrix vectors;
  if (m <= kDenseLimit) {
    const Matrix dense_op(op);
    Eigen::SelfAdjointEigenSolver<Matrix> solver(dense_op);
    // Ascending order: take the last k, reversed.
    vectors = solver.eigenvectors().rightCols(k).rowwise().reverse();
    result.eigenvalues = solver.eigenvalues().tail(k).reverse();
    result.solver = "dense";
    result.converged = solver.info() == Eigen::Success;
  } else {
    using Op = FullSymmetricProduct;
    Op product(op);
    const Index ncv = std::min(m, std::max(2 * k + 1, 2 * k + 20));
    // The Lanczos vectors' dense updates are n x ncv GEMVs: memory-bound, and OpenBLAS threads
    // only add synchronisation (10x slower measured on a loaded 2-core machine).
    ScopedBlasThreads single_thread(1);
    Spectra::SymEigsSolver<Op> solver(product, k, ncv);
    solver.init();
    solver.compute(Spectra::SortRule::LargestAlge, options.max_iterations, options.tolerance,
                   Spectra::SortRule::LargestAlge);
    result.converged = solver.info() == Spectra::CompInfo::Successful;
    result.iterations = solver.num_iterations();
    result.matrix_products = solver.num_operations();
    result.solver = "lanczos";
    if (result.converged) {
      vectors = solver.eigenvectors();
      result.eigenvalues = solver.eigenvalues();
    } else {
      vectors = Matrix::Constant(m, k, std::numeric_limits<double>::quiet_NaN());
      result.eigenvalues = Vector::Constant(k, std::numeric_limits<double>::quiet_NaN());
    }
  }
  fix_signs(&vectors);
  result.embedding = Matrix::Constant(n, k, std::numeric_limits<double>::quiet_NaN());
  for (Index a = 0; a < m; ++a)
    result.embedding.row(active[static_cast<std::size_t>(a)]) = vectors.row(a);
  result.seconds = seconds_since(start);
  return result;
}

KMeansResult kmeans(const Eigen::Ref<const RowMatrix>& points, const KMeansOptions& options) {
  const Index n = points.rows(), d = points.cols(), k = options.clusters;
  if (k < 1 || k > n) {
    throw std::invalid_argument("kmeans: clusters must satisfy 1 <= k <= N (k = " +
                                std::to_string(k) + ", N = " + std::to_string(n) + ")");
  }
  require_option(options.restarts >= 1, "kmeans", "restarts", "at least 1", options.restarts);
  require_option(options.max_iterations >= 1, "kmeans", "max_iterations", "at least 1",
                 options.max_iterations);
  require_option(std::isfinite(options.tolerance) && options.tolerance >= 0, "kmeans", "tolerance",
                 "a finite number >= 0", options.tolerance);
  if (!points.allFinite()) throw std::invalid_argument("kmeans: points have a non-finite entry");
  KMeansResult best;
  best.inertia = std::numeric_limits<double>::infinity();
  for (int restart = 0; restart < options.restarts; ++restart) {
    std::mt19937_64 rng(options.seed * 1000003ULL + static_cast<std::uint64_t>(restart));
    // k-means++ seeding (Arthur & Vassilvitskii 2007).
    RowMatrix centers(k, d);
    Vector closest(n);
    std::uniform_int_distribution<Index> first(0, n - 1);
    centers.row(0) = points.row(first(rng));
    for (Index i = 0; i < n; ++i) closest(i) = squared_distance(points, i, centers, 0);
    for (Index c = 1; c < k; ++c) {
      const double total = closest.sum();
      Index chosen = 0;
      if (total > 0.0) {
        std::uniform_real_distribution<double> uniform(0.0, total);
        double target = uniform(rng);
        for (chosen = 0; chosen < n - 1; ++chosen) {
          target -= closest(chosen);
          if (target <= 0.0) break;
        }
      } else {
        chosen = first(rng);
      }
      centers.row(c) = points.row(chosen);
      for (Index i = 0; i < n; ++i) {
        closest(i) = std::min(closest(i), squared_distance(points, i, centers, c));
      }
    }
    // Lloyd iterations.
    IntVector labels = IntVector::Constant(n, -1);
    Vector distance(n);
    bool converged = false;
    int iteration = 0;
    for (; iteration < options.max_iterations && !converged; ++iteration) {
      Index changed = 0;
#pragma omp parallel for reduction(+ : changed) schedule(static)
      for (Index i = 0; i < n; ++i) {
        double best_distance = 0.0;
        const Index arg = nearest_center(points, i, centers, &best_distance);
        if (labels(i) != arg) ++changed;
        labels(i) = arg;
        distance(i) = best_distance;
      }
      RowMatrix sums = RowMatrix::Zero(k, d);
      Vector counts = Vector::Zero(k);
      for (Index i = 0; i < n; ++i) {
        sums.row(labels(i)) += points.row(i);
        counts(labels(i)) += 1.0;
      }
      RowMatrix updated(k, d);
      for (Index c = 0; c < k; ++c) {
        if (counts(c) > 0) {
          updated.row(c) = sums.row(c) / counts(c);
        } else {  // empty cluster: restart it at the point farthest from its centre
          Index far = 0;
          distance.maxCoeff(&far);
          updated.row(c) = points.row(far);
          distance(far) = 0.0;
          changed += 1;
        }
      }
      const double shift = (updated - centers).squaredNorm();
      centers = updated;
      converged = changed == 0 || shift <= options.tolerance;
    }
    // Final assignment and inertia against the final centres.
    double inertia = 0.0;
    for (Index i = 0; i < n; ++i) {
      double best_distance = 0.0;
      labels(i) = nearest_center(points, i, centers, &best_distance);
      inertia += best_distance;
    }
    if (inertia < best.inertia) {
      best.inertia = inertia;
      best.labels = labels;
      best.centers = centers;
      best.converged = converged;
      best.iterations = iteration;
    }
  }
  return best;
}

SpectralClusteringResult spectral_clustering(const SparseMatrix& affinity,
                                             const SpectralClusteringOptions& options) {
  SpectralClusteringResult result;
  EmbeddingOptions embedding_options;
  embedding_options.dimensions = options.clusters;
  embedding_options.laplacian = options.laplacian;
  embedding_options.max_iterations = options.max_iterations;
  // Refused before the eigensolve, not after it.
  require_option(options.restarts >= 1, "cluster", "restarts", "at least 1", options.restarts);
  require_option(options.max_iterations >= 1, "cluster", "max_iterations", "at least 1",
                 static_cast<double>(options.max_iterations));
  if (options.clusters < 2) {
    throw std::invalid_argument("cluster: k must be >= 2 (k = " + std::to_string(options.clusters) +
                                ")");
  }
  result.embedding = spectral_embedding(affinity, embedding_options);
  const Index n = affinity.rows();
  std::vector<Index> active;
  for (Index i = 0; i < n; ++i) {
    if (!std::isnan(result.embedding.embedding(i, 0))) active.push_back(i);
  }
  RowMatrix points(static_cast<Index>(active.size()), options.clusters);
  for (std::size_t a = 0; a < active.size(); ++a) {
    const auto row = result.embedding.embedding.row(active[a]);
    const double norm = row.norm();
    points.row(static_cast<Index>(a)) = norm > 0.0 ? (row / norm).eval() : row.eval();
  }
  if (!points.allFinite()) {
    throw std::runtime_error("cluster: the eigensolver did not converge; raise max_iterations");
  }
  KMeansOptions kmeans_options;
  kmeans_options.clusters = options.clusters;
  kmeans_options.restarts = options.restarts;
  kmeans_options.seed = options.seed;
  result.kmeans = kmeans(points, kmeans_options);
  result.labels = IntVector::Constant(n, -1);
  for (std::size_t a = 0; a < active.size(); ++a) {
    result.labels(active[a]) = result.kmeans.labels(static_cast<Index>(a));
  }
  return result;
}

}  // namespace sublens::graph
