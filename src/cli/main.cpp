// sublens — command-line entry point. Parses, dispatches to the registered command, prints the
// command's JSON summary on stdout, and maps errors to exit codes (0 ok, 1 internal, 2 bad input).
#include <cstdio>
#include <exception>
#include <iostream>
#include <map>
#include <stdexcept>

#include "command.hpp"
#include "sublens/core/blas.hpp"
#include "sublens/core/progress.hpp"
#include "sublens/version.hpp"

int main(int argc, char** argv) {
  sublens::blas::select_kernels(argv);  // may re-execute with the CPU's BLAS kernels
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
    return sublens::cli::report_parse_error(app, error);
  }
  sublens::Progress::set_global_enabled(!quiet);

  for (auto& [sub, runner] : runners) {
    if (!sub->parsed()) continue;
    try {
      const nlohmann::json summary = runner();
      if (!summary.is_null()) std::cout << summary.dump() << std::endl;
      sublens::cli::warn_deprecated_spellings();
      return 0;
    } catch (const std::invalid_argument& error) {
      std::fprintf(stderr, "sublens %s: error: %s\n", sub->get_name().c_str(), error.what());
      return 2;
    } catch (const std::exception& error) {
      std::fprintf(stderr, "sublens %s: internal error: %s\n", sub->get_name().c_str(),
                   error.what());
      return 1;
    }
  }
  return 2;
}
