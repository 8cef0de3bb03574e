// The Lasso on a working set by its homotopy (LARS-Lasso) path.
//
// Solves  min_c 1/2 c^T H c - q^T c + lambda ||c||_1  (H = G_WW, q = b_W) by following the
// piecewise-linear path of solutions from lambda_max = max |q| down to lambda (Osborne, Presnell
// and Turlach 2000; Efron et al. 2004, the "Lasso modification"). On each piece the active
// coefficients move along d = H_AA^{-1} s_A, so that every active correlation rho = q - H c stays
// at +-lambda_current; the piece ends when an inactive correlation reaches the boundary (it joins)
// or an active coefficient reaches zero (it leaves). The number of pieces is about the size of the
// support, and each costs |W| |A| flops plus an O(|A|^2) update of the Cholesky factor of H_AA.
//
// Why not coordinate descent (sublens's earlier working-set solver): when the inputs are nearly
// low-rank and lambda is small the problem is ill-conditioned, coordinate descent crawls, and an
// active-set step on a singular support fails. The path never iterates to convergence, and a
// variable whose column is (numerically) a combination of the active ones is not added: its
// correlation moves with the active ones and stays on the boundary, which is optimal (the optimum
// is then not unique; the objective is). Written here because no Debian-packaged C++ library offers
// a LARS-Lasso on a given Gram matrix.
#include <algorithm>
#include <cmath>
#include <limits>

#include "internal.hpp"

namespace sublens::ssc::detail {
namespace {

// A joining column whose Cholesky pivot is below this fraction of its diagonal is taken as a
// combination of the active columns (cond(H_AA) would exceed ~1e12 with it).
constexpr double kDependent = 1e-12;
// Pieces per working-set variable before the path is declared stuck (a safeguard against cycling
// on exact ties; a path has about |support| + drops pieces).
constexpr int kPiecesPerVariable = 8;

// Lower-triangular Cholesky factor L of H_AA (H_AA = L L^T) that grows and shrinks by one variable.
class Cholesky {
 public:
  explicit Cholesky(Index capacity) : l_(capacity, capacity) {}

  Index size() const { return n_; }

  // Appends a variable whose column of H restricted to the active set is `column` (size n) and
  // whose diagonal is `diagonal`. False (nothing changed) when the variable depends on the others.
  bool append(const Vector& column, double diagonal) {
    Vector w = column;
    l_.topLeftCorner(n_, n_).triangularView<Eigen::Lower>().solveInPlace(w);
    const double pivot = diagonal - w.squaredNorm();
    if (!(pivot > kDependent * diagonal)) return false;
    l_.row(n_).head(n_) = w.transpose();
    l_(n_, n_) = std::sqrt(pivot);
    ++n_;
    return true;
  }

  // Removes the variable at `position`: drop its row, then Givens rotations on column pairs bring
  // the rest back to lower-triangular form (L Q Q^T L^T = L L^T).
  void remove(Index position) {
    for (Index r = position; r + 1 < n_; ++r) l_.row(r).head(n_) = l_.row(r + 1).head(n_);
    const Index rows = n_ - 1;
    for (Index k = position; k < rows; ++k) {
      const double a = l_(k, k);
      const double b = l_(k, k + 1);
      const double radius = std::hypot(a, b);
      const double cosine = a / radius;
      const double sine = b / radius;
      for (Index r = k; r < rows; ++r) {
        const double x = l_(r, k);
        const double y = l_(r, k + 1);
        l_(r, k) = cosine * x + sine * y;
        l_(r, k + 1) = -sine * x + cosine * y;
      }
    }
    n_ = rows;
  }

  // Solves H_AA x = rhs in place.
  void solve(Vector& rhs) const {
    const auto l = l_.topLeftCorner(n_, n_);
    l.triangularView<Eigen::Lower>().solveInPlace(rhs);
    l.transpose().triangularView<Eigen::Upper>().solveInPlace(rhs);
  }

 private:
  Eigen::MatrixXd l_;
  Index n_ = 0;
};

struct Event {
  double step = 0.0;
  Index variable = -1;  // joining variable, or the position in the active set of a leaving one
  bool leaves = false;
};

// The first event along c + t d (active), rho - t a (all), lambda_current - t, up to `end`.
Event next_event(const std::vector<Index>& active, const Vector& coef, const Vector& direction,
                 const Vector& rho, const Vector& slope, const std::vector<char>& state,
                 double current, double end, Index barred) {
  Event event{end, -1, false};
  for (Index k = 0; k < rho.size(); ++k) {
    if (state[k] != 0 || k == barred) continue;
    // rho_k - t a_k = +-(current - t): t = (current -+ rho_k) / (1 -+ a_k), when the slope meets
    // it.
    for (const double sign : {1.0, -1.0}) {
      const double denominator = 1.0 - sign * slope[k];
      if (denominator <= 0) continue;
      const double t = std::max(0.0, current - sign * rho[k]) / denominator;
      if (t < event.step) event = {t, k, false};
    }
  }
  for (Index p = 0; p < static_cast<Index>(active.size()); ++p) {
    const double c = coef[active[p]];
    if (direction[p] * c < 0) {
      const double t = -c / direction[p];
      if (t < event.step) event = {t, p, true};
    }
  }
  return event;
}

}  // namespace

PathResult lasso_path(GramColumns& hessian, const Vector& target, double lambda) {
  const Index k = target.size();
  PathResult result;
  result.coef = Vector::Zero(k);
  Vector rho = target;  // correlations q - H c
  // 0 = inactive, 1 = active, 2 = depends on the active set (not added while it does).
  std::vector<char> state(k, 0);
  std::vector<Index> active;
  std::vector<double> signs;
  Cholesky factor(k);
  Index first = 0;
  double current = k > 0 ? rho.cwiseAbs().maxCoeff(&first) : 0.0;
  if (current <= lambda) return result;

  auto join = [&](Index j) {
    Vector column(static_cast<Index>(active.size()));
    const Vector& h = hessian.column(j);
    for (Index p = 0; p < column.size(); ++p) column[p] = h[active[p]];
    if (!factor.append(column, hessian.diagonal(j))) {
      state[j] = 2;
      return;
    }
    state[j] = 1;
    active.push_back(j);
    signs.push_back(rho[j] >= 0 ? 1.0 : -1.0);
  };
  join(first);
  Index barred = -1;  // a variable that just left may not rejoin on the very next piece
  const int max_pieces = kPiecesPerVariable * static_cast<int>(k) + 16;
  for (result.pieces = 0; result.pieces < max_pieces && current > lambda; ++result.pieces) {
    const Index n = static_cast<Index>(active.size());
    Vector direction = Eigen::Map<const Vector>(signs.data(), n);
    factor.solve(direction);
    Vector slope = Vector::Zero(k);  // a = H_{:,A} d
    for (Index p = 0; p < n; ++p) slope.noalias() += direction[p] * hessian.column(active[p]);
    const Event event = next_event(active, result.coef, direction, rho, slope, state, current,
                                   current - lambda, barred);
    for (Index p = 0; p < n; ++p) result.coef[active[p]] += event.step * direction[p];
    rho.noalias() -= event.step * slope;
    current -= event.step;
    barred = -1;
    if (event.variable < 0) {  // reached lambda (exactly: the step was current - lambda)
      current = lambda;
      break;
    }
    if (event.leaves) {
      const Index j = active[event.variable];
      result.coef[j] = 0.0;
      state[j] = 0;
      factor.remove(event.variable);
      active.erase(active.begin() + event.variable);
      signs.erase(signs.begin() + event.variable);
      std::replace(state.begin(), state.end(), char{2}, char{0});  // may be independent now
      barred = j;
    } else {
      join(event.variable);
    }
  }
  result.finished = current <= lambda;
  // The pieces accumulate rounding; the end point is the solution of the sign-fixed system.
  if (!active.empty()) {
    Vector rhs(static_cast<Index>(active.size()));
    for (Index p = 0; p < rhs.size(); ++p) rhs[p] = target[active[p]] - lambda * signs[p];
    factor.solve(rhs);
    for (Index p = 0; p < rhs.size(); ++p) result.coef[active[p]] = rhs[p];
  }
  return result;
}

}  // namespace sublens::ssc::detail
