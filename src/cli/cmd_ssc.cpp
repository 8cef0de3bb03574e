// `sublens ssc`: SSC affinity graphs (W = |C| + |C|^T) of activation layers.
//
// One layer (one --layer, or a file holding a single array): OUT is a scipy-sparse .npz of W and
// COEF (optional) one of C. Several layers (several --layer, or --all-layers): OUT (and COEF) are
// folders holding <layer>.npz (characters other than [A-Za-z0-9._-] in a layer name become '_').
// Every option is checked before anything is read; every layer is solved before anything is
// written, so a bad layer or option leaves no output at all; each file is then written atomically
// (temporary file + rename). One JSON object per layer goes to stdout after the files are written.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "sublens/core/error.hpp"
#include "sublens/core/memory.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/core/threads.hpp"
#include "sublens/dist/dist.hpp"
#include "sublens/io/io.hpp"
#include "sublens/ssc/ssc.hpp"

namespace sublens::cli {
namespace {

namespace fs = std::filesystem;

struct SscCommandOptions {
  std::string activations;          // ACTS: .npy, .npz or .safetensors
  std::vector<std::string> layers;  // --layer (repeatable)
  bool all_layers = false;          // --all-layers
  std::string output;               // -o: W (.npz file, or folder with several layers)
  std::string coef_output;          // --coef-out: C, same layout as -o (optional)
  std::string solver = "auto";
  double tau = 10.0;
  std::string tau_mode = "absolute";
  double mu = 10.0;
  int max_iterations = 1000;
  double tolerance = 1e-6;
  std::string normalize = "l2";
  int threads = 0;
};

std::string file_name_for(const std::string& layer) { return io::layer_file_stem(layer) + ".npz"; }

ssc::Options solver_options(const SscCommandOptions& command) {
  ssc::Options options;
  options.solver = ssc::parse_solver(command.solver);
  options.tau = command.tau;
  options.tau_mode = ssc::parse_tau_mode(command.tau_mode, "--tau-mode");
  options.mu = command.mu;
  options.max_iterations = command.max_iterations;
  options.tolerance = command.tolerance;
  options.normalize = ssc::parse_normalize(command.normalize, "--normalize");
  options.threads = command.threads;
  options.validate();
  return options;
}

// A folder output: must not be a file; its parent must exist.
void require_writable_folder(const fs::path& folder, const std::string& option) {
  if (folder.empty()) throw InputError("(none)", option, "an output folder is required");
  if (fs::exists(folder) && !fs::is_directory(folder)) {
    throw InputError(folder.string(), option,
                     "is a file, but several layers need a folder (one <layer>.npz each)");
  }
  const fs::path parent = folder.has_parent_path() ? folder.parent_path() : fs::path(".");
  if (!fs::is_directory(parent)) {
    throw InputError(folder.string(), option, "folder " + parent.string() + " does not exist");
  }
}

nlohmann::json ssc_command(const SscCommandOptions& command) {
  // 1. Options and paths, before reading anything.
  const ssc::Options options = solver_options(command);
  require_readable_file(command.activations, "ACTS");
  if (command.all_layers && !command.layers.empty()) {
    throw std::invalid_argument("ssc: give either --layers or --all-layers, not both");
  }
  std::vector<std::string> selection;
  if (!command.layers.empty()) {
    selection = select_activation_layers(command.activations, command.layers);
  }
  const bool several = command.all_layers || selection.size() > 1;
  if (!several && selection.empty()) {
    const auto arrays = io::list_arrays(command.activations);
    if (arrays.size() > 1) {
      std::string names;
      for (const auto& array : arrays) names += (names.empty() ? "" : ", ") + array.name;
      throw InputError(command.activations, "layers",
                       "holds " + std::to_string(arrays.size()) +
                           " arrays; choose with --layers NAME or --all-layers (" + names + ")");
    }
  }
  if (several) {
    require_writable_folder(command.output, "-o");
    if (!command.coef_output.empty()) require_writable_folder(command.coef_output, "--coef-out");
  } else {
    require_writable_file(command.output, "-o");
    if (!command.coef_output.empty()) require_writable_file(command.coef_output, "--coef-out");
  }
  // Under mpirun, K processes share the node's cores unless --threads says otherwise.
  set_threads(dist::launched() ? dist::threads_per_process(command.threads) : command.threads);

  // 2. Read and solve every layer (under mpirun: every process, each layer's columns split).
  const std::vector<io::Layer> layers = io::load_activations(command.activations, selection);
  struct Solved {
    std::string name;
    Index d = 0;
    ssc::Result result;
  };
  std::vector<Solved> solved;
  for (const auto& layer : layers) {
    if (layers.size() > 1 && Progress::global_enabled()) {
      std::cerr << "ssc: layer " << layer.name << " (" << layer.values.rows() << " x "
                << layer.values.cols() << ")" << std::endl;
    }
    try {
      const auto schedule = dist::column_schedule();  // nullptr in a single process
      ssc::Options layer_options = options;
      layer_options.schedule = schedule.get();
      solved.push_back({layer.name, layer.values.cols(), ssc::solve(layer.values, layer_options)});
    } catch (const std::invalid_argument& error) {
      throw std::invalid_argument("layer " + layer.name + ": " + error.what());
    }
  }
  if (!dist::is_root()) return nullptr;  // rank 0 gathered every column and writes

  // 3. Write (each file atomically), then report.
  if (several) {
    fs::create_directories(command.output);
    if (!command.coef_output.empty()) fs::create_directories(command.coef_output);
  }
  for (const auto& layer : solved) {
    const fs::path w_path =
        several ? fs::path(command.output) / file_name_for(layer.name) : fs::path(command.output);
    io::write_sparse_npz(w_path, layer.result.affinity);
    if (!command.coef_output.empty()) {
      const fs::path c_path = several ? fs::path(command.coef_output) / file_name_for(layer.name)
                                      : fs::path(command.coef_output);
      io::write_sparse_npz(c_path, layer.result.coefficients);
    }
  }
  if (several) {  // the network order, for cka-matrix over the folder
    std::vector<std::string> names;
    names.reserve(solved.size());
    for (const auto& layer : solved) names.push_back(layer.name);
    io::write_layer_order(command.output, names);
    if (!command.coef_output.empty()) io::write_layer_order(command.coef_output, names);
  }
  for (const auto& layer : solved) {
    const ssc::Result& r = layer.result;
    nlohmann::json row = {
        {"layer", layer.name},
        {"n", r.coefficients.rows()},
        {"d", layer.d},
        {"solver", ssc::solver_name(r.solver)},
        {"tau", json_number(r.tau)},
        {"objective", json_number(r.objective)},
        {"iterations", r.iterations},
        {"converged", r.converged},
        {"kkt_violation", json_number(r.kkt_violation)},
        {"nnz", r.coefficients.nonZeros()},
        {"affinity_nnz", r.affinity.nonZeros()},
        {"seconds", r.seconds},
        {"peak_memory_bytes", r.peak_memory_bytes},
    };
    if (dist::distributed()) {
      row["processes"] = dist::size();
      row["gathered_bytes"] = dist::bytes_received();  // so far, over all layers up to this one
    }
    std::cout << row.dump() << std::endl;
  }
  return nullptr;
}

const bool registered = register_command(
    {"ssc", "Sparse subspace clustering affinity graphs (W = |C| + |C|^T) of activation layers",
     "sublens ssc acts.npz --layers block3 -o w.npz --coef-out c.npz --tau 10", [](CLI::App& app) {
       auto o = std::make_shared<SscCommandOptions>();
       app.add_option("ACTS", o->activations, "Activations: .npy, .npz or .safetensors (N x ...)")
           ->required();
       add_layers_option(
           app, o->layers,
           "Layers to solve (several: -o is a folder); default: the file's only array", "--layers",
           {"--layer"});
       app.add_flag("--all-layers", o->all_layers, "Every layer; -o is then a folder");
       app.add_option("-o,--output", o->output,
                      "Affinity W as scipy-sparse .npz (a folder of <layer>.npz for several "
                      "layers)")
           ->required();
       app.add_option("--coef-out", o->coef_output, "Coefficients C, same layout as -o");
       app.add_option("--solver", o->solver,
                      "lasso (exact, sparse; = auto) or admm (the paper's Algorithm 1, dense)")
           ->capture_default_str();
       app.add_option("--tau", o->tau, "tau of eq. 2 (alpha in relative mode)")
           ->capture_default_str();
       app.add_option("--tau-mode", o->tau_mode,
                      "absolute, or relative: tau = alpha / min_i max_j |x_i^T x_j|")
           ->capture_default_str();
       app.add_option("--mu", o->mu, "ADMM penalty (initial value)")->capture_default_str();
       app.add_option("--max-iter", o->max_iterations,
                      "ADMM iterations / lasso working-set rounds per column")
           ->capture_default_str();
       app.add_option("--tol", o->tolerance,
                      "lasso: optimality-condition tolerance; admm: relative residuals")
           ->capture_default_str();
       app.add_option("--normalize", o->normalize, "l2 (unit-norm inputs) or none")
           ->capture_default_str();
       app.add_option("--threads", o->threads, "Threads (0 = all cores)")->capture_default_str();
       return [o] { return ssc_command(*o); };
     }});

}  // namespace
}  // namespace sublens::cli
