// Bootstrap over the analysis inputs: the variability of a measure on one network due to which
// inputs were analysed (its noise floor), without retraining and without recomputing SSC.
//
// What is resampled: resample r draws n input indices with replacement; a graph measure is
// recomputed on the induced subgraph A[idx, idx] (an input drawn twice appears as two nodes with
// the same neighbours and no edge between the copies, as NumPy's A[np.ix_(idx, idx)]), with the
// drawn inputs' labels for modularity, and SSC-CKA between two graphs on the same idx. The SSC
// graphs themselves are those of all n inputs (recomputing SSC per resample would cost a full
// analysis each).
//
// The draws are reproducible anywhere: splitmix64 from `seed`, one stream over resample 0's n
// indices, then resample 1's, ..., index = draw mod n (tests/python/test_study.py rebuilds them).
#pragma once

#include <cstdint>
#include <vector>

#include "sublens/core/types.hpp"

namespace sublens::study::bootstrap {

using Resamples = std::vector<std::vector<Index>>;

Resamples draw(Index n, int count, std::uint64_t seed);

SparseMatrix induced(const SparseMatrix& graph, const std::vector<Index>& idx);

// A measure's resampled values and their summary: standard error (sample sd, ddof 1) and the 95%
// percentile interval (NumPy's default linear interpolation). NaN without resamples.
struct Interval {
  std::vector<double> values;
  double se;
  double lo;
  double hi;
};
Interval summarize(std::vector<double> values);

Interval modularity(const SparseMatrix& graph, const IntVector& labels, const Resamples& samples);
Interval graph_cka(const SparseMatrix& a, const SparseMatrix& b, const Resamples& samples);
// Block-diagonal strength (internal.hpp) of the SSC-CKA heatmap of `graphs` (in layer order).
Interval heatmap_strength(const std::vector<SparseMatrix>& graphs, const Resamples& samples);

}  // namespace sublens::study::bootstrap
