// `sublens cka`: CKA between two affinity graphs (sparse O(nnz), or dense .npy kernels) or two
// activation layers (linear or RBF), with the HSIC estimator named in the output.
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "sublens/core/error.hpp"
#include "sublens/io/io.hpp"
#include "sublens/similarity/cka.hpp"

namespace sublens::cli {
namespace {

namespace fs = std::filesystem;

struct CkaCommandOptions {
  std::string a, b;
  std::string kind = "auto";  // auto | graph | linear | rbf
  std::string estimator = "biased";
  std::vector<std::string> layers;              // --layers: the layer of A and of B
  std::vector<std::string> layers_a, layers_b;  // --layers-a / --layers-b: per operand
  std::string method = "auto";                  // linear: auto | feature | gram
};

// The one layer of an activations file that `patterns` select (names or globs).
io::Layer load_layer(const std::string& path, const std::vector<std::string>& patterns,
                     const std::string& option) {
  const std::vector<std::string> names = select_activation_layers(path, patterns, option);
  if (names.size() != 1) {
    std::string listed;
    for (const auto& name : names) listed += (listed.empty() ? "" : ", ") + name;
    throw InputError(path, option,
                     (patterns.empty() ? "holds " : "matches ") + std::to_string(names.size()) +
                         " layers; choose one with " + option + " NAME (" + listed + ")");
  }
  return std::move(io::load_activations(path, names).front());
}

// A graph operand: sparse .npz, or a dense N x N .npy kernel.
struct GraphOperand {
  bool dense = false;
  SparseMatrix sparse;
  Matrix full;
};

GraphOperand load_graph(const std::string& path) {
  GraphOperand operand;
  if (is_sparse_npz(path)) {
    operand.sparse = io::read_sparse_npz(path);
    operand.sparse.makeCompressed();
  } else {
    operand.dense = true;
    operand.full = io::read_matrix(path);
  }
  return operand;
}

nlohmann::json cka_command(const CkaCommandOptions& command) {
  require_readable_file(command.a, "A");
  require_readable_file(command.b, "B");
  const similarity::HsicEstimator estimator = similarity::parse_estimator(command.estimator);
  const similarity::LinearCkaMethod method = similarity::parse_method(command.method);
  similarity::CkaKind parsed_kind = similarity::parse_kind(command.kind);
  if (parsed_kind == similarity::CkaKind::kAuto) {
    parsed_kind =
        is_sparse_npz(command.a) ? similarity::CkaKind::kGraph : similarity::CkaKind::kLinear;
  }
  const std::string kind = similarity::to_string(parsed_kind);
  // Options that do not apply to the chosen kind are an error rather than silently ignored.
  const std::vector<std::string>& layers_a =
      command.layers_a.empty() ? command.layers : command.layers_a;
  const std::vector<std::string>& layers_b =
      command.layers_b.empty() ? command.layers : command.layers_b;
  if (kind == "graph" && (!layers_a.empty() || !layers_b.empty())) {
    throw std::invalid_argument(
        "cka: --layers/--layers-a/--layers-b (formerly --layer-a/--layer-b) choose activation "
        "layers; they do not apply to --kind graph");
  }
  if (kind != "linear" && method != similarity::LinearCkaMethod::kAuto) {
    throw std::invalid_argument("cka: --method applies to --kind linear only (--kind is " + kind +
                                ")");
  }
  similarity::CkaResult result;
  std::string layer_a, layer_b;  // the layers compared, when chosen
  if (kind == "graph") {
    GraphOperand k = load_graph(command.a);
    GraphOperand l = load_graph(command.b);
    similarity::CkaOptions options;
    options.estimator = estimator;
    if (!k.dense && !l.dense) {
      result = similarity::graph_cka(k.sparse, l.sparse, options);
    } else {
      if (!k.dense) k.full = Matrix(k.sparse);
      if (!l.dense) l.full = Matrix(l.sparse);
      result = similarity::graph_cka(k.full, l.full, options);
    }
  } else {
    io::Layer x =
        load_layer(command.a, layers_a, command.layers_a.empty() ? "--layers" : "--layers-a");
    io::Layer y =
        load_layer(command.b, layers_b, command.layers_b.empty() ? "--layers" : "--layers-b");
    if (!layers_a.empty()) layer_a = x.name;
    if (!layers_b.empty()) layer_b = y.name;
    if (kind == "linear") {
      similarity::LinearCkaOptions options;
      options.estimator = estimator;
      options.method = method;
      result = similarity::linear_cka(x.values, y.values, options);
    } else {
      similarity::CkaOptions options;
      options.estimator = estimator;
      result = similarity::rbf_cka(x.values, y.values, options);
    }
  }
  nlohmann::json summary = {
      {"a", command.a},
      {"b", command.b},
      {"kind", kind},
      {"estimator", similarity::to_string(result.estimator)},
      {"cka", json_number(result.cka)},
      {"defined", result.defined},
      {"hsic_ab", json_number(result.hsic_kl)},
      {"hsic_aa", json_number(result.hsic_kk)},
      {"hsic_bb", json_number(result.hsic_ll)},
      {"method", result.method},
      {"n", result.n},
      {"seconds", result.seconds},
  };
  if (!layer_a.empty()) summary["layer_a"] = layer_a;
  if (!layer_b.empty()) summary["layer_b"] = layer_b;
  return summary;
}

const bool registered = register_command(
    {"cka", "CKA between two affinity graphs or two activation layers (biased or unbiased HSIC)",
     "sublens cka w_epoch10.npz w_epoch100.npz --kind graph --estimator unbiased",
     [](CLI::App& app) {
       auto o = std::make_shared<CkaCommandOptions>();
       app.add_option("A", o->a,
                      "Affinity (.npz scipy sparse, or dense N x N .npy) or activations file")
           ->required();
       app.add_option("B", o->b, "Same kind of input as A, with the same N")->required();
       app.add_option("--kind", o->kind,
                      "graph (A, B are kernels), linear or rbf (A, B are activations); auto: "
                      "graph for sparse .npz, else linear")
           ->capture_default_str();
       app.add_option("--estimator", o->estimator,
                      "biased (Kornblith et al. 2019, the paper) or unbiased (Song et al. 2012)")
           ->capture_default_str();
       add_layers_option(app, o->layers, "The layer of A and of B (when they hold several)");
       add_layers_option(app, o->layers_a, "The layer of A (overrides --layers)", "--layers-a",
                         {"--layer-a"});
       add_layers_option(app, o->layers_b, "The layer of B (overrides --layers)", "--layers-b",
                         {"--layer-b"});
       app.add_option("--method", o->method,
                      "linear CKA: feature (d x d Grams), gram (N x N) or auto")
           ->capture_default_str();
       return [o] { return cka_command(*o); };
     }});

}  // namespace
}  // namespace sublens::cli
