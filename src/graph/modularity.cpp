// Modularity and igraph community detection: see include/sublens/graph/modularity.hpp.
#include "sublens/graph/modularity.hpp"

#include <igraph/igraph.h>

#include <chrono>
#include <cmath>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "sublens/core/progress.hpp"

namespace sublens::graph {
namespace {

constexpr double kSymmetryTolerance = 1e-10;  // relative to max |W|

std::string shape(Index rows, Index cols) {
  return std::to_string(rows) + " x " + std::to_string(cols);
}

// Maps arbitrary label values to 0 .. k-1 in order of first appearance.
std::vector<Index> compact_labels(const IntVector& labels, Index* count) {
  std::unordered_map<std::int64_t, Index> ids;
  std::vector<Index> compact(static_cast<std::size_t>(labels.size()));
  for (Index i = 0; i < labels.size(); ++i) {
    auto [it, inserted] = ids.try_emplace(labels(i), static_cast<Index>(ids.size()));
    compact[static_cast<std::size_t>(i)] = it->second;
  }
  *count = static_cast<Index>(ids.size());
  return compact;
}

void check_igraph(igraph_error_t code, const char* call) {
  if (code != IGRAPH_SUCCESS) {
    throw std::runtime_error(std::string("igraph: ") + call + " failed: " + igraph_strerror(code));
  }
}

}  // namespace

void validate_affinity(const SparseMatrix& w, const std::string& what, bool symmetric) {
  if (w.rows() != w.cols()) {
    throw std::invalid_argument(what + ": the affinity must be square (N x N) but is " +
                                shape(w.rows(), w.cols()));
  }
  double max_abs = 0.0;
  for (Index i = 0; i < w.outerSize(); ++i) {
    for (SparseMatrix::InnerIterator it(w, i); it; ++it) {
      const double v = it.value();
      if (!std::isfinite(v) || v < 0.0) {
        throw std::invalid_argument(what + ": affinity weights must be finite and >= 0 (found " +
                                    std::to_string(v) + ")");
      }
      max_abs = std::max(max_abs, v);
    }
  }
  if (!symmetric) return;
  const SparseMatrix transposed = w.transpose();
  const SparseMatrix difference = w - transposed;
  for (Index k = 0; k < difference.nonZeros(); ++k) {
    if (std::abs(difference.valuePtr()[k]) > kSymmetryTolerance * max_abs) {
      throw std::invalid_argument(what + ": the affinity must be symmetric (W = W^T)");
    }
  }
}

void validate_labels(const SparseMatrix& w, const IntVector& labels, const std::string& what,
                     const std::string& name) {
  if (labels.size() != w.rows()) {
    throw std::invalid_argument(what + ": the affinity is " + shape(w.rows(), w.cols()) + " but " +
                                name + " has " + std::to_string(labels.size()) + " entries");
  }
}

void require_option(bool ok, const std::string& what, const std::string& option,
                    const std::string& constraint, double value) {
  if (ok) return;
  std::ostringstream got;
  got << value;
  throw std::invalid_argument(what + ": " + option + " must be " + constraint + " (got " +
                              got.str() + ")");
}

ModularityResult modularity(const SparseMatrix& affinity, const IntVector& labels,
                            const ModularityOptions& options) {
  require_option(std::isfinite(options.resolution) && options.resolution >= 0, "modularity",
                 "resolution", "a finite number >= 0", options.resolution);
  validate_affinity(affinity, "modularity", /*symmetric=*/true);
  validate_labels(affinity, labels, "modularity");
  ModularityResult result;
  const std::vector<Index> community = compact_labels(labels, &result.n_communities);
  std::vector<double> inside(static_cast<std::size_t>(result.n_communities), 0.0);
  std::vector<double> degree_sum(static_cast<std::size_t>(result.n_communities), 0.0);
  double total = 0.0;
  for (Index i = 0; i < affinity.rows(); ++i) {
    const Index ci = community[static_cast<std::size_t>(i)];
    double degree = 0.0;
    for (SparseMatrix::InnerIterator it(affinity, i); it; ++it) {
      degree += it.value();
      if (community[static_cast<std::size_t>(it.col())] == ci) {
        inside[static_cast<std::size_t>(ci)] += it.value();
      }
    }
    if (degree == 0.0) ++result.n_isolated;
    degree_sum[static_cast<std::size_t>(ci)] += degree;
    total += degree;
  }
  if (!(total > 0.0)) {
    throw std::invalid_argument(
        "modularity: the graph has no edges (total weight 0); modularity is undefined");
  }
  result.total_weight = total;
  double q = 0.0;
  for (std::size_t c = 0; c < inside.size(); ++c) {
    const double fraction = degree_sum[c] / total;
    q += inside[c] / total - options.resolution * fraction * fraction;
  }
  result.modularity = q;
  return result;
}

std::string to_string(CommunityMethod method) {
  return method == CommunityMethod::kLeiden ? "leiden" : "louvain";
}

CommunityMethod parse_community_method(const std::string& name) {
  if (name == "leiden") return CommunityMethod::kLeiden;
  if (name == "louvain") return CommunityMethod::kLouvain;
  throw std::invalid_argument("communities: method must be 'leiden' or 'louvain' (got '" + name +
                              "')");
}

CommunityResult detect_communities(const SparseMatrix& affinity, const CommunityOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  require_option(std::isfinite(options.resolution) && options.resolution > 0, "communities",
                 "resolution", "a finite number > 0", options.resolution);
  validate_affinity(affinity, "communities", /*symmetric=*/true);
  const Index n = affinity.rows();
  std::vector<igraph_integer_t> edge_list;
  std::vector<igraph_real_t> weight_list;
  Vector strength = Vector::Zero(n);
  for (Index i = 0; i < n; ++i) {
    for (SparseMatrix::InnerIterator it(affinity, i); it; ++it) {
      strength(i) += it.value();
      if (it.col() > i && it.value() > 0.0) {
        edge_list.push_back(i);
        edge_list.push_back(it.col());
        weight_list.push_back(it.value());
      }
    }
  }
  if (weight_list.empty()) {
    throw std::invalid_argument(
        "communities: the graph has no edges (total weight 0); nothing to detect");
  }
  // igraph's RNG and error handler are process-global.
  static std::mutex igraph_mutex;
  std::lock_guard<std::mutex> lock(igraph_mutex);
  igraph_set_error_handler(igraph_error_handler_ignore);
  igraph_rng_seed(igraph_rng_default(), static_cast<igraph_uint_t>(options.seed));

  igraph_vector_int_t edges;
  igraph_vector_int_view(&edges, edge_list.data(), static_cast<igraph_integer_t>(edge_list.size()));
  igraph_vector_t weights;
  igraph_vector_view(&weights, weight_list.data(),
                     static_cast<igraph_integer_t>(weight_list.size()));
  igraph_t graph;
  check_igraph(igraph_create(&graph, &edges, static_cast<igraph_integer_t>(n), IGRAPH_UNDIRECTED),
               "igraph_create");
  igraph_vector_int_t membership;
  igraph_vector_int_init(&membership, 0);
  igraph_error_t code = IGRAPH_SUCCESS;
  if (options.method == CommunityMethod::kLeiden) {
    igraph_vector_t node_weights;
    igraph_vector_view(&node_weights, strength.data(), static_cast<igraph_integer_t>(n));
    igraph_integer_t clusters = 0;
    igraph_real_t quality = 0.0;
    // Modularity objective: node weights = strengths, resolution gamma / (2m); n_iterations < 0
    // iterates until the partition no longer changes.
    code = igraph_community_leiden(
        &graph, &weights, &node_weights, options.resolution / strength.sum(), /*beta=*/0.01,
        /*start=*/false, /*n_iterations=*/-1, &membership, &clusters, &quality);
  } else {
    code = igraph_community_multilevel(&graph, &weights, options.resolution, &membership, nullptr,
                                       nullptr);
  }
  CommunityResult result;
  if (code == IGRAPH_SUCCESS) {
    result.membership.resize(n);
    for (Index i = 0; i < n; ++i) result.membership(i) = VECTOR(membership)[i];
  }
  igraph_vector_int_destroy(&membership);
  igraph_destroy(&graph);
  check_igraph(code, options.method == CommunityMethod::kLeiden ? "igraph_community_leiden"
                                                                : "igraph_community_multilevel");
  Index count = 0;
  const std::vector<Index> compact = compact_labels(result.membership, &count);
  for (Index i = 0; i < n; ++i) result.membership(i) = compact[static_cast<std::size_t>(i)];
  result.n_communities = count;
  ModularityOptions modularity_options;
  modularity_options.resolution = options.resolution;
  result.modularity = modularity(affinity, result.membership, modularity_options).modularity;
  result.method = options.method;
  result.seconds = seconds_since(start);
  return result;
}

}  // namespace sublens::graph
