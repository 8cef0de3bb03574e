// sublens study PLAN.toml -o DIR — train every variant of a plan and run the analyses of both
// papers on them; resumable (a killed run continues where it stopped). See
// include/sublens/study/study.hpp and plans/README.md.
#include <memory>
#include <string>

#include "command.hpp"
#include "sublens/study/plan.hpp"
#include "sublens/study/study.hpp"

namespace sublens::cli {
namespace {

struct StudyCommand {
  std::filesystem::path plan;
  study::StudyOptions options;
  bool check = false;
};

const bool registered = register_command(
    {"study",
     "Run a study plan: train its variants, capture, SSC graphs and every measure; tables + report",
     "sublens study plans/fashion-mnist-depth.toml -o depth/   # rerun to resume",
     [](CLI::App& app) {
       auto command = std::make_shared<StudyCommand>();
       app.add_option("PLAN", command->plan, "Study plan (TOML; see plans/README.md)")->required();
       app.add_option("-o,--output", command->options.output,
                      "Output folder (created if missing; required unless --check)");
       app.add_flag("--check", command->check,
                    "Only read and validate the plan; print it as JSON (no data needed)");
       app.add_option("--threads", command->options.threads,
                      "Threads for training and SSC (default: the plan's, 0: all cores)");
       app.add_flag("!--no-figures", command->options.figures,
                    "Do not write figures/*.svg|png (they need Chromium)");
       return [command] {
         // The whole plan is checked before DIR is created or any step runs.
         const study::Plan plan = study::read_plan(command->plan);
         if (command->check) {
           nlohmann::json summary = study::check_plan(plan);
           summary["command"] = "study";
           return summary;
         }
         if (command->options.output.empty()) throw std::invalid_argument("-o DIR is required");
         return study::run_study(plan, command->options);
       };
     }});

}  // namespace
}  // namespace sublens::cli
