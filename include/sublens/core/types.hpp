// Matrix types shared by every module.
//
// Orientation (../shared/DESIGN.md): an activation matrix is N x d, one row per input, stored
// row-major exactly as numpy/torch hold it. Note that a row-major N x d matrix has the same memory
// layout as the column-major d x N matrix X of the papers, so `paper_view()` gives the papers' X
// without a copy.
#pragma once

#include <Eigen/Core>
#include <Eigen/SparseCore>
#include <cstdint>

namespace sublens {

using Index = Eigen::Index;
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Matrix = Eigen::MatrixXd;  // column-major, for dense results (embeddings, heatmaps)
using Vector = Eigen::VectorXd;
using IntVector = Eigen::Matrix<std::int64_t, Eigen::Dynamic, 1>;

// Affinity and coefficient graphs: CSR (row-major sparse), 32-bit indices as scipy writes them.
using SparseMatrix = Eigen::SparseMatrix<double, Eigen::RowMajor, std::int32_t>;

// The papers' X (d x N, column i = input i) as a zero-copy view of an N x d activation matrix.
inline Eigen::Map<const Eigen::MatrixXd> paper_view(const RowMatrix& activations) {
  return {activations.data(), activations.cols(), activations.rows()};
}

}  // namespace sublens
