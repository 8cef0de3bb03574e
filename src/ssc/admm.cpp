// Algorithm 1 of Saini et al. (ADMM for eq. 2), dense, with an exact inverse for every mu.
//
// With the smaller Gram matrix eigendecomposed, X^T X = Q^T diag(s) Q (Q: k x N, orthonormal rows,
// k <= min(d, N)), for every mu
//   (tau G + mu I)^{-1} = (1/mu) (I - Q^T diag(tau s / (tau s + mu)) Q),
// so the Z-step  Z = (tau G + mu I)^{-1} (tau G + mu C - Lambda)  becomes, with M = mu C - Lambda,
//   Z = M / mu + Q^T diag(tau s / (tau s + mu)) (Q - Q M / mu),
// two k x N x N products per iteration (4 k N^2 flops) and no refactorisation when mu changes.
// When d < N, Q = diag(1/sqrt(s)) U^T X from X X^T = U diag(s) U^T (the Woodbury form).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "internal.hpp"
#include "sublens/core/memory.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/core/threads.hpp"

namespace sublens::ssc::detail {
namespace {

// Eigenvalues below this fraction of the largest are zero: their tau s / (tau s + mu) weight is
// below 1e-13 for any mu >= tau * max(s) * 1e-13, i.e. they do not change the Z-step.
constexpr double kRelativeEigenvalueFloor = 1e-13;
// Residual balancing (Boyd et al. 2011, eq. 3.13).
constexpr double kBalanceRatio = 10.0;
constexpr double kMuFactor = 2.0;

}  // namespace

Vector symmetric_eigen(Eigen::MatrixXd& a) {
  const int n = static_cast<int>(a.rows());
  Vector values(n);
  int info = 0;
  int lwork = -1;
  int liwork = -1;
  double work_size = 0;
  int iwork_size = 0;
  dsyevd_("V", "L", &n, a.data(), &n, values.data(), &work_size, &lwork, &iwork_size, &liwork,
          &info);
  lwork = static_cast<int>(work_size);
  liwork = iwork_size;
  std::vector<double> work(std::max(lwork, 1));
  std::vector<int> iwork(std::max(liwork, 1));
  dsyevd_("V", "L", &n, a.data(), &n, values.data(), work.data(), &lwork, iwork.data(), &liwork,
          &info);
  if (info != 0)
    throw std::runtime_error("ssc: dsyevd failed (info = " + std::to_string(info) + ")");
  return values;
}

void solve_admm(const RowMatrix& inputs, double tau, const Options& options, int threads,
                std::vector<SparseColumn>& columns, Result& result) {
  const PaperMatrix x = paper_view(inputs);
  const Index n = x.cols();
  const Index d = x.rows();
  const Index small = std::min(n, d);
  const std::uint64_t nn = static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(n);
  const std::uint64_t bytes =
      8ULL * (4ULL * nn + 2ULL * static_cast<std::uint64_t>(small) * n + small * small);
  require_memory(bytes, "ssc admm (dense N x N, N = " + std::to_string(n) + ")");
  result.peak_memory_bytes = bytes;
  ScopedBlasThreads blas(threads);

  // Q (k x N) and s.
  Eigen::MatrixXd q;
  Vector s;
  {
    Eigen::MatrixXd gram =
        d < n ? Eigen::MatrixXd(x * x.transpose()) : Eigen::MatrixXd(x.transpose() * x);
    Vector values = symmetric_eigen(gram);
    const double floor = kRelativeEigenvalueFloor * std::max(values.maxCoeff(), 0.0);
    Index keep = 0;
    for (Index k = 0; k < values.size(); ++k) keep += values[k] > floor ? 1 : 0;
    const Index first = values.size() - keep;  // ascending: the kept ones are last
    s = values.tail(keep);
    if (d < n) {
      q.noalias() = gram.rightCols(keep).transpose() * x;  // U^T X, rows have norm sqrt(s)
      for (Index k = 0; k < keep; ++k) q.row(k) /= std::sqrt(s[k]);
    } else {
      q = gram.middleCols(first, keep).transpose();
    }
  }
  const Index k = q.rows();

  Eigen::MatrixXd c = Eigen::MatrixXd::Zero(n, n);
  Eigen::MatrixXd previous(n, n);
  Eigen::MatrixXd lambda = Eigen::MatrixXd::Zero(n, n);
  Eigen::MatrixXd z(n, n);
  Eigen::MatrixXd t(k, n);
  double mu = options.mu;
  const double eps = options.tolerance;
  const double root_size = static_cast<double>(n);  // sqrt(N^2)
  Progress progress("ssc admm", options.max_iterations, options.progress);
  result.converged = false;
  int iteration = 0;
  while (iteration < options.max_iterations) {
    ++iteration;
    // Z-step with the inverse for the current mu.
    z = mu * c - lambda;  // M
    t.noalias() = q * z;
    t = q - t / mu;
    const Vector weights = (tau * s.array() / (tau * s.array() + mu)).matrix();
    t = weights.asDiagonal() * t;
    z /= mu;
    z.noalias() += q.transpose() * t;
    // C-step: shrinkage, zero diagonal.
    previous.swap(c);
    const double threshold = 1.0 / mu;
    c = (z + lambda / mu).unaryExpr([threshold](double v) {
      return v > threshold ? v - threshold : (v < -threshold ? v + threshold : 0.0);
    });
    c.diagonal().setZero();
    // Dual step.
    lambda.noalias() += mu * (z - c);
    const double primal = (z - c).norm();
    const double dual = mu * (c - previous).norm();
    const double eps_primal = root_size * eps + eps * std::max(z.norm(), c.norm());
    const double eps_dual = root_size * eps + eps * lambda.norm();
    progress.advance();
    if (primal <= eps_primal && dual <= eps_dual) {
      result.converged = true;
      break;
    }
    if (options.adaptive_mu) {
      if (primal > kBalanceRatio * dual) {
        mu *= kMuFactor;
      } else if (dual > kBalanceRatio * primal) {
        mu /= kMuFactor;
      }
    }
  }
  progress.finish();
  result.iterations = iteration;
  for (Index i = 0; i < n; ++i) {
    for (Index j = 0; j < n; ++j) {
      if (c(j, i) != 0.0) columns[i].emplace_back(j, c(j, i));
    }
  }
}

}  // namespace sublens::ssc::detail
