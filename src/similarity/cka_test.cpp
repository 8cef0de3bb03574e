#include "sublens/similarity/cka.hpp"

#include <gtest/gtest.h>

#include <Eigen/QR>
#include <cmath>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace sublens::similarity {
namespace {

constexpr double kTol = 1e-10;      // agreement of algebraically identical formulas
constexpr double kLooseTol = 1e-8;  // after O(N^2) sums of rounded products

Matrix random_symmetric(Index n, double density, std::mt19937_64& rng, bool zero_diagonal = true) {
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  Matrix m = Matrix::Zero(n, n);
  for (Index i = 0; i < n; ++i) {
    for (Index j = zero_diagonal ? i + 1 : i; j < n; ++j) {
      if (uniform(rng) < density) m(i, j) = m(j, i) = uniform(rng);
    }
  }
  return m;
}

SparseMatrix to_sparse(const Matrix& m) {
  SparseMatrix s = m.sparseView();
  s.makeCompressed();
  return s;
}

RowMatrix random_activations(Index n, Index d, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  RowMatrix x(n, d);
  for (Index i = 0; i < n; ++i) {
    for (Index j = 0; j < d; ++j) x(i, j) = normal(rng) + 0.5 * j;
  }
  return x;
}

// Literal transcription of the definitions with explicit H (O(N^3)).
double reference_hsic(const Matrix& k, const Matrix& l, HsicEstimator estimator) {
  const double n = static_cast<double>(k.rows());
  if (estimator == HsicEstimator::kBiased) {
    const Matrix h =
        Matrix::Identity(k.rows(), k.rows()) - Matrix::Constant(k.rows(), k.rows(), 1.0 / n);
    return (k * h * l * h).trace() / ((n - 1) * (n - 1));
  }
  Matrix kt = k, lt = l;
  kt.diagonal().setZero();
  lt.diagonal().setZero();
  const Vector ones = Vector::Ones(k.rows());
  const double term1 = (kt * lt).trace();
  const double term2 = ones.dot(kt * ones) * ones.dot(lt * ones) / ((n - 1) * (n - 2));
  const double term3 = 2.0 / (n - 2) * ones.dot(kt * lt * ones);
  return (term1 + term2 - term3) / (n * (n - 3));
}

double reference_cka(const Matrix& k, const Matrix& l, HsicEstimator estimator) {
  return reference_hsic(k, l, estimator) /
         std::sqrt(reference_hsic(k, k, estimator) * reference_hsic(l, l, estimator));
}

class CkaEstimatorTest : public ::testing::TestWithParam<HsicEstimator> {};

TEST_P(CkaEstimatorTest, SparseAndDenseMatchTranscription) {
  std::mt19937_64 rng(7);
  const Matrix k = random_symmetric(60, 0.1, rng);
  const Matrix l = random_symmetric(60, 0.1, rng, /*zero_diagonal=*/false);
  CkaOptions options;
  options.estimator = GetParam();

  const CkaResult sparse = graph_cka(to_sparse(k), to_sparse(l), options);
  const CkaResult dense = graph_cka(k, l, options);
  const double expected = reference_cka(k, l, GetParam());

  EXPECT_NEAR(sparse.cka, expected, kTol);
  EXPECT_NEAR(dense.cka, expected, kTol);
  EXPECT_NEAR(sparse.hsic_kl, reference_hsic(k, l, GetParam()), kTol);
  EXPECT_EQ(sparse.estimator, GetParam());
  EXPECT_EQ(sparse.method, "sparse");
}

TEST_P(CkaEstimatorTest, SelfSimilarityIsOne) {
  std::mt19937_64 rng(3);
  const Matrix k = random_symmetric(40, 0.2, rng);
  CkaOptions options;
  options.estimator = GetParam();

  const CkaResult result = graph_cka(to_sparse(k), to_sparse(k), options);

  EXPECT_NEAR(result.cka, 1.0, kTol);
}

TEST_P(CkaEstimatorTest, LinearCkaFeatureAndGramMatchTranscription) {
  std::mt19937_64 rng(11);
  const RowMatrix x = random_activations(50, 7, rng);
  const RowMatrix y = random_activations(50, 4, rng) + 0.3 * x.leftCols(4);
  LinearCkaOptions options;
  options.estimator = GetParam();
  options.block_rows = 16;  // several blocks
  const Matrix k = x * x.transpose();
  const Matrix l = y * y.transpose();

  options.method = LinearCkaMethod::kFeature;
  const CkaResult feature = linear_cka(x, y, options);
  options.method = LinearCkaMethod::kGram;
  const CkaResult gram = linear_cka(x, y, options);
  const double expected = reference_cka(k, l, GetParam());

  EXPECT_EQ(feature.method, "feature");
  EXPECT_EQ(gram.method, "gram");
  EXPECT_NEAR(feature.cka, expected, kLooseTol);
  EXPECT_NEAR(gram.cka, expected, kLooseTol);
}

TEST_P(CkaEstimatorTest, LinearCkaInvariantToOrthogonalTransformAndScaling) {
  std::mt19937_64 rng(5);
  const RowMatrix x = random_activations(40, 6, rng);
  const RowMatrix y = random_activations(40, 6, rng) + x;
  const Matrix q = Eigen::HouseholderQR<Matrix>(Matrix::Random(6, 6)).householderQ();
  const RowMatrix y_rotated = 3.5 * y * q;
  LinearCkaOptions options;
  options.estimator = GetParam();

  const double base = linear_cka(x, y, options).cka;
  const double rotated = linear_cka(x, y_rotated, options).cka;

  EXPECT_NEAR(base, rotated, kLooseTol);
  EXPECT_NEAR(linear_cka(x, x, options).cka, 1.0, kLooseTol);
}

TEST_P(CkaEstimatorTest, CkaMatrixMatchesPairwise) {
  std::mt19937_64 rng(9);
  std::vector<SparseMatrix> graphs;
  std::vector<Matrix> dense;
  for (int g = 0; g < 3; ++g) {
    dense.push_back(random_symmetric(30, 0.15, rng));
    graphs.push_back(to_sparse(dense.back()));
  }
  std::vector<const SparseMatrix*> pointers;
  for (const auto& g : graphs) pointers.push_back(&g);
  CkaOptions options;
  options.estimator = GetParam();

  const Matrix square = graph_cka_matrix(pointers, {}, options);
  const Matrix rect = graph_cka_matrix({pointers[0]}, {pointers[1], pointers[2]}, options);

  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      EXPECT_NEAR(square(i, j), reference_cka(dense[i], dense[j], GetParam()), kTol);
    }
  }
  EXPECT_NEAR(rect(0, 1), square(0, 2), kTol);
}

TEST_P(CkaEstimatorTest, ActivationCkaMatrixMatchesPairwise) {
  std::mt19937_64 rng(13);
  std::vector<RowMatrix> layers = {random_activations(30, 5, rng), random_activations(30, 3, rng),
                                   random_activations(30, 40, rng)};
  std::vector<const RowMatrix*> pointers;
  for (const auto& m : layers) pointers.push_back(&m);
  LinearCkaOptions options;
  options.estimator = GetParam();

  const Matrix linear = activation_cka_matrix(pointers, {}, ActivationKernel::kLinear, options);
  const Matrix rbf = activation_cka_matrix(pointers, {}, ActivationKernel::kRbf, options);

  CkaOptions rbf_options;
  rbf_options.estimator = GetParam();
  for (std::size_t i = 0; i < 3; ++i) {
    for (std::size_t j = 0; j < 3; ++j) {
      EXPECT_NEAR(linear(i, j), linear_cka(layers[i], layers[j], options).cka, kLooseTol);
      EXPECT_NEAR(rbf(i, j), rbf_cka(layers[i], layers[j], rbf_options).cka, kLooseTol);
    }
  }
}

// A matrix split over 3 simulated processes (pairs p, p + 3, ... each, as the worst case of a
// dynamic handout): every pair's value is the whole matrix's, bit for bit; the rest is NaN.
TEST_P(CkaEstimatorTest, MatrixSplitOverProcessesEqualsTheWholeMatrix) {
  std::mt19937_64 rng(21);
  std::vector<SparseMatrix> graphs;
  std::vector<RowMatrix> layers;
  for (int g = 0; g < 4; ++g) {
    graphs.push_back(to_sparse(random_symmetric(30, 0.2, rng)));
    layers.push_back(random_activations(30, 3 + 4 * g, rng));
  }
  std::vector<const SparseMatrix*> pg;
  std::vector<const RowMatrix*> pl;
  for (const auto& g : graphs) pg.push_back(&g);
  for (const auto& m : layers) pl.push_back(&m);
  for (const bool square : {true, false}) {
    const std::vector<const SparseMatrix*> bg =
        square ? std::vector<const SparseMatrix*>{}
               : std::vector<const SparseMatrix*>{pg[1], pg[3]};
    const std::vector<const RowMatrix*> bl =
        square ? std::vector<const RowMatrix*>{} : std::vector<const RowMatrix*>{pl[2], pl[0]};
    CkaOptions graph_options;
    graph_options.estimator = GetParam();
    LinearCkaOptions linear_options;
    linear_options.estimator = GetParam();
    const Matrix whole_graph = graph_cka_matrix(pg, bg, graph_options);
    const Matrix whole_linear =
        activation_cka_matrix(pl, bl, ActivationKernel::kLinear, linear_options);
    const Matrix whole_rbf = activation_cka_matrix(pl, bl, ActivationKernel::kRbf, linear_options);
    const auto pairs = matrix_pairs(4, square ? 4 : 2, square);
    EXPECT_EQ(pairs.size(), square ? 10u : 8u);
    for (std::int64_t rank = 0; rank < 3; ++rank) {
      auto strided = [rank] {
        return [next = rank]() mutable {
          const std::int64_t p = next;
          next += 3;
          return p;
        };
      };
      graph_options.next_pair = strided();
      const Matrix graph = graph_cka_matrix(pg, bg, graph_options);
      linear_options.next_pair = strided();
      const Matrix linear =
          activation_cka_matrix(pl, bl, ActivationKernel::kLinear, linear_options);
      linear_options.next_pair = strided();
      const Matrix rbf = activation_cka_matrix(pl, bl, ActivationKernel::kRbf, linear_options);
      for (std::size_t p = 0; p < pairs.size(); ++p) {
        const auto [i, j] = pairs[p];
        const bool mine = static_cast<std::int64_t>(p) % 3 == rank;
        EXPECT_EQ(std::isnan(graph(i, j)), !mine);
        if (!mine) continue;
        EXPECT_EQ(graph(i, j), whole_graph(i, j));
        EXPECT_EQ(linear(i, j), whole_linear(i, j));
        EXPECT_EQ(rbf(i, j), whole_rbf(i, j));
        if (square) {
          EXPECT_EQ(graph(j, i), whole_graph(i, j));
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Estimators, CkaEstimatorTest,
                         ::testing::Values(HsicEstimator::kBiased, HsicEstimator::kUnbiased),
                         [](const auto& info) { return to_string(info.param); });

TEST(CkaTest, RbfGramMatchesKornblithDefinition) {
  std::mt19937_64 rng(1);
  const RowMatrix x = random_activations(9, 3, rng);
  Matrix distances(9, 9);
  for (int i = 0; i < 9; ++i) {
    for (int j = 0; j < 9; ++j) distances(i, j) = (x.row(i) - x.row(j)).squaredNorm();
  }
  std::vector<double> values(distances.data(), distances.data() + 81);
  std::sort(values.begin(), values.end());
  const double median = values[40];

  const Matrix gram = rbf_gram(x);

  EXPECT_LT((gram - (-distances / (2 * median)).array().exp().matrix()).cwiseAbs().maxCoeff(),
            kLooseTol);
}

TEST(CkaTest, ShapeMismatchNamesBothShapes) {
  const SparseMatrix k(500, 500), l(400, 400);

  try {
    graph_cka(k, l);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "cka: K is 500 x 500 but L is 400 x 400");
  }
}

TEST(CkaTest, RejectsAsymmetricAndTooSmall) {
  Matrix k = Matrix::Zero(5, 5);
  k(0, 1) = 1.0;
  CkaOptions unbiased;
  unbiased.estimator = HsicEstimator::kUnbiased;

  EXPECT_THROW(graph_cka(to_sparse(k), to_sparse(k)), std::invalid_argument);
  EXPECT_THROW(graph_cka(Matrix::Identity(3, 3), Matrix::Identity(3, 3), unbiased),
               std::invalid_argument);
  EXPECT_THROW(parse_estimator("debiased"), std::invalid_argument);
}

TEST(CkaTest, UncompressedSparseInputGivesTheSameCka) {
  std::mt19937_64 rng(4);
  const Matrix k = random_symmetric(25, 0.3, rng);
  const Matrix l = random_symmetric(25, 0.3, rng);
  SparseMatrix uncompressed(25, 25);
  uncompressed.reserve(Eigen::VectorXi::Constant(25, 30));  // leaves gaps between rows
  for (Index i = 0; i < 25; ++i) {
    for (Index j = 0; j < 25; ++j) {
      if (k(i, j) != 0.0) uncompressed.insert(i, j) = k(i, j);
    }
  }
  ASSERT_FALSE(uncompressed.isCompressed());

  const double expected = graph_cka(to_sparse(k), to_sparse(l)).cka;

  EXPECT_NEAR(graph_cka(uncompressed, to_sparse(l)).cka, expected, kTol);
  EXPECT_NEAR(frobenius_inner(uncompressed, to_sparse(l)), (k.array() * l.array()).sum(), kTol);
}

TEST(CkaTest, EmptyGraphGivesUndefinedCka) {
  std::mt19937_64 rng(2);
  const Matrix k = random_symmetric(10, 0.3, rng);

  const CkaResult result = graph_cka(to_sparse(k), SparseMatrix(10, 10));

  EXPECT_FALSE(result.defined);
  EXPECT_TRUE(std::isnan(result.cka));
}

// ---- the one parser of the kind / method / estimator strings (CLI and Python share it) ------

// The message a parse error must carry: what was given and every accepted value.
void expect_rejected(const std::function<void()>& parse, const std::string& expected) {
  try {
    parse();
    FAIL() << "expected std::invalid_argument: " << expected;
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(std::string(error.what()), expected);
  }
}

TEST(CkaNamesTest, EveryNameRoundTrips) {
  for (const char* name : {"auto", "graph", "linear", "rbf"}) {
    EXPECT_EQ(to_string(parse_kind(name)), name);
  }
  for (const char* name : {"auto", "feature", "gram"}) {
    EXPECT_EQ(to_string(parse_method(name)), name);
  }
  for (const char* name : {"biased", "unbiased"}) {
    EXPECT_EQ(to_string(parse_estimator(name)), name);
  }
  EXPECT_EQ(parse_kind("rbf"), CkaKind::kRbf);
  EXPECT_EQ(parse_method("gram"), LinearCkaMethod::kGram);
  EXPECT_EQ(parse_estimator("unbiased"), HsicEstimator::kUnbiased);
}

TEST(CkaNamesTest, UnknownNamesListTheAllowedValues) {
  expect_rejected([] { parse_kind("bogus"); },
                  "cka: kind must be one of auto, graph, linear, rbf (got 'bogus')");
  expect_rejected([] { parse_method("bogus"); },
                  "cka: method must be one of auto, feature, gram (got 'bogus')");
  expect_rejected([] { parse_estimator("debiased"); },
                  "cka: estimator must be one of biased, unbiased (got 'debiased')");
}

TEST(CkaNamesTest, NamesAreExactNotCaseFoldedOrTrimmed) {
  EXPECT_THROW(parse_kind("Graph"), std::invalid_argument);
  EXPECT_THROW(parse_kind(" graph"), std::invalid_argument);
  EXPECT_THROW(parse_method(""), std::invalid_argument);
  EXPECT_THROW(parse_estimator("BIASED"), std::invalid_argument);
}

}  // namespace
}  // namespace sublens::similarity
