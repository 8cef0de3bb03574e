// Captures written as a run folder (see include/sublens/io/run.hpp): `sublens extract --run TRAIN
// -o RUNDIR` and `extract --torchscript A.pt --torchscript B.pt --epoch 1,2 -o RUNDIR` add their
// epochs to RUNDIR, each atomically (three files renamed into place, then run.json rewritten).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sublens/io/io.hpp"
#include "sublens/io/run.hpp"
#include "sublens/models/models.hpp"

namespace sublens::models::detail {

// Whether `-o` names a run folder rather than a file: anything but a .safetensors or .npz path,
// or an existing folder.
bool is_run_output(const std::filesystem::path& output);

// What a capture puts in a run folder besides the epochs.
struct RunInputs {
  std::vector<std::int64_t> labels;   // N
  std::optional<io::NdArray> inputs;  // N x ... (written as float32), when known
  std::vector<std::int64_t> indices;  // positions in the dataset split (zoo runs), or empty
  int n_classes = 0;
  // Names of the n_classes classes; empty: the names of the dataset that metadata.recipe names
  // (a zoo training run on Fashion-MNIST, MNIST, CIFAR), if known.
  std::vector<std::string> class_names;
  nlohmann::json metadata = nlohmann::json::object();
};

// Opens RUNDIR for a capture of `layers` (created when missing) and writes labels.npy,
// inputs.npy (and indices.npy). A folder that already holds a run of other layers, another N or
// other labels is refused (InputError naming its run.json), so epochs of different analysis sets
// never mix.
io::RunFolder open_run_output(const std::filesystem::path& dir,
                              const std::vector<CapturePoint>& layers, const RunInputs& inputs);

// Writes one epoch (activations, predictions, softmax) and lists it in run.json (a re-recorded
// epoch replaces the old one). `arrays`: per layer N x d float32.
void write_run_epoch(io::RunFolder& run, int epoch, const io::NamedArrays& arrays,
                     const std::vector<std::int64_t>& predictions,
                     const std::vector<float>& softmax, const std::vector<std::int64_t>& labels,
                     const std::vector<std::pair<std::string, std::string>>& metadata);

}  // namespace sublens::models::detail
