// Activation files (one N x ... array per layer) and the CLI's small vector/matrix helpers.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "internal.hpp"

namespace sublens::io {
namespace {

enum class ActivationFormat { kNpy, kNpz, kSafetensors };

ActivationFormat format_of(const std::filesystem::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (extension == ".npy") return ActivationFormat::kNpy;
  if (extension == ".npz") return ActivationFormat::kNpz;
  if (extension == ".safetensors") return ActivationFormat::kSafetensors;
  throw InputError(
      path.string(), "extension",
      "unsupported activation file '" + extension + "' (expected .npy, .npz or .safetensors)");
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// Checks that every name of `only` is in `available`; the error lists what is there.
void check_selection(const std::filesystem::path& path, const std::vector<std::string>& only,
                     const std::vector<std::string>& available) {
  for (const auto& name : only) {
    if (std::find(available.begin(), available.end(), name) == available.end()) {
      throw InputError(path.string(), "layer '" + name + "'",
                       "not in the file (available: " + join(available) + ")");
    }
  }
}

std::vector<std::string> npz_keys(const std::filesystem::path& path) {
  std::vector<std::string> keys;
  for (const auto& member : internal::read_zip_prefixes(path, 0)) {
    keys.push_back(internal::npz_key(member.name, path.string()));
  }
  return keys;
}

void reject_sparse(const std::filesystem::path& path, const std::vector<std::string>& keys) {
  if (internal::looks_like_sparse_npz(keys)) {
    throw InputError(path.string(), "format",
                     "is a scipy.sparse matrix (.npz from save_npz), not an activation file");
  }
}

Layer to_layer(const std::filesystem::path& path, const std::string& name, const NdArray& array) {
  const std::string field = "layer '" + name + "'";
  if (array.shape.size() < 2) {
    throw InputError(path.string(), field,
                     "shape " + internal::shape_string(array.shape) +
                         " must have at least 2 axes (N inputs x features)");
  }
  Layer layer;
  layer.name = name;
  layer.dtype = array.dtype;
  layer.input_shape.assign(array.shape.begin() + 1, array.shape.end());
  const std::int64_t n = array.shape[0];
  const bool empty = array.size() == 0;  // before the product below, which may then overflow
  std::int64_t d = 1;
  for (const std::int64_t dim : layer.input_shape) d = empty ? 0 : d * dim;
  if (empty) {
    throw InputError(path.string(), field,
                     "shape " + internal::shape_string(array.shape) + " holds no values");
  }
  layer.values.resize(n, d);
  internal::convert_to_double(array, layer.values.data());
  const double* values = layer.values.data();
  const auto count = static_cast<std::size_t>(n * d);
  for (std::size_t i = 0; i < count; ++i) {
    if (!std::isfinite(values[i])) {
      throw InputError(path.string(), field,
                       "non-finite value (" + std::to_string(values[i]) + ") at input " +
                           std::to_string(i / static_cast<std::size_t>(d)));
    }
  }
  return layer;
}

// Picks `only` (in that order) out of `arrays`, or all of them.
NamedArrays select(const std::filesystem::path& path, NamedArrays arrays,
                   const std::vector<std::string>& only) {
  if (only.empty()) return arrays;
  std::vector<std::string> available;
  for (const auto& entry : arrays) available.push_back(entry.first);
  check_selection(path, only, available);
  NamedArrays selected;
  for (const auto& name : only) {
    for (auto& entry : arrays) {
      if (entry.first == name) selected.emplace_back(name, std::move(entry.second));
    }
  }
  return selected;
}

}  // namespace

std::vector<Layer> load_activations(const std::filesystem::path& path,
                                    const std::vector<std::string>& only) {
  const ActivationFormat format = format_of(path);
  NamedArrays arrays;
  switch (format) {
    case ActivationFormat::kNpy:
      arrays.emplace_back(path.stem().string(), read_npy(path));
      arrays = select(path, std::move(arrays), only);
      break;
    case ActivationFormat::kNpz: {
      const std::vector<std::string> keys = npz_keys(path);
      reject_sparse(path, keys);
      check_selection(path, only, keys);
      const auto members = internal::read_zip(path, only.empty() ? nullptr : &only);
      arrays = select(path, internal::npz_members_to_arrays(members, path.string()), only);
      break;
    }
    case ActivationFormat::kSafetensors:
      arrays = select(path, read_safetensors(path), only);
      break;
  }
  if (arrays.empty()) throw InputError(path.string(), "layers", "the file holds no arrays");
  std::vector<Layer> layers;
  layers.reserve(arrays.size());
  for (auto& [name, array] : arrays) {
    if (!layers.empty() && !array.shape.empty() && array.shape[0] != layers.front().values.rows()) {
      throw InputError(path.string(), "layer '" + name + "'",
                       "has N = " + std::to_string(array.shape[0]) + " inputs but layer '" +
                           layers.front().name + "' has " +
                           std::to_string(layers.front().values.rows()));
    }
    layers.push_back(to_layer(path, name, array));
    array = NdArray();  // release the raw bytes as soon as the layer is converted
  }
  return layers;
}

std::vector<ArrayInfo> list_arrays(const std::filesystem::path& path) {
  // The header of each array suffices; 1 MB covers any numpy header (v1 headers are < 64 KiB).
  constexpr std::size_t kNpzHeaderPrefix = 1 << 20;
  std::vector<ArrayInfo> infos;
  switch (format_of(path)) {
    case ActivationFormat::kNpy: {
      const internal::NpyHeader header = internal::read_npy_header(path);
      if (header.is_bytes) {
        throw InputError(path.string(), "header 'descr'",
                         "unsupported dtype '" + header.descr + "'");
      }
      infos.push_back({path.stem().string(), header.dtype, header.shape});
      break;
    }
    case ActivationFormat::kNpz:
      for (const auto& member : internal::read_zip_prefixes(path, kNpzHeaderPrefix)) {
        const std::string name = path.string() + "[" + member.name + "]";
        const internal::NpyHeader header =
            internal::parse_npy_header(member.bytes.data(), member.bytes.size(), name);
        if (header.data_offset + header.data_bytes != member.full_size) {
          throw InputError(
              name, "data",
              "shape " + internal::shape_string(header.shape) + " needs " +
                  std::to_string(header.data_bytes) + " bytes but the member holds " +
                  std::to_string(member.full_size -
                                 std::min<std::uint64_t>(member.full_size, header.data_offset)));
        }
        infos.push_back({internal::npz_key(member.name, path.string()),
                         header.is_bytes ? DType::kUInt8 : header.dtype, header.shape});
      }
      break;
    case ActivationFormat::kSafetensors:
      infos = internal::safetensors_infos(path);
      break;
  }
  return infos;
}

std::vector<std::int64_t> read_int_vector(const std::filesystem::path& path) {
  const NdArray array = read_npy(path);
  const bool column = array.shape.size() == 2 && array.shape[1] == 1;
  if (array.shape.size() != 1 && !column) {
    throw InputError(path.string(), "shape",
                     internal::shape_string(array.shape) + " must be (N,) or (N, 1)");
  }
  try {
    return array.to_int64();
  } catch (const std::invalid_argument& error) {
    throw InputError(path.string(), "values", std::string("must be integers: ") + error.what());
  }
}

RowMatrix read_matrix(const std::filesystem::path& path) {
  const NdArray array = read_npy(path);
  if (array.shape.size() != 2) {
    throw InputError(path.string(), "shape",
                     internal::shape_string(array.shape) + " must be 2-D (rows, cols)");
  }
  RowMatrix matrix(array.shape[0], array.shape[1]);
  internal::convert_to_double(array, matrix.data());
  return matrix;
}

void write_matrix(const std::filesystem::path& path, const Eigen::Ref<const RowMatrix>& matrix) {
  const RowMatrix contiguous = matrix;  // a Ref may be strided
  write_npy(path, NdArray::from_double({contiguous.rows(), contiguous.cols()}, contiguous.data()));
}

}  // namespace sublens::io
