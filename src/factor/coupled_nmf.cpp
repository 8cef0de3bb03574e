// Coupled NMF: the paper's multiplicative updates and HALS (see coupled_nmf.hpp for the formulas).
#include "sublens/factor/coupled_nmf.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>

#include "sublens/core/progress.hpp"

namespace sublens::factor {
namespace {

// Rows per chunk when the final errors are computed from the residual.
constexpr Index kResidualChunkRows = 2048;

std::string shape_string(Index rows, Index cols) {
  return std::to_string(rows) + " x " + std::to_string(cols);
}

// All blocks in one list (inputs first) with names for messages.
struct Blocks {
  std::vector<const RowMatrix*> values;
  std::vector<std::string> names;
};

Blocks gather(const std::vector<const RowMatrix*>& inputs,
              const std::vector<const RowMatrix*>& layers) {
  Blocks blocks;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    blocks.values.push_back(inputs[i]);
    blocks.names.push_back("input " + std::to_string(i));
  }
  for (std::size_t j = 0; j < layers.size(); ++j) {
    blocks.values.push_back(layers[j]);
    blocks.names.push_back("layer " + std::to_string(j));
  }
  if (blocks.values.empty()) {
    throw std::invalid_argument("coupled_nmf: needs at least one input or layer block (got none)");
  }
  for (std::size_t b = 0; b < blocks.values.size(); ++b) {
    if (blocks.values[b] == nullptr) {
      throw std::invalid_argument("coupled_nmf: " + blocks.names[b] + " is a null pointer");
    }
  }
  const Index n = blocks.values[0]->rows();
  for (std::size_t b = 0; b < blocks.values.size(); ++b) {
    const RowMatrix& x = *blocks.values[b];
    if (x.rows() != n) {
      throw std::invalid_argument(
          "coupled_nmf: every block must have the same number of inputs N "
          "(rows): " +
          blocks.names[0] + " is " + shape_string(n, blocks.values[0]->cols()) + " but " +
          blocks.names[b] + " is " + shape_string(x.rows(), x.cols()));
    }
    if (x.rows() < 1 || x.cols() < 1) {
      throw std::invalid_argument("coupled_nmf: " + blocks.names[b] +
                                  " must have N >= 1 and d >= 1 (it is " +
                                  shape_string(x.rows(), x.cols()) + ")");
    }
    require_non_negative(x, blocks.names[b]);
  }
  return blocks;
}

void check_options(const CoupledNmfOptions& options) {
  if (options.rank < 1) {
    throw std::invalid_argument(
        "coupled_nmf: rank must be >= 1 (rank = " + std::to_string(options.rank) + ")");
  }
  if (options.max_iterations < 1) {
    throw std::invalid_argument("coupled_nmf: max_iterations must be >= 1 (max_iterations = " +
                                std::to_string(options.max_iterations) + ")");
  }
  if (!(options.tolerance >= 0) || !std::isfinite(options.tolerance)) {
    throw std::invalid_argument("coupled_nmf: tolerance must be finite and >= 0");
  }
  if (!(options.epsilon > 0) || !std::isfinite(options.epsilon)) {
    throw std::invalid_argument("coupled_nmf: epsilon must be finite and > 0");
  }
}

void check_initial(const CoupledNmfFactors& initial, Index n, const std::vector<Index>& dims,
                   int rank) {
  auto check = [&](const Matrix& m, Index rows, const std::string& what) {
    if (m.rows() != rows || m.cols() != rank) {
      throw std::invalid_argument("coupled_nmf: initial " + what + " must be " +
                                  shape_string(rows, rank) + " but is " +
                                  shape_string(m.rows(), m.cols()));
    }
    if (!m.allFinite() || (m.size() > 0 && m.minCoeff() < 0)) {
      throw std::invalid_argument("coupled_nmf: initial " + what +
                                  " must be finite and non-negative");
    }
  };
  check(initial.shared, n, "F");
  if (initial.blocks.size() != dims.size()) {
    throw std::invalid_argument("coupled_nmf: " + std::to_string(dims.size()) + " blocks but " +
                                std::to_string(initial.blocks.size()) + " initial block factors");
  }
  for (std::size_t b = 0; b < dims.size(); ++b) {
    check(initial.blocks[b], dims[b], "factor of block " + std::to_string(b));
  }
}

// <A, B>_F accumulated in double (the matrices already are).
double frobenius_dot(const Matrix& a, const Matrix& b) { return a.cwiseProduct(b).sum(); }

// Exact ||X - F W^T||^2 from the residual, in row chunks (bounded memory).
double residual_squared(const RowMatrix& x, const Matrix& f, const Matrix& w) {
  double total = 0;
  for (Index start = 0; start < x.rows(); start += kResidualChunkRows) {
    const Index rows = std::min(kResidualChunkRows, x.rows() - start);
    RowMatrix residual = x.middleRows(start, rows);
    residual.noalias() -= f.middleRows(start, rows) * w.transpose();
    total += residual.squaredNorm();
  }
  return total;
}

// sqrt(error / norm2): 0 for an exact fit of zero data, +Inf for a non-zero fit of it.
double relative_error(double squared_error, double norm2) {
  if (norm2 > 0) return std::sqrt(squared_error / norm2);
  return squared_error == 0 ? 0.0 : std::numeric_limits<double>::infinity();
}

}  // namespace

std::string nmf_solver_name(NmfSolver solver) { return solver == NmfSolver::kHals ? "hals" : "mu"; }

NmfSolver parse_nmf_solver(const std::string& name) {
  if (name == "mu") return NmfSolver::kMultiplicative;
  if (name == "hals") return NmfSolver::kHals;
  throw std::invalid_argument("solver must be 'mu' or 'hals' (got '" + name + "')");
}

std::string CoupledNmfResult::brief_report() const {
  std::ostringstream out;
  out << "rank " << factors.shared.cols() << ": rmse " << rmse << " after " << iterations
      << " iterations" << (converged ? " (converged)" : " (not converged)") << " in " << seconds
      << " s";
  return out.str();
}

void require_non_negative(const RowMatrix& block, const std::string& name) {
  for (Index i = 0; i < block.rows(); ++i) {
    for (Index c = 0; c < block.cols(); ++c) {
      const double v = block(i, c);
      if (!std::isfinite(v)) {
        throw std::invalid_argument("block '" + name + "' has a non-finite entry (input " +
                                    std::to_string(i) + ", column " + std::to_string(c) + ")");
      }
      if (v < 0) {
        char value[32];
        std::snprintf(value, sizeof value, "%.6g", v);
        throw std::invalid_argument(
            "block '" + name + "' has a negative entry " + value + " (input " + std::to_string(i) +
            ", column " + std::to_string(c) +
            "); non-negative factorization needs data >= 0: use --shift-min to shift each block by "
            "its minimum");
      }
    }
  }
}

double shift_to_non_negative(RowMatrix& block) {
  if (block.size() == 0) return 0;
  const double minimum = block.minCoeff();
  if (!(minimum < 0)) return 0;
  block.array() -= minimum;
  return -minimum;
}

CoupledNmfFactors random_factors(Index n_inputs, const std::vector<Index>& block_dims, int rank,
                                 std::uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  // Row-major fill order, so the same numbers land in the same places whatever the storage order.
  auto fill = [&](Index rows) {
    Matrix m(rows, rank);
    for (Index i = 0; i < rows; ++i) {
      for (Index k = 0; k < rank; ++k) m(i, k) = uniform(engine);
    }
    return m;
  };
  CoupledNmfFactors factors;
  factors.shared = fill(n_inputs);
  for (Index d : block_dims) factors.blocks.push_back(fill(d));
  return factors;
}

CoupledNmfResult coupled_nmf(const std::vector<const RowMatrix*>& inputs,
                             const std::vector<const RowMatrix*>& layers,
                             const CoupledNmfOptions& options, const CoupledNmfFactors* initial) {
  check_options(options);
  const Blocks blocks = gather(inputs, layers);
  const std::size_t n_blocks = blocks.values.size();
  const Index n = blocks.values[0]->rows();
  const int r = options.rank;
  std::vector<Index> dims;
  for (const RowMatrix* x : blocks.values) dims.push_back(x->cols());

  CoupledNmfResult result;
  if (initial != nullptr) {
    check_initial(*initial, n, dims, r);
    result.factors = *initial;
  } else {
    result.factors = random_factors(n, dims, r, options.seed);
  }
  Matrix& f = result.factors.shared;
  std::vector<Matrix>& w = result.factors.blocks;

  // ||X_b||^2 once, and the block weights.
  std::vector<double> norm2(n_blocks), weight(n_blocks, 1.0);
  for (std::size_t b = 0; b < n_blocks; ++b) {
    norm2[b] = blocks.values[b]->squaredNorm();
    if (options.weight_blocks) {
      if (!(norm2[b] > 0)) {
        throw std::invalid_argument(
            "coupled_nmf: weight_blocks needs every block to be non-zero, "
            "but " +
            blocks.names[b] + " is all zeros");
      }
      weight[b] = 1.0 / norm2[b];
    }
  }

  const auto start = std::chrono::steady_clock::now();
  Matrix numerator_f(n, r);           // sum_b w_b X_b W_b   (N x r)
  Matrix gram_w(r, r);                // sum_b w_b W_b^T W_b (r x r)
  Matrix gram_f(r, r);                // F^T F
  std::vector<Matrix> xtf(n_blocks);  // X_b^T F (d_b x r), reused for J
  double previous = std::numeric_limits<double>::infinity();
  const double floor = options.epsilon;  // HALS keeps F >= this (never stuck at 0)

  for (int iteration = 0; iteration < options.max_iterations; ++iteration) {
    // ---- F update ----
    numerator_f.setZero();
    gram_w.setZero();
    for (std::size_t b = 0; b < n_blocks; ++b) {
      numerator_f.noalias() += weight[b] * (*blocks.values[b] * w[b]);
      gram_w.noalias() += weight[b] * (w[b].transpose() * w[b]);
    }
    if (options.solver == NmfSolver::kMultiplicative) {
      Matrix denominator = f * gram_w;
      f.array() *= numerator_f.array() / (denominator.array() + options.epsilon);
    } else {
      for (int k = 0; k < r; ++k) {
        const double diagonal = gram_w(k, k);
        if (!(diagonal > 0)) continue;
        f.col(k) = (f.col(k) + (numerator_f.col(k) - f * gram_w.col(k)) / diagonal).cwiseMax(floor);
      }
    }
    gram_f.noalias() = f.transpose() * f;

    // ---- block factor updates: P_i then O_j ----
    for (std::size_t b = 0; b < n_blocks; ++b) {
      xtf[b].noalias() = blocks.values[b]->transpose() * f;
      if (options.solver == NmfSolver::kMultiplicative) {
        Matrix denominator = w[b] * gram_f;
        w[b].array() *= xtf[b].array() / (denominator.array() + options.epsilon);
      } else {
        for (int k = 0; k < r; ++k) {
          const double diagonal = gram_f(k, k);
          if (!(diagonal > 0)) continue;
          w[b].col(k) =
              (w[b].col(k) + (xtf[b].col(k) - w[b] * gram_f.col(k)) / diagonal).cwiseMax(0.0);
        }
      }
    }

    // ---- J = sum_b w_b (||X_b||^2 - 2 <W_b, X_b^T F> + <W_b^T W_b, F^T F>) ----
    double objective = 0;
    for (std::size_t b = 0; b < n_blocks; ++b) {
      const Matrix gram_block = w[b].transpose() * w[b];
      const double error =
          norm2[b] - 2 * frobenius_dot(w[b], xtf[b]) + frobenius_dot(gram_block, gram_f);
      objective += weight[b] * std::max(error, 0.0);
    }
    if (options.record_history) result.objective_history.push_back(objective);
    result.objective = objective;
    result.iterations = iteration + 1;
    if (objective == 0 ||
        (options.tolerance > 0 && std::abs(previous - objective) < options.tolerance * previous)) {
      result.converged = true;
      break;
    }
    previous = objective;
  }
  result.seconds = seconds_since(start);

  // Exact final errors from the residual.
  double total_error = 0;
  double total_entries = 0;
  double total_norm2 = 0;
  double weighted = 0;
  for (std::size_t b = 0; b < n_blocks; ++b) {
    const double error = residual_squared(*blocks.values[b], f, w[b]);
    const double entries = static_cast<double>(n) * static_cast<double>(dims[b]);
    result.squared_error.push_back(error);
    result.block_rmse.push_back(std::sqrt(error / entries));
    result.block_relative_rmse.push_back(relative_error(error, norm2[b]));
    total_error += error;
    total_entries += entries;
    total_norm2 += norm2[b];
    weighted += weight[b] * error;
  }
  result.rmse = std::sqrt(total_error / total_entries);
  result.relative_rmse = relative_error(total_error, total_norm2);
  result.objective = weighted;
  return result;
}

void check_sweep_options(const RankSweepOptions& options) {
  if (options.ranks.empty()) {
    throw std::invalid_argument("rank_sweep: ranks must list at least one rank");
  }
  for (int rank : options.ranks) {
    if (rank < 1) {
      throw std::invalid_argument("rank_sweep: every rank must be >= 1 (got " +
                                  std::to_string(rank) + ")");
    }
  }
  if (options.n_seeds < 1) {
    throw std::invalid_argument(
        "rank_sweep: n_seeds must be >= 1 (n_seeds = " + std::to_string(options.n_seeds) + ")");
  }
  check_options(options.base);
}

std::int64_t sweep_fit_count(const RankSweepOptions& options) {
  return static_cast<std::int64_t>(options.ranks.size()) * options.n_seeds;
}

CoupledNmfResult sweep_fit(const std::vector<const RowMatrix*>& inputs,
                           const std::vector<const RowMatrix*>& layers,
                           const RankSweepOptions& options, std::int64_t fit) {
  CoupledNmfOptions run = options.base;
  run.rank = options.ranks.at(static_cast<std::size_t>(fit / options.n_seeds));
  run.seed = options.base.seed + static_cast<std::uint64_t>(fit % options.n_seeds);
  return coupled_nmf(inputs, layers, run);
}

namespace {

void mean_std(const std::vector<double>& v, double* mean, double* spread) {
  double sum = 0;
  for (double x : v) sum += x;
  *mean = sum / static_cast<double>(v.size());
  double sq = 0;
  for (double x : v) sq += (x - *mean) * (x - *mean);
  *spread = v.size() > 1 ? std::sqrt(sq / static_cast<double>(v.size() - 1)) : 0.0;
}

// One rank's row from its seeds' fits (in seed order); moves the best fit (lowest objective, the
// first such seed) into *best.
RankSweepRow summarize_rank(int rank, std::vector<CoupledNmfResult>::iterator fits, int n_seeds,
                            CoupledNmfResult* best) {
  RankSweepRow row;
  row.rank = rank;
  const std::size_t n_blocks = fits->block_rmse.size();
  std::vector<double> rmse, relative, objective;
  std::vector<std::vector<double>> block_rmse(n_blocks), block_relative(n_blocks);
  double iterations = 0, seconds = 0;
  auto best_fit = fits;
  for (auto fit = fits; fit != fits + n_seeds; ++fit) {
    rmse.push_back(fit->rmse);
    relative.push_back(fit->relative_rmse);
    objective.push_back(fit->objective);
    for (std::size_t b = 0; b < n_blocks; ++b) {
      block_rmse[b].push_back(fit->block_rmse[b]);
      block_relative[b].push_back(fit->block_relative_rmse[b]);
    }
    iterations += fit->iterations;
    seconds += fit->seconds;
    row.converged += fit->converged ? 1 : 0;
    if (fit->objective < best_fit->objective) best_fit = fit;
  }
  double unused = 0;
  mean_std(rmse, &row.rmse_mean, &row.rmse_std);
  mean_std(relative, &row.relative_rmse_mean, &row.relative_rmse_std);
  mean_std(objective, &row.objective_mean, &unused);
  for (std::size_t b = 0; b < n_blocks; ++b) {
    double mean = 0, spread = 0;
    mean_std(block_rmse[b], &mean, &spread);
    row.block_rmse_mean.push_back(mean);
    row.block_rmse_std.push_back(spread);
    mean_std(block_relative[b], &mean, &spread);
    row.block_relative_rmse_mean.push_back(mean);
    row.block_relative_rmse_std.push_back(spread);
  }
  row.iterations_mean = iterations / n_seeds;
  row.seconds_mean = seconds / n_seeds;
  *best = std::move(*best_fit);
  return row;
}

}  // namespace

RankSweepResult summarize_sweep(const RankSweepOptions& options,
                                std::vector<CoupledNmfResult> fits) {
  if (static_cast<std::int64_t>(fits.size()) != sweep_fit_count(options)) {
    throw std::invalid_argument("rank_sweep: " + std::to_string(fits.size()) + " fits for " +
                                std::to_string(sweep_fit_count(options)) + " (ranks x seeds)");
  }
  RankSweepResult sweep;
  for (std::size_t k = 0; k < options.ranks.size(); ++k) {
    const auto first = fits.begin() + static_cast<std::ptrdiff_t>(k) * options.n_seeds;
    CoupledNmfResult best;
    sweep.rows.push_back(summarize_rank(options.ranks[k], first, options.n_seeds, &best));
    sweep.best.push_back(std::move(best));
  }
  return sweep;
}

// Fit by fit, one rank at a time: only the best fit of each rank is kept.
RankSweepResult rank_sweep(const std::vector<const RowMatrix*>& inputs,
                           const std::vector<const RowMatrix*>& layers,
                           const RankSweepOptions& options) {
  check_sweep_options(options);
  Progress progress("factorize", sweep_fit_count(options), options.progress);
  RankSweepResult sweep;
  for (std::size_t k = 0; k < options.ranks.size(); ++k) {
    std::vector<CoupledNmfResult> fits;
    for (int s = 0; s < options.n_seeds; ++s) {
      const auto fit = static_cast<std::int64_t>(k) * options.n_seeds + s;
      fits.push_back(sweep_fit(inputs, layers, options, fit));
      progress.advance();
    }
    CoupledNmfResult best;
    sweep.rows.push_back(summarize_rank(options.ranks[k], fits.begin(), options.n_seeds, &best));
    sweep.best.push_back(std::move(best));
  }
  progress.finish();
  return sweep;
}

}  // namespace sublens::factor
