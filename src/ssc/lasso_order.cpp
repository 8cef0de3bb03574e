// The order in which the Gram route solves its columns (see lasso_gram.cpp): neighbours together.
//
// A column's work reads the columns of G of its working set (its scores G c - b, and the G_WW
// entries of its path), 40 KB each at N = 10,000: from memory, unless a column solved shortly
// before used them. Neighbouring inputs share most of their working sets, so solving them one
// after the other lets the shared cache serve those reads. Every column's answer is independent
// of the order (each is solved on its own), so the order changes speed only.
//
// The order: coordinates on a few random directions (a Johnson-Lindenstrauss sketch: close
// inputs stay close), then a k-d tree's leaf order (split each range at the median of its
// widest coordinate). Written here rather than taken from a library: it is 40 lines, and a
// nearest-neighbour library would bring far more than an order.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

#include "lasso_column.hpp"
#include "sublens/core/threads.hpp"

namespace sublens::ssc::detail::lasso {
namespace {

constexpr Index kOrderDimensions = 16;
constexpr Index kOrderLeaf = 8;  // ranges this small are left in index order
constexpr std::uint64_t kOrderSeed = 0x5eed5eedULL;

// A standard normal number from a splitmix64 stream and Box-Muller (portable: the same
// directions on every platform and library version).
double normal(std::uint64_t& state) {
  const auto next = [&state] {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1p-53;
  };
  const double u = 1.0 - next();  // in (0, 1]
  return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * next());
}

void split(const Eigen::MatrixXf& coords, std::vector<Index>& order, Index begin, Index end) {
  if (end - begin <= kOrderLeaf) return;
  Index widest = 0;
  float widest_range = -1.0F;
  for (Index k = 0; k < coords.rows(); ++k) {
    float low = coords(k, order[begin]);
    float high = low;
    for (Index p = begin + 1; p < end; ++p) {
      low = std::min(low, coords(k, order[p]));
      high = std::max(high, coords(k, order[p]));
    }
    if (high - low > widest_range) {
      widest_range = high - low;
      widest = k;
    }
  }
  const Index middle = begin + (end - begin) / 2;
  std::nth_element(order.begin() + begin, order.begin() + middle, order.begin() + end,
                   [&](Index a, Index b) {
                     const float ca = coords(widest, a);
                     const float cb = coords(widest, b);
                     return ca != cb ? ca < cb : a < b;
                   });
  split(coords, order, begin, middle);
  split(coords, order, middle, end);
}

}  // namespace

std::vector<Index> locality_order(const Eigen::MatrixXf& x) {
  const Index n = x.cols();
  std::uint64_t state = kOrderSeed;
  Eigen::MatrixXf directions(x.rows(), kOrderDimensions);
  for (Index k = 0; k < directions.size(); ++k) directions(k) = static_cast<float>(normal(state));
  Eigen::MatrixXf coords(kOrderDimensions, n);
  {
    ScopedBlasThreads blas(1);
    coords.noalias() = directions.transpose() * x;
  }
  std::vector<Index> order(n);
  std::iota(order.begin(), order.end(), Index{0});
  split(coords, order, 0, n);
  return order;
}

}  // namespace sublens::ssc::detail::lasso
