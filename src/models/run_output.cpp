// Captures written as run folders. See run_output.hpp.
#include "run_output.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>

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

// The class names of the dataset a zoo run was trained on (metadata.recipe.dataset.name), when
// known and as many as the classes; else empty (labels stay numbers).
std::vector<std::string> recipe_class_names(const RunInputs& inputs) {
  if (!inputs.class_names.empty()) return inputs.class_names;
  const json* name = &inputs.metadata;
  for (const char* key : {"recipe", "dataset", "name"}) {
    if (!name->is_object() || !name->contains(key)) return {};
    name = &name->at(key);
  }
  if (!name->is_string()) return {};
  std::vector<std::string> names = io::dataset_class_names(name->get<std::string>());
  if (names.size() != static_cast<std::size_t>(inputs.n_classes)) return {};
  return names;
}

}  // namespace

bool is_run_output(const fs::path& output) {
  if (output.empty()) return false;
  // Only the two array formats name a file: a folder may have a dot in its name ("a.seed1").
  const std::string ext = output.extension().string();
  std::error_code error;
  return (ext != ".safetensors" && ext != ".npz") || fs::is_directory(output, error);
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
  if (std::vector<std::string> names = recipe_class_names(inputs); !names.empty()) {
    run.class_names = std::move(names);
  }
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

namespace sublens::models {
namespace {

// The last run of digits in a file name's stem ("model-epoch-0012.pt" -> 12), or -1.
int epoch_in_name(const std::filesystem::path& file) {
  const std::string stem = file.stem().string();
  std::size_t end = stem.find_last_of("0123456789");
  if (end == std::string::npos) return -1;
  std::size_t begin = end;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(stem[begin - 1])) != 0) --begin;
  if (end - begin >= 9) return -1;
  return std::stoi(stem.substr(begin, end - begin + 1));
}

std::vector<int> torchscript_epochs(const TorchScriptRunOptions& options) {
  const std::size_t count = options.models.size();
  if (!options.epochs.empty()) {
    if (options.epochs.size() != count) {
      throw std::invalid_argument("--epoch: give one epoch per --torchscript model (" +
                                  std::to_string(count) + "), not " +
                                  std::to_string(options.epochs.size()));
    }
    return options.epochs;
  }
  std::vector<int> epochs;
  for (const auto& model : options.models) epochs.push_back(epoch_in_name(model));
  const bool named = std::all_of(epochs.begin(), epochs.end(), [](int e) { return e >= 0; });
  std::vector<int> sorted = epochs;
  std::sort(sorted.begin(), sorted.end());
  if (named && std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end()) return epochs;
  for (std::size_t i = 0; i < count; ++i) epochs[i] = static_cast<int>(i) + 1;
  return epochs;
}

}  // namespace

TorchScriptRunResult extract_torchscript_run(const TorchScriptRunOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.models.empty()) throw std::invalid_argument("--torchscript: give a model");
  if (options.capture.layers.empty()) {
    throw std::invalid_argument("--layers: a run folder needs the layers to record");
  }
  if (options.labels.empty()) {
    throw std::invalid_argument("--labels LABELS.npy is required to record a run folder");
  }
  if (options.capture.inputs.empty()) throw std::invalid_argument("--inputs is required");
  TorchScriptRunResult result;
  result.epochs = torchscript_epochs(options);
  for (int epoch : result.epochs) {
    if (epoch < 0) throw std::invalid_argument("--epoch: epochs must be >= 0");
  }
  detail::RunInputs inputs;
  inputs.labels = io::read_int_vector(options.labels);
  inputs.inputs = io::read_npy(options.capture.inputs);
  if (inputs.inputs->shape.empty() ||
      inputs.inputs->shape[0] != static_cast<std::int64_t>(inputs.labels.size())) {
    throw InputError(options.labels.string(), "shape",
                     "must have one label per input of " + options.capture.inputs.string());
  }
  io::RunFolder run;
  for (std::size_t m = 0; m < options.models.size(); ++m) {
    TorchScriptOptions capture = options.capture;
    capture.model = options.models[m];
    capture.keep_arrays = true;
    const TorchScriptResult captured = extract_torchscript(capture);
    if (m == 0) {
      inputs.n_classes = captured.n_classes;
      const std::int64_t top = *std::max_element(inputs.labels.begin(), inputs.labels.end());
      if (top >= captured.n_classes) {
        throw InputError(options.labels.string(), "values",
                         "must be < the model's " + std::to_string(captured.n_classes) +
                             " outputs (found " + std::to_string(top) + ")");
      }
      inputs.metadata = {{"source", "torchscript"},
                         {"model", options.models[m].filename().string()},
                         {"inputs_from", options.capture.inputs.string()}};
      run = detail::open_run_output(options.capture.output, captured.layers, inputs);
      result.layers = captured.layers;
      result.n_inputs = captured.n_inputs;
    }
    for (std::size_t l = 0; m > 0 && l < captured.layers.size(); ++l) {
      if (captured.layers[l].shape != run.layers[l].shape) {
        throw InputError(options.models[m].string(), "--layers",
                         "layer " + captured.layers[l].name + " has another shape than in " +
                             options.models[0].string() + "; every epoch must be the same network");
      }
    }
    detail::write_run_epoch(run, result.epochs[m], captured.arrays, captured.predictions,
                            captured.softmax, inputs.labels,
                            {{"sublens.model", options.models[m].string()}});
    for (const auto& e : run.epochs) {
      if (e.epoch == result.epochs[m]) result.accuracy.push_back(e.accuracy);
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace sublens::models
