// Sparse subspace clustering (SSC) of one layer's activations: the self-expressive coefficients
// and the affinity graph of Saini et al. (ECML-PKDD 2021), eq. 2 and Algorithm 1.
//
// Problem (the papers' orientation, X is d x N with column i = input i; sublens holds X as the
// N x d activation matrix, see core/types.hpp):
//
//   min_C ||C||_1 + tau/2 ||X - X C||_F^2   subject to diag(C) = 0,
//
// C(j, i) = weight of input j in reconstructing input i. The affinity is W = |C| + |C|^T.
// The problem separates into N Lasso problems, one per column (lambda = 1 / tau):
//
//   c_i = argmin_c ||c||_1 + tau/2 ||x_i - X c||^2,  c_i = 0.
//
// Optimality conditions of column i, with g = tau X^T (X c - x_i):
//   g_j = -sign(c_j) where c_j != 0,   |g_j| <= 1 where c_j == 0 (j != i).
// `Result::kkt_violation` is the largest violation of these over all columns.
//
// Solvers:
//  - kLasso (the default, exact): column-wise Lasso with working sets, in blocks of columns.
//    One GEMM per block gives the correlations b = X^T x_i of every column with all N candidates;
//    each column starts from its 32 largest |b_j| and solves that working set's Lasso exactly by
//    its homotopy (LARS-Lasso) path, which reads only the Gram columns of the variables it
//    activates and handles nearly singular supports (nearly low-rank data, large tau). The
//    optimality conditions are then checked against all N candidates: by one GEMM X^T R for the
//    block's residuals, or, after a small change of the residual, from the previous scores and a
//    Cauchy-Schwarz bound on the change with exact checks of the few candidates it leaves
//    uncertain. Violators join the working set until none is left. From N = 1024 on, the GEMMs
//    and working-set Gram entries are float32 and every decision is certified in float64 (the
//    support's coefficients are refined against X in float64; a candidate whose float32 score is
//    within its rounding bound of the threshold is checked in float64), so the answer and the
//    reported violation are those of an exact float64 solver. Nothing N x N is ever stored; C is
//    sparse. When d > N, X is first replaced by R (rank x N, R^T R = X^T X, pivoted Cholesky),
//    since C depends on X only through X^T X.
//    Without the Gram matrix (large N) and with 256 <= d <= N / 8, a principal sketch (the
//    inputs on their 128 leading uncentred principal directions) replaces the first GEMM for
//    choosing working sets, and between passes bounds how the scores moved: the score change is
//    estimated on the sketch and the rest bounded by ||x_j off the sketch|| ||r's change off it||
//    (certified, float32 rounding included), so most columns need one pass of checks, not two.
//    Time ~ (1 + passes) * 2 d N^2 flops (GEMM, passes ~ 2 on image data; ~1.2 with the sketch)
//    + sum_i |S_i| |W_i| d; memory O(N d + N |B|).
//  - kAdmm: Algorithm 1 of the paper, with residual-balancing mu (Boyd et al. 2011, eq. 3.13).
//    (tau X^T X + mu I)^{-1} is applied through one eigendecomposition of the smaller Gram matrix
//    (X X^T when d < N, Woodbury form; X^T X otherwise), so it is exact for the *current* mu after
//    every change with no refactorisation (the authors' code keeps a stale inverse). Stops on the
//    primal and dual residuals (Boyd eq. 3.12). Dense: needs about 5 N^2 doubles; it checks the
//    available memory first and throws std::invalid_argument with the bytes needed.
//
// Both solvers minimise the same objective and reach the same optimum.
//
// Edges: N = 1 gives C = 0 (1 x 1). An all-zero input gets a zero code and codes nothing (its
// column and row of C are zero, never NaN). Duplicate inputs are allowed (the optimum may then not
// be unique; the objective is). tau * max_{j != i} |x_j^T x_i| <= 1 for every i gives C = 0.
//
// Results are deterministic for a fixed thread count and CPU (each column's work is independent of
// the schedule; OpenBLAS GEMMs are deterministic for a fixed thread count and kernel set).
//
// Example:
//   sublens::ssc::Options options;        // tau = 10, l2-normalised inputs, exact Lasso
//   auto result = sublens::ssc::solve(activations, options);   // activations: N x d
//   // result.affinity: N x N CSR, symmetric, zero diagonal.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sublens/core/types.hpp"

namespace sublens::ssc {

enum class Solver {
  kAuto,   // the exact Lasso solver (the ADMM is only run when asked for)
  kAdmm,   // Algorithm 1 of the paper (dense N x N)
  kLasso,  // exact column-wise Lasso (sparse)
};

enum class Normalize {
  kL2,    // every input (row of the activation matrix) scaled to unit l2 norm; zero rows stay zero
  kNone,  // activations used as they are
};

enum class TauMode {
  kAbsolute,  // tau used as given
  kRelative,  // tau = alpha / min_i max_{j != i} |x_i^T x_j| with alpha = Options::tau
};

// One column of C as the Lasso solver finished it, with its share of the Result's figures.
struct ColumnOutcome {
  std::vector<std::pair<Index, double>> entries;  // (row j, C(j, i)) in increasing j
  double objective = 0.0;                         // ||c_i||_1 + tau/2 ||x_i - X c_i||^2
  double violation = 0.0;                         // its largest optimality-condition violation
  int rounds = 0;                                 // working-set rounds
  bool converged = false;
  bool solved = false;  // false: another process solved it (distributed solves)
};

// Splits one Lasso solve over several processes (sublens::dist implements it with MPI). Every
// process runs solve() on the same inputs and options; the solver asks the schedule for blocks of
// columns until none is left (first come, first served: columns differ in cost) and hands it its
// finished columns. Every column's answer is independent of which process solved it, and the
// Result's figures are folded in column order, so the root's Result is the single-process one.
class ColumnSchedule {
 public:
  virtual ~ColumnSchedule() = default;
  // How many processes share the solve (the solver makes at least a few blocks per process).
  virtual int processes() const = 0;
  // The next block (0 .. blocks - 1) for this process, or -1 when every block is handed out.
  // `blocks` is the same on every process.
  virtual std::int64_t next_block(std::int64_t blocks) = 0;
  // Collects every process's solved columns on the root. Returns true there (every outcome then
  // solved), false on the other processes.
  virtual bool gather(std::vector<ColumnOutcome>& outcomes) = 0;
};

struct Options {
  // Weight of the reconstruction term (eq. 2). Larger tau = denser C, better reconstruction.
  // Column i has c_i = 0 exactly when tau * max_{j != i} |x_j^T x_i| <= 1, so tau only means
  // something relative to the scale of the activations: see `normalize` and `tau_mode`.
  // The paper uses 10 and recommends 10-100. Must be finite and > 0.
  double tau = 10.0;
  // How `tau` is read. kRelative (Elhamifar & Vidal 2013) makes tau scale-free: `tau` is then
  // alpha, and alpha > 1 guarantees that every input with a nonzero neighbour gets a nonzero code
  // (alpha in 20-800 in their experiments). Inputs that are zero or orthogonal to every other
  // input are left out of the minimum; if no input qualifies, tau = alpha.
  TauMode tau_mode = TauMode::kAbsolute;
  // ADMM penalty mu (Algorithm 1), initial value when `adaptive_mu`. Only changes the ADMM's speed,
  // never its optimum. The paper uses 10. Must be finite and > 0.
  double mu = 10.0;
  // Residual balancing (Boyd et al. 2011, eq. 3.13): mu x2 when the primal residual is more than
  // 10x the dual one, /2 in the opposite case. ADMM only.
  bool adaptive_mu = true;
  // Which solver; see the file comment.
  Solver solver = Solver::kAuto;
  // ADMM: maximum number of iterations. Lasso: maximum number of working-set rounds per column
  // (each round checks all N candidates; 2-5 are typical). Non-convergence is reported in
  // Result::converged, never thrown. Must be >= 1.
  int max_iterations = 1000;
  // Lasso: largest accepted violation of the optimality conditions (in units of g above, where
  // the bound is 1), for every column and every candidate (the solver goes on to ~1e-12 when it
  // can, so the reported violation is usually far below this). ADMM: relative primal and dual
  // residual tolerance (eps_rel of Boyd eq. 3.12, with eps_abs = tolerance too). Must be finite and
  // > 0.
  double tolerance = 1e-6;
  // Per-input scaling before solving. The paper does not say; kL2 is the default because a fixed
  // tau then means the same thing for every layer (activation scales differ by orders of
  // magnitude between layers and epochs), and an input's code does not depend on its norm.
  // kNone reproduces the paper literally on raw activations: with tau = 10, small activations give
  // C = 0 and large ones a nearly dense C.
  Normalize normalize = Normalize::kL2;
  // Lasso, N >= 1024: the largest float32 Gram matrix X^T X (4 N^2 bytes) the solver keeps; it is
  // also never more than half the free memory. With it, every column's optimality check reads
  // |support| + 1 columns of G instead of making passes over X (2-3x faster on image data);
  // without it (larger N, or 0 here), the checks are passes over X by blocks of columns, in
  // O(N d + N * block) memory. The answer is the same either way. Default 4 GiB (N <= 32768).
  std::uint64_t max_gram_bytes = 4ULL << 30;
  // Threads for OpenMP loops and OpenBLAS; 0 = all cores. The Lasso solver uses at most one per
  // 512 inputs (more only contend on small problems). Results are deterministic for a fixed
  // thread count.
  int threads = 0;
  // Reserved: both solvers are deterministic and draw no random numbers.
  std::uint64_t seed = 0;
  // Progress lines on stderr for long runs (see core/progress.hpp; still off in quiet mode).
  bool progress = true;
  // Lasso only: a solve split over processes (see ColumnSchedule; not owned). nullptr = every
  // column in this process.
  ColumnSchedule* schedule = nullptr;

  // Throws std::invalid_argument naming the field and its constraint.
  void validate() const;
};

struct Result {
  // C, N x N CSR: C(j, i) = weight of input j for input i, zero diagonal.
  SparseMatrix coefficients;
  // W = |C| + |C|^T, N x N CSR, symmetric, zero diagonal.
  SparseMatrix affinity;
  // ||C||_1 + tau/2 ||X - X C||_F^2 on the (normalised) data the solver saw.
  double objective = 0.0;
  // The tau actually used (differs from Options::tau in kRelative mode).
  double tau = 0.0;
  // The solver actually run (never kAuto).
  Solver solver = Solver::kLasso;
  // ADMM iterations, or the largest number of working-set rounds of any column (Lasso).
  int iterations = 0;
  // ADMM: residuals below tolerance. Lasso: every column satisfies its optimality conditions to
  // `tolerance`.
  bool converged = false;
  // Largest violation of the optimality conditions over all columns (see the file comment).
  double kkt_violation = 0.0;
  // Wall time of solve(), seconds.
  double seconds = 0.0;
  // Estimate of the bytes the solver allocated at its peak (not counting the input).
  std::uint64_t peak_memory_bytes = 0;
  // True on the processes of a distributed solve (Options::schedule) that do not hold the result:
  // coefficients and affinity are then empty and the figures above cover nothing.
  bool partial = false;
};

// Solves eq. 2 for an N x d activation matrix (row = input). Throws std::invalid_argument for bad
// options, an empty matrix or non-finite values.
Result solve(const RowMatrix& activations, const Options& options = {});

// The activations as the solver sees them (after Options::normalize).
RowMatrix prepare_inputs(const RowMatrix& activations, Normalize normalize);

// W = |C| + |C|^T.
SparseMatrix affinity_from_coefficients(const SparseMatrix& coefficients);

// Objective and optimality-condition violation of any C for the (already prepared) inputs,
// computed directly from the definitions (O(N^2 d); for tests and checks).
double objective(const RowMatrix& inputs, const SparseMatrix& coefficients, double tau);
double kkt_violation(const RowMatrix& inputs, const SparseMatrix& coefficients, double tau);

// The tau that TauMode::kRelative gives for alpha on the (already prepared) inputs.
double relative_tau(const RowMatrix& inputs, double alpha);

const char* solver_name(Solver solver);
Solver parse_solver(const std::string& name);  // "auto" | "admm" | "lasso"
// "absolute" | "relative" and "l2" | "none"; `option` names the setting in the error message
// ("--tau-mode" on the command line, "tau_mode" in Python).
TauMode parse_tau_mode(const std::string& name, const std::string& option = "tau_mode");
Normalize parse_normalize(const std::string& name, const std::string& option = "normalize");

}  // namespace sublens::ssc
