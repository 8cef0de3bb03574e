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

}  // namespace

json run_study(const Plan& plan, const StudyOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path dir = fs::absolute(options.output).lexically_normal();
  const std::vector<Variant> resolved = check_before_writing(plan, options, dir);
  int planned = 0;
  for (const Variant& variant : resolved) planned += planned_steps(variant);
  const bool created = !fs::exists(dir);
  fs::create_directories(dir);
  StepRunner steps(dir, options.who, planned);
  const int thread_count = options.threads >= 0 ? options.threads : plan.threads;
  StudyContext context{plan, dir, thread_count, std::to_string(thread_count), options.who, steps};

  json variants = json::array();
  try {
    for (const Variant& variant : resolved) {
      if (!variant.recorded()) train_and_capture(context, variant);
      variants.push_back(measure_variant(context, variant));
    }
  } catch (const StepFailed& failure) {
    // A step that rejected its input (exit 2) is the user's error: its own message was printed.
    // A study folder this run created is removed unless a step finished in it (hours of
    // training are kept for the rerun once the input is fixed).
    if (failure.exit_code == 2 && created && steps.ran() == 0 && context.analysis_ran == 0) {
      fs::remove_all(dir);
    }
    throw;
  }

  const json study = write_results(plan, variants, dir);
  json summary = {{"command", "study"},
                  {"plan", plan.file.string()},
                  {"output", dir.string()},
                  {"study", (dir / "study.json").string()},
                  {"tables", kStudyTables},
                  {"findings", study["findings"]},
                  {"steps_run", steps.ran() + context.analysis_ran},
                  {"steps_skipped", steps.skipped() + context.analysis_skipped}};
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

}  // namespace sublens::study
