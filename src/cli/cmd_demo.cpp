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
// Writes DIR/summary.json and DIR/report.html (tables of every number, with the files behind them).
// The full interactive report with figures is the `report` module's job; this page is plain HTML.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "command.hpp"
#include "sublens/core/error.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/io/io.hpp"

namespace sublens::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct DemoOptions {
  fs::path output = "sublens-demo";
  fs::path data_dir = "/usr/share/datasets/fashion-mnist";
  int epochs = 3;
  int n_inputs = 1000;
  int threads = 0;
  std::uint64_t seed = 0;
};

// Runs `sublens ARGS...` (this executable) and returns its JSON lines; throws on a nonzero exit.
std::vector<json> run_self(const std::vector<std::string>& args) {
  std::vector<std::string> argv_strings = {"sublens", "--quiet"};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("demo: pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("demo: fork failed");
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    execv("/proc/self/exe", argv.data());
    std::perror("demo: exec /proc/self/exe");
    _exit(127);
  }
  close(pipe_fds[1]);
  std::string output;
  std::array<char, 65536> buffer{};
  ssize_t got = 0;
  while ((got = read(pipe_fds[0], buffer.data(), buffer.size())) != 0) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;
    output.append(buffer.data(), static_cast<std::size_t>(got));
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string command_line;
  for (const auto& arg : args) command_line += " " + arg;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("demo: step 'sublens" + command_line + "' failed (exit " +
                             std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
  }
  std::vector<json> rows;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) rows.push_back(json::parse(line));
  }
  return rows;
}

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

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string format_number(const json& value, int digits = 3) {
  if (!value.is_number()) return "–";
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", digits, value.get<double>());
  return text;
}

// A table cell shaded by a value in [0, 1] (heatmaps).
std::string shaded_cell(double value) {
  const int light = static_cast<int>(255 - 155 * std::clamp(value, 0.0, 1.0));
  char cell[128];
  std::snprintf(cell, sizeof cell, "<td style=\"background:rgb(%d,%d,255)\">%.3f</td>", light,
                light, value);
  return cell;
}

std::string render_report(const json& summary) {
  std::ostringstream html;
  html << "<!doctype html><html><head><meta charset=\"utf-8\"><title>sublens demo</title><style>"
          "body{font-family:sans-serif;max-width:70em;margin:2em auto;line-height:1.4}"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.2em "
          ".5em;text-align:right}th{background:#eee}code{background:#f4f4f4}</style></head><body>";
  html << "<h1>sublens demo: " << html_escape(summary["model"].get<std::string>())
       << " on Fashion-MNIST</h1><p>" << summary["n_inputs"].get<int>()
       << " test inputs; every number below is in <code>summary.json</code> and the files it "
          "names.</p>";

  const auto& dynamics = summary["dynamics"];
  const auto& layers = summary["layers"];
  html << "<h2>1. Training dynamics</h2><table><tr><th>epoch</th><th>test accuracy</th>";
  for (const auto& layer : layers) {
    html << "<th>modularity " << html_escape(layer.get<std::string>()) << "</th>";
  }
  for (const auto& layer : layers) {
    html << "<th>SSC-CKA to final " << html_escape(layer.get<std::string>()) << "</th>";
  }
  for (const auto& layer : layers) {
    html << "<th>Linear-CKA to final " << html_escape(layer.get<std::string>()) << "</th>";
  }
  html << "</tr>";
  for (const auto& row : dynamics) {
    html << "<tr><td>" << row["epoch"].get<int>() << "</td><td>" << format_number(row["accuracy"])
         << "</td>";
    for (const auto& value : row["modularity"]) html << "<td>" << format_number(value) << "</td>";
    for (const auto& value : row["ssc_cka_to_final"]) html << shaded_cell(value.get<double>());
    for (const auto& value : row["linear_cka_to_final"]) html << shaded_cell(value.get<double>());
    html << "</tr>";
  }
  html << "</table>";

  html << "<h2>2. The final network</h2><h3>Pairwise SSC-CKA between layers</h3><table><tr><th>"
          "</th>";
  const auto& heatmap = summary["final"]["ssc_cka"];
  for (const auto& name : heatmap["cols"])
    html << "<th>" << html_escape(name.get<std::string>()) << "</th>";
  html << "</tr>";
  for (std::size_t i = 0; i < heatmap["rows"].size(); ++i) {
    html << "<tr><th>" << html_escape(heatmap["rows"][i].get<std::string>()) << "</th>";
    for (const auto& value : heatmap["values"][i]) html << shaded_cell(value.get<double>());
    html << "</tr>";
  }
  html << "</table>";

  const auto& table1 = summary["final"]["table1"];
  html << "<h3>Table 1 (layer " << html_escape(summary["final"]["layer"].get<std::string>())
       << ")</h3><table><tr><th>SSC-label accuracy</th><th>network accuracy</th><th>agreement</th>"
          "</tr><tr><td>"
       << format_number(table1["ssc_accuracy"]) << "</td><td>"
       << format_number(table1["network_accuracy"]) << "</td><td>"
       << format_number(table1["agreement"]) << "</td></tr></table>";

  html << "<h3>Most confidently wrong inputs and their neighbourhoods</h3><table><tr><th>input</th>"
          "<th>label</th><th>predicted (confidence)</th><th>top neighbours (index:label)</th></tr>";
  for (const auto& input : summary["final"]["confidently_wrong"]) {
    html << "<tr><td>" << input.value("index", -1) << "</td><td>" << input.value("label", -1)
         << "</td><td>" << input.value("predicted", -1) << " ("
         << format_number(input["confidence"]) << ")</td><td style=\"text-align:left\">";
    for (const auto& neighbor : input.value("top", json::array())) {
      html << neighbor.value("index", -1) << ":" << neighbor.value("label", -1) << " ";
    }
    html << "</td></tr>";
  }
  html << "</table><p>2-D spectral embedding: <code>"
       << html_escape(summary["final"]["embedding"].get<std::string>()) << "</code></p>";

  html << "<h2>3. Coupled NMF: RMSE vs rank by amount of training data (1 epoch)</h2>"
          "<p>Paper B's finding: the poorer the training, the lower the RMSE at every rank."
          "</p><table><tr><th>training fraction</th><th>test accuracy</th>";
  for (const auto& rank : summary["nmf_ranks"]) html << "<th>rank " << rank.get<int>() << "</th>";
  html << "</tr>";
  for (const auto& variant : summary["nmf"]) {
    html << "<tr><td>" << format_number(variant["fraction"], 2) << "</td><td>"
         << format_number(variant["accuracy"]) << "</td>";
    for (const auto& value : variant["rmse"]) html << "<td>" << format_number(value, 4) << "</td>";
    html << "</tr>";
  }
  html << "</table><p>Finding held in this run: <b>"
       << (summary["findings"]["nmf_rmse_lower_for_poorer_training"].get<bool>() ? "yes" : "no")
       << "</b>.</p>";
  html << "<p>Generated by <code>sublens demo</code> in " << format_number(summary["seconds"], 1)
       << " s.</p></body></html>\n";
  return html.str();
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
  const std::string final_layer = "pool2";
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
      const fs::path graph = graphs_of(epoch) / (layer + ".npz");
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

  // 2. The final network.
  step("analysing the final network");
  const fs::path heatmap_file = dir / "final-ssc-cka.npy";
  const json heatmap_summary =
      run_self({"cka-matrix", graphs_of(last).string(), "-o", heatmap_file.string()}).at(0);
  const RowMatrix heatmap = io::read_matrix(heatmap_file);
  json heatmap_values = json::array();
  for (Index i = 0; i < heatmap.rows(); ++i) {
    heatmap_values.push_back(std::vector<double>(heatmap.row(i).begin(), heatmap.row(i).end()));
  }
  const fs::path final_graph = graphs_of(last) / (final_layer + ".npz");
  const fs::path predictions = dir / "acts" / ("cnn2." + epoch_tag(last) + ".predictions.npy");
  const fs::path softmax = dir / "acts" / ("cnn2." + epoch_tag(last) + ".softmax.npy");
  const json table1 =
      run_self({"ssc-labels", final_graph.string(), "--labels", labels.string(), "--predictions",
                predictions.string(), "-o", (dir / "final-ssc-labels.npy").string()})
          .at(0);
  // One JSON line per confidently wrong input: class-wise affinity and top-8 neighbours.
  const std::vector<json> confidently_wrong = run_self(
      {"neighbors", final_graph.string(), "--labels", labels.string(), "--scores", softmax.string(),
       "--score-kind", "softmax", "--confidently-wrong", "5", "--top", "8"});
  const fs::path embedding = dir / "final-embedding.npy";
  run_self({"embed", final_graph.string(), "-k", "2", "-o", embedding.string()});

  // 3. Paper B: coupled NMF by amount of training data.
  const std::vector<double> fractions = {0.05, 0.25, 1.0};
  const std::vector<int> ranks = {10, 20, 30};
  std::string rank_list;
  for (int rank : ranks) rank_list += (rank_list.empty() ? "" : ",") + std::to_string(rank);
  const fs::path images = dir / "acts" / "test-images.npy";
  {
    io::NdArray all = io::read_idx(images_file);
    const std::int64_t keep = std::min<std::int64_t>(options.n_inputs, all.shape.at(0));
    all.bytes.resize(static_cast<std::size_t>(keep) * 28 * 28);
    all.shape[0] = keep;
    io::write_npy(images, all);
  }
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
  run_self({"spectrum", acts_of(last).string(), "-k", "50", "-o", (dir / "spectrum").string()});

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
       {{"layer", final_layer},
        {"ssc_cka",
         {{"rows", heatmap_summary["rows"]},
          {"cols", heatmap_summary["cols"]},
          {"values", heatmap_values}}},
        {"table1", table1},
        {"confidently_wrong", confidently_wrong},
        {"embedding", embedding.string()}}},
      {"nmf_ranks", ranks},
      {"nmf", nmf},
      {"findings", {{"nmf_rmse_lower_for_poorer_training", nmf_finding}}},
  };
  summary["seconds"] = seconds_since(start);
  io::write_file_atomically(dir / "summary.json", summary.dump(2) + "\n");
  const fs::path report = dir / "report.html";
  io::write_file_atomically(report, render_report(summary));
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
