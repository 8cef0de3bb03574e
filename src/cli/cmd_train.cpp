// `sublens train`: runs the companion executable `sublens-torch train ...` (the way git runs its
// subcommands), so `sublens` itself never links LibTorch (see DESIGN.md, "Start-up cost").
// `sublens train --help` shows sublens-torch's options and example.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "command.hpp"
#include "sublens/core/progress.hpp"

namespace sublens::cli {

// Path of sublens-torch: $SUBLENS_TORCH if set, else next to this executable.
std::filesystem::path torch_companion_path() {
  if (const char* override_path = std::getenv("SUBLENS_TORCH"); override_path && *override_path) {
    return override_path;
  }
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  return (error ? std::filesystem::path(".") : self.parent_path()) / "sublens-torch";
}

// Replaces this process with `sublens-torch [--quiet] <command> <args>`; its exit code, stdout
// and stderr become sublens's. Throws (exit 1) only when it cannot be started.
[[noreturn]] void exec_torch_command(const std::string& command,
                                     const std::vector<std::string>& args) {
  const std::filesystem::path companion = torch_companion_path();
  std::vector<std::string> words = {companion.string()};
  if (!Progress::global_enabled()) words.push_back("--quiet");
  words.push_back(command);
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  execv(argv[0], argv.data());
  throw std::runtime_error("cannot run " + companion.string() + " (" + std::strerror(errno) +
                           "); build the sublens-torch target, which holds the LibTorch commands");
}

// Registers a command whose arguments all pass through to sublens-torch.
Runner setup_torch_command(CLI::App& app, const std::string& command) {
  app.prefix_command();
  app.fallthrough(false);  // every argument, -q and --threads too, is sublens-torch's
  app.set_help_flag();     // --help goes to sublens-torch, which knows the options
  app.footer(app.get_footer() + "\n(Runs sublens-torch; 'sublens " + command +
             " --help' lists the options.)");
  return [&app, command]() -> nlohmann::json { exec_torch_command(command, app.remaining()); };
}

namespace {
const bool registered = register_command(
    {"train", "Train a zoo model on a dataset, with a checkpoint after every epoch (LibTorch)",
     "sublens train --model resnet20 --dataset fashion-mnist --epochs 30 -o runs/r20",
     [](CLI::App& app) { return setup_torch_command(app, "train"); }});
}  // namespace

}  // namespace sublens::cli
