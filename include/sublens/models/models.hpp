// The models module: a model zoo with named capture points, training with per-epoch checkpoints,
// and activation capture from trained runs and from users' TorchScript models. This header is
// torch-free; the implementation links LibTorch and runs inside the `sublens-torch` companion
// executable (see DESIGN.md, "Start-up cost"), which `sublens train|extract|models` executes.
//
// Run folder written by train():
//   config.json                 options, model spec, normalisation, class count
//   log.csv                     epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,seconds
//   checkpoints/epoch-0003.pt   model + optimizer state after epoch 3 (written atomically)
//
// Example:
//   sublens::models::TrainOptions train;
//   train.model = sublens::models::parse_model_name("resnet20");
//   train.epochs = 3;
//   train.run_dir = "runs/r20";
//   sublens::models::train(train);
//   sublens::models::ExtractOptions extract{.run_dir = "runs/r20", .layers = {"stage*"},
//                                           .n = 1000, .output = "acts.safetensors"};
//   sublens::models::extract(extract);
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sublens/models/data.hpp"

namespace sublens::models {

// ---- zoo --------------------------------------------------------------------------------------
struct ModelSpec {
  // Family: "cnn2" (the NMF paper's 2-conv CNN), "alexnet" (small-input variant), "vgg" (with
  // batch norm), "resnet" (depth 6n+2: CIFAR basic blocks; 18, 34, 50: ImageNet layout adapted to
  // small inputs), "wrn" (Wide-ResNet-depth-width), "densenet" (DenseNet-BC; 121 or (depth-4)%6 ==
  // 0).
  std::string name = "cnn2";
  // Depth; 0: the family default (vgg 11, resnet 20, wrn 16, densenet 40). Ignored by cnn2/alexnet.
  int depth = 0;
  // Wide-ResNet widening factor k (default 2). Ignored by other families.
  int width = 0;
  // Channels of the first stage; 0: the family default (cnn2 10, alexnet 64, vgg 64, resnet 16
  // (CIFAR) or 64, wrn 16, densenet 2 * growth). Small values give tiny models for tests.
  int base_width = 0;
  // DenseNet growth rate; 0: 12 (32 for DenseNet-121).
  int growth_rate = 0;
  int num_classes = 10;  // outputs of the last layer
  int in_channels = 1;   // input channels
  int height = 28;       // input height
  int width_px = 28;     // input width
};

// The zoo's model families (ModelSpec::name), the one list that names and plans are checked by.
inline const std::vector<std::string> kModelFamilies = {"cnn2",   "alexnet", "vgg",
                                                        "resnet", "wrn",     "densenet"};
// "vgg16", "resnet20", "resnet-20", "WRN-16-2", "wrn-28-10", "densenet121", "cnn2" ... -> spec
// (name + depth + width; case-insensitive, '-' after the family optional); a plain family name
// keeps the defaults. Throws std::invalid_argument for unknown names. Torch-free (names.cpp,
// library sublens_model_names): `sublens study` checks plans with it.
ModelSpec parse_model_name(const std::string& name);
// The spec with the family's default depth (vgg 11, resnet 20, wrn 16, densenet 40) and WRN width.
ModelSpec with_family_defaults(ModelSpec spec);
// Checks the family, depth and widths; throws std::invalid_argument naming the constraint.
void validate(const ModelSpec& spec);
// Canonical display name, e.g. "resnet20", "wrn-16-2".
std::string display_name(const ModelSpec& spec);
nlohmann::json to_json(const ModelSpec& spec);
ModelSpec model_spec_from_json(const nlohmann::json& json);

struct CapturePoint {
  std::string name;                 // stable dotted name, e.g. "stage2.block0.conv1"
  std::vector<std::int64_t> shape;  // per-input shape, e.g. {32, 14, 14}
  std::int64_t dim = 0;             // product of shape (columns of the N x d capture)
};
struct ModelDescription {
  std::string display_name;                  // e.g. "vgg11"
  std::int64_t parameters = 0;               // trainable parameter count
  std::vector<CapturePoint> capture_points;  // in forward order; the last is "logits"
};
// Builds the model and runs one input through it to list its capture points.
ModelDescription describe(const ModelSpec& spec);
// The families with their default configuration (one spec each) for `sublens models`.
std::vector<ModelSpec> zoo_defaults();

// ---- training ---------------------------------------------------------------------------------
struct TrainOptions {
  ModelSpec model;                    // in_channels/height/width/num_classes are set from the data
  DatasetOptions dataset;             // split is ignored: trains on "train", evaluates on "test"
  double train_fraction = 1.0;        // stratified fraction of the training split, (0, 1]
  std::vector<std::int64_t> classes;  // train only on these classes (labels kept); empty: all
  bool ordered = false;               // class-ordered sampler (no shuffling), NMF paper study III
  int epochs = 1;                     // last epoch to train (a resumed run continues up to it)
  int batch_size = 128;               // images per SGD step
  double lr = 0.1;                    // initial learning rate
  double momentum = 0.9;              // SGD momentum
  double weight_decay = 5e-4;         // L2 penalty
  int lr_step = 30;                   // multiply the learning rate by lr_gamma every lr_step epochs
  double lr_gamma = 0.2;              // step decay factor
  std::uint64_t seed = 0;    // weights, subsets and shuffling; same seed + 1 thread = same run
  int threads = 0;           // torch intra-op threads; 0: all cores
  int checkpoint_every = 1;  // checkpoint every k epochs (the last epoch always)
  std::vector<int> checkpoint_epochs;  // if not empty: exactly these epochs (+ the last); 0 = init
  bool resume = false;                 // continue from the last checkpoint in run_dir
  // Options the caller set explicitly ("lr", "train_fraction", "model", ...): on resume each must
  // equal the run's stored value (a run continues with its own recipe); the others are taken
  // from the run.
  std::vector<std::string> given;
  std::int64_t test_n = 0;        // evaluate on the first test_n test images; 0: all; < 0: none
  std::filesystem::path run_dir;  // output folder
};

struct TrainResult {
  int first_epoch = 1;            // first epoch trained by this call (> 1 after --resume)
  int last_epoch = 0;             // last epoch trained
  std::int64_t train_images = 0;  // training images per epoch (after subsets)
  double train_loss = 0;          // mean loss of the last epoch
  double train_accuracy = 0;      // accuracy during the last epoch
  double test_loss = 0;           // NaN when not evaluated
  double test_accuracy = 0;       // NaN when not evaluated
  double images_per_second = 0;   // training throughput of this call (SGD loops only)
  double seconds = 0;             // wall time
  std::vector<std::filesystem::path> checkpoints;  // written by this call
};

TrainResult train(const TrainOptions& options);

// Epochs with a checkpoint in run_dir, ascending.
std::vector<int> checkpoint_epochs(const std::filesystem::path& run_dir);

// ---- capture ----------------------------------------------------------------------------------
struct ExtractOptions {
  std::filesystem::path run_dir;    // a folder written by train()
  std::vector<int> epochs;          // checkpoints to capture; empty: the last one
  bool all_epochs = false;          // every checkpoint (one output file per epoch)
  std::vector<std::string> layers;  // capture-point names or globs ("stage*", "*conv*", "logits")
  std::string split = "test";       // "test" or "train"
  std::int64_t n = 0;               // first n images of the split (after `classes`); 0: all
  // >= 0: the n images are drawn uniformly without replacement with this seed (kept in split
  // order) instead of being the first n; the analysis set of a study.
  std::int64_t sample_seed = -1;
  bool save_images = false;           // also write <stem>.images.npy: the captured inputs as stored
  std::vector<std::int64_t> classes;  // only these classes; empty: all
  std::filesystem::path
      output;                  // .safetensors or .npz; with several epochs "<stem>.epoch-0003<ext>"
  int batch_size = 256;        // images per forward pass
  int threads = 0;             // 0: all cores
  double max_memory_gb = 4.0;  // refuse captures whose N x d matrices need more than this
};

struct ExtractResult {
  std::vector<int> epochs;                      // captured epochs
  std::vector<std::filesystem::path> outputs;   // activation files, one per epoch
  std::vector<std::filesystem::path> sidecars;  // labels/indices/predictions/softmax .npy
  std::vector<CapturePoint> layers;             // captured layers
  std::int64_t n_inputs = 0;                    // N
  std::vector<double> accuracy;                 // per epoch, on the captured inputs
  double images_per_second = 0;                 // forward + copy throughput (no file I/O)
  double seconds = 0;                           // wall time
};

// Writes per layer an N x d float32 matrix (row = input), and next to `output`:
// <stem>.labels.npy, <stem>.indices.npy (positions in the split), with save_images
// <stem>.images.npy (N x C x H x W, the dataset's dtype: uint8 for IDX/CIFAR), and per epoch
// <stem>[.epoch-E].predictions.npy and <stem>[.epoch-E].softmax.npy (N x classes).
ExtractResult extract(const ExtractOptions& options);

struct TorchScriptOptions {
  std::filesystem::path model;      // scripted or traced module saved by torch.jit.save
  std::filesystem::path inputs;     // .npy, N x ... (float32/float64/uint8 as is)
  std::vector<std::string> layers;  // dotted submodule names ("layer1.0.conv1"); empty: list them
  std::filesystem::path output;     // .safetensors or .npz: per layer N x d float32
  int batch_size = 256;             // inputs per forward pass
  int threads = 0;                  // 0: all cores
  // Keep the activations, softmax and predictions in the result instead of writing `output`
  // (a run folder is written by extract_torchscript_run).
  bool keep_arrays = false;
};
struct TorchScriptResult {
  std::vector<CapturePoint> layers;    // captured layers (per-input shape)
  std::vector<std::string> available;  // every capturable submodule name
  std::int64_t n_inputs = 0;           // N
  double seconds = 0;                  // wall time
  // With keep_arrays: per layer N x d float32, the output's softmax (N x n_classes) and argmax.
  std::vector<std::pair<std::string, io::NdArray>> arrays;
  std::vector<float> softmax;
  std::vector<std::int64_t> predictions;
  int n_classes = 0;
};
// Captures the outputs of named submodules by inlining the forward graph and returning, besides
// the model's output, the values that leave each named submodule's inlined call.
TorchScriptResult extract_torchscript(const TorchScriptOptions& options);

// One TorchScript file per epoch (`extract --torchscript a.pt --torchscript b.pt -o RUNDIR`):
// each is run on the same inputs and written as that epoch of the run folder `options.output`
// (see include/sublens/io/run.hpp), with the labels' accuracy. `epochs`: one per model; empty:
// the last number in each file name, else 1, 2, ... in the given order.
struct TorchScriptRunOptions {
  std::vector<std::filesystem::path> models;
  std::vector<int> epochs;
  std::filesystem::path labels;  // .npy integer vector, length N
  TorchScriptOptions capture;    // inputs, layers, output (the run folder), batch size, threads
};
struct TorchScriptRunResult {
  std::vector<int> epochs;
  std::vector<double> accuracy;  // per epoch
  std::vector<CapturePoint> layers;
  std::int64_t n_inputs = 0;
  double seconds = 0;
};
TorchScriptRunResult extract_torchscript_run(const TorchScriptRunOptions& options);

// Entry point of the `sublens-torch` executable (train, extract, models); returns the exit code.
int torch_main(int argc, char** argv);

}  // namespace sublens::models
