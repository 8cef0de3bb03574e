// sublens demo — the first thing a newcomer runs (`make demo`): a built-in study plan on
// Fashion-MNIST (Debian's dataset-fashion-mnist), run by the study module exactly like
// `sublens study` (resumable; `sublens demo --print-plan` shows the plan to copy and adapt):
//   - training dynamics: a small ResNet-8 analysed at every epoch (modularity, SSC-CKA and
//     Linear-CKA to the final epoch), heatmaps after a few epochs, Table 1, embeddings and the
//     most confidently wrong inputs with their neighbourhoods;
//   - architecture: ResNet-8/14/20 side by side, and ResNet-8 trained on 2%, 5% and 20% of the
//     data (pairwise SSC-CKA heatmaps over all conv layers, block-diagonal strength);
//   - paper B: the 2-conv CNN trained one epoch on 5%, 25% and 100% of the data, two seeds each
//     (replicates), coupled-NMF RMSE vs rank, singular spectra, latent images.
// Writes DIR/report.html, DIR/figures/, DIR/study.json and the CSV tables.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "command.hpp"
#include "sublens/study/plan.hpp"
#include "sublens/study/study.hpp"

namespace sublens::cli {
namespace {

namespace fs = std::filesystem;

struct DemoOptions {
  fs::path output = "sublens-demo";
  fs::path data_dir = "/usr/share/datasets/fashion-mnist";
  int epochs = 8;
  int n_inputs = 500;
  int threads = 0;
  std::uint64_t seed = 0;
  bool figures = true;
  bool print_plan = false;
};

// The built-in plan; @DATA_DIR@, @N@, @EPOCHS@ and @SEED@ are filled in from the options.
constexpr const char* kPlan =
    R"(# The plan `sublens demo` runs (sublens demo --print-plan > my.toml; sublens study my.toml -o out)
name = "demo"

[dataset]
name = "fashion-mnist"
data_dir = "@DATA_DIR@"

[analysis]
n = @N@            # test inputs, drawn with the seed below
seed = @SEED@
layers = "convs"   # every conv feature map (paper A's heatmaps)

[nmf]
ranks = [10, 20, 30]
layers = ["pool1", "pool2"]
max_iter = 200

[training]         # shared by every variant unless it says otherwise
model = "resnet8"
base_width = 8
train_fraction = 0.1
epochs = @EPOCHS@
lr_step = 6        # learning rate x 0.2 after epoch 6 (paper A: jumps at the decays)
seed = @SEED@

# Paper A, Fig. 1-2 and 8-9, Table 1: one network analysed at every epoch.
[[variants]]
name = "resnet8"
group = "depth"
dynamics = true
heatmap_epochs = [1, 3]
inputs = true

# Paper A, Fig. 3-4: depth.
[[variants]]
name = "resnet14"
group = "depth"
depth = 14

[[variants]]
name = "resnet20"
group = "depth"
depth = 20

# Paper A, Fig. 7: amount of training data.
[[variants]]
name = "resnet8-data2"
group = "training data"
train_fraction = 0.02

[[variants]]
name = "resnet8-data5"
group = "training data"
train_fraction = 0.05

[[variants]]
name = "resnet8-data20"
group = "training data"
train_fraction = 0.2

# Paper B, study I: the 2-conv CNN, one epoch on part of the data; two training seeds each
# (replicates: the report draws their mean and spread, the trend pools all 6 networks).
[[variants]]
name = "cnn2-data5"
group = "coupled NMF"
model = "cnn2"
base_width = 0
layers = "blocks"
epochs = 1
lr_step = 30
train_fraction = 0.05
nmf = true
seeds = 2

[[variants]]
name = "cnn2-data25"
group = "coupled NMF"
model = "cnn2"
base_width = 0
layers = "blocks"
epochs = 1
lr_step = 30
train_fraction = 0.25
nmf = true
seeds = 2

[[variants]]
name = "cnn2-data100"
group = "coupled NMF"
model = "cnn2"
base_width = 0
layers = "blocks"
epochs = 1
lr_step = 30
train_fraction = 1.0
nmf = true
seeds = 2
)";

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::string demo_plan(const DemoOptions& options) {
  // A TOML basic string: escape its two special characters.
  const std::string data_dir =
      replace_all(replace_all(options.data_dir.string(), "\\", "\\\\"), "\"", "\\\"");
  std::string text = replace_all(kPlan, "@DATA_DIR@", data_dir);
  text = replace_all(text, "@N@", std::to_string(options.n_inputs));
  text = replace_all(text, "@EPOCHS@", std::to_string(options.epochs));
  return replace_all(text, "@SEED@", std::to_string(options.seed));
}

nlohmann::json demo_command(const DemoOptions& options) {
  if (options.epochs < 3) throw std::invalid_argument("demo: --epochs must be >= 3");
  // The plan's NMF ranks go up to 30 and Fashion-MNIST has 10000 test images.
  if (options.n_inputs <= 30 || options.n_inputs > 10000) {
    throw std::invalid_argument("demo: --n must be in [31, 10000]");
  }
  const std::string text = demo_plan(options);
  if (options.print_plan) {
    std::cout << text;
    return nullptr;
  }
  require_readable_file(options.data_dir / "t10k-images-idx3-ubyte.gz", "--data-dir");
  const study::Plan plan = study::parse_plan(text, "<sublens demo plan>");
  study::StudyOptions study_options;
  study_options.output = options.output;
  study_options.threads = options.threads;
  study_options.figures = options.figures;
  study_options.who = "demo";
  nlohmann::json summary = study::run_study(plan, study_options);
  summary["command"] = "demo";
  return summary;
}

const bool registered = register_command(
    {"demo",
     "Train small networks on Fashion-MNIST and run every analysis of both papers; writes a report",
     "sublens demo -o sublens-demo   # then open sublens-demo/report.html", [](CLI::App& app) {
       auto options = std::make_shared<DemoOptions>();
       app.add_option("-o,--output", options->output, "Output folder")->capture_default_str();
       app.add_option("--data-dir", options->data_dir, "Fashion-MNIST IDX files")
           ->capture_default_str();
       app.add_option("--epochs", options->epochs, "Training epochs of the ResNets (>= 3)")
           ->capture_default_str();
       app.add_option("--n", options->n_inputs, "Test inputs analysed")->capture_default_str();
       app.add_option("--threads", options->threads, "Threads (0: all cores)")
           ->capture_default_str();
       app.add_option("--seed", options->seed, "Seed of sampling, training and factorization")
           ->capture_default_str();
       app.add_flag("!--no-figures", options->figures,
                    "Do not write figures/*.svg|png (they need Chromium)");
       app.add_flag("--print-plan", options->print_plan,
                    "Print the built-in study plan (TOML) and exit");
       return [options] { return demo_command(*options); };
     }});

}  // namespace
}  // namespace sublens::cli
