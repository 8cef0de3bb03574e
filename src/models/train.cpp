// Training with per-epoch atomic checkpoints and resume, and capture from trained runs.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>

#include "run_output.hpp"
#include "sublens/core/error.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/core/threads.hpp"
#include "sublens/io/io.hpp"
#include "sublens/models/zoo.hpp"

namespace sublens::models {
namespace fs = std::filesystem;
using nlohmann::json;
namespace {

constexpr const char* kLogHeader =
    "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,seconds";

fs::path checkpoint_path(const fs::path& run_dir, int epoch) {
  char name[32];
  std::snprintf(name, sizeof name, "epoch-%04d.pt", epoch);
  return run_dir / "checkpoints" / name;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

void save_checkpoint(const fs::path& path, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, int epoch) {
  torch::serialize::OutputArchive root, model_archive, optimizer_archive;
  model.save(model_archive);
  optimizer.save(optimizer_archive);
  root.write("model", model_archive);
  root.write("optimizer", optimizer_archive);
  root.write("epoch", torch::tensor(static_cast<std::int64_t>(epoch)));
  io::write_atomically(path, [&](const fs::path& temporary) { root.save_to(temporary.string()); });
}

void load_checkpoint(const fs::path& path, torch::nn::Module& model,
                     torch::optim::Optimizer* optimizer) {
  try {
    torch::serialize::InputArchive root, model_archive;
    root.load_from(path.string());
    root.read("model", model_archive);
    model.load(model_archive);
    if (optimizer != nullptr) {
      torch::serialize::InputArchive optimizer_archive;
      root.read("optimizer", optimizer_archive);
      optimizer->load(optimizer_archive);
    }
  } catch (const c10::Error& error) {
    throw InputError(path.string(), "checkpoint", first_line(error.what_without_backtrace()));
  }
}

json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path.string(), "config", "cannot be opened");
  try {
    return json::parse(in);
  } catch (const json::exception& error) {
    throw InputError(path.string(), "config", error.what());
  }
}

// Tensor of the normalised images of rows[begin, end).
torch::Tensor batch_images(const Dataset& data, const Normalization& normalization,
                           const std::vector<std::int64_t>& rows, std::size_t begin,
                           std::size_t end) {
  auto images = torch::empty(
      {static_cast<std::int64_t>(end - begin), data.channels, data.height, data.width});
  gather_batch(data, normalization, rows.data() + begin, static_cast<std::int64_t>(end - begin),
               images.data_ptr<float>());
  return images;
}

torch::Tensor batch_labels(const Dataset& data, const std::vector<std::int64_t>& rows,
                           std::size_t begin, std::size_t end) {
  auto labels = torch::empty({static_cast<std::int64_t>(end - begin)}, torch::kLong);
  auto* out = labels.data_ptr<std::int64_t>();
  for (std::size_t i = begin; i < end; ++i) out[i - begin] = data.labels[rows[i]];
  return labels;
}

// Mean loss and accuracy on `data` in eval mode.
std::pair<double, double> evaluate(ZooNet& model, const Dataset& data,
                                   const Normalization& normalization) {
  torch::NoGradGuard no_grad;
  model.eval();
  std::vector<std::int64_t> rows(data.size());
  std::iota(rows.begin(), rows.end(), std::int64_t{0});
  double loss = 0, correct = 0;
  for (std::size_t begin = 0; begin < rows.size(); begin += 256) {
    const std::size_t end = std::min(rows.size(), begin + 256);
    const auto logits = model.forward(batch_images(data, normalization, rows, begin, end));
    const auto labels = batch_labels(data, rows, begin, end);
    loss +=
        torch::nn::functional::cross_entropy(
            logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
            .item<double>();
    correct += logits.argmax(1).eq(labels).sum().item<double>();
  }
  model.train();
  const double n = std::max<double>(1, static_cast<double>(data.size()));
  return {loss / n, correct / n};
}

std::string format_number(double value) {
  if (!std::isfinite(value)) return "";
  std::ostringstream out;
  out.precision(8);
  out << value;
  return out.str();
}

json normalization_json(const Normalization& normalization) {
  return {{"mean", normalization.mean}, {"std", normalization.std}};
}

struct RunData {
  Dataset train;
  std::vector<std::int64_t> ordered_rows;  // class-ordered order (when options.ordered)
  Normalization normalization;
};

RunData prepare_training_data(const TrainOptions& options) {
  RunData run;
  DatasetOptions dataset_options = options.dataset;
  dataset_options.split = "train";
  run.train = load_dataset(dataset_options);
  for (const std::int64_t c : options.classes) {
    if (c < 0 || c >= run.train.num_classes) {
      throw std::invalid_argument("--classes: class " + std::to_string(c) + " is outside 0.." +
                                  std::to_string(run.train.num_classes - 1));
    }
  }
  if (!options.classes.empty()) {
    run.train = select_rows(run.train, rows_with_classes(run.train.labels, options.classes));
  }
  if (options.train_fraction < 1.0) {
    run.train = select_rows(
        run.train, stratified_fraction(run.train.labels, options.train_fraction, options.seed));
  } else if (!(options.train_fraction > 0 && options.train_fraction <= 1)) {
    stratified_fraction(run.train.labels, options.train_fraction, options.seed);  // throws
  }
  if (run.train.size() == 0) throw std::invalid_argument("the training subset is empty");
  if (options.ordered) run.ordered_rows = class_ordered(run.train.labels, options.classes);
  run.normalization = channel_statistics(run.train);
  return run;
}

json options_json(const TrainOptions& options, const Dataset& train,
                  const Normalization& normalization) {
  json config;
  config["format"] = "sublens-run-1";
  config["model"] = to_json(options.model);
  config["display_name"] = display_name(options.model);
  config["dataset"] = {{"name", options.dataset.name},
                       {"data_dir", options.dataset.data_dir.empty()
                                        ? std::string()
                                        : fs::absolute(options.dataset.data_dir).string()}};
  config["train_fraction"] = options.train_fraction;
  config["classes"] = options.classes;
  config["ordered"] = options.ordered;
  config["batch_size"] = options.batch_size;
  config["lr"] = options.lr;
  config["momentum"] = options.momentum;
  config["weight_decay"] = options.weight_decay;
  config["lr_step"] = options.lr_step;
  config["lr_gamma"] = options.lr_gamma;
  config["seed"] = options.seed;
  config["test_n"] = options.test_n;
  config["train_images"] = train.size();
  config["num_classes"] = train.num_classes;
  config["normalization"] = normalization_json(normalization);
  return config;
}

// Options stored in a run's config.json (those that define the run; epochs, threads, checkpoints
// and test_n come from the caller).
// Refuses a resume whose explicitly given options differ from the stored run's.
void check_resume_matches(const TrainOptions& stored, const TrainOptions& caller,
                          const fs::path& config_path) {
  const auto given = [&](const std::string& name) {
    return std::find(caller.given.begin(), caller.given.end(), name) != caller.given.end();
  };
  const auto text = [](const auto& value) {
    std::ostringstream out;
    using Value = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<Value, std::vector<std::int64_t>>) {
      for (std::size_t i = 0; i < value.size(); ++i) out << (i ? "," : "") << value[i];
    } else if constexpr (std::is_floating_point_v<Value>) {
      out.precision(17);  // never "is 0.1, not 0.1"
      out << value;
    } else {
      out << value;
    }
    return out.str();
  };
  const auto check = [&](const std::string& name, const auto& stored_value,
                         const auto& caller_value) {
    if (given(name) && !(stored_value == caller_value)) {
      throw InputError(config_path.string(), name,
                       "is " + text(stored_value) + " in this run, not " + text(caller_value) +
                           "; --resume continues a run with its own options (choose a new "
                           "folder to train with others)");
    }
  };
  check("model", display_name(stored.model), display_name(caller.model));
  check("base_width", stored.model.base_width, caller.model.base_width);
  check("growth_rate", stored.model.growth_rate, caller.model.growth_rate);
  check("dataset", stored.dataset.name, caller.dataset.name);
  check("train_fraction", stored.train_fraction, caller.train_fraction);
  check("classes", stored.classes, caller.classes);
  check("ordered", stored.ordered, caller.ordered);
  check("batch_size", stored.batch_size, caller.batch_size);
  check("lr", stored.lr, caller.lr);
  check("momentum", stored.momentum, caller.momentum);
  check("weight_decay", stored.weight_decay, caller.weight_decay);
  check("lr_step", stored.lr_step, caller.lr_step);
  check("lr_gamma", stored.lr_gamma, caller.lr_gamma);
  check("seed", stored.seed, caller.seed);
}

TrainOptions stored_options(const json& config, const TrainOptions& caller) {
  TrainOptions options = caller;
  options.model = model_spec_from_json(config.at("model"));
  options.dataset.name = config.at("dataset").at("name").get<std::string>();
  options.dataset.data_dir = config.at("dataset").at("data_dir").get<std::string>();
  options.train_fraction = config.at("train_fraction").get<double>();
  options.classes = config.at("classes").get<std::vector<std::int64_t>>();
  options.ordered = config.at("ordered").get<bool>();
  options.batch_size = config.at("batch_size").get<int>();
  options.lr = config.at("lr").get<double>();
  options.momentum = config.at("momentum").get<double>();
  options.weight_decay = config.at("weight_decay").get<double>();
  options.lr_step = config.at("lr_step").get<int>();
  options.lr_gamma = config.at("lr_gamma").get<double>();
  options.seed = config.at("seed").get<std::uint64_t>();
  return options;
}

void check_options(const TrainOptions& options) {
  if (options.epochs < 1)
    throw std::invalid_argument("epochs must be >= 1 (is " + std::to_string(options.epochs) + ")");
  if (options.batch_size < 1) throw std::invalid_argument("batch size must be >= 1");
  if (!(options.lr > 0)) throw std::invalid_argument("lr must be > 0");
  if (options.momentum < 0 || options.weight_decay < 0) {
    throw std::invalid_argument("momentum and weight decay must be >= 0");
  }
  if (options.lr_step < 1) throw std::invalid_argument("lr step must be >= 1");
  if (options.checkpoint_every < 1) throw std::invalid_argument("checkpoint-every must be >= 1");
  for (const int e : options.checkpoint_epochs) {
    if (e < 0 || e > options.epochs) {
      throw std::invalid_argument("checkpoint epochs must be in 0.." +
                                  std::to_string(options.epochs) + " (is " + std::to_string(e) +
                                  ")");
    }
  }
  if (options.run_dir.empty()) throw std::invalid_argument("a run folder (-o) is required");
}

}  // namespace

std::vector<int> checkpoint_epochs(const fs::path& run_dir) {
  std::vector<int> epochs;
  const fs::path folder = run_dir / "checkpoints";
  if (!fs::is_directory(folder)) return epochs;
  static const std::regex pattern(R"(epoch-(\d+)\.pt)");
  for (const auto& entry : fs::directory_iterator(folder)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, match, pattern)) epochs.push_back(std::stoi(match[1].str()));
  }
  std::sort(epochs.begin(), epochs.end());
  return epochs;
}

TrainResult train(const TrainOptions& caller_options) {
  const auto start = std::chrono::steady_clock::now();
  check_options(caller_options);
  const fs::path run_dir = caller_options.run_dir;
  const fs::path config_path = run_dir / "config.json";
  const bool existing = fs::exists(config_path);
  if (existing && !caller_options.resume) {
    throw InputError(run_dir.string(), "-o",
                     "already holds a training run (config.json); pass --resume to continue it or "
                     "choose a new folder");
  }
  if (fs::exists(run_dir) && !fs::is_directory(run_dir)) {
    throw InputError(run_dir.string(), "-o", "is a file, expected a folder");
  }
  TrainOptions options = caller_options;
  if (existing) {
    try {
      options = stored_options(read_json(config_path), caller_options);
    } catch (const json::exception& error) {
      throw InputError(config_path.string(), "config", error.what());
    }
    check_resume_matches(options, caller_options, config_path);
  }
  check_options(options);
  torch::set_num_threads(resolve_threads(options.threads));

  RunData run = prepare_training_data(options);
  Dataset test;
  if (options.test_n >= 0) {
    DatasetOptions test_options = options.dataset;
    test_options.split = "test";
    test = load_dataset(test_options);
    if (options.test_n > 0 && options.test_n < test.size()) {
      std::vector<std::int64_t> rows(options.test_n);
      std::iota(rows.begin(), rows.end(), std::int64_t{0});
      test = select_rows(test, rows);
    }
  }
  options.model.in_channels = run.train.channels;
  options.model.height = run.train.height;
  options.model.width_px = run.train.width;
  options.model.num_classes = run.train.num_classes;

  torch::manual_seed(options.seed);
  auto model = make_model(options.model);
  model->train();
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(options.lr)
                                                       .momentum(options.momentum)
                                                       .weight_decay(options.weight_decay));

  // Resume from the last checkpoint; keep the log rows before it.
  int first_epoch = 1;
  std::vector<std::string> log_rows;
  const std::vector<int> done = checkpoint_epochs(run_dir);
  if (options.resume && !done.empty()) {
    load_checkpoint(checkpoint_path(run_dir, done.back()), *model, &optimizer);
    first_epoch = done.back() + 1;
    std::ifstream log(run_dir / "log.csv");
    std::string line;
    std::getline(log, line);  // header
    while (std::getline(log, line)) {
      if (!line.empty() && std::stoi(line) < first_epoch) log_rows.push_back(line);
    }
  }

  TrainResult result;
  result.first_epoch = first_epoch;
  result.last_epoch = first_epoch - 1;
  result.train_images = run.train.size();
  result.test_loss = result.test_accuracy = std::numeric_limits<double>::quiet_NaN();
  fs::create_directories(run_dir / "checkpoints");
  if (!existing) {
    io::write_file_atomically(config_path,
                              options_json(options, run.train, run.normalization).dump(2) + "\n");
  }
  const auto wants_checkpoint = [&](int epoch) {
    if (epoch == options.epochs) return true;
    if (!options.checkpoint_epochs.empty()) {
      return std::find(options.checkpoint_epochs.begin(), options.checkpoint_epochs.end(), epoch) !=
             options.checkpoint_epochs.end();
    }
    return epoch > 0 && epoch % options.checkpoint_every == 0;
  };
  if (first_epoch == 1 && wants_checkpoint(0)) {
    save_checkpoint(checkpoint_path(run_dir, 0), *model, optimizer, 0);
    result.checkpoints.push_back(checkpoint_path(run_dir, 0));
  }

  std::int64_t images_seen = 0;
  double training_seconds = 0;  // SGD loops only (no data loading, evaluation or checkpoints)
  const auto n = static_cast<std::size_t>(run.train.size());
  for (int epoch = first_epoch; epoch <= options.epochs; ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    const double lr = options.lr * std::pow(options.lr_gamma, (epoch - 1) / options.lr_step);
    for (auto& group : optimizer.param_groups()) {
      static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
    }
    torch::manual_seed(options.seed * 1000003ULL + static_cast<std::uint64_t>(epoch));
    const std::vector<std::int64_t> order =
        options.ordered ? run.ordered_rows : shuffled_order(run.train.size(), options.seed, epoch);
    const std::size_t batches = (n + options.batch_size - 1) / options.batch_size;
    Progress progress("epoch " + std::to_string(epoch) + "/" + std::to_string(options.epochs),
                      static_cast<std::int64_t>(batches), Progress::global_enabled());
    double loss_sum = 0, correct = 0;
    const auto loop_start = std::chrono::steady_clock::now();
    for (std::size_t begin = 0; begin < n; begin += options.batch_size) {
      const std::size_t end = std::min(n, begin + options.batch_size);
      const auto images = batch_images(run.train, run.normalization, order, begin, end);
      const auto labels = batch_labels(run.train, order, begin, end);
      optimizer.zero_grad();
      const auto logits = model->forward(images);
      const auto loss = torch::nn::functional::cross_entropy(logits, labels);
      loss.backward();
      optimizer.step();
      loss_sum += loss.item<double>() * static_cast<double>(end - begin);
      correct += logits.detach().argmax(1).eq(labels).sum().item<double>();
      progress.advance();
    }
    progress.finish();
    training_seconds += seconds_since(loop_start);
    images_seen += static_cast<std::int64_t>(n);
    result.train_loss = loss_sum / static_cast<double>(n);
    result.train_accuracy = correct / static_cast<double>(n);
    if (test.size() > 0) {
      std::tie(result.test_loss, result.test_accuracy) = evaluate(*model, test, run.normalization);
    }
    if (wants_checkpoint(epoch)) {
      save_checkpoint(checkpoint_path(run_dir, epoch), *model, optimizer, epoch);
      result.checkpoints.push_back(checkpoint_path(run_dir, epoch));
    }
    log_rows.push_back(
        std::to_string(epoch) + "," + format_number(lr) + "," + format_number(result.train_loss) +
        "," + format_number(result.train_accuracy) + "," + format_number(result.test_loss) + "," +
        format_number(result.test_accuracy) + "," + format_number(seconds_since(epoch_start)));
    std::string log = std::string(kLogHeader) + "\n";
    for (const auto& row : log_rows) log += row + "\n";
    io::write_file_atomically(run_dir / "log.csv", log);
    result.last_epoch = epoch;
  }
  result.seconds = seconds_since(start);
  result.images_per_second = static_cast<double>(images_seen) / std::max(1e-9, training_seconds);
  return result;
}

// What a zoo capture puts in a run folder: labels, the images as stored (float32), their positions
// in the split, and metadata naming the training (config.json) and the analysis set.
detail::RunInputs run_inputs(const Dataset& data, const ModelSpec& spec,
                             const ModelDescription& description, const json& config,
                             const ExtractOptions& options) {
  detail::RunInputs inputs;
  inputs.labels = data.labels;
  inputs.inputs = data.images;
  inputs.indices = data.indices;
  inputs.n_classes = spec.num_classes;
  std::string from = config.at("dataset").at("name").get<std::string>() + " " + options.split +
                     " split, " + std::to_string(data.size()) + " inputs";
  if (options.sample_seed >= 0) from += " drawn with seed " + std::to_string(options.sample_seed);
  inputs.metadata = {{"source", "sublens-train"},
                     {"model", description.display_name},
                     {"parameters", description.parameters},
                     {"inputs_from", from},
                     {"inputs_scale", "as stored in the dataset (e.g. 0-255), not normalised"},
                     {"train_run", fs::absolute(options.run_dir).lexically_normal().string()},
                     {"recipe", config}};
  return inputs;
}

ExtractResult extract(const ExtractOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path config_path = options.run_dir / "config.json";
  if (!fs::is_regular_file(config_path)) {
    throw InputError(options.run_dir.string(), "--run",
                     "no config.json (not a sublens training run)");
  }
  if (options.layers.empty())
    throw std::invalid_argument("--layers: give at least one layer name or pattern");
  if (options.batch_size < 1) throw std::invalid_argument("batch size must be >= 1");
  if (options.n < 0) throw std::invalid_argument("--n must be >= 0");
  const bool to_run = detail::is_run_output(options.output);
  const std::string ext = options.output.extension().string();
  if (!to_run && ext != ".safetensors" && ext != ".npz") {
    throw InputError(options.output.string(), "-o",
                     "must end in .safetensors or .npz, or name a run folder");
  }
  const json config = read_json(config_path);
  ModelSpec spec;
  DatasetOptions dataset_options;
  Normalization normalization;
  try {
    spec = model_spec_from_json(config.at("model"));
    dataset_options.name = config.at("dataset").at("name").get<std::string>();
    dataset_options.data_dir = config.at("dataset").at("data_dir").get<std::string>();
    normalization.mean = config.at("normalization").at("mean").get<std::vector<double>>();
    normalization.std = config.at("normalization").at("std").get<std::vector<double>>();
  } catch (const json::exception& error) {
    throw InputError(config_path.string(), "config", error.what());
  }
  torch::set_num_threads(resolve_threads(options.threads));

  // Epochs.
  const std::vector<int> available = checkpoint_epochs(options.run_dir);
  if (available.empty()) throw InputError(options.run_dir.string(), "--run", "holds no checkpoint");
  std::vector<int> epochs = options.all_epochs ? available : options.epochs;
  if (epochs.empty()) epochs = {available.back()};
  for (const int epoch : epochs) {
    if (std::find(available.begin(), available.end(), epoch) == available.end()) {
      std::string list;
      for (const int e : available) list += (list.empty() ? "" : ", ") + std::to_string(e);
      throw InputError(
          options.run_dir.string(), "--epoch",
          "no checkpoint for epoch " + std::to_string(epoch) + " (available: " + list + ")");
    }
  }

  // Inputs.
  dataset_options.split = options.split;
  Dataset data = load_dataset(dataset_options);
  if (!options.classes.empty())
    data = select_rows(data, rows_with_classes(data.labels, options.classes));
  if (options.n > data.size()) {
    throw std::invalid_argument("--n must be <= " + std::to_string(data.size()) +
                                " (images in the " + options.split + " split)");
  }
  if (options.n > 0 && options.sample_seed >= 0) {
    std::vector<std::int64_t> rows =
        shuffled_order(data.size(), static_cast<std::uint64_t>(options.sample_seed), 0);
    rows.resize(static_cast<std::size_t>(options.n));
    std::sort(rows.begin(), rows.end());
    data = select_rows(data, rows);
  } else if (options.n > 0) {
    std::vector<std::int64_t> rows(options.n);
    std::iota(rows.begin(), rows.end(), std::int64_t{0});
    data = select_rows(data, rows);
  }
  if (data.size() == 0) throw std::invalid_argument("no inputs to capture");
  const std::int64_t n = data.size();

  // Layers: names and sizes from one forward pass.
  auto model = make_model(spec);
  model->eval();
  const ModelDescription description = describe(spec);
  Capture selector(options.layers);
  ExtractResult result;
  for (const auto& point : description.capture_points) {
    if (selector.wants(point.name)) result.layers.push_back(point);
  }
  for (const auto& pattern : options.layers) {
    const Capture one(std::vector<std::string>{pattern});
    if (std::none_of(result.layers.begin(), result.layers.end(),
                     [&](const CapturePoint& p) { return one.wants(p.name); })) {
      std::string names;
      for (const auto& point : description.capture_points)
        names += (names.empty() ? "" : ", ") + point.name;
      throw std::invalid_argument("--layers: \"" + pattern + "\" matches no capture point of " +
                                  description.display_name + " (" + names + ")");
    }
  }
  double bytes = 0;
  for (const auto& point : result.layers) bytes += 4.0 * static_cast<double>(n) * point.dim;
  if (bytes > options.max_memory_gb * 1e9) {
    throw std::invalid_argument("the capture needs " + format_number(bytes / 1e9) +
                                " GB (N x d float32 per layer), more than --max-memory " +
                                format_number(options.max_memory_gb) +
                                " GB; capture fewer layers or inputs per call");
  }
  const fs::path parent =
      options.output.has_parent_path() ? options.output.parent_path() : fs::path(".");
  if (!to_run && !fs::is_directory(parent)) {
    throw InputError(options.output.string(), "-o",
                     "folder " + parent.string() + " does not exist");
  }

  const fs::path stem = parent / options.output.stem();
  const auto sidecar = [&](const std::string& suffix) { return fs::path(stem.string() + suffix); };
  std::vector<std::int64_t> rows(n);
  std::iota(rows.begin(), rows.end(), std::int64_t{0});
  io::RunFolder run;
  if (to_run) {
    run = detail::open_run_output(options.output, result.layers,
                                  run_inputs(data, spec, description, config, options));
  } else {
    io::write_npy(sidecar(".labels.npy"), io::NdArray::from_int64({n}, data.labels.data()));
    io::write_npy(sidecar(".indices.npy"), io::NdArray::from_int64({n}, data.indices.data()));
    result.sidecars = {sidecar(".labels.npy"), sidecar(".indices.npy")};
    if (options.save_images) {
      io::write_npy(sidecar(".images.npy"), data.images);
      result.sidecars.push_back(sidecar(".images.npy"));
    }
  }
  result.n_inputs = n;
  result.epochs = epochs;

  torch::NoGradGuard no_grad;
  double capture_seconds = 0;
  for (const int epoch : epochs) {
    load_checkpoint(checkpoint_path(options.run_dir, epoch), *model, nullptr);
    model->eval();
    io::NamedArrays arrays;
    for (const auto& point : result.layers) {
      io::NdArray array;
      array.dtype = io::DType::kFloat32;
      array.shape = {n, point.dim};
      array.bytes.resize(static_cast<std::size_t>(n) * point.dim * sizeof(float));
      arrays.emplace_back(point.name, std::move(array));
    }
    std::vector<std::int64_t> predictions(n);
    std::vector<float> softmax(static_cast<std::size_t>(n) * spec.num_classes);
    Progress progress("capture epoch " + std::to_string(epoch), n, Progress::global_enabled());
    const auto capture_start = std::chrono::steady_clock::now();
    for (std::int64_t begin = 0; begin < n; begin += options.batch_size) {
      const std::int64_t end = std::min(n, begin + options.batch_size);
      Capture capture(options.layers);
      const auto logits =
          model->forward(batch_images(data, normalization, rows, static_cast<std::size_t>(begin),
                                      static_cast<std::size_t>(end)),
                         &capture);
      for (std::size_t l = 0; l < arrays.size(); ++l) {
        const auto values = capture.values.at(l).second.reshape({end - begin, -1}).contiguous();
        std::memcpy(arrays[l].second.bytes.data() + begin * result.layers[l].dim * sizeof(float),
                    values.data_ptr<float>(), values.numel() * sizeof(float));
      }
      const auto probabilities = torch::softmax(logits, 1).contiguous();
      std::memcpy(softmax.data() + begin * spec.num_classes, probabilities.data_ptr<float>(),
                  probabilities.numel() * sizeof(float));
      const auto predicted = logits.argmax(1).contiguous();
      std::memcpy(predictions.data() + begin, predicted.data_ptr<std::int64_t>(),
                  (end - begin) * sizeof(std::int64_t));
      progress.advance(end - begin);
    }
    progress.finish();
    capture_seconds += seconds_since(capture_start);
    std::int64_t correct = 0;
    for (std::int64_t i = 0; i < n; ++i) correct += predictions[i] == data.labels[i];
    result.accuracy.push_back(static_cast<double>(correct) / static_cast<double>(n));

    std::vector<std::pair<std::string, std::string>> metadata = {
        {"sublens.model", description.display_name},
        {"sublens.epoch", std::to_string(epoch)},
        {"sublens.split", options.split}};
    if (to_run) {
      detail::write_run_epoch(run, epoch, arrays, predictions, softmax, data.labels, metadata);
      result.outputs.push_back(run.epoch_file(epoch, ".safetensors"));
      result.sidecars.push_back(run.epoch_file(epoch, ".predictions.npy"));
      result.sidecars.push_back(run.epoch_file(epoch, ".softmax.npy"));
      continue;
    }
    char tag[32] = "";
    if (epochs.size() > 1) std::snprintf(tag, sizeof tag, ".epoch-%04d", epoch);
    const fs::path output =
        epochs.size() > 1 ? fs::path(stem.string() + tag + ext) : options.output;
    for (const auto& point : result.layers) {
      std::string shape;
      for (const auto s : point.shape) {
        if (!shape.empty()) shape += ',';
        shape += std::to_string(s);
      }
      metadata.emplace_back("sublens.shape." + point.name, shape);
    }
    if (ext == ".npz") {
      io::write_npz(output, arrays);
    } else {
      io::write_safetensors(output, arrays, metadata);
    }
    arrays.clear();
    io::write_npy(sidecar(std::string(tag) + ".predictions.npy"),
                  io::NdArray::from_int64({n}, predictions.data()));
    io::write_npy(sidecar(std::string(tag) + ".softmax.npy"),
                  io::NdArray::from_float({n, spec.num_classes}, softmax.data()));
    result.outputs.push_back(output);
    result.sidecars.push_back(sidecar(std::string(tag) + ".predictions.npy"));
    result.sidecars.push_back(sidecar(std::string(tag) + ".softmax.npy"));
  }
  result.seconds = seconds_since(start);
  result.images_per_second =
      static_cast<double>(n) * static_cast<double>(epochs.size()) / std::max(1e-9, capture_seconds);
  return result;
}

}  // namespace sublens::models
