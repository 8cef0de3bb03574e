// Resumable steps: a study or analysis is a sequence of `sublens` commands, each run as a child
// process of the running `sublens` executable (exactly as a user would run them, each step's JSON
// summary kept). A step is skipped when its record says it finished with the same key and its
// outputs exist; the key hashes the command line, the bytes of every input file, the sublens
// version and the revision of the command's algorithm (algorithm_revision), so a run that was
// killed resumes where it stopped, a changed input recomputes what depends on it, and results of
// older code are recomputed rather than reused.
//
//   study::StepRunner steps(dir, "analyze");
//   auto lines = steps.run({"ssc", {"ssc", acts, "--all-layers", "-o", graphs}, {acts}, {graphs}});
//
// Records live in DIR/steps/<name>.json ({"key", "args", "output"}), written atomically after the
// step succeeded. Progress lines (with an ETA) go to stderr unless --quiet. Only valid inside the
// `sublens` executable (it runs /proc/self/exe).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace sublens::study {

// A step's command exited nonzero: `exit_code` 2 means the command rejected its input.
struct StepFailed : std::runtime_error {
  StepFailed(const std::string& what, int exit_code, std::string error_output)
      : std::runtime_error(what), exit_code(exit_code), error_output(std::move(error_output)) {}
  int exit_code;
  std::string error_output;  // the child's stderr when it was captured
};

// Runs `sublens [--quiet] ARGS...` (this executable) and returns its stdout JSON lines. A nonzero
// exit throws StepFailed naming the command line. The child's stderr is passed through, or, with
// `capture_stderr`, kept in StepFailed::error_output.
std::vector<nlohmann::json> run_self(const std::vector<std::string>& args,
                                     bool capture_stderr = false, bool quiet = true);

// The environment (KEY=VALUE) of every step's child process from now on; never called: this
// process's own. Under an MPI launcher the CLI passes one without the launcher's variables, so
// that each step runs as a plain single process.
void set_step_environment(std::vector<std::string> environment);

// The revision of `command`'s algorithm (0 for commands without one); part of every step key.
int algorithm_revision(const std::string& command);

struct Step {
  std::string name;                            // unique in the run, [A-Za-z0-9._-]
  std::vector<std::string> args;               // the sublens command line
  std::vector<std::filesystem::path> inputs;   // files or folders the result depends on
  std::vector<std::filesystem::path> outputs;  // files or folders the step writes
  bool capture_stderr = false;                 // see run_self
  // Long steps (training, capture, SSC): let the command's own progress lines through to stderr
  // while this process shows progress (a 100-epoch training is otherwise hours of silence).
  bool show_progress = false;
  // Remove the outputs before running: a step that writes a folder of files (one per layer) must
  // not leave the files of an earlier run's layers for the steps that read the whole folder.
  bool clear_outputs = false;
};

class StepRunner {
 public:
  // `who` prefixes the progress lines on stderr ("analyze: [3/12] ..."). Paths under `root`
  // (default: `dir`) enter the keys relative to it, so a finished folder can be moved or copied
  // and still be resumed.
  StepRunner(std::filesystem::path dir, std::string who, int planned_steps = 0,
             const std::filesystem::path& root = {});

  // Runs the step or returns the recorded output lines of an identical finished one.
  std::vector<nlohmann::json> run(const Step& step);

  // Several processes (study::WorkSharing): the numbers in the progress lines count the steps of
  // every process (`finished(k)` adds k to the shared count and returns it), and the ETA divides
  // the work left among `processes`.
  void share_progress(std::function<int(int)> finished, int processes);

  int ran() const { return ran_; }
  int skipped() const { return skipped_; }

  // 64-bit FNV-1a of a file's bytes, or of the regular files below a folder (sorted relative
  // names and bytes), as 16 hex digits; memoised per (path, size, mtime) for the runner's life.
  std::string hash_path(const std::filesystem::path& path);

 private:
  std::filesystem::path dir_;
  std::string root_;  // absolute, with a trailing '/'
  std::string who_;
  int planned_ = 0;
  int ran_ = 0;
  int skipped_ = 0;
  double seconds_ran_ = 0;
  std::function<int(int)> finished_;  // shared count of finished steps (several processes)
  int processes_ = 1;
  std::map<std::string, std::string> hashes_;
};

}  // namespace sublens::study
