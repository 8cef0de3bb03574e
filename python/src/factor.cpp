// Bindings of sublens/factor: coupled NMF and singular-value spectra.
#include <utility>

#include "common.hpp"
#include "sublens/factor/coupled_nmf.hpp"
#include "sublens/factor/spectrum.hpp"

namespace sublens::python {

namespace {

namespace factor = sublens::factor;

// One array, a list of arrays, or a dict {name: array} -> matrices (+ names).
std::vector<RowMatrix> to_blocks(const py::object& obj, const std::string& what,
                                 std::vector<std::string>& names) {
  std::vector<RowMatrix> blocks;
  if (obj.is_none()) return blocks;
  if (py::isinstance<py::dict>(obj)) {
    for (const auto& item : obj.cast<py::dict>()) {
      const auto name = py::str(item.first).cast<std::string>();
      blocks.push_back(to_row_matrix(item.second, what + " '" + name + "'"));
      names.push_back(name);
    }
  } else if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    int index = 0;
    for (const auto& item : obj) {
      blocks.push_back(to_row_matrix(item, what + "[" + std::to_string(index) + "]"));
      names.push_back(what + std::to_string(index++));
    }
  } else {
    blocks.push_back(to_row_matrix(obj, what));
    names.push_back(what + "0");
  }
  return blocks;
}

const Choice<factor::NmfSolver> kNmfSolver{
    "coupled_nmf", "solver", {"mu", "hals"}, factor::parse_nmf_solver};

}  // namespace

void bind_factor(py::module_& m) {
  const factor::CoupledNmfOptions nmf_defaults;
  m.def(
      "coupled_nmf",
      [](const py::object& inputs, const py::object& layers, int rank, const std::string& solver,
         int max_iterations, double tolerance, double epsilon, std::uint64_t seed,
         bool weight_blocks, bool record_history) {
        std::vector<std::string> input_names;
        std::vector<std::string> layer_names;
        const auto input_blocks = to_blocks(inputs, "input", input_names);
        const auto layer_blocks = to_blocks(layers, "layer", layer_names);
        factor::CoupledNmfOptions options;
        options.rank = rank;
        options.solver = kNmfSolver.parse(solver);
        options.max_iterations = max_iterations;
        options.tolerance = tolerance;
        options.epsilon = epsilon;
        options.seed = seed;
        options.weight_blocks = weight_blocks;
        options.record_history = record_history;
        const auto input_ptrs = pointers_to(input_blocks);
        const auto layer_ptrs = pointers_to(layer_blocks);
        factor::CoupledNmfResult result;
        {
          py::gil_scoped_release release;
          result = factor::coupled_nmf(input_ptrs, layer_ptrs, options);
        }
        const std::string brief_report = result.brief_report();  // before the factors move out
        py::list input_factors;
        py::list layer_factors;
        py::dict block_rmse;
        py::dict block_relative_rmse;
        for (std::size_t b = 0; b < result.factors.blocks.size(); ++b) {
          const bool is_input = b < input_blocks.size();
          const auto& name = is_input ? input_names[b] : layer_names[b - input_blocks.size()];
          block_rmse[py::str(name)] = result.block_rmse[b];
          block_relative_rmse[py::str(name)] = result.block_relative_rmse[b];
          (is_input ? input_factors : layer_factors)
              .append(from_matrix(std::move(result.factors.blocks[b])));
        }
        py::dict values;
        values["rmse"] = result.rmse;
        values["relative_rmse"] = result.relative_rmse;
        values["objective"] = result.objective;
        values["iterations"] = result.iterations;
        values["converged"] = result.converged;
        values["solver"] = solver;
        values["rank"] = rank;
        values["shared"] = from_matrix(std::move(result.factors.shared));
        values["input_factors"] = input_factors;
        values["layer_factors"] = layer_factors;
        values["block_rmse"] = block_rmse;
        values["block_relative_rmse"] = block_relative_rmse;
        values["squared_error"] = py::cast(result.squared_error);
        values["objective_history"] = py::array(py::cast(result.objective_history));
        values["seconds"] = result.seconds;
        values["brief_report"] = brief_report;
        return make_result("CoupledNmfResult", values);
      },
      py::arg("inputs"), py::arg("layers"), py::kw_only(), py::arg("rank") = nmf_defaults.rank,
      py::arg("solver") = kNmfSolver.name(nmf_defaults.solver),
      py::arg("max_iterations") = nmf_defaults.max_iterations,
      py::arg("tolerance") = nmf_defaults.tolerance, py::arg("epsilon") = nmf_defaults.epsilon,
      py::arg("seed") = nmf_defaults.seed, py::arg("weight_blocks") = nmf_defaults.weight_blocks,
      py::arg("record_history") = nmf_defaults.record_history, R"doc(
Coupled non-negative matrix factorization of inputs and activations (Saini & Papalexakis, eq. 1):

    min  sum_i w_i ||D_i - F P_i^T||_F^2 + sum_j w_j ||A_j - F O_j^T||_F^2,   F, P, O >= 0

with each block N x d_b (row = input), w = 1, or w_b = 1/||X_b||^2 with weight_blocks=True.
`inputs` and `layers` are arrays, lists of arrays or dicts {name: array} (None for no block).
solver: "mu" (the paper's multiplicative updates) or "hals".
Returns CoupledNmfResult: shared (F, N x r), input_factors / layer_factors (d_b x r each), rmse,
block_rmse {name: rmse}, relative_rmse and block_relative_rmse {name: ||residual|| / ||block||}
(these compare across blocks of different scales), objective, objective_history, iterations,
converged, seconds.

Example:
    >>> r = sublens.coupled_nmf(images, {"fc": acts}, rank=20, solver="hals")
    >>> r.rmse, r.shared.shape
)doc");

  const factor::SpectrumOptions spectrum_defaults;
  m.def(
      "singular_spectrum",
      [](const py::object& activations, int k, Index dense_limit, double tolerance,
         int max_restarts) {
        const RowMatrix matrix = to_row_matrix(activations, "singular_spectrum: activations");
        factor::SpectrumOptions options;
        options.k = k;
        options.dense_limit = dense_limit;
        options.tolerance = tolerance;
        options.max_restarts = max_restarts;
        factor::SpectrumResult result;
        {
          py::gil_scoped_release release;
          result = factor::top_singular_values(matrix, options);
        }
        py::dict values;
        values["singular_values"] = from_vector(std::move(result.singular_values));
        values["method"] = result.method;
        values["converged"] = result.converged;
        values["products"] = result.products;
        values["seconds"] = result.seconds;
        return make_result("SpectrumResult", values);
      },
      py::arg("activations"), py::kw_only(), py::arg("k") = spectrum_defaults.k,
      py::arg("dense_limit") = spectrum_defaults.dense_limit,
      py::arg("tolerance") = spectrum_defaults.tolerance,
      py::arg("max_restarts") = spectrum_defaults.max_restarts, R"doc(
Top-k singular values sigma_i = sqrt(lambda_i(X^T X)) of an N x d activation matrix (conv
activations flattened per input): dense SVD when min(N, d) <= dense_limit, else matrix-free
Lanczos on the smaller Gram matrix. Returns SpectrumResult(singular_values (descending, length
min(k, N, d)), method, converged, products, seconds).

Example:
    >>> s = sublens.singular_spectrum(acts, k=20).singular_values
)doc");
}

}  // namespace sublens::python
