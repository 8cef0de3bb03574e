// `sublens study`: a plan's variants -> their run folders -> measures -> tables, findings and
// the report. See include/sublens/study/study.hpp; pipeline.hpp says where each part lives.
#include "sublens/study/study.hpp"

#include <chrono>
#include <cstdio>

#include "findings.hpp"
#include "pipeline.hpp"
#include "sublens/core/error.hpp"
#include "sublens/core/progress.hpp"

namespace sublens::study {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace): this module's parts

// Everything that can be checked before a file is written: the data folder (zoo variants), the
// output folder, every variant (models, layers, run folders).
std::vector<Variant> check_before_writing(const Plan& plan, const StudyOptions& options,
                                          const fs::path& dir) {
  const bool any_zoo = std::any_of(plan.variants.begin(), plan.variants.end(),
                                   [](const VariantPlan& v) { return v.run.empty(); });
  std::error_code error;
  if (any_zoo && !fs::is_directory(plan.data_dir, error)) {
    throw InputError(plan.file.string(), "dataset.data_dir",
                     "must be an existing folder (" + plan.data_dir.string() + ")");
  }
  if (options.output.empty()) throw std::invalid_argument("study: -o DIR is required");
  if (fs::exists(options.output, error) && !fs::is_directory(options.output, error)) {
    throw InputError(options.output.string(), "-o", "is a file, expected a folder");
  }
  return resolve_variants(plan, dir);
}

// study.json holds no timings: a rerun writes identical bytes.
json write_results(const Plan& plan, const json& variants, const fs::path& dir) {
  const json findings = findings::study_findings(variants);
  write_study_tables(variants, dir);
  json study = {{"command", "study"},
                {"plan", to_json(plan)},
                {"variants", variants},
                {"findings", findings}};
  io::write_file_atomically(dir / "study.json", study.dump(1) + "\n");
  return study;
}

void run_variant(StudyContext& context, const Variant& variant, json& variants) {
  if (!variant.recorded()) train_and_capture(context, variant);
  variants.push_back(measure_variant(context, variant));
}

// One round of tasks shared among the processes: each runs the tasks it takes; an error stops
// the round everywhere (each process finishes its task) and then every process, with its code.
template <class Task>
void share_round(WorkSharing& sharing, int count, Task task) {
  sharing.share(count);
  std::exception_ptr error;
  try {
    for (int next = sharing.next(); next >= 0; next = sharing.next()) task(next);
  } catch (...) {
    error = std::current_exception();
    sharing.stop();
  }
  sharing.settle(error);  // collective: the next round starts when this one is over everywhere
}

// Several processes. With at least as many variants as processes, one round: each process runs
// whole variants (measured on the demo's 12 networks, 2 processes: 1.57x; the three rounds below
// gave 1.28x, each waiting for the round's slowest task). With fewer, three rounds that respect
// the steps' dependencies, so that one network's epochs are shared too: training and capture per
// variant; SSC graphs and their measures per (variant, epoch); the other measures per variant.
// Returns the steps this process ran.
int run_shared(StudyContext& context, const std::vector<Variant>& resolved, WorkSharing& sharing) {
  context.steps.share_progress([&sharing](int k) { return sharing.add_finished(k); },
                               sharing.processes());
  const int count = static_cast<int>(resolved.size());
  json unused = json::array();
  if (count < sharing.processes()) {
    share_round(sharing, count, [&](int v) {
      if (!resolved[v].recorded()) train_and_capture(context, resolved[v]);
    });
    std::vector<std::pair<int, int>> epochs;  // (variant, epoch)
    for (int v = 0; v < count; ++v) {
      for (int epoch : resolved[v].epochs) epochs.emplace_back(v, epoch);
    }
    share_round(sharing, static_cast<int>(epochs.size()), [&](int t) {
      epoch_graph_measures(context, resolved[epochs[t].first], epochs[t].second);
    });
  }
  share_round(sharing, count, [&](int v) { run_variant(context, resolved[v], unused); });
  return context.steps.ran() + context.analysis_ran;
}

json finish_study(const Plan& plan, const StudyOptions& options, const fs::path& dir,
                  const json& variants, std::chrono::steady_clock::time_point start, int ran,
                  int skipped) {
  const json study = write_results(plan, variants, dir);
  json summary = {{"command", "study"},     {"plan", plan.file.string()},
                  {"output", dir.string()}, {"study", (dir / "study.json").string()},
                  {"tables", kStudyTables}, {"findings", study["findings"]},
                  {"steps_run", ran},       {"steps_skipped", skipped}};
  if (options.sharing != nullptr) summary["processes"] = options.sharing->processes();
  if (options.write_report) {
    const json rendered = render(study_report(study, dir), dir, options.figures);
    summary.update(rendered);
    if (Progress::global_enabled()) {
      std::fprintf(stderr, "%s: report written to %s\n", options.who.c_str(),
                   rendered["report"].get<std::string>().c_str());
    }
  }
  summary["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

// Several processes: each runs the variants it takes; the root then reads them all back from the
// step records (quietly: nothing is left to run), writes the results and returns the summary;
// the other processes return null.
json run_shared_study(const Plan& plan, const StudyOptions& options, const fs::path& dir,
                      const std::vector<Variant>& resolved, int planned) {
  const auto start = std::chrono::steady_clock::now();
  WorkSharing& sharing = *options.sharing;
  if (sharing.root()) fs::create_directories(dir);
  sharing.wait_for_all();
  const int thread_count = options.threads >= 0 ? options.threads : plan.threads;
  const std::string threads = std::to_string(thread_count);
  StepRunner steps(dir, options.who, planned);
  StudyContext context{plan, dir, thread_count, threads, options.who, steps};
  const int shared_ran = sharing.finish(run_shared(context, resolved, sharing));
  if (!sharing.root()) return nullptr;
  const bool progress = Progress::global_enabled();
  Progress::set_global_enabled(false);
  StepRunner reader(dir, options.who, planned);
  StudyContext again{plan, dir, thread_count, threads, options.who, reader};
  json variants = json::array();
  for (const Variant& variant : resolved) run_variant(again, variant, variants);
  Progress::set_global_enabled(progress);
  return finish_study(plan, options, dir, variants, start,
                      shared_ran + reader.ran() + again.analysis_ran,
                      reader.skipped() + again.analysis_skipped - shared_ran);
}

}  // namespace

json run_study(const Plan& plan, const StudyOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path dir = fs::absolute(options.output).lexically_normal();
  const std::vector<Variant> resolved = check_before_writing(plan, options, dir);
  int planned = 0;
  for (const Variant& variant : resolved) planned += planned_steps(variant);
  if (options.sharing != nullptr) return run_shared_study(plan, options, dir, resolved, planned);
  const bool created = !fs::exists(dir);
  fs::create_directories(dir);
  StepRunner steps(dir, options.who, planned);
  const int thread_count = options.threads >= 0 ? options.threads : plan.threads;
  StudyContext context{plan, dir, thread_count, std::to_string(thread_count), options.who, steps};

  json variants = json::array();
  try {
    for (const Variant& variant : resolved) run_variant(context, variant, variants);
  } catch (const StepFailed& failure) {
    // A step that rejected its input (exit 2) is the user's error: its own message was printed.
    // A study folder this run created is removed unless a step finished in it (hours of
    // training are kept for the rerun once the input is fixed).
    if (failure.exit_code == 2 && created && steps.ran() == 0 && context.analysis_ran == 0) {
      fs::remove_all(dir);
    }
    throw;
  }
  return finish_study(plan, options, dir, variants, start, steps.ran() + context.analysis_ran,
                      steps.skipped() + context.analysis_skipped);
}

}  // namespace sublens::study
