// SSC front end: option checks, input preparation, tau resolution, solution checks, CSR output.
#include "sublens/ssc/ssc.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "internal.hpp"
#include "sublens/core/memory.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/core/threads.hpp"

namespace sublens::ssc {
namespace {

// Memory for the N x block work matrices of the blockwise passes.
constexpr std::uint64_t kBlockBudgetBytes = 256ULL << 20;

std::string number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

}  // namespace

void Options::validate() const {
  if (!std::isfinite(tau) || tau <= 0) {
    throw std::invalid_argument("ssc: tau must be finite and > 0 (tau = " + number(tau) + ")");
  }
  if (!std::isfinite(mu) || mu <= 0) {
    throw std::invalid_argument("ssc: mu must be finite and > 0 (mu = " + number(mu) + ")");
  }
  if (max_iterations < 1) {
    throw std::invalid_argument("ssc: max_iterations must be >= 1 (max_iterations = " +
                                std::to_string(max_iterations) + ")");
  }
  if (!std::isfinite(tolerance) || tolerance <= 0) {
    throw std::invalid_argument(
        "ssc: tolerance must be finite and > 0 (tolerance = " + number(tolerance) + ")");
  }
  if (threads < 0) {
    throw std::invalid_argument(
        "ssc: threads must be >= 0 (0 = all cores; threads = " + std::to_string(threads) + ")");
  }
  if (schedule != nullptr && solver == Solver::kAdmm) {
    throw std::invalid_argument(
        "ssc: the ADMM solver runs in one process (its iterations couple every column); use the "
        "lasso solver to split a solve over processes");
  }
}

const char* solver_name(Solver solver) {
  switch (solver) {
    case Solver::kAuto:
      return "auto";
    case Solver::kAdmm:
      return "admm";
    case Solver::kLasso:
      return "lasso";
  }
  return "?";
}

Solver parse_solver(const std::string& name) {
  if (name == "auto") return Solver::kAuto;
  if (name == "admm") return Solver::kAdmm;
  if (name == "lasso") return Solver::kLasso;
  throw std::invalid_argument("ssc: solver must be one of auto, admm, lasso (solver = " + name +
                              ")");
}

TauMode parse_tau_mode(const std::string& name, const std::string& option) {
  if (name == "absolute") return TauMode::kAbsolute;
  if (name == "relative") return TauMode::kRelative;
  throw std::invalid_argument("ssc: " + option + " must be absolute or relative (got " + name +
                              ")");
}

Normalize parse_normalize(const std::string& name, const std::string& option) {
  if (name == "l2") return Normalize::kL2;
  if (name == "none") return Normalize::kNone;
  throw std::invalid_argument("ssc: " + option + " must be l2 or none (got " + name + ")");
}

RowMatrix prepare_inputs(const RowMatrix& activations, Normalize normalize) {
  RowMatrix inputs = activations;
  if (normalize == Normalize::kL2) {
    for (Index i = 0; i < inputs.rows(); ++i) {
      const double norm = inputs.row(i).norm();
      if (norm > 0) inputs.row(i) /= norm;
    }
  }
  return inputs;
}

SparseMatrix affinity_from_coefficients(const SparseMatrix& coefficients) {
  const SparseMatrix magnitude = coefficients.cwiseAbs();
  SparseMatrix transposed = magnitude.transpose();
  SparseMatrix affinity = magnitude + transposed;
  affinity.makeCompressed();
  return affinity;
}

namespace detail {

Index block_width(Index n, Index d, std::uint64_t budget_bytes) {
  const std::uint64_t per_column = 8ULL * static_cast<std::uint64_t>(2 * n + d);
  const Index width = static_cast<Index>(budget_bytes / std::max<std::uint64_t>(per_column, 1));
  return std::clamp<Index>(width, 16, 1024);
}

SparseMatrix to_csr(const std::vector<SparseColumn>& columns, Index n) {
  std::vector<Eigen::Triplet<double, std::int32_t>> triplets;
  std::size_t total = 0;
  for (const auto& column : columns) total += column.size();
  triplets.reserve(total);
  for (Index i = 0; i < static_cast<Index>(columns.size()); ++i) {
    for (const auto& [j, value] : columns[i]) {
      triplets.emplace_back(static_cast<std::int32_t>(j), static_cast<std::int32_t>(i), value);
    }
  }
  SparseMatrix matrix(n, n);
  matrix.setFromTriplets(triplets.begin(), triplets.end());
  matrix.makeCompressed();
  return matrix;
}

Check check_columns(const PaperMatrix& x, const std::vector<SparseColumn>& columns, double tau,
                    int threads) {
  const Index n = x.cols();
  const Index d = x.rows();
  const Index width = std::min(n, block_width(n, d, kBlockBudgetBytes));
  Check check;
  Eigen::MatrixXd residuals(d, width);
  Eigen::MatrixXd gradients(n, width);
  for (Index start = 0; start < n; start += width) {
    const Index count = std::min(width, n - start);
    {
      ScopedBlasThreads blas(1);
#pragma omp parallel for schedule(static) num_threads(threads)
      for (Index t = 0; t < count; ++t) {
        auto r = residuals.col(t);
        r = -x.col(start + t);
        for (const auto& [j, value] : columns[start + t]) r += value * x.col(j);
      }
    }
    {
      ScopedBlasThreads blas(threads);
      gradients.leftCols(count).noalias() = x.transpose() * residuals.leftCols(count);
    }
    for (Index t = 0; t < count; ++t) {
      const Index i = start + t;
      double l1 = 0.0;
      double worst = 0.0;
      // g = tau X^T (X c - x_i); |g_j| <= 1 off the support, g_j = -sign(c_j) on it.
      for (const auto& [j, value] : columns[i]) {
        l1 += std::abs(value);
        const double g = tau * gradients(j, t);
        worst = std::max(worst, std::abs(g + (value > 0 ? 1.0 : -1.0)));
      }
      std::size_t next = 0;
      for (Index j = 0; j < n; ++j) {
        if (next < columns[i].size() && columns[i][next].first == j) {
          ++next;
          continue;
        }
        if (j == i) continue;
        worst = std::max(worst, tau * std::abs(gradients(j, t)) - 1.0);
      }
      check.objective += l1 + 0.5 * tau * residuals.col(t).squaredNorm();
      check.kkt_violation = std::max(check.kkt_violation, worst);
    }
  }
  return check;
}

}  // namespace detail

double relative_tau(const RowMatrix& inputs, double alpha) {
  const detail::PaperMatrix x = paper_view(inputs);
  const Index n = x.cols();
  const Index width = std::min(n, detail::block_width(n, x.rows(), kBlockBudgetBytes));
  double smallest = std::numeric_limits<double>::infinity();
  Eigen::MatrixXd gram(n, width);
  for (Index start = 0; start < n; start += width) {
    const Index count = std::min(width, n - start);
    gram.leftCols(count).noalias() = x.transpose() * x.middleCols(start, count);
    for (Index t = 0; t < count; ++t) {
      double largest = 0.0;
      for (Index j = 0; j < n; ++j) {
        if (j != start + t) largest = std::max(largest, std::abs(gram(j, t)));
      }
      // Zero inputs and inputs orthogonal to all others have no neighbour to code them.
      if (largest > 0) smallest = std::min(smallest, largest);
    }
  }
  return std::isfinite(smallest) ? alpha / smallest : alpha;
}

namespace {

std::vector<detail::SparseColumn> columns_of(const SparseMatrix& coefficients) {
  const Index n = coefficients.rows();
  std::vector<detail::SparseColumn> columns(n);
  for (Index j = 0; j < coefficients.outerSize(); ++j) {
    for (SparseMatrix::InnerIterator it(coefficients, j); it; ++it) {
      columns[it.col()].emplace_back(j, it.value());  // rows visited in increasing j
    }
  }
  return columns;
}

void require_square(const RowMatrix& inputs, const SparseMatrix& coefficients) {
  if (coefficients.rows() != inputs.rows() || coefficients.cols() != inputs.rows()) {
    throw std::invalid_argument("ssc: coefficients are " + std::to_string(coefficients.rows()) +
                                " x " + std::to_string(coefficients.cols()) + " but inputs have " +
                                std::to_string(inputs.rows()) + " rows");
  }
}

}  // namespace

double objective(const RowMatrix& inputs, const SparseMatrix& coefficients, double tau) {
  require_square(inputs, coefficients);
  return detail::check_columns(paper_view(inputs), columns_of(coefficients), tau, 1).objective;
}

double kkt_violation(const RowMatrix& inputs, const SparseMatrix& coefficients, double tau) {
  require_square(inputs, coefficients);
  return detail::check_columns(paper_view(inputs), columns_of(coefficients), tau, 1).kkt_violation;
}

Result solve(const RowMatrix& activations, const Options& options) {
  const auto start = std::chrono::steady_clock::now();
  options.validate();
  if (activations.rows() < 1 || activations.cols() < 1) {
    throw std::invalid_argument("ssc: activations must have N >= 1 inputs and d >= 1 features (" +
                                std::to_string(activations.rows()) + " x " +
                                std::to_string(activations.cols()) + ")");
  }
  if (!activations.allFinite()) {
    throw std::invalid_argument("ssc: activations must be finite (NaN or Inf found)");
  }
  const int threads = resolve_threads(options.threads);
  const Index n = activations.rows();
  const Index d = activations.cols();
  require_memory(8ULL * static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(d),
                 "ssc: a normalised copy of the " + std::to_string(n) + " x " + std::to_string(d) +
                     " activations");
  const RowMatrix inputs = prepare_inputs(activations, options.normalize);

  Result result;
  result.tau =
      options.tau_mode == TauMode::kRelative ? relative_tau(inputs, options.tau) : options.tau;
  if (!std::isfinite(result.tau) || result.tau <= 0) {
    throw std::invalid_argument("ssc: the relative tau is not finite (tau = " + number(result.tau) +
                                ")");
  }
  result.solver = options.solver == Solver::kAdmm ? Solver::kAdmm : Solver::kLasso;

  std::vector<detail::SparseColumn> columns(n);
  if (result.solver == Solver::kAdmm) {
    detail::solve_admm(inputs, result.tau, options, threads, columns, result);
  } else {
    detail::solve_lasso(inputs, result.tau, options, threads, columns, result);
    if (result.partial) {  // another process holds the result
      result.seconds = seconds_since(start);
      return result;
    }
  }

  if (result.solver == Solver::kAdmm) {
    // (The Lasso solver measures both in its last round of checks, with the final C.)
    const detail::Check check =
        detail::check_columns(paper_view(inputs), columns, result.tau, threads);
    result.objective = check.objective;
    result.kkt_violation = check.kkt_violation;
  }
  result.coefficients = detail::to_csr(columns, n);
  result.affinity = affinity_from_coefficients(result.coefficients);
  result.peak_memory_bytes +=
      8ULL * static_cast<std::uint64_t>(n * d) +
      3ULL * 12ULL * static_cast<std::uint64_t>(result.coefficients.nonZeros());
  result.seconds = seconds_since(start);
  return result;
}

}  // namespace sublens::ssc
