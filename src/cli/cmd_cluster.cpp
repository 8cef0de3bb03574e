// `sublens cluster`: spectral clustering of an affinity graph (normalised Laplacian embedding,
// row normalisation, k-means++ with seeded restarts), optionally scored against labels.
#include <memory>
#include <string>

#include "command.hpp"
#include "sublens/graph/metrics.hpp"
#include "sublens/graph/spectral.hpp"
#include "sublens/io/io.hpp"

namespace sublens::cli {
namespace {

struct ClusterCommandOptions {
  std::string graph;
  Index clusters = 2;
  std::string laplacian = "normalized";
  std::string output;
  std::string labels;
  int restarts = 20;
  std::uint64_t seed = 0;
};

nlohmann::json cluster_command(const ClusterCommandOptions& command) {
  require_readable_file(command.graph, "W");
  require_writable_file(command.output, "-o");
  if (!command.labels.empty()) require_readable_file(command.labels, "--labels");
  graph::SpectralClusteringOptions options;
  options.clusters = command.clusters;
  options.laplacian = graph::parse_laplacian(command.laplacian);
  options.restarts = command.restarts;
  options.seed = command.seed;
  const SparseMatrix affinity = read_affinity_graph(command.graph, "W");
  IntVector labels;
  if (!command.labels.empty()) {
    labels = read_int_vector(command.labels);
    if (labels.size() != affinity.rows()) {
      throw std::invalid_argument("cluster: the affinity is " + std::to_string(affinity.rows()) +
                                  " x " + std::to_string(affinity.cols()) + " but labels has " +
                                  std::to_string(labels.size()) + " entries");
    }
  }
  const graph::SpectralClusteringResult result = graph::spectral_clustering(affinity, options);
  io::write_npy(command.output,
                io::NdArray::from_int64({result.labels.size()}, result.labels.data()));
  nlohmann::json summary = {
      {"graph", command.graph},
      {"n", affinity.rows()},
      {"k", command.clusters},
      {"laplacian", graph::to_string(options.laplacian)},
      {"restarts", command.restarts},
      {"seed", command.seed},
      {"inertia", json_number(result.kmeans.inertia)},
      {"kmeans_converged", result.kmeans.converged},
      {"eigensolver_converged", result.embedding.converged},
      {"n_isolated", result.embedding.isolated.size()},
      {"output", command.output},
  };
  if (labels.size() > 0) {
    summary["accuracy"] = json_number(graph::clustering_accuracy(labels, result.labels));
    summary["nmi"] = json_number(graph::normalized_mutual_information(labels, result.labels));
    summary["ari"] = json_number(graph::adjusted_rand_index(labels, result.labels));
  }
  return summary;
}

const bool registered = register_command(
    {"cluster", "Spectral clustering of an affinity graph (k-means++ on the Laplacian embedding)",
     "sublens cluster w.npz -k 10 -o clusters.npy --labels labels.npy", [](CLI::App& app) {
       auto o = std::make_shared<ClusterCommandOptions>();
       app.add_option("W", o->graph, "Affinity graph, scipy-sparse .npz (N x N, symmetric)")
           ->required();
       app.add_option("-k,--clusters", o->clusters, "Number of clusters")->required();
       app.add_option("--laplacian", o->laplacian, "normalized or none")->capture_default_str();
       app.add_option("-o,--output", o->output, "Cluster of each input, .npy int64 (-1: isolated)")
           ->required();
       app.add_option("--labels", o->labels,
                      "Class labels: report accuracy (Hungarian), NMI and ARI");
       app.add_option("--restarts", o->restarts, "k-means++ restarts")->capture_default_str();
       app.add_option("--seed", o->seed, "Seed of the k-means++ restarts")->capture_default_str();
       return [o] { return cluster_command(*o); };
     }});

}  // namespace
}  // namespace sublens::cli
