// Bindings of sublens/io: .npy, .npz, .safetensors, scipy-sparse .npz and activation files.
#include "sublens/io/io.hpp"

#include <cstring>
#include <filesystem>

#include "common.hpp"

namespace sublens::python {

namespace {

namespace io = sublens::io;

io::DType dtype_from_numpy(const py::dtype& dtype) {
  const char kind = dtype.kind();
  const auto size = dtype.itemsize();
  if (kind == 'b') return io::DType::kBool;
  if (kind == 'f' && size == 2) return io::DType::kFloat16;
  if (kind == 'f' && size == 4) return io::DType::kFloat32;
  if (kind == 'f' && size == 8) return io::DType::kFloat64;
  if (kind == 'i' && size == 1) return io::DType::kInt8;
  if (kind == 'i' && size == 2) return io::DType::kInt16;
  if (kind == 'i' && size == 4) return io::DType::kInt32;
  if (kind == 'i' && size == 8) return io::DType::kInt64;
  if (kind == 'u' && size == 1) return io::DType::kUInt8;
  if (kind == 'u' && size == 2) return io::DType::kUInt16;
  if (kind == 'u' && size == 4) return io::DType::kUInt32;
  if (kind == 'u' && size == 8) return io::DType::kUInt64;
  throw std::invalid_argument("unsupported dtype " +
                              py::str(py::handle(dtype)).cast<std::string>() +
                              " (use bool, int8..int64, uint8..uint64, float16/32/64)");
}

// A numpy array as an NdArray: C order, little-endian (x86; numpy's native order here).
io::NdArray to_ndarray(const py::object& obj) {
  py::array array = as_numpy(obj);
  io::NdArray result;
  result.dtype = dtype_from_numpy(array.dtype());
  py::object numpy = py::module_::import("numpy");
  // Native byte order and C layout (a no-op for ordinary arrays).
  py::array contiguous = numpy.attr("ascontiguousarray")(
      array, py::arg("dtype") = array.dtype().attr("newbyteorder")("="));
  for (py::ssize_t axis = 0; axis < contiguous.ndim(); ++axis) {
    result.shape.push_back(contiguous.shape(axis));
  }
  result.bytes.resize(static_cast<std::size_t>(contiguous.nbytes()));
  if (contiguous.nbytes() > 0)
    std::memcpy(result.bytes.data(), contiguous.data(), result.bytes.size());
  return result;
}

py::array from_ndarray(io::NdArray&& array) {
  std::vector<py::ssize_t> shape(array.shape.begin(), array.shape.end());
  if (array.dtype == io::DType::kBFloat16) {
    // numpy has no bfloat16: widen to float32 (exact).
    const auto values = array.to_double();
    py::array_t<float> out(shape);
    float* data = out.mutable_data();
    for (std::size_t i = 0; i < values.size(); ++i) data[i] = static_cast<float>(values[i]);
    return out;
  }
  const std::string name = array.dtype == io::DType::kBool ? "bool" : io::dtype_name(array.dtype);
  py::array out(py::dtype(name), shape);
  if (!array.bytes.empty()) std::memcpy(out.mutable_data(), array.bytes.data(), array.bytes.size());
  return out;
}

// dict (insertion order) or a sequence of (name, array) pairs -> NamedArrays.
io::NamedArrays to_named_arrays(const py::object& arrays) {
  io::NamedArrays named;
  py::object items = py::hasattr(arrays, "items") ? arrays.attr("items")()
                                                  : py::reinterpret_borrow<py::object>(arrays);
  for (const auto& item : items) {
    auto pair = item.cast<py::tuple>();
    if (pair.size() != 2)
      throw std::invalid_argument("arrays must be a dict or (name, array) pairs");
    named.emplace_back(pair[0].cast<std::string>(), to_ndarray(pair[1]));
  }
  return named;
}

py::dict from_named_arrays(io::NamedArrays&& arrays) {
  py::dict result;
  for (auto& [name, array] : arrays) result[py::str(name)] = from_ndarray(std::move(array));
  return result;
}

}  // namespace

void bind_io(py::module_& m) {
  using std::filesystem::path;

  m.def(
      "read_npy", [](const path& file) { return from_ndarray(io::read_npy(file)); },
      py::arg("path"), R"doc(
Read a numpy .npy file (format 1.0-3.0, C or Fortran order, any rank) as an ndarray.

Example:
    >>> x = sublens.read_npy("layer1.npy")
)doc");
  m.def(
      "write_npy",
      [](const path& file, const py::object& array) { io::write_npy(file, to_ndarray(array)); },
      py::arg("path"), py::arg("array"), R"doc(
Write an array (numpy or CPU torch tensor) as .npy, atomically (temporary file, then rename).

Example:
    >>> sublens.write_npy("labels.npy", np.arange(10))
)doc");
  m.def(
      "read_npz", [](const path& file) { return from_named_arrays(io::read_npz(file)); },
      py::arg("path"), R"doc(
Read a numpy .npz archive as a dict {name: ndarray} in archive order (keys without ".npy").

Example:
    >>> layers = sublens.read_npz("acts.npz"); list(layers)
)doc");
  m.def(
      "write_npz",
      [](const path& file, const py::object& arrays, bool compress) {
        io::write_npz(file, to_named_arrays(arrays), compress);
      },
      py::arg("path"), py::arg("arrays"), py::arg("compress") = false, R"doc(
Write a dict {name: array} (or (name, array) pairs) as .npz in that order; `compress` deflates.

Example:
    >>> sublens.write_npz("acts.npz", {"conv1": a, "fc": b})
)doc");
  m.def(
      "read_safetensors",
      [](const path& file, bool with_metadata) -> py::object {
        std::vector<std::pair<std::string, std::string>> metadata;
        auto arrays = from_named_arrays(io::read_safetensors(file, &metadata));
        if (!with_metadata) return arrays;
        py::dict meta;
        for (const auto& [key, value] : metadata) meta[py::str(key)] = value;
        return py::make_tuple(arrays, meta);
      },
      py::arg("path"), py::arg("metadata") = false, R"doc(
Read a .safetensors file as {name: ndarray} in data-offset order (bfloat16 is widened to
float32); with metadata=True returns (arrays, {key: value}) including `__metadata__`.

Example:
    >>> acts = sublens.read_safetensors("acts.safetensors")
)doc");
  m.def(
      "write_safetensors",
      [](const path& file, const py::object& arrays, const py::object& metadata) {
        std::vector<std::pair<std::string, std::string>> meta;
        if (!metadata.is_none()) {
          for (const auto& item : metadata.cast<py::dict>()) {
            meta.emplace_back(py::str(item.first).cast<std::string>(),
                              py::str(item.second).cast<std::string>());
          }
        }
        io::write_safetensors(file, to_named_arrays(arrays), meta);
      },
      py::arg("path"), py::arg("arrays"), py::arg("metadata") = py::none(), R"doc(
Write {name: array} as .safetensors (one tensor per layer); `metadata` is a dict of strings.

Example:
    >>> sublens.write_safetensors("acts.safetensors", {"fc": x}, metadata={"model": "resnet18"})
)doc");
  m.def(
      "read_sparse_npz", [](const path& file) { return from_sparse(io::read_sparse_npz(file)); },
      py::arg("path"), R"doc(
Read a scipy.sparse.save_npz file (CSR, CSC or COO) as a scipy.sparse.csr_matrix.

Example:
    >>> w = sublens.read_sparse_npz("w.npz"); w.shape
)doc");
  m.def(
      "write_sparse_npz",
      [](const path& file, const py::object& matrix) {
        io::write_sparse_npz(file, to_sparse(matrix, "write_sparse_npz: matrix"));
      },
      py::arg("path"), py::arg("matrix"), R"doc(
Write a scipy.sparse matrix (or dense 2-D array) as CSR in scipy's .npz format
(int32 indices, float64 data); scipy.sparse.load_npz opens it.

Example:
    >>> sublens.write_sparse_npz("w.npz", result.affinity)
)doc");
  m.def(
      "load_activations",
      [](const path& file, const std::vector<std::string>& layers) {
        std::vector<io::Layer> loaded;
        {
          py::gil_scoped_release release;
          loaded = io::load_activations(file, layers);
        }
        py::dict result;
        for (auto& layer : loaded) {
          result[py::str(layer.name)] = from_row_matrix(std::move(layer.values));
        }
        return result;
      },
      py::arg("path"), py::arg("layers") = std::vector<std::string>{}, R"doc(
Load activation layers of a .npy, .npz or .safetensors file as {layer: N x d float64 ndarray}
(per-input shapes flattened, X[i] = input i), in file order; `layers` selects and orders them.
Every layer must share N and be finite.

Example:
    >>> acts = sublens.load_activations("acts.npz", layers=["layer3"])
)doc");
  m.def(
      "list_arrays",
      [](const path& file) {
        py::list result;
        for (const auto& info : io::list_arrays(file)) {
          result.append(py::make_tuple(info.name, io::dtype_name(info.dtype),
                                       py::tuple(py::cast(info.shape))));
        }
        return result;
      },
      py::arg("path"), R"doc(
Names, dtypes and shapes of the arrays of a .npy/.npz/.safetensors file without reading the data:
a list of (name, dtype, shape).

Example:
    >>> sublens.list_arrays("acts.npz")   # [('conv1', 'float32', (100, 64, 8, 8)), ...]
)doc");
}

}  // namespace sublens::python
