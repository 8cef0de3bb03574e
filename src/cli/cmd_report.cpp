// sublens report DIR — render DIR/report.html (and DIR/figures/) again from the results that
// `sublens study` or `sublens analyze` left in DIR, e.g. after upgrading sublens.
#include <memory>
#include <string>

#include "command.hpp"
#include "sublens/study/study.hpp"

namespace sublens::cli {
namespace {

struct ReportCommand {
  std::filesystem::path dir;
  bool figures = true;
};

const bool registered = register_command(
    {"report", "Render report.html and figures/ again from a study's or analysis's results",
     "sublens report sublens-demo/   # rewrites sublens-demo/report.html and figures/",
     [](CLI::App& app) {
       auto command = std::make_shared<ReportCommand>();
       app.add_option("DIR", command->dir,
                      "Folder written by `sublens study`, `sublens demo` or `sublens analyze`")
           ->required();
       app.add_flag("!--no-figures", command->figures,
                    "Do not write figures/*.svg|png (they need Chromium)");
       return [command] {
         nlohmann::json summary = study::render_report(command->dir, command->figures);
         summary["command"] = "report";
         return summary;
       };
     }});

}  // namespace
}  // namespace sublens::cli
