// Tests of the models module: zoo shapes and capture points, datasets and samplers on the real
// Fashion-MNIST files, training (loss decreases, determinism, resume), checkpoints and capture.
// Everything is tiny (base widths 2-4, a few hundred images) so the suite runs in seconds.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <set>

#include "sublens/core/error.hpp"
#include "sublens/io/io.hpp"
#include "sublens/models/zoo.hpp"

namespace sublens::models {
namespace {
namespace fs = std::filesystem;

const fs::path kFashion = "/usr/share/datasets/fashion-mnist";

fs::path temp_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("sublens_models_test_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

ModelSpec tiny(const std::string& name, int base_width, int growth = 0) {
  ModelSpec spec = parse_model_name(name);
  spec.base_width = base_width;
  spec.growth_rate = growth;
  return spec;
}

std::vector<ModelSpec> tiny_zoo() {
  return {tiny("cnn2", 2),          tiny("alexnet", 2),  tiny("vgg11", 2),
          tiny("vgg24", 2),         tiny("resnet20", 2), tiny("resnet18", 2),
          tiny("resnet50", 2),      tiny("wrn-16-2", 2), tiny("densenet40", 4, 2),
          tiny("densenet121", 4, 2)};
}

TEST(Zoo, ForwardShapesAndCapturePoints) {
  torch::manual_seed(0);
  for (const auto& [channels, size] : {std::pair{1, 28}, std::pair{3, 32}}) {
    for (ModelSpec spec : tiny_zoo()) {
      spec.in_channels = channels;
      spec.height = spec.width_px = size;
      SCOPED_TRACE(display_name(spec) + " on " + std::to_string(channels) + "x" +
                   std::to_string(size));

      auto model = make_model(spec);
      model->eval();
      torch::NoGradGuard no_grad;
      Capture capture;
      const auto logits = model->forward(torch::randn({2, channels, size, size}), &capture);
      const ModelDescription description = describe(spec);

      EXPECT_EQ(logits.sizes(), (std::vector<std::int64_t>{2, 10}));
      ASSERT_EQ(capture.values.size(), description.capture_points.size());
      EXPECT_EQ(description.capture_points.back().name, "logits");
      EXPECT_EQ(description.capture_points.back().dim, 10);
      std::set<std::string> names;
      for (std::size_t i = 0; i < capture.values.size(); ++i) {
        const auto& [name, value] = capture.values[i];
        EXPECT_EQ(name, description.capture_points[i].name);
        EXPECT_EQ(value.size(0), 2);
        EXPECT_EQ(value.numel() / 2, description.capture_points[i].dim);
        EXPECT_TRUE(names.insert(name).second) << "duplicate capture point " << name;
      }
    }
  }
}

TEST(Zoo, StableNames) {
  const auto names = [](const std::string& model, int growth = 0) {
    std::vector<std::string> out;
    for (const auto& point : describe(tiny(model, 2, growth)).capture_points)
      out.push_back(point.name);
    return out;
  };
  EXPECT_EQ(names("cnn2"),
            (std::vector<std::string>{"conv1", "pool1", "conv2", "pool2", "logits"}));
  const auto vgg = names("vgg11");
  EXPECT_EQ(vgg.front(), "stage1.conv1");
  EXPECT_EQ(std::count(vgg.begin(), vgg.end(), "stage5.conv2"), 1);
  EXPECT_EQ(std::count(vgg.begin(), vgg.end(), "stage5.pool"), 1);
  EXPECT_EQ(vgg.size(), 8u + 5u + 2u);  // convs, stage pools, global pool + logits
  const auto resnet = names("resnet20");
  EXPECT_EQ(resnet.size(), 1u + 9u * 2u + 2u);  // stem, 9 blocks x (conv1, block), pool, logits
  EXPECT_EQ(std::count(resnet.begin(), resnet.end(), "stage3.block3"), 1);
  const auto dense = names("densenet40", 2);
  EXPECT_EQ(std::count(dense.begin(), dense.end(), "block3.layer6"), 1);
  EXPECT_EQ(std::count(dense.begin(), dense.end(), "trans2"), 1);
  EXPECT_EQ(display_name(parse_model_name("WRN-28-10")), "wrn-28-10");
  EXPECT_THROW(validate(parse_model_name("resnet21")), std::invalid_argument);
  EXPECT_THROW(parse_model_name("lenet"), std::invalid_argument);
}

TEST(Data, RealFashionMnistAndSubsets) {
  const Dataset train = load_dataset({.name = "fashion-mnist", .split = "train"});
  const Dataset test = load_dataset({.name = "fashion-mnist", .split = "test"});

  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(train.channels, 1);
  EXPECT_EQ(train.height, 28);
  const auto fraction = stratified_fraction(train.labels, 0.05, 7);
  EXPECT_EQ(fraction.size(), 3000u);
  std::vector<int> per_class(10, 0);
  for (const auto row : fraction) ++per_class[train.labels[row]];
  for (const int count : per_class) EXPECT_EQ(count, 300);
  EXPECT_EQ(fraction, stratified_fraction(train.labels, 0.05, 7));
  EXPECT_NE(fraction, stratified_fraction(train.labels, 0.05, 8));
  const auto two = rows_with_classes(test.labels, {3, 0});
  EXPECT_EQ(two.size(), 2000u);
  const auto ordered = class_ordered(select_rows(test, two).labels, {3, 0});
  const Dataset subset = select_rows(select_rows(test, two), ordered);
  for (std::int64_t i = 0; i < subset.size(); ++i) EXPECT_EQ(subset.labels[i], i < 1000 ? 3 : 0);
  for (std::int64_t i = 1; i < 1000; ++i) EXPECT_LT(subset.indices[i - 1], subset.indices[i]);
  const Normalization norm = channel_statistics(select_rows(train, fraction));
  EXPECT_NEAR(norm.mean[0], 0.286, 0.01);
  EXPECT_NEAR(norm.std[0], 0.353, 0.01);
}

TEST(Data, BadFilesAreInputErrors) {
  const fs::path dir = temp_dir("bad");
  {
    std::ofstream out(dir / "train-images-idx3-ubyte", std::ios::binary);
    const unsigned char header[] = {0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3};
    out.write(reinterpret_cast<const char*>(header), sizeof header);
    std::ofstream labels(dir / "train-labels-idx1-ubyte", std::ios::binary);
    std::ofstream cifar(dir / "test_batch.bin", std::ios::binary);
    cifar << "short";
  }
  try {
    load_dataset({.name = "mnist", .data_dir = dir});
    FAIL() << "truncated IDX accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("train-images-idx3-ubyte"), std::string::npos);
  }
  EXPECT_THROW(load_dataset({.name = "cifar10", .data_dir = dir, .split = "test"}), InputError);
  EXPECT_THROW(load_dataset({.name = "cifar10", .data_dir = dir}), InputError);  // no batches
  EXPECT_THROW(load_dataset({.name = "mnist"}), std::invalid_argument);          // no --data-dir
}

TEST(Train, LossDecreasesOnRealFashionMnist) {
  torch::set_num_threads(1);
  const Dataset all = load_dataset({.name = "fashion-mnist", .split = "train"});
  const Dataset data = select_rows(all, stratified_fraction(all.labels, 0.004, 0));  // 240 images
  const Normalization norm = channel_statistics(data);
  std::vector<std::int64_t> rows(data.size());
  std::iota(rows.begin(), rows.end(), 0);
  auto images = torch::empty({data.size(), 1, 28, 28});
  gather_batch(data, norm, rows.data(), data.size(), images.data_ptr<float>());
  const auto labels = torch::tensor(data.labels);
  for (const std::string name : {"cnn2", "resnet20"}) {
    SCOPED_TRACE(name);
    torch::manual_seed(0);
    auto model = make_model(tiny(name, 4));
    torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
    const auto loss_of = [&] {  // train mode (batch statistics), no update
      torch::NoGradGuard no_grad;
      return torch::nn::functional::cross_entropy(model->forward(images), labels).item<double>();
    };

    const double before = loss_of();
    for (int step = 0; step < 8; ++step) {
      sgd.zero_grad();
      torch::nn::functional::cross_entropy(model->forward(images), labels).backward();
      sgd.step();
    }

    EXPECT_LT(loss_of(), before);
  }
}

std::vector<torch::Tensor> checkpoint_parameters(const fs::path& run, int epoch,
                                                 const ModelSpec& spec) {
  auto model = make_model(spec);
  torch::serialize::InputArchive root, archive;
  char name[32];
  std::snprintf(name, sizeof name, "epoch-%04d.pt", epoch);
  root.load_from((run / "checkpoints" / name).string());
  root.read("model", archive);
  model->load(archive);
  std::vector<torch::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.detach().clone());
  for (const auto& b : model->buffers()) out.push_back(b.detach().clone());
  return out;
}

bool identical(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i], b[i])) return false;
  }
  return true;
}

TEST(Train, DeterministicResumableCheckpointsAndCapture) {
  const fs::path dir = temp_dir("train");
  TrainOptions options;
  options.model = tiny("cnn2", 4);
  options.train_fraction = 0.003;  // 180 images
  options.epochs = 2;
  options.batch_size = 32;
  options.lr = 0.05;
  options.threads = 1;
  options.test_n = 100;
  options.seed = 3;
  ModelSpec spec = options.model;

  options.run_dir = dir / "a";
  const TrainResult a = train(options);
  options.run_dir = dir / "b";
  train(options);
  options.run_dir = dir / "c";
  options.epochs = 1;
  train(options);
  options.epochs = 2;
  options.resume = true;
  const TrainResult resumed = train(options);

  EXPECT_EQ(a.train_images, 180);
  EXPECT_EQ(a.checkpoints.size(), 2u);
  EXPECT_EQ(resumed.first_epoch, 2);
  EXPECT_EQ(checkpoint_epochs(dir / "a"), (std::vector<int>{1, 2}));
  const auto weights_a = checkpoint_parameters(dir / "a", 2, spec);
  EXPECT_TRUE(identical(weights_a, checkpoint_parameters(dir / "b", 2, spec)));
  EXPECT_TRUE(identical(weights_a, checkpoint_parameters(dir / "c", 2, spec)));
  EXPECT_FALSE(identical(weights_a, checkpoint_parameters(dir / "a", 1, spec)));
  std::ifstream log(dir / "c" / "log.csv");
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) ++lines;
  EXPECT_EQ(lines, 3);  // header + 2 epochs
  options.resume = false;
  options.run_dir = dir / "a";
  EXPECT_THROW(train(options), InputError);  // existing run without --resume

  ExtractOptions extract_options;
  extract_options.run_dir = dir / "a";
  extract_options.all_epochs = true;
  extract_options.layers = {"pool*", "logits"};
  extract_options.n = 40;
  extract_options.threads = 1;
  extract_options.output = dir / "acts.safetensors";
  const ExtractResult captured = extract(extract_options);

  ASSERT_EQ(captured.outputs.size(), 2u);
  const auto arrays = io::read_safetensors(dir / "acts.epoch-0002.safetensors");
  ASSERT_EQ(arrays.size(), 3u);
  EXPECT_EQ(arrays[0].first, "pool1");
  EXPECT_EQ(arrays[0].second.shape, (std::vector<std::int64_t>{40, 4 * 12 * 12}));
  EXPECT_EQ(arrays[2].second.shape, (std::vector<std::int64_t>{40, 10}));
  const auto logits = arrays[2].second.to_double();
  const auto predictions = io::read_int_vector(dir / "acts.epoch-0002.predictions.npy");
  for (int i = 0; i < 40; ++i) {
    const auto row = logits.begin() + i * 10;
    EXPECT_EQ(predictions[i], std::max_element(row, row + 10) - row);
  }
  EXPECT_EQ(io::read_int_vector(dir / "acts.labels.npy").size(), 40u);
  extract_options.layers = {"nothing*"};
  EXPECT_THROW(extract(extract_options), std::invalid_argument);
}

}  // namespace
}  // namespace sublens::models
