// `sublens ssc-labels`: the class with the largest summed affinity of each input's neighbours,
// its accuracy, the network's accuracy and their agreement (the SSC paper's Table 1).
#include <memory>
#include <string>

#include "command.hpp"
#include "sublens/graph/inputs.hpp"
#include "sublens/io/io.hpp"

namespace sublens::cli {
namespace {

constexpr std::size_t kListedUnlabelled = 100;  // indices listed in the JSON summary

struct SscLabelsCommandOptions {
  std::string graph;
  std::string labels;
  std::string predictions;
  std::string output;
};

nlohmann::json ssc_labels_command(const SscLabelsCommandOptions& command) {
  require_readable_file(command.graph, "W");
  require_readable_file(command.labels, "--labels");
  if (!command.predictions.empty()) require_readable_file(command.predictions, "--predictions");
  if (!command.output.empty()) require_writable_file(command.output, "-o");
  const SparseMatrix affinity = read_affinity_graph(command.graph, "W");
  const IntVector labels = read_labels(command.labels);
  IntVector predictions;
  if (!command.predictions.empty()) {
    predictions = read_int_vector(command.predictions);
  }
  const graph::SscLabelResult result =
      graph::ssc_labels(affinity, labels, command.predictions.empty() ? nullptr : &predictions);
  if (!command.output.empty()) {
    io::write_npy(command.output,
                  io::NdArray::from_int64({result.ssc_labels.size()}, result.ssc_labels.data()));
  }
  nlohmann::json unlabelled = nlohmann::json::array();
  for (std::size_t i = 0; i < result.unlabelled.size() && i < kListedUnlabelled; ++i) {
    unlabelled.push_back(result.unlabelled[i]);
  }
  nlohmann::json summary = {
      {"graph", command.graph},
      {"n", affinity.rows()},
      {"n_classes", result.n_classes},
      {"ssc_accuracy", json_number(result.accuracy)},
      {"ssc_accuracy_labelled", json_number(result.accuracy_labelled)},
      {"n_unlabelled", result.unlabelled.size()},
      {"unlabelled", unlabelled},
      {"unlabelled_truncated", result.unlabelled.size() > kListedUnlabelled},
  };
  if (result.has_predictions) {
    summary["network_accuracy"] = json_number(result.prediction_accuracy);
    summary["agreement"] = json_number(result.agreement);
  }
  if (!command.output.empty()) summary["output"] = command.output;
  return summary;
}

const bool registered = register_command(
    {"ssc-labels",
     "SSC label of each input (class with the largest summed neighbour affinity), Table 1",
     "sublens ssc-labels w.npz --labels labels.npy --predictions predictions.npy -o ssc.npy",
     [](CLI::App& app) {
       auto o = std::make_shared<SscLabelsCommandOptions>();
       app.add_option("W", o->graph, "Affinity graph, scipy-sparse .npz (N x N)")->required();
       app.add_option("--labels", o->labels, "Class labels, .npy integer vector (0 .. C-1)")
           ->required();
       app.add_option("--predictions", o->predictions,
                      "The network's predicted classes, .npy integer vector");
       app.add_option("-o,--output", o->output, "SSC labels (.npy int64; -1: no neighbour)");
       return [o] { return ssc_labels_command(*o); };
     }});

}  // namespace
}  // namespace sublens::cli
