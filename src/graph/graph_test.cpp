#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "sublens/graph/inputs.hpp"
#include "sublens/graph/metrics.hpp"
#include "sublens/graph/modularity.hpp"
#include "sublens/graph/spectral.hpp"

namespace sublens::graph {
namespace {

constexpr double kTol = 1e-12;
constexpr double kEigenTol = 1e-8;  // residual ||S v - lambda v|| of a converged Lanczos pair

SparseMatrix from_edges(Index n, const std::vector<std::tuple<int, int, double>>& edges) {
  std::vector<Eigen::Triplet<double, std::int32_t>> triplets;
  for (const auto& [i, j, w] : edges) {
    triplets.emplace_back(i, j, w);
    triplets.emplace_back(j, i, w);
  }
  SparseMatrix m(n, n);
  m.setFromTriplets(triplets.begin(), triplets.end());
  return m;
}

IntVector ints(std::initializer_list<std::int64_t> values) {
  IntVector v(static_cast<Index>(values.size()));
  Index i = 0;
  for (auto x : values) v(i++) = x;
  return v;
}

// Two triangles {0,1,2}, {3,4,5} joined by the edge 2-3; all weights 1.
SparseMatrix two_triangles(Index extra_isolated = 0) {
  return from_edges(6 + extra_isolated,
                    {{0, 1, 1}, {0, 2, 1}, {1, 2, 1}, {3, 4, 1}, {3, 5, 1}, {4, 5, 1}, {2, 3, 1}});
}

// `blocks` dense random blocks of `size` inputs plus a few weak edges between blocks.
SparseMatrix planted_blocks(int blocks, int size, std::uint64_t seed, IntVector* truth) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const int n = blocks * size;
  std::vector<std::tuple<int, int, double>> edges;
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      const bool same = i / size == j / size;
      if (uniform(rng) < (same ? 0.3 : 0.01)) edges.emplace_back(i, j, same ? 1.0 : 0.1);
    }
  }
  truth->resize(n);
  for (int i = 0; i < n; ++i) (*truth)(i) = i / size;
  return from_edges(n, edges);
}

TEST(ModularityTest, TwoTrianglesByHand) {
  // 2m = 14; each triangle: inside 6, degree sum 7 -> Q = 2 (6/14 - (7/14)^2) = 5/14.
  const SparseMatrix w = two_triangles(1);

  const ModularityResult result = modularity(w, ints({0, 0, 0, 1, 1, 1, 2}));

  EXPECT_NEAR(result.modularity, 5.0 / 14.0, kTol);
  EXPECT_EQ(result.n_isolated, 1);
  EXPECT_EQ(result.n_communities, 3);
  EXPECT_NEAR(result.total_weight, 14.0, kTol);
}

TEST(ModularityTest, SingleClassIsZeroAndEmptyGraphThrows) {
  const SparseMatrix w = two_triangles();

  EXPECT_NEAR(modularity(w, IntVector::Zero(6)).modularity, 0.0, kTol);
  EXPECT_THROW(modularity(SparseMatrix(4, 4), IntVector::Zero(4)), std::invalid_argument);
  EXPECT_THROW(modularity(w, IntVector::Zero(5)), std::invalid_argument);
}

TEST(ModularityTest, CommunityDetectionFindsTriangles) {
  const SparseMatrix w = two_triangles();
  const IntVector truth = ints({0, 0, 0, 1, 1, 1});

  for (CommunityMethod method : {CommunityMethod::kLeiden, CommunityMethod::kLouvain}) {
    CommunityOptions options;
    options.method = method;
    const CommunityResult result = detect_communities(w, options);

    EXPECT_EQ(result.n_communities, 2) << to_string(method);
    EXPECT_NEAR(result.modularity, 5.0 / 14.0, kTol) << to_string(method);
    EXPECT_NEAR(adjusted_rand_index(truth, result.membership), 1.0, kTol);
  }
}

TEST(MetricsTest, HandCheckedAndSklearnValues) {
  const IntVector truth = ints({0, 0, 1, 1, 2, 2, 2});
  const IntVector predicted = ints({1, 1, 0, 0, 0, 2, 5});

  // Best one-to-one matching {1->0, 0->1, 2->2 (or 5->2)}: 2 + 2 + 1 = 5 of 7 inputs.
  EXPECT_NEAR(clustering_accuracy(truth, predicted), 5.0 / 7.0, kTol);
  EXPECT_NEAR(clustering_accuracy(truth, ints({2, 2, 0, 0, 1, 1, 1})), 1.0, kTol);
  // sklearn 1.2: normalized_mutual_info_score / adjusted_rand_score of the same vectors.
  EXPECT_NEAR(normalized_mutual_information(truth, predicted), 0.684372975125753, kTol);
  EXPECT_NEAR(adjusted_rand_index(truth, predicted), 0.2953020134228188, kTol);
  EXPECT_NEAR(normalized_mutual_information(IntVector::Zero(4), IntVector::Zero(4)), 1.0, kTol);
  EXPECT_NEAR(adjusted_rand_index(IntVector::Zero(4), IntVector::Zero(4)), 1.0, kTol);
}

TEST(SpectralTest, LanczosEigenpairsAndSeparation) {
  IntVector truth;
  const SparseMatrix w = planted_blocks(2, 100, 1, &truth);
  EmbeddingOptions options;
  options.dimensions = 3;

  const EmbeddingResult result = spectral_embedding(w, options);

  ASSERT_TRUE(result.converged);
  EXPECT_EQ(result.solver, "lanczos");
  const Vector degree = w * Vector::Ones(200);
  const Vector inv_sqrt = degree.cwiseSqrt().cwiseInverse();
  const SparseMatrix s = inv_sqrt.asDiagonal() * w * inv_sqrt.asDiagonal();
  for (Index j = 0; j < 3; ++j) {
    const Vector v = result.embedding.col(j);
    EXPECT_LT((s * v - result.eigenvalues(j) * v).norm(), kEigenTol);
    EXPECT_NEAR(v.norm(), 1.0, kEigenTol);
  }
  EXPECT_NEAR(result.eigenvalues(0), 1.0, kEigenTol);
  EXPECT_GE(result.eigenvalues(1), result.eigenvalues(2));
  // The second eigenvector separates the blocks by sign.
  const double sign = result.embedding(0, 1) > 0 ? 1.0 : -1.0;
  for (Index i = 0; i < 200; ++i) EXPECT_GT(sign * result.embedding(i, 1) * (i < 100 ? 1 : -1), 0);
}

TEST(SpectralTest, IsolatedInputsGetNanRowsAndDensePathAgrees) {
  const SparseMatrix w = two_triangles(2);
  EmbeddingOptions options;
  options.dimensions = 2;
  options.laplacian = LaplacianKind::kNone;

  const EmbeddingResult result = spectral_embedding(w, options);

  EXPECT_EQ(result.solver, "dense");
  ASSERT_EQ(result.isolated.size(), 2U);
  EXPECT_EQ(result.isolated[0], 6);
  EXPECT_TRUE(std::isnan(result.embedding(7, 0)));
  const Matrix dense = Matrix(w).topLeftCorner(6, 6);
  const Vector v = result.embedding.col(0).head(6);
  EXPECT_LT((dense * v - result.eigenvalues(0) * v).norm(), kEigenTol);
  EXPECT_THROW(spectral_embedding(w, EmbeddingOptions{6}), std::invalid_argument);
}

TEST(SpectralTest, KMeansAndSpectralClusteringRecoverPlantedBlocks) {
  IntVector truth;
  const SparseMatrix w = planted_blocks(3, 40, 2, &truth);
  SpectralClusteringOptions options;
  options.clusters = 3;

  const SpectralClusteringResult result = spectral_clustering(w, options);
  const SpectralClusteringResult again = spectral_clustering(w, options);

  EXPECT_NEAR(adjusted_rand_index(truth, result.labels), 1.0, kTol);
  EXPECT_NEAR(clustering_accuracy(truth, result.labels), 1.0, kTol);
  EXPECT_EQ(result.labels, again.labels);
  EXPECT_TRUE(result.kmeans.converged);
}

TEST(InputsTest, SscLabelsTiesAndIsolated) {
  // 0: neighbours 1 (class 1, w=2), 2 (class 2, w=2) -> tie -> class 1.
  // 1: neighbours 0 (class 1, w=2), 3 (class 0, w=0.5) -> 1. 2: neighbour 0 -> 1.
  // 3: neighbour 1 only (class 1) -> 1. 4: isolated -> -1.
  const SparseMatrix w = from_edges(5, {{0, 1, 2.0}, {0, 2, 2.0}, {3, 1, 0.5}});
  const IntVector labels = ints({1, 1, 2, 0, 0});
  const IntVector predictions = ints({1, 0, 2, 1, 0});

  const SscLabelResult result = ssc_labels(w, labels, &predictions);

  EXPECT_EQ(result.ssc_labels, ints({1, 1, 1, 1, -1}));
  ASSERT_EQ(result.unlabelled.size(), 1U);
  EXPECT_EQ(result.unlabelled[0], 4);
  EXPECT_NEAR(result.accuracy, 2.0 / 5.0, kTol);
  EXPECT_NEAR(result.accuracy_labelled, 2.0 / 4.0, kTol);
  EXPECT_NEAR(result.prediction_accuracy, 3.0 / 5.0, kTol);
  EXPECT_NEAR(result.agreement, 2.0 / 5.0, kTol);
}

TEST(InputsTest, NeighborhoodDistributionAndTop) {
  const SparseMatrix w = from_edges(5, {{0, 1, 1.0}, {0, 2, 3.0}, {0, 3, 1.0}, {0, 4, 0.5}});
  const IntVector labels = ints({0, 1, 2, 1, 0});

  const Neighborhood result = neighborhood(w, 0, labels, nullptr, 3);

  EXPECT_NEAR(result.total_affinity, 5.5, kTol);
  EXPECT_NEAR(result.class_affinity(0), 0.5 / 5.5, kTol);
  EXPECT_NEAR(result.class_affinity(1), 2.0 / 5.5, kTol);
  EXPECT_NEAR(result.class_affinity(2), 3.0 / 5.5, kTol);
  EXPECT_EQ(result.ssc_label, 2);
  ASSERT_EQ(result.top.size(), 3U);
  EXPECT_EQ(result.top[0].index, 2);
  EXPECT_EQ(result.top[1].index, 1);  // tie with 3 at weight 1: lower index first
  EXPECT_EQ(result.top[2].index, 3);
  EXPECT_THROW(neighborhood(w, 5, labels, nullptr, 3), std::invalid_argument);
}

TEST(InputsTest, ConfidentlyWrongFromLogitsAndProbabilities) {
  RowMatrix logits(4, 3);
  logits << 5, 0, 0,  // predicted 0, label 1: wrong, confident
      0, 1, 0,        // predicted 1, label 2: wrong, less confident
      0, 0, 9,        // predicted 2, label 2: right
      2, 2, 0;        // tie -> 0, label 0: right
  const IntVector labels = ints({1, 2, 2, 0});

  const auto wrong = confidently_wrong(logits, labels, 5, ScoreKind::kLogits);

  ASSERT_EQ(wrong.size(), 2U);
  EXPECT_EQ(wrong[0].index, 0);
  EXPECT_EQ(wrong[0].predicted, 0);
  EXPECT_NEAR(wrong[0].confidence, std::exp(5.0) / (std::exp(5.0) + 2.0), kTol);
  EXPECT_EQ(wrong[1].index, 1);
  RowMatrix probabilities(2, 2);
  probabilities << 0.9, 0.1, 0.3, 0.7;
  const auto from_probabilities = confidently_wrong(probabilities, ints({1, 1}), 1);
  ASSERT_EQ(from_probabilities.size(), 1U);
  EXPECT_NEAR(from_probabilities[0].confidence, 0.9, kTol);
}

}  // namespace
}  // namespace sublens::graph
