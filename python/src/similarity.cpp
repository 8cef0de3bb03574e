// Bindings of sublens/similarity: CKA between graphs (kernels) and between activation matrices.
#include <utility>

#include "common.hpp"
#include "sublens/similarity/cka.hpp"

namespace sublens::python {

namespace {

namespace sim = sublens::similarity;

// The option names come from the C++ parsers' tables (sim::to_string), shared with the CLI.
Choice<sim::CkaKind> kind_choice(const std::string& function) {
  using K = sim::CkaKind;
  return {function,
          "kind",
          {sim::to_string(K::kAuto), sim::to_string(K::kGraph), sim::to_string(K::kLinear),
           sim::to_string(K::kRbf)},
          [](const std::string& name) { return sim::parse_kind(name); }};
}
Choice<sim::HsicEstimator> estimator_choice(const std::string& function) {
  using E = sim::HsicEstimator;
  return {function,
          "estimator",
          {sim::to_string(E::kBiased), sim::to_string(E::kUnbiased)},
          [](const std::string& name) { return sim::parse_estimator(name); }};
}
Choice<sim::LinearCkaMethod> method_choice() {
  using M = sim::LinearCkaMethod;
  return {"cka",
          "method",
          {sim::to_string(M::kAuto), sim::to_string(M::kFeature), sim::to_string(M::kGram)},
          [](const std::string& name) { return sim::parse_method(name); }};
}

// kAuto: graph when either argument is a scipy.sparse matrix, else linear.
sim::CkaKind resolve_kind(sim::CkaKind kind, const py::object& a, const py::object& b) {
  if (kind != sim::CkaKind::kAuto) return kind;
  return is_scipy_sparse(a) || is_scipy_sparse(b) ? sim::CkaKind::kGraph : sim::CkaKind::kLinear;
}

py::object cka_result(const sim::CkaResult& result) {
  py::dict values;
  values["cka"] = result.cka;
  values["defined"] = result.defined;
  values["hsic_kl"] = result.hsic_kl;
  values["hsic_kk"] = result.hsic_kk;
  values["hsic_ll"] = result.hsic_ll;
  values["estimator"] = sim::to_string(result.estimator);
  values["method"] = result.method;
  values["n"] = result.n;
  values["seconds"] = result.seconds;
  return make_result("CkaResult", values);
}

// A list/tuple of items or a dict {name: item} -> the items (names are not needed here).
std::vector<py::object> items_of(const py::object& obj) {
  std::vector<py::object> items;
  if (obj.is_none()) return items;
  if (py::isinstance<py::dict>(obj)) {
    for (const auto& item : obj.cast<py::dict>()) {
      items.push_back(py::reinterpret_borrow<py::object>(item.second));
    }
  } else {
    for (const auto& item : obj) items.push_back(py::reinterpret_borrow<py::object>(item));
  }
  return items;
}

}  // namespace

void bind_similarity(py::module_& m) {
  const sim::CkaOptions defaults;
  const sim::LinearCkaOptions linear_defaults;
  m.def(
      "cka",
      [](const py::object& a, const py::object& b, const std::string& kind_name,
         const std::string& estimator, const std::string& method_name) {
        const sim::CkaKind kind = resolve_kind(kind_choice("cka").parse(kind_name), a, b);
        const auto hsic = estimator_choice("cka").parse(estimator);
        const auto method = method_choice().parse(method_name);
        if (kind != sim::CkaKind::kLinear && method != sim::LinearCkaMethod::kAuto) {
          throw std::invalid_argument("cka: method='" + method_name +
                                      "' applies to kind='linear' only (kind is '" +
                                      kind_choice("cka").name(kind) + "' here)");
        }
        sim::CkaResult result;
        if (kind == sim::CkaKind::kGraph) {
          const bool sparse = is_scipy_sparse(a) || is_scipy_sparse(b);
          if (sparse) {
            const SparseMatrix k = to_sparse(a, "cka: K");
            const SparseMatrix l = to_sparse(b, "cka: L");
            py::gil_scoped_release release;
            result = sim::graph_cka(k, l, {.estimator = hsic});
          } else {
            const Matrix k = to_row_matrix(a, "cka: K", false);
            const Matrix l = to_row_matrix(b, "cka: L", false);
            py::gil_scoped_release release;
            result = sim::graph_cka(k, l, {.estimator = hsic});
          }
        } else {
          RowMatrix x_storage;
          RowMatrix y_storage;
          const auto x = row_matrix_view(a, "cka: X", x_storage);
          const auto y = row_matrix_view(b, "cka: Y", y_storage);
          if (kind == sim::CkaKind::kLinear) {
            sim::LinearCkaOptions options;
            options.estimator = hsic;
            options.method = method;
            py::gil_scoped_release release;
            result = sim::linear_cka(x, y, options);
          } else {
            py::gil_scoped_release release;
            result = sim::rbf_cka(x, y, {.estimator = hsic});
          }
        }
        return cka_result(result);
      },
      py::arg("a"), py::arg("b"), py::kw_only(),
      py::arg("kind") = kind_choice("cka").name(sim::CkaKind::kAuto),
      py::arg("estimator") = estimator_choice("cka").name(defaults.estimator),
      py::arg("method") = method_choice().name(linear_defaults.method), R"doc(
Centered kernel alignment (Kornblith et al. 2019):

    CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)),  HSIC_0 = tr(K H L H) / (N - 1)^2

kind: "graph" (a, b are N x N kernels: scipy.sparse affinities in O(nnz), or dense arrays),
"linear" (a, b are activations N x dx, N x dy; K = X X^T), "rbf" (median-distance RBF kernel),
"auto" (graph for scipy.sparse inputs, else linear). estimator: "biased" or "unbiased" (Song et
al. 2012). method (kind "linear" only): "auto", "feature" or "gram". Any other value raises
ValueError naming the option and its values. C-contiguous float64 activations
are used without copying. Returns CkaResult(cka, defined, hsic_kl, hsic_kk, hsic_ll, estimator,
method, n, seconds).

Example:
    >>> sublens.cka(r1.affinity, r2.affinity).cka
    >>> sublens.cka(acts_a, acts_b, kind="linear", estimator="unbiased").cka
)doc");

  m.def(
      "cka_matrix",
      [](const py::object& a, const py::object& b, const std::string& kind_name,
         const std::string& estimator) {
        const auto a_items = items_of(a);
        const auto b_items = items_of(b);
        if (a_items.empty()) throw std::invalid_argument("cka_matrix: a is empty");
        const sim::CkaKind kind = resolve_kind(kind_choice("cka_matrix").parse(kind_name),
                                               a_items.front(), a_items.front());
        const auto hsic = estimator_choice("cka_matrix").parse(estimator);
        Matrix matrix;
        if (kind == sim::CkaKind::kGraph) {
          std::vector<SparseMatrix> graphs_a;
          std::vector<SparseMatrix> graphs_b;
          graphs_a.reserve(a_items.size());
          graphs_b.reserve(b_items.size());
          for (std::size_t i = 0; i < a_items.size(); ++i) {
            graphs_a.push_back(to_sparse(a_items[i], "cka_matrix: a[" + std::to_string(i) + "]"));
          }
          for (std::size_t i = 0; i < b_items.size(); ++i) {
            graphs_b.push_back(to_sparse(b_items[i], "cka_matrix: b[" + std::to_string(i) + "]"));
          }
          const auto pa = pointers_to(graphs_a);
          const auto pb = pointers_to(graphs_b);
          py::gil_scoped_release release;
          matrix = sim::graph_cka_matrix(pa, pb, {.estimator = hsic});
        } else {
          std::vector<RowMatrix> layers_a;
          std::vector<RowMatrix> layers_b;
          layers_a.reserve(a_items.size());
          layers_b.reserve(b_items.size());
          for (std::size_t i = 0; i < a_items.size(); ++i) {
            layers_a.push_back(
                to_row_matrix(a_items[i], "cka_matrix: a[" + std::to_string(i) + "]"));
          }
          for (std::size_t i = 0; i < b_items.size(); ++i) {
            layers_b.push_back(
                to_row_matrix(b_items[i], "cka_matrix: b[" + std::to_string(i) + "]"));
          }
          const auto pa = pointers_to(layers_a);
          const auto pb = pointers_to(layers_b);
          sim::LinearCkaOptions options;
          options.estimator = hsic;
          const auto activation_kernel = kind == sim::CkaKind::kRbf
                                             ? sim::ActivationKernel::kRbf
                                             : sim::ActivationKernel::kLinear;
          py::gil_scoped_release release;
          matrix = sim::activation_cka_matrix(pa, pb, activation_kernel, options);
        }
        return from_matrix(std::move(matrix));
      },
      py::arg("a"), py::arg("b") = py::none(), py::kw_only(),
      py::arg("kind") = kind_choice("cka_matrix").name(sim::CkaKind::kAuto),
      py::arg("estimator") = estimator_choice("cka_matrix").name(defaults.estimator), R"doc(
CKA between every item of `a` and every item of `b` (|a| x |b| ndarray), or the symmetric matrix
of `a` with itself when b is None. Items are graphs (scipy.sparse, kind "graph") or activation
matrices (kind "linear" or "rbf"), given as a list or a dict {name: item} (dict order).

Example:
    >>> heat = sublens.cka_matrix([r.affinity for r in results])   # layers x layers
)doc");
}

}  // namespace sublens::python
