// Captures written as run folders. See run_output.hpp.
#include "run_output.hpp"

#include <algorithm>

#include "sublens/core/error.hpp"

namespace sublens::models::detail {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

template <typename Write>
void write_file(const fs::path& path, Write write) {
  io::write_atomically(path, [&](const fs::path& temporary) { write(temporary); });
}

// An existing run in `dir` must hold the same layers, N and labels as this capture.
void check_same_run(const io::RunFolder& existing, const std::vector<CapturePoint>& layers,
                    const RunInputs& inputs) {
  const std::string file = existing.json_file().string();
  bool same_layers = existing.layers.size() == layers.size();
  for (std::size_t l = 0; same_layers && l < layers.size(); ++l) {
    same_layers =
        existing.layers[l].name == layers[l].name && existing.layers[l].shape == layers[l].shape;
  }
  if (!same_layers) {
    throw InputError(file, "layers",
                     "the folder holds a run of other layers than this capture; capture into a "
                     "new folder (or remove it)");
  }
  if (existing.n_inputs != static_cast<Index>(inputs.labels.size())) {
    throw InputError(file, "n_inputs",
                     "is " + std::to_string(existing.n_inputs) + ", this capture has " +
                         std::to_string(inputs.labels.size()) +
                         " inputs; capture into a new folder");
  }
  if (io::read_int_vector(existing.labels_file()) != inputs.labels) {
    throw InputError(existing.labels_file().string(), "values",
                     "differ from this capture's labels (another analysis set); capture into a new "
                     "folder");
  }
}

}  // namespace

bool is_run_output(const fs::path& output) {
  std::error_code error;
  return output.extension().empty() || fs::is_directory(output, error);
}

io::RunFolder open_run_output(const fs::path& dir, const std::vector<CapturePoint>& layers,
                              const RunInputs& inputs) {
  io::RunFolder run;
  if (io::is_run_folder(dir)) {
    run = io::read_run(dir);
    check_same_run(run, layers, inputs);
  } else {
    fs::create_directories(dir);
    run.dir = dir;
    run.n_inputs = static_cast<Index>(inputs.labels.size());
    for (const auto& point : layers) run.layers.push_back({point.name, point.shape});
  }
  run.n_classes = inputs.n_classes;
  run.metadata = inputs.metadata;
  const auto n = static_cast<std::int64_t>(inputs.labels.size());
  write_file(run.labels_file(), [&](const fs::path& path) {
    io::write_npy(path, io::NdArray::from_int64({n}, inputs.labels.data()));
  });
  if (inputs.inputs) {
    const std::vector<double> values = inputs.inputs->to_double();
    const std::vector<float> floats(values.begin(), values.end());
    write_file(run.inputs_file(), [&](const fs::path& path) {
      io::write_npy(path, io::NdArray::from_float(inputs.inputs->shape, floats.data()));
    });
    run.input_shape.emplace(inputs.inputs->shape.begin() + 1, inputs.inputs->shape.end());
  }
  if (!inputs.indices.empty()) {
    write_file(dir / "indices.npy", [&](const fs::path& path) {
      io::write_npy(path, io::NdArray::from_int64({n}, inputs.indices.data()));
    });
  }
  return run;
}

void write_run_epoch(io::RunFolder& run, int epoch, const io::NamedArrays& arrays,
                     const std::vector<std::int64_t>& predictions,
                     const std::vector<float>& softmax, const std::vector<std::int64_t>& labels,
                     const std::vector<std::pair<std::string, std::string>>& metadata) {
  const auto n = static_cast<std::int64_t>(predictions.size());
  // Per-input shapes, as the contract stores them (the capture holds N x d).
  io::NamedArrays shaped = arrays;
  for (std::size_t l = 0; l < shaped.size(); ++l) {
    shaped[l].second.shape = {n};
    for (auto s : run.layers[l].shape) shaped[l].second.shape.push_back(s);
  }
  write_file(run.epoch_file(epoch, ".safetensors"),
             [&](const fs::path& path) { io::write_safetensors(path, shaped, metadata); });
  write_file(run.epoch_file(epoch, ".predictions.npy"), [&](const fs::path& path) {
    io::write_npy(path, io::NdArray::from_int64({n}, predictions.data()));
  });
  write_file(run.epoch_file(epoch, ".softmax.npy"), [&](const fs::path& path) {
    io::write_npy(path, io::NdArray::from_float({n, run.n_classes}, softmax.data()));
  });
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < n; ++i) correct += predictions[i] == labels[i];
  const double accuracy = n > 0 ? static_cast<double>(correct) / static_cast<double>(n) : 0.0;
  auto& epochs = run.epochs;
  epochs.erase(std::remove_if(epochs.begin(), epochs.end(),
                              [&](const io::RunEpoch& e) { return e.epoch == epoch; }),
               epochs.end());
  epochs.push_back({epoch, accuracy});
  std::sort(epochs.begin(), epochs.end(),
            [](const io::RunEpoch& a, const io::RunEpoch& b) { return a.epoch < b.epoch; });
  io::write_run_json(run);
}

}  // namespace sublens::models::detail
