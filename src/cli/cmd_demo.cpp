// sublens demo — the first thing a newcomer runs (`make demo`).
//
// Trains the coupled-NMF paper's 2-conv CNN on Fashion-MNIST (Debian's dataset-fashion-mnist) and
// runs the analyses of both papers on N test inputs, by running sublens's own commands one after
// the other exactly as a user would (each step's JSON summary is kept):
//   1. training dynamics: `train` (checkpoint after every epoch) -> `extract --all-epochs` ->
//      `ssc --all-layers` per epoch -> `modularity` per layer x epoch, SSC-CKA and Linear-CKA of
//      every epoch vs the final one (`cka-matrix`, diagonal);
//   2. the final network: pairwise SSC-CKA heatmap of its layers, Table 1 (`ssc-labels`), the most
//      confidently wrong inputs and their neighbourhoods (`neighbors`), a 2-D spectral embedding;
//   3. paper B: networks trained on 5%, 25% and 100% of the data for one epoch -> `factorize`
//      rank sweep (RMSE vs rank) and `spectrum` of each layer.
// The final network's analyses are `sublens analyze` (study::run_analysis) on the last epoch's
// activations, reusing its SSC graphs. Writes DIR/summary.json and DIR/report.html (the report
// module's self-contained interactive page: figures, tables and findings computed from the
// numbers).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "command.hpp"
#include "sublens/core/error.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/io/io.hpp"
#include "sublens/report/report.hpp"
#include "sublens/study/analysis.hpp"
#include "sublens/study/steps.hpp"

namespace sublens::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using study::run_self;

// Paper A, Fig. 2: a layer has converged once its SSC-CKA to the final epoch reaches this.
constexpr double kConvergedCka = 0.9;

struct DemoOptions {
  fs::path output = "sublens-demo";
  fs::path data_dir = "/usr/share/datasets/fashion-mnist";
  int epochs = 3;
  int n_inputs = 1000;
  int threads = 0;
  std::uint64_t seed = 0;
};

std::string epoch_tag(int epoch) {
  char tag[32];
  std::snprintf(tag, sizeof tag, "epoch-%04d", epoch);
  return tag;
}

// Runs `cka-matrix A B` and returns CKA(layer of A, same layer of B) for each of `layers`, found
// by name in the rows and columns the command reports (their order is the command's, not ours).
std::vector<double> same_layer_cka(std::vector<std::string> args,
                                   const std::vector<std::string>& layers) {
  const fs::path output = args.back();
  const json summary = run_self(args).at(0);
  const RowMatrix matrix = io::read_matrix(output);
  auto position = [](const json& names, const std::string& layer) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == layer) return static_cast<Index>(i);
    }
    throw std::runtime_error("demo: cka-matrix did not report layer " + layer);
  };
  std::vector<double> values;
  for (const auto& layer : layers) {
    values.push_back(matrix(position(summary["rows"], layer), position(summary["cols"], layer)));
  }
  return values;
}

// Lines of one value per layer against the epoch (records: epoch, layer, value).
json per_layer_epoch_records(const json& dynamics, const json& layers, const std::string& key) {
  json records = json::array();
  for (const auto& row : dynamics) {
    for (std::size_t l = 0; l < layers.size(); ++l) {
      records.push_back({{"epoch", row["epoch"]}, {"layer", layers[l]}, {key, row[key][l]}});
    }
  }
  return records;
}

// Findings of the training-dynamics and coupled-NMF experiments (PAPERS.md A.1 and B).
std::vector<report::Finding> demo_findings(const json& summary) {
  std::vector<report::Finding> findings;
  const auto& dynamics = summary["dynamics"];
  const auto& layers = summary["layers"];
  const int epochs = static_cast<int>(dynamics.size());
  {
    std::vector<double> index, first_epoch;
    std::string statistic;
    bool non_decreasing = true;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      int converged = epochs;
      for (const auto& row : dynamics) {
        if (row["ssc_cka_to_final"][l].get<double>() >= kConvergedCka) {
          converged = row["epoch"].get<int>();
          break;
        }
      }
      if (!first_epoch.empty() && converged < first_epoch.back()) non_decreasing = false;
      index.push_back(static_cast<double>(l));
      first_epoch.push_back(converged);
      statistic += (statistic.empty() ? "" : ", ") + layers[l].get<std::string>() + ": epoch " +
                   std::to_string(converged);
    }
    const double rho = report::spearman(index, first_epoch);
    char text[64];
    std::snprintf(text, sizeof text, "; Spearman rho with depth %.3f", rho);
    const std::string claim =
        "Shallower layers converge earlier: first epoch with SSC-CKA to final >= 0.9 does not "
        "decrease with depth (paper A, Fig. 2)";
    findings.push_back({claim, epochs < 2 ? std::nullopt : std::optional<bool>(non_decreasing),
                        statistic + (std::isfinite(rho) ? text : "")});
  }
  {
    int grew = 0;
    std::string statistic;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      const double first = dynamics.front()["modularity"][l].get<double>();
      const double final_value = dynamics.back()["modularity"][l].get<double>();
      if (final_value > first) ++grew;
      char text[96];
      std::snprintf(text, sizeof text, "%s%s: %.3f -> %.3f", statistic.empty() ? "" : ", ",
                    layers[l].get<std::string>().c_str(), first, final_value);
      statistic += text;
    }
    findings.push_back({"Modularity grows with training (paper A, Fig. 1)",
                        epochs < 2
                            ? std::nullopt
                            : std::optional<bool>(2 * grew > static_cast<int>(layers.size())),
                        statistic + " (first -> last epoch)"});
  }
  {
    std::string statistic;
    for (const auto& variant : summary["nmf"]) {
      char text[96];
      std::snprintf(text, sizeof text, "%s%.0f%%: rank-%d RMSE %.4f", statistic.empty() ? "" : ", ",
                    100 * variant["fraction"].get<double>(), summary["nmf_ranks"].back().get<int>(),
                    variant["rmse"].back().get<double>());
      statistic += text;
    }
    findings.push_back({"Poorer training gives lower coupled-NMF RMSE at every rank (paper B)",
                        summary["findings"]["nmf_rmse_lower_for_poorer_training"].get<bool>(),
                        statistic});
  }
  return findings;
}

std::string render_report(const json& summary, const json& final_analysis,
                          const fs::path& final_dir) {
  report::Report page{"sublens demo: " + summary["model"].get<std::string>() + " on Fashion-MNIST",
                      std::to_string(summary["n_inputs"].get<int>()) + " test inputs, " +
                          std::to_string(summary["dynamics"].size()) +
                          " epochs; every number is in summary.json and the files it names."};
  page.findings = demo_findings(summary);

  const auto& layers = summary["layers"];
  const auto& dynamics = summary["dynamics"];
  report::Section training{"Training dynamics (paper A, Fig. 1-2)",
                           "Per layer, at every epoch: modularity of the SSC graph with the class "
                           "labels, and CKA of the layer at that epoch with the same layer at the "
                           "final epoch."};
  training.figures.push_back(
      {"modularity-epoch", "Modularity vs epoch", "",
       report::line_chart(per_layer_epoch_records(dynamics, layers, "modularity"), "epoch",
                          "modularity", "layer", "epoch", "modularity")});
  training.figures.push_back(
      {"ssc-cka-final", "SSC-CKA to the final epoch", "",
       report::line_chart(per_layer_epoch_records(dynamics, layers, "ssc_cka_to_final"), "epoch",
                          "ssc_cka_to_final", "layer", "epoch", "SSC-CKA to final")});
  training.figures.push_back(
      {"linear-cka-final", "Linear-CKA to the final epoch", "",
       report::line_chart(per_layer_epoch_records(dynamics, layers, "linear_cka_to_final"), "epoch",
                          "linear_cka_to_final", "layer", "epoch", "Linear-CKA to final")});
  report::Table accuracy{"Test accuracy per epoch", {"epoch", "test accuracy"}, {}};
  for (const auto& row : dynamics) accuracy.rows.push_back({row["epoch"], row["accuracy"]});
  training.tables.push_back(accuracy);
  page.sections.push_back(training);

  report::Report final_page;
  study::add_analysis_to_report(final_analysis, final_dir, final_page, "final-");
  for (auto& finding : final_page.findings) {
    finding.claim += " [final network]";
    page.findings.push_back(finding);
  }
  for (auto& section : final_page.sections) {
    section.title = "Final network: " + section.title;
    page.sections.push_back(section);
  }

  report::Section nmf{"Coupled NMF by amount of training data (paper B)",
                      "Networks trained one epoch on a fraction of the training data; RMSE of the "
                      "coupled factorization of the test images and the pool1/pool2 activations. "
                      "Paper B: the poorer the training, the lower the RMSE at every rank."};
  json records = json::array();
  report::Table table{"RMSE vs rank", {"training fraction", "test accuracy"}, {}, 4};
  for (const auto& rank : summary["nmf_ranks"]) table.columns.push_back("rank " + rank.dump());
  for (const auto& variant : summary["nmf"]) {
    const std::string name =
        std::to_string(static_cast<int>(std::lround(100 * variant["fraction"].get<double>()))) +
        "% of training data";
    std::vector<json> row = {variant["fraction"], variant["accuracy"]};
    for (std::size_t r = 0; r < summary["nmf_ranks"].size(); ++r) {
      records.push_back(
          {{"training", name}, {"rank", summary["nmf_ranks"][r]}, {"rmse", variant["rmse"][r]}});
      row.push_back(variant["rmse"][r]);
    }
    table.rows.push_back(row);
  }
  nmf.figures.push_back({"nmf-rmse-fraction", "RMSE vs rank by training fraction", "",
                         report::line_chart(records, "rank", "rmse", "training", "rank", "RMSE")});
  nmf.tables.push_back(table);
  page.sections.push_back(nmf);
  page.files = {"summary.json",      "final/result.json", "final/layers.csv",
                "final/ssc-cka.csv", "final/table1.csv",  "final/spectrum/spectrum.csv"};
  return report::render_html(page);
}

json demo_command(const DemoOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path images_file = options.data_dir / "t10k-images-idx3-ubyte.gz";
  require_readable_file(images_file, "--data-dir");
  if (options.epochs < 1) throw std::invalid_argument("demo: --epochs must be >= 1");
  if (options.n_inputs < 20) throw std::invalid_argument("demo: --n must be >= 20");
  const fs::path dir = options.output;
  fs::create_directories(dir);
  const std::string threads = std::to_string(options.threads);
  const std::string seed = std::to_string(options.seed);
  const std::string n = std::to_string(options.n_inputs);
  const std::vector<std::string> layers = {"conv1", "pool1", "conv2", "pool2"};
  auto step = [](const std::string& what) { std::fprintf(stderr, "demo: %s\n", what.c_str()); };

  // 1. Training dynamics.
  step("training cnn2 on Fashion-MNIST, " + std::to_string(options.epochs) + " epochs");
  const fs::path run = dir / "runs" / "cnn2";
  std::vector<std::string> train = {"train",
                                    "--model",
                                    "cnn2",
                                    "--data-dir",
                                    options.data_dir.string(),
                                    "--epochs",
                                    std::to_string(options.epochs),
                                    "--seed",
                                    seed,
                                    "--threads",
                                    threads,
                                    "--test-n",
                                    "-1",
                                    "-o",
                                    run.string()};
  run_self(train);
  step("capturing " + n + " test inputs at every epoch");
  fs::create_directories(dir / "acts");
  std::vector<std::string> extract = {"extract",    "--run",
                                      run.string(), "--all-epochs",
                                      "--n",        n,
                                      "--threads",  threads,
                                      "-o",         (dir / "acts" / "cnn2.safetensors").string(),
                                      "--layers"};
  extract.insert(extract.end(), layers.begin(), layers.end());
  const json captured = run_self(extract).at(0);
  const fs::path labels = dir / "acts" / "cnn2.labels.npy";
  const int last = options.epochs;
  auto acts_of = [&](int epoch) {
    return dir / "acts" / ("cnn2." + epoch_tag(epoch) + ".safetensors");
  };
  auto graphs_of = [&](int epoch) { return dir / "graphs" / epoch_tag(epoch); };

  json dynamics = json::array();
  for (int epoch = 1; epoch <= last; ++epoch) {
    step("SSC graphs of every layer, epoch " + std::to_string(epoch));
    fs::create_directories(graphs_of(epoch));
    run_self({"ssc", acts_of(epoch).string(), "--all-layers", "--threads", threads, "-o",
              graphs_of(epoch).string()});
  }
  for (int epoch = 1; epoch <= last; ++epoch) {
    json modularity = json::array();
    for (const auto& layer : layers) {
      const fs::path graph = graphs_of(epoch) / (io::layer_file_stem(layer) + ".npz");
      modularity.push_back(run_self({"modularity", graph.string(), "--labels", labels.string()})
                               .at(0)["modularity"]);
    }
    const fs::path ssc_cka = dir / "graphs" / ("cka-" + epoch_tag(epoch) + "-vs-final.npy");
    const fs::path linear_cka = dir / "acts" / ("linear-cka-" + epoch_tag(epoch) + "-vs-final.npy");
    dynamics.push_back(
        {{"epoch", epoch},
         {"accuracy", captured["accuracy"].at(epoch - 1)},
         {"modularity", modularity},
         {"ssc_cka_to_final", same_layer_cka({"cka-matrix", graphs_of(epoch).string(),
                                              graphs_of(last).string(), "-o", ssc_cka.string()},
                                             layers)},
         {"linear_cka_to_final",
          same_layer_cka({"cka-matrix", acts_of(epoch).string(), acts_of(last).string(), "--kind",
                          "linear", "-o", linear_cka.string()},
                         layers)}});
  }

  // 2. The final network: `analyze` on the last epoch's activations, reusing its SSC graphs.
  step("analysing the final network");
  const fs::path images = dir / "acts" / "test-images.npy";
  {
    io::NdArray all = io::read_idx(images_file);
    const std::int64_t keep = std::min<std::int64_t>(options.n_inputs, all.shape.at(0));
    all.bytes.resize(static_cast<std::size_t>(keep) * 28 * 28);
    all.shape[0] = keep;
    io::write_atomically(images, [&](const fs::path& temporary) { io::write_npy(temporary, all); });
  }
  study::AnalysisOptions analysis;
  analysis.activations = acts_of(last);
  analysis.labels = labels;
  analysis.predictions = dir / "acts" / ("cnn2." + epoch_tag(last) + ".predictions.npy");
  analysis.logits = dir / "acts" / ("cnn2." + epoch_tag(last) + ".softmax.npy");
  analysis.images = images;  // thumbnails only: the NMF sweep below is by training fraction
  analysis.nmf = false;
  analysis.graphs = graphs_of(last);
  analysis.output = dir / "final";
  analysis.threads = options.threads;
  analysis.write_report = false;
  analysis.who = "demo: final network";
  const json final_analysis = study::run_analysis(analysis);

  // 3. Paper B: coupled NMF by amount of training data.
  const std::vector<double> fractions = {0.05, 0.25, 1.0};
  const std::vector<int> ranks = {10, 20, 30};
  std::string rank_list;
  for (int rank : ranks) rank_list += (rank_list.empty() ? "" : ",") + std::to_string(rank);
  json nmf = json::array();
  for (double fraction : fractions) {
    const std::string tag = "cnn2-f" + std::to_string(static_cast<int>(fraction * 100));
    step("coupled NMF, network trained 1 epoch on " +
         std::to_string(static_cast<int>(fraction * 100)) + "% of the training data");
    fs::path nmf_acts;
    json accuracy;
    if (fraction == 1.0) {
      nmf_acts = acts_of(1);
      accuracy = captured["accuracy"].at(0);
    } else {
      const fs::path variant_run = dir / "runs" / tag;
      run_self({"train", "--model", "cnn2", "--data-dir", options.data_dir.string(), "--epochs",
                "1", "--train-fraction", std::to_string(fraction), "--seed", seed, "--threads",
                threads, "--test-n", "-1", "-o", variant_run.string()});
      nmf_acts = dir / "acts" / (tag + ".safetensors");
      accuracy = run_self({"extract", "--run", variant_run.string(), "--n", n, "--threads", threads,
                           "-o", nmf_acts.string(), "--layers", "pool1", "pool2"})
                     .at(0)["accuracy"]
                     .at(0);
    }
    const json sweep =
        run_self(
            {"factorize", "--inputs",   images.string(), "--acts",  nmf_acts.string(),
             "--layers",  "pool1",      "pool2",         "--ranks", rank_list,
             "--seeds",   "1",          "--seed",        seed,      "--solver",
             "hals",      "--max-iter", "200",           "-o",      (dir / "nmf" / tag).string()})
            .at(0);
    json rmse = json::array();
    for (const auto& rank : sweep["ranks"]) rmse.push_back(rank["rmse_mean"]);
    nmf.push_back({{"fraction", fraction}, {"accuracy", accuracy}, {"rmse", rmse}});
  }

  // Finding of paper B: RMSE at every rank ordered by training fraction (less data, lower RMSE).
  bool nmf_finding = true;
  for (std::size_t v = 1; v < nmf.size(); ++v) {
    for (std::size_t r = 0; r < ranks.size(); ++r) {
      if (nmf[v]["rmse"][r].get<double>() < nmf[v - 1]["rmse"][r].get<double>())
        nmf_finding = false;
    }
  }

  json summary = {
      {"command", "demo"},
      {"model", "cnn2"},
      {"n_inputs", options.n_inputs},
      {"layers", layers},
      {"dynamics", dynamics},
      {"final",
       {{"layer", final_analysis["table1"]["layer"]},
        {"analysis", (dir / "final" / "result.json").string()},
        {"ssc_cka", final_analysis["ssc_cka"]},
        {"table1", final_analysis["table1"]},
        {"confidently_wrong", final_analysis["confidently_wrong"]},
        {"findings", final_analysis["findings"]}}},
      {"nmf_ranks", ranks},
      {"nmf", nmf},
      {"findings", {{"nmf_rmse_lower_for_poorer_training", nmf_finding}}},
  };
  summary["seconds"] = seconds_since(start);
  io::write_file_atomically(dir / "summary.json", summary.dump(2) + "\n");
  const fs::path report = dir / "report.html";
  io::write_file_atomically(report, render_report(summary, final_analysis, dir / "final"));
  std::fprintf(stderr, "demo: report written to %s\n", report.c_str());
  return {{"command", "demo"},
          {"report", report.string()},
          {"summary", (dir / "summary.json").string()},
          {"seconds", summary["seconds"]}};
}

const bool registered = register_command(
    {"demo",
     "Train a small CNN on Fashion-MNIST and run every analysis of both papers; writes a report",
     "sublens demo -o sublens-demo   # then open sublens-demo/report.html", [](CLI::App& app) {
       auto options = std::make_shared<DemoOptions>();
       app.add_option("-o,--output", options->output, "Output folder")->capture_default_str();
       app.add_option("--data-dir", options->data_dir, "Fashion-MNIST IDX files")
           ->capture_default_str();
       app.add_option("--epochs", options->epochs, "Training epochs")->capture_default_str();
       app.add_option("--n", options->n_inputs, "Test inputs analysed")->capture_default_str();
       app.add_option("--threads", options->threads, "Threads (0: all cores)")
           ->capture_default_str();
       app.add_option("--seed", options->seed, "Seed of training and factorization")
           ->capture_default_str();
       return [options] { return demo_command(*options); };
     }});

}  // namespace
}  // namespace sublens::cli
