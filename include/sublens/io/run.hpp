// Run folders (format "sublens-run", version 1): a recorded training run, i.e. the activations of a
// fixed analysis set at each recorded epoch. The one input format of studies, whatever wrote it
// (sublens.torch.Recorder, `sublens train` + `extract`, `extract --torchscript`).
//
//   RUN/run.json                     format, version, N, classes, layers, inputs, epochs, metadata
//   RUN/labels.npy                   integer vector of length N, values in 0 .. n_classes-1
//   RUN/inputs.npy                   optional float32 analysis inputs, N x <inputs.shape>
//   RUN/epoch-NNNN.safetensors       one float32 tensor per layer (key = layer name), N x <shape>
//   RUN/epoch-NNNN.predictions.npy   integer vector of length N (argmax of the output)
//   RUN/epoch-NNNN.softmax.npy       float32 N x n_classes
//
// Only the epochs listed in run.json exist for readers; writers add an epoch by renaming its three
// files into place and then rewriting run.json, so a killed writer leaves earlier epochs intact.
// README.md, "The run folder" is the contract for other tools.
//
// Example:
//   const auto run = sublens::io::read_run("runs/resnet18");
//   for (const auto& e : run.epochs) load_activations(run.epoch_file(e.epoch, ".safetensors"));
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sublens/core/types.hpp"

namespace sublens::io {

inline constexpr const char* kRunFormat = "sublens-run";
inline constexpr int kRunVersion = 1;

struct RunLayer {
  std::string name;
  std::vector<std::int64_t> shape;  // per-input shape (without N)
  std::int64_t d() const;           // product of `shape`
};

struct RunEpoch {
  int epoch = 0;
  double accuracy = 0;  // of the epoch's predictions against the labels, in [0, 1]
};

struct RunFolder {
  std::filesystem::path dir;
  int version = kRunVersion;
  Index n_inputs = 0;
  int n_classes = 0;
  // n_classes distinct non-empty names in label order (run.json "class_names"); empty when not
  // given. Read them through class_name(k).
  std::vector<std::string> class_names;
  std::vector<RunLayer> layers;                          // network order
  std::optional<std::vector<std::int64_t>> input_shape;  // set when inputs.npy exists
  std::vector<RunEpoch> epochs;                          // strictly increasing
  nlohmann::json metadata = nlohmann::json::object();    // object

  // dir / "epoch-NNNN<suffix>", suffix ".safetensors" | ".predictions.npy" | ".softmax.npy".
  std::filesystem::path epoch_file(int epoch, const std::string& suffix) const;
  std::filesystem::path labels_file() const;  // dir / "labels.npy"
  std::filesystem::path inputs_file() const;  // dir / "inputs.npy"
  std::filesystem::path json_file() const;    // dir / "run.json"
  // The layer called `name`, or nullptr.
  const RunLayer* find_layer(const std::string& name) const;
  // Whether `epoch` is listed.
  bool has_epoch(int epoch) const;
  // The name of class k: class_names[k] when given, else the number ("3"); for figures and tables.
  std::string class_name(std::int64_t k) const;
};

// The file name of an epoch's file: "epoch-0012.safetensors" for (12, ".safetensors").
std::string run_epoch_file_name(int epoch, const std::string& suffix);

// Whether `dir` is a folder holding a run.json (i.e. is meant to be a run folder).
bool is_run_folder(const std::filesystem::path& dir);

// Reads run.json and validates it and every file it lists against it (headers, dtypes, shapes and
// sizes; every listed layer present in every epoch; N everywhere). With check_values also every
// value: labels and predictions in range, activations, softmax and inputs finite.
// Throws sublens::InputError "<file>: <field>: <constraint>" (the CLI turns it into exit 2).
RunFolder read_run(const std::filesystem::path& dir, bool check_values = false);

// Parses and validates only run.json's content (no other file is read); `name` is used in errors.
RunFolder parse_run_json(const std::string& text, const std::filesystem::path& dir,
                         const std::string& name);

// run.json's content for `run` (pretty-printed, ends with a newline).
std::string run_json_text(const RunFolder& run);

// Writes run.json atomically (temp + rename) from `run`.
void write_run_json(const RunFolder& run);

}  // namespace sublens::io
