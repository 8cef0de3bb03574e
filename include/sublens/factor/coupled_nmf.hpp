// Coupled non-negative matrix factorization of inputs and activations (PAPERS.md, section B;
// Saini & Papalexakis, eq. 1).
//
// The model. For input channels D_i (pixels x N, one column per input image) and layer activations
// A_j (neurons x N), find non-negative P_i (pixels x r), O_j (neurons x r) and a shared
// F (N x r) minimising
//
//   J = sum_i w_i ||D_i - P_i F^T||_F^2 + sum_j w_j ||A_j - O_j F^T||_F^2,   P, O, F >= 0,
//
// with w = 1 (the paper) or, with `weight_blocks`, w_b = 1 / ||X_b||_F^2 (each block divided by its
// Frobenius norm, so that one wide layer does not drown the inputs).
//
// Orientation. sublens holds every block as N x d_b (row = input, `RowMatrix`); that is D_i^T,
// exactly the memory of the paper's column-major D_i. The factor of block b is returned as the
// paper's d_b x r matrix (P_i or O_j) and F as N x r, so that X_b (N x d_b) ~= F * W_b^T.
//
// Solvers.
//  - kMultiplicative: the paper's updates, in its order (F, then every P_i, then every O_j),
//      F   <- F   * (sum_b w_b D_b^T W_b) / (F sum_b w_b W_b^T W_b + eps)
//      W_b <- W_b * (D_b F)               / (W_b F^T F + eps)
//    (* and / element-wise; eps added once to the whole denominator, as the paper says.)
//  - kHals: hierarchical alternating least squares (Cichocki & Phan 2009; Gillis & Glineur 2012):
//    one exact non-negative least-squares update per column of F, then per column of each W_b,
//    from the same GEMMs as MU. Same objective, usually far fewer iterations to a lower J.
// Both compute J without forming any residual:
//   ||X_b - F W_b^T||^2 = ||X_b||^2 - 2 <W_b, X_b^T F> + <W_b^T W_b, F^T F>,
// with ||X_b||^2 computed once. Cost per iteration: O(r * sum_b N d_b) (two GEMMs per block) plus
// O(r^2 (N + sum_b d_b)); memory: the factors and one d_b x r and one N x r work matrix.
//
// Reported errors. `squared_error[b]` is the unweighted ||X_b - F W_b^T||_F^2, recomputed exactly
// (from the residual, in row chunks) at the end.
//   RMSE of block b = sqrt(squared_error[b] / (N d_b)),
//   total RMSE      = sqrt(sum_b squared_error[b] / sum_b N d_b) = sqrt(J / number of entries)
// for the paper's unweighted J (with weight_blocks the RMSEs stay unweighted; `objective` is the
// weighted J that was minimised). RMSEs are in each block's units, so they do not compare across
// layers of different scales; the relative RMSEs do:
//   relative RMSE of block b = ||X_b - F W_b^T||_F / ||X_b||_F  (= RMSE_b / RMS of X_b's entries),
//   total relative RMSE      = sqrt(sum_b squared_error[b] / sum_b ||X_b||_F^2),
// where X_b is the block as factorized (after any shift). A zero block has relative RMSE 0 when it
// is fitted exactly, else +Inf.
//
// Edge cases. Every block must share N >= 1, have d_b >= 1, and be finite and non-negative
// (negative data is an std::invalid_argument naming the block, the value and the input index; see
// `shift_to_non_negative`). rank >= 1 (rank > min(N, d) is allowed, as in NMF). An all-zero block
// converges to W_b = 0 under HALS; it is an error under `weight_blocks` (its norm is 0).
//
// Example:
//   sublens::factor::CoupledNmfOptions options;
//   options.rank = 20;
//   const auto result = sublens::factor::coupled_nmf({&images}, {&layer1, &layer2}, options);
//   std::cout << result.rmse << " after " << result.iterations << " iterations\n";
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sublens/core/types.hpp"

namespace sublens::factor {

enum class NmfSolver {
  kMultiplicative,  // the paper's multiplicative updates ("mu")
  kHals,            // hierarchical alternating least squares ("hals")
};

// "mu" / "hals"; parse_nmf_solver throws std::invalid_argument on anything else.
std::string nmf_solver_name(NmfSolver solver);
NmfSolver parse_nmf_solver(const std::string& name);

struct CoupledNmfOptions {
  // Number of latent factors r (columns of F). The paper sweeps 10..50.
  int rank = 10;
  // Update rule. kMultiplicative is the paper's; kHals reaches a lower or equal objective in far
  // less time on the same problem and is the better choice unless matching the paper's iterates
  // matters.
  NmfSolver solver = NmfSolver::kMultiplicative;
  // Upper bound on iterations (one iteration updates F and every block factor once). MU converges
  // slowly; raise it when `converged` is false and the RMSE still moves.
  int max_iterations = 500;
  // Stop when |J_prev - J| / J_prev < tolerance (relative objective change over one iteration), or
  // when J reaches 0. 0 runs exactly `max_iterations` (used to compare iterates).
  double tolerance = 1e-6;
  // The paper's epsilon, added element-wise to MU denominators (and the floor HALS keeps F's
  // entries at, so a column never gets stuck at exactly zero). Must be > 0 for MU.
  double epsilon = 1e-9;
  // Seed of the random initialisation: every entry uniform in [0, 1), drawn in the order F, then
  // the input factors, then the layer factors (row-major within each). Same seed, same result.
  std::uint64_t seed = 0;
  // Divide each block by its Frobenius norm (w_b = 1 / ||X_b||^2) so a huge layer does not drown
  // the inputs. Off by default (the paper). Factors stay in the data's units either way.
  bool weight_blocks = false;
  // Record J after every iteration in `objective_history` (cheap; off only to save memory on very
  // long runs).
  bool record_history = true;
};

// Initial (or final) factors: F (N x r) and one d_b x r factor per block, inputs first then layers.
struct CoupledNmfFactors {
  Matrix shared;               // F, N x r
  std::vector<Matrix> blocks;  // P_i then O_j, each d_b x r
};

struct CoupledNmfResult {
  CoupledNmfFactors factors;                // F and the block factors after the last iteration
  std::vector<double> objective_history;    // J after each iteration (weighted when weight_blocks)
  double objective = 0;                     // final J as minimised (weighted when weight_blocks)
  std::vector<double> squared_error;        // per block, unweighted ||X_b - F W_b^T||^2 (exact)
  std::vector<double> block_rmse;           // per block, sqrt(squared_error / (N d_b))
  double rmse = 0;                          // sqrt(sum squared_error / sum N d_b)
  std::vector<double> block_relative_rmse;  // per block, ||X_b - F W_b^T||_F / ||X_b||_F
  double relative_rmse = 0;                 // sqrt(sum squared_error / sum ||X_b||_F^2)
  int iterations = 0;                       // iterations run
  bool converged = false;  // stopped on `tolerance` (or J = 0) before max_iterations
  double seconds = 0;      // wall time of the iterations (not the final evaluation)

  // One line: "mu rank 20: rmse 0.0123 after 150 iterations (converged) in 1.2 s".
  std::string brief_report() const;
};

// Factorizes the blocks. `inputs` are the input channels (N x pixels each), `layers` the layer
// activations (N x neurons each); pointers are not owned and must outlive the call. `initial`, if
// given, replaces the random initialisation (shapes checked; entries must be >= 0).
// Throws std::invalid_argument on bad options, no blocks, mismatched N, negative or non-finite
// data.
CoupledNmfResult coupled_nmf(const std::vector<const RowMatrix*>& inputs,
                             const std::vector<const RowMatrix*>& layers,
                             const CoupledNmfOptions& options,
                             const CoupledNmfFactors* initial = nullptr);

// The random initial factors coupled_nmf uses for `options.seed` (for tests and reference runs).
CoupledNmfFactors random_factors(Index n_inputs, const std::vector<Index>& block_dims, int rank,
                                 std::uint64_t seed);

// Throws std::invalid_argument unless every entry of `block` is finite and >= 0; `name` is used in
// the message ("block 'conv1' has a negative entry -0.42 (input 3, column 7); ...").
void require_non_negative(const RowMatrix& block, const std::string& name);

// Subtracts the block's minimum when it is negative (the CLI's --shift-min), so its smallest entry
// becomes 0; returns the amount added (0 when the block was already non-negative).
double shift_to_non_negative(RowMatrix& block);

// ---- rank sweeps -------------------------------------------------------------------------------

struct RankSweepOptions {
  // Ranks to fit, each >= 1.
  std::vector<int> ranks = {10, 20, 30, 40, 50};
  // Seeds per rank: seeds base.seed, base.seed + 1, ..., base.seed + n_seeds - 1.
  int n_seeds = 3;
  // Solver, iterations, tolerance, epsilon, weighting and the first seed (rank is overwritten).
  CoupledNmfOptions base;
  // Progress line on stderr ("factorize: 7/15").
  bool progress = true;
};

// One row per rank: mean and spread (sample standard deviation over seeds, 0 for one seed).
struct RankSweepRow {
  int rank = 0;
  double rmse_mean = 0;                 // total RMSE, mean over seeds
  double rmse_std = 0;                  // total RMSE, standard deviation over seeds
  std::vector<double> block_rmse_mean;  // per block, inputs then layers
  std::vector<double> block_rmse_std;   // per block
  double relative_rmse_mean = 0;        // total relative RMSE, mean over seeds
  double relative_rmse_std = 0;         // total relative RMSE, standard deviation over seeds
  std::vector<double> block_relative_rmse_mean;  // per block, inputs then layers
  std::vector<double> block_relative_rmse_std;   // per block
  double objective_mean = 0;                     // final J, mean over seeds
  double iterations_mean = 0;                    // iterations, mean over seeds
  int converged = 0;                             // how many seeds converged
  double seconds_mean = 0;                       // solver time, mean over seeds
};

struct RankSweepResult {
  std::vector<RankSweepRow> rows;  // in the order of `ranks`
  // The fit with the lowest objective at each rank (for latent images), same order as rows.
  std::vector<CoupledNmfResult> best;
};

RankSweepResult rank_sweep(const std::vector<const RowMatrix*>& inputs,
                           const std::vector<const RowMatrix*>& layers,
                           const RankSweepOptions& options);

// The sweep in pieces, for a sweep split over processes (`sublens factorize` under mpirun): its
// fits are independent. Fit f (0 .. sweep_fit_count - 1) is rank ranks[f / n_seeds] with seed
// base.seed + f % n_seeds; rank_sweep = check_sweep_options, every sweep_fit in order,
// summarize_sweep. A fit's result depends only on its rank and seed (and the data), never on
// which process runs it.
void check_sweep_options(const RankSweepOptions& options);  // throws std::invalid_argument
std::int64_t sweep_fit_count(const RankSweepOptions& options);
CoupledNmfResult sweep_fit(const std::vector<const RowMatrix*>& inputs,
                           const std::vector<const RowMatrix*>& layers,
                           const RankSweepOptions& options, std::int64_t fit);
// Rows and best fits from every fit, in fit order (moved from).
RankSweepResult summarize_sweep(const RankSweepOptions& options,
                                std::vector<CoupledNmfResult> fits);

// A fit as bytes and back (to send it between processes): every field, doubles bit for bit.
std::string fit_to_bytes(const CoupledNmfResult& fit);
CoupledNmfResult fit_from_bytes(const std::string& bytes);  // throws std::runtime_error if cut

}  // namespace sublens::factor
