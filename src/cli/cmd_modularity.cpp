// `sublens modularity`: modularity of an affinity graph with the class labels as communities
// (the SSC paper's eq. 5), optionally with Leiden/Louvain community detection (igraph) and the
// detected partition's modularity, NMI and ARI against the labels.
#include <memory>
#include <string>

#include "command.hpp"
#include "sublens/graph/metrics.hpp"
#include "sublens/graph/modularity.hpp"
#include "sublens/io/io.hpp"

namespace sublens::cli {
namespace {

struct ModularityCommandOptions {
  std::string graph;              // W.npz (scipy sparse)
  std::string labels;             // --labels L.npy
  double resolution = 1.0;        // --resolution
  bool detect = false;            // --detect
  std::string method = "leiden";  // --method
  std::uint64_t seed = 0;         // --seed
  std::string communities_out;    // --communities-out C.npy (optional)
};

nlohmann::json modularity_command(const ModularityCommandOptions& command) {
  require_readable_file(command.graph, "W");
  require_readable_file(command.labels, "--labels");
  const graph::CommunityMethod method = graph::parse_community_method(command.method);
  if (!command.communities_out.empty()) {
    if (!command.detect) {
      throw std::invalid_argument("modularity: --communities-out needs --detect");
    }
    require_writable_file(command.communities_out, "--communities-out");
  }
  const SparseMatrix affinity = read_affinity_graph(command.graph, "W");
  const IntVector labels = read_int_vector(command.labels);
  graph::ModularityOptions options;
  options.resolution = command.resolution;
  const graph::ModularityResult result = graph::modularity(affinity, labels, options);
  nlohmann::json summary = {
      {"graph", command.graph},           {"n", affinity.rows()},
      {"nnz", affinity.nonZeros()},       {"modularity", json_number(result.modularity)},
      {"resolution", options.resolution}, {"n_classes", result.n_communities},
      {"n_isolated", result.n_isolated},  {"total_weight", json_number(result.total_weight)},
  };
  if (command.detect) {
    graph::CommunityOptions detect;
    detect.method = method;
    detect.resolution = command.resolution;
    detect.seed = command.seed;
    const graph::CommunityResult communities = graph::detect_communities(affinity, detect);
    summary["detected"] = {
        {"method", graph::to_string(communities.method)},
        {"seed", command.seed},
        {"n_communities", communities.n_communities},
        {"modularity", json_number(communities.modularity)},
        {"nmi", json_number(graph::normalized_mutual_information(labels, communities.membership))},
        {"ari", json_number(graph::adjusted_rand_index(labels, communities.membership))},
        {"accuracy", json_number(graph::clustering_accuracy(labels, communities.membership))},
        {"seconds", communities.seconds},
    };
    if (!command.communities_out.empty()) {
      io::write_npy(
          command.communities_out,
          io::NdArray::from_int64({communities.membership.size()}, communities.membership.data()));
      summary["detected"]["output"] = command.communities_out;
    }
  }
  return summary;
}

const bool registered = register_command(
    {"modularity", "Modularity of an affinity graph with class labels as communities (eq. 5)",
     "sublens modularity w.npz --labels labels.npy --detect --method leiden", [](CLI::App& app) {
       auto o = std::make_shared<ModularityCommandOptions>();
       app.add_option("W", o->graph, "Affinity graph, scipy-sparse .npz (N x N, symmetric)")
           ->required();
       app.add_option("--labels", o->labels, "Class labels, .npy integer vector of length N")
           ->required();
       app.add_option("--resolution", o->resolution, "Resolution gamma (1 in the paper)")
           ->capture_default_str();
       CLI::Option* detect =
           app.add_flag("--detect", o->detect,
                        "Also detect communities and compare them with the labels (NMI, ARI)");
       // The detection options mean nothing without --detect: a usage error, not ignored.
       app.add_option("--method", o->method, "Community detection: leiden or louvain (igraph)")
           ->capture_default_str()
           ->needs(detect);
       app.add_option("--seed", o->seed, "Seed of igraph's random generator")
           ->capture_default_str()
           ->needs(detect);
       app.add_option("--communities-out", o->communities_out,
                      "Write the detected communities (.npy int64, length N)")
           ->needs(detect);
       return [o] { return modularity_command(*o); };
     }});

}  // namespace
}  // namespace sublens::cli
