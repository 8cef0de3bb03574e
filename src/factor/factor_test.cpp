#include <gtest/gtest.h>
#include <unistd.h>

#include <Eigen/SVD>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "sublens/factor/coupled_nmf.hpp"
#include "sublens/factor/latent.hpp"
#include "sublens/factor/spectrum.hpp"

namespace sublens::factor {
namespace {

// Relative agreement with the NumPy transcription after 50 iterations (the iterates differ only by
// floating-point summation order).
constexpr double kNumpyTol = 1e-6;
// Exact recovery: total RMSE relative to the data's RMS at the true rank (HALS converges linearly
// on these data; MU only sublinearly, ~1e-4 after 3000 iterations).
constexpr double kRecoveryTol = 1e-6;
constexpr double kMuRecoveryTol = 1e-3;
// MU never increases J beyond rounding (relative).
constexpr double kMonotoneSlack = 1e-12;
// Singular values against a dense SVD, relative to sigma_1.
constexpr double kSpectrumTol = 1e-9;

// X = F W^T with non-negative random factors (N x d), F shared between the blocks. A fraction
// `zeros` of the factor entries is 0: sparse factors make the exact NMF unique (dense positive
// factors leave a flat valley of exact solutions that every NMF solver crawls along).
struct Synthetic {
  Matrix f;
  std::vector<RowMatrix> blocks;
};

Synthetic synthetic(Index n, const std::vector<Index>& dims, int rank, unsigned seed,
                    double zeros = 0.0) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  auto random = [&](Index rows, Index cols) {
    Matrix m(rows, cols);
    for (Index i = 0; i < m.size(); ++i) {
      const double v = uniform(engine);
      m.data()[i] = v < zeros ? 0.0 : v;
    }
    return m;
  };
  Synthetic data;
  data.f = random(n, rank);
  for (Index d : dims) data.blocks.push_back(data.f * random(d, rank).transpose());
  return data;
}

double rms(const std::vector<RowMatrix>& blocks) {
  double sum = 0, count = 0;
  for (const auto& b : blocks) {
    sum += b.squaredNorm();
    count += static_cast<double>(b.size());
  }
  return std::sqrt(sum / count);
}

TEST(CoupledNmf, HalsRecoversExactLowRankDataAtTheTrueRank) {
  const Synthetic data = synthetic(80, {36, 20, 15}, 4, 1, 0.5);
  CoupledNmfOptions options;
  options.rank = 4;
  options.solver = NmfSolver::kHals;
  options.max_iterations = 3000;
  options.tolerance = 1e-14;

  double best = 1e300;
  for (std::uint64_t seed = 0; seed < 3; ++seed) {  // NMF is non-convex: best of a few starts
    options.seed = seed;
    const auto result = coupled_nmf({&data.blocks[0]}, {&data.blocks[1], &data.blocks[2]}, options);
    best = std::min(best, result.rmse);
  }

  EXPECT_LT(best, kRecoveryTol * rms(data.blocks));
}

TEST(CoupledNmf, MultiplicativeUpdatesApproachExactRecovery) {
  const Synthetic data = synthetic(60, {25, 30}, 3, 2, 0.5);
  CoupledNmfOptions options;
  options.rank = 3;
  options.max_iterations = 3000;
  options.tolerance = 0;

  const auto result = coupled_nmf({&data.blocks[0]}, {&data.blocks[1]}, options);

  EXPECT_LT(result.rmse, kMuRecoveryTol * rms(data.blocks));
  EXPECT_EQ(result.block_rmse.size(), 2u);
}

TEST(CoupledNmf, RmseDropsToNearZeroAtTheTrueRankInASweep) {
  const Synthetic data = synthetic(60, {25, 30}, 3, 2, 0.5);
  RankSweepOptions options;
  options.ranks = {1, 2, 3};
  options.n_seeds = 2;
  options.base.solver = NmfSolver::kHals;
  options.base.max_iterations = 3000;
  options.base.tolerance = 1e-14;
  options.progress = false;

  const auto sweep = rank_sweep({&data.blocks[0]}, {&data.blocks[1]}, options);

  ASSERT_EQ(sweep.rows.size(), 3u);
  EXPECT_GT(sweep.rows[0].rmse_mean, sweep.rows[1].rmse_mean);
  EXPECT_LT(sweep.rows[2].rmse_mean, kRecoveryTol * rms(data.blocks));
  EXPECT_LT(sweep.best[2].rmse, kRecoveryTol * rms(data.blocks));
  ASSERT_EQ(sweep.rows[2].block_rmse_mean.size(), 2u);
  EXPECT_EQ(sweep.best[1].factors.shared.cols(), 2);
}

// A sweep split over processes: fits run in any order (here backwards), sent as bytes and
// summarized, give the single process's rows and best fits exactly (timings aside).
TEST(CoupledNmf, SweepFromFitsInAnyOrderEqualsTheWholeSweep) {
  const Synthetic data = synthetic(40, {12, 9}, 2, 2, 0.5);
  RankSweepOptions options;
  options.ranks = {1, 3, 2};
  options.n_seeds = 3;
  options.base.max_iterations = 60;
  options.progress = false;
  const std::vector<const RowMatrix*> inputs = {&data.blocks[0]}, layers = {&data.blocks[1]};
  const auto whole = rank_sweep(inputs, layers, options);

  const std::int64_t count = sweep_fit_count(options);
  ASSERT_EQ(count, 9);
  std::vector<std::string> sent(static_cast<std::size_t>(count));
  for (std::int64_t fit = count - 1; fit >= 0; --fit) {
    sent[static_cast<std::size_t>(fit)] = fit_to_bytes(sweep_fit(inputs, layers, options, fit));
  }
  std::vector<CoupledNmfResult> fits;
  for (const auto& bytes : sent) fits.push_back(fit_from_bytes(bytes));
  EXPECT_EQ(fits[4].factors.shared.cols(), 3);  // fit 4: rank 3, second seed
  const auto split = summarize_sweep(options, std::move(fits));

  ASSERT_EQ(split.rows.size(), whole.rows.size());
  for (std::size_t k = 0; k < whole.rows.size(); ++k) {
    EXPECT_EQ(split.rows[k].rank, whole.rows[k].rank);
    EXPECT_EQ(split.rows[k].rmse_mean, whole.rows[k].rmse_mean);
    EXPECT_EQ(split.rows[k].rmse_std, whole.rows[k].rmse_std);
    EXPECT_EQ(split.rows[k].block_relative_rmse_mean, whole.rows[k].block_relative_rmse_mean);
    EXPECT_EQ(split.rows[k].objective_mean, whole.rows[k].objective_mean);
    EXPECT_EQ(split.rows[k].iterations_mean, whole.rows[k].iterations_mean);
    EXPECT_EQ(split.rows[k].converged, whole.rows[k].converged);
    EXPECT_EQ(split.best[k].factors.shared, whole.best[k].factors.shared);
    ASSERT_EQ(split.best[k].factors.blocks.size(), 2u);
    EXPECT_EQ(split.best[k].factors.blocks[1], whole.best[k].factors.blocks[1]);
    EXPECT_EQ(split.best[k].objective_history, whole.best[k].objective_history);
  }
  EXPECT_THROW(fit_from_bytes(sent[0].substr(0, sent[0].size() - 1)), std::runtime_error);
  EXPECT_THROW(summarize_sweep(options, {}), std::invalid_argument);
}

TEST(CoupledNmf, MultiplicativeUpdatesNeverIncreaseTheObjective) {
  const Synthetic data = synthetic(50, {30, 40}, 5, 3);
  CoupledNmfOptions options;
  options.rank = 3;  // below the true rank: J stays well above 0
  options.max_iterations = 300;
  options.tolerance = 0;

  const auto result = coupled_nmf({&data.blocks[0]}, {&data.blocks[1]}, options);

  ASSERT_EQ(result.objective_history.size(), 300u);
  for (std::size_t t = 1; t < result.objective_history.size(); ++t) {
    EXPECT_LE(result.objective_history[t], result.objective_history[t - 1] * (1 + kMonotoneSlack))
        << "iteration " << t;
  }
  EXPECT_EQ(result.iterations, 300);
  EXPECT_FALSE(result.converged);
}

TEST(CoupledNmf, TraceObjectiveMatchesTheExactResidual) {
  const Synthetic data = synthetic(40, {12, 18}, 4, 4);
  CoupledNmfOptions options;
  options.rank = 2;
  options.max_iterations = 20;
  options.tolerance = 0;

  const auto result = coupled_nmf({&data.blocks[0]}, {&data.blocks[1]}, options);

  double exact = 0;
  double data_norm2 = 0;
  for (int b = 0; b < 2; ++b) {
    const RowMatrix residual =
        data.blocks[b] - result.factors.shared * result.factors.blocks[b].transpose();
    exact += residual.squaredNorm();
    data_norm2 += data.blocks[b].squaredNorm();
    EXPECT_NEAR(result.squared_error[b], residual.squaredNorm(), 1e-9 * exact);
    EXPECT_NEAR(result.block_relative_rmse[b], residual.norm() / data.blocks[b].norm(), 1e-12);
  }
  EXPECT_NEAR(result.objective_history.back(), exact, 1e-9 * exact);
  EXPECT_NEAR(result.rmse, std::sqrt(exact / (40.0 * 30.0)), 1e-12);
  EXPECT_NEAR(result.relative_rmse, std::sqrt(exact / data_norm2), 1e-12);
}

TEST(CoupledNmf, RelativeRmseComparesBlocksOfDifferentScales) {
  // The same data at two scales (x1 and x1000): block weighting fits both alike, so their RMSEs
  // differ 1000-fold while their relative RMSEs agree.
  const Synthetic data = synthetic(30, {10}, 3, 8);
  const RowMatrix large = 1000.0 * data.blocks[0];
  CoupledNmfOptions options;
  options.rank = 2;
  options.solver = NmfSolver::kHals;
  options.weight_blocks = true;
  options.max_iterations = 200;
  RankSweepOptions sweep_options;
  sweep_options.ranks = {2};
  sweep_options.n_seeds = 2;
  sweep_options.base = options;
  sweep_options.progress = false;

  const auto sweep = rank_sweep({&data.blocks[0]}, {&large}, sweep_options);

  const RankSweepRow& row = sweep.rows[0];
  ASSERT_EQ(row.block_relative_rmse_mean.size(), 2u);
  EXPECT_GT(row.block_relative_rmse_mean[0], 1e-3);  // rank 2 < 3: not exact
  EXPECT_NEAR(row.block_rmse_mean[1], 1000.0 * row.block_rmse_mean[0],
              1e-6 * row.block_rmse_mean[1]);
  EXPECT_NEAR(row.block_relative_rmse_mean[1], row.block_relative_rmse_mean[0],
              1e-6 * row.block_relative_rmse_mean[0]);
  EXPECT_NEAR(row.relative_rmse_mean, row.block_relative_rmse_mean[0],
              1e-6 * row.relative_rmse_mean);
  EXPECT_GE(row.relative_rmse_std, 0.0);
  EXPECT_EQ(row.block_relative_rmse_std.size(), 2u);
}

TEST(CoupledNmf, HalsReachesAtMostTheMultiplicativeObjective) {
  const Synthetic data = synthetic(70, {30, 45}, 6, 5);
  CoupledNmfOptions options;
  options.rank = 4;
  options.max_iterations = 500;
  options.tolerance = 0;

  const auto mu = coupled_nmf({&data.blocks[0]}, {&data.blocks[1]}, options);
  options.solver = NmfSolver::kHals;
  const auto hals = coupled_nmf({&data.blocks[0]}, {&data.blocks[1]}, options);

  EXPECT_LE(hals.objective, mu.objective);
}

TEST(CoupledNmf, BlockWeightingMinimisesTheNormalisedObjective) {
  Synthetic data = synthetic(40, {10, 50}, 3, 6);
  data.blocks[1] *= 1000.0;  // a "huge layer"
  CoupledNmfOptions options;
  options.rank = 2;
  options.max_iterations = 50;
  options.tolerance = 0;
  options.weight_blocks = true;

  const auto result = coupled_nmf({&data.blocks[0]}, {&data.blocks[1]}, options);

  const double expected = result.squared_error[0] / data.blocks[0].squaredNorm() +
                          result.squared_error[1] / data.blocks[1].squaredNorm();
  EXPECT_NEAR(result.objective, expected, 1e-9 * expected);
  EXPECT_LT(result.objective, 2.0);  // each normalised term starts at most ~1
}

TEST(CoupledNmf, SameSeedSameResultAndInitialFactorsAreUsed) {
  const Synthetic data = synthetic(30, {10}, 2, 7);
  CoupledNmfOptions options;
  options.rank = 2;
  options.max_iterations = 5;
  options.tolerance = 0;
  options.seed = 42;

  const auto a = coupled_nmf({&data.blocks[0]}, {}, options);
  const auto b = coupled_nmf({&data.blocks[0]}, {}, options);
  const auto initial = random_factors(30, {10}, 2, 42);
  const auto c = coupled_nmf({&data.blocks[0]}, {}, options, &initial);

  EXPECT_EQ(a.factors.shared, b.factors.shared);
  EXPECT_EQ(a.factors.shared, c.factors.shared);
  EXPECT_EQ(a.factors.blocks[0], c.factors.blocks[0]);
}

TEST(CoupledNmf, ErrorsNameTheConstraint) {
  const RowMatrix a = RowMatrix::Ones(10, 4);
  const RowMatrix b = RowMatrix::Ones(9, 3);
  RowMatrix negative = RowMatrix::Ones(10, 3);
  negative(2, 1) = -0.5;
  CoupledNmfOptions options;

  try {
    coupled_nmf({&a}, {&b}, options);
    FAIL() << "mismatched N accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("10 x 4"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("9 x 3"), std::string::npos) << error.what();
  }
  try {
    coupled_nmf({&a}, {&negative}, options);
    FAIL() << "negative data accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("negative"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("--shift-min"), std::string::npos);
  }
  EXPECT_THROW(coupled_nmf({}, {}, options), std::invalid_argument);
  options.rank = 0;
  EXPECT_THROW(coupled_nmf({&a}, {}, options), std::invalid_argument);
  options.rank = 2;
  CoupledNmfFactors wrong = random_factors(10, {5}, 2, 0);
  EXPECT_THROW(coupled_nmf({&a}, {}, options, &wrong), std::invalid_argument);
  EXPECT_THROW(parse_nmf_solver("als"), std::invalid_argument);
}

TEST(CoupledNmf, ShiftMinMakesABlockNonNegative) {
  RowMatrix block(2, 2);
  block << -1.5, 0, 2, 3;

  const double shift = shift_to_non_negative(block);

  EXPECT_EQ(shift, 1.5);
  EXPECT_EQ(block.minCoeff(), 0.0);
  EXPECT_EQ(block(1, 1), 4.5);
  EXPECT_EQ(shift_to_non_negative(block), 0.0);
}

// Writes a matrix as raw little-endian float64 in C order of the paper's orientation (given).
void write_raw(const std::filesystem::path& path, const Matrix& m) {
  const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> c = m;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(c.data()), static_cast<std::streamsize>(c.size() * 8));
}

Matrix read_raw(const std::filesystem::path& path, Index rows, Index cols) {
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> c(rows, cols);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(c.data()), static_cast<std::streamsize>(c.size() * 8));
  if (!in) throw std::runtime_error("could not read " + path.string());
  return c;
}

TEST(CoupledNmf, MatchesTheNumpyTranscriptionOfThePaperFromTheSameStart) {
  const Index n = 40;
  const Synthetic data = synthetic(n, {16, 24, 10}, 5, 8);
  const int rank = 4;
  const int iterations = 50;
  const auto initial = random_factors(n, {16, 24, 10}, rank, 9);
  const auto dir = std::filesystem::temp_directory_path() /
                   ("sublens_factor_numpy_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  // Paper orientation for NumPy: D_i, A_j are d x N.
  write_raw(dir / "x0.bin", data.blocks[0].transpose());
  write_raw(dir / "x1.bin", data.blocks[1].transpose());
  write_raw(dir / "x2.bin", data.blocks[2].transpose());
  write_raw(dir / "f.bin", initial.shared);
  for (int b = 0; b < 3; ++b) {
    write_raw(dir / ("w" + std::to_string(b) + ".bin"), initial.blocks[b]);
  }
  const std::string script =
      "import sys, numpy as np; sys.path.insert(0, sys.argv[1]); from test_factor import numpy_mu; "
      "d = sys.argv[2]; n, r = 40, 4; dims = [16, 24, 10]; "
      "X = [np.fromfile(f'{d}/x{b}.bin').reshape(dims[b], n) for b in range(3)]; "
      "W = [np.fromfile(f'{d}/w{b}.bin').reshape(dims[b], r) for b in range(3)]; "
      "F = np.fromfile(f'{d}/f.bin').reshape(n, r); "
      "F, P, O, J = numpy_mu(X[:1], X[1:], F, W[:1], W[1:], 50, 1e-9); "
      "F.tofile(f'{d}/f_out.bin'); "
      "[w.tofile(f'{d}/w{b}_out.bin') for b, w in enumerate(P + O)]; "
      "np.asarray(J).tofile(f'{d}/j_out.bin')";
  const std::string command = std::string(SUBLENS_PYTHON) + " -c \"" + script + "\" " +
                              SUBLENS_SOURCE_DIR + "/tests/python " + dir.string();
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  CoupledNmfOptions options;
  options.rank = rank;
  options.max_iterations = iterations;
  options.tolerance = 0;
  options.epsilon = 1e-9;

  const auto result =
      coupled_nmf({&data.blocks[0]}, {&data.blocks[1], &data.blocks[2]}, options, &initial);

  const Matrix f = read_raw(dir / "f_out.bin", n, rank);
  EXPECT_LE((result.factors.shared - f).norm(), kNumpyTol * f.norm());
  const std::vector<Index> dims = {16, 24, 10};
  for (int b = 0; b < 3; ++b) {
    const Matrix w = read_raw(dir / ("w" + std::to_string(b) + "_out.bin"), dims[b], rank);
    EXPECT_LE((result.factors.blocks[b] - w).norm(), kNumpyTol * w.norm()) << "block " << b;
  }
  const Matrix j = read_raw(dir / "j_out.bin", iterations, 1);
  for (int t = 0; t < iterations; ++t) {
    EXPECT_NEAR(result.objective_history[t], j(t, 0), kNumpyTol * j(t, 0)) << "iteration " << t;
  }
  std::filesystem::remove_all(dir);
}

// ---- spectrum ----------------------------------------------------------------------------------

RowMatrix decaying(Index n, Index d, unsigned seed) {
  std::mt19937 engine(seed);
  std::normal_distribution<double> normal;
  RowMatrix x(n, d);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = normal(engine);
  for (Index c = 0; c < d; ++c) x.col(c) *= std::pow(0.9, static_cast<double>(c));
  return x;
}

TEST(Spectrum, DenseAndLanczosAgreeWithAFullSvd) {
  for (const auto& [n, d] : std::vector<std::pair<Index, Index>>{{300, 120}, {90, 250}}) {
    const RowMatrix x = decaying(n, d, 11);
    const Vector full = Eigen::JacobiSVD<Matrix>(x).singularValues();
    SpectrumOptions options;
    options.k = 10;

    options.dense_limit = 100000;
    const auto dense = top_singular_values(x, options);
    options.dense_limit = 0;
    const auto lanczos = top_singular_values(x, options);

    EXPECT_EQ(dense.method, "dense-svd");
    EXPECT_EQ(lanczos.method, "lanczos-gram");
    EXPECT_TRUE(lanczos.converged);
    ASSERT_EQ(lanczos.singular_values.size(), 10);
    EXPECT_LE((dense.singular_values - full.head(10)).cwiseAbs().maxCoeff(),
              kSpectrumTol * full(0));
    EXPECT_LE((lanczos.singular_values - full.head(10)).cwiseAbs().maxCoeff(),
              kSpectrumTol * full(0));
  }
}

TEST(Spectrum, KIsCappedAndValidated) {
  const RowMatrix x = decaying(5, 3, 12);
  SpectrumOptions options;
  options.k = 50;

  EXPECT_EQ(top_singular_values(x, options).singular_values.size(), 3);
  EXPECT_EQ(top_singular_values(RowMatrix::Zero(4, 4), options).singular_values, Vector::Zero(4));
  options.k = 0;
  EXPECT_THROW(top_singular_values(x, options), std::invalid_argument);
}

// ---- latent images -----------------------------------------------------------------------------

TEST(Latent, TileGridScalesEachTileAndPngHasTheRightHeader) {
  Matrix columns(4, 2);  // two 2 x 2 tiles
  columns << 0, 1, 1, 2, 2, 3, 4, 4;

  const GrayImage grid = tile_grid(columns, 2, 2, 2, 1);
  const std::string png = encode_png(grid);

  EXPECT_EQ(grid.width, 7);
  EXPECT_EQ(grid.height, 4);
  EXPECT_EQ(grid.pixels[1 * 7 + 1], 0);    // tile 0, pixel (0, 0) = 0
  EXPECT_EQ(grid.pixels[2 * 7 + 2], 255);  // tile 0, pixel (1, 1) = max
  EXPECT_EQ(grid.pixels[1 * 7 + 4], 64);   // tile 1, 1 / 4
  ASSERT_GT(png.size(), 24u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  EXPECT_EQ(static_cast<unsigned char>(png[19]), 7);  // IHDR width (big-endian, low byte)
  EXPECT_EQ(static_cast<unsigned char>(png[23]), 4);  // IHDR height
  EXPECT_THROW(tile_grid(columns, 3, 2), std::invalid_argument);
}

TEST(Latent, HeatmapCells) {
  Matrix values(2, 3);
  values << 0, 1, 2, 4, 3, 0;

  const GrayImage image = heatmap(values, 2, 3);

  EXPECT_EQ(image.width, 9);
  EXPECT_EQ(image.height, 4);
  EXPECT_EQ(image.pixels[2 * 9 + 0], 255);
  EXPECT_EQ(image.pixels[0], 0);
}

}  // namespace
}  // namespace sublens::factor
