// Study plans: what `sublens study PLAN.toml -o DIR` trains, captures and measures. A plan names
// the dataset, the analysis set (N test inputs, seeded), the layers, the training recipe shared by
// all variants, and the variants themselves (model, depth, width, training fraction, class
// subsets, class-ordered training) with the analyses each one gets. plans/README.md documents every
// key; plans/*.toml are the papers' studies.
//
//   name = "depth"
//   [dataset]
//   name = "fashion-mnist"
//   [analysis]
//   n = 1000
//   layers = "blocks"          # "blocks", "convs", "final-conv", "all" or a list of globs
//   [training]
//   model = "resnet"
//   epochs = 8
//   [[variants]]
//   name = "resnet8"
//   depth = 8
//   dynamics = true            # every epoch: modularity, SSC-CKA and Linear-CKA to the final one
//
//   const study::Plan plan = study::read_plan("plans/depth.toml");
//
// Every constraint is checked when the plan is read; a violation throws InputError naming the plan
// file, the key (e.g. "variants[2].train_fraction") and the constraint.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sublens::study {

// One trained network. Keys not given in [[variants]] come from [training].
struct VariantPlan {
  std::string name;   // unique, [A-Za-z0-9._-]+; names its folders in DIR
  std::string group;  // variants of one group are compared side by side (default: "variants")
  // A recorded run folder (see README, "run folders") instead of a zoo model trained by the study:
  // none of the training keys apply; `layers` may only be globs over the run's layers, and the
  // analysed epochs are the recorded ones. Empty: a zoo variant.
  std::filesystem::path run;
  std::string model = "cnn2";   // zoo name as `sublens models` accepts it (resnet20, WRN-16-2, ...)
  int depth = 0;                // overrides the depth the name implies (0: keep it)
  int width = 0;                // Wide-ResNet widening factor (0: keep it)
  int base_width = 0;           // channels of the first stage (0: family default)
  int growth_rate = 0;          // DenseNet growth rate (0: family default)
  double train_fraction = 1.0;  // seeded stratified fraction of the training split, (0, 1]
  std::vector<std::int64_t> classes;  // train on these classes only (empty: all)
  bool ordered = false;               // class-ordered training, no shuffling (paper B, study III)
  int epochs = 1;
  int batch_size = 128;
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  int lr_step = 30;
  double lr_gamma = 0.2;
  std::uint64_t seed = 0;  // weights, subsets and shuffling
  // Replicates: `seeds = N` trains the variant N times with seeds seed, seed + 1, ..., as variants
  // "<name>.seed<k>" of the same group whose `replicate_of` is <name>; trends pool them as points
  // and replicates.csv gives each measure's mean, sd and per-seed values.
  int seeds = 1;
  std::string replicate_of;  // empty: not a replicate
  // Layer selection: presets "blocks" (block outputs: spatial capture points that are neither a
  // conv inside a block nor nested in another capture point: cnn2 pool1, pool2; ResNet stem,
  // stageS.blockB; VGG stageS.pool; DenseNet stem, blockB, transB, final), "convs" (every spatial
  // feature map), "final-conv" (the last one), "all" (every capture point but the logits), or
  // fnmatch globs ("stage*.block1").
  std::vector<std::string> layers = {"blocks"};
  bool dynamics = false;  // analyse every epoch (paper A, Fig. 1-2)
  // With dynamics: analyse epochs 1, k, 2k, ... and the last only. Each analysed epoch keeps its
  // activations (N x d float32 per layer) on disk: a ResNet-18's block outputs at N = 1000 on
  // CIFAR take about 1.2 GB per epoch.
  int dynamics_every = 1;
  std::vector<int> heatmap_epochs;  // pairwise SSC-CKA heatmaps at these epochs (+ the last)
  bool inputs = false;  // final network: embeddings, Table 1, neighbourhoods (paper A, Fig. 8-9)
  bool nmf = false;     // coupled-NMF rank sweep and spectra at the final epoch (paper B)
};

struct Plan {
  std::filesystem::path file;  // where the plan came from (named in errors)
  std::string name = "study";
  std::string dataset = "fashion-mnist";  // fashion-mnist, mnist, cifar10, cifar100 or npy
  std::filesystem::path data_dir;         // empty: the dataset's default folder
  // Analysis set: n inputs of `split`, drawn with `sample_seed` (the same for every variant).
  int n = 1000;
  std::uint64_t sample_seed = 0;
  std::string split = "test";
  double tau = 10;            // SSC tau (eq. 2)
  int threads = 0;            // 0: all cores
  int confidently_wrong = 5;  // inputs explained per `inputs` variant
  int top = 8;                // neighbours per explained input (paper: 8)
  int spectrum_k = 50;        // singular values per layer
  // Bootstrap resamples of the analysis inputs (drawn with replacement; each measure recomputed on
  // the induced subgraph or rows) for the standard errors of modularity and SSC-CKA beside their
  // values (0: none). bootstrap.hpp says what is resampled.
  int bootstrap = 20;
  std::uint64_t bootstrap_seed = 0;
  std::vector<int> nmf_ranks = {10, 20, 30, 40, 50};
  std::vector<std::string> nmf_layers;  // layer selection for paper B (empty: the variant's)
  int nmf_max_iterations = 200;
  std::vector<VariantPlan> variants;
};

// Reads and validates a plan file (TOML).
Plan read_plan(const std::filesystem::path& file);
// Same, from text (`file` is only named in errors; the demo's built-in plan uses this).
Plan parse_plan(const std::string& text, const std::filesystem::path& file);

// `sublens study --run RUN [--run RUN2 ...]`: one group "runs" with a variant per recorded run
// folder (named after the folder; replicates: see RunArgument) and every analysis its data allows:
// dynamics over the recorded epochs (all of them), the heatmap at the last, the final network's
// inputs analysis, and the coupled NMF when the run holds inputs.npy (ranks 10..50 below the
// smallest N). A bad run folder throws InputError naming its file and field.
Plan plan_for_runs(const std::vector<std::filesystem::path>& runs);

// One `--run` argument: a run folder (a glob matches several: one variant each), or
// NAME=DIR,DIR,... (globs allowed): the runs of one network trained with several seeds, analysed
// as replicates "NAME.seed<s>" of the variant NAME (s: each run's metadata.seed when all differ,
// else 0, 1, ...). Replicates must share layers, N and labels (else InputError naming the run).
struct RunArgument {
  std::string name;  // empty: one variant per folder, named after it
  std::vector<std::filesystem::path> dirs;
};
RunArgument parse_run_argument(const std::string& text);
Plan plan_for_runs(const std::vector<RunArgument>& runs);

// The plan as JSON (stored in DIR/study.json and shown in the report).
nlohmann::json to_json(const Plan& plan);

}  // namespace sublens::study
