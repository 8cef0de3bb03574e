// The `sublens._sublens` extension: conversions shared by the binding files, result construction
// and the module definition. One binding file per C++ module (io, factor, ssc, similarity, graph).
//
// Errors: std::invalid_argument (and sublens::InputError, which derives from it) becomes Python's
// ValueError with the same message (pybind11's built-in translation).
#include <algorithm>
#include <cstring>
#include <utility>

#include "common.hpp"
#include "sublens/core/blas.hpp"
#include "sublens/version.hpp"

namespace sublens::python {

namespace {

std::string shape_string(const py::array& array) {
  std::string text = "(";
  for (py::ssize_t axis = 0; axis < array.ndim(); ++axis) {
    text += std::to_string(array.shape(axis));
    if (array.ndim() == 1 || axis + 1 < array.ndim()) text += axis + 1 < array.ndim() ? ", " : ",";
  }
  return text + ")";
}

// A dict where one array is expected (typically load_activations' {layer: array}): say so
// instead of numpy's "shape ()" of a 0-d object array.
void reject_dict(const py::handle& obj, const std::string& what, const std::string& one) {
  if (!py::isinstance<py::dict>(obj)) return;
  const auto dict = py::reinterpret_borrow<py::dict>(obj);
  std::string keys;
  std::string first;
  int shown = 0;
  for (const auto& item : dict) {
    const auto key = py::repr(item.first).cast<std::string>();
    if (shown == 0) first = key;
    if (shown++ < 5) keys += (keys.empty() ? "" : ", ") + key;
  }
  if (shown > 5) keys += ", ...";
  const std::string got = first.empty()
                              ? "an empty dict"
                              : "keys " + keys + "; pass one value, e.g. acts[" + first + "]";
  throw std::invalid_argument(what + ": pass " + one + ", not a dict (" + got + ")");
}

}  // namespace

py::array as_numpy(const py::handle& obj) {
  py::object value = py::reinterpret_borrow<py::object>(obj);
  // torch.Tensor: detach (no autograd history), then the zero-copy numpy view of a CPU tensor
  // (.cpu() is a no-op there; a GPU tensor is copied to the host once).
  if (py::hasattr(value, "detach") && py::hasattr(value, "numpy") && py::hasattr(value, "cpu")) {
    value = value.attr("detach")().attr("cpu")().attr("numpy")();
  }
  return py::module_::import("numpy").attr("asarray")(value);
}

RowMatrix to_row_matrix(const py::handle& obj, const std::string& what, bool flatten) {
  reject_dict(obj, what, "one layer (an array)");
  py::array array = as_numpy(obj);
  if (array.ndim() < 2 || (!flatten && array.ndim() != 2)) {
    throw std::invalid_argument(what + " must be " + (flatten ? "N x d (2-D or more)" : "2-D") +
                                " (got shape " + shape_string(array) + ")");
  }
  const py::ssize_t rows = array.shape(0);
  const py::ssize_t cols = rows == 0 ? 0 : array.size() / rows;
  const auto kind = array.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
    throw std::invalid_argument(what + " must hold numbers (got dtype " +
                                py::str(array.dtype()).cast<std::string>() + ")");
  }
  RowMatrix matrix(rows, cols);
  if (rows == 0 || cols == 0) return matrix;
  if (py::isinstance<py::array_t<double>>(array) && array.ndim() == 2) {
    auto typed = py::reinterpret_borrow<py::array_t<double>>(array);
    auto view = typed.unchecked<2>();
    if (typed.flags() & py::array::c_style) {
      std::memcpy(matrix.data(), typed.data(), sizeof(double) * rows * cols);
    } else if (typed.flags() & py::array::f_style) {
      matrix = Eigen::Map<const Matrix>(typed.data(), rows, cols);
    } else {
      for (py::ssize_t i = 0; i < rows; ++i)
        for (py::ssize_t j = 0; j < cols; ++j) matrix(i, j) = view(i, j);
    }
    return matrix;
  }
  if (py::isinstance<py::array_t<float>>(array) && array.ndim() == 2) {
    auto typed = py::reinterpret_borrow<py::array_t<float>>(array);
    using FloatRow = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using FloatCol = Eigen::MatrixXf;
    if (typed.flags() & py::array::c_style) {
      matrix = Eigen::Map<const FloatRow>(typed.data(), rows, cols).cast<double>();
      return matrix;
    }
    if (typed.flags() & py::array::f_style) {
      matrix = Eigen::Map<const FloatCol>(typed.data(), rows, cols).cast<double>();
      return matrix;
    }
  }
  // Anything else (other dtypes, strided views, rank > 2): let numpy convert to C-order float64
  // N x d once.
  py::array_t<double, py::array::c_style | py::array::forcecast> converted(
      array.attr("reshape")(rows, cols));
  std::memcpy(matrix.data(), converted.data(), sizeof(double) * rows * cols);
  return matrix;
}

Eigen::Map<const RowMatrix> row_matrix_view(const py::handle& obj, const std::string& what,
                                            RowMatrix& storage) {
  py::array array = as_numpy(obj);
  if (array.ndim() == 2 && py::isinstance<py::array_t<double>>(array) &&
      (array.flags() & py::array::c_style) && array.size() > 0) {
    // Zero copy: the caller keeps `obj` (and so the buffer) alive for the call.
    return {static_cast<const double*>(array.data()), array.shape(0), array.shape(1)};
  }
  storage = to_row_matrix(obj, what);
  return {storage.data(), storage.rows(), storage.cols()};
}

IntVector to_int_vector(const py::handle& obj, const std::string& what) {
  py::array array = as_numpy(obj);
  if (array.ndim() != 1) {
    throw std::invalid_argument(what + " must be a 1-D integer vector (got shape " +
                                shape_string(array) + ")");
  }
  const auto kind = array.dtype().kind();
  if (kind != 'i' && kind != 'u' && kind != 'b') {
    // Floats are accepted when integral (as the C++ readers do).
    if (kind != 'f') {
      throw std::invalid_argument(what + " must hold integers (got dtype " +
                                  py::str(array.dtype()).cast<std::string>() + ")");
    }
    py::array_t<double, py::array::forcecast> values(array);
    for (py::ssize_t i = 0; i < values.size(); ++i) {
      const double v = values.data()[i];
      if (v != static_cast<double>(static_cast<std::int64_t>(v))) {
        throw std::invalid_argument(what + " must hold integers (entry " + std::to_string(i) +
                                    " is " + std::to_string(v) + ")");
      }
    }
  }
  py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> values(array);
  IntVector vector(values.size());
  std::copy_n(values.data(), values.size(), vector.data());
  return vector;
}

bool is_scipy_sparse(const py::handle& obj) {
  return py::hasattr(obj, "tocsr") && py::hasattr(obj, "nnz");
}

SparseMatrix to_sparse(const py::handle& obj, const std::string& what) {
  reject_dict(obj, what, "one graph (a scipy.sparse matrix or a 2-D array)");
  if (!is_scipy_sparse(obj)) {
    // A dense square array is accepted too (zeros dropped).
    const RowMatrix dense = to_row_matrix(obj, what, false);
    return dense.sparseView(0.0, 0.0);
  }
  py::object csr = obj.attr("tocsr")();
  const auto shape = csr.attr("shape").cast<std::pair<py::ssize_t, py::ssize_t>>();
  if (!csr.attr("has_sorted_indices").cast<bool>() ||
      !csr.attr("has_canonical_format").cast<bool>()) {
    csr = csr.attr("copy")();
    csr.attr("sum_duplicates")();
  }
  py::array_t<double, py::array::c_style | py::array::forcecast> data(csr.attr("data"));
  py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> indices(csr.attr("indices"));
  py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> indptr(csr.attr("indptr"));
  const std::int64_t nnz = indptr.at(shape.first);
  if (data.size() < nnz || indices.size() < nnz) {
    throw std::invalid_argument(what + ": CSR arrays shorter than indptr says");
  }
  SparseMatrix matrix(shape.first, shape.second);
  matrix.reserve(nnz);
  auto* outer = matrix.outerIndexPtr();
  auto* inner = matrix.innerIndexPtr();
  auto* values = matrix.valuePtr();
  for (py::ssize_t row = 0; row <= shape.first; ++row) {
    outer[row] = static_cast<std::int32_t>(indptr.at(row));
  }
  for (std::int64_t k = 0; k < nnz; ++k) {
    inner[k] = static_cast<std::int32_t>(indices.at(k));
    values[k] = data.at(k);
  }
  matrix.resizeNonZeros(nnz);
  return matrix;
}

py::array from_row_matrix(RowMatrix&& matrix) {
  auto* owned = new RowMatrix(std::move(matrix));
  py::capsule owner(owned, [](void* p) { delete static_cast<RowMatrix*>(p); });
  return py::array_t<double>({owned->rows(), owned->cols()},
                             {sizeof(double) * owned->cols(), sizeof(double)}, owned->data(),
                             owner);
}

py::array from_matrix(Matrix&& matrix) {
  auto* owned = new Matrix(std::move(matrix));
  py::capsule owner(owned, [](void* p) { delete static_cast<Matrix*>(p); });
  return py::array_t<double>({owned->rows(), owned->cols()},
                             {sizeof(double), sizeof(double) * owned->rows()}, owned->data(),
                             owner);
}

py::array from_vector(Vector&& vector) {
  auto* owned = new Vector(std::move(vector));
  py::capsule owner(owned, [](void* p) { delete static_cast<Vector*>(p); });
  return py::array_t<double>({owned->size()}, {sizeof(double)}, owned->data(), owner);
}

py::array from_int_vector(const IntVector& vector) {
  py::array_t<std::int64_t> array(vector.size());
  std::copy_n(vector.data(), vector.size(), array.mutable_data());
  return array;
}

py::object from_sparse(const SparseMatrix& matrix) {
  const auto nnz = matrix.nonZeros();
  const auto rows = matrix.rows();
  py::array_t<double> data(nnz);
  py::array_t<std::int32_t> indices(nnz);
  py::array_t<std::int32_t> indptr(rows + 1);
  if (matrix.isCompressed()) {
    std::copy_n(matrix.valuePtr(), nnz, data.mutable_data());
    std::copy_n(matrix.innerIndexPtr(), nnz, indices.mutable_data());
    std::copy_n(matrix.outerIndexPtr(), rows + 1, indptr.mutable_data());
  } else {
    SparseMatrix compressed = matrix;
    compressed.makeCompressed();
    return from_sparse(compressed);
  }
  py::object csr_matrix = py::module_::import("scipy.sparse").attr("csr_matrix");
  return csr_matrix(py::make_tuple(data, indices, indptr),
                    py::arg("shape") = py::make_tuple(rows, matrix.cols()));
}

py::object make_result(const std::string& type_name, const py::dict& values) {
  // The classes are Python dataclasses (sublens/_results.py): documented fields, repr, to_dict.
  return py::module_::import("sublens._results").attr(type_name.c_str())(**values);
}

}  // namespace sublens::python

PYBIND11_MODULE(_sublens, m) {
  namespace sp = sublens::python;
  m.doc() = "sublens: sparse subspace clustering, CKA, modularity and coupled NMF on activations.";
  m.attr("__version__") = SUBLENS_VERSION;  // the C++ library's: sublens.__version__
  sp::bind_io(m);
  sp::bind_factor(m);
  sp::bind_ssc(m);
  sp::bind_similarity(m);
  sp::bind_graph(m);
  m.def(
      "_blas_kernels",
      [] {
        const std::string core = sublens::blas::core_name();
        return std::make_pair(core, sublens::blas::better_core(core, sublens::blas::detect_cpu()));
      },
      "(OpenBLAS core this process runs, the better OPENBLAS_CORETYPE for this CPU or '')");
}
