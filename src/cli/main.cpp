// sublens — command-line entry point. Parses, dispatches to the registered command, prints the
// command's JSON summary on stdout, and maps errors to exit codes (0 ok, 1 internal, 2 bad input).
#include <cstdio>
#include <exception>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "command.hpp"
#include "sublens/core/blas.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/dist/dist.hpp"
#include "sublens/study/steps.hpp"
#include "sublens/version.hpp"

namespace {

// The commands that split their work over processes under mpirun/srun (see dist/dist.hpp); the
// others refuse to run K times.
const std::set<std::string>& distributed_commands() {
  static const std::set<std::string> commands = {
      "ssc",         // the columns of each solve (dist::column_schedule)
      "cka-matrix",  // the pairs of layers (dist::TaskQueue)
      "factorize",   // the fits of the rank sweep (dist::TaskQueue)
      "study",       // the variants (study::WorkSharing over dist::TaskQueue)
  };
  return commands;
}

bool runs_distributed(const std::string& command) {
  return distributed_commands().count(command) > 0;
}

std::string distributed_command_list() {
  std::string list;
  for (const auto& name : distributed_commands()) list += (list.empty() ? "" : ", ") + name;
  return list;
}

// An error under mpirun: one that every process meets alike (options, inputs) is printed once by
// rank 0 and every process exits cleanly; one met inside distributed work, where the others wait
// on this process, is printed where it happened and stops them all (MPI_Abort), unless
// dist::settle() already told every process (they then exit by themselves).
int report_error(const std::string& command, const char* kind, const char* what, int code) {
  namespace dist = sublens::dist;
  if (dist::is_root() || dist::collectives_started() || dist::error_settled()) {
    std::fprintf(stderr, "sublens %s: %s: %s\n", command.c_str(), kind, what);
  }
  if (dist::distributed() && dist::collectives_started() && !dist::error_settled()) {
    dist::abort(code);
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  sublens::blas::select_kernels(argv);           // may re-execute with the CPU's BLAS kernels
  const sublens::dist::Session mpi(argc, argv);  // MPI only when an MPI launcher started us
  // The steps of study/analyze/demo are child `sublens` processes: plain ones, not MPI processes
  // (with the launcher's variables a child would try to join the MPI run and hang).
  if (sublens::dist::launched())
    sublens::study::set_step_environment(sublens::dist::child_environment());
  using sublens::cli::Runner;
  CLI::App app{
      "sublens: explain trained neural networks through the activations of their layers.\n"
      "Sparse subspace clustering graphs, modularity, CKA, spectral embeddings, coupled NMF.",
      "sublens"};
  app.set_version_flag("--version", std::string("sublens ") + SUBLENS_VERSION + " (OpenBLAS " +
                                        sublens::blas::core_name() + " kernels)");
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet, "No progress lines on stderr (also after the command)");
  std::string threads;
  CLI::Option* global_threads =
      app.add_option("--threads", threads,
                     "Threads, for the commands that take --threads (0: all cores)")
          ->type_name("INT");
  app.require_subcommand(1);
  app.fallthrough();  // global options are accepted after the command too
  app.footer("Run 'sublens <command> --help' for a command's options and an example.");

  std::map<CLI::App*, Runner> runners;
  for (const auto& spec : sublens::cli::registered_commands()) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.summary);
    sub->footer("Example:\n  " + spec.example);
    sub->preparse_callback([sub](std::size_t) { sublens::cli::set_command_name(sub->get_name()); });
    runners[sub] = spec.setup(*sub);
  }

  try {
    app.parse(argc, argv);
    if (!app.get_subcommands().empty()) {
      sublens::cli::apply_global_threads(*global_threads, *app.get_subcommands().front());
    }
  } catch (const CLI::ParseError& error) {
    if (!sublens::dist::is_root()) return error.get_exit_code() == 0 ? 0 : 2;  // rank 0 says it
    return sublens::cli::report_parse_error(app, error);
  }
  sublens::Progress::set_global_enabled(!quiet && sublens::dist::is_root());

  for (auto& [sub, runner] : runners) {
    if (!sub->parsed()) continue;
    if (sublens::dist::distributed() && !runs_distributed(sub->get_name())) {
      const std::string what = "runs in one process; under mpirun/srun only " +
                               distributed_command_list() +
                               " split their work (run this command without the launcher)";
      return report_error(sub->get_name(), "error", what.c_str(), 2);
    }
    try {
      const nlohmann::json summary = runner();
      if (!summary.is_null()) std::cout << summary.dump() << std::endl;
      if (sublens::dist::is_root()) sublens::cli::warn_deprecated_spellings();
      return 0;
    } catch (const sublens::dist::StoppedElsewhere& stopped) {
      return stopped.code();  // another process met the error and prints it
    } catch (const std::invalid_argument& error) {
      return report_error(sub->get_name(), "error", error.what(), 2);
    } catch (const std::exception& error) {
      return report_error(sub->get_name(), "internal error", error.what(), 1);
    }
  }
  return 2;
}
