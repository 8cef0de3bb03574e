// `sublens study PLAN.toml -o DIR`: trains every variant of a plan, captures the analysis set at
// the epochs it needs, builds the SSC graphs and runs the measures of both papers, then writes the
// result tables, DIR/study.json, the findings and DIR/report.html (+ DIR/figures/*.svg|png).
//
// Every step (train, extract, ssc per variant x epoch, each measure) is a `sublens` command run by
// study::StepRunner and keyed by its command line and the bytes of its inputs: a run killed at any
// moment resumes where it stopped, recomputes nothing that finished and writes byte-identical
// tables (training resumes from its last per-epoch checkpoint, which reproduces the weights of an
// uninterrupted run bit for bit at the same thread count). The thread count is part of every
// step's key except the training's: `--threads` changes recompute the analysis, not the training.
//
// DIR layout:
//   runs/<variant>/                    training run (config.json, log.csv, checkpoints/)
//   acts/<variant>/epoch-0008.*        activations (.safetensors) +
//   labels/predictions/softmax/images graphs/<variant>/epoch-0008/       SSC graph per layer
//   (scipy-sparse .npz) heatmaps/<variant>/epoch-0008.npy  pairwise SSC-CKA between the variant's
//   layers variants/<variant>/                `analyze` of the final network (variants with inputs
//   = true) nmf/<variant>/, spectra/<variant>/ paper B (variants with nmf = true) variants.csv
//   dynamics.csv modularity.csv heatmaps.csv block-diagonal.csv nmf.csv study.json report.html
//   figures/ steps/
//
//   const auto plan = study::read_plan("plans/demo.toml");
//   const auto result = study::run_study(plan, {.output = "out"});
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "sublens/study/plan.hpp"

namespace sublens::study {

struct StudyOptions {
  std::filesystem::path output;  // DIR; created if missing
  int threads = -1;              // >= 0: overrides the plan's [analysis] threads
  bool write_report = true;      // DIR/report.html
  bool figures = true;           // DIR/figures/<figure>.svg|png (needs Chromium; skipped without)
  std::string who = "study";     // progress prefix
};

// Runs (or resumes) the study; returns the summary printed by `sublens study` (paths, findings,
// steps run and skipped, seconds). Bad plans and missing data throw InputError before any step.
nlohmann::json run_study(const Plan& plan, const StudyOptions& options);

// `sublens study PLAN --check`: the plan, and per variant the model, its parameter count and the
// layers the selections resolve to (runs `sublens models`; trains and writes nothing). Bad models
// or layer selections throw InputError like run_study.
nlohmann::json check_plan(const Plan& plan);

// `sublens report DIR`: renders DIR/report.html (and, with `figures`, DIR/figures/) again from the
// results a study (DIR/study.json) or an analysis (DIR/result.json) left there.
nlohmann::json render_report(const std::filesystem::path& dir, bool figures);

}  // namespace sublens::study
