// `sublens cka-matrix`: CKA between all pairs of layers of one source, or layers of A x layers of
// B (two epochs, two networks). A source is a folder of scipy-sparse .npz graphs (as written by
// `sublens ssc --all-layers`, names = file stems, in the network order its layers.json records,
// else natural order), one sparse .npz graph, or an activations file (.npy/.npz/.safetensors,
// layers in file order). --layers (names or globs) selects the layers and sets the matrix order.
// Each layer's own quantities are computed once. Writes the matrix (.npy) and a CSV with the
// layer names.
//
// Under mpirun/srun the pairs are handed out to the processes as they become free (one
// dist::TaskQueue task per pair); every process reads the sources and computes each layer's own
// quantities itself, rank 0 gathers the values (8 bytes a pair), writes the files and prints the
// JSON. Each pair's value depends on its two layers only: the files are the single process's, byte
// for byte. Pays when pairs dominate (many layers; linear CKA on wide layers).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "command.hpp"
#include "sublens/core/error.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/core/threads.hpp"
#include "sublens/dist/dist.hpp"
#include "sublens/io/io.hpp"
#include "sublens/similarity/cka.hpp"

namespace sublens::cli {
namespace {

namespace fs = std::filesystem;

struct CkaMatrixCommandOptions {
  std::string a, b;
  std::string kind = "auto";
  std::string estimator = "biased";
  std::vector<std::string> layers;  // --layers: names or globs, in matrix order
  std::string output;
  std::string csv;
  int threads = 0;
};

// "block2" < "block10".
bool natural_less(const std::string& x, const std::string& y) {
  std::size_t i = 0, j = 0;
  while (i < x.size() && j < y.size()) {
    if (std::isdigit(static_cast<unsigned char>(x[i])) &&
        std::isdigit(static_cast<unsigned char>(y[j]))) {
      std::size_t i_end = i, j_end = j;
      while (i_end < x.size() && std::isdigit(static_cast<unsigned char>(x[i_end]))) ++i_end;
      while (j_end < y.size() && std::isdigit(static_cast<unsigned char>(y[j_end]))) ++j_end;
      const std::string a = x.substr(i, i_end - i), b = y.substr(j, j_end - j);
      const std::string a_trim = a.substr(std::min(a.find_first_not_of('0'), a.size()));
      const std::string b_trim = b.substr(std::min(b.find_first_not_of('0'), b.size()));
      if (a_trim.size() != b_trim.size()) return a_trim.size() < b_trim.size();
      if (a_trim != b_trim) return a_trim < b_trim;
      i = i_end;
      j = j_end;
    } else {
      if (x[i] != y[j]) return x[i] < y[j];
      ++i;
      ++j;
    }
  }
  return x.size() - i < y.size() - j;
}

struct Source {
  std::vector<std::string> names;
  std::vector<SparseMatrix> graphs;
  std::vector<RowMatrix> activations;
};

// A graph folder's layers, each with its file: in the order of the folder's layers.json (network
// order, written by `ssc --all-layers`) when it has one, unlisted files after them in natural
// order.
std::vector<std::pair<std::string, fs::path>> folder_graphs(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".npz") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end(), [](const fs::path& x, const fs::path& y) {
    return natural_less(x.stem().string(), y.stem().string());
  });
  if (files.empty()) throw InputError(dir.string(), "graphs", "folder holds no .npz graph");
  std::vector<std::pair<std::string, fs::path>> graphs;
  graphs.reserve(files.size());
  for (const auto& file : files) {
    graphs.emplace_back(io::layer_name_from_stem(file.stem().string()), file);
  }
  const auto order = io::read_layer_order(dir);
  if (!order) return graphs;
  std::vector<std::pair<std::string, fs::path>> ordered;
  for (const auto& name : *order) {
    const auto it = std::find_if(graphs.begin(), graphs.end(),
                                 [&](const auto& graph) { return graph.first == name; });
    if (it == graphs.end()) {
      throw InputError(
          (dir / io::kLayerOrderFile).string(), "layers",
          "lists '" + name + "' but the folder has no " + io::layer_file_stem(name) + ".npz");
    }
    ordered.push_back(*it);
    graphs.erase(it);
  }
  ordered.insert(ordered.end(), graphs.begin(), graphs.end());
  return ordered;
}

Source load_source(const std::string& path, bool graph, const std::vector<std::string>& layers) {
  Source source;
  if (graph) {
    std::vector<std::pair<std::string, fs::path>> graphs;
    if (fs::is_directory(path)) {
      graphs = folder_graphs(path);
    } else {
      graphs.emplace_back(io::layer_name_from_stem(fs::path(path).stem().string()), path);
    }
    std::vector<std::string> available;
    available.reserve(graphs.size());
    for (const auto& graph_file : graphs) available.push_back(graph_file.first);
    for (const auto& name : select_layers(path, available, layers)) {
      const auto it = std::find_if(graphs.begin(), graphs.end(), [&](const auto& graph_file) {
        return graph_file.first == name;
      });
      source.names.push_back(name);
      source.graphs.push_back(read_affinity_graph(it->second, "A"));
      source.graphs.back().makeCompressed();
    }
  } else {
    if (fs::is_directory(path)) {
      throw InputError(path, "A", "is a folder; linear/rbf CKA needs an activations file");
    }
    for (auto& layer : io::load_activations(path, select_activation_layers(path, layers))) {
      source.names.push_back(layer.name);
      source.activations.push_back(std::move(layer.values));
    }
  }
  return source;
}

// Rank 0's matrix from every process's pairs (the others computed NaN there); a single process
// computed them all.
void gather_pairs(Matrix& values, const dist::TaskQueue& queue, bool square) {
  if (!dist::distributed()) return;
  const auto pairs = similarity::matrix_pairs(values.rows(), values.cols(), square);
  std::vector<std::pair<std::int64_t, std::string>> mine;
  for (const std::int64_t p : queue.taken()) {
    const auto [i, j] = pairs[static_cast<std::size_t>(p)];
    const double value = values(i, j);
    mine.emplace_back(p, std::string(reinterpret_cast<const char*>(&value), sizeof value));
  }
  const std::vector<std::string> all = dist::gather_results(queue.count(), std::move(mine));
  for (std::size_t p = 0; p < all.size(); ++p) {
    const auto [i, j] = pairs[p];
    std::memcpy(&values(i, j), all[p].data(), sizeof(double));
    if (square) values(j, i) = values(i, j);
  }
}

nlohmann::json cka_matrix_command(const CkaMatrixCommandOptions& command) {
  if (!fs::exists(command.a)) throw InputError(command.a, "A", "does not exist");
  if (!command.b.empty() && !fs::exists(command.b)) {
    throw InputError(command.b, "B", "does not exist");
  }
  require_writable_file(command.output, "-o");
  const std::string csv_path = command.csv.empty()
                                   ? fs::path(command.output).replace_extension(".csv").string()
                                   : command.csv;
  require_writable_file(csv_path, "--csv");
  const similarity::HsicEstimator estimator = similarity::parse_estimator(command.estimator);
  similarity::CkaKind parsed_kind = similarity::parse_kind(command.kind);
  if (parsed_kind == similarity::CkaKind::kAuto) {
    parsed_kind = fs::is_directory(command.a) || is_sparse_npz(command.a)
                      ? similarity::CkaKind::kGraph
                      : similarity::CkaKind::kLinear;
  }
  const std::string kind = similarity::to_string(parsed_kind);
  const bool graph = kind == "graph";
  const Source a = load_source(command.a, graph, command.layers);
  Source b;
  if (!command.b.empty()) b = load_source(command.b, graph, command.layers);
  const bool square = command.b.empty();
  // Under mpirun, K processes share the node's cores unless --threads says otherwise.
  set_threads(dist::launched() ? dist::threads_per_process(command.threads) : command.threads);

  const auto rows = static_cast<Index>(a.names.size());
  const auto cols = static_cast<Index>(square ? a.names.size() : b.names.size());
  dist::TaskQueue queue(
      static_cast<std::int64_t>(similarity::matrix_pairs(rows, cols, square).size()));
  dist::GlobalCounter done;  // pairs finished on every process: rank 0's progress line
  Progress progress("cka-matrix", queue.count(), dist::distributed());
  std::int64_t shown = 0;
  // Split: each call after the first means this process finished a pair. One process: none, the
  // matrix functions take every pair and print their own progress.
  similarity::NextPair next_pair;
  if (dist::distributed()) {
    next_pair = [&, first = true]() mutable {
      if (!first) {
        const std::int64_t total = done.add(1);
        progress.advance(total - shown);
        shown = total;
      }
      first = false;
      return queue.next();
    };
  }
  Matrix values;
  if (graph) {
    std::vector<const SparseMatrix*> pa, pb;
    for (const auto& g : a.graphs) pa.push_back(&g);
    for (const auto& g : b.graphs) pb.push_back(&g);
    similarity::CkaOptions options;
    options.estimator = estimator;
    options.next_pair = next_pair;
    values = similarity::graph_cka_matrix(pa, pb, options);
  } else {
    std::vector<const RowMatrix*> pa, pb;
    for (const auto& m : a.activations) pa.push_back(&m);
    for (const auto& m : b.activations) pb.push_back(&m);
    similarity::LinearCkaOptions options;
    options.estimator = estimator;
    options.next_pair = next_pair;
    values = similarity::activation_cka_matrix(
        pa, pb,
        kind == "rbf" ? similarity::ActivationKernel::kRbf : similarity::ActivationKernel::kLinear,
        options);
  }
  progress.finish();
  gather_pairs(values, queue, square);
  if (!dist::is_root()) return nullptr;  // rank 0 writes and reports

  const std::vector<std::string>& column_names = square ? a.names : b.names;
  io::write_matrix(command.output, RowMatrix(values));
  std::ostringstream csv;
  csv << "layer";
  for (const auto& name : column_names) csv << ',' << csv_field(name);
  csv << '\n';
  char number[64];
  for (Index i = 0; i < values.rows(); ++i) {
    csv << csv_field(a.names[static_cast<std::size_t>(i)]);
    for (Index j = 0; j < values.cols(); ++j) {
      std::snprintf(number, sizeof(number), "%.17g", values(i, j));
      csv << ',' << number;
    }
    csv << '\n';
  }
  io::write_file_atomically(csv_path, csv.str());
  return {
      {"a", command.a},
      {"b", square ? nlohmann::json(nullptr) : nlohmann::json(command.b)},
      {"kind", kind},
      {"estimator", similarity::to_string(estimator)},
      {"rows", a.names},
      {"cols", column_names},
      {"output", command.output},
      {"csv", csv_path},
  };
}

const bool registered = register_command(
    {"cka-matrix", "CKA between all pairs of layers (one source) or layers of A x layers of B",
     "sublens cka-matrix graphs_epoch100/ --kind graph --estimator biased -o cka.npy",
     [](CLI::App& app) {
       auto o = std::make_shared<CkaMatrixCommandOptions>();
       app.add_option("A", o->a,
                      "Folder of scipy-sparse .npz graphs (one per layer), one .npz graph, or an "
                      "activations file")
           ->required();
       app.add_option("B", o->b, "Optional second source (rows: A's layers, columns: B's)");
       app.add_option("--kind", o->kind,
                      "graph, linear or rbf; auto: graph for folders and sparse .npz, else linear")
           ->capture_default_str();
       app.add_option("--estimator", o->estimator, "biased or unbiased")->capture_default_str();
       add_layers_option(app, o->layers,
                         "Layers in matrix order (default: all, in file order or a graph "
                         "folder's network order)",
                         "--layers", {"--layer"});
       app.add_option("-o,--output", o->output, "CKA matrix, .npy float64")->required();
       app.add_option("--csv", o->csv, "CSV with layer names (default: -o with .csv)");
       app.add_option("--threads", o->threads,
                      "Threads (0: all cores; under mpirun: the node's cores / its processes)")
           ->check(CLI::NonNegativeNumber);
       return [o] { return cka_matrix_command(*o); };
     }});

}  // namespace
}  // namespace sublens::cli
