// Agreement between a clustering and ground-truth labels.
//
// All take two equal-length integer vectors (any values, -1 included, each distinct value is one
// cluster) and are symmetric except where noted. Cost O(N + k^2) (accuracy: O(N + k^3)).
#pragma once

#include "sublens/core/types.hpp"

namespace sublens::graph {

// Best one-to-one matching of predicted clusters to true classes (Hungarian algorithm on the
// k_true x k_pred contingency table, maximising matched inputs), as a fraction of N.
double clustering_accuracy(const IntVector& truth, const IntVector& predicted);

// Normalised mutual information, arithmetic normalisation: MI / ((H(U) + H(V)) / 2), natural
// logs; sklearn's `normalized_mutual_info_score` default. Both single-cluster: 1.
double normalized_mutual_information(const IntVector& truth, const IntVector& predicted);

// Adjusted Rand index (Hubert & Arabie 1985) from the pair-confusion counts, as sklearn's
// `adjusted_rand_score`: 2 (tp tn - fn fp) / ((tp + fn)(fn + tn) + (tp + fp)(fp + tn)); 1 when
// there are no disagreeing pairs.
double adjusted_rand_index(const IntVector& truth, const IntVector& predicted);

}  // namespace sublens::graph
