// `sublens study PLAN.toml -o DIR` / `sublens study --run RUN [--run RUN2 ...] -o DIR`: trains
// every zoo variant of a plan and captures the analysis set at the epochs it needs into a run
// folder, or reads recorded run folders (include/sublens/io/run.hpp) as they are; then builds the
// SSC graphs and runs the measures of both papers on the run folders (one format whatever the
// source) and writes the result tables, DIR/study.json, the findings and DIR/report.html
// (+ DIR/figures/*.svg|png). A study of recorded runs only never starts LibTorch.
//
// Every step (train, extract, ssc per variant x epoch, each measure) is a `sublens` command run by
// study::StepRunner and keyed by its command line, the bytes of its inputs, the sublens version
// and the command's algorithm revision: a run killed at any moment resumes where it stopped,
// recomputes nothing that finished and writes byte-identical tables (training resumes from its
// last per-epoch checkpoint, which reproduces the weights of an uninterrupted run bit for bit at
// the same thread count). The thread count is part of every step's key except the training's:
// `--threads` changes recompute the analysis, not the training. A step that rejects its input
// (exit 2) throws StepFailed; a DIR this run created is removed.
//
// DIR layout (src/study/pipeline.hpp says which file writes what):
//   runs/<variant>/                      zoo training (config.json, log.csv, checkpoints/)
//   acts/<variant>/                      zoo run folder (run.json, labels, inputs, epoch-0008.*)
//   graphs/<variant>/epoch-0008/         SSC graph per layer (scipy-sparse .npz)
//   heatmaps/<variant>/epoch-0008.npy    pairwise SSC-CKA between the variant's layers
//   dynamics/<variant>/                  CKA of each epoch with the final one
//   variants/<variant>/                  `analyze` of the final network (inputs = true)
//   nmf/<variant>/, spectra/<variant>/   paper B (nmf = true)
//   variants.csv modularity.csv dynamics.csv heatmaps.csv block-diagonal.csv nmf.csv
//   study.json report.html figures/ steps/
//
//   const auto plan = study::read_plan("plans/fashion-mnist-quick.toml");
//   const auto result = study::run_study(plan, {.output = "out"});
//   study::run_study(study::plan_for_runs({"runs/r18", "runs/r34"}), {.output = "runs-study"});
#pragma once

#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "sublens/study/plan.hpp"

namespace sublens::study {

// Sharing one study among several processes (`mpirun -np K sublens study`; the CLI implements
// this with MPI, src/dist). Every process resolves the plan alike; then each takes the next
// variant not yet taken and runs its steps (training, capture, SSC, every measure) into the shared
// DIR, until none is left (with fewer variants than processes, in three rounds: training and
// capture per variant, the SSC graphs and their measures per variant and epoch, the other
// measures per variant); all wait for each other, and the root alone reads the finished steps
// back in plan order and writes the tables, study.json and the report. The step records make a
// killed run resume with any number of processes. The plan's thread count applies per process
// (and is part of the analysis steps' keys), so set it to the cores each process should use.
class WorkSharing {
 public:
  virtual ~WorkSharing() = default;
  virtual bool root() const = 0;
  virtual int processes() const = 0;
  // Collective: returns once every process has called it.
  virtual void wait_for_all() = 0;
  // Collective: a new round of tasks 0 .. count - 1 to share out (the previous round is over).
  virtual void share(int count) = 0;
  // The round's next task for this process; -1 once every one is taken (or after stop()).
  virtual int next() = 0;
  // After an error on this process: no further task is handed out to any process.
  virtual void stop() = 0;
  // Collective, after the loop (`error`: what this process met, or null): returns when no
  // process met an error; otherwise throws here, this process's error or one saying that another
  // process stopped the study (it printed why).
  virtual void settle(const std::exception_ptr& error) = 0;
  // Adds `steps` to the steps finished by all processes; returns the new total.
  virtual int add_finished(int steps) = 0;
  // Collective, the last call: the sum of `value` over the processes.
  virtual int finish(int value) = 0;
};

struct StudyOptions {
  std::filesystem::path output;    // DIR; created if missing
  int threads = -1;                // >= 0: overrides the plan's [analysis] threads
  bool write_report = true;        // DIR/report.html
  bool figures = true;             // DIR/figures/<figure>.svg|png (needs Chromium; skipped without)
  std::string who = "study";       // progress prefix
  WorkSharing* sharing = nullptr;  // several processes (mpirun); null: this process does it all
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
