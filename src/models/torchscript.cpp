// Capture from users' TorchScript models (scripted or traced, saved by torch.jit.save).
//
// The forward graph is copied and inlined (torch::jit::Inline). Every inlined node keeps the call
// stack of module instances it came from (attribute names: "layer1", "0", "conv1"), so each node
// has a dotted submodule path. A value is an output of submodule P when it is defined inside P's
// call and used outside it (or returned). Those values are cloned where they are defined (so later
// in-place ops such as `out += identity` do not change them) and returned beside the model output.
//
// Limits (LibTorch 1.13): a submodule whose forward returns its input unchanged (nn.Identity) has
// no node of its own and cannot be captured; a submodule called more than once, or whose output is
// created inside control flow (if/loop) of its caller, yields several values or none and is
// refused; only tensor outputs are captured.
#include <ATen/Parallel.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/script.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "sublens/core/error.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/core/threads.hpp"
#include "sublens/io/io.hpp"
#include "sublens/models/models.hpp"

namespace sublens::models {
namespace fs = std::filesystem;
namespace jit = torch::jit;
namespace {

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// The model's output rows [begin, end) as softmax and argmax (run folders record both).
void keep_outputs(const c10::IValue& output, std::int64_t begin, std::int64_t end, std::int64_t n,
                  const TorchScriptOptions& options, TorchScriptResult& result) {
  if (!output.isTensor() || output.toTensor().dim() != 2 ||
      output.toTensor().size(0) != end - begin || output.toTensor().size(1) < 2) {
    throw InputError(options.model.string(), "forward",
                     "must return N x classes logits (classes >= 2) to record a run folder");
  }
  const torch::Tensor logits = output.toTensor().to(torch::kFloat);
  const std::int64_t classes = logits.size(1);
  if (begin == 0) {
    result.n_classes = static_cast<int>(classes);
    result.softmax.assign(static_cast<std::size_t>(n * classes), 0.0F);
    result.predictions.assign(static_cast<std::size_t>(n), 0);
  }
  const torch::Tensor probabilities = torch::softmax(logits, 1).contiguous();
  std::memcpy(result.softmax.data() + begin * classes, probabilities.data_ptr<float>(),
              probabilities.numel() * sizeof(float));
  const torch::Tensor predicted = logits.argmax(1).contiguous();
  std::memcpy(result.predictions.data() + begin, predicted.data_ptr<std::int64_t>(),
              (end - begin) * sizeof(std::int64_t));
}

// Dotted submodule path of the call stack a node was inlined from ("" at the top level), or
// std::nullopt when the node carries no call stack.
std::optional<std::string> callstack_path(const jit::Node* node) {
  const auto callstack = node->callstack();
  if (!callstack) return std::nullopt;
  std::string path;
  for (const auto& entry : (*callstack)->vec()) {
    const auto& instance = std::get<2>(entry);
    if (!instance) continue;
    const std::string name = instance->instance_name();
    if (name == "SELF" || name == "INSTANCE_NAME_UNKNOWN") continue;
    path += (path.empty() ? "" : ".") + name;
  }
  return path;
}

// Submodule path of a node that uses a value, or std::nullopt when unknown. LibTorch 1.13's
// inliner gives call stacks only to nodes that have outputs (see the TODO in inlineCallTo), so a
// prim::If without outputs inlined from BatchNorm, and the nodes nested in it, carry none: their
// uses are ignored. A top-level node with outputs and no call stack is the model's own forward.
std::optional<std::string> user_path(const jit::Node* node) {
  const jit::Node* owner = node->owningBlock()->owningNode();
  if (node->kind() == jit::prim::Return) {
    return owner == nullptr ? std::optional<std::string>("") : user_path(owner);
  }
  if (const auto path = callstack_path(node)) return path;
  if (node->outputs().empty()) return std::nullopt;
  return owner == nullptr ? std::optional<std::string>("") : user_path(owner);
}

std::string node_path(const jit::Node* node) { return callstack_path(node).value_or(""); }

bool within(const std::string& path, const std::string& scope) {
  return path == scope || (path.size() > scope.size() &&
                           path.compare(0, scope.size(), scope) == 0 && path[scope.size()] == '.');
}

// Every prefix of "a.b.c": "a", "a.b", "a.b.c".
std::vector<std::string> prefixes(const std::string& path) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '.') out.push_back(path.substr(0, i));
  }
  return out;
}

torch::Tensor to_tensor(const io::NdArray& array) {
  std::vector<std::int64_t> shape = array.shape;
  if (array.dtype == io::DType::kFloat32) {
    auto tensor = torch::empty(shape, torch::kFloat);
    std::memcpy(tensor.data_ptr<float>(), array.bytes.data(), array.bytes.size());
    return tensor;
  }
  const auto values = array.to_double();
  return torch::tensor(values, torch::kDouble).to(torch::kFloat).reshape(shape);
}

}  // namespace

TorchScriptResult extract_torchscript(const TorchScriptOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.batch_size < 1) throw std::invalid_argument("batch size must be >= 1");
  if (!fs::is_regular_file(options.model)) {
    throw InputError(options.model.string(), "--torchscript", "file does not exist");
  }
  at::set_num_threads(resolve_threads(options.threads));
  jit::Module module;
  try {
    module = jit::load(options.model.string());
  } catch (const c10::Error& error) {
    throw InputError(options.model.string(), "TorchScript",
                     first_line(error.what_without_backtrace()));
  }
  module.eval();
  auto graph = module.get_method("forward").graph()->copy();
  jit::Inline(*graph);

  if (std::getenv("SUBLENS_DEBUG_TORCHSCRIPT") != nullptr) {
    for (jit::Node* node : graph->nodes()) {
      std::cerr << "[" << node_path(node) << "] " << *node;
    }
  }
  // Outputs of every submodule call in the top-level block.
  std::map<std::string, std::vector<jit::Value*>> outputs;
  std::vector<std::string> order;
  for (jit::Node* node : graph->nodes()) {
    const std::string path = node_path(node);
    if (path.empty()) continue;
    for (const std::string& scope : prefixes(path)) {
      if (!outputs.count(scope)) {
        outputs[scope];
        order.push_back(scope);
      }
    }
    for (jit::Value* value : node->outputs()) {
      if (!value->type()->isSubtypeOf(*c10::TensorType::get())) continue;
      for (const std::string& scope : prefixes(path)) {
        const bool escapes =
            std::any_of(value->uses().begin(), value->uses().end(), [&](const jit::Use& use) {
              const auto path = user_path(use.user);
              return path && !within(*path, scope);
            });
        if (escapes) outputs[scope].push_back(value);
      }
    }
  }
  TorchScriptResult result;
  result.available = order;
  if (options.layers.empty()) return result;

  std::string listing;
  for (const auto& name : order) listing += (listing.empty() ? "" : ", ") + name;
  if (listing.size() > 600) listing = listing.substr(0, 600) + ", ...";
  std::vector<jit::Value*> captured;
  for (const auto& name : options.layers) {
    const auto found = outputs.find(name);
    if (found == outputs.end()) {
      throw InputError(options.model.string(), "--layers",
                       "no submodule call named \"" + name + "\" in forward (" + listing + ")");
    }
    if (found->second.size() != 1) {
      throw InputError(options.model.string(), "--layers",
                       "submodule \"" + name + "\" yields " + std::to_string(found->second.size()) +
                           " tensor values (called more than once, returns several tensors or "
                           "returns its input); capture one of its submodules instead");
    }
    jit::Value* value = found->second.front();
    jit::WithInsertPoint guard(value->node()->next());
    captured.push_back(graph->insert(jit::aten::clone, {value}));
  }
  if (!options.output.empty() && !options.keep_arrays) {
    const std::string ext = options.output.extension().string();
    if (ext != ".safetensors" && ext != ".npz") {
      throw InputError(options.output.string(), "-o", "must end in .safetensors or .npz");
    }
    const fs::path parent = options.output.has_parent_path() ? options.output.parent_path() : ".";
    if (!fs::is_directory(parent)) {
      throw InputError(options.output.string(), "-o",
                       "folder " + parent.string() + " does not exist");
    }
  }
  std::vector<jit::Value*> returned = {graph->outputs()[0]};
  returned.insert(returned.end(), captured.begin(), captured.end());
  jit::Node* tuple = graph->createTuple(returned);
  graph->appendNode(tuple);
  graph->eraseOutput(0);
  graph->registerOutput(tuple->output());
  jit::GraphFunction function("sublens_capture", graph, nullptr);

  const io::NdArray inputs = io::read_npy(options.inputs);
  if (inputs.shape.empty() || inputs.shape[0] < 1) {
    throw InputError(options.inputs.string(), "shape", "expected N x ... inputs with N >= 1");
  }
  const torch::Tensor all_inputs = to_tensor(inputs);
  const std::int64_t n = inputs.shape[0];
  result.n_inputs = n;

  torch::NoGradGuard no_grad;
  io::NamedArrays arrays(options.layers.size());
  Progress progress("torchscript capture", n, Progress::global_enabled());
  for (std::int64_t begin = 0; begin < n; begin += options.batch_size) {
    const std::int64_t end = std::min(n, begin + options.batch_size);
    jit::Stack stack = {module._ivalue(), all_inputs.slice(0, begin, end)};
    try {
      function.run(stack);
    } catch (const c10::Error& error) {
      throw InputError(options.inputs.string(), "forward",
                       first_line(error.what_without_backtrace()));
    }
    const auto elements = stack.back().toTuple()->elements();
    if (options.keep_arrays) keep_outputs(elements[0], begin, end, n, options, result);
    for (std::size_t l = 0; l < options.layers.size(); ++l) {
      const auto value =
          elements[l + 1].toTensor().to(torch::kFloat).reshape({end - begin, -1}).contiguous();
      auto& [name, array] = arrays[l];
      if (begin == 0) {
        name = options.layers[l];
        array.dtype = io::DType::kFloat32;
        array.shape = {n, value.size(1)};
        array.bytes.resize(static_cast<std::size_t>(n) * value.size(1) * sizeof(float));
        CapturePoint point;
        point.name = name;
        const auto sizes = elements[l + 1].toTensor().sizes();
        point.shape.assign(sizes.begin() + 1, sizes.end());
        point.dim = value.size(1);
        result.layers.push_back(point);
      }
      std::memcpy(array.bytes.data() + begin * array.shape[1] * sizeof(float),
                  value.data_ptr<float>(), value.numel() * sizeof(float));
    }
    progress.advance(end - begin);
  }
  progress.finish();
  if (options.keep_arrays) {
    result.arrays = std::move(arrays);
  } else if (!options.output.empty()) {
    if (options.output.extension() == ".npz") {
      io::write_npz(options.output, arrays);
    } else {
      io::write_safetensors(options.output, arrays, {{"sublens.model", options.model.string()}});
    }
  }
  result.seconds = seconds_since(start);
  return result;
}

}  // namespace sublens::models
