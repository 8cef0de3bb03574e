// `sublens embed`: spectral embedding (top-k eigenvectors of the normalised Laplacian or of the
// affinity) of a sparse affinity graph, by Lanczos.
#include <memory>
#include <string>

#include "command.hpp"
#include "sublens/graph/spectral.hpp"
#include "sublens/io/io.hpp"

namespace sublens::cli {
namespace {

constexpr std::size_t kListedIsolated = 100;

struct EmbedCommandOptions {
  std::string graph;
  Index dimensions = 2;
  std::string laplacian = "normalized";
  std::string output;
  Index max_iterations = 1000;
};

nlohmann::json embed_command(const EmbedCommandOptions& command) {
  require_readable_file(command.graph, "W");
  require_writable_file(command.output, "-o");
  graph::EmbeddingOptions options;
  options.dimensions = command.dimensions;
  options.laplacian = graph::parse_laplacian(command.laplacian);
  options.max_iterations = command.max_iterations;
  const SparseMatrix affinity = read_affinity_graph(command.graph, "W");
  const graph::EmbeddingResult result = graph::spectral_embedding(affinity, options);
  io::write_matrix(command.output, RowMatrix(result.embedding));
  nlohmann::json eigenvalues = nlohmann::json::array();
  for (Index j = 0; j < result.eigenvalues.size(); ++j) {
    eigenvalues.push_back(json_number(result.eigenvalues(j)));
  }
  nlohmann::json isolated = nlohmann::json::array();
  for (std::size_t i = 0; i < result.isolated.size() && i < kListedIsolated; ++i) {
    isolated.push_back(result.isolated[i]);
  }
  return {
      {"graph", command.graph},
      {"n", affinity.rows()},
      {"k", command.dimensions},
      {"laplacian", graph::to_string(options.laplacian)},
      {"eigenvalues", eigenvalues},
      {"eigenvalues_of", options.laplacian == graph::LaplacianKind::kNormalized
                             ? "D^-1/2 W D^-1/2 (normalized Laplacian = 1 - these)"
                             : "W"},
      {"n_isolated", result.isolated.size()},
      {"isolated", isolated},
      {"isolated_truncated", result.isolated.size() > kListedIsolated},
      {"solver", result.solver},
      {"converged", result.converged},
      {"iterations", result.iterations},
      {"matrix_products", result.matrix_products},
      {"seconds", result.seconds},
      {"output", command.output},
  };
}

const bool registered = register_command(
    {"embed", "Spectral embedding of an affinity graph (top-k eigenvectors, Lanczos)",
     "sublens embed w.npz -k 2 --laplacian normalized -o embedding.npy", [](CLI::App& app) {
       auto o = std::make_shared<EmbedCommandOptions>();
       app.add_option("W", o->graph, "Affinity graph, scipy-sparse .npz (N x N, symmetric)")
           ->required();
       app.add_option("-k,--dimensions", o->dimensions, "Number of eigenvectors")
           ->capture_default_str();
       app.add_option("--laplacian", o->laplacian,
                      "normalized (eigenvectors of D^-1/2 W D^-1/2) or none (of W)")
           ->capture_default_str();
       app.add_option("--max-iterations", o->max_iterations, "Lanczos restarts")
           ->capture_default_str();
       app.add_option("-o,--output", o->output,
                      "Embedding, .npy N x k float64 (NaN rows for isolated inputs)")
           ->required();
       return [o] { return embed_command(*o); };
     }});

}  // namespace
}  // namespace sublens::cli
