// Shared helpers of the binding files: numpy / scipy.sparse <-> Eigen conversions, result objects
// and string options. Conversions run with the GIL held and check shapes before any computation;
// the computations themselves run under py::gil_scoped_release.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sublens/core/types.hpp"

namespace sublens::python {

namespace py = pybind11;

// numpy.asarray(obj), after detaching a torch tensor (CPU tensors share memory with the array).
py::array as_numpy(const py::handle& obj);

// A 2-D (or N x ... flattened per input) float array as a row-major double matrix. float64 C-order
// input is copied once with memcpy; float32 and Fortran order are converted element-wise. `what`
// names the argument in errors ("ssc: activations must be 2-D (got shape (3,))").
RowMatrix to_row_matrix(const py::handle& obj, const std::string& what, bool flatten = true);

// The same array as an Eigen::Ref<const RowMatrix> source without copying when it already is
// C-contiguous float64: `storage` receives a converted copy otherwise.
Eigen::Map<const RowMatrix> row_matrix_view(const py::handle& obj, const std::string& what,
                                            RowMatrix& storage);

// A 1-D integer vector (labels, predictions).
IntVector to_int_vector(const py::handle& obj, const std::string& what);

// scipy.sparse matrix (any format, via .tocsr()) or a dense 2-D array as an Eigen CSR matrix.
SparseMatrix to_sparse(const py::handle& obj, const std::string& what);
bool is_scipy_sparse(const py::handle& obj);

// Eigen -> numpy without copies (the array owns the moved matrix).
py::array from_row_matrix(RowMatrix&& matrix);
py::array from_matrix(Matrix&& matrix);  // column-major -> Fortran-ordered array
py::array from_vector(Vector&& vector);
py::array from_int_vector(const IntVector& vector);
// Eigen CSR -> scipy.sparse.csr_matrix (scipy imported on first use).
py::object from_sparse(const SparseMatrix& matrix);

// Pointers to the items of `items` (the C++ functions take lists of non-owned matrices).
template <class T>
std::vector<const T*> pointers_to(const std::vector<T>& items) {
  std::vector<const T*> pointers;
  pointers.reserve(items.size());
  for (const auto& item : items) pointers.push_back(&item);
  return pointers;
}

// An instance of the result class `type_name` of sublens/_results.py (a dataclass whose fields
// are the keys of `values`).
py::object make_result(const std::string& type_name, const py::dict& values);

// A string option of a binding: the names it accepts and the C++ parser that maps them to the
// enum. parse() raises ValueError "<function>: <option> must be one of 'a', 'b' (got 'x')" for
// anything the parser refuses; name() gives the name of a value, so a pybind default comes from
// the C++ Options struct (`py::arg("laplacian") = laplacian.name(defaults.laplacian)`).
template <class Enum>
struct Choice {
  std::string function;            // "spectral_embedding"
  std::string option;              // "laplacian"
  std::vector<std::string> names;  // every accepted value, for the message and name()
  std::function<Enum(const std::string&)> parser;

  Enum parse(const std::string& value) const {
    try {
      return parser(value);
    } catch (const std::invalid_argument&) {
      std::string allowed;
      for (const auto& name : names) allowed += (allowed.empty() ? "'" : ", '") + name + "'";
      throw std::invalid_argument(function + ": " + option + " must be one of " + allowed +
                                  " (got '" + value + "')");
    }
  }

  std::string name(Enum value) const {
    for (const auto& candidate : names) {
      if (parser(candidate) == value) return candidate;
    }
    throw std::logic_error(function + ": " + option + ": the default has no name");
  }
};
void bind_io(py::module_& m);
void bind_factor(py::module_& m);
void bind_ssc(py::module_& m);
void bind_similarity(py::module_& m);
void bind_graph(py::module_& m);

}  // namespace sublens::python
