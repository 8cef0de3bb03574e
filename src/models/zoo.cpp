// The model zoo. Every model takes N x C x H x W inputs of any size (H, W >= 16; cnn2 needs >= 16)
// and records its capture points by stable dotted names:
//   cnn2:     conv1, pool1, conv2, pool2, logits
//   alexnet:  conv1, pool1, conv2, pool2, conv3, conv4, conv5, pool3, fc1, fc2, logits
//   vgg:      stage{s}.conv{j} (after BN+ReLU), stage{s}.pool, pool, logits
//   resnet:   stem, stage{s}.block{b}.conv{j} (after BN+ReLU), stage{s}.block{b}, pool, logits
//   wrn:      stem, stage{s}.block{b}.conv1 (after BN+ReLU), stage{s}.block{b}, final, pool, logits
//   densenet: stem, block{b}.layer{l}.conv1 (after BN+ReLU), block{b}.layer{l} (new features),
//             block{b}, trans{b} (after pooling), final, pool, logits
// Stages, blocks, layers and convs count from 1.
#include "sublens/models/zoo.hpp"

#include <fnmatch.h>
#include <torch/torch.h>

#include <cctype>
#include <stdexcept>

namespace sublens::models {
namespace {
using torch::Tensor;
namespace nn = torch::nn;

void put(Capture* capture, const std::string& name, const Tensor& value) {
  if (capture != nullptr) capture->put(name, value);
}

nn::Conv2d make_conv(int in, int out, int kernel, int stride = 1, bool bias = false) {
  return nn::Conv2d(
      nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(bias));
}

Tensor max_pool(const Tensor& x, int kernel, int stride) {
  return torch::max_pool2d(x, {kernel, kernel}, {stride, stride}, {0, 0}, {1, 1},
                           /*ceil_mode=*/true);
}

Tensor global_pool(const Tensor& x) { return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1); }

// The common head: global average pool ("pool"), then the linear classifier ("logits").
Tensor pool_and_classify(const Tensor& features, nn::Linear& fc, Capture* capture) {
  Tensor x = global_pool(features);
  put(capture, "pool", x);
  x = fc(x);
  put(capture, "logits", x);
  return x;
}

// The head of the pre-activation networks (WRN, DenseNet): BN-ReLU ("final"), then
// pool_and_classify.
Tensor final_bn_relu_classify(const Tensor& features, nn::BatchNorm2d& bn, nn::Linear& fc,
                              Capture* capture) {
  const Tensor x = torch::relu(bn(features));
  put(capture, "final", x);
  return pool_and_classify(x, fc, capture);
}

// conv -> BN -> ReLU.
struct ConvBnRelu : nn::Module {
  ConvBnRelu(int in, int out, int kernel, int stride)
      : conv(register_module("conv", make_conv(in, out, kernel, stride))),
        bn(register_module("bn", nn::BatchNorm2d(out))) {}
  Tensor forward(const Tensor& x) { return torch::relu(bn(conv(x))); }
  nn::Conv2d conv;
  nn::BatchNorm2d bn;
};

// Registered (state-dict) name of sub-module (a + 1, b + 1): "s2b1" for stage 2, block 1.
// (Built with += : GCC 12 warns falsely (-Wrestrict) on "s" + std::to_string(...).)
std::string module_name(const char* outer, std::size_t a, const char* inner, std::size_t b) {
  std::string name = outer;
  name += std::to_string(a + 1);
  name += inner;
  name += std::to_string(b + 1);
  return name;
}

// Output size of `size` after a ceil-mode pooling.
int pooled(int size, int kernel, int stride) { return (size - kernel + stride - 1) / stride + 1; }

// ---- cnn2 -----------------------------------------------------------------------------------
// The coupled-NMF paper's CNN: conv 5x5 -> maxpool -> ReLU, twice, then one linear layer.
class Cnn2 : public ZooNet {
 public:
  explicit Cnn2(const ModelSpec& spec) {
    const int width = spec.base_width > 0 ? spec.base_width : 10;
    conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(spec.in_channels, width, 5)));
    conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(width, 2 * width, 5)));
    const int h = ((spec.height - 4) / 2 - 4) / 2;
    const int w = ((spec.width_px - 4) / 2 - 4) / 2;
    if (h < 1 || w < 1) {
      throw std::invalid_argument("cnn2 needs inputs of at least 16 x 16 (is " +
                                  std::to_string(spec.height) + " x " +
                                  std::to_string(spec.width_px) + ")");
    }
    fc_ = register_module("fc", nn::Linear(2 * width * h * w, spec.num_classes));
  }
  Tensor forward(Tensor x, Capture* capture) override {
    x = conv1_(x);
    put(capture, "conv1", x);
    x = torch::relu(torch::max_pool2d(x, 2));
    put(capture, "pool1", x);
    x = conv2_(x);
    put(capture, "conv2", x);
    x = torch::relu(torch::max_pool2d(x, 2));
    put(capture, "pool2", x);
    x = fc_(x.flatten(1));
    put(capture, "logits", x);
    return x;
  }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  nn::Linear fc_{nullptr};
};

// ---- alexnet --------------------------------------------------------------------------------
// AlexNet for small inputs: 5x5, 5x5, 3x3, 3x3, 3x3 convs with ReLU (stride 1), 3x3/2 max pools
// after conv1, conv2 and conv5, two hidden linear layers with dropout 0.5.
class AlexNet : public ZooNet {
 public:
  explicit AlexNet(const ModelSpec& spec) {
    const int b = spec.base_width > 0 ? spec.base_width : 64;
    const int widths[5] = {b, 3 * b, 6 * b, 4 * b, 4 * b};
    const int kernels[5] = {5, 5, 3, 3, 3};
    int in = spec.in_channels;
    for (int i = 0; i < 5; ++i) {
      convs_.push_back(register_module("conv" + std::to_string(i + 1),
                                       make_conv(in, widths[i], kernels[i], 1, true)));
      in = widths[i];
    }
    int h = spec.height, w = spec.width_px;
    for (int i = 0; i < 3; ++i) h = pooled(h, 3, 2), w = pooled(w, 3, 2);
    fc1_ = register_module("fc1", nn::Linear(4 * b * h * w, 8 * b));
    fc2_ = register_module("fc2", nn::Linear(8 * b, 8 * b));
    fc3_ = register_module("fc3", nn::Linear(8 * b, spec.num_classes));
  }
  Tensor forward(Tensor x, Capture* capture) override {
    for (int i = 0; i < 5; ++i) {
      x = torch::relu(convs_[i](x));
      put(capture, "conv" + std::to_string(i + 1), x);
      if (i == 0 || i == 1 || i == 4) {
        x = max_pool(x, 3, 2);
        put(capture, "pool" + std::to_string(i == 4 ? 3 : i + 1), x);
      }
    }
    x = torch::dropout(x.flatten(1), 0.5, is_training());
    x = torch::relu(fc1_(x));
    put(capture, "fc1", x);
    x = torch::relu(fc2_(torch::dropout(x, 0.5, is_training())));
    put(capture, "fc2", x);
    x = fc3_(x);
    put(capture, "logits", x);
    return x;
  }

 private:
  std::vector<nn::Conv2d> convs_;
  nn::Linear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
};

// ---- vgg ------------------------------------------------------------------------------------
// Convolutions per stage: the VGG table for 11/13/16/19; otherwise (depth - 3) convs, 2 in each of
// the first two stages and the rest spread over the last three (24 -> 2,2,5,6,6; 29 -> 2,2,7,7,8).
std::vector<int> vgg_stages(int depth) {
  switch (depth) {
    case 11:
      return {1, 1, 2, 2, 2};
    case 13:
      return {2, 2, 2, 2, 2};
    case 16:
      return {2, 2, 3, 3, 3};
    case 19:
      return {2, 2, 4, 4, 4};
    default:
      break;
  }
  const int rest = depth - 3 - 4;
  if (rest < 3) {
    throw std::invalid_argument("vgg depth must be 11, 13, 16, 19 or >= 10 (is " +
                                std::to_string(depth) + ")");
  }
  return {2, 2, rest / 3 + (rest % 3 >= 3), rest / 3 + (rest % 3 >= 2), rest / 3 + (rest % 3 >= 1)};
}

class Vgg : public ZooNet {
 public:
  explicit Vgg(const ModelSpec& spec) {
    const int b = spec.base_width > 0 ? spec.base_width : 64;
    const int widths[5] = {b, 2 * b, 4 * b, 8 * b, 8 * b};
    stages_ = vgg_stages(spec.depth);
    int in = spec.in_channels;
    for (int s = 0; s < 5; ++s) {
      for (int j = 0; j < stages_[s]; ++j) {
        layers_.push_back(register_module(module_name("s", s, "c", j),
                                          std::make_shared<ConvBnRelu>(in, widths[s], 3, 1)));
        in = widths[s];
      }
    }
    fc_ = register_module("fc", nn::Linear(in, spec.num_classes));
  }
  Tensor forward(Tensor x, Capture* capture) override {
    std::size_t layer = 0;
    for (int s = 0; s < 5; ++s) {
      const std::string stage = "stage" + std::to_string(s + 1);
      for (int j = 0; j < stages_[s]; ++j) {
        x = layers_[layer++]->forward(x);
        put(capture, stage + ".conv" + std::to_string(j + 1), x);
      }
      x = max_pool(x, 2, 2);
      put(capture, stage + ".pool", x);
    }
    return pool_and_classify(x, fc_, capture);
  }

 private:
  std::vector<int> stages_;
  std::vector<std::shared_ptr<ConvBnRelu>> layers_;
  nn::Linear fc_{nullptr};
};

// ---- resnet ---------------------------------------------------------------------------------
// Post-activation residual block (basic: two 3x3 convs; bottleneck: 1x1, 3x3, 1x1 with 4x
// expansion) with a 1x1 conv + BN projection when the shape changes.
struct ResidualBlock : nn::Module {
  ResidualBlock(int in, int planes, int stride, bool bottleneck) : bottleneck(bottleneck) {
    const int out = bottleneck ? 4 * planes : planes;
    if (bottleneck) {
      conv1 = register_module("conv1", std::make_shared<ConvBnRelu>(in, planes, 1, 1));
      conv2 = register_module("conv2", std::make_shared<ConvBnRelu>(planes, planes, 3, stride));
      last_conv = register_module("conv3", make_conv(planes, out, 1));
    } else {
      conv1 = register_module("conv1", std::make_shared<ConvBnRelu>(in, planes, 3, stride));
      last_conv = register_module("conv2", make_conv(planes, out, 3));
    }
    last_bn = register_module("bn", nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      shortcut_conv = register_module("shortcut", make_conv(in, out, 1, stride));
      shortcut_bn = register_module("shortcut_bn", nn::BatchNorm2d(out));
    }
    out_channels = out;
  }
  Tensor forward(const Tensor& x, Capture* capture, const std::string& name) {
    Tensor y = conv1->forward(x);
    put(capture, name + ".conv1", y);
    if (bottleneck) {
      y = conv2->forward(y);
      put(capture, name + ".conv2", y);
    }
    y = last_bn(last_conv(y));
    const Tensor identity = shortcut_conv ? shortcut_bn(shortcut_conv(x)) : x;
    y = torch::relu(y + identity);
    put(capture, name, y);
    return y;
  }
  bool bottleneck;
  int out_channels = 0;
  std::shared_ptr<ConvBnRelu> conv1, conv2;
  nn::Conv2d last_conv{nullptr}, shortcut_conv{nullptr};
  nn::BatchNorm2d last_bn{nullptr}, shortcut_bn{nullptr};
};

class ResNet : public ZooNet {
 public:
  explicit ResNet(const ModelSpec& spec) {
    std::vector<int> blocks;
    bool bottleneck = false;
    int b = spec.base_width;
    switch (spec.depth) {
      case 18:
        blocks = {2, 2, 2, 2};
        break;
      case 34:
        blocks = {3, 4, 6, 3};
        break;
      case 50:
        blocks = {3, 4, 6, 3}, bottleneck = true;
        break;
      case 101:
        blocks = {3, 4, 23, 3}, bottleneck = true;
        break;
      case 152:
        blocks = {3, 8, 36, 3}, bottleneck = true;
        break;
      default: {
        const int n = (spec.depth - 2) / 6;
        blocks = {n, n, n};
        if (b <= 0) b = 16;
      }
    }
    if (b <= 0) b = 64;
    stem_ = register_module("stem", std::make_shared<ConvBnRelu>(spec.in_channels, b, 3, 1));
    int in = b;
    for (std::size_t s = 0; s < blocks.size(); ++s) {
      std::vector<std::shared_ptr<ResidualBlock>> stage;
      for (int j = 0; j < blocks[s]; ++j) {
        const int stride = (s > 0 && j == 0) ? 2 : 1;
        auto block = std::make_shared<ResidualBlock>(in, b << s, stride, bottleneck);
        in = block->out_channels;
        stage.push_back(register_module(module_name("s", s, "b", j), block));
      }
      stages_.push_back(std::move(stage));
    }
    fc_ = register_module("fc", nn::Linear(in, spec.num_classes));
  }
  Tensor forward(Tensor x, Capture* capture) override {
    x = stem_->forward(x);
    put(capture, "stem", x);
    for (std::size_t s = 0; s < stages_.size(); ++s) {
      for (std::size_t j = 0; j < stages_[s].size(); ++j) {
        x = stages_[s][j]->forward(
            x, capture, "stage" + std::to_string(s + 1) + ".block" + std::to_string(j + 1));
      }
    }
    return pool_and_classify(x, fc_, capture);
  }

 private:
  std::shared_ptr<ConvBnRelu> stem_;
  std::vector<std::vector<std::shared_ptr<ResidualBlock>>> stages_;
  nn::Linear fc_{nullptr};
};

// ---- wide resnet ----------------------------------------------------------------------------
// Pre-activation block of Zagoruyko & Komodakis: BN-ReLU-conv3x3-BN-ReLU-conv3x3 (+ 1x1 shortcut
// on the pre-activated input when the shape changes).
struct WideBlock : nn::Module {
  WideBlock(int in, int out, int stride)
      : bn1(register_module("bn1", nn::BatchNorm2d(in))),
        conv1(register_module("conv1", make_conv(in, out, 3, stride))),
        bn2(register_module("bn2", nn::BatchNorm2d(out))),
        conv2(register_module("conv2", make_conv(out, out, 3))) {
    if (stride != 1 || in != out)
      shortcut = register_module("shortcut", make_conv(in, out, 1, stride));
  }
  Tensor forward(const Tensor& x, Capture* capture, const std::string& name) {
    const Tensor pre = torch::relu(bn1(x));
    Tensor y = torch::relu(bn2(conv1(pre)));
    put(capture, name + ".conv1", y);
    y = conv2(y) + (shortcut ? shortcut(pre) : x);
    put(capture, name, y);
    return y;
  }
  nn::BatchNorm2d bn1;
  nn::Conv2d conv1;
  nn::BatchNorm2d bn2;
  nn::Conv2d conv2;
  nn::Conv2d shortcut{nullptr};
};

class WideResNet : public ZooNet {
 public:
  explicit WideResNet(const ModelSpec& spec) {
    const int n = (spec.depth - 4) / 6;
    const int b = spec.base_width > 0 ? spec.base_width : 16;
    const int k = spec.width > 0 ? spec.width : 2;
    stem_ = register_module("stem", make_conv(spec.in_channels, b, 3));
    int in = b;
    for (int s = 0; s < 3; ++s) {
      std::vector<std::shared_ptr<WideBlock>> stage;
      for (int j = 0; j < n; ++j) {
        const int out = (b << s) * k;
        stage.push_back(
            register_module(module_name("s", s, "b", j),
                            std::make_shared<WideBlock>(in, out, s > 0 && j == 0 ? 2 : 1)));
        in = out;
      }
      stages_.push_back(std::move(stage));
    }
    bn_ = register_module("bn", nn::BatchNorm2d(in));
    fc_ = register_module("fc", nn::Linear(in, spec.num_classes));
  }
  Tensor forward(Tensor x, Capture* capture) override {
    x = stem_(x);
    put(capture, "stem", x);
    for (std::size_t s = 0; s < stages_.size(); ++s) {
      for (std::size_t j = 0; j < stages_[s].size(); ++j) {
        x = stages_[s][j]->forward(
            x, capture, "stage" + std::to_string(s + 1) + ".block" + std::to_string(j + 1));
      }
    }
    return final_bn_relu_classify(x, bn_, fc_, capture);
  }

 private:
  nn::Conv2d stem_{nullptr};
  std::vector<std::vector<std::shared_ptr<WideBlock>>> stages_;
  nn::BatchNorm2d bn_{nullptr};
  nn::Linear fc_{nullptr};
};

// ---- densenet -------------------------------------------------------------------------------
// DenseNet-BC bottleneck layer: BN-ReLU-conv1x1 (4k) -BN-ReLU-conv3x3 (k).
struct DenseLayer : nn::Module {
  DenseLayer(int in, int growth)
      : bn1(register_module("bn1", nn::BatchNorm2d(in))),
        conv1(register_module("conv1", make_conv(in, 4 * growth, 1))),
        bn2(register_module("bn2", nn::BatchNorm2d(4 * growth))),
        conv2(register_module("conv2", make_conv(4 * growth, growth, 3))) {}
  Tensor forward(const Tensor& x, Capture* capture, const std::string& name) {
    Tensor y = torch::relu(bn2(conv1(torch::relu(bn1(x)))));
    put(capture, name + ".conv1", y);
    y = conv2(y);
    put(capture, name, y);
    return y;
  }
  nn::BatchNorm2d bn1;
  nn::Conv2d conv1;
  nn::BatchNorm2d bn2;
  nn::Conv2d conv2;
};

// Transition: BN-ReLU-conv1x1 (compression 0.5) - avgpool 2x2.
struct Transition : nn::Module {
  Transition(int in, int out)
      : bn(register_module("bn", nn::BatchNorm2d(in))),
        conv(register_module("conv", make_conv(in, out, 1))) {}
  Tensor forward(const Tensor& x) {
    return torch::avg_pool2d(conv(torch::relu(bn(x))), {2, 2}, {2, 2}, {0, 0}, /*ceil_mode=*/true);
  }
  nn::BatchNorm2d bn;
  nn::Conv2d conv;
};

class DenseNet : public ZooNet {
 public:
  explicit DenseNet(const ModelSpec& spec) {
    std::vector<int> blocks;
    int growth = spec.growth_rate;
    switch (spec.depth) {
      case 121:
        blocks = {6, 12, 24, 16};
        break;
      case 169:
        blocks = {6, 12, 32, 32};
        break;
      case 201:
        blocks = {6, 12, 48, 32};
        break;
      default: {
        const int n = (spec.depth - 4) / 6;
        blocks = {n, n, n};
      }
    }
    if (growth <= 0) growth = blocks.size() == 4 ? 32 : 12;
    int in = spec.base_width > 0 ? spec.base_width : 2 * growth;
    stem_ = register_module("stem", make_conv(spec.in_channels, in, 3));
    for (std::size_t s = 0; s < blocks.size(); ++s) {
      std::vector<std::shared_ptr<DenseLayer>> block;
      for (int l = 0; l < blocks[s]; ++l) {
        block.push_back(
            register_module(module_name("b", s, "l", l), std::make_shared<DenseLayer>(in, growth)));
        in += growth;
      }
      blocks_.push_back(std::move(block));
      if (s + 1 < blocks.size()) {
        transitions_.push_back(
            register_module("t" + std::to_string(s + 1), std::make_shared<Transition>(in, in / 2)));
        in /= 2;
      }
    }
    bn_ = register_module("bn", nn::BatchNorm2d(in));
    fc_ = register_module("fc", nn::Linear(in, spec.num_classes));
  }
  Tensor forward(Tensor x, Capture* capture) override {
    x = stem_(x);
    put(capture, "stem", x);
    for (std::size_t s = 0; s < blocks_.size(); ++s) {
      const std::string block = "block" + std::to_string(s + 1);
      for (std::size_t l = 0; l < blocks_[s].size(); ++l) {
        const Tensor fresh =
            blocks_[s][l]->forward(x, capture, block + ".layer" + std::to_string(l + 1));
        x = torch::cat({x, fresh}, 1);
      }
      put(capture, block, x);
      if (s < transitions_.size()) {
        x = transitions_[s]->forward(x);
        put(capture, "trans" + std::to_string(s + 1), x);
      }
    }
    return final_bn_relu_classify(x, bn_, fc_, capture);
  }

 private:
  nn::Conv2d stem_{nullptr};
  std::vector<std::vector<std::shared_ptr<DenseLayer>>> blocks_;
  std::vector<std::shared_ptr<Transition>> transitions_;
  nn::BatchNorm2d bn_{nullptr};
  nn::Linear fc_{nullptr};
};

}  // namespace

Capture::Capture(std::vector<std::string> patterns) : patterns_(std::move(patterns)), all_(false) {}

bool Capture::wants(const std::string& name) const {
  if (all_) return true;
  for (const auto& pattern : patterns_) {
    if (pattern == name || fnmatch(pattern.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

void Capture::put(const std::string& name, const torch::Tensor& value) {
  if (wants(name)) values.emplace_back(name, value.detach());
}

void validate(const ModelSpec& input) {
  const ModelSpec spec = with_family_defaults(input);
  const std::string& f = spec.name;
  if (std::find(kModelFamilies.begin(), kModelFamilies.end(), f) == kModelFamilies.end()) {
    throw std::invalid_argument(
        "model must be one of cnn2, alexnet, vgg, resnet, wrn, densenet (is \"" + f + "\")");
  }
  const int d = spec.depth;
  const std::string depth = " (depth = " + std::to_string(d) + ")";
  if (f == "vgg") vgg_stages(d);
  if (f == "resnet" && d != 18 && d != 34 && d != 50 && d != 101 && d != 152 &&
      (d < 8 || (d - 2) % 6 != 0)) {
    throw std::invalid_argument(
        "resnet depth must be 6n+2 (20, 32, 44, 56, 110, ...) or 18, 34, 50, 101, 152" + depth);
  }
  if (f == "wrn" && (d < 10 || (d - 4) % 6 != 0)) {
    throw std::invalid_argument("wrn depth must be 6n+4 with n >= 1 (16, 28, 40, ...)" + depth);
  }
  if (f == "densenet" && d != 121 && d != 169 && d != 201 && (d < 10 || (d - 4) % 6 != 0)) {
    throw std::invalid_argument("densenet depth must be 121, 169, 201 or 6n+4 (40, 100, ...)" +
                                depth);
  }
  if (spec.width < 0 || spec.base_width < 0 || spec.growth_rate < 0) {
    throw std::invalid_argument("width, base width and growth rate must be >= 0");
  }
  if (spec.num_classes < 1 || spec.in_channels < 1) {
    throw std::invalid_argument("classes and input channels must be >= 1");
  }
  if (spec.height < 16 || spec.width_px < 16) {
    throw std::invalid_argument("inputs must be at least 16 x 16 (is " +
                                std::to_string(spec.height) + " x " +
                                std::to_string(spec.width_px) + ")");
  }
}

std::string display_name(const ModelSpec& input) {
  const ModelSpec spec = with_family_defaults(input);
  if (spec.name == "cnn2" || spec.name == "alexnet") return spec.name;
  if (spec.name == "wrn")
    return "wrn-" + std::to_string(spec.depth) + "-" + std::to_string(spec.width);
  return spec.name + std::to_string(spec.depth);
}

nlohmann::json to_json(const ModelSpec& spec) {
  return {{"name", spec.name},
          {"depth", spec.depth},
          {"width", spec.width},
          {"base_width", spec.base_width},
          {"growth_rate", spec.growth_rate},
          {"num_classes", spec.num_classes},
          {"in_channels", spec.in_channels},
          {"height", spec.height},
          {"width_px", spec.width_px}};
}

ModelSpec model_spec_from_json(const nlohmann::json& json) {
  ModelSpec spec;
  spec.name = json.at("name").get<std::string>();
  spec.depth = json.at("depth").get<int>();
  spec.width = json.at("width").get<int>();
  spec.base_width = json.at("base_width").get<int>();
  spec.growth_rate = json.at("growth_rate").get<int>();
  spec.num_classes = json.at("num_classes").get<int>();
  spec.in_channels = json.at("in_channels").get<int>();
  spec.height = json.at("height").get<int>();
  spec.width_px = json.at("width_px").get<int>();
  return spec;
}

std::shared_ptr<ZooNet> make_model(const ModelSpec& input) {
  validate(input);
  const ModelSpec spec = with_family_defaults(input);
  if (spec.name == "cnn2") return std::make_shared<Cnn2>(spec);
  if (spec.name == "alexnet") return std::make_shared<AlexNet>(spec);
  if (spec.name == "vgg") return std::make_shared<Vgg>(spec);
  if (spec.name == "resnet") return std::make_shared<ResNet>(spec);
  if (spec.name == "wrn") return std::make_shared<WideResNet>(spec);
  return std::make_shared<DenseNet>(spec);
}

ModelDescription describe(const ModelSpec& spec) {
  torch::NoGradGuard no_grad;
  auto model = make_model(spec);
  model->eval();
  Capture capture;
  model->forward(torch::zeros({1, spec.in_channels, spec.height, spec.width_px}), &capture);
  ModelDescription description;
  description.display_name = display_name(spec);
  for (const auto& parameter : model->parameters()) description.parameters += parameter.numel();
  for (const auto& [name, value] : capture.values) {
    CapturePoint point;
    point.name = name;
    point.shape.assign(value.sizes().begin() + 1, value.sizes().end());
    point.dim = value.numel();
    description.capture_points.push_back(std::move(point));
  }
  return description;
}

std::vector<ModelSpec> zoo_defaults() {
  std::vector<ModelSpec> specs;
  for (const auto& name :
       {"cnn2", "alexnet", "vgg11", "resnet20", "resnet18", "wrn-16-2", "densenet40"}) {
    specs.push_back(parse_model_name(name));
  }
  return specs;
}

}  // namespace sublens::models
