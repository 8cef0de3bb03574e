// Bindings of sublens/graph: modularity, communities, spectral embedding/clustering, SSC labels,
// neighbourhoods.
#include <utility>

#include "common.hpp"
#include "sublens/graph/inputs.hpp"
#include "sublens/graph/modularity.hpp"
#include "sublens/graph/spectral.hpp"

namespace sublens::python {

namespace {

namespace graph = sublens::graph;

py::list index_list(const std::vector<Index>& indices) {
  py::list list;
  for (const auto index : indices) list.append(index);
  return list;
}

py::dict embedding_values(graph::EmbeddingResult&& result) {
  py::dict values;
  values["embedding"] = from_matrix(std::move(result.embedding));
  values["eigenvalues"] = from_vector(std::move(result.eigenvalues));
  values["isolated"] = index_list(result.isolated);
  values["converged"] = result.converged;
  values["iterations"] = result.iterations;
  values["matrix_products"] = result.matrix_products;
  values["solver"] = result.solver;
  values["seconds"] = result.seconds;
  return values;
}

const Choice<graph::CommunityMethod> kCommunityMethod{
    "detect_communities", "method", {"leiden", "louvain"}, graph::parse_community_method};

Choice<graph::LaplacianKind> laplacian_choice(const std::string& function) {
  return {function, "laplacian", {"normalized", "none"}, graph::parse_laplacian};
}

// The Neighbor results of Neighborhood::top.
py::list neighbor_list(const std::vector<graph::Neighbor>& top) {
  py::list neighbors;
  for (const auto& neighbor : top) {
    py::dict entry;
    entry["index"] = neighbor.index;
    entry["weight"] = neighbor.weight;
    entry["label"] = neighbor.label;
    entry["predicted"] = neighbor.predicted;
    neighbors.append(make_result("Neighbor", entry));
  }
  return neighbors;
}

}  // namespace

void bind_graph(py::module_& m) {
  const graph::ModularityOptions modularity_defaults;
  m.def(
      "modularity",
      [](const py::object& affinity, const py::object& labels, double resolution) {
        const SparseMatrix w = to_sparse(affinity, "modularity: affinity");
        const IntVector classes = to_int_vector(labels, "modularity: labels");
        graph::ModularityResult result;
        {
          py::gil_scoped_release release;
          result = graph::modularity(w, classes, {.resolution = resolution});
        }
        py::dict values;
        values["modularity"] = result.modularity;
        values["n_communities"] = result.n_communities;
        values["n_isolated"] = result.n_isolated;
        values["total_weight"] = result.total_weight;
        return make_result("ModularityResult", values);
      },
      py::arg("affinity"), py::arg("labels"), py::kw_only(),
      py::arg("resolution") = modularity_defaults.resolution, R"doc(
Modularity of a labelled weighted graph (Newman 2006; the SSC paper's eq. 5):

    Q = 1/(2m) sum_ij (A_ij - gamma k_i k_j / (2m)) delta(c_i, c_j)

`affinity` is a symmetric non-negative N x N scipy.sparse matrix (or dense array), `labels` an
integer vector of length N, gamma = resolution. Returns ModularityResult(modularity,
n_communities, n_isolated, total_weight).

Example:
    >>> sublens.modularity(r.affinity, labels).modularity
)doc");

  const graph::CommunityOptions community_defaults;
  m.def(
      "detect_communities",
      [](const py::object& affinity, const std::string& method, double resolution,
         std::uint64_t seed) {
        const SparseMatrix w = to_sparse(affinity, "detect_communities: affinity");
        graph::CommunityOptions options;
        options.method = kCommunityMethod.parse(method);
        options.resolution = resolution;
        options.seed = seed;
        graph::CommunityResult result;
        {
          py::gil_scoped_release release;
          result = graph::detect_communities(w, options);
        }
        py::dict values;
        values["membership"] = from_int_vector(result.membership);
        values["n_communities"] = result.n_communities;
        values["modularity"] = result.modularity;
        values["method"] = graph::to_string(result.method);
        values["seconds"] = result.seconds;
        return make_result("CommunityResult", values);
      },
      py::arg("affinity"), py::kw_only(),
      py::arg("method") = kCommunityMethod.name(community_defaults.method),
      py::arg("resolution") = community_defaults.resolution,
      py::arg("seed") = community_defaults.seed, R"doc(
Community detection (igraph Leiden or Louvain, modularity objective with resolution gamma) on the
undirected weighted graph of `affinity`. Returns CommunityResult(membership (0-based, length N),
n_communities, modularity (Q of the partition), method, seconds).

Example:
    >>> c = sublens.detect_communities(r.affinity, method="louvain", seed=1)
)doc");

  const graph::EmbeddingOptions embedding_defaults;
  m.def(
      "spectral_embedding",
      [](const py::object& affinity, Index dimensions, const std::string& laplacian,
         Index max_iterations, double tolerance) {
        const SparseMatrix w = to_sparse(affinity, "spectral_embedding: affinity");
        graph::EmbeddingOptions options;
        options.dimensions = dimensions;
        options.laplacian = laplacian_choice("spectral_embedding").parse(laplacian);
        options.max_iterations = max_iterations;
        options.tolerance = tolerance;
        graph::EmbeddingResult result;
        {
          py::gil_scoped_release release;
          result = graph::spectral_embedding(w, options);
        }
        return make_result("EmbeddingResult", embedding_values(std::move(result)));
      },
      py::arg("affinity"), py::kw_only(), py::arg("dimensions") = embedding_defaults.dimensions,
      py::arg("laplacian") = graph::to_string(embedding_defaults.laplacian),
      py::arg("max_iterations") = embedding_defaults.max_iterations,
      py::arg("tolerance") = embedding_defaults.tolerance, R"doc(
Spectral embedding: the k = dimensions largest eigenvectors of S = D^{-1/2} W D^{-1/2}
(laplacian="normalized", i.e. the smallest of L_sym = I - S) or of W (laplacian="none"); unit
length, sign fixed, NaN rows for isolated inputs. Returns EmbeddingResult(embedding (N x k),
eigenvalues, isolated, converged, iterations, matrix_products, solver, seconds).

Example:
    >>> xy = sublens.spectral_embedding(r.affinity, dimensions=2).embedding
)doc");

  const graph::SpectralClusteringOptions clustering_defaults;
  m.def(
      "spectral_clustering",
      [](const py::object& affinity, Index clusters, const std::string& laplacian, int restarts,
         std::uint64_t seed, Index max_iterations) {
        const SparseMatrix w = to_sparse(affinity, "spectral_clustering: affinity");
        graph::SpectralClusteringOptions options;
        options.clusters = clusters;
        options.laplacian = laplacian_choice("spectral_clustering").parse(laplacian);
        options.restarts = restarts;
        options.seed = seed;
        options.max_iterations = max_iterations;
        graph::SpectralClusteringResult result;
        {
          py::gil_scoped_release release;
          result = graph::spectral_clustering(w, options);
        }
        py::dict values;
        values["labels"] = from_int_vector(result.labels);
        values["inertia"] = result.kmeans.inertia;
        values["kmeans_converged"] = result.kmeans.converged;
        values["kmeans_iterations"] = result.kmeans.iterations;
        values["embedding"] =
            make_result("EmbeddingResult", embedding_values(std::move(result.embedding)));
        return make_result("SpectralClusteringResult", values);
      },
      py::arg("affinity"), py::kw_only(), py::arg("clusters") = clustering_defaults.clusters,
      py::arg("laplacian") = graph::to_string(clustering_defaults.laplacian),
      py::arg("restarts") = clustering_defaults.restarts,
      py::arg("seed") = clustering_defaults.seed,
      py::arg("max_iterations") = clustering_defaults.max_iterations, R"doc(
Spectral clustering (Ng, Jordan & Weiss 2001): embed with k = clusters, normalise rows, k-means
(k-means++ seeding, `restarts` seeded runs, lowest inertia kept). Isolated inputs get -1.
Returns SpectralClusteringResult(labels, inertia, kmeans_converged, kmeans_iterations, embedding).

Example:
    >>> sublens.spectral_clustering(r.affinity, clusters=10, seed=0).labels
)doc");

  m.def(
      "ssc_labels",
      [](const py::object& affinity, const py::object& labels, const py::object& predictions) {
        const SparseMatrix w = to_sparse(affinity, "ssc_labels: affinity");
        const IntVector classes = to_int_vector(labels, "ssc_labels: labels");
        IntVector predicted;
        if (!predictions.is_none())
          predicted = to_int_vector(predictions, "ssc_labels: predictions");
        graph::SscLabelResult result;
        {
          py::gil_scoped_release release;
          result = graph::ssc_labels(w, classes, predictions.is_none() ? nullptr : &predicted);
        }
        py::dict values;
        values["ssc_labels"] = from_int_vector(result.ssc_labels);
        values["unlabelled"] = index_list(result.unlabelled);
        values["n_classes"] = result.n_classes;
        values["accuracy"] = result.accuracy;
        values["accuracy_labelled"] = result.accuracy_labelled;
        if (result.has_predictions) {
          values["prediction_accuracy"] = result.prediction_accuracy;
          values["agreement"] = result.agreement;
        }
        return make_result("SscLabelResult", values);
      },
      py::arg("affinity"), py::arg("labels"), py::arg("predictions") = py::none(), R"doc(
SSC labels (the paper's Table 1): label_i = argmax_c sum_{j != i, label_j = c} W_ij (ties to the
lowest class; -1 without neighbours). Returns SscLabelResult(ssc_labels, unlabelled, n_classes,
accuracy, accuracy_labelled[, prediction_accuracy, agreement when predictions are given]).

Example:
    >>> sublens.ssc_labels(r.affinity, labels, predictions).accuracy
)doc");

  m.def(
      "neighbors",
      [](const py::object& affinity, Index index, const py::object& labels,
         const py::object& predictions, Index top) {
        const SparseMatrix w = to_sparse(affinity, "neighbors: affinity");
        const IntVector classes = to_int_vector(labels, "neighbors: labels");
        IntVector predicted;
        if (!predictions.is_none())
          predicted = to_int_vector(predictions, "neighbors: predictions");
        graph::Neighborhood result;
        {
          py::gil_scoped_release release;
          result = graph::neighborhood(w, index, classes,
                                       predictions.is_none() ? nullptr : &predicted, top);
        }
        py::dict values;
        values["index"] = result.index;
        values["label"] = result.label;
        values["predicted"] = result.predicted;
        values["ssc_label"] = result.ssc_label;
        values["total_affinity"] = result.total_affinity;
        values["class_affinity"] = from_vector(std::move(result.class_affinity));
        values["top"] = neighbor_list(result.top);
        return make_result("Neighborhood", values);
      },
      py::arg("affinity"), py::arg("index"), py::arg("labels"), py::arg("predictions") = py::none(),
      py::kw_only(), py::arg("top") = 8 /* as `sublens neighbors --top` */, R"doc(
Neighbourhood of input `index` in the affinity graph (the paper's Fig. 9): class_affinity[c] =
sum_{j != i, label_j = c} W_ij / sum_{j != i} W_ij, and the `top` strongest neighbours (weight
descending). Returns Neighborhood(index, label, predicted, ssc_label, total_affinity,
class_affinity, top = [Neighbor(index, weight, label, predicted), ...]).

Example:
    >>> nb = sublens.neighbors(r.affinity, 17, labels, top=5); nb.top[0]
)doc");
}

}  // namespace sublens::python
