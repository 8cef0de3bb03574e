// `sublens factorize`: coupled NMF of input images and layer activations over a sweep of ranks and
// seeds (PAPERS.md, section B). Writes the sweep table and, per rank, the best fit's factors and
// latent images; prints a JSON summary.
//
// Inputs. IMAGES is a .npy (N x H x W, or N x C x H x W; any numeric dtype) or an IDX file
// (MNIST-style, optionally gzipped). uint8 images are divided by 255 (so pixels lie in [0, 1], the
// scale of the usual torchvision ToTensor input); other dtypes are used as stored. Each channel
// becomes one block D_i (N x H*W). ACTS is any activation file `load_activations` reads.
// Every block must be non-negative; --shift-min subtracts each negative block's minimum first,
// --skip-negative leaves such blocks out. sweep.json records what was shifted (by how much) and
// what was skipped.
//
// Errors. RMSE (in each block's units) and relative RMSE = ||residual||_F / ||block||_F (of the
// block as factorized), which compares across layers of different scales.
//
// Outputs in DIR:
//   sweep.csv, sweep.json         one row per rank and block (plus "total"): RMSE and relative RMSE
//                                 mean and std over seeds
//   rank<r>/F.npy                 N x r shared factor of the best seed (lowest objective)
//   rank<r>/P_<channel>.npy/.png  pixels x r input factor; PNG: its columns as H x W tiles
//   rank<r>/O_<layer>.npy/.png    neurons x r layer factor; PNG: neuron x factor heatmap
//   rank<r>/objective.npy         objective per iteration of the best seed
//
// Under mpirun/srun the fits (rank x seed) are handed out to the processes as they become free
// (dist::TaskQueue); every process reads the inputs itself, rank 0 gathers every fit (its factors
// included: ranks x seeds x (N + dims) x r doubles in all), writes the files and prints the JSON.
// A fit depends only on its rank and seed: the tables and factors are the single process's
// (with --threads alike), timings aside.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "command.hpp"
#include "sublens/core/error.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/core/threads.hpp"
#include "sublens/dist/dist.hpp"
#include "sublens/factor/coupled_nmf.hpp"
#include "sublens/factor/latent.hpp"
#include "sublens/io/io.hpp"

namespace sublens::cli {
namespace {

namespace fs = std::filesystem;

struct FactorizeCommandOptions {
  std::string inputs;               // IMAGES file (.npy or IDX); optional if --acts is given
  std::string activations;          // ACTS file; optional if --inputs is given
  std::vector<std::string> layers;  // layers of ACTS to use (all when empty)
  std::vector<int> ranks = {10, 20, 30, 40, 50};  // ranks to sweep
  int seeds = 3;                                  // seeds per rank
  std::uint64_t seed = 0;                         // first seed
  std::string solver = "mu";                      // "mu" (the paper) or "hals"
  int max_iterations = 500;                       // per fit
  double tolerance = 1e-6;                        // relative objective change
  double epsilon = 1e-9;                          // MU denominator epsilon
  bool weight_blocks = false;                     // divide each block by its Frobenius norm
  bool shift_min = false;                         // shift negative blocks to a minimum of 0
  bool skip_negative = false;                     // leave blocks with negative entries out
  bool no_latent = false;                         // skip the per-rank factors and PNGs
  std::string output;                             // output folder
  int threads = 0;                                // 0: all cores (under mpirun: shared)
};

struct Block {
  std::string name;  // channel index ("0") or layer name
  std::string kind;  // "input" or "layer"
  RowMatrix values;  // N x d
  Index height = 0;  // image height (inputs only), for latent images
  Index width = 0;   // image width (inputs only)
  double min = 0;    // smallest entry as read
  double shift = 0;  // added by --shift-min
};

// Applies --shift-min / --skip-negative to every block (or requires non-negative blocks); returns
// the blocks to factorize and the skipped ones as sweep.json rows.
std::vector<Block> prepare_blocks(std::vector<Block> blocks, const FactorizeCommandOptions& options,
                                  nlohmann::json* skipped) {
  std::vector<Block> kept;
  for (auto& block : blocks) {
    const std::string label =
        (block.kind == "input" ? "channel " + block.name + " of " + options.inputs
                               : block.name + " of " + options.activations);
    if (!options.shift_min && !options.skip_negative) {
      factor::require_non_negative(block.values, label);
    } else if (!block.values.allFinite()) {
      throw std::invalid_argument("factorize: block '" + label + "' has NaN or Inf entries");
    }
    block.min = block.values.size() > 0 ? block.values.minCoeff() : 0.0;
    if (options.skip_negative && block.min < 0) {
      skipped->push_back({{"name", block.name}, {"kind", block.kind}, {"min", block.min}});
      continue;
    }
    if (options.shift_min) block.shift = factor::shift_to_non_negative(block.values);
    kept.push_back(std::move(block));
  }
  if (kept.empty()) {
    throw std::invalid_argument(
        "factorize: every block has negative entries, so --skip-negative left none to factorize "
        "(use --shift-min)");
  }
  return kept;
}

std::vector<Block> load_images(const fs::path& path) {
  require_readable_file(path, "--inputs");
  const bool is_npy = path.extension() == ".npy";
  const io::NdArray array = is_npy ? io::read_npy(path) : io::read_idx(path);
  const auto& shape = array.shape;
  if (shape.size() != 3 && shape.size() != 4) {
    std::string got;
    for (auto s : shape) got += (got.empty() ? "" : " x ") + std::to_string(s);
    throw InputError(path.string(), "shape",
                     "images must be N x H x W or N x C x H x W (got " + got + ")");
  }
  const Index n = shape[0];
  const Index channels = shape.size() == 4 ? shape[1] : 1;
  const Index height = shape[shape.size() - 2];
  const Index width = shape.back();
  if (n < 1 || channels < 1 || height < 1 || width < 1) {
    throw InputError(path.string(), "shape", "every dimension must be >= 1");
  }
  const std::vector<double> values = array.to_double();
  const double scale = array.dtype == io::DType::kUInt8 ? 1.0 / 255.0 : 1.0;
  const Index pixels = height * width;
  std::vector<Block> blocks;
  for (Index c = 0; c < channels; ++c) {
    Block block;
    block.name = std::to_string(c);
    block.kind = "input";
    block.height = height;
    block.width = width;
    block.values.resize(n, pixels);
    for (Index i = 0; i < n; ++i) {
      const double* source = values.data() + (i * channels + c) * pixels;
      for (Index p = 0; p < pixels; ++p) block.values(i, p) = source[p] * scale;
    }
    blocks.push_back(std::move(block));
  }
  return blocks;
}

// The sweep over every process (one fit per task); on rank 0 the sweep, on the others nothing.
std::optional<factor::RankSweepResult> distributed_sweep(
    const std::vector<const RowMatrix*>& inputs, const std::vector<const RowMatrix*>& layers,
    const factor::RankSweepOptions& options) {
  factor::check_sweep_options(options);
  dist::TaskQueue queue(factor::sweep_fit_count(options));
  dist::GlobalCounter done;  // fits finished on every process: rank 0's progress line
  Progress progress("factorize", queue.count());
  std::int64_t shown = 0;
  std::vector<std::pair<std::int64_t, std::string>> mine;
  for (std::int64_t fit = queue.next(); fit >= 0; fit = queue.next()) {
    mine.emplace_back(fit, factor::fit_to_bytes(factor::sweep_fit(inputs, layers, options, fit)));
    const std::int64_t total = done.add(1);
    progress.advance(total - shown);
    shown = total;
  }
  progress.finish();
  std::vector<std::string> all = dist::gather_results(queue.count(), std::move(mine));
  if (!dist::is_root()) return std::nullopt;
  std::vector<factor::CoupledNmfResult> fits;
  fits.reserve(all.size());
  for (auto& bytes : all) {
    fits.push_back(factor::fit_from_bytes(bytes));
    std::string().swap(bytes);
  }
  return factor::summarize_sweep(options, std::move(fits));
}

nlohmann::json factorize_command(const FactorizeCommandOptions& options) {
  if (options.inputs.empty() && options.activations.empty()) {
    throw std::invalid_argument("factorize: give --inputs IMAGES, --acts ACTS or both");
  }
  if (!options.layers.empty() && options.activations.empty()) {
    throw std::invalid_argument("factorize: --layers needs --acts");
  }
  if (options.shift_min && options.skip_negative) {
    throw std::invalid_argument("factorize: give --shift-min or --skip-negative, not both");
  }
  if (options.output.empty()) throw InputError("(none)", "-o", "an output folder is required");
  if (fs::exists(options.output) && !fs::is_directory(options.output)) {
    throw InputError(options.output, "-o", "exists and is not a folder");
  }
  factor::RankSweepOptions sweep_options;
  sweep_options.ranks = options.ranks;
  sweep_options.n_seeds = options.seeds;
  sweep_options.base.solver = factor::parse_nmf_solver(options.solver);
  sweep_options.base.max_iterations = options.max_iterations;
  sweep_options.base.tolerance = options.tolerance;
  sweep_options.base.epsilon = options.epsilon;
  sweep_options.base.seed = options.seed;
  sweep_options.base.weight_blocks = options.weight_blocks;

  std::vector<Block> blocks;
  if (!options.inputs.empty()) blocks = load_images(options.inputs);
  if (!options.activations.empty()) {
    require_readable_file(options.activations, "--acts");
    for (auto& layer : io::load_activations(
             options.activations, select_activation_layers(options.activations, options.layers))) {
      Block block;
      block.name = layer.name;
      block.kind = "layer";
      block.values = std::move(layer.values);
      blocks.push_back(std::move(block));
    }
  }
  const Index n = blocks[0].values.rows();
  for (const auto& block : blocks) {
    if (block.values.rows() != n) {
      throw std::invalid_argument(
          "factorize: the images and the activations must have the same number of inputs N: " +
          options.inputs + " has " + std::to_string(n) + " images but layer '" + block.name +
          "' of " + options.activations + " has " + std::to_string(block.values.rows()) + " rows");
    }
  }
  nlohmann::json skipped = nlohmann::json::array();
  blocks = prepare_blocks(std::move(blocks), options, &skipped);
  std::vector<const RowMatrix*> inputs, layers;
  for (const auto& block : blocks) {  // inputs come first in `blocks`
    (block.kind == "input" ? inputs : layers).push_back(&block.values);
  }
  // Under mpirun, K processes share the node's cores unless --threads says otherwise.
  set_threads(dist::launched() ? dist::threads_per_process(options.threads) : options.threads);
  std::optional<factor::RankSweepResult> split;
  if (dist::distributed()) {
    split = distributed_sweep(inputs, layers, sweep_options);
    if (!split) return nullptr;  // rank 0 writes and reports
  }
  const factor::RankSweepResult sweep =
      split ? std::move(*split) : factor::rank_sweep(inputs, layers, sweep_options);
  // Created only now: a sweep that rejects its arguments leaves no empty folder behind.
  fs::create_directories(options.output);

  // ---- tables ----
  const fs::path dir(options.output);
  std::ostringstream csv;
  csv.precision(10);
  csv << "rank,block,kind,rmse_mean,rmse_std,relative_rmse_mean,relative_rmse_std,seeds,"
         "iterations_mean,converged,seconds_mean,shift\n";
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : sweep.rows) {
    csv << row.rank << ",total,total," << row.rmse_mean << "," << row.rmse_std << ","
        << row.relative_rmse_mean << "," << row.relative_rmse_std << "," << options.seeds << ","
        << row.iterations_mean << "," << row.converged << "," << row.seconds_mean << ",\n";
    nlohmann::json per_block = nlohmann::json::array();
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      csv << row.rank << "," << csv_field(blocks[b].name) << "," << blocks[b].kind << ","
          << row.block_rmse_mean[b] << "," << row.block_rmse_std[b] << ","
          << row.block_relative_rmse_mean[b] << "," << row.block_relative_rmse_std[b] << ","
          << options.seeds << "," << row.iterations_mean << "," << row.converged << ","
          << row.seconds_mean << "," << blocks[b].shift << "\n";
      per_block.push_back({{"block", blocks[b].name},
                           {"kind", blocks[b].kind},
                           {"rmse_mean", json_number(row.block_rmse_mean[b])},
                           {"rmse_std", json_number(row.block_rmse_std[b])},
                           {"relative_rmse_mean", json_number(row.block_relative_rmse_mean[b])},
                           {"relative_rmse_std", json_number(row.block_relative_rmse_std[b])}});
    }
    rows.push_back({{"rank", row.rank},
                    {"rmse_mean", json_number(row.rmse_mean)},
                    {"rmse_std", json_number(row.rmse_std)},
                    {"relative_rmse_mean", json_number(row.relative_rmse_mean)},
                    {"relative_rmse_std", json_number(row.relative_rmse_std)},
                    {"objective_mean", json_number(row.objective_mean)},
                    {"iterations_mean", row.iterations_mean},
                    {"converged", row.converged},
                    {"seconds_mean", row.seconds_mean},
                    {"blocks", per_block}});
  }
  nlohmann::json block_info = nlohmann::json::array();
  nlohmann::json shifted = nlohmann::json::array();
  for (const auto& block : blocks) {
    block_info.push_back({{"name", block.name},
                          {"kind", block.kind},
                          {"dims", block.values.cols()},
                          {"min", block.min},
                          {"shifted", block.shift > 0},
                          {"shift", block.shift}});
    if (block.shift > 0) {
      shifted.push_back({{"name", block.name}, {"kind", block.kind}, {"shift", block.shift}});
    }
  }
  nlohmann::json summary = {{"command", "factorize"},
                            {"n_inputs", n},
                            {"solver", options.solver},
                            {"seeds", options.seeds},
                            {"max_iterations", options.max_iterations},
                            {"tolerance", options.tolerance},
                            {"weight_blocks", options.weight_blocks},
                            {"rmse_definition", "sqrt(sum of squared errors / number of entries)"},
                            {"relative_rmse_definition",
                             "||residual||_F / ||block||_F of the block as factorized (after any "
                             "shift); total: sqrt(sum of squared errors / sum of squared entries)"},
                            {"blocks", block_info},
                            {"shifted", shifted},
                            {"skipped", skipped},
                            {"ranks", rows}};
  io::write_file_atomically(dir / "sweep.csv", csv.str());
  io::write_file_atomically(dir / "sweep.json", summary.dump(2) + "\n");
  nlohmann::json files = {(dir / "sweep.csv").string(), (dir / "sweep.json").string()};

  // ---- factors and latent images of the best seed per rank ----
  if (!options.no_latent) {
    for (std::size_t k = 0; k < sweep.rows.size(); ++k) {
      const auto& fit = sweep.best[k];
      const fs::path rank_dir = dir / ("rank" + std::to_string(sweep.rows[k].rank));
      fs::create_directories(rank_dir);
      io::write_matrix(rank_dir / "F.npy", RowMatrix(fit.factors.shared));
      const auto n_iterations = static_cast<std::int64_t>(fit.objective_history.size());
      io::write_npy(rank_dir / "objective.npy",
                    io::NdArray::from_double({n_iterations}, fit.objective_history.data()));
      files.push_back((rank_dir / "F.npy").string());
      files.push_back((rank_dir / "objective.npy").string());
      for (std::size_t b = 0; b < blocks.size(); ++b) {
        const bool input = blocks[b].kind == "input";
        const std::string stem = (input ? "P_" : "O_") + io::layer_file_stem(blocks[b].name);
        const Matrix& w = fit.factors.blocks[b];
        io::write_matrix(rank_dir / (stem + ".npy"), RowMatrix(w));
        const factor::GrayImage image =
            input ? factor::tile_grid(w, blocks[b].height, blocks[b].width)
                  : factor::heatmap(w, 1, 8);
        io::write_file_atomically(rank_dir / (stem + ".png"), factor::encode_png(image));
        files.push_back((rank_dir / (stem + ".npy")).string());
        files.push_back((rank_dir / (stem + ".png")).string());
      }
    }
  }
  summary["files"] = files;
  return summary;
}

const bool registered = register_command(
    {"factorize",
     "Coupled non-negative factorization of input images and layer activations (rank sweep)",
     "sublens factorize --inputs t10k-images-idx3-ubyte.gz --acts acts.npz --ranks 10,20,30 "
     "--seeds 3 --solver hals -o nmf/",
     [](CLI::App& app) {
       auto options = std::make_shared<FactorizeCommandOptions>();
       app.option_defaults()->always_capture_default();
       app.add_option("--inputs", options->inputs,
                      "Input images: .npy (N x H x W or N x C x H x W) or IDX (.gz ok); uint8 is "
                      "scaled to [0, 1]; one block per channel");
       app.add_option("--acts", options->activations,
                      "Activations (.npy, .npz or .safetensors); one block per layer");
       add_layers_option(app, options->layers, "Layers of ACTS to use (default: all)");
       app.add_option("--ranks", options->ranks, "Ranks to sweep, e.g. 10,20,30,40,50")
           ->delimiter(',');
       app.add_option("--seeds", options->seeds, "Random initialisations per rank")
           ->check(CLI::PositiveNumber);
       app.add_option("--seed", options->seed, "First seed (seeds are seed, seed+1, ...)");
       app.add_option("--solver", options->solver,
                      "mu: the paper's multiplicative updates; hals: faster, same objective")
           ->check(CLI::IsMember({"mu", "hals"}));
       app.add_option("--max-iter", options->max_iterations, "Iterations per fit at most")
           ->check(CLI::PositiveNumber);
       app.add_option("--tol", options->tolerance,
                      "Stop when the relative objective change falls below this (0: never)")
           ->check(CLI::NonNegativeNumber);
       app.add_option("--epsilon", options->epsilon, "Epsilon in the MU denominators")
           ->check(CLI::PositiveNumber);
       app.add_flag("--weight-blocks", options->weight_blocks,
                    "Divide each block by its Frobenius norm (default off, as in the paper)");
       app.add_flag("--shift-min", options->shift_min,
                    "Shift each block with negative entries so its minimum is 0");
       app.add_flag("--skip-negative", options->skip_negative,
                    "Leave blocks with negative entries out (listed under 'skipped')");
       app.add_flag("--no-latent", options->no_latent, "Do not write per-rank factors and PNGs");
       app.add_option("--threads", options->threads,
                      "Threads (0: all cores; under mpirun: the node's cores / its processes)")
           ->check(CLI::NonNegativeNumber);
       app.add_option("-o,--output", options->output, "Output folder (created if missing)")
           ->required();
       return [options] { return factorize_command(*options); };
     }});

}  // namespace
}  // namespace sublens::cli
