// Top-k singular values: dense BDCSVD for small matrices, matrix-free Lanczos on the Gram
// otherwise.
#include "sublens/factor/spectrum.hpp"

#include <Spectra/SymEigsSolver.h>

#include <Eigen/SVD>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "sublens/core/progress.hpp"

namespace sublens::factor {
namespace {

// y = G x with G = X^T X (gram_of_columns) or X X^T, never formed. X is N x d row-major.
class GramOperator {
 public:
  using Scalar = double;
  GramOperator(const RowMatrix& x, bool gram_of_columns)
      : x_(x), columns_(gram_of_columns), work_(gram_of_columns ? x.rows() : x.cols()) {}
  Index rows() const { return columns_ ? x_.cols() : x_.rows(); }
  Index cols() const { return rows(); }
  void perform_op(const double* in, double* out) const {
    Eigen::Map<const Vector> v(in, rows());
    Eigen::Map<Vector> y(out, rows());
    if (columns_) {
      work_.noalias() = x_ * v;
      y.noalias() = x_.transpose() * work_;
    } else {
      work_.noalias() = x_.transpose() * v;
      y.noalias() = x_ * work_;
    }
  }

 private:
  const RowMatrix& x_;
  bool columns_;
  mutable Vector work_;
};

}  // namespace

SpectrumResult top_singular_values(const RowMatrix& activations, const SpectrumOptions& options) {
  if (options.k < 1) {
    throw std::invalid_argument("spectrum: k must be >= 1 (k = " + std::to_string(options.k) + ")");
  }
  if (!(std::isfinite(options.tolerance) && options.tolerance > 0)) {
    throw std::invalid_argument("spectrum: tolerance must be a finite number > 0 (got " +
                                std::to_string(options.tolerance) + ")");
  }
  if (options.max_restarts < 1 || options.dense_limit < 0) {
    throw std::invalid_argument("spectrum: max_restarts must be >= 1 and dense_limit >= 0 (got " +
                                std::to_string(options.max_restarts) + " and " +
                                std::to_string(options.dense_limit) + ")");
  }
  if (activations.rows() < 1 || activations.cols() < 1) {
    throw std::invalid_argument("spectrum: the matrix must be non-empty (it is " +
                                std::to_string(activations.rows()) + " x " +
                                std::to_string(activations.cols()) + ")");
  }
  if (!activations.allFinite()) {
    throw std::invalid_argument("spectrum: the matrix has NaN or Inf entries");
  }
  const auto start = std::chrono::steady_clock::now();
  const Index m = std::min(activations.rows(), activations.cols());
  const Index k = std::min<Index>(options.k, m);
  SpectrumResult result;

  if (activations.squaredNorm() == 0) {
    result.singular_values = Vector::Zero(k);
    result.method = "zero";
  } else if (m <= options.dense_limit || k >= m - 1) {
    Eigen::BDCSVD<Matrix> svd(activations, Eigen::DecompositionOptions(0));
    result.singular_values = svd.singularValues().head(k);
    result.method = "dense-svd";
  } else {
    const bool gram_of_columns = activations.cols() <= activations.rows();
    GramOperator op(activations, gram_of_columns);
    const Index ncv = std::min<Index>(m, std::max<Index>(2 * k + 1, 20));
    Spectra::SymEigsSolver<GramOperator> eigs(op, k, ncv);
    eigs.init();
    eigs.compute(Spectra::SortRule::LargestAlge, options.max_restarts, options.tolerance,
                 Spectra::SortRule::LargestAlge);
    result.converged = eigs.info() == Spectra::CompInfo::Successful;
    const Vector lambda = eigs.eigenvalues();
    result.singular_values = lambda.cwiseMax(0.0).cwiseSqrt();
    result.products = eigs.num_operations();
    result.method = "lanczos-gram";
  }
  result.seconds = seconds_since(start);
  return result;
}

}  // namespace sublens::factor
