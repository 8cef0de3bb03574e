// Binding of sublens/ssc: sparse subspace clustering of one layer's activations.
#include "sublens/ssc/ssc.hpp"

#include "common.hpp"

namespace sublens::python {

void bind_ssc(py::module_& m) {
  namespace ssc = sublens::ssc;
  const ssc::Options defaults;
  m.def(
      "ssc",
      [](const py::object& activations, double tau, const std::string& tau_mode, double mu,
         bool adaptive_mu, const std::string& solver, int max_iterations, double tolerance,
         const std::string& normalize, int threads, bool progress) {
        ssc::Options options;
        options.tau = tau;
        options.tau_mode = ssc::parse_tau_mode(tau_mode, "tau_mode");
        options.mu = mu;
        options.adaptive_mu = adaptive_mu;
        options.solver = ssc::parse_solver(solver);
        options.max_iterations = max_iterations;
        options.tolerance = tolerance;
        options.normalize = ssc::parse_normalize(normalize, "normalize");
        options.threads = threads;
        options.progress = progress;
        options.validate();
        const RowMatrix matrix = to_row_matrix(activations, "ssc: activations");
        ssc::Result result;
        {
          py::gil_scoped_release release;
          result = ssc::solve(matrix, options);
        }
        py::dict values;
        values["n"] = result.coefficients.rows();
        values["d"] = matrix.cols();
        values["solver"] = std::string(ssc::solver_name(result.solver));
        values["tau"] = result.tau;
        values["objective"] = result.objective;
        values["iterations"] = result.iterations;
        values["converged"] = result.converged;
        values["kkt_violation"] = result.kkt_violation;
        values["affinity"] = from_sparse(result.affinity);
        values["coefficients"] = from_sparse(result.coefficients);
        values["seconds"] = result.seconds;
        values["peak_memory_bytes"] = result.peak_memory_bytes;
        return make_result("SscResult", values);
      },
      py::arg("activations"), py::kw_only(), py::arg("tau") = defaults.tau,
      py::arg("tau_mode") = "absolute", py::arg("mu") = defaults.mu,
      py::arg("adaptive_mu") = defaults.adaptive_mu,
      py::arg("solver") = std::string(ssc::solver_name(defaults.solver)),
      py::arg("max_iterations") = defaults.max_iterations,
      py::arg("tolerance") = defaults.tolerance, py::arg("normalize") = "l2",
      py::arg("threads") = defaults.threads, py::arg("progress") = false, R"doc(
Sparse subspace clustering (Saini et al. 2021, eq. 2) of an N x d activation matrix X
(row = input; conv activations flattened per input):

    min_C ||C||_1 + tau/2 ||X^T - X^T C||_F^2   s.t. diag(C) = 0,     W = |C| + |C|^T

C[j, i] = weight of input j in reconstructing input i. solver: "auto"/"lasso" (exact, sparse)
or "admm" (the paper's Algorithm 1, dense N x N). normalize: "l2" (unit-norm inputs) or "none";
tau_mode "relative" reads tau as alpha (Elhamifar & Vidal). The GIL is released while solving.
Returns SscResult(affinity, coefficients (scipy.sparse.csr_matrix, N x N), objective, tau,
solver, iterations, converged, kkt_violation, seconds, peak_memory_bytes).

Example:
    >>> r = sublens.ssc(acts["layer3"], tau=10)
    >>> r.affinity.nnz, r.converged
)doc");
}

}  // namespace sublens::python
