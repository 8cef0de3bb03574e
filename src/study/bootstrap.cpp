// Bootstrap over the analysis inputs. See bootstrap.hpp.
#include "bootstrap.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "internal.hpp"
#include "sublens/graph/modularity.hpp"
#include "sublens/similarity/cka.hpp"

namespace sublens::study::bootstrap {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// NumPy's default percentile (linear interpolation between order statistics) of sorted values.
double percentile(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, sorted.size() - 1);
  return sorted[below] + (position - static_cast<double>(below)) * (sorted[above] - sorted[below]);
}

}  // namespace

Resamples draw(Index n, int count, std::uint64_t seed) {
  Resamples samples(static_cast<std::size_t>(std::max(count, 0)));
  std::uint64_t state = seed;
  for (auto& idx : samples) {
    idx.resize(static_cast<std::size_t>(n));
    for (auto& i : idx) i = static_cast<Index>(splitmix64(state) % static_cast<std::uint64_t>(n));
  }
  return samples;
}

SparseMatrix induced(const SparseMatrix& graph, const std::vector<Index>& idx) {
  std::vector<std::vector<Index>> copies(static_cast<std::size_t>(graph.rows()));
  for (std::size_t p = 0; p < idx.size(); ++p) {
    copies[static_cast<std::size_t>(idx[p])].push_back(static_cast<Index>(p));
  }
  std::vector<Eigen::Triplet<double, std::int32_t>> entries;
  for (std::size_t p = 0; p < idx.size(); ++p) {
    for (SparseMatrix::InnerIterator it(graph, idx[p]); it; ++it) {
      for (Index q : copies[static_cast<std::size_t>(it.col())]) {
        entries.emplace_back(static_cast<std::int32_t>(p), static_cast<std::int32_t>(q),
                             it.value());
      }
    }
  }
  const auto n = static_cast<Index>(idx.size());
  SparseMatrix out(n, n);
  out.setFromTriplets(entries.begin(), entries.end());
  return out;
}

Interval summarize(std::vector<double> values) {
  std::vector<double> finite;
  for (double v : values) {
    if (std::isfinite(v)) finite.push_back(v);
  }
  if (finite.size() < 2) return {std::move(values), kNaN, kNaN, kNaN};
  double mean = 0;
  for (double v : finite) mean += v;
  mean /= static_cast<double>(finite.size());
  double ss = 0;
  for (double v : finite) ss += (v - mean) * (v - mean);
  std::sort(finite.begin(), finite.end());
  return {std::move(values), std::sqrt(ss / static_cast<double>(finite.size() - 1)),
          percentile(finite, 0.025), percentile(finite, 0.975)};
}

Interval modularity(const SparseMatrix& graph, const IntVector& labels, const Resamples& samples) {
  std::vector<double> values;
  for (const auto& idx : samples) {
    IntVector drawn(static_cast<Index>(idx.size()));
    for (std::size_t p = 0; p < idx.size(); ++p) drawn(static_cast<Index>(p)) = labels(idx[p]);
    values.push_back(graph::modularity(induced(graph, idx), drawn).modularity);
  }
  return summarize(std::move(values));
}

Interval graph_cka(const SparseMatrix& a, const SparseMatrix& b, const Resamples& samples) {
  std::vector<double> values;
  for (const auto& idx : samples) {
    values.push_back(similarity::graph_cka(induced(a, idx), induced(b, idx)).cka);
  }
  return summarize(std::move(values));
}

Interval heatmap_strength(const std::vector<SparseMatrix>& graphs, const Resamples& samples) {
  std::vector<double> values;
  for (const auto& idx : samples) {
    std::vector<SparseMatrix> drawn;
    std::vector<const SparseMatrix*> pointers;
    drawn.reserve(graphs.size());
    pointers.reserve(graphs.size());
    for (const auto& g : graphs) drawn.push_back(induced(g, idx));
    for (const auto& g : drawn) pointers.push_back(&g);
    const RowMatrix cka = similarity::graph_cka_matrix(pointers, {});
    const auto [near, far] = detail::block_diagonal(cka);
    values.push_back(near - far);
  }
  return summarize(std::move(values));
}

}  // namespace sublens::study::bootstrap
