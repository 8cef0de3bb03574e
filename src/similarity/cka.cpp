// HSIC / CKA: see include/sublens/similarity/cka.hpp for the formulas and their costs.
#include "sublens/similarity/cka.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "sublens/core/memory.hpp"
#include "sublens/core/progress.hpp"

namespace sublens::similarity {
namespace {

// |K - K^T| <= kSymmetryTolerance * max|K| entrywise.
constexpr double kSymmetryTolerance = 1e-10;

std::string shape(Index rows, Index cols) {
  return std::to_string(rows) + " x " + std::to_string(cols);
}

Index minimum_n(HsicEstimator estimator) { return estimator == HsicEstimator::kBiased ? 2 : 4; }

void require_n(Index n, HsicEstimator estimator, const std::string& what) {
  if (n < minimum_n(estimator)) {
    throw std::invalid_argument("cka: the " + to_string(estimator) +
                                " estimator needs N >= " + std::to_string(minimum_n(estimator)) +
                                " (" + what + " has N = " + std::to_string(n) + ")");
  }
}

void require_same_shape(Index kr, Index kc, Index lr, Index lc, const char* k_name,
                        const char* l_name) {
  if (kr != lr || kc != lc) {
    throw std::invalid_argument(std::string("cka: ") + k_name + " is " + shape(kr, kc) + " but " +
                                l_name + " is " + shape(lr, lc));
  }
}

void require_square(Index rows, Index cols, const std::string& what) {
  if (rows != cols) {
    throw std::invalid_argument("cka: " + what + " must be square (N x N) but is " +
                                shape(rows, cols));
  }
}

// Fills the stats given row sums, total, diagonal and <K, K>_F of the *full* kernel K.
KernelStats finish_stats(Index n, HsicEstimator estimator, Vector row_sums, Vector diagonal,
                         double self_frobenius) {
  KernelStats stats;
  stats.n = n;
  stats.estimator = estimator;
  stats.diagonal = std::move(diagonal);
  stats.row_sums = std::move(row_sums);
  if (estimator == HsicEstimator::kUnbiased) stats.row_sums -= stats.diagonal;
  stats.total = stats.row_sums.sum();
  stats.self_hsic = hsic_from_parts(self_frobenius, stats, stats);
  return stats;
}

CkaResult make_result(double hsic_kl, double hsic_kk, double hsic_ll, HsicEstimator estimator,
                      std::string method, Index n, std::chrono::steady_clock::time_point start) {
  CkaResult result;
  result.hsic_kl = hsic_kl;
  result.hsic_kk = hsic_kk;
  result.hsic_ll = hsic_ll;
  result.cka = cka_from_hsic(hsic_kl, hsic_kk, hsic_ll);
  result.defined = std::isfinite(result.cka);
  result.estimator = estimator;
  result.method = std::move(method);
  result.n = n;
  result.seconds = seconds_since(start);
  return result;
}

// ---- linear CKA helpers -------------------------------------------------------------------

Eigen::RowVectorXd column_means(const Eigen::Ref<const RowMatrix>& x) {
  return x.colwise().sum() / static_cast<double>(x.rows());
}

// Self term of one activation matrix in feature form: G = Xc^T Xc streamed over input blocks,
// r_i = ||xc_i||^2. Returns <K, K>_F = ||G||_F^2 and fills r.
double feature_self(const Eigen::Ref<const RowMatrix>& x, const Eigen::RowVectorXd& mean,
                    Index block_rows, Vector* row_norms) {
  const Index n = x.rows(), d = x.cols();
  Matrix gram = Matrix::Zero(d, d);
  row_norms->resize(n);
  RowMatrix block;
  for (Index start = 0; start < n; start += block_rows) {
    const Index rows = std::min(block_rows, n - start);
    block = x.middleRows(start, rows).rowwise() - mean;
    gram.selfadjointView<Eigen::Lower>().rankUpdate(block.transpose());
    row_norms->segment(start, rows) = block.rowwise().squaredNorm();
  }
  // Only the lower triangle is filled: ||G||^2 = 2 * strict lower + diagonal.
  double total = 0.0;
  for (Index j = 0; j < d; ++j) {
    total += gram(j, j) * gram(j, j);
    for (Index i = j + 1; i < d; ++i) total += 2.0 * gram(i, j) * gram(i, j);
  }
  return total;
}

// ||Yc^T Xc||_F^2 streamed over input blocks.
double feature_cross(const Eigen::Ref<const RowMatrix>& x, const Eigen::RowVectorXd& x_mean,
                     const Eigen::Ref<const RowMatrix>& y, const Eigen::RowVectorXd& y_mean,
                     Index block_rows) {
  const Index n = x.rows();
  Matrix cross = Matrix::Zero(y.cols(), x.cols());
  RowMatrix xb, yb;
  for (Index start = 0; start < n; start += block_rows) {
    const Index rows = std::min(block_rows, n - start);
    xb = x.middleRows(start, rows).rowwise() - x_mean;
    yb = y.middleRows(start, rows).rowwise() - y_mean;
    cross.noalias() += yb.transpose() * xb;
  }
  return cross.squaredNorm();
}

// Stats of K = Xc Xc^T from its feature-form quantities (K1 = 0 because Xc is centred).
KernelStats linear_stats(Index n, HsicEstimator estimator, const Vector& row_norms,
                         double self_frobenius) {
  return finish_stats(n, estimator, Vector::Zero(n), row_norms, self_frobenius);
}

struct LinearLayer {
  Eigen::RowVectorXd mean;
  KernelStats stats;
};

LinearLayer prepare_linear(const Eigen::Ref<const RowMatrix>& x, HsicEstimator estimator,
                           Index block_rows) {
  LinearLayer layer;
  layer.mean = column_means(x);
  Vector row_norms;
  const double self = feature_self(x, layer.mean, block_rows, &row_norms);
  layer.stats = linear_stats(x.rows(), estimator, row_norms, self);
  return layer;
}

Matrix centred_gram(const Eigen::Ref<const RowMatrix>& x) {
  const RowMatrix centred = x.rowwise() - column_means(x);
  Matrix gram(x.rows(), x.rows());
  gram.setZero();
  gram.selfadjointView<Eigen::Lower>().rankUpdate(centred);
  gram.triangularView<Eigen::StrictlyUpper>() = gram.transpose();
  return gram;
}

double dense_frobenius(const Eigen::Ref<const Matrix>& a, const Eigen::Ref<const Matrix>& b) {
  return (a.array() * b.array()).sum();
}

// For a whole CKA matrix: one N x N kernel per layer (N^2 d / 2 flops each, then N^2 per pair)
// against one feature cross product per pair (N d_a d_b flops). A single wide layer (conv maps,
// d ~ 10^4) next to a narrow one (logits) makes the feature form cost N d^2: compare totals, not
// layer by layer.
bool gram_matrix_is_cheaper(Index n, const std::vector<const RowMatrix*>& a,
                            const std::vector<const RowMatrix*>& other, bool square) {
  const double nd = static_cast<double>(n);
  double gram = 0.0;
  double feature = 0.0;
  for (const auto* m : a) gram += 0.5 * nd * nd * static_cast<double>(m->cols());
  if (!square) {
    for (const auto* m : other) gram += 0.5 * nd * nd * static_cast<double>(m->cols());
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    for (std::size_t j = square ? i + 1 : 0; j < other.size(); ++j) {
      gram += nd * nd;
      feature += nd * static_cast<double>(a[i]->cols()) * static_cast<double>(other[j]->cols());
    }
    feature += 0.5 * nd * static_cast<double>(a[i]->cols() * a[i]->cols());  // self terms
  }
  return gram < feature;
}

bool gram_is_cheaper(Index n, Index dx, Index dy) {
  const double nd = static_cast<double>(n);
  const double feature = nd * (0.5 * dx * dx + 0.5 * dy * dy + static_cast<double>(dx) * dy);
  const double gram = nd * nd * 0.5 * (dx + dy) + 4.0 * nd * nd;
  return gram < feature;
}

std::uint64_t gram_bytes(Index n, int count) {
  return static_cast<std::uint64_t>(count) * static_cast<std::uint64_t>(n) *
         static_cast<std::uint64_t>(n) * sizeof(double);
}

std::uint64_t feature_bytes(Index dx, Index dy) {
  const auto x = static_cast<std::uint64_t>(dx), y = static_cast<std::uint64_t>(dy);
  return (x * x + y * y + x * y) * sizeof(double);
}

void require_same_inputs(const Eigen::Ref<const RowMatrix>& x,
                         const Eigen::Ref<const RowMatrix>& y) {
  if (x.rows() != y.rows()) {
    throw std::invalid_argument("cka: X is " + shape(x.rows(), x.cols()) + " but Y is " +
                                shape(y.rows(), y.cols()) +
                                "; both must have one row per input (same N)");
  }
  if (x.cols() == 0 || y.cols() == 0) {
    throw std::invalid_argument("cka: activations need at least one feature (X is " +
                                shape(x.rows(), x.cols()) + ", Y is " + shape(y.rows(), y.cols()) +
                                ")");
  }
}

double numpy_median(std::vector<double> values) {
  const std::size_t size = values.size();
  const std::size_t mid = size / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  const double upper = values[mid];
  if (size % 2 == 1) return upper;
  const double lower =
      *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
  return 0.5 * (lower + upper);
}

}  // namespace

namespace {

// The one table per enum that both to_string and parse_* read.
template <typename Enum>
struct EnumName {
  Enum value;
  std::string_view name;
};

constexpr std::array<EnumName<HsicEstimator>, 2> kEstimatorNames{{
    {HsicEstimator::kBiased, "biased"},
    {HsicEstimator::kUnbiased, "unbiased"},
}};
constexpr std::array<EnumName<CkaKind>, 4> kKindNames{{
    {CkaKind::kAuto, "auto"},
    {CkaKind::kGraph, "graph"},
    {CkaKind::kLinear, "linear"},
    {CkaKind::kRbf, "rbf"},
}};
constexpr std::array<EnumName<LinearCkaMethod>, 3> kMethodNames{{
    {LinearCkaMethod::kAuto, "auto"},
    {LinearCkaMethod::kFeature, "feature"},
    {LinearCkaMethod::kGram, "gram"},
}};

template <typename Enum, std::size_t size>
std::string name_of(const std::array<EnumName<Enum>, size>& names, Enum value) {
  for (const auto& entry : names) {
    if (entry.value == value) return std::string(entry.name);
  }
  throw std::logic_error("cka: enum value without a name");
}

// "cka: <what> must be one of a, b, c (got 'x')" when `name` is not in `names`.
template <typename Enum, std::size_t size>
Enum parse_name(const std::array<EnumName<Enum>, size>& names, std::string_view name,
                const std::string& what) {
  std::string allowed;
  for (const auto& entry : names) {
    if (entry.name == name) return entry.value;
    allowed += (allowed.empty() ? "" : ", ") + std::string(entry.name);
  }
  throw std::invalid_argument("cka: " + what + " must be one of " + allowed + " (got '" +
                              std::string(name) + "')");
}

}  // namespace

std::string to_string(HsicEstimator estimator) { return name_of(kEstimatorNames, estimator); }
HsicEstimator parse_estimator(std::string_view name) {
  return parse_name(kEstimatorNames, name, "estimator");
}
std::string to_string(CkaKind kind) { return name_of(kKindNames, kind); }
CkaKind parse_kind(std::string_view name) { return parse_name(kKindNames, name, "kind"); }
std::string to_string(LinearCkaMethod method) { return name_of(kMethodNames, method); }
LinearCkaMethod parse_method(std::string_view name) {
  return parse_name(kMethodNames, name, "method");
}

KernelStats kernel_stats(const SparseMatrix& kernel, HsicEstimator estimator,
                         const std::string& what) {
  require_square(kernel.rows(), kernel.cols(), what);
  require_n(kernel.rows(), estimator, what);
  double max_abs = 0.0;
  for (Index i = 0; i < kernel.outerSize(); ++i) {
    for (SparseMatrix::InnerIterator it(kernel, i); it; ++it) {
      if (!std::isfinite(it.value())) {
        throw std::invalid_argument("cka: " + what + " has a non-finite entry");
      }
      max_abs = std::max(max_abs, std::abs(it.value()));
    }
  }
  const SparseMatrix transposed = kernel.transpose();
  const SparseMatrix difference = kernel - transposed;
  for (Index k = 0; k < difference.nonZeros(); ++k) {
    if (std::abs(difference.valuePtr()[k]) > kSymmetryTolerance * max_abs) {
      throw std::invalid_argument("cka: " + what + " must be symmetric (K = K^T)");
    }
  }
  const Index n = kernel.rows();
  Vector row_sums(n), diagonal = Vector::Zero(n);
  for (Index i = 0; i < n; ++i) {
    double sum = 0.0;
    for (SparseMatrix::InnerIterator it(kernel, i); it; ++it) {
      sum += it.value();
      if (it.col() == i) diagonal(i) += it.value();
    }
    row_sums(i) = sum;
  }
  return finish_stats(n, estimator, std::move(row_sums), std::move(diagonal), kernel.squaredNorm());
}

KernelStats kernel_stats(const Eigen::Ref<const Matrix>& kernel, HsicEstimator estimator,
                         const std::string& what) {
  require_square(kernel.rows(), kernel.cols(), what);
  require_n(kernel.rows(), estimator, what);
  if (!kernel.allFinite()) throw std::invalid_argument("cka: " + what + " has a non-finite entry");
  const double max_abs = kernel.cwiseAbs().maxCoeff();
  if ((kernel - kernel.transpose()).cwiseAbs().maxCoeff() > kSymmetryTolerance * max_abs) {
    throw std::invalid_argument("cka: " + what + " must be symmetric (K = K^T)");
  }
  return finish_stats(kernel.rows(), estimator, kernel.rowwise().sum(), kernel.diagonal(),
                      kernel.squaredNorm());
}

double frobenius_inner(const SparseMatrix& a, const SparseMatrix& b) {
  require_same_shape(a.rows(), a.cols(), b.rows(), b.cols(), "K", "L");
  const Index n = a.outerSize();
  const bool compressed = a.isCompressed() && b.isCompressed();
  if (!compressed) return a.cwiseProduct(b).sum();
  std::vector<double> partial(static_cast<std::size_t>(n), 0.0);
  const auto* a_outer = a.outerIndexPtr();
  const auto* b_outer = b.outerIndexPtr();
  const auto* a_inner = a.innerIndexPtr();
  const auto* b_inner = b.innerIndexPtr();
  const double* a_value = a.valuePtr();
  const double* b_value = b.valuePtr();
#pragma omp parallel for schedule(dynamic, 256)
  for (Index i = 0; i < n; ++i) {
    auto p = a_outer[i], p_end = a_outer[i + 1];
    auto q = b_outer[i], q_end = b_outer[i + 1];
    double sum = 0.0;
    // Branch-free merge of the two sorted rows (the data-dependent branch mispredicts ~50%).
    while (p < p_end && q < q_end) {
      const auto ca = a_inner[p], cb = b_inner[q];
      sum += ca == cb ? a_value[p] * b_value[q] : 0.0;
      p += ca <= cb;
      q += cb <= ca;
    }
    partial[static_cast<std::size_t>(i)] = sum;
  }
  double total = 0.0;
  for (double v : partial) total += v;
  return total;
}

double hsic_from_parts(double frobenius, const KernelStats& k, const KernelStats& l) {
  if (k.n != l.n) {
    throw std::invalid_argument("cka: K is " + shape(k.n, k.n) + " but L is " + shape(l.n, l.n));
  }
  if (k.estimator != l.estimator) {
    throw std::invalid_argument("cka: both kernels' stats must use the same estimator");
  }
  const double n = static_cast<double>(k.n);
  const double row_dot = k.row_sums.dot(l.row_sums);
  if (k.estimator == HsicEstimator::kBiased) {
    const double trace = frobenius - 2.0 / n * row_dot + k.total * l.total / (n * n);
    return trace / ((n - 1.0) * (n - 1.0));
  }
  const double trace = frobenius - k.diagonal.dot(l.diagonal);
  const double value =
      trace + k.total * l.total / ((n - 1.0) * (n - 2.0)) - 2.0 / (n - 2.0) * row_dot;
  return value / (n * (n - 3.0));
}

double cka_from_hsic(double hsic_kl, double hsic_kk, double hsic_ll) {
  if (!(hsic_kk > 0.0) || !(hsic_ll > 0.0)) return std::numeric_limits<double>::quiet_NaN();
  return hsic_kl / std::sqrt(hsic_kk * hsic_ll);
}

CkaResult graph_cka(const SparseMatrix& k, const SparseMatrix& l, const CkaOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  require_same_shape(k.rows(), k.cols(), l.rows(), l.cols(), "K", "L");
  const KernelStats ks = kernel_stats(k, options.estimator, "K");
  const KernelStats ls = kernel_stats(l, options.estimator, "L");
  const double hsic_kl = hsic_from_parts(frobenius_inner(k, l), ks, ls);
  return make_result(hsic_kl, ks.self_hsic, ls.self_hsic, options.estimator, "sparse", k.rows(),
                     start);
}

CkaResult graph_cka(const Eigen::Ref<const Matrix>& k, const Eigen::Ref<const Matrix>& l,
                    const CkaOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  require_same_shape(k.rows(), k.cols(), l.rows(), l.cols(), "K", "L");
  const KernelStats ks = kernel_stats(k, options.estimator, "K");
  const KernelStats ls = kernel_stats(l, options.estimator, "L");
  const double hsic_kl = hsic_from_parts(dense_frobenius(k, l), ks, ls);
  return make_result(hsic_kl, ks.self_hsic, ls.self_hsic, options.estimator, "dense", k.rows(),
                     start);
}

CkaResult linear_cka(const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const RowMatrix>& y,
                     const LinearCkaOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  require_same_inputs(x, y);
  require_n(x.rows(), options.estimator, "X");
  if (options.block_rows < 1) throw std::invalid_argument("cka: block_rows must be >= 1");
  if (!x.allFinite() || !y.allFinite()) {
    throw std::invalid_argument("cka: activations have a non-finite entry");
  }
  const Index n = x.rows();
  LinearCkaMethod method = options.method;
  if (method == LinearCkaMethod::kAuto) {
    const bool gram_fits = gram_bytes(n, 3) < available_memory_bytes() / 2;
    const bool feature_fits = feature_bytes(x.cols(), y.cols()) < available_memory_bytes() / 2;
    method = (gram_fits && (gram_is_cheaper(n, x.cols(), y.cols()) || !feature_fits))
                 ? LinearCkaMethod::kGram
                 : LinearCkaMethod::kFeature;
  }
  if (method == LinearCkaMethod::kGram) {
    require_memory(gram_bytes(n, 2) + 8ULL * static_cast<std::uint64_t>(n) *
                                          static_cast<std::uint64_t>(std::max(x.cols(), y.cols())),
                   "linear CKA (Gram form)");
    const Matrix k = centred_gram(x);
    const Matrix l = centred_gram(y);
    const KernelStats ks = kernel_stats(k, options.estimator, "XX^T");
    const KernelStats ls = kernel_stats(l, options.estimator, "YY^T");
    const double hsic_kl = hsic_from_parts(dense_frobenius(k, l), ks, ls);
    return make_result(hsic_kl, ks.self_hsic, ls.self_hsic, options.estimator, "gram", n, start);
  }
  require_memory(feature_bytes(x.cols(), y.cols()), "linear CKA (feature form)");
  const LinearLayer lx = prepare_linear(x, options.estimator, options.block_rows);
  const LinearLayer ly = prepare_linear(y, options.estimator, options.block_rows);
  const double cross = feature_cross(x, lx.mean, y, ly.mean, options.block_rows);
  const double hsic_kl = hsic_from_parts(cross, lx.stats, ly.stats);
  return make_result(hsic_kl, lx.stats.self_hsic, ly.stats.self_hsic, options.estimator, "feature",
                     n, start);
}

Matrix rbf_gram(const Eigen::Ref<const RowMatrix>& x, double threshold) {
  if (!(threshold > 0.0)) throw std::invalid_argument("cka: RBF threshold must be > 0");
  const Index n = x.rows();
  require_memory(gram_bytes(n, 2), "RBF CKA Gram matrix");
  Matrix gram = centred_gram(x);
  const Vector norms = gram.diagonal();
  // Squared distances, clamped at 0 against rounding.
  Matrix distances = (-2.0 * gram).colwise() + norms;
  distances.rowwise() += norms.transpose();
  distances = distances.cwiseMax(0.0);
  distances.diagonal().setZero();
  gram.resize(0, 0);  // freed before the median's copy: at most two N x N live, as checked above
  const double median =
      numpy_median(std::vector<double>(distances.data(), distances.data() + distances.size()));
  if (!(median > 0.0)) {
    throw std::invalid_argument(
        "cka: RBF bandwidth undefined: the median squared distance between inputs is 0");
  }
  return (-distances / (2.0 * threshold * threshold * median)).array().exp().matrix();
}

CkaResult rbf_cka(const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const RowMatrix>& y,
                  const CkaOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  require_same_inputs(x, y);
  require_n(x.rows(), options.estimator, "X");
  const Matrix k = rbf_gram(x);
  const Matrix l = rbf_gram(y);
  const KernelStats ks = kernel_stats(k, options.estimator, "RBF(X)");
  const KernelStats ls = kernel_stats(l, options.estimator, "RBF(Y)");
  const double hsic_kl = hsic_from_parts(dense_frobenius(k, l), ks, ls);
  return make_result(hsic_kl, ks.self_hsic, ls.self_hsic, options.estimator, "rbf", x.rows(),
                     start);
}

std::vector<std::pair<Index, Index>> matrix_pairs(Index rows, Index cols, bool square) {
  std::vector<std::pair<Index, Index>> pairs;
  for (Index i = 0; i < rows; ++i) {
    for (Index j = square ? i : 0; j < cols; ++j) pairs.emplace_back(i, j);
  }
  return pairs;
}

namespace {

// The matrix of `value(i, j)` over the pairs `next_pair` hands out (all when empty); NaN elsewhere.
template <typename Value>
Matrix fill_pairs(Index rows, Index cols, bool square, const NextPair& next_pair, Value value) {
  const auto pairs = matrix_pairs(rows, cols, square);
  Matrix result = Matrix::Constant(rows, cols, std::numeric_limits<double>::quiet_NaN());
  // A split matrix's progress is the caller's (it knows the other processes' pairs).
  Progress progress("cka-matrix", rows * cols, !next_pair);
  std::int64_t sequential = 0;
  auto next = [&] { return next_pair ? next_pair() : sequential++; };
  for (std::int64_t p = next(); p >= 0 && p < static_cast<std::int64_t>(pairs.size()); p = next()) {
    const auto [i, j] = pairs[static_cast<std::size_t>(p)];
    result(i, j) = value(i, j);
    if (square) result(j, i) = result(i, j);
    progress.advance(square && i != j ? 2 : 1);
  }
  progress.finish();
  return result;
}

}  // namespace

Matrix graph_cka_matrix(const std::vector<const SparseMatrix*>& a,
                        const std::vector<const SparseMatrix*>& b, const CkaOptions& options) {
  if (a.empty()) throw std::invalid_argument("cka: no graphs given");
  const bool square = b.empty();
  const auto& other = square ? a : b;
  for (std::size_t j = 0; j < other.size(); ++j) {
    if (other[j]->rows() != a.front()->rows() || other[j]->cols() != a.front()->cols()) {
      throw std::invalid_argument("cka: K is " + shape(a.front()->rows(), a.front()->cols()) +
                                  " but L is " + shape(other[j]->rows(), other[j]->cols()));
    }
  }
  for (const auto* m : a) {
    if (m->rows() != a.front()->rows() || m->cols() != a.front()->cols()) {
      throw std::invalid_argument("cka: K is " + shape(a.front()->rows(), a.front()->cols()) +
                                  " but L is " + shape(m->rows(), m->cols()));
    }
  }
  std::vector<KernelStats> sa, sb;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sa.push_back(kernel_stats(*a[i], options.estimator, "graph " + std::to_string(i)));
  }
  if (!square) {
    for (std::size_t j = 0; j < b.size(); ++j) {
      sb.push_back(kernel_stats(*b[j], options.estimator, "graph " + std::to_string(j)));
    }
  }
  const auto& stats_b = square ? sa : sb;
  const Index rows = static_cast<Index>(a.size()), cols = static_cast<Index>(other.size());
  return fill_pairs(rows, cols, square, options.next_pair, [&](Index i, Index j) {
    const auto ui = static_cast<std::size_t>(i), uj = static_cast<std::size_t>(j);
    const double hsic = hsic_from_parts(frobenius_inner(*a[ui], *other[uj]), sa[ui], stats_b[uj]);
    return cka_from_hsic(hsic, sa[ui].self_hsic, stats_b[uj].self_hsic);
  });
}

Matrix activation_cka_matrix(const std::vector<const RowMatrix*>& a,
                             const std::vector<const RowMatrix*>& b, ActivationKernel kernel,
                             const LinearCkaOptions& options) {
  const bool square = b.empty();
  const auto& other = square ? a : b;
  if (a.empty()) throw std::invalid_argument("cka: no layers given");
  const Index n = a.front()->rows();
  for (const auto* layers : {&a, &b}) {
    for (const auto* m : *layers) require_same_inputs(*a.front(), *m);
  }
  require_n(n, options.estimator, "layer 0");
  const Index rows = static_cast<Index>(a.size()), cols = static_cast<Index>(other.size());

  // Dense kernels (RBF, or linear when every layer prefers the Gram form and all fit).
  bool use_gram = kernel == ActivationKernel::kRbf;
  const int total_layers = static_cast<int>(a.size() + (square ? 0 : b.size()));
  if (kernel == ActivationKernel::kLinear) {
    if (options.method == LinearCkaMethod::kGram) {
      use_gram = true;
    } else if (options.method == LinearCkaMethod::kAuto) {
      use_gram = gram_matrix_is_cheaper(n, a, other, square) &&
                 gram_bytes(n, total_layers + 1) < available_memory_bytes() / 2;
    }
  }
  if (use_gram) {
    require_memory(gram_bytes(n, total_layers + 1), "CKA matrix (one N x N kernel per layer)");
    auto make = [&](const RowMatrix& x) {
      return kernel == ActivationKernel::kRbf ? rbf_gram(x) : centred_gram(x);
    };
    std::vector<Matrix> ka, kb;
    std::vector<KernelStats> sa, sb;
    for (const auto* m : a) {
      ka.push_back(make(*m));
      sa.push_back(kernel_stats(ka.back(), options.estimator, "layer"));
    }
    if (!square) {
      for (const auto* m : b) {
        kb.push_back(make(*m));
        sb.push_back(kernel_stats(kb.back(), options.estimator, "layer"));
      }
    }
    const auto& k_other = square ? ka : kb;
    const auto& s_other = square ? sa : sb;
    return fill_pairs(rows, cols, square, options.next_pair, [&](Index i, Index j) {
      const auto ui = static_cast<std::size_t>(i), uj = static_cast<std::size_t>(j);
      const double hsic =
          hsic_from_parts(dense_frobenius(ka[ui], k_other[uj]), sa[ui], s_other[uj]);
      return cka_from_hsic(hsic, sa[ui].self_hsic, s_other[uj].self_hsic);
    });
  }

  std::vector<LinearLayer> la, lb;
  for (const auto* m : a) la.push_back(prepare_linear(*m, options.estimator, options.block_rows));
  if (!square) {
    for (const auto* m : b) lb.push_back(prepare_linear(*m, options.estimator, options.block_rows));
  }
  const auto& l_other = square ? la : lb;
  return fill_pairs(rows, cols, square, options.next_pair, [&](Index i, Index j) {
    const auto ui = static_cast<std::size_t>(i), uj = static_cast<std::size_t>(j);
    const double hsic = (square && i == j)
                            ? la[ui].stats.self_hsic
                            : hsic_from_parts(feature_cross(*a[ui], la[ui].mean, *other[uj],
                                                            l_other[uj].mean, options.block_rows),
                                              la[ui].stats, l_other[uj].stats);
    return cka_from_hsic(hsic, la[ui].stats.self_hsic, l_other[uj].stats.self_hsic);
  });
}

}  // namespace sublens::similarity
