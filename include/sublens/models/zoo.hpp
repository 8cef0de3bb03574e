// Torch-level view of the model zoo (for sublens-torch and the tests). Including this header pulls
// in LibTorch; only the models module and its tests do.
//
// Every model's forward takes an optional Capture: at each capture point the model calls
// capture->put("stage2.block0.conv1", value) and the capture keeps the values it was asked for.
//
//   auto net = sublens::models::make_model(sublens::models::parse_model_name("vgg11"));
//   sublens::models::Capture capture({"stage3.pool", "logits"});
//   net->forward(images, &capture);   // capture.values: [(name, batch x C x H x W), ...]
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sublens/models/models.hpp"

namespace sublens::models {

class Capture {
 public:
  // Keeps every capture point.
  Capture() = default;
  // Keeps the points whose name matches one of `patterns` (exact names or fnmatch globs).
  explicit Capture(std::vector<std::string> patterns);

  bool wants(const std::string& name) const;
  // Records value (detached) when wanted.
  void put(const std::string& name, const torch::Tensor& value);

  std::vector<std::pair<std::string, torch::Tensor>> values;  // in forward order

 private:
  std::vector<std::string> patterns_;
  bool all_ = true;
};

class ZooNet : public torch::nn::Module {
 public:
  // Logits (batch x num_classes); records capture points into `capture` when not null.
  virtual torch::Tensor forward(torch::Tensor input, Capture* capture) = 0;
  torch::Tensor forward(torch::Tensor input) { return forward(std::move(input), nullptr); }
};

// Builds (and validates) a model; weights come from torch's global generator.
std::shared_ptr<ZooNet> make_model(const ModelSpec& spec);

}  // namespace sublens::models
