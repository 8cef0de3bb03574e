// Resumable steps of a study. See include/sublens/study/steps.hpp.
#include "sublens/study/steps.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "sublens/core/progress.hpp"
#include "sublens/io/io.hpp"

namespace sublens::study {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Bump when a record's meaning changes (invalidates every record).
constexpr int kRecordFormat = 2;

// Revision of each command's algorithm: bump a command's number when its results change (another
// solver, a fixed bug, new columns), so that steps recorded by older code are recomputed instead
// of reused. The sublens version is part of every key as well (SUBLENS_VERSION, from CMake).
const std::map<std::string, int> kAlgorithmRevisions = {
    {"train", 1},      {"extract", 2},   {"ssc", 2},        {"modularity", 1},
    {"cka-matrix", 1}, {"embed", 1},     {"ssc-labels", 1}, {"neighbors", 1},
    {"spectrum", 1},   {"factorize", 2}, {"models", 1}};
constexpr std::uint64_t kFnvOffset = 1469598103934665603ULL;
constexpr std::uint64_t kFnvPrime = 1099511628211ULL;

void fnv_update(std::uint64_t& hash, const char* data, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    hash ^= static_cast<unsigned char>(data[i]);
    hash *= kFnvPrime;
  }
}

void fnv_file(std::uint64_t& hash, const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("steps: cannot read " + path.string());
  std::array<char, 1 << 16> buffer{};
  while (file) {
    file.read(buffer.data(), buffer.size());
    fnv_update(hash, buffer.data(), static_cast<std::size_t>(file.gcount()));
  }
}

std::string hex(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

std::optional<std::vector<std::string>>& step_environment() {
  static std::optional<std::vector<std::string>> environment;
  return environment;
}

}  // namespace

void set_step_environment(std::vector<std::string> environment) {
  step_environment() = std::move(environment);
}

int algorithm_revision(const std::string& command) {
  const auto found = kAlgorithmRevisions.find(command);
  return found == kAlgorithmRevisions.end() ? 0 : found->second;
}

std::vector<json> run_self(const std::vector<std::string>& args, bool capture_stderr, bool quiet) {
  std::vector<std::string> argv_strings = {"sublens"};
  if (quiet) argv_strings.emplace_back("--quiet");
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(argv_strings.size() + 1);
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;  // built before fork: the child only calls async-signal-safe functions
  if (step_environment()) {
    for (auto& entry : *step_environment()) envp.push_back(entry.data());
    envp.push_back(nullptr);
  }

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("steps: pipe failed");
  // The captured stderr goes to an unlinked temporary file: no second pipe to drain concurrently.
  FILE* error_file = capture_stderr ? std::tmpfile() : nullptr;
  if (capture_stderr && error_file == nullptr) throw std::runtime_error("steps: tmpfile failed");
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("steps: fork failed");
  if (pid == 0) {
    // The step dies with this process: a killed study (or mpirun) leaves no step writing its
    // outputs beside the rerun's.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(pipe_fds[1], STDOUT_FILENO);
    if (error_file != nullptr) dup2(fileno(error_file), STDERR_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    if (envp.empty()) {
      execv("/proc/self/exe", argv.data());
    } else {
      execve("/proc/self/exe", argv.data(), envp.data());
    }
    std::perror("steps: exec /proc/self/exe");
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
  std::string error_output;
  if (error_file != nullptr) {
    std::rewind(error_file);
    std::array<char, 4096> chunk{};
    std::size_t count = 0;
    while ((count = std::fread(chunk.data(), 1, chunk.size(), error_file)) > 0) {
      error_output.append(chunk.data(), count);
    }
    std::fclose(error_file);
  }
  std::string command_line;
  for (const auto& arg : args) command_line += " " + arg;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    throw StepFailed(
        "step 'sublens" + command_line + "' failed (exit " + std::to_string(code) + ")", code,
        error_output);
  }
  std::vector<json> rows;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) rows.push_back(json::parse(line));
  }
  return rows;
}

StepRunner::StepRunner(fs::path dir, std::string who, int planned_steps, const fs::path& root)
    : dir_(std::move(dir)), who_(std::move(who)), planned_(planned_steps) {
  fs::create_directories(dir_ / "steps");
  root_ = fs::absolute(root.empty() ? dir_ : root).lexically_normal().string();
  if (root_.empty() || root_.back() != '/') root_ += '/';
}

std::string StepRunner::hash_path(const fs::path& path) {
  std::error_code error;
  if (fs::is_directory(path, error)) {
    // Every regular file below the folder (a dataset may sit in a sub-folder of data_dir).
    std::vector<fs::path> files;
    for (const auto& entry : fs::recursive_directory_iterator(path)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    std::uint64_t hash = kFnvOffset;
    for (const auto& file : files) {
      const std::string name =
          fs::relative(file, path).generic_string() + "=" + hash_path(file) + ";";
      fnv_update(hash, name.data(), name.size());
    }
    return hex(hash);
  }
  if (!fs::is_regular_file(path, error)) return "missing";
  const auto size = fs::file_size(path);
  const auto mtime = fs::last_write_time(path).time_since_epoch().count();
  const std::string memo = path.string() + "|" + std::to_string(size) + "|" + std::to_string(mtime);
  if (auto found = hashes_.find(memo); found != hashes_.end()) return found->second;
  std::uint64_t hash = kFnvOffset;
  fnv_file(hash, path);
  return hashes_[memo] = hex(hash);
}

std::vector<json> StepRunner::run(const Step& step) {
  std::uint64_t key_hash = kFnvOffset;
  std::string key_text =
      "format=" + std::to_string(kRecordFormat) + ";version=" + SUBLENS_VERSION +
      ";revision=" + std::to_string(algorithm_revision(step.args.empty() ? "" : step.args[0])) +
      ";";
  const auto keyed = [&](std::string text) {  // paths under the root, relative to it
    for (std::size_t at = text.find(root_); at != std::string::npos; at = text.find(root_, at)) {
      text.replace(at, root_.size(), "$ROOT/");
    }
    return text;
  };
  for (const auto& arg : step.args) key_text += keyed(arg) + '\x1f';
  for (const auto& input : step.inputs) {
    key_text +=
        keyed(fs::absolute(input).lexically_normal().string()) + "=" + hash_path(input) + ";";
  }
  fnv_update(key_hash, key_text.data(), key_text.size());
  const std::string key = hex(key_hash);
  const fs::path record_file = dir_ / "steps" / (io::layer_file_stem(step.name) + ".json");
  const int number = (finished_ ? finished_(0) : ran_ + skipped_) + 1;
  char counter[64];
  if (planned_ > 0) {
    std::snprintf(counter, sizeof counter, "[%d/%d]", number, planned_);
  } else {
    std::snprintf(counter, sizeof counter, "[%d]", number);
  }

  std::error_code error;
  if (fs::is_regular_file(record_file, error)) {
    try {
      std::ifstream file(record_file);
      const json record = json::parse(file);
      bool outputs_exist = true;
      for (const auto& output : step.outputs) outputs_exist = outputs_exist && fs::exists(output);
      if (record.at("key") == key && outputs_exist) {
        ++skipped_;
        if (finished_) finished_(1);
        if (Progress::global_enabled()) {
          std::fprintf(stderr, "%s: %s %s: done before, skipped\n", who_.c_str(), counter,
                       step.name.c_str());
        }
        return record.at("output").get<std::vector<json>>();
      }
    } catch (const std::exception&) {
      // An unreadable record is a step that did not finish: run it again.
    }
  }

  std::string eta;
  if (ran_ > 0 && planned_ > 0) {
    const double remaining =
        seconds_ran_ / ran_ * std::max(0, planned_ - number + 1) / std::max(1, processes_);
    char text[64];
    std::snprintf(text, sizeof text, " (about %.0f s left)", remaining);
    eta = text;
  }
  if (Progress::global_enabled()) {
    std::fprintf(stderr, "%s: %s %s%s\n", who_.c_str(), counter, step.name.c_str(), eta.c_str());
  }
  if (step.clear_outputs) {
    for (const auto& output : step.outputs) fs::remove_all(output);
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<json> output =
      run_self(step.args, step.capture_stderr, !(step.show_progress && Progress::global_enabled()));
  seconds_ran_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++ran_;
  const json record = {{"key", key}, {"args", step.args}, {"output", output}};
  io::write_file_atomically(record_file, record.dump(1) + "\n");
  if (finished_) finished_(1);
  return output;
}

void StepRunner::share_progress(std::function<int(int)> finished, int processes) {
  finished_ = std::move(finished);
  processes_ = processes;
}

}  // namespace sublens::study
