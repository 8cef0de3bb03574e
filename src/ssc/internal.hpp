// Private helpers shared by the SSC solvers (not part of the public API).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "sublens/core/types.hpp"
#include "sublens/ssc/ssc.hpp"

namespace sublens::ssc::detail {

// The papers' X (d x N, column-major, column i = input i).
using PaperMatrix = Eigen::Map<const Eigen::MatrixXd>;

// One sparse column of C: (row j, value) pairs in increasing j.
using SparseColumn = std::vector<std::pair<Index, double>>;

// Objective and largest optimality-condition violation of C (given by columns) for the inputs
// `x` (d x N), computed blockwise: X C_B - X_B by sparse products, then X^T times it by GEMM.
// Memory O(N * block); time O(2 d N^2 + nnz d).
struct Check {
  double objective = 0.0;
  double kkt_violation = 0.0;
};
Check check_columns(const PaperMatrix& x, const std::vector<SparseColumn>& columns, double tau,
                    int threads);

// Columns of C -> N x N CSR.
SparseMatrix to_csr(const std::vector<SparseColumn>& columns, Index n);

// Columns that a block of `n` candidates x `width` columns of doubles may use at most.
Index block_width(Index n, Index d, std::uint64_t budget_bytes);

// Solvers on prepared inputs (tau already resolved). Fill coefficients (by columns) and the
// Result's iterations / converged / peak_memory_bytes (the Lasso solver also objective and
// kkt_violation).
void solve_lasso(const RowMatrix& inputs, double tau, const Options& options, int threads,
                 std::vector<SparseColumn>& columns, Result& result);
void solve_admm(const RowMatrix& inputs, double tau, const Options& options, int threads,
                std::vector<SparseColumn>& columns, Result& result);

// A working set's Gram matrix H = G_WW, supplied column by column on demand: the homotopy path
// reads only the columns of the variables it activates (|S| |W| entries, not |W|^2).
class GramColumns {
 public:
  virtual ~GramColumns() = default;
  virtual Index size() const = 0;
  virtual double diagonal(Index k) = 0;
  virtual const Vector& column(Index k) = 0;  // H(:, k), of length size()
};

// A GramColumns over a dense H (tests and small problems).
class DenseGram final : public GramColumns {
 public:
  explicit DenseGram(const Eigen::MatrixXd& hessian) : columns_(hessian.cols()) {
    for (Index k = 0; k < hessian.cols(); ++k) columns_[k] = hessian.col(k);
  }
  Index size() const override { return static_cast<Index>(columns_.size()); }
  double diagonal(Index k) override { return columns_[k][k]; }
  const Vector& column(Index k) override { return columns_[k]; }

 private:
  std::vector<Vector> columns_;
};

// The Lasso  min_c 1/2 c^T H c - q^T c + lambda ||c||_1  on a working set (H = G_WW, q = b_W), by
// its homotopy path (homotopy.cpp). `finished` is false only when the path stopped on its piece
// limit (cycling on exact ties); `coef` is then the last point reached.
struct PathResult {
  Vector coef;
  int pieces = 0;
  bool finished = true;
};
PathResult lasso_path(GramColumns& hessian, const Vector& target, double lambda);

// Eigendecomposition of a symmetric matrix in place (columns = eigenvectors), ascending values,
// by LAPACK dsyevd (admm.cpp).
Vector symmetric_eigen(Eigen::MatrixXd& a);

// LAPACK (OpenBLAS). The BLAS routines below (ssyrk_, sgemm_, saxpy_, sdot_, daxpy_, ddot_) are
// declared by Eigen's Eigen/src/misc/blas.h, which EIGEN_USE_BLAS (set by sublens_core) brings in:
// declaring them again here conflicted with those declarations under clang. Their kernels match
// the CPU (see core/blas.hpp); Eigen's own loops are compiled for the baseline x86-64 width.
#ifndef EIGEN_USE_BLAS
#error "sublens's SSC solvers call OpenBLAS through Eigen's BLAS declarations (EIGEN_USE_BLAS)"
#endif
extern "C" {
void dpstrf_(const char* uplo, const int* n, double* a, const int* lda, int* piv, int* rank,
             const double* tol, double* work, int* info);
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
             double* work, const int* lwork, int* iwork, const int* liwork, int* info);
}

// x^T y of two contiguous vectors of length n, by OpenBLAS (Eigen declares ?dot_ with non-const
// pointers; they only read them).
inline double blas_dot(Index n, const double* x, const double* y) {
  int size = static_cast<int>(n);
  int one = 1;
  return ddot_(&size, const_cast<double*>(x), &one, const_cast<double*>(y), &one);
}
inline double blas_dot(Index n, const float* x, const float* y) {
  int size = static_cast<int>(n);
  int one = 1;
  return static_cast<double>(
      sdot_(&size, const_cast<float*>(x), &one, const_cast<float*>(y), &one));
}

// y += alpha x for contiguous vectors of length n, by OpenBLAS.
inline void blas_axpy(Index n, double alpha, const double* x, double* y) {
  const int size = static_cast<int>(n);
  const int one = 1;
  daxpy_(&size, &alpha, x, &one, y, &one);
}
inline void blas_axpy(Index n, float alpha, const float* x, float* y) {
  const int size = static_cast<int>(n);
  const int one = 1;
  saxpy_(&size, &alpha, x, &one, y, &one);
}

}  // namespace sublens::ssc::detail
