// The study pipeline's parts (not installed). run_study (study.cpp) calls, per variant:
//   variants.cpp  resolve: the plan's variant -> model, layers, analysed epochs (or its run folder)
//   zoo.cpp       train a zoo variant and capture its run folder (DIR/acts/<variant>/)
//   measures.cpp  SSC graphs, modularity, dynamics, heatmaps, inputs analysis, NMF from a run
//   folder
// then tables.cpp (CSV), findings.cpp (claims) and study_report.cpp (report.html).
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "internal.hpp"
#include "sublens/io/io.hpp"
#include "sublens/report/report.hpp"
#include "sublens/study/plan.hpp"
#include "sublens/study/steps.hpp"

namespace sublens::study::detail {

namespace fs = std::filesystem;

inline std::string epoch_tag(int epoch) {
  char tag[32];
  std::snprintf(tag, sizeof tag, "epoch-%04d", epoch);
  return tag;
}

inline std::string number_arg(double value) { return csv_number(json(value)); }  // exact

inline std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

inline double get_number(const json& value) {
  return value.is_number() ? value.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

// A JSON file; InputError naming it when missing or malformed.
json read_json_file(const fs::path& path);

// Where one variant's files live in the study folder DIR.
struct Paths {
  fs::path dir;
  std::string variant;
  fs::path train() const { return dir / "runs" / variant; }  // `sublens train` folder
  fs::path checkpoint(int epoch) const {
    return train() / "checkpoints" / (epoch_tag(epoch) + ".pt");
  }
  fs::path graphs(int epoch) const { return dir / "graphs" / variant / epoch_tag(epoch); }
  fs::path graph(int epoch, const std::string& layer) const {
    return graphs(epoch) / (io::layer_file_stem(layer) + ".npz");
  }
  fs::path heatmap(int epoch) const {
    return dir / "heatmaps" / variant / (epoch_tag(epoch) + ".npy");
  }
};

// A run folder's files (see /README.md, "run folders"): what the measures read.
struct RunFiles {
  fs::path dir;
  fs::path acts(int epoch) const { return dir / (epoch_tag(epoch) + ".safetensors"); }
  fs::path predictions(int epoch) const { return dir / (epoch_tag(epoch) + ".predictions.npy"); }
  fs::path softmax(int epoch) const { return dir / (epoch_tag(epoch) + ".softmax.npy"); }
  fs::path labels() const { return dir / "labels.npy"; }
  fs::path inputs() const { return dir / "inputs.npy"; }
};

inline std::string step_name(const std::string& what, const std::string& variant, int epoch = -1,
                             const std::string& layer = "") {
  std::string name = what + "." + variant;
  if (epoch >= 0) name += "." + epoch_tag(epoch);
  if (!layer.empty()) name += "." + layer;
  return name;
}

// A plan's variant resolved against its model (zoo) or its recorded run folder.
struct Variant {
  const VariantPlan* plan = nullptr;
  Paths paths;
  RunFiles run;  // the run folder the measures read (zoo: DIR/acts/<variant>)
  // Zoo: `sublens models` output ("model", "family", "spec", "parameters", "capture_points").
  json description;
  std::vector<std::string> layers, nmf_layers;  // network order
  bool all_layers = true;     // `layers` are all the run's layers (else a subset of its files)
  std::vector<int> epochs;    // analysed epochs, ascending; the last is final
  bool nmf_separate = false;  // zoo: NMF layers outside `layers` (captured in an extra file)
  fs::path nmf_acts;          // activations the NMF and spectra read
  bool recorded() const { return !plan->run.empty(); }
  int last() const { return epochs.back(); }
};

// What the dataset says: per-input shape (C, H, W) and class count (npy: from its headers).
struct DatasetFacts {
  std::vector<std::int64_t> shape;
  int classes = 10;
};
DatasetFacts dataset_facts(const Plan& plan);
std::vector<std::string> model_args(const VariantPlan& v);
// Resolves every variant (runs `sublens models` for zoo ones; reads run.json for recorded ones);
// a bad model, layer selection or run folder throws InputError before anything is written.
std::vector<Variant> resolve_variants(const Plan& plan, const fs::path& dir);

// Shared by the per-variant stages of one study.
struct StudyContext {
  const Plan& plan;
  fs::path dir;
  int thread_count = 0;
  std::string threads;  // as an argument
  std::string who;
  StepRunner& steps;
  int analysis_ran = 0;  // steps of the `inputs` analyses (they keep their own records)
  int analysis_skipped = 0;
};

// zoo.cpp: trains a zoo variant (retraining when its recipe changed) and captures its run folder.
void train_and_capture(StudyContext& context, const Variant& variant);
// measures.cpp: every measure the variant asks for; returns its record for study.json.
json measure_variant(StudyContext& context, const Variant& variant);
// measures.cpp: one analysed epoch's SSC graphs and, per layer, modularity and SSC labels (steps
// of their own: several processes share them out by epoch); its row of the variant's record.
json epoch_graph_measures(StudyContext& context, const Variant& variant, int epoch);
// Steps a variant will run (progress counter).
int planned_steps(const Variant& variant);

// tables.cpp
extern const std::vector<std::string> kStudyTables;
void write_study_tables(const json& variants, const fs::path& dir);

// spread.cpp: replicates in the report. Variant name -> the variant it replicates.
std::map<std::string, std::string> replicate_groups(const json& variants);
// "NAME (mean of k seeds)": the series a replicated network is drawn as.
std::string replicate_label(const std::string& group, const json& variants);
// Chart records whose `series` field names a replicate pooled per replicate group and equal
// `keys` fields: one point with those fields, `y` the mean over the seeds, "seed low"/"seed high"
// mean -/+ the sample standard deviation and "seeds" the per-seed values (fields outside `keys`
// are dropped: they differ between seeds); the other records are kept as they are.
json pool_replicates(const json& records, const json& variants, const std::string& series,
                     const std::vector<std::string>& keys, const std::string& y);
// A line chart with error bars for the records' "95% low"/"95% high" (bootstrap) and "seed
// low"/"seed high" (replicates) fields, where any record has them.
json with_bars(json chart);

// study_report.cpp
report::Report study_report(const json& study, const fs::path& dir);
// Writes DIR/report.html (+ figures/); returns {"report", "figures", ...}.
json render(const report::Report& page, const fs::path& dir, bool figures);

}  // namespace sublens::study::detail
