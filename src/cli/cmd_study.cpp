// sublens study PLAN.toml -o DIR — train every variant of a plan and run the analyses of both
// papers on them; sublens study --run RUN [--run RUN2 ...] -o DIR — the same analyses of
// recorded runs, no plan needed. Resumable (a killed run continues where it stopped). See
// include/sublens/study/study.hpp and plans/README.md.
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>

#include "command.hpp"
#include "sublens/dist/dist.hpp"
#include "sublens/study/plan.hpp"
#include "sublens/study/steps.hpp"
#include "sublens/study/study.hpp"

namespace sublens::cli {
namespace {

// A step that rejected its input (exit 2) and printed why: the study stops with exit 2.
struct StepRejected : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// The study shared among the processes of an MPI run (study::WorkSharing over src/dist): the
// tasks of each round through a dist::TaskQueue, the progress and the step counts through global
// counters.
class MpiSharing final : public study::WorkSharing {
 public:
  MpiSharing()
      : finished_(std::make_unique<dist::GlobalCounter>()),
        ran_(std::make_unique<dist::GlobalCounter>()) {}
  bool root() const override { return dist::is_root(); }
  int processes() const override { return dist::size(); }
  void wait_for_all() override { dist::barrier(); }
  void share(int count) override {
    queue_.reset();  // collective, like the construction: every process is here
    queue_ = std::make_unique<dist::TaskQueue>(count);
  }
  int next() override { return static_cast<int>(queue_->next()); }
  void stop() override {
    if (queue_) queue_->stop();
  }
  void settle(const std::exception_ptr& error) override { dist::settle(rejected(error)); }
  int add_finished(int steps) override { return static_cast<int>(finished_->add(steps)); }
  int finish(int value) override {
    ran_->add(value);
    dist::barrier();
    const int total = static_cast<int>(ran_->total());
    dist::barrier();  // every process has read the total before the counters are freed
    queue_.reset();   // collective frees, in the same order everywhere
    finished_.reset();
    ran_.reset();
    return total;
  }

 private:
  // dist::settle gives std::invalid_argument exit code 2: a step's rejection is one.
  static std::exception_ptr rejected(const std::exception_ptr& error) {
    if (!error) return error;
    try {
      std::rethrow_exception(error);
    } catch (const study::StepFailed& failure) {
      if (failure.exit_code == 2) return std::make_exception_ptr(StepRejected(failure.what()));
    } catch (...) {
    }
    return error;
  }

  std::unique_ptr<dist::TaskQueue> queue_;
  std::unique_ptr<dist::GlobalCounter> finished_, ran_;
};

struct StudyCommand {
  std::filesystem::path plan;
  std::vector<std::string> runs;
  study::StudyOptions options;
  bool check = false;
};

nlohmann::json study_command(const StudyCommand& command) {
  if (command.plan.empty() == command.runs.empty()) {
    throw std::invalid_argument("give a PLAN or one or more --run RUN, not both");
  }
  // The whole plan (or every run folder) is checked before DIR is created or any step runs.
  std::vector<study::RunArgument> runs;
  for (const auto& run : command.runs) runs.push_back(study::parse_run_argument(run));
  const study::Plan plan =
      command.plan.empty() ? study::plan_for_runs(runs) : study::read_plan(command.plan);
  if (command.check) {
    nlohmann::json summary = study::check_plan(plan);
    summary["command"] = "study";
    return summary;
  }
  if (command.options.output.empty()) throw std::invalid_argument("-o DIR is required");
  study::StudyOptions options = command.options;
  std::unique_ptr<MpiSharing> sharing;
  if (dist::distributed()) {
    sharing = std::make_unique<MpiSharing>();
    options.sharing = sharing.get();
  }
  try {
    return study::run_study(plan, options);
  } catch (const study::StepFailed& failure) {
    // A step rejected its input (exit 2): the user's error, whose one line the step printed.
    if (failure.exit_code != 2) throw;
    throw dist::StoppedElsewhere(2);  // exit 2, printing nothing more
  } catch (const StepRejected&) {
    throw dist::StoppedElsewhere(2);
  }
}

const bool registered = register_command(
    {"study",
     "Run a study plan, or analyse recorded runs: SSC graphs, every measure, tables + report",
     "sublens study plans/fashion-mnist-depth.toml -o depth/   # rerun to resume\n"
     "  sublens study --run runs/resnet18 --run runs/resnet34 -o study/\n"
     "  sublens study --run r18=runs/r18-seed0,runs/r18-seed1 --run 'r34=runs/r34-seed*' -o s/",
     [](CLI::App& app) {
       auto command = std::make_shared<StudyCommand>();
       app.add_option("PLAN", command->plan, "Study plan (TOML; see plans/README.md)");
       app.add_option("--run", command->runs,
                      "A recorded run folder (run.json, per-epoch activations; see README); "
                      "repeatable: each is a variant of one group, analysed as its data allows; "
                      "NAME=DIR,DIR,... (globs allowed): one network's runs with different "
                      "seeds, analysed as replicates of NAME");
       app.add_option("-o,--output", command->options.output,
                      "Output folder (created if missing; required unless --check)");
       app.add_flag("--check", command->check,
                    "Only read and validate the plan or runs; print them as JSON");
       app.add_option("--threads", command->options.threads,
                      "Threads for training and SSC (default: the plan's, 0: all cores)");
       app.add_flag("!--no-figures", command->options.figures,
                    "Do not write figures/*.svg|png (they need Chromium)");
       return [command] { return study_command(*command); };
     }});

}  // namespace
}  // namespace sublens::cli
