// Datasets, subsets and samplers (torch-free). File formats come from sublens::io.
#include "sublens/models/data.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>

#include "sublens/core/error.hpp"

namespace sublens::models {
namespace fs = std::filesystem;
namespace {

// The first of `names` that exists in `folder` (IDX files with or without ".gz").
fs::path find_file(const fs::path& folder, const std::vector<std::string>& names,
                   const std::string& field) {
  for (const auto& name : names) {
    if (fs::is_regular_file(folder / name)) return folder / name;
  }
  std::string expected;
  for (const auto& name : names) expected += (expected.empty() ? "" : " or ") + name;
  throw InputError(folder.string(), field, "no " + expected + " in this folder");
}

Dataset load_idx_split(const std::string& name, const fs::path& folder, const std::string& split) {
  const std::string prefix = split == "train" ? "train" : "t10k";
  const fs::path image_path =
      find_file(folder,
                {prefix + "-images-idx3-ubyte.gz", prefix + "-images-idx3-ubyte",
                 prefix + "-images.idx3-ubyte"},
                "--data-dir");
  const fs::path label_path =
      find_file(folder,
                {prefix + "-labels-idx1-ubyte.gz", prefix + "-labels-idx1-ubyte",
                 prefix + "-labels.idx1-ubyte"},
                "--data-dir");
  io::NdArray images = io::read_idx(image_path);
  const io::NdArray labels = io::read_idx(label_path);
  if (images.dtype != io::DType::kUInt8 || images.shape.size() != 3) {
    throw InputError(image_path.string(), "shape", "expected uint8 N x H x W images");
  }
  if (labels.shape.size() != 1 || labels.shape[0] != images.shape[0]) {
    throw InputError(label_path.string(), "shape",
                     "expected " + std::to_string(images.shape[0]) + " labels (one per image in " +
                         image_path.filename().string() + ")");
  }
  Dataset dataset;
  dataset.name = name;
  dataset.labels = labels.to_int64();
  for (std::size_t i = 0; i < dataset.labels.size(); ++i) {
    if (dataset.labels[i] < 0 || dataset.labels[i] > 9) {
      throw InputError(label_path.string(), "label " + std::to_string(i),
                       "must be in 0..9 (is " + std::to_string(dataset.labels[i]) + ")");
    }
  }
  dataset.channels = 1;
  dataset.height = static_cast<int>(images.shape[1]);
  dataset.width = static_cast<int>(images.shape[2]);
  images.shape = {images.shape[0], 1, images.shape[1], images.shape[2]};
  dataset.images = std::move(images);
  dataset.num_classes = 10;
  return dataset;
}

Dataset load_cifar_split(const std::string& name, fs::path folder, const std::string& split) {
  const bool cifar100 = name == "cifar100";
  const std::string sub = cifar100 ? "cifar-100-binary" : "cifar-10-batches-bin";
  std::vector<std::string> files;
  if (cifar100) {
    files = {split == "train" ? "train.bin" : "test.bin"};
  } else if (split == "train") {
    for (int i = 1; i <= 5; ++i) files.push_back("data_batch_" + std::to_string(i) + ".bin");
  } else {
    files = {"test_batch.bin"};
  }
  if (!fs::is_regular_file(folder / files[0]) && fs::is_regular_file(folder / sub / files[0])) {
    folder /= sub;
  }
  Dataset dataset;
  dataset.name = name;
  dataset.images.dtype = io::DType::kUInt8;
  dataset.channels = 3;
  dataset.height = dataset.width = 32;
  dataset.num_classes = cifar100 ? 100 : 10;
  std::int64_t total = 0;
  for (const auto& file : files) {
    const fs::path path = find_file(folder, {file}, "--data-dir");
    io::CifarBatch batch = io::read_cifar(path, cifar100);
    const auto labels = batch.labels.to_int64();
    dataset.labels.insert(dataset.labels.end(), labels.begin(), labels.end());
    dataset.images.bytes.insert(dataset.images.bytes.end(), batch.images.bytes.begin(),
                                batch.images.bytes.end());
    total += batch.images.shape.at(0);
  }
  dataset.images.shape = {total, 3, 32, 32};
  return dataset;
}

Dataset load_npy_split(const fs::path& folder, const std::string& split) {
  const fs::path image_path = find_file(folder, {split + "_images.npy"}, "--data-dir");
  const fs::path label_path = find_file(folder, {split + "_labels.npy"}, "--data-dir");
  io::NdArray images = io::read_npy(image_path);
  if (images.shape.size() == 3) {
    images.shape.insert(images.shape.begin() + 1, 1);
  } else if (images.shape.size() != 4) {
    throw InputError(image_path.string(), "shape", "expected N x H x W or N x C x H x W images");
  }
  if (images.dtype != io::DType::kUInt8 && images.dtype != io::DType::kFloat32) {
    if (!io::dtype_is_float(images.dtype)) {
      throw InputError(image_path.string(), "dtype",
                       "expected uint8 or a float type (is " + io::dtype_name(images.dtype) + ")");
    }
    const auto values = images.to_double();
    std::vector<float> converted(values.begin(), values.end());
    images = io::NdArray::from_float(images.shape, converted.data());
  }
  Dataset dataset;
  dataset.name = "npy";
  dataset.labels = io::read_int_vector(label_path);
  if (static_cast<std::int64_t>(dataset.labels.size()) != images.shape[0]) {
    throw InputError(label_path.string(), "shape",
                     "expected " + std::to_string(images.shape[0]) + " labels (one per image in " +
                         image_path.filename().string() + ")");
  }
  std::int64_t max_label = -1;
  for (std::size_t i = 0; i < dataset.labels.size(); ++i) {
    if (dataset.labels[i] < 0) {
      throw InputError(label_path.string(), "label " + std::to_string(i), "must be >= 0");
    }
    max_label = std::max(max_label, dataset.labels[i]);
  }
  dataset.num_classes = static_cast<int>(max_label + 1);
  dataset.channels = static_cast<int>(images.shape[1]);
  dataset.height = static_cast<int>(images.shape[2]);
  dataset.width = static_cast<int>(images.shape[3]);
  dataset.images = std::move(images);
  return dataset;
}

}  // namespace

Dataset load_dataset(const DatasetOptions& options) {
  if (options.split != "train" && options.split != "test") {
    throw std::invalid_argument("split must be \"train\" or \"test\" (is \"" + options.split +
                                "\")");
  }
  fs::path folder = options.data_dir;
  if (folder.empty()) {
    if (options.name != "fashion-mnist") {
      throw std::invalid_argument("--data-dir is required for dataset " + options.name);
    }
    folder = "/usr/share/datasets/fashion-mnist";
  }
  if (!fs::is_directory(folder)) throw InputError(folder.string(), "--data-dir", "is not a folder");
  Dataset dataset;
  if (options.name == "fashion-mnist" || options.name == "mnist") {
    dataset = load_idx_split(options.name, folder, options.split);
  } else if (options.name == "cifar10" || options.name == "cifar100") {
    dataset = load_cifar_split(options.name, folder, options.split);
  } else if (options.name == "npy") {
    dataset = load_npy_split(folder, options.split);
  } else {
    throw std::invalid_argument(
        "dataset must be one of fashion-mnist, mnist, cifar10, cifar100, npy (is \"" +
        options.name + "\")");
  }
  dataset.indices.resize(dataset.labels.size());
  std::iota(dataset.indices.begin(), dataset.indices.end(), std::int64_t{0});
  return dataset;
}

Dataset select_rows(const Dataset& dataset, const std::vector<std::int64_t>& rows) {
  Dataset out = dataset;
  const std::size_t row_bytes =
      dataset.size() == 0 ? 0 : dataset.images.bytes.size() / dataset.size();
  out.images.bytes.assign(rows.size() * row_bytes, std::byte{0});
  out.images.shape[0] = static_cast<std::int64_t>(rows.size());
  out.labels.resize(rows.size());
  out.indices.resize(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::int64_t row = rows[i];
    if (row < 0 || row >= dataset.size()) {
      throw std::invalid_argument("row " + std::to_string(row) + " is outside 0.." +
                                  std::to_string(dataset.size() - 1));
    }
    std::memcpy(out.images.bytes.data() + i * row_bytes,
                dataset.images.bytes.data() + row * row_bytes, row_bytes);
    out.labels[i] = dataset.labels[row];
    out.indices[i] = dataset.indices[row];
  }
  return out;
}

std::vector<std::int64_t> stratified_fraction(const std::vector<std::int64_t>& labels,
                                              double fraction, std::uint64_t seed) {
  if (!(fraction > 0 && fraction <= 1)) {
    throw std::invalid_argument("train fraction must satisfy 0 < fraction <= 1 (is " +
                                std::to_string(fraction) + ")");
  }
  std::map<std::int64_t, std::vector<std::int64_t>> by_class;
  for (std::size_t i = 0; i < labels.size(); ++i)
    by_class[labels[i]].push_back(static_cast<std::int64_t>(i));
  std::vector<std::int64_t> rows;
  for (auto& [label, members] : by_class) {
    std::mt19937_64 generator(seed * 1000003ULL + static_cast<std::uint64_t>(label));
    std::shuffle(members.begin(), members.end(), generator);
    const auto keep =
        std::max<std::int64_t>(1, std::llround(fraction * static_cast<double>(members.size())));
    rows.insert(rows.end(), members.begin(), members.begin() + keep);
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

std::vector<std::int64_t> rows_with_classes(const std::vector<std::int64_t>& labels,
                                            const std::vector<std::int64_t>& classes) {
  std::vector<std::int64_t> rows;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (std::find(classes.begin(), classes.end(), labels[i]) != classes.end()) {
      rows.push_back(static_cast<std::int64_t>(i));
    }
  }
  return rows;
}

std::vector<std::int64_t> class_ordered(const std::vector<std::int64_t>& labels,
                                        std::vector<std::int64_t> class_order) {
  if (class_order.empty()) {
    class_order = labels;
    std::sort(class_order.begin(), class_order.end());
    class_order.erase(std::unique(class_order.begin(), class_order.end()), class_order.end());
  }
  std::vector<std::int64_t> rows;
  rows.reserve(labels.size());
  for (const std::int64_t label : class_order) {
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (labels[i] == label) rows.push_back(static_cast<std::int64_t>(i));
    }
  }
  return rows;
}

std::vector<std::int64_t> shuffled_order(std::int64_t n, std::uint64_t seed, int epoch) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::mt19937_64 generator(seed * 7919ULL + static_cast<std::uint64_t>(epoch) * 104729ULL + 1);
  std::shuffle(order.begin(), order.end(), generator);
  return order;
}

namespace {
// Value of element `index` of the images after the uint8 scaling.
inline double pixel(const io::NdArray& images, std::size_t index) {
  if (images.dtype == io::DType::kUInt8) {
    return static_cast<double>(static_cast<std::uint8_t>(images.bytes[index])) / 255.0;
  }
  float value;
  std::memcpy(&value, images.bytes.data() + index * sizeof(float), sizeof(float));
  return value;
}
}  // namespace

Normalization channel_statistics(const Dataset& dataset) {
  const std::size_t plane = static_cast<std::size_t>(dataset.height) * dataset.width;
  Normalization result;
  result.mean.assign(dataset.channels, 0.0);
  result.std.assign(dataset.channels, 1.0);
  if (dataset.size() == 0) return result;
  for (int c = 0; c < dataset.channels; ++c) {
    double sum = 0, sum_sq = 0;
    for (std::int64_t i = 0; i < dataset.size(); ++i) {
      const std::size_t base = (static_cast<std::size_t>(i) * dataset.channels + c) * plane;
      for (std::size_t p = 0; p < plane; ++p) {
        const double v = pixel(dataset.images, base + p);
        sum += v;
        sum_sq += v * v;
      }
    }
    const double count = static_cast<double>(plane) * static_cast<double>(dataset.size());
    const double mean = sum / count;
    const double variance = std::max(0.0, sum_sq / count - mean * mean);
    result.mean[c] = mean;
    result.std[c] = variance > 1e-12 ? std::sqrt(variance) : 1.0;
  }
  return result;
}

void gather_batch(const Dataset& dataset, const Normalization& normalization,
                  const std::int64_t* rows, std::int64_t count, float* out) {
  const std::size_t plane = static_cast<std::size_t>(dataset.height) * dataset.width;
  for (std::int64_t i = 0; i < count; ++i) {
    for (int c = 0; c < dataset.channels; ++c) {
      const std::size_t base = (static_cast<std::size_t>(rows[i]) * dataset.channels + c) * plane;
      const double mean = normalization.mean[c];
      const double scale = 1.0 / normalization.std[c];
      float* target = out + (static_cast<std::size_t>(i) * dataset.channels + c) * plane;
      for (std::size_t p = 0; p < plane; ++p) {
        target[p] = static_cast<float>((pixel(dataset.images, base + p) - mean) * scale);
      }
    }
  }
}

}  // namespace sublens::models
