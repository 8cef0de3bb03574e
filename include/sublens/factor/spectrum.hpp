// Top-k singular values of an activation matrix (PAPERS.md, section B: "semi-log top singular
// values of each A_j").
//
// Method. For X (N x d), let m = min(N, d) and G the Gram matrix of the smaller side (X^T X when
// d <= N, else X X^T; m x m). The singular values are sigma_i = sqrt(lambda_i(G)).
//  - Dense path (m <= `dense_limit`, or k >= m - 1 where Lanczos cannot run): Eigen's BDCSVD of X
//    itself. Accurate to ~eps * sigma_1 in every singular value; cost O(N d m).
//  - Partial path (otherwise): implicitly restarted Lanczos (Spectra::SymEigsSolver) on G applied
//    matrix-free, v -> X^T (X v) (or X (X^T v)); G is never formed, so memory is O(N + d) plus the
//    Krylov basis (m x ncv, ncv = min(m, max(2k + 1, 20))). Each product costs 2 N d flops. Because
//    it works on sigma^2, a singular value is accurate to about eps * sigma_1^2 / sigma_i in
//    absolute terms (plus the Lanczos tolerance, relative to sigma_i^2): values below ~1e-7 sigma_1
//    are not resolved (they come back as small non-negative numbers). That is far below what a
//    semi-log spectrum plot shows.
// Edge cases: k < 1 is an error; k > m returns m values; a zero matrix returns zeros.
//
// Example:
//   const auto spectrum = sublens::factor::top_singular_values(layer.values, {.k = 50});
//   // spectrum.singular_values: descending, length min(k, N, d)
#pragma once

#include <string>

#include "sublens/core/types.hpp"

namespace sublens::factor {

struct SpectrumOptions {
  // How many of the largest singular values to return (>= 1; capped at min(N, d)).
  int k = 50;
  // Use a dense SVD when min(N, d) is at most this. Dense is exact and fast for small m; Lanczos
  // wins once m is in the thousands and k << m.
  Index dense_limit = 1000;
  // Lanczos convergence tolerance (Spectra's, relative to each eigenvalue of the Gram).
  double tolerance = 1e-10;
  // Lanczos restarts before giving up (non-convergence is reported, not thrown).
  int max_restarts = 1000;
};

struct SpectrumResult {
  Vector singular_values;  // descending, length min(k, N, d)
  std::string method;      // "dense-svd" or "lanczos-gram"
  bool converged = true;   // false when Lanczos hit max_restarts (values are then approximate)
  Index products = 0;      // Gram-vector products used by Lanczos (0 for the dense path)
  double seconds = 0;      // wall time
};

// Throws std::invalid_argument for k < 1 or an empty or non-finite matrix.
SpectrumResult top_singular_values(const RowMatrix& activations, const SpectrumOptions& options);

}  // namespace sublens::factor
