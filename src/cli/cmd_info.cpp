// `sublens info FILE`: what a data file holds — format, arrays (name, dtype, shape, N, d), whether
// every value is finite — as one JSON object on stdout. Reads .npy, .npz, .safetensors,
// scipy-sparse .npz, IDX (MNIST-style, raw or gzipped) and CIFAR-10/100 binary batches.
// `sublens info RUN` (a folder holding run.json) validates the run folder completely (every file
// and value) and describes it: N, classes, layers, epochs with accuracy, inputs, metadata, bytes.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>

#include "command.hpp"
#include "sublens/core/error.hpp"
#include "sublens/io/io.hpp"
#include "sublens/io/run.hpp"

namespace sublens::cli {
namespace {

namespace fs = std::filesystem;

struct InfoOptions {
  fs::path file;
  // "auto" detects the format from the magic bytes, then the extension, then the size.
  std::string format = "auto";
};

constexpr std::uintmax_t kCifar10Record = 1 + 3072;
constexpr std::uintmax_t kCifar100Record = 2 + 3072;

std::string lower_extension(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension;
}

std::string detect_format(const fs::path& path) {
  std::string head(8, '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  const std::uintmax_t size = fs::file_size(path);
  if (size == 0) throw InputError(path.string(), "file", "is empty");
  const std::string extension = lower_extension(path);
  const std::string filename = path.filename().string();
  if (head.rfind("\x93NUMPY", 0) == 0) return "npy";
  if (head.rfind("PK\x03\x04", 0) == 0 || head.rfind("PK\x05\x06", 0) == 0) {
    return io::sparse_npz_format(path) ? "sparse" : "npz";
  }
  if (head.rfind("\x1f\x8b", 0) == 0) return "idx";  // gzip: the datasets ship gzipped IDX
  if (extension == ".safetensors") return "safetensors";
  if (extension == ".npy") return "npy";
  if (extension == ".npz") return "npz";
  if (extension == ".idx" || filename.find("-ubyte") != std::string::npos ||
      filename.find("-idx") != std::string::npos) {
    return "idx";
  }
  if (extension == ".bin") {
    if (size % kCifar10Record == 0) return "cifar10";
    if (size % kCifar100Record == 0) return "cifar100";
  }
  throw InputError(path.string(), "format",
                   "not recognised (expected .npy, .npz, .safetensors, IDX or CIFAR .bin; "
                   "use --format)");
}

// The first index along axis 0 holding a NaN/Inf, or -1.
std::int64_t first_nonfinite_input(const io::NdArray& array) {
  if (!io::dtype_is_float(array.dtype) || array.size() == 0) return -1;
  const std::vector<double> values = array.to_double();
  const std::int64_t per_input =
      array.shape.empty() ? 1 : static_cast<std::int64_t>(values.size()) / array.shape[0];
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) return static_cast<std::int64_t>(i) / per_input;
  }
  return -1;
}

nlohmann::json array_json(const std::string& name, const io::NdArray& array) {
  nlohmann::json row = {
      {"name", name}, {"dtype", io::dtype_name(array.dtype)}, {"shape", array.shape}};
  if (array.shape.empty()) {
    row["N"] = nullptr;
    row["d"] = nullptr;
  } else {
    row["N"] = array.shape[0];
    std::int64_t d = 1;
    for (std::size_t k = 1; k < array.shape.size(); ++k) d *= array.shape[k];
    row["d"] = array.shape[0] == 0 ? nlohmann::json(nullptr) : nlohmann::json(d);
  }
  const std::int64_t bad = first_nonfinite_input(array);
  row["finite"] = bad < 0;
  row["first_nonfinite_input"] = bad < 0 ? nlohmann::json(nullptr) : nlohmann::json(bad);
  return row;
}

nlohmann::json arrays_json(const io::NamedArrays& arrays) {
  nlohmann::json rows = nlohmann::json::array();
  std::optional<std::int64_t> n;
  bool shared = true;
  for (const auto& [name, array] : arrays) {
    rows.push_back(array_json(name, array));
    if (array.shape.empty()) {
      shared = false;
    } else if (!n) {
      n = array.shape[0];
    } else if (*n != array.shape[0]) {
      shared = false;
    }
  }
  return {{"arrays", rows},
          {"n_arrays", arrays.size()},
          {"layers_share_N", shared && n.has_value()},
          {"N", shared && n ? nlohmann::json(*n) : nlohmann::json(nullptr)}};
}

std::uintmax_t folder_bytes(const fs::path& dir) {
  std::uintmax_t bytes = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) bytes += entry.file_size();
  }
  return bytes;
}

// A run folder, validated with every value checked (bad folders are InputErrors: exit 2).
nlohmann::json run_info(const fs::path& dir) {
  const io::RunFolder run = io::read_run(dir, true);
  nlohmann::json layers = nlohmann::json::array();
  for (const io::RunLayer& layer : run.layers) {
    layers.push_back({{"name", layer.name}, {"shape", layer.shape}, {"d", layer.d()}});
  }
  nlohmann::json epochs = nlohmann::json::array();
  std::uintmax_t bytes = fs::file_size(run.json_file()) + fs::file_size(run.labels_file());
  if (run.input_shape) bytes += fs::file_size(run.inputs_file());
  for (const io::RunEpoch& epoch : run.epochs) {
    epochs.push_back({{"epoch", epoch.epoch}, {"accuracy", epoch.accuracy}});
    for (const char* suffix : {".safetensors", ".predictions.npy", ".softmax.npy"}) {
      bytes += fs::file_size(run.epoch_file(epoch.epoch, suffix));
    }
  }
  return {{"file", dir.string()},
          {"format", "run"},
          {"version", run.version},
          {"N", run.n_inputs},
          {"n_classes", run.n_classes},
          {"class_names",
           run.class_names.empty() ? nlohmann::json(nullptr) : nlohmann::json(run.class_names)},
          {"layers", layers},
          {"n_layers", run.layers.size()},
          {"epochs", epochs},
          {"n_epochs", run.epochs.size()},
          {"inputs",
           run.input_shape ? nlohmann::json{{"shape", *run.input_shape}} : nlohmann::json(nullptr)},
          {"metadata", run.metadata},
          {"bytes", bytes},  // the files the run lists
          {"folder_bytes", folder_bytes(dir)},
          {"valid", true}};
}

nlohmann::json info_command(const InfoOptions& options) {
  if (fs::is_directory(options.file)) {
    if (!io::is_run_folder(options.file)) {
      throw InputError(options.file.string(), "FILE",
                       "is a folder without run.json (expected a data file or a run folder)");
    }
    return run_info(options.file);
  }
  require_readable_file(options.file, "FILE");
  const fs::path& path = options.file;
  const std::string format = options.format == "auto" ? detect_format(path) : options.format;
  nlohmann::json out = {{"file", path.string()}, {"format", format}};
  if (format == "npy") {
    out.update(arrays_json({{path.stem().string(), io::read_npy(path)}}));
  } else if (format == "npz") {
    if (const auto sparse = io::sparse_npz_format(path)) {
      throw InputError(path.string(), "format",
                       "is a scipy.sparse '" + *sparse + "' matrix; use --format sparse");
    }
    out.update(arrays_json(io::read_npz(path)));
  } else if (format == "safetensors") {
    std::vector<std::pair<std::string, std::string>> metadata;
    out.update(arrays_json(io::read_safetensors(path, &metadata)));
    nlohmann::json meta = nlohmann::json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    out["metadata"] = meta;
  } else if (format == "sparse") {
    const std::optional<std::string> stored = io::sparse_npz_format(path);
    const SparseMatrix matrix = io::read_sparse_npz(path);
    bool finite = true;
    for (Index k = 0; k < matrix.nonZeros(); ++k)
      finite = finite && std::isfinite(matrix.valuePtr()[k]);
    const bool square = matrix.rows() == matrix.cols();
    const bool symmetric =
        square && SparseMatrix(matrix - SparseMatrix(matrix.transpose())).norm() == 0;
    out["sparse_format"] = stored.value_or("?");
    out["shape"] = {matrix.rows(), matrix.cols()};
    out["nnz"] = matrix.nonZeros();  // after summing duplicates
    out["N"] = square ? nlohmann::json(matrix.rows()) : nlohmann::json(nullptr);
    out["symmetric"] = symmetric;
    out["finite"] = finite;
  } else if (format == "idx") {
    const io::NdArray array = io::read_idx(path);
    std::ifstream in(path, std::ios::binary);
    out["gzip"] = in.get() == 0x1f && in.get() == 0x8b;
    out.update(array_json(path.filename().string(), array));
    out.erase("name");
    if (array.size() > 0) {
      const std::vector<double> values = array.to_double();
      const auto [low, high] = std::minmax_element(values.begin(), values.end());
      out["min"] = json_number(*low);
      out["max"] = json_number(*high);
    }
  } else if (format == "cifar10" || format == "cifar100") {
    const io::CifarBatch batch = io::read_cifar(path, format == "cifar100");
    const std::vector<std::int64_t> labels = batch.labels.to_int64();
    std::vector<std::int64_t> counts(format == "cifar100" ? 100 : 10, 0);
    for (const std::int64_t label : labels) ++counts[static_cast<std::size_t>(label)];
    out["N"] = batch.images.shape[0];
    out["image_shape"] = {3, 32, 32};
    out["dtype"] = "uint8";
    out["label_counts"] = counts;
  }
  return out;
}

const bool registered = register_command(
    {"info",
     "Describe a data file (format, arrays with dtype/shape/N/d, finite check) or validate and "
     "describe a run folder",
     "sublens info acts.npz    # also .npy .safetensors, scipy-sparse .npz, "
     "t10k-images-idx3-ubyte.gz, CIFAR data_batch_1.bin, a run folder RUN/",
     [](CLI::App& app) {
       auto options = std::make_shared<InfoOptions>();
       app.add_option("FILE", options->file, "File or run folder to describe")->required();
       app.add_option("--format", options->format,
                      "Format, when the magic bytes and extension do not tell")
           ->check(CLI::IsMember(
               {"auto", "npy", "npz", "safetensors", "sparse", "idx", "cifar10", "cifar100"}))
           ->capture_default_str();
       return [options] { return info_command(*options); };
     }});

}  // namespace
}  // namespace sublens::cli
