// `sublens-torch`: the commands that need LibTorch (train, extract, models). `sublens` runs it
// with the same arguments (see src/cli/cmd_train.cpp); it prints one JSON summary on stdout,
// progress on stderr, and exits 0 (ok), 1 (internal failure) or 2 (bad input or usage).
#include <fnmatch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <limits>
#include <map>
#include <memory>

#include "layers_option.hpp"
#include "run_output.hpp"
#include "sublens/core/error.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/models/models.hpp"

namespace sublens::models {
namespace {
using nlohmann::json;
using Runner = std::function<json()>;

json number(double value) {
  if (!std::isfinite(value)) return nullptr;
  return value;
}

json points_json(const std::vector<CapturePoint>& points) {
  json out = json::array();
  for (const auto& point : points) {
    out.push_back({{"name", point.name}, {"shape", point.shape}, {"dim", point.dim}});
  }
  return out;
}

std::vector<std::string> strings(const std::vector<std::filesystem::path>& paths) {
  std::vector<std::string> out;
  for (const auto& path : paths) out.push_back(path.string());
  return out;
}

bool is_glob(const std::string& pattern) {
  return pattern.find_first_of("*?[") != std::string::npos;
}

// TorchScript captures take submodule names: globs become the names they match, in the order of
// the patterns and then of the model's forward (as `sublens` selects layers of a file).
std::vector<std::string> expand_torchscript_globs(const TorchScriptOptions& script,
                                                  const std::filesystem::path& model,
                                                  const std::vector<std::string>& patterns) {
  if (std::none_of(patterns.begin(), patterns.end(), is_glob)) return patterns;
  TorchScriptOptions listing = script;
  listing.model = model;
  listing.layers.clear();
  const std::vector<std::string> available = extract_torchscript(listing).available;
  std::vector<std::string> names;
  for (const auto& pattern : patterns) {
    bool matched = false;
    for (const auto& name : available) {
      if (name != pattern && (!is_glob(pattern) || fnmatch(pattern.c_str(), name.c_str(), 0) != 0))
        continue;
      matched = true;
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    if (!matched && !is_glob(pattern)) names.push_back(pattern);  // the capture names it
    if (!matched && is_glob(pattern)) {
      std::string listed;
      for (const auto& name : available) listed += (listed.empty() ? "" : ", ") + name;
      if (listed.size() > 600) listed = listed.substr(0, 600) + ", ...";
      throw InputError(model.string(), "--layers",
                       "'" + pattern + "' matches no submodule call in forward (" + listed + ")");
    }
  }
  return names;
}

void add_model_options(CLI::App& app, ModelSpec& spec, std::string& model_name) {
  app.add_option("--depth", spec.depth,
                 "Depth (vgg 11/13/16/19/24/29, resnet 6n+2 or 18/34/50, "
                 "wrn 6n+4, densenet 121 or 6n+4); 0: family default");
  app.add_option("--width", spec.width, "Wide-ResNet widening factor k (default 2)");
  app.add_option("--base-width", spec.base_width,
                 "Channels of the first stage (0: family default; small values give tiny models)");
  app.add_option("--growth-rate", spec.growth_rate, "DenseNet growth rate (0: 12, or 32 for 121)");
  (void)model_name;
}

// --model NAME plus explicit --depth/--width override what the name implies.
ModelSpec resolve_spec(const std::string& name, const ModelSpec& flags) {
  ModelSpec spec = parse_model_name(name);
  if (flags.depth > 0) spec.depth = flags.depth;
  if (flags.width > 0) spec.width = flags.width;
  spec.base_width = flags.base_width;
  spec.growth_rate = flags.growth_rate;
  return spec;
}

Runner setup_train(CLI::App& app) {
  auto options = std::make_shared<TrainOptions>();
  auto model_name = std::make_shared<std::string>();
  app.add_option("--model", *model_name,
                 "cnn2, alexnet, vgg[N], resnet[N], wrn[-D-K], densenet[N] (see 'sublens models')")
      ->required();
  add_model_options(app, options->model, *model_name);
  app.add_option("--dataset", options->dataset.name,
                 "fashion-mnist, mnist, cifar10, cifar100 or npy")
      ->capture_default_str();
  app.add_option("--data-dir", options->dataset.data_dir,
                 "Folder with the dataset files (default for fashion-mnist: "
                 "/usr/share/datasets/fashion-mnist; npy: {train,test}_{images,labels}.npy)");
  app.add_option("--train-fraction", options->train_fraction,
                 "Seeded stratified fraction of the training split, (0, 1]")
      ->capture_default_str();
  app.add_option("--classes", options->classes, "Train only on these classes, e.g. 0,1,2")
      ->delimiter(',');
  app.add_flag("--ordered", options->ordered,
               "Class-ordered sampling: all of the first class, then the next ... (no shuffling)");
  app.add_option("--epochs", options->epochs, "Last epoch to train")->required();
  app.add_option("--batch-size", options->batch_size, "Images per SGD step")->capture_default_str();
  app.add_option("--lr", options->lr, "Initial learning rate")->capture_default_str();
  app.add_option("--momentum", options->momentum, "SGD momentum")->capture_default_str();
  app.add_option("--weight-decay", options->weight_decay, "L2 weight decay")->capture_default_str();
  app.add_option("--lr-step", options->lr_step, "Decay the learning rate every this many epochs")
      ->capture_default_str();
  app.add_option("--lr-gamma", options->lr_gamma, "Learning-rate decay factor")
      ->capture_default_str();
  app.add_option("--seed", options->seed, "Seed of weights, subsets and shuffling")
      ->capture_default_str();
  app.add_option("--threads", options->threads, "Torch threads (0: all cores)")
      ->capture_default_str();
  app.add_option("--checkpoint-every", options->checkpoint_every,
                 "Checkpoint every k epochs (the last epoch always)")
      ->capture_default_str();
  app.add_option(
         "--checkpoint-epochs", options->checkpoint_epochs,
         "Checkpoint exactly these epochs (and the last), e.g. 0,1,31,61; 0 = initial weights")
      ->delimiter(',');
  app.add_flag("--resume", options->resume, "Continue from the last checkpoint in the run folder");
  app.add_option("--test-n", options->test_n,
                 "Evaluate each epoch on the first N test images (0: all, -1: none)")
      ->capture_default_str();
  app.add_option("-o,--output", options->run_dir, "Run folder (config.json, log.csv, checkpoints/)")
      ->required();
  const std::pair<const char*, const char*> flags[] = {{"--model", "model"},
                                                       {"--depth", "model"},
                                                       {"--width", "model"},
                                                       {"--base-width", "base_width"},
                                                       {"--growth-rate", "growth_rate"},
                                                       {"--dataset", "dataset"},
                                                       {"--train-fraction", "train_fraction"},
                                                       {"--classes", "classes"},
                                                       {"--ordered", "ordered"},
                                                       {"--batch-size", "batch_size"},
                                                       {"--lr", "lr"},
                                                       {"--momentum", "momentum"},
                                                       {"--weight-decay", "weight_decay"},
                                                       {"--lr-step", "lr_step"},
                                                       {"--lr-gamma", "lr_gamma"},
                                                       {"--seed", "seed"}};
  return [options, model_name, &app, flags] {
    for (const auto& [flag, field] : flags) {
      if (app.count(flag) > 0) options->given.emplace_back(field);
    }
    options->model = resolve_spec(*model_name, options->model);
    const TrainResult result = train(*options);
    return json{{"run_dir", options->run_dir.string()},
                {"model", display_name(options->model)},
                {"first_epoch", result.first_epoch},
                {"last_epoch", result.last_epoch},
                {"train_images", result.train_images},
                {"train_loss", number(result.train_loss)},
                {"train_accuracy", number(result.train_accuracy)},
                {"test_loss", number(result.test_loss)},
                {"test_accuracy", number(result.test_accuracy)},
                {"images_per_second", number(result.images_per_second)},
                {"seconds", number(result.seconds)},
                {"checkpoints", strings(result.checkpoints)}};
  };
}

// `extract --torchscript A.pt [--torchscript B.pt ...] --inputs X.npy --labels Y.npy --layers ...
// -o RUNDIR [--epoch 1,2]`: one epoch of a run folder per model file.
json torchscript_run(const ExtractOptions& options, const TorchScriptOptions& script,
                     const std::vector<std::filesystem::path>& models,
                     const std::filesystem::path& labels) {
  if (options.output.empty() || !detail::is_run_output(options.output)) {
    throw std::invalid_argument(
        "several --torchscript models record a run folder: -o RUNDIR (not .safetensors or .npz)");
  }
  const std::pair<bool, const char*> run_only[] = {{!options.run_dir.empty(), "--run"},
                                                   {options.all_epochs, "--all-epochs"},
                                                   {options.n != 0, "--n"},
                                                   {!options.classes.empty(), "--classes"},
                                                   {options.sample_seed >= 0, "--sample-seed"}};
  for (const auto& [given, flag] : run_only) {
    if (given) throw std::invalid_argument(std::string(flag) + " applies to --run only");
  }
  TorchScriptRunOptions run;
  run.models = models;
  run.epochs = options.epochs;
  run.labels = labels;
  run.capture = script;
  run.capture.layers = expand_torchscript_globs(script, models.front(), options.layers);
  run.capture.output = options.output;
  run.capture.batch_size = options.batch_size;
  run.capture.threads = options.threads;
  const TorchScriptRunResult result = extract_torchscript_run(run);
  return json{{"output", options.output.string()},    {"epochs", result.epochs},
              {"accuracy", result.accuracy},          {"n_inputs", result.n_inputs},
              {"layers", points_json(result.layers)}, {"seconds", number(result.seconds)}};
}

Runner setup_extract(CLI::App& app) {
  auto options = std::make_shared<ExtractOptions>();
  auto script = std::make_shared<TorchScriptOptions>();
  auto model_paths = std::make_shared<std::vector<std::filesystem::path>>();
  auto labels = std::make_shared<std::filesystem::path>();
  app.add_option("--run", options->run_dir, "Run folder written by 'sublens train'");
  app.add_option("--torchscript", *model_paths,
                 "A scripted or traced model saved by torch.jit.save; repeat it (one file per "
                 "epoch) with -o RUNDIR to record a run folder");
  app.add_option("--labels", *labels,
                 "With --torchscript and -o RUNDIR: class labels of --inputs, .npy integers");
  app.add_option("--inputs", script->inputs, "With --torchscript: inputs .npy (N x ...)");
  app.add_option("--epoch", options->epochs, "Checkpoint epoch(s) to capture (default: the last)")
      ->delimiter(',');
  app.add_flag("--all-epochs", options->all_epochs,
               "Capture every checkpoint (one file per epoch)");
  cli::add_layers_option(app, options->layers,
                         "Capture points, e.g. 'stage*' or '*.conv1' (with --torchscript: dotted "
                         "submodule names; none: list them)");
  app.add_option("--split", options->split, "test or train")->capture_default_str();
  app.add_option("--n", options->n, "First N images of the split (0: all)")->capture_default_str();
  app.add_option("--classes", options->classes, "Only images of these classes")->delimiter(',');
  app.add_option("--sample-seed", options->sample_seed,
                 "Draw the --n images at random with this seed (kept in split order) instead of "
                 "taking the first n");
  app.add_flag("--save-images", options->save_images,
               "Also write the captured inputs as <stem>.images.npy (N x C x H x W)");
  app.add_option("--batch-size", options->batch_size, "Images per forward pass")
      ->capture_default_str();
  app.add_option("--threads", options->threads, "Torch threads (0: all cores)")
      ->capture_default_str();
  app.add_option("--max-memory", options->max_memory_gb, "Refuse captures needing more GB")
      ->capture_default_str();
  app.add_option("-o,--output", options->output,
                 "Activations .safetensors or .npz, or a run folder (any other name: run.json, "
                 "labels, inputs and per-epoch files; see README)");
  return [options, script, model_paths, labels] {
    if (!model_paths->empty() &&
        (model_paths->size() > 1 || detail::is_run_output(options->output))) {
      return torchscript_run(*options, *script, *model_paths, *labels);
    }
    if (!model_paths->empty()) {
      const std::filesystem::path* model_path = &model_paths->front();
      // The run-only options would be silently ignored: refuse them instead.
      const std::pair<bool, const char*> run_only[] = {{!options->run_dir.empty(), "--run"},
                                                       {!options->epochs.empty(), "--epoch"},
                                                       {options->all_epochs, "--all-epochs"},
                                                       {options->split != "test", "--split"},
                                                       {options->n != 0, "--n"},
                                                       {!options->classes.empty(), "--classes"},
                                                       {options->sample_seed >= 0, "--sample-seed"},
                                                       {options->save_images, "--save-images"}};
      for (const auto& [given, flag] : run_only) {
        if (given) {
          throw std::invalid_argument(std::string(flag) +
                                      " applies to --run only; --torchscript captures every "
                                      "input of --inputs");
        }
      }
      script->model = *model_path;
      script->layers = expand_torchscript_globs(*script, *model_path, options->layers);
      script->output = options->output;
      script->batch_size = options->batch_size;
      script->threads = options->threads;
      if (!script->layers.empty() && (script->inputs.empty() || script->output.empty())) {
        throw std::invalid_argument("--torchscript with --layers needs --inputs and -o");
      }
      const TorchScriptResult result = extract_torchscript(*script);
      if (script->layers.empty())
        return json{{"model", model_path->string()}, {"available", result.available}};
      return json{{"model", model_path->string()},
                  {"output", script->output.string()},
                  {"n_inputs", result.n_inputs},
                  {"layers", points_json(result.layers)},
                  {"seconds", number(result.seconds)}};
    }
    if (options->run_dir.empty())
      throw std::invalid_argument("give --run DIR or --torchscript MODEL.pt");
    if (options->output.empty()) throw std::invalid_argument("-o ACTS.safetensors is required");
    const ExtractResult result = extract(*options);
    return json{{"run_dir", options->run_dir.string()},
                {"epochs", result.epochs},
                {"outputs", strings(result.outputs)},
                {"sidecars", strings(result.sidecars)},
                {"n_inputs", result.n_inputs},
                {"layers", points_json(result.layers)},
                {"accuracy", result.accuracy},
                {"images_per_second", number(result.images_per_second)},
                {"seconds", number(result.seconds)}};
  };
}

Runner setup_models(CLI::App& app) {
  auto spec = std::make_shared<ModelSpec>();
  auto model_name = std::make_shared<std::string>();
  auto input = std::make_shared<std::vector<int>>(std::vector<int>{1, 28, 28});
  app.add_option("--model", *model_name,
                 "One model (default: every family's default configuration)");
  add_model_options(app, *spec, *model_name);
  app.add_option("--input", *input, "Input shape C,H,W")
      ->delimiter(',')
      ->expected(3)
      ->capture_default_str();
  app.add_option("--num-classes", spec->num_classes, "Outputs")->capture_default_str();
  return [spec, model_name, input]() -> json {
    std::vector<ModelSpec> specs = model_name->empty()
                                       ? zoo_defaults()
                                       : std::vector<ModelSpec>{resolve_spec(*model_name, *spec)};
    for (auto& one : specs) {
      one.in_channels = (*input)[0];
      one.height = (*input)[1];
      one.width_px = (*input)[2];
      one.num_classes = spec->num_classes;
      const ModelDescription description = describe(one);
      std::cout << json{{"model", description.display_name},
                        {"family", one.name},
                        {"spec", to_json(one)},
                        {"parameters", description.parameters},
                        {"capture_points", points_json(description.capture_points)}}
                       .dump()
                << std::endl;
    }
    return nullptr;
  };
}

}  // namespace

int torch_main(int argc, char** argv) {
  CLI::App app{"sublens-torch: the LibTorch commands of sublens (run through 'sublens')",
               "sublens"};
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet, "No progress lines on stderr");
  app.require_subcommand(1);
  app.fallthrough();  // --quiet also after the command name
  struct Spec {
    const char* name;
    const char* summary;
    const char* example;
    Runner (*setup)(CLI::App&);
  };
  const Spec specs[] = {
      {"train", "Train a zoo model with per-epoch checkpoints",
       "sublens train --model resnet20 --dataset fashion-mnist --epochs 30 -o runs/r20",
       setup_train},
      {"extract", "Capture layer activations from a training run or a TorchScript model",
       "sublens extract --run runs/r20 --all-epochs --layers 'stage*' --n 1000 -o "
       "acts.safetensors\n"
       "  sublens extract --torchscript model.pt --inputs images.npy --layers layer1,layer2 -o "
       "a.safetensors",
       setup_extract},
      {"models", "List the model zoo and each model's capture points",
       "sublens models --model vgg16 --input 3,32,32", setup_models},
  };
  std::map<CLI::App*, Runner> runners;
  for (const auto& spec : specs) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.summary);
    sub->footer(std::string("Example:\n  ") + spec.example);
    runners[sub] = spec.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }
  Progress::set_global_enabled(!quiet);
  for (auto& [sub, runner] : runners) {
    if (!sub->parsed()) continue;
    try {
      const json summary = runner();
      if (!summary.is_null()) std::cout << summary.dump() << std::endl;
      for (const auto& line : cli::take_deprecation_lines()) {
        std::fprintf(stderr, "sublens %s: warning: %s\n", sub->get_name().c_str(), line.c_str());
      }
      return 0;
    } catch (const std::invalid_argument& error) {
      std::fprintf(stderr, "sublens %s: error: %s\n", sub->get_name().c_str(), error.what());
      return 2;
    } catch (const std::exception& error) {
      std::string message = error.what();
      message = message.substr(0, message.find('\n'));
      std::fprintf(stderr, "sublens %s: internal error: %s\n", sub->get_name().c_str(),
                   message.c_str());
      return 1;
    }
  }
  return 2;
}

}  // namespace sublens::models
