// HSIC and CKA between kernels (graphs) and between activation matrices.
//
// Definitions (Kornblith et al. 2019, "Similarity of neural network representations revisited";
// the SSC paper's eq. 3-4), for symmetric N x N kernels K, L and H = I - 11^T/N:
//
//   biased    HSIC_0(K, L) = tr(K H L H) / (N - 1)^2
//   unbiased  HSIC_1(K, L) = [tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((N-1)(N-2))
//                             - 2/(N-2) 1^T K~ L~ 1] / (N (N - 3))      (Song et al. 2012)
//             where K~, L~ are K, L with their diagonals set to zero.
//   CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))
//
// Nothing here forms an N x N product. For symmetric K, L
//   tr(K H L H) = <K, L>_F - (2/N) (K1)^T (L1) + (1^T K 1)(1^T L 1) / N^2
//   tr(K~ L~)   = <K, L>_F - sum_i K_ii L_ii,   1^T K~ L~ 1 = (K~1)^T (L~1),
// so on sparse graphs both estimators cost O(nnz(K) + nnz(L) + N) time and O(N) extra memory.
// Each kernel's own quantities (row sums, total, diagonal, HSIC(K, K)) are gathered once in a
// KernelStats, so an M x M CKA matrix costs M stats passes plus M^2 Frobenius inner products.
//
// Linear CKA on activations X (N x dx), Y (N x dy), rows = inputs, K = XX^T, L = YY^T:
//   feature form  CKA_0 = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)   (Xc, Yc column-centred)
//   Gram form     the kernel formulas above on K = Xc Xc^T, L = Yc Yc^T (dense, O(N^2) memory).
// The feature form streams over blocks of inputs, accumulating in float64; it costs
// O(N (dx^2 + dy^2 + dx dy)) time and O(dx^2 + dy^2 + dx dy) memory. The Gram form costs
// O(N^2 (dx + dy)) time. `LinearCkaMethod::kAuto` picks the cheaper one that fits in memory.
// The unbiased estimator has a feature form too: with centred X (so K1 = 0) and r_i = ||x_i||^2,
//   tr(K~L~) = ||Yc^T Xc||_F^2 - r_x.r_y, 1^T K~ 1 = -sum r_x, (K~1).(L~1) = r_x.r_y.
// (HSIC_1 is invariant to shifting X by a constant, so centring changes nothing but rounding.)
//
// RBF CKA: K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2)) with sigma^2 = median of all N^2 squared
// distances (diagonal zeros included), exactly as Kornblith et al.'s reference code
// (`gram_rbf(x, threshold=1.0)`). O(N^2 d) time, O(N^2) memory.
//
// Edge cases: N < 2 (biased) or N < 4 (unbiased) throw std::invalid_argument; a kernel whose
// HSIC(K, K) <= 0 (an empty graph, a constant kernel) gives CKA = NaN with `defined = false`.
//
// Example:
//   sublens::similarity::CkaOptions options;
//   options.estimator = sublens::similarity::HsicEstimator::kUnbiased;
//   auto result = sublens::similarity::graph_cka(affinity_a, affinity_b, options);
//   std::printf("%s CKA = %.4f\n", to_string(result.estimator).c_str(), result.cka);
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sublens/core/types.hpp"

namespace sublens::similarity {

enum class HsicEstimator {
  kBiased,    // Kornblith et al. 2019 (the paper's eq. 4), tr(KHLH)/(N-1)^2
  kUnbiased,  // Song et al. 2012, U-statistic on zero-diagonal kernels; needs N >= 4
};
// "biased" / "unbiased".
std::string to_string(HsicEstimator estimator);
// Inverse of to_string; throws std::invalid_argument naming the accepted values.
HsicEstimator parse_estimator(std::string_view name);

// What A and B are: kernels (graph) or activations compared with a linear or RBF kernel; auto
// lets the caller decide from the inputs (graph for scipy-sparse, else linear).
enum class CkaKind { kAuto, kGraph, kLinear, kRbf };
// "auto" / "graph" / "linear" / "rbf".
std::string to_string(CkaKind kind);
// Inverse of to_string; throws std::invalid_argument
// "cka: kind must be one of auto, graph, linear, rbf (got 'x')".
CkaKind parse_kind(std::string_view name);

// Per-kernel quantities needed by every HSIC involving that kernel.
struct KernelStats {
  Index n = 0;
  HsicEstimator estimator = HsicEstimator::kBiased;
  Vector row_sums;         // K1 (biased) or K~1 (unbiased: diagonal removed)
  double total = 0.0;      // 1^T K 1 or 1^T K~ 1
  Vector diagonal;         // diag(K) (used by the unbiased estimator to drop it from <K, L>_F)
  double self_hsic = 0.0;  // HSIC(K, K) under `estimator`
};

// Stats of a symmetric sparse or dense kernel. Throws std::invalid_argument when K is not square,
// not symmetric (relative tolerance kSymmetryTolerance), has non-finite entries or is too small
// for the estimator. `what` names the kernel in error messages ("K", "layer3").
KernelStats kernel_stats(const SparseMatrix& kernel, HsicEstimator estimator,
                         const std::string& what = "K");
KernelStats kernel_stats(const Eigen::Ref<const Matrix>& kernel, HsicEstimator estimator,
                         const std::string& what = "K");

// <K, L>_F = sum_ij K_ij L_ij by merging the sorted CSR rows: O(nnz(K) + nnz(L)), deterministic
// (per-row partial sums added in row order).
double frobenius_inner(const SparseMatrix& a, const SparseMatrix& b);

// HSIC from <K, L>_F and the two kernels' stats (O(N)).
double hsic_from_parts(double frobenius, const KernelStats& k, const KernelStats& l);

// CKA from HSIC(K, L) and the self-HSICs; NaN when either self-HSIC <= 0.
double cka_from_hsic(double hsic_kl, double hsic_kk, double hsic_ll);

// The pairs of a CKA matrix computed in this call (a matrix split over processes, as
// `sublens cka-matrix` does under mpirun with dist::TaskQueue): called for the next pair, an index
// into matrix_pairs(), until it returns a negative number. Empty (the default): every pair. The
// entries of pairs not computed here are NaN. With next_pair, the matrices print no progress.
using NextPair = std::function<std::int64_t()>;

struct CkaOptions {
  // Biased (the paper) or unbiased (less sensitive to N and dimension, Song et al. 2012).
  HsicEstimator estimator = HsicEstimator::kBiased;
  // The matrices only (graph_cka_matrix): which pairs to compute.
  NextPair next_pair;
};

struct CkaResult {
  double cka = 0.0;      // NaN when undefined
  bool defined = true;   // false when HSIC(K, K) or HSIC(L, L) <= 0
  double hsic_kl = 0.0;  // HSIC(K, L)
  double hsic_kk = 0.0;  // HSIC(K, K)
  double hsic_ll = 0.0;  // HSIC(L, L)
  HsicEstimator estimator = HsicEstimator::kBiased;
  std::string method;  // "sparse", "dense", "feature", "gram", "rbf"
  Index n = 0;
  double seconds = 0.0;
};

// Graph / kernel CKA between symmetric N x N matrices. Shape mismatches throw
// "cka: K is 500 x 500 but L is 400 x 400".
CkaResult graph_cka(const SparseMatrix& k, const SparseMatrix& l, const CkaOptions& options = {});
CkaResult graph_cka(const Eigen::Ref<const Matrix>& k, const Eigen::Ref<const Matrix>& l,
                    const CkaOptions& options = {});

enum class LinearCkaMethod {
  kAuto,     // feature form unless the Gram form is cheaper (d >> N) and fits in memory
  kFeature,  // ||Yc^T Xc||^2 / (||Xc^T Xc|| ||Yc^T Yc||), streamed over input blocks
  kGram,     // dense N x N Gram matrices
};

// "auto" / "feature" / "gram".
std::string to_string(LinearCkaMethod method);
// Inverse of to_string; throws std::invalid_argument
// "cka: method must be one of auto, feature, gram (got 'x')".
LinearCkaMethod parse_method(std::string_view name);

struct LinearCkaOptions {
  HsicEstimator estimator = HsicEstimator::kBiased;
  LinearCkaMethod method = LinearCkaMethod::kAuto;
  // Inputs per block in the feature form: bounds the centred copy to block_rows x d doubles.
  Index block_rows = 2048;
  // The matrices only (activation_cka_matrix): which pairs to compute.
  NextPair next_pair;
};

// Linear CKA between activations X (N x dx) and Y (N x dy), rows = inputs.
CkaResult linear_cka(const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const RowMatrix>& y,
                     const LinearCkaOptions& options = {});

// Kornblith's RBF Gram matrix with sigma^2 = threshold^2 * median squared distance.
Matrix rbf_gram(const Eigen::Ref<const RowMatrix>& x, double threshold = 1.0);

// RBF CKA (median-distance bandwidth) between activations X and Y.
CkaResult rbf_cka(const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const RowMatrix>& y,
                  const CkaOptions& options = {});

// ---- CKA matrices ---------------------------------------------------------------------------

// The pairs (row, column) a rows x cols CKA matrix computes, in the order the matrices compute
// them (row by row): with `square` (a source with itself) those with column >= row, whose mirror
// entry is the same value; otherwise all of them. Every pair's value depends on its two layers
// only, so any subset computes the same values as the whole matrix, bit for bit.
std::vector<std::pair<Index, Index>> matrix_pairs(Index rows, Index cols, bool square);

// CKA between every graph of `a` and every graph of `b` (|a| x |b|). When `b` is empty, the
// symmetric |a| x |a| matrix of `a` with itself (each pair computed once). Each graph's stats are
// computed once.
Matrix graph_cka_matrix(const std::vector<const SparseMatrix*>& a,
                        const std::vector<const SparseMatrix*>& b, const CkaOptions& options = {});

// Linear or RBF CKA between every layer of `a` and every layer of `b` (empty: a with itself).
// Linear: each layer is centred and its self term computed once; pairs use the feature form, or
// cached Gram matrices when every layer's Gram form is cheaper and they all fit in memory.
// RBF: each layer's centred Gram matrix is computed once (needs |layers| N^2 doubles).
enum class ActivationKernel { kLinear, kRbf };
Matrix activation_cka_matrix(const std::vector<const RowMatrix*>& a,
                             const std::vector<const RowMatrix*>& b, ActivationKernel kernel,
                             const LinearCkaOptions& options = {});

}  // namespace sublens::similarity
