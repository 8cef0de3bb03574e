// Explanations of single inputs from an affinity graph: SSC labels (the paper's Table 1),
// neighbourhoods (Fig. 9) and confidently wrong predictions.
//
// SSC label of input i: argmax_c sum_{j != i, label_j = c} W_ij, the class with the largest summed
// affinity of i's neighbours; ties go to the lowest class; an input with no neighbour (no
// positive W_ij, j != i) gets -1 and is listed in `unlabelled`. Classes are 0 .. max(labels).
// Cost O(nnz + N) time, O(classes) memory per thread.
#pragma once

#include <cstdint>
#include <vector>

#include "sublens/core/types.hpp"

namespace sublens::graph {

struct SscLabelResult {
  IntVector ssc_labels;           // per input; -1 when it has no neighbour
  std::vector<Index> unlabelled;  // inputs with no neighbour
  Index n_classes = 0;
  double accuracy = 0.0;           // mean(ssc == label) over all N (unlabelled count as wrong)
  double accuracy_labelled = 0.0;  // the same over inputs that have neighbours
  bool has_predictions = false;
  double prediction_accuracy = 0.0;  // mean(prediction == label)
  double agreement = 0.0;            // mean(ssc == prediction) over all N
};

// `predictions` may be null. Labels must be >= 0; predictions >= 0 and of length N.
SscLabelResult ssc_labels(const SparseMatrix& affinity, const IntVector& labels,
                          const IntVector* predictions = nullptr);

struct Neighbor {
  Index index = 0;
  double weight = 0.0;
  std::int64_t label = 0;
  std::int64_t predicted = -1;  // -1 when no predictions were given
};

struct Neighborhood {
  Index index = 0;
  std::int64_t label = 0;
  std::int64_t predicted = -1;
  std::int64_t ssc_label = -1;
  double total_affinity = 0.0;  // sum_{j != i} W_ij
  Vector class_affinity;      // sum_{j != i, label_j = c} W_ij / total_affinity (zeros if total 0)
  std::vector<Neighbor> top;  // the `top` largest W_ij, j != i: weight descending, index ascending
};

// Neighbourhood of input `index` (0 <= index < N). O(nnz(row) log top + classes).
Neighborhood neighborhood(const SparseMatrix& affinity, Index index, const IntVector& labels,
                          const IntVector* predictions, Index top);

enum class ScoreKind {
  kAuto,           // probabilities when every row is non-negative and sums to 1 (1e-6), else logits
  kLogits,         // softmax applied (max-subtracted)
  kProbabilities,  // used as given
};

struct ConfidentlyWrong {
  Index index = 0;
  std::int64_t label = 0;
  std::int64_t predicted = 0;  // argmax of the scores (ties: lowest class)
  double confidence = 0.0;     // softmax probability of `predicted`
};

// The `count` misclassified inputs with the highest confidence (descending, ties by index).
// `scores` is N x classes; labels must lie in 0 .. classes-1.
std::vector<ConfidentlyWrong> confidently_wrong(const Eigen::Ref<const RowMatrix>& scores,
                                                const IntVector& labels, Index count,
                                                ScoreKind kind = ScoreKind::kAuto);

}  // namespace sublens::graph
