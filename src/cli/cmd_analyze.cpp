// sublens analyze — every analysis of both papers that needs no training, on activations a user
// brings; writes data files, CSV/JSON tables and a self-contained report.html. Resumable: a rerun
// skips every step whose inputs did not change (see include/sublens/study/analysis.hpp).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "command.hpp"
#include "sublens/study/analysis.hpp"
#include "sublens/study/steps.hpp"

namespace sublens::cli {
namespace {

nlohmann::json analyze_command(const study::AnalysisOptions& options) {
  nlohmann::json result;
  try {
    result = study::run_analysis(options);
  } catch (const study::StepFailed& failure) {
    // A step rejected its input (exit 2): the user's error, whose one line the step printed.
    if (failure.exit_code != 2) throw;
    std::fflush(nullptr);
    std::exit(2);
  }
  nlohmann::json summary = {{"command", "analyze"},
                            {"output", options.output.string()},
                            {"n_inputs", result["n_inputs"]},
                            {"layers", nlohmann::json::array()},
                            {"findings", result["findings"]},
                            {"files", result["files"]},
                            {"steps_run", result["steps_run"]},
                            {"steps_skipped", result["steps_skipped"]},
                            {"seconds", result["seconds"]}};
  for (const auto& layer : result["layers"]) summary["layers"].push_back(layer["name"]);
  if (result.contains("report")) summary["report"] = result["report"];
  return summary;
}

const bool registered = register_command(
    {"analyze",
     "Every analysis of both papers on your own activations (no training); data files + report",
     "sublens analyze acts.npz --labels labels.npy --logits logits.npy --images images.npy -o out/",
     [](CLI::App& app) {
       auto options = std::make_shared<study::AnalysisOptions>();
       app.add_option("ACTS", options->activations,
                      "Activations: .npy, .npz or .safetensors (N x ..., layers in file order)")
           ->required();
       app.add_option("--labels", options->labels, "Class labels, .npy integer vector of length N")
           ->required();
       app.add_option("--class-names", options->class_names,
                      "Names of classes 0, 1, ... for the report (space-separated; e.g. from "
                      "run.json's class_names)");
       app.add_option("--predictions", options->predictions,
                      "Network predictions, .npy integer vector (default: argmax of --logits)");
       app.add_option("--logits", options->logits,
                      "Logits or softmax outputs, .npy N x classes (confidently wrong inputs)");
       app.add_option("--images", options->images,
                      "Inputs (.npy N x H x W or N x C x H x W, or IDX): coupled NMF and "
                      "thumbnails");
       app.add_option("-o,--output", options->output, "Output folder (created if missing)")
           ->required();
       app.add_option("--graphs", options->graphs,
                      "Use these SSC graphs (<layer>.npz per layer) instead of computing them");
       app.add_option("--tau", options->tau, "SSC tau (eq. 2)")->capture_default_str();
       app.add_option("--confidently-wrong", options->confidently_wrong,
                      "Most confidently wrong inputs explained")
           ->capture_default_str();
       app.add_option("--top", options->top, "Neighbours per explained input")
           ->capture_default_str();
       app.add_option("-k,--spectrum-k", options->spectrum_k, "Singular values per layer")
           ->capture_default_str();
       app.add_option("--ranks", options->ranks, "Coupled NMF ranks (below N)")
           ->delimiter(',')
           ->capture_default_str();
       app.add_option("--nmf-max-iter", options->nmf_max_iterations, "HALS iterations per fit")
           ->capture_default_str();
       app.add_option("--seed", options->seed, "NMF seed")->capture_default_str();
       app.add_option("--threads", options->threads, "SSC threads (0: all cores)")
           ->capture_default_str();
       app.add_flag("!--no-figures", options->figures,
                    "Do not write figures/*.svg|png (they need Chromium)");
       return [options] { return analyze_command(*options); };
     }});

}  // namespace
}  // namespace sublens::cli
