// `sublens neighbors`: the neighbourhood of inputs in an affinity graph (normalised class-wise
// affinity and the top-k neighbours), for chosen inputs or for the m most confidently wrong ones.
// One JSON object per input on stdout.
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "sublens/graph/inputs.hpp"
#include "sublens/io/io.hpp"

namespace sublens::cli {
namespace {

struct NeighborsCommandOptions {
  std::string graph;
  std::vector<Index> indices;  // --index (repeatable)
  std::string labels;
  std::string predictions;
  std::string scores;               // --scores logits or softmax (N x classes)
  std::string score_kind = "auto";  // --score-kind
  Index confidently_wrong = 0;      // --confidently-wrong M
  Index top = 8;
};

graph::ScoreKind parse_score_kind(const std::string& name) {
  if (name == "auto") return graph::ScoreKind::kAuto;
  if (name == "logits") return graph::ScoreKind::kLogits;
  if (name == "softmax" || name == "probabilities") return graph::ScoreKind::kProbabilities;
  throw std::invalid_argument("neighbors: --score-kind must be auto, logits or softmax (got '" +
                              name + "')");
}

nlohmann::json neighbors_command(const NeighborsCommandOptions& command) {
  require_readable_file(command.graph, "W");
  require_readable_file(command.labels, "--labels");
  if (!command.predictions.empty()) require_readable_file(command.predictions, "--predictions");
  if (command.confidently_wrong < 0) {
    throw std::invalid_argument("neighbors: --confidently-wrong must be >= 0");
  }
  if (command.confidently_wrong > 0 && command.scores.empty()) {
    throw std::invalid_argument(
        "neighbors: --confidently-wrong needs --scores (logits or softmax)");
  }
  if (command.indices.empty() && command.confidently_wrong == 0) {
    throw std::invalid_argument("neighbors: give --index I (repeatable) or --confidently-wrong M");
  }
  if (!command.scores.empty()) require_readable_file(command.scores, "--scores");
  const graph::ScoreKind kind = parse_score_kind(command.score_kind);

  const SparseMatrix affinity = read_affinity_graph(command.graph, "W");
  const IntVector labels = read_labels(command.labels);
  IntVector predictions;
  RowMatrix scores;
  if (!command.scores.empty()) scores = io::read_matrix(command.scores);
  if (!command.predictions.empty()) {
    predictions = read_int_vector(command.predictions);
  } else if (scores.size() > 0) {
    predictions.resize(scores.rows());
    for (Index i = 0; i < scores.rows(); ++i) {
      Index arg = 0;
      scores.row(i).maxCoeff(&arg);
      predictions(i) = arg;
    }
  }
  const IntVector* prediction_pointer = predictions.size() > 0 ? &predictions : nullptr;

  struct Request {
    Index index;
    double confidence;  // NaN when not from --confidently-wrong
  };
  std::vector<Request> requests;
  for (Index index : command.indices) requests.push_back({index, std::nan("")});
  if (command.confidently_wrong > 0) {
    for (const auto& wrong :
         graph::confidently_wrong(scores, labels, command.confidently_wrong, kind)) {
      requests.push_back({wrong.index, wrong.confidence});
    }
  }
  std::vector<nlohmann::json> rows;
  for (const auto& request : requests) {
    const graph::Neighborhood hood =
        graph::neighborhood(affinity, request.index, labels, prediction_pointer, command.top);
    nlohmann::json top = nlohmann::json::array();
    for (const auto& neighbor : hood.top) {
      nlohmann::json entry = {{"index", neighbor.index},
                              {"weight", json_number(neighbor.weight)},
                              {"label", neighbor.label}};
      if (prediction_pointer != nullptr) entry["predicted"] = neighbor.predicted;
      top.push_back(entry);
    }
    std::vector<double> distribution(hood.class_affinity.data(),
                                     hood.class_affinity.data() + hood.class_affinity.size());
    nlohmann::json row = {
        {"index", hood.index},
        {"label", hood.label},
        {"ssc_label", hood.ssc_label},
        {"total_affinity", json_number(hood.total_affinity)},
        {"class_affinity", distribution},
        {"top", top},
    };
    if (prediction_pointer != nullptr) row["predicted"] = hood.predicted;
    if (!std::isnan(request.confidence)) row["confidence"] = request.confidence;
    rows.push_back(row);
  }
  if (rows.size() == 1) return rows.front();
  for (const auto& row : rows) std::cout << row.dump() << std::endl;
  return nullptr;
}

const bool registered = register_command(
    {"neighbors",
     "Class-wise affinity and top-k neighbours of inputs (or of the most confidently wrong ones)",
     "sublens neighbors w.npz --index 17 --labels labels.npy --predictions predictions.npy --top 8",
     [](CLI::App& app) {
       auto o = std::make_shared<NeighborsCommandOptions>();
       app.add_option("W", o->graph, "Affinity graph, scipy-sparse .npz (N x N)")->required();
       app.add_option("--index", o->indices, "Input index (0-based; repeatable)");
       app.add_option("--labels", o->labels, "Class labels, .npy integer vector (0 .. C-1)")
           ->required();
       app.add_option("--predictions", o->predictions,
                      "Predicted classes, .npy integer vector (default: argmax of --scores)");
       app.add_option("--scores", o->scores, "Logits or softmax outputs, .npy N x classes");
       app.add_option("--score-kind", o->score_kind, "auto, logits or softmax")
           ->capture_default_str();
       app.add_option("--confidently-wrong", o->confidently_wrong,
                      "Also report the M misclassified inputs with the highest confidence");
       app.add_option("--top", o->top, "Neighbours listed per input")->capture_default_str();
       return [o] { return neighbors_command(*o); };
     }});

}  // namespace
}  // namespace sublens::cli
