// Zoo variants: `sublens train` (retrained from scratch when its recipe changed) and `sublens
// extract` of every analysed epoch into the variant's run folder DIR/acts/<variant>/, the same
// layout a recorded run has (see pipeline.hpp).
#include <fstream>

#include "pipeline.hpp"
#include "sublens/core/progress.hpp"

namespace sublens::study::detail {
namespace {

std::vector<std::string> train_args(const StudyContext& context, const Variant& variant) {
  const VariantPlan& v = *variant.plan;
  const Plan& plan = context.plan;
  std::vector<std::string> args = {"train"};
  const auto model = model_args(v);
  args.insert(args.end(), model.begin(), model.end());
  args.insert(args.end(), {"--dataset",
                           plan.dataset,
                           "--data-dir",
                           plan.data_dir.string(),
                           "--epochs",
                           std::to_string(v.epochs),
                           "--train-fraction",
                           number_arg(v.train_fraction),
                           "--batch-size",
                           std::to_string(v.batch_size),
                           "--lr",
                           number_arg(v.lr),
                           "--momentum",
                           number_arg(v.momentum),
                           "--weight-decay",
                           number_arg(v.weight_decay),
                           "--lr-step",
                           std::to_string(v.lr_step),
                           "--lr-gamma",
                           number_arg(v.lr_gamma),
                           "--seed",
                           std::to_string(v.seed),
                           "--threads",
                           context.threads,
                           "--test-n",
                           "-1",
                           "--checkpoint-every",
                           "1",
                           "--resume",
                           "-o",
                           variant.paths.train().string()});
  if (!v.classes.empty()) {
    std::vector<std::string> classes;
    for (auto c : v.classes) classes.push_back(std::to_string(c));
    args.insert(args.end(), {"--classes", join(classes, ",")});
  }
  if (v.ordered) args.push_back("--ordered");
  return args;
}

// The training's recipe: its arguments without the thread count (another machine may use
// another) and the folder (a study folder can move), plus the data's bytes.
json recipe_of(const std::vector<std::string>& train, StudyContext& context) {
  json recipe = json::array();
  for (std::size_t a = 0; a < train.size(); ++a) {
    if (train[a] == "--threads" || train[a] == "-o") {
      ++a;
    } else {
      recipe.push_back(train[a]);
    }
  }
  recipe.push_back("data=" + context.steps.hash_path(context.plan.data_dir));
  return recipe;
}

// A run folder trained with other options (the plan changed) is stale: start it afresh. Killed
// mid-training, the rerun continues from the last per-epoch checkpoint (train --resume).
void discard_stale_training(const StudyContext& context, const fs::path& folder,
                            const json& recipe) {
  const fs::path recipe_file = folder / "study-recipe.json";
  if (fs::exists(folder)) {
    json stored;
    try {
      std::ifstream in(recipe_file);
      stored = json::parse(in);
    } catch (const std::exception&) {
      stored = nullptr;
    }
    if (stored != recipe) {
      if (Progress::global_enabled()) {
        std::fprintf(stderr, "%s: %s was trained with other options; training it again\n",
                     context.who.c_str(), folder.c_str());
      }
      fs::remove_all(folder);
    }
  }
  fs::create_directories(folder);
  io::write_file_atomically(recipe_file, recipe.dump() + "\n");
}

// A captured run folder of other layers or another analysis set (the plan or the data changed) is
// cleared: `extract` refuses to mix them. What it was captured with is kept beside it.
void discard_stale_capture(StudyContext& context, const Variant& variant) {
  const Plan& plan = context.plan;
  const json capture = {{"layers", variant.layers},
                        {"split", plan.split},
                        {"n", plan.n},
                        {"sample_seed", plan.sample_seed},
                        {"data", context.steps.hash_path(plan.data_dir)}};
  const fs::path folder = variant.run.dir;
  const fs::path record = folder.parent_path() / (variant.plan->name + ".capture.json");
  json stored;
  try {
    std::ifstream in(record);
    stored = json::parse(in);
  } catch (const std::exception&) {
    stored = nullptr;
  }
  if (stored != capture) fs::remove_all(folder);
  fs::create_directories(folder.parent_path());
  io::write_file_atomically(record, capture.dump() + "\n");
}

std::vector<std::string> extract_args(const StudyContext& context, const Variant& variant,
                                      int epoch, const fs::path& output,
                                      const std::vector<std::string>& layers) {
  const Plan& plan = context.plan;
  std::vector<std::string> args = {"extract",
                                   "--run",
                                   variant.paths.train().string(),
                                   "--epoch",
                                   std::to_string(epoch),
                                   "--split",
                                   plan.split,
                                   "--n",
                                   std::to_string(plan.n),
                                   "--sample-seed",
                                   std::to_string(plan.sample_seed),
                                   "--threads",
                                   context.threads,
                                   "-o",
                                   output.string()};
  for (const auto& layer : layers) args.insert(args.end(), {"--layers", layer});
  return args;
}

}  // namespace

void train_and_capture(StudyContext& context, const Variant& variant) {
  const VariantPlan& v = *variant.plan;
  const Paths& paths = variant.paths;
  const std::vector<std::string> train = train_args(context, variant);
  discard_stale_training(context, paths.train(), recipe_of(train, context));
  context.steps.run({step_name("train", v.name),
                     train,
                     {context.plan.data_dir},
                     {paths.checkpoint(v.epochs)},
                     /*capture_stderr=*/false,
                     /*show_progress=*/true});
  discard_stale_capture(context, variant);
  const RunFiles& run = variant.run;
  for (int epoch : variant.epochs) {
    context.steps.run(
        {step_name("extract", v.name, epoch),
         extract_args(context, variant, epoch, run.dir, variant.layers),
         {paths.train() / "config.json", paths.checkpoint(epoch), context.plan.data_dir},
         {run.acts(epoch), run.predictions(epoch), run.softmax(epoch), run.labels(), run.inputs()},
         /*capture_stderr=*/false,
         /*show_progress=*/true});
  }
  if (variant.nmf_separate) {
    fs::create_directories(variant.nmf_acts.parent_path());
    context.steps.run(
        {step_name("extract-nmf", v.name),
         extract_args(context, variant, variant.last(), variant.nmf_acts, variant.nmf_layers),
         {paths.train() / "config.json", paths.checkpoint(variant.last()), context.plan.data_dir},
         {variant.nmf_acts}});
  }
}

}  // namespace sublens::study::detail
