// Run folders: run.json parsing and writing, and validation of every file a run.json lists.
#include "sublens/io/run.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include "internal.hpp"

namespace sublens::io {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Validation of run.json's fields; every error names run.json and the field.
class JsonChecker {
 public:
  explicit JsonChecker(std::string name) : name_(std::move(name)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& constraint) const {
    throw InputError(name_, field, constraint);
  }
  const json& member(const json& object, const std::string& key, const std::string& field) const {
    const auto it = object.find(key);
    if (it == object.end()) fail(field, "missing");
    return *it;
  }
  std::int64_t integer(const json& value, const std::string& field, std::int64_t min,
                       std::int64_t max) const {
    if (!value.is_number_integer()) fail(field, "must be an integer");
    if (value.is_number_unsigned() &&
        value.get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
      fail(field, "must be at most " + std::to_string(max));
    }
    const auto v = value.get<std::int64_t>();
    if (v < min) fail(field, "must be at least " + std::to_string(min));
    if (v > max) fail(field, "must be at most " + std::to_string(max));
    return v;
  }
  std::string string(const json& value, const std::string& field) const {
    if (!value.is_string()) fail(field, "must be a string");
    return value.get<std::string>();
  }
  // A non-empty list of positive integers (a per-input shape).
  std::vector<std::int64_t> shape(const json& value, const std::string& field) const {
    if (!value.is_array() || value.empty()) fail(field, "must be a non-empty list of integers");
    std::vector<std::int64_t> dims;
    for (std::size_t i = 0; i < value.size(); ++i) {
      dims.push_back(integer(value[i], field + "[" + std::to_string(i) + "]", 1,
                             std::numeric_limits<std::int32_t>::max()));
    }
    internal::checked_byte_count(dims, 4, name_, field);
    return dims;
  }

 private:
  std::string name_;
};

std::vector<RunLayer> parse_layers(const JsonChecker& check, const json& value) {
  if (!value.is_array() || value.empty()) check.fail("layers", "must be a non-empty list");
  std::vector<RunLayer> layers;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string field = "layers[" + std::to_string(i) + "]";
    if (!value[i].is_object()) check.fail(field, "must be an object with name and shape");
    RunLayer layer;
    layer.name = check.string(check.member(value[i], "name", field + ".name"), field + ".name");
    if (layer.name.empty() || layer.name == "__metadata__") {
      check.fail(field + ".name", "must be a non-empty name other than __metadata__");
    }
    if (!seen.insert(layer.name).second) {
      check.fail(field + ".name", "'" + layer.name + "' is listed twice");
    }
    layer.shape = check.shape(check.member(value[i], "shape", field + ".shape"), field + ".shape");
    layers.push_back(std::move(layer));
  }
  return layers;
}

std::vector<RunEpoch> parse_epochs(const JsonChecker& check, const json& value) {
  if (!value.is_array()) check.fail("epochs", "must be a list");
  std::vector<RunEpoch> epochs;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string field = "epochs[" + std::to_string(i) + "]";
    if (!value[i].is_object()) check.fail(field, "must be an object with epoch and accuracy");
    RunEpoch epoch;
    epoch.epoch = static_cast<int>(check.integer(check.member(value[i], "epoch", field + ".epoch"),
                                                 field + ".epoch", 0, 999'999));
    if (!epochs.empty() && epoch.epoch <= epochs.back().epoch) {
      check.fail(field + ".epoch", std::to_string(epoch.epoch) + " must be greater than " +
                                       std::to_string(epochs.back().epoch) +
                                       " (epochs strictly increasing)");
    }
    const json& accuracy = check.member(value[i], "accuracy", field + ".accuracy");
    if (!accuracy.is_number()) check.fail(field + ".accuracy", "must be a number");
    epoch.accuracy = accuracy.get<double>();
    if (!(epoch.accuracy >= 0 && epoch.accuracy <= 1)) {
      check.fail(field + ".accuracy", "must be in [0, 1]");
    }
    epochs.push_back(epoch);
  }
  return epochs;
}

void parse_header_fields(const JsonChecker& check, const json& root, RunFolder& run) {
  const json& format = check.member(root, "format", "format");
  if (!format.is_string() || format.get<std::string>() != kRunFormat) {
    check.fail("format", std::string("must be \"") + kRunFormat + "\" (got " + format.dump() + ")");
  }
  const json& version = check.member(root, "version", "version");
  if (!version.is_number_integer() || version.get<std::int64_t>() != kRunVersion) {
    check.fail("version", "unsupported version " + version.dump() + " (this sublens reads " +
                              std::to_string(kRunVersion) + ")");
  }
  run.version = kRunVersion;
  run.n_inputs = check.integer(check.member(root, "n_inputs", "n_inputs"), "n_inputs", 1,
                               std::numeric_limits<std::int32_t>::max());
  run.n_classes = static_cast<int>(
      check.integer(check.member(root, "n_classes", "n_classes"), "n_classes", 1, 1'000'000));
  const auto names = root.find("class_names");
  if (names != root.end() && !names->is_null()) {
    if (!names->is_array() || names->size() != static_cast<std::size_t>(run.n_classes)) {
      check.fail("class_names",
                 "must be a list of n_classes (" + std::to_string(run.n_classes) + ") strings");
    }
    std::set<std::string> seen;
    for (std::size_t i = 0; i < names->size(); ++i) {
      const std::string field = "class_names[" + std::to_string(i) + "]";
      std::string name = check.string((*names)[i], field);
      if (name.empty()) check.fail(field, "must be a non-empty string");
      if (!seen.insert(name).second) {
        check.fail(field, "'" + name + "' is listed twice (class names must be unique)");
      }
      run.class_names.push_back(std::move(name));
    }
  }
}

// ---- file checks ------------------------------------------------------------------------------

bool is_integer_dtype(DType dtype) { return !dtype_is_float(dtype) && dtype != DType::kBool; }

std::vector<std::int64_t> with_n(Index n, const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> full{static_cast<std::int64_t>(n)};
  full.insert(full.end(), shape.begin(), shape.end());
  return full;
}

std::string json_name(const RunFolder& run) { return run.json_file().string(); }

// Refuses a missing file with the run.json field that lists it.
void require_file(const RunFolder& run, const fs::path& path, const std::string& field) {
  std::error_code error;
  if (!fs::exists(path, error)) {
    throw InputError(path.string(), "file",
                     "does not exist (listed by " + json_name(run) + " " + field + ")");
  }
}

void check_shape(const fs::path& path, const std::string& field,
                 const std::vector<std::int64_t>& got, const std::vector<std::int64_t>& expected,
                 const std::string& why) {
  if (got != expected) {
    throw InputError(path.string(), field,
                     "shape " + internal::shape_string(got) + " but " + why + " says " +
                         internal::shape_string(expected));
  }
}

// Reads `count` float32 values at byte `offset` of `path` in chunks; throws naming `field` and
// the input (row of `row_size` values) of the first value that is not finite.
void check_finite_floats(const fs::path& path, std::uint64_t offset, std::uint64_t count,
                         std::uint64_t row_size, const std::string& field) {
  constexpr std::uint64_t kChunk = 1 << 20;
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::vector<float> buffer(static_cast<std::size_t>(std::min(count, kChunk)));
  for (std::uint64_t done = 0; done < count;) {
    const auto n = static_cast<std::size_t>(std::min(count - done, kChunk));
    in.read(reinterpret_cast<char*>(buffer.data()), static_cast<std::streamsize>(n * 4));
    if (static_cast<std::size_t>(in.gcount()) != n * 4) {
      throw InputError(path.string(), field, "could not read the data");
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (!std::isfinite(buffer[i])) {
        throw InputError(path.string(), field,
                         "value of input " + std::to_string((done + i) / row_size) +
                             " is not finite (NaN or Inf)");
      }
    }
    done += n;
  }
}

// An integer vector of length N (labels, predictions); with check_values every value in
// 0 .. n_classes-1.
void check_class_vector(const RunFolder& run, const fs::path& path, bool check_values) {
  const internal::NpyHeader header = internal::read_npy_header(path);
  if (header.is_bytes || !is_integer_dtype(header.dtype)) {
    throw InputError(path.string(), "dtype",
                     "'" + header.descr + "' must be an integer dtype (int64 by convention)");
  }
  check_shape(path, "shape", header.shape, {static_cast<std::int64_t>(run.n_inputs)},
              json_name(run) + " n_inputs");
  if (!check_values) return;
  const std::vector<std::int64_t> values = read_npy(path).to_int64();
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i] < 0 || values[i] >= run.n_classes) {
      throw InputError(path.string(), "value of input " + std::to_string(i),
                       std::to_string(values[i]) + " is outside 0 .. n_classes-1 (n_classes " +
                           std::to_string(run.n_classes) + " in " + json_name(run) + ")");
    }
  }
}

// A float32 .npy of shape `expected`; with check_values every value finite.
void check_float_npy(const RunFolder& run, const fs::path& path,
                     const std::vector<std::int64_t>& expected, const std::string& why,
                     bool check_values) {
  const internal::NpyHeader header = internal::read_npy_header(path);
  if (header.is_bytes || header.dtype != DType::kFloat32 || header.big_endian ||
      header.fortran_order) {
    throw InputError(path.string(), "dtype",
                     "'" + header.descr + "' must be little-endian float32 ('<f4') in C order");
  }
  check_shape(path, "shape", header.shape, expected, json_name(run) + " " + why);
  if (!check_values) return;
  const std::uint64_t count = header.data_bytes / 4;
  check_finite_floats(path, header.data_offset, count,
                      count / static_cast<std::uint64_t>(run.n_inputs), "data");
}

void check_epoch_activations(const RunFolder& run, const fs::path& path, bool check_values) {
  const std::vector<internal::TensorSpan> spans = internal::safetensors_spans(path);
  for (const RunLayer& layer : run.layers) {
    const std::string field = "tensor '" + layer.name + "'";
    const auto it = std::find_if(spans.begin(), spans.end(), [&](const internal::TensorSpan& s) {
      return s.info.name == layer.name;
    });
    if (it == spans.end()) {
      throw InputError(path.string(), field,
                       "missing (layer listed in " + json_name(run) + " layers)");
    }
    if (it->info.dtype != DType::kFloat32) {
      throw InputError(path.string(), field,
                       "dtype " + dtype_name(it->info.dtype) + " must be float32 (F32)");
    }
    check_shape(path, field, it->info.shape, with_n(run.n_inputs, layer.shape),
                json_name(run) + " (n_inputs x layers '" + layer.name + "' shape)");
    if (check_values) {
      check_finite_floats(path, it->offset, it->bytes / 4, static_cast<std::uint64_t>(layer.d()),
                          field);
    }
  }
}

// With check_values: the listed accuracy is the fraction of predictions equal to the labels.
void check_accuracy(const RunFolder& run, const RunEpoch& epoch,
                    const std::vector<std::int64_t>& labels, std::size_t index) {
  const fs::path path = run.epoch_file(epoch.epoch, ".predictions.npy");
  const std::vector<std::int64_t> predictions = read_npy(path).to_int64();
  std::size_t correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) correct += predictions[i] == labels[i] ? 1 : 0;
  const double n = static_cast<double>(labels.size());
  const double actual = static_cast<double>(correct) / n;
  if (std::abs(actual - epoch.accuracy) > 0.5 / n) {  // rounded to less than one input
    char text[160];
    std::snprintf(text, sizeof text, "%.6g but the predictions match the labels on %.6g",
                  epoch.accuracy, actual);
    throw InputError(json_name(run), "epochs[" + std::to_string(index) + "].accuracy", text);
  }
}

void check_epoch(const RunFolder& run, std::size_t index, bool check_values) {
  const int epoch = run.epochs[index].epoch;
  const std::string field = "epochs[" + std::to_string(index) + "]";
  for (const char* suffix : {".safetensors", ".predictions.npy", ".softmax.npy"}) {
    require_file(run, run.epoch_file(epoch, suffix), field);
  }
  check_epoch_activations(run, run.epoch_file(epoch, ".safetensors"), check_values);
  check_class_vector(run, run.epoch_file(epoch, ".predictions.npy"), check_values);
  check_float_npy(run, run.epoch_file(epoch, ".softmax.npy"),
                  {static_cast<std::int64_t>(run.n_inputs), run.n_classes},
                  "(n_inputs x n_classes)", check_values);
}

}  // namespace

// ---- RunFolder --------------------------------------------------------------------------------

std::int64_t RunLayer::d() const {
  std::int64_t d = 1;
  for (const std::int64_t dim : shape) d *= dim;
  return d;
}

std::string run_epoch_file_name(int epoch, const std::string& suffix) {
  char stem[32];
  std::snprintf(stem, sizeof stem, "epoch-%04d", epoch);
  return stem + suffix;
}

fs::path RunFolder::epoch_file(int epoch, const std::string& suffix) const {
  return dir / run_epoch_file_name(epoch, suffix);
}
fs::path RunFolder::labels_file() const { return dir / "labels.npy"; }
fs::path RunFolder::inputs_file() const { return dir / "inputs.npy"; }
fs::path RunFolder::json_file() const { return dir / "run.json"; }

const RunLayer* RunFolder::find_layer(const std::string& name) const {
  const auto it = std::find_if(layers.begin(), layers.end(),
                               [&](const RunLayer& layer) { return layer.name == name; });
  return it == layers.end() ? nullptr : &*it;
}

bool RunFolder::has_epoch(int epoch) const {
  return std::any_of(epochs.begin(), epochs.end(),
                     [&](const RunEpoch& e) { return e.epoch == epoch; });
}

std::string RunFolder::class_name(std::int64_t k) const {
  if (k >= 0 && static_cast<std::size_t>(k) < class_names.size()) {
    return class_names[static_cast<std::size_t>(k)];
  }
  return std::to_string(k);
}

bool is_run_folder(const fs::path& dir) {
  std::error_code error;
  return fs::is_directory(dir, error) && fs::exists(dir / "run.json", error);
}

// ---- run.json ---------------------------------------------------------------------------------

RunFolder parse_run_json(const std::string& text, const fs::path& dir, const std::string& name) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& error) {
    throw InputError(name, "json", std::string("invalid JSON: ") + error.what());
  }
  const JsonChecker check(name);
  if (!root.is_object()) check.fail("json", "must be a JSON object");
  RunFolder run;
  run.dir = dir;
  parse_header_fields(check, root, run);
  run.layers = parse_layers(check, check.member(root, "layers", "layers"));
  const auto inputs = root.find("inputs");
  if (inputs != root.end() && !inputs->is_null()) {
    if (!inputs->is_object()) check.fail("inputs", "must be an object {\"shape\": [...]} or null");
    run.input_shape = check.shape(check.member(*inputs, "shape", "inputs.shape"), "inputs.shape");
  }
  run.epochs = parse_epochs(check, check.member(root, "epochs", "epochs"));
  const auto metadata = root.find("metadata");
  if (metadata != root.end() && !metadata->is_null()) {
    if (!metadata->is_object()) check.fail("metadata", "must be an object");
    run.metadata = *metadata;
  }
  return run;
}

std::string run_json_text(const RunFolder& run) {
  nlohmann::ordered_json root;
  root["format"] = kRunFormat;
  root["version"] = run.version;
  root["n_inputs"] = run.n_inputs;
  root["n_classes"] = run.n_classes;
  if (!run.class_names.empty()) root["class_names"] = run.class_names;
  root["layers"] = nlohmann::ordered_json::array();
  for (const RunLayer& layer : run.layers) {
    root["layers"].push_back({{"name", layer.name}, {"shape", layer.shape}});
  }
  root["inputs"] = run.input_shape ? nlohmann::ordered_json{{"shape", *run.input_shape}}
                                   : nlohmann::ordered_json(nullptr);
  root["epochs"] = nlohmann::ordered_json::array();
  for (const RunEpoch& epoch : run.epochs) {
    root["epochs"].push_back({{"epoch", epoch.epoch}, {"accuracy", epoch.accuracy}});
  }
  root["metadata"] = run.metadata.is_null() ? nlohmann::ordered_json::object()
                                            : nlohmann::ordered_json(run.metadata);
  return root.dump(2) + "\n";
}

void write_run_json(const RunFolder& run) {
  const std::string text = run_json_text(run);
  try {
    parse_run_json(text, run.dir, run.json_file().string());  // never write what readers refuse
  } catch (const InputError& error) {
    throw std::invalid_argument(std::string("write_run_json: ") + error.what());
  }
  write_file_atomically(run.json_file(), text);
}

// ---- the whole folder -------------------------------------------------------------------------

RunFolder read_run(const fs::path& dir, bool check_values) {
  std::error_code error;
  if (!fs::exists(dir, error)) throw InputError(dir.string(), "run folder", "does not exist");
  if (!fs::is_directory(dir, error)) {
    throw InputError(dir.string(), "run folder", "is not a folder");
  }
  const fs::path json_path = dir / "run.json";
  const std::vector<std::byte> bytes = internal::read_file(json_path);
  RunFolder run =
      parse_run_json(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), dir,
                     json_path.string());
  require_file(run, run.labels_file(), "(labels.npy is required)");
  check_class_vector(run, run.labels_file(), check_values);
  if (run.input_shape) {
    require_file(run, run.inputs_file(), "inputs");
    check_float_npy(run, run.inputs_file(), with_n(run.n_inputs, *run.input_shape),
                    "(n_inputs x inputs.shape)", check_values);
  }
  for (std::size_t i = 0; i < run.epochs.size(); ++i) check_epoch(run, i, check_values);
  if (check_values) {
    const std::vector<std::int64_t> labels = read_npy(run.labels_file()).to_int64();
    for (std::size_t i = 0; i < run.epochs.size(); ++i)
      check_accuracy(run, run.epochs[i], labels, i);
  }
  return run;
}

}  // namespace sublens::io
