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

// LAPACK (from OpenBLAS).
extern "C" {
void dpstrf_(const char* uplo, const int* n, double* a, const int* lda, int* piv, int* rank,
             const double* tol, double* work, int* info);
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
             double* work, const int* lwork, int* iwork, const int* liwork, int* info);
}

}  // namespace sublens::ssc::detail
