// `sublens analyze`: every analysis of both papers that needs no training, on activations a user
// brings (PAPERS.md A: SSC graphs, modularity, SSC-CKA and Linear-CKA heatmaps, Table 1, spectral
// embeddings, confidently wrong inputs and their neighbourhoods; B: singular spectra, coupled NMF
// rank sweep). Each step is a `sublens` command run through study::StepRunner, so a killed run
// resumes and a rerun with unchanged inputs recomputes nothing.
//
//   study::AnalysisOptions options;
//   options.activations = "acts.npz";
//   options.labels = "labels.npy";
//   options.logits = "logits.npy";
//   options.output = "out";
//   const auto result = study::run_analysis(options);   // out/result.json, tables, report.html
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sublens/report/report.hpp"

namespace sublens::study {

struct AnalysisOptions {
  std::filesystem::path activations;  // .npy/.npz/.safetensors
  // The layers to analyse in network order (every table and matrix follows it); empty: every
  // layer of `activations` in file order.
  std::vector<std::string> layers;
  std::filesystem::path labels;  // .npy integer vector, length N
  // Class k's name (e.g. from run.json's class_names), one per class, unique; empty: the numbers.
  std::vector<std::string> class_names;
  std::filesystem::path predictions;  // optional; default: argmax of `logits` when given
  std::filesystem::path logits;       // optional N x classes logits or softmax (neighbourhoods)
  std::filesystem::path images;  // optional inputs (N x H x W or N x C x H x W): NMF, thumbnails
  std::filesystem::path output;  // folder; created if missing
  // Precomputed SSC graphs (<layer>.npz per layer, e.g. from `sublens ssc --all-layers`); empty:
  // computed into OUTPUT/graphs. The demo passes the graphs of its final epoch.
  std::filesystem::path graphs;
  int threads = 0;                        // SSC threads (0: all cores)
  double tau = 10;                        // SSC tau (eq. 2), passed to `sublens ssc`
  int confidently_wrong = 5;              // most confidently wrong inputs explained (needs logits)
  int top = 8;                            // neighbours listed per explained input (paper: 8)
  int spectrum_k = 50;                    // singular values per layer
  std::vector<int> ranks = {10, 20, 30};  // coupled-NMF ranks (capped below N)
  int nmf_max_iterations = 200;           // HALS iterations per fit
  bool nmf = true;                        // run the NMF sweep when `images` is given
  std::uint64_t seed = 0;                 // NMF seed
  int max_thumbnails = 2000;              // inputs above this get no thumbnail in the report
  bool write_report = true;               // OUTPUT/report.html
  bool figures = true;  // with write_report: OUTPUT/figures/*.svg|png (skipped without Chromium)
  std::string who = "analyze";  // progress prefix
  // Steps key paths under this folder relative to it (default: `output`); the study passes its
  // own folder so that a whole study can be moved and resumed.
  std::filesystem::path key_root;
};

// Runs (or resumes) the analysis; writes OUTPUT/result.json, the CSV tables and, unless disabled,
// OUTPUT/report.html. Returns the result (paths in it are relative to OUTPUT). Bad inputs
// (missing files, N mismatch, non-integer labels) throw InputError before any step runs.
nlohmann::json run_analysis(const AnalysisOptions& options);

// Appends the analysis's findings and sections to `page`; reads the embeddings, labels,
// predictions and thumbnails that `result` names (relative to `dir`). `id_prefix` keeps figure
// ids unique when a page holds several analyses.
void add_analysis_to_report(const nlohmann::json& result, const std::filesystem::path& dir,
                            report::Report& page, const std::string& id_prefix = "");

}  // namespace sublens::study
