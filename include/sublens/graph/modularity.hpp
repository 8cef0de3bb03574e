// Modularity of a labelled weighted graph and community detection (igraph Leiden / Louvain).
//
// Modularity (Newman 2006; the SSC paper's eq. 5), for a symmetric non-negative affinity A with
// degrees k_i = sum_j A_ij and 2m = sum_ij A_ij, communities c_i (class labels):
//
//   Q = 1/(2m) sum_ij (A_ij - gamma k_i k_j / (2m)) delta(c_i, c_j)
//     = sum_c [ L_c / (2m) - gamma (K_c / (2m))^2 ],   L_c = sum_{i,j in c} A_ij, K_c = sum_{i in
//     c} k_i
//
// gamma is the resolution (1 in the paper). Diagonal entries count once in k_i and 2m, exactly as
// the matrix formula reads (SSC affinities have a zero diagonal). This equals networkx's
// `community.modularity(G, communities, weight="weight")` for graphs without self-loops.
// Edge cases: isolated inputs (k_i = 0) add nothing to either term and are counted in the result;
// a single community gives Q = 1 - gamma; an empty graph (2m = 0) throws std::invalid_argument.
// Cost: O(nnz + N + number of communities) time, O(N) memory.
//
// Example:
//   auto q = sublens::graph::modularity(affinity, labels);
//   std::printf("Q = %.4f (%lld isolated)\n", q.modularity, (long long)q.n_isolated);
#pragma once

#include <cstdint>
#include <string>

#include "sublens/core/types.hpp"

namespace sublens::graph {

// Checks that `w` is square, finite and non-negative (and symmetric when `symmetric`), and that
// `labels` has one entry per input; `what` prefixes messages ("modularity"). Throws
// std::invalid_argument naming both shapes on mismatch.
void validate_affinity(const SparseMatrix& w, const std::string& what, bool symmetric);
void validate_labels(const SparseMatrix& w, const IntVector& labels, const std::string& what,
                     const std::string& name = "labels");

// Options are checked where they are used, so the CLI and Python refuse the same values: throws
// std::invalid_argument "<what>: <option> must be <constraint> (got <value>)" unless `ok`.
void require_option(bool ok, const std::string& what, const std::string& option,
                    const std::string& constraint, double value);

struct ModularityOptions {
  // gamma, finite and >= 0 (0: the fraction of weight inside communities); > 1 favours smaller
  // communities. The paper uses 1.
  double resolution = 1.0;
};

struct ModularityResult {
  double modularity = 0.0;
  Index n_communities = 0;    // distinct labels
  Index n_isolated = 0;       // inputs with zero degree
  double total_weight = 0.0;  // 2m = sum_ij A_ij
};

ModularityResult modularity(const SparseMatrix& affinity, const IntVector& labels,
                            const ModularityOptions& options = {});

enum class CommunityMethod {
  kLeiden,   // Traag et al. 2019 (igraph_community_leiden, modularity objective), run to a fixed
             // point
  kLouvain,  // Blondel et al. 2008 (igraph_community_multilevel)
};
std::string to_string(CommunityMethod method);
CommunityMethod parse_community_method(const std::string& name);

struct CommunityOptions {
  CommunityMethod method = CommunityMethod::kLeiden;
  double resolution = 1.0;  // finite and > 0
  // igraph's random generator is seeded with this; same seed and graph give the same partition.
  std::uint64_t seed = 0;
};

struct CommunityResult {
  IntVector membership;  // community of each input, 0-based; isolated inputs are singletons
  Index n_communities = 0;
  double modularity = 0.0;  // recomputed by `modularity()` on the detected partition
  CommunityMethod method = CommunityMethod::kLeiden;
  double seconds = 0.0;
};

// Community detection on the undirected weighted graph of the upper triangle of `affinity`.
// O(nnz) memory; igraph's Leiden/Louvain are near-linear in practice.
CommunityResult detect_communities(const SparseMatrix& affinity,
                                   const CommunityOptions& options = {});

}  // namespace sublens::graph
