// Spectral embedding and spectral clustering of sparse affinity graphs (Lanczos via Spectra).
//
// Embedding. With degrees d_i = sum_j W_ij and S = D^{-1/2} W D^{-1/2}, the normalised Laplacian is
// L_sym = I - S, so its k smallest eigenvectors are the k largest-algebraic eigenvectors of S.
// `LaplacianKind::kNormalized` returns those (eigenvalues reported for S; L_sym's are 1 - lambda);
// `LaplacianKind::kNone` returns the k largest-algebraic eigenvectors of W itself (the paper's
// "top eigenvectors of the affinity"). Eigenvectors are unit length, ordered by decreasing
// eigenvalue, and signed so that their largest-magnitude entry is positive (deterministic).
// Isolated inputs (d_i = 0) are removed before the eigensolve, listed in the result, and get
// embedding rows of NaN (they have no position in the graph).
// Cost: Lanczos with ncv = min(n, max(2k + 1, 2k + 20)) vectors: O(iterations (nnz + n ncv)) time,
// O(n ncv) memory; graphs with at most kDenseLimit active inputs use a dense eigensolver.
//
// Clustering (Ng, Jordan & Weiss 2001): embed with k = clusters, normalise each row to unit
// length, then k-means (k-means++ seeding, `restarts` seeded runs, best inertia kept). Isolated
// inputs get label -1.
//
// Example:
//   sublens::graph::EmbeddingOptions options;
//   options.dimensions = 2;
//   auto embedding = sublens::graph::spectral_embedding(affinity, options).embedding;  // N x 2
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sublens/core/types.hpp"

namespace sublens::graph {

enum class LaplacianKind { kNormalized, kNone };
std::string to_string(LaplacianKind kind);
LaplacianKind parse_laplacian(const std::string& name);  // "normalized" | "none"

// At most this many active inputs: dense eigensolver (Lanczos needs n well above k).
constexpr Index kDenseLimit = 64;

struct EmbeddingOptions {
  // k, the number of eigenvectors; 1 <= k < number of non-isolated inputs.
  Index dimensions = 2;
  LaplacianKind laplacian = LaplacianKind::kNormalized;
  // Lanczos restarts (>= 1) and relative eigenvalue tolerance (finite, > 0; Spectra's maxit /
  // tol). Raise max_iterations when `converged` is false (clustered eigenvalues near 1 converge
  // slowly).
  Index max_iterations = 1000;
  double tolerance = 1e-10;
};

struct EmbeddingResult {
  Matrix embedding;             // N x k; NaN rows for isolated inputs
  Vector eigenvalues;           // k eigenvalues of S (normalized) or W (none), decreasing
  std::vector<Index> isolated;  // inputs with zero degree
  bool converged = true;
  Index iterations = 0;  // Lanczos restarts (0 for the dense path)
  Index matrix_products = 0;
  std::string solver;  // "lanczos" or "dense"
  double seconds = 0.0;
};

EmbeddingResult spectral_embedding(const SparseMatrix& affinity, const EmbeddingOptions& options);

struct KMeansOptions {
  Index clusters = 2;
  // Independent k-means++ starts (>= 1); the run with the lowest inertia wins.
  int restarts = 20;
  int max_iterations = 300;  // >= 1
  // Stop when no label changes or the centres move less than this (squared, summed; finite, >= 0).
  double tolerance = 1e-12;
  std::uint64_t seed = 0;
};

struct KMeansResult {
  IntVector labels;      // 0 .. clusters-1
  RowMatrix centers;     // clusters x d
  double inertia = 0.0;  // sum of squared distances to the assigned centre
  bool converged = false;
  int iterations = 0;  // of the winning restart
};

// Lloyd's k-means with k-means++ seeding on the rows of `points`. Deterministic for a seed.
// O(restarts * iterations * N * k * d).
KMeansResult kmeans(const Eigen::Ref<const RowMatrix>& points, const KMeansOptions& options);

struct SpectralClusteringOptions {
  Index clusters = 2;
  LaplacianKind laplacian = LaplacianKind::kNormalized;
  int restarts = 20;  // >= 1
  std::uint64_t seed = 0;
  Index max_iterations = 1000;  // Lanczos restarts, >= 1
};

struct SpectralClusteringResult {
  IntVector labels;  // -1 for isolated inputs
  EmbeddingResult embedding;
  KMeansResult kmeans;
};

SpectralClusteringResult spectral_clustering(const SparseMatrix& affinity,
                                             const SpectralClusteringOptions& options);

}  // namespace sublens::graph
