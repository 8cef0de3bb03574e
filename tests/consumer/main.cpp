// A program that uses sublens the way a C++ user does: only the installed headers and the
// sublens:: targets (or pkg-config). Eight inputs on two lines through the origin in R^3: each is
// coded by its own line's inputs (residual (1/tau) u, so |tau x_j^T r| = |cos| < 1 for the other
// line), and the modularity of the lines is then 1 - sum_k (d_k / 2m)^2.
#include <cmath>
#include <cstdio>

#include "sublens/graph/modularity.hpp"
#include "sublens/ssc/ssc.hpp"
#include "sublens/version.hpp"

int main() {
  sublens::RowMatrix x(8, 3);  // rows 0-3 on the line of (1, 2, 0), rows 4-7 on that of (0, 1, 1)
  sublens::IntVector line(8);
  for (int i = 0; i < 4; ++i) {
    const double scale = (i % 2 == 0 ? 1.0 : -1.0) * (i + 1.0);
    x.row(i) << scale, 2.0 * scale, 0.0;
    x.row(i + 4) << 0.0, scale, scale;
    line(i) = 0;
    line(i + 4) = 1;
  }
  const sublens::ssc::Result ssc = sublens::ssc::solve(x);
  double degree[2] = {0.0, 0.0};
  int across = 0;
  for (int i = 0; i < 8; ++i) {
    for (sublens::SparseMatrix::InnerIterator it(ssc.affinity, i); it; ++it) {
      across += line(i) != line(it.col());
      degree[line(i)] += it.value();
    }
  }
  const double total = degree[0] + degree[1];
  const double expected = 1.0 - std::pow(degree[0] / total, 2) - std::pow(degree[1] / total, 2);
  const double q = sublens::graph::modularity(ssc.affinity, line).modularity;
  std::printf(
      "sublens %s: converged %d, %ld edges, %d across lines, modularity %.6f (expected %.6f)\n",
      SUBLENS_VERSION, ssc.converged, static_cast<long>(ssc.affinity.nonZeros()), across, q,
      expected);
  const bool ok =
      ssc.converged && ssc.affinity.nonZeros() > 0 && across == 0 && std::abs(q - expected) < 1e-12;
  return ok ? 0 : 1;
}
