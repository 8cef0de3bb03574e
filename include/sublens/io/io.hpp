// File I/O: numpy .npy/.npz, .safetensors, scipy-sparse .npz, IDX (MNIST-style), CIFAR binary.
//
// Every reader validates headers, dtypes, shapes and byte counts against the file size before it
// allocates, and throws sublens::InputError ("<file>: <field>: <constraint>") on bad input. Every
// writer writes a temporary file in the destination folder and renames it, so a failure never
// leaves a partial file behind.
//
// Example:
//   auto layers = sublens::io::load_activations("acts.npz");   // [(name, N x d, shape), ...]
//   sublens::io::write_sparse_npz("w.npz", affinity);          // scipy.sparse.load_npz opens it
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sublens/core/types.hpp"

namespace sublens::io {

enum class DType {
  kBool,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kFloat16,
  kBFloat16,
  kFloat32,
  kFloat64,
};

// Bytes per element.
std::size_t dtype_size(DType dtype);
// numpy's name: "float32", "int64", "bool", ...; "bfloat16" for BF16.
std::string dtype_name(DType dtype);
bool dtype_is_float(DType dtype);

// An n-dimensional array held in C order with little-endian elements of `dtype`.
// (Readers convert Fortran order and big-endian data on the way in.)
struct NdArray {
  DType dtype = DType::kFloat64;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;

  std::int64_t size() const;  // number of elements (1 for rank 0)
  // Every element as double / int64 (floats must be integral for to_int64, else InputError-free
  // std::invalid_argument naming the first bad index).
  std::vector<double> to_double() const;
  std::vector<std::int64_t> to_int64() const;

  static NdArray from_double(std::vector<std::int64_t> shape, const double* values);
  static NdArray from_float(std::vector<std::int64_t> shape, const float* values);
  static NdArray from_int64(std::vector<std::int64_t> shape, const std::int64_t* values);
  static NdArray from_uint8(std::vector<std::int64_t> shape, const std::uint8_t* values);
};

using NamedArrays = std::vector<std::pair<std::string, NdArray>>;

// ---- numpy --------------------------------------------------------------------------------
// .npy format versions 1.0/2.0/3.0; dtypes f2/f4/f8, i1..i8, u1..u8, b1; C or Fortran order; any
// rank. Big-endian data is converted.
NdArray read_npy(const std::filesystem::path& path);
void write_npy(const std::filesystem::path& path, const NdArray& array);
// Parses an in-memory .npy image; `name` is used in error messages (e.g. "a.npz[layer1.npy]").
NdArray parse_npy(const std::byte* data, std::size_t size, const std::string& name);

// .npz: stored or deflated members, keys without ".npy", archive order preserved.
NamedArrays read_npz(const std::filesystem::path& path);
void write_npz(const std::filesystem::path& path, const NamedArrays& arrays, bool compress = false);
// Parses an in-memory .npz image (libzip reads it from the buffer; used by the fuzz targets).
NamedArrays parse_npz(const std::byte* data, std::size_t size, const std::string& name);

// ---- safetensors ----------------------------------------------------------------------------
// F16/BF16/F32/F64/I8..I64/U8/BOOL (and U16/U32/U64); header <= 100 MB; offsets checked; tensors
// returned in the order of their data offsets. `__metadata__` is returned in `metadata`.
NamedArrays read_safetensors(const std::filesystem::path& path,
                             std::vector<std::pair<std::string, std::string>>* metadata = nullptr);
NamedArrays parse_safetensors(const std::byte* data, std::size_t size, const std::string& name,
                              std::vector<std::pair<std::string, std::string>>* metadata = nullptr);
void write_safetensors(const std::filesystem::path& path, const NamedArrays& arrays,
                       const std::vector<std::pair<std::string, std::string>>& metadata = {});

// ---- scipy.sparse ---------------------------------------------------------------------------
// Reads CSR, CSC or COO files written by scipy.sparse.save_npz; writes CSR that
// scipy.sparse.load_npz opens (int32 indices, float64 data).
SparseMatrix read_sparse_npz(const std::filesystem::path& path);
void write_sparse_npz(const std::filesystem::path& path, const SparseMatrix& matrix);
SparseMatrix parse_sparse_npz(const std::byte* data, std::size_t size, const std::string& name);
// The `format` of a scipy-sparse .npz ("csr", "csc", "coo", ...), or std::nullopt when the file is
// not a scipy-sparse archive (no `format` and `shape` members).
std::optional<std::string> sparse_npz_format(const std::filesystem::path& path);

// ---- datasets -------------------------------------------------------------------------------
// IDX (MNIST/Fashion-MNIST), gzipped (".gz", detected by magic) or raw.
NdArray read_idx(const std::filesystem::path& path);
NdArray parse_idx(const std::byte* data, std::size_t size, const std::string& name);
// A CIFAR-10 (1 label byte) or CIFAR-100 (coarse + fine label bytes) binary batch.
struct CifarBatch {
  NdArray images;         // uint8, N x 3 x 32 x 32
  NdArray labels;         // int64, N (fine labels for CIFAR-100)
  NdArray coarse_labels;  // int64, N for CIFAR-100; shape {0} for CIFAR-10
};
CifarBatch read_cifar(const std::filesystem::path& path, bool cifar100);
CifarBatch parse_cifar(const std::byte* data, std::size_t size, const std::string& name,
                       bool cifar100);
// The class names of a dataset whose names are published ("fashion-mnist", "mnist", "cifar10",
// "cifar100": its 100 fine labels), in label order; empty for any other name (e.g. "npy").
std::vector<std::string> dataset_class_names(const std::string& dataset);

// ---- activations ----------------------------------------------------------------------------
struct Layer {
  std::string name;
  RowMatrix values;                       // N x d, row = input, converted to double
  std::vector<std::int64_t> input_shape;  // per-input shape (e.g. {C, H, W}); {d} for 2-D data
  DType dtype = DType::kFloat64;          // dtype in the file
};

// Layers of a .npy (one layer, named after the file stem), .npz or .safetensors file, in file
// order; every layer must share N (the first axis); NaN/Inf is an InputError naming the layer and
// the first bad input index. `only` restricts to those layer names (in that order; unknown names
// are an InputError listing the available ones). Rank-1 arrays are rejected as activations.
std::vector<Layer> load_activations(const std::filesystem::path& path,
                                    const std::vector<std::string>& only = {});

// Names, dtypes and shapes without reading the data (for `sublens info` and layer selection), for
// .npy, .npz and .safetensors (by extension). Byte-string members of an .npz (scipy's `format`)
// are listed as uint8.
struct ArrayInfo {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
};
std::vector<ArrayInfo> list_arrays(const std::filesystem::path& path);

// Small helpers for the CLI: a 1-D integer vector (labels, predictions) and a 2-D matrix.
std::vector<std::int64_t> read_int_vector(const std::filesystem::path& path);
RowMatrix read_matrix(const std::filesystem::path& path);
void write_matrix(const std::filesystem::path& path, const Eigen::Ref<const RowMatrix>& matrix);

// ---- layer names as file names -----------------------------------------------------------------
// `name` as a file stem: every character other than [A-Za-z0-9._-] (and a leading '.') is
// percent-encoded ("block/1" -> "block%2F1"), so distinct layers always get distinct files and no
// name becomes "", "." or "..". `layer_name_from_stem` inverts it (used when a folder of per-layer
// files, e.g. `sublens ssc --all-layers`, is read back).
std::string layer_file_stem(const std::string& name);
std::string layer_name_from_stem(const std::string& stem);

// A folder of per-layer files records the network order of its layers in `layers.json`
// ({"layers": ["conv1", "layer1", ...]}); `sublens ssc --all-layers` writes it, `cka-matrix`
// reads it. read_layer_order returns std::nullopt when the folder has none; a malformed file
// (not a list of unique strings) is an InputError.
inline constexpr const char* kLayerOrderFile = "layers.json";
void write_layer_order(const std::filesystem::path& folder, const std::vector<std::string>& names);
std::optional<std::vector<std::string>> read_layer_order(const std::filesystem::path& folder);

// ---- atomic writes --------------------------------------------------------------------------
// Calls `write` with the path of a temporary file in the folder of `path`, then renames it over
// `path`; on any exception the temporary file is removed and the exception rethrown.
void write_atomically(const std::filesystem::path& path,
                      const std::function<void(const std::filesystem::path& temporary)>& write);
// Writes `bytes` to `path` atomically.
void write_file_atomically(const std::filesystem::path& path, const std::string& bytes);

}  // namespace sublens::io
