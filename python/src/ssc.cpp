// Binding of sublens/ssc: sparse subspace clustering of one layer's activations.
#include "sublens/ssc/ssc.hpp"

#include "common.hpp"

namespace sublens::python {

namespace {

namespace ssc = sublens::ssc;

const Choice<ssc::TauMode> kTauMode{"ssc", "tau_mode", {"absolute", "relative"}, [](const auto& s) {
                                      return ssc::parse_tau_mode(s);
                                    }};
const Choice<ssc::Solver> kSolver{"ssc", "solver", {"auto", "lasso", "admm"}, ssc::parse_solver};
const Choice<ssc::Normalize> kNormalize{
    "ssc", "normalize", {"l2", "none"}, [](const auto& s) { return ssc::parse_normalize(s); }};

}  // namespace

void bind_ssc(py::module_& m) {
  const ssc::Options defaults;
  m.def(
      "ssc",
      [](const py::object& activations, double tau, const std::string& tau_mode, double mu,
         bool adaptive_mu, const std::string& solver, int max_iterations, double tolerance,
         const std::string& normalize, int threads, bool progress) {
        ssc::Options options;
        options.tau = tau;
        options.tau_mode = kTauMode.parse(tau_mode);
        options.mu = mu;
        options.adaptive_mu = adaptive_mu;
        options.solver = kSolver.parse(solver);
        options.max_iterations = max_iterations;
        options.tolerance = tolerance;
        options.normalize = kNormalize.parse(normalize);
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
      py::arg("tau_mode") = kTauMode.name(defaults.tau_mode), py::arg("mu") = defaults.mu,
      py::arg("adaptive_mu") = defaults.adaptive_mu,
      py::arg("solver") = kSolver.name(defaults.solver),
      py::arg("max_iterations") = defaults.max_iterations,
      py::arg("tolerance") = defaults.tolerance,
      py::arg("normalize") = kNormalize.name(defaults.normalize),
      // progress: off unless asked (C++ default on): a notebook cell should not print to stderr.
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
