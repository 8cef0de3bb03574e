// SSC labels, neighbourhoods and confidently wrong inputs: see include/sublens/graph/inputs.hpp.
#include "sublens/graph/inputs.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "sublens/graph/modularity.hpp"

namespace sublens::graph {
namespace {

constexpr double kProbabilitySumTolerance = 1e-6;

Index class_count(const IntVector& labels, const std::string& what, const std::string& name) {
  if (labels.size() == 0) return 0;
  const std::int64_t low = labels.minCoeff();
  if (low < 0) {
    throw std::invalid_argument(what + ": " + name + " must be >= 0 (found " + std::to_string(low) +
                                ")");
  }
  return static_cast<Index>(labels.maxCoeff()) + 1;
}

double fraction_equal(const IntVector& a, const IntVector& b) {
  if (a.size() == 0) return 0.0;
  return static_cast<double>((a.array() == b.array()).count()) / static_cast<double>(a.size());
}

}  // namespace

SscLabelResult ssc_labels(const SparseMatrix& affinity, const IntVector& labels,
                          const IntVector* predictions) {
  validate_affinity(affinity, "ssc-labels", /*symmetric=*/false);
  validate_labels(affinity, labels, "ssc-labels");
  if (predictions != nullptr) {
    validate_labels(affinity, *predictions, "ssc-labels", "predictions");
    class_count(*predictions, "ssc-labels", "predictions");
  }
  const Index n = affinity.rows();
  SscLabelResult result;
  result.n_classes = class_count(labels, "ssc-labels", "labels");
  result.ssc_labels = IntVector::Constant(n, -1);
#pragma omp parallel
  {
    Vector sums = Vector::Zero(result.n_classes);
#pragma omp for schedule(dynamic, 256)
    for (Index i = 0; i < n; ++i) {
      bool any = false;
      for (SparseMatrix::InnerIterator it(affinity, i); it; ++it) {
        if (it.col() == i || it.value() <= 0.0) continue;
        sums(labels(it.col())) += it.value();
        any = true;
      }
      if (!any) continue;
      Index arg = 0;
      for (Index c = 1; c < result.n_classes; ++c) {
        if (sums(c) > sums(arg)) arg = c;  // strict: ties keep the lowest class
      }
      result.ssc_labels(i) = arg;
      for (SparseMatrix::InnerIterator it(affinity, i); it; ++it) sums(labels(it.col())) = 0.0;
    }
  }
  Index labelled_correct = 0;
  for (Index i = 0; i < n; ++i) {
    if (result.ssc_labels(i) < 0) {
      result.unlabelled.push_back(i);
    } else if (result.ssc_labels(i) == labels(i)) {
      ++labelled_correct;
    }
  }
  const Index labelled = n - static_cast<Index>(result.unlabelled.size());
  result.accuracy = fraction_equal(result.ssc_labels, labels);
  result.accuracy_labelled =
      labelled > 0 ? static_cast<double>(labelled_correct) / static_cast<double>(labelled) : 0.0;
  if (predictions != nullptr) {
    result.has_predictions = true;
    result.prediction_accuracy = fraction_equal(*predictions, labels);
    result.agreement = fraction_equal(result.ssc_labels, *predictions);
  }
  return result;
}

Neighborhood neighborhood(const SparseMatrix& affinity, Index index, const IntVector& labels,
                          const IntVector* predictions, Index top) {
  validate_affinity(affinity, "neighbors", /*symmetric=*/false);
  validate_labels(affinity, labels, "neighbors");
  if (predictions != nullptr) validate_labels(affinity, *predictions, "neighbors", "predictions");
  const Index n = affinity.rows();
  if (index < 0 || index >= n) {
    throw std::invalid_argument("neighbors: --index must satisfy 0 <= index < N (index = " +
                                std::to_string(index) + ", N = " + std::to_string(n) + ")");
  }
  if (top < 0) throw std::invalid_argument("neighbors: --top must be >= 0");
  const Index classes = class_count(labels, "neighbors", "labels");
  Neighborhood result;
  result.index = index;
  result.label = labels(index);
  result.predicted = predictions != nullptr ? (*predictions)(index) : -1;
  result.class_affinity = Vector::Zero(classes);
  std::vector<Neighbor> all;
  for (SparseMatrix::InnerIterator it(affinity, index); it; ++it) {
    if (it.col() == index || it.value() <= 0.0) continue;
    Neighbor neighbor;
    neighbor.index = it.col();
    neighbor.weight = it.value();
    neighbor.label = labels(it.col());
    neighbor.predicted = predictions != nullptr ? (*predictions)(it.col()) : -1;
    result.class_affinity(neighbor.label) += neighbor.weight;
    result.total_affinity += neighbor.weight;
    all.push_back(neighbor);
  }
  if (result.total_affinity > 0.0) {
    Index arg = 0;
    for (Index c = 1; c < classes; ++c) {
      if (result.class_affinity(c) > result.class_affinity(arg)) arg = c;
    }
    result.ssc_label = arg;
    result.class_affinity /= result.total_affinity;
  }
  const auto order = [](const Neighbor& a, const Neighbor& b) {
    return a.weight != b.weight ? a.weight > b.weight : a.index < b.index;
  };
  const auto keep =
      static_cast<std::ptrdiff_t>(std::min<Index>(top, static_cast<Index>(all.size())));
  std::partial_sort(all.begin(), all.begin() + keep, all.end(), order);
  result.top.assign(all.begin(), all.begin() + keep);
  return result;
}

std::vector<ConfidentlyWrong> confidently_wrong(const Eigen::Ref<const RowMatrix>& scores,
                                                const IntVector& labels, Index count,
                                                ScoreKind kind) {
  const Index n = scores.rows(), classes = scores.cols();
  if (labels.size() != n) {
    throw std::invalid_argument("confidently-wrong: scores are " + std::to_string(n) + " x " +
                                std::to_string(classes) + " but labels have " +
                                std::to_string(labels.size()) + " entries");
  }
  if (classes < 2) throw std::invalid_argument("confidently-wrong: scores need >= 2 classes");
  if (count < 0) throw std::invalid_argument("confidently-wrong: count must be >= 0");
  if (!scores.allFinite()) {
    throw std::invalid_argument("confidently-wrong: scores have a non-finite entry");
  }
  if (n > 0 && (labels.minCoeff() < 0 || labels.maxCoeff() >= classes)) {
    throw std::invalid_argument("confidently-wrong: labels must lie in 0 .. " +
                                std::to_string(classes - 1) + " (scores have " +
                                std::to_string(classes) + " columns)");
  }
  if (kind == ScoreKind::kAuto) {
    const bool probabilities =
        scores.minCoeff() >= 0.0 &&
        ((scores.rowwise().sum().array() - 1.0).abs() <= kProbabilitySumTolerance).all();
    kind = probabilities ? ScoreKind::kProbabilities : ScoreKind::kLogits;
  }
  std::vector<ConfidentlyWrong> wrong;
  for (Index i = 0; i < n; ++i) {
    Index arg = 0;
    scores.row(i).maxCoeff(&arg);  // first maximum: ties go to the lowest class
    if (arg == labels(i)) continue;
    double confidence = scores(i, arg);
    if (kind == ScoreKind::kLogits) {
      confidence = 1.0 / (scores.row(i).array() - scores(i, arg)).exp().sum();
    }
    wrong.push_back({i, labels(i), static_cast<std::int64_t>(arg), confidence});
  }
  std::stable_sort(wrong.begin(), wrong.end(),
                   [](const auto& a, const auto& b) { return a.confidence > b.confidence; });
  if (static_cast<Index>(wrong.size()) > count) wrong.resize(static_cast<std::size_t>(count));
  return wrong;
}

}  // namespace sublens::graph
