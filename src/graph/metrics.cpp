// Clustering metrics: see include/sublens/graph/metrics.hpp.
#include "sublens/graph/metrics.hpp"

#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace sublens::graph {
namespace {

struct Contingency {
  Matrix counts;  // rows: truth classes, columns: predicted clusters
  double n = 0.0;
};

Contingency contingency(const IntVector& truth, const IntVector& predicted, const char* what) {
  if (truth.size() != predicted.size()) {
    throw std::invalid_argument(std::string(what) + ": labels have " +
                                std::to_string(truth.size()) + " entries but the clustering has " +
                                std::to_string(predicted.size()));
  }
  if (truth.size() == 0) throw std::invalid_argument(std::string(what) + ": no inputs");
  std::map<std::int64_t, Index> rows, cols;
  for (Index i = 0; i < truth.size(); ++i) {
    rows.try_emplace(truth(i), static_cast<Index>(rows.size()));
    cols.try_emplace(predicted(i), static_cast<Index>(cols.size()));
  }
  Contingency table;
  table.counts = Matrix::Zero(static_cast<Index>(rows.size()), static_cast<Index>(cols.size()));
  for (Index i = 0; i < truth.size(); ++i) table.counts(rows[truth(i)], cols[predicted(i)]) += 1.0;
  table.n = static_cast<double>(truth.size());
  return table;
}

double entropy(const Vector& counts, double n) {
  double h = 0.0;
  for (Index i = 0; i < counts.size(); ++i) {
    if (counts(i) > 0) h -= counts(i) / n * std::log(counts(i) / n);
  }
  return h;
}

// Hungarian algorithm (Kuhn-Munkres, potentials form) for a square cost matrix; returns the
// column assigned to each row, minimising the total cost. O(n^3).
std::vector<Index> hungarian(const Matrix& cost) {
  const Index n = cost.rows();
  const double inf = std::numeric_limits<double>::infinity();
  Vector u = Vector::Zero(n + 1), v = Vector::Zero(n + 1);
  std::vector<Index> p(static_cast<std::size_t>(n + 1), 0), way(static_cast<std::size_t>(n + 1), 0);
  for (Index i = 1; i <= n; ++i) {
    p[0] = i;
    Index j0 = 0;
    Vector minv = Vector::Constant(n + 1, inf);
    std::vector<bool> used(static_cast<std::size_t>(n + 1), false);
    do {
      used[static_cast<std::size_t>(j0)] = true;
      const Index i0 = p[static_cast<std::size_t>(j0)];
      double delta = inf;
      Index j1 = 0;
      for (Index j = 1; j <= n; ++j) {
        if (used[static_cast<std::size_t>(j)]) continue;
        const double current = cost(i0 - 1, j - 1) - u(i0) - v(j);
        if (current < minv(j)) {
          minv(j) = current;
          way[static_cast<std::size_t>(j)] = j0;
        }
        if (minv(j) < delta) {
          delta = minv(j);
          j1 = j;
        }
      }
      for (Index j = 0; j <= n; ++j) {
        if (used[static_cast<std::size_t>(j)]) {
          u(p[static_cast<std::size_t>(j)]) += delta;
          v(j) -= delta;
        } else {
          minv(j) -= delta;
        }
      }
      j0 = j1;
    } while (p[static_cast<std::size_t>(j0)] != 0);
    do {
      const Index j1 = way[static_cast<std::size_t>(j0)];
      p[static_cast<std::size_t>(j0)] = p[static_cast<std::size_t>(j1)];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<Index> assignment(static_cast<std::size_t>(n), 0);
  for (Index j = 1; j <= n; ++j)
    assignment[static_cast<std::size_t>(p[static_cast<std::size_t>(j)] - 1)] = j - 1;
  return assignment;
}

}  // namespace

double clustering_accuracy(const IntVector& truth, const IntVector& predicted) {
  const Contingency table = contingency(truth, predicted, "accuracy");
  const Index size = std::max(table.counts.rows(), table.counts.cols());
  Matrix cost = Matrix::Zero(size, size);
  cost.topLeftCorner(table.counts.rows(), table.counts.cols()) = -table.counts;
  const std::vector<Index> assignment = hungarian(cost);
  double matched = 0.0;
  for (Index r = 0; r < size; ++r) matched -= cost(r, assignment[static_cast<std::size_t>(r)]);
  return matched / table.n;
}

double normalized_mutual_information(const IntVector& truth, const IntVector& predicted) {
  const Contingency table = contingency(truth, predicted, "nmi");
  if (table.counts.rows() == 1 && table.counts.cols() == 1) return 1.0;
  const Vector a = table.counts.rowwise().sum();
  const Vector b = table.counts.colwise().sum().transpose();
  double mi = 0.0;
  for (Index i = 0; i < table.counts.rows(); ++i) {
    for (Index j = 0; j < table.counts.cols(); ++j) {
      const double c = table.counts(i, j);
      if (c > 0) mi += c / table.n * std::log(c * table.n / (a(i) * b(j)));
    }
  }
  const double normaliser = 0.5 * (entropy(a, table.n) + entropy(b, table.n));
  if (mi <= 0.0 || normaliser <= 0.0) return 0.0;
  return std::min(1.0, mi / normaliser);
}

double adjusted_rand_index(const IntVector& truth, const IntVector& predicted) {
  const Contingency table = contingency(truth, predicted, "ari");
  const double n = table.n;
  const double sum_squares = table.counts.squaredNorm();
  const double rows_squared = table.counts.rowwise().sum().squaredNorm();
  const double cols_squared = table.counts.colwise().sum().squaredNorm();
  const double tp = sum_squares - n;
  const double fp = cols_squared - sum_squares;
  const double fn = rows_squared - sum_squares;
  const double tn = n * n - fp - fn - sum_squares;
  if (fn == 0.0 && fp == 0.0) return 1.0;
  return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn));
}

}  // namespace sublens::graph
