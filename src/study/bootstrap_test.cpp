// The bootstrap's parts on hand-made inputs: the induced subgraph of a resample with a repeated
// input, the percentile interval (NumPy's linear interpolation) and reproducible draws.
#include "bootstrap.hpp"

#include <gtest/gtest.h>

namespace sublens::study::bootstrap {
namespace {

constexpr double kExact = 1e-12;

TEST(Bootstrap, InducedSubgraphRepeatsAnInputWithoutALinkBetweenItsCopies) {
  // Path 0 - 1 - 2 with weights 1 and 2; resample (1, 1, 2).
  SparseMatrix graph(3, 3);
  graph.insert(0, 1) = 1;
  graph.insert(1, 0) = 1;
  graph.insert(1, 2) = 2;
  graph.insert(2, 1) = 2;
  const Matrix drawn = Matrix(induced(graph, {1, 1, 2}));
  Matrix expected(3, 3);
  expected << 0, 0, 2,  //
      0, 0, 2,          //
      2, 2, 0;
  EXPECT_TRUE(drawn.isApprox(expected, kExact)) << drawn;
}

TEST(Bootstrap, SummaryIsSampleSdAndNumpyPercentiles) {
  // np.std([1, 2, 3, 4], ddof=1) = 1.2909944487358056; np.percentile(..., [2.5, 97.5]) =
  // [1.075, 3.925].
  const Interval interval = summarize({4, 1, 3, 2});
  EXPECT_NEAR(interval.se, 1.2909944487358056, kExact);
  EXPECT_NEAR(interval.lo, 1.075, kExact);
  EXPECT_NEAR(interval.hi, 3.925, kExact);
  EXPECT_TRUE(std::isnan(summarize({1}).se));
}

TEST(Bootstrap, DrawsAreReproducibleAndInRange) {
  const Resamples a = draw(7, 3, 42), b = draw(7, 3, 42), c = draw(7, 3, 43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (const auto& idx : a) {
    EXPECT_EQ(idx.size(), 7U);
    for (Index i : idx) EXPECT_TRUE(i >= 0 && i < 7);
  }
}

}  // namespace
}  // namespace sublens::study::bootstrap
