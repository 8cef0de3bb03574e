// The sublens command registry. Each `cmd_<name>.cpp` registers one command:
//
//   static const bool registered = sublens::cli::register_command({
//       "ssc", "Sparse subspace clustering affinity graphs of activation layers",
//       "sublens ssc acts.npz --layer block3 -o w.npz",
//       [](CLI::App& app) {
//         auto options = std::make_shared<SscCommandOptions>();
//         app.add_option("ACTS", options->activations, "...")->required();
//         return [options] { return ssc_command(*options); };   // returns the JSON summary
//       }});
//
// A command that reports several objects (e.g. one per layer) may print one JSON object per line
// to std::cout itself and return nullptr.
// `main` parses, runs the chosen command, prints its JSON summary on stdout and maps errors to
// exit codes: 0 success, 1 internal failure, 2 bad input or usage.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "layers_option.hpp"
#include "sublens/core/types.hpp"

namespace sublens::cli {

using Runner = std::function<nlohmann::json()>;

struct CommandSpec {
  std::string name;
  std::string summary;
  std::string example;  // shown in `sublens <command> --help`
  std::function<Runner(CLI::App&)> setup;
};

bool register_command(CommandSpec spec);
const std::vector<CommandSpec>& registered_commands();

// Checks that `output`'s folder exists and `output` is not a folder; throws InputError
// ("<output>: -o: ...") before any work is done.
void require_writable_file(const std::filesystem::path& output, const std::string& option);
// Checks that `input` exists and is a regular file.
void require_readable_file(const std::filesystem::path& input, const std::string& option);

// JSON number that stays valid JSON for NaN/Inf (null).
nlohmann::json json_number(double value);

// A 1-D integer .npy (labels, predictions) as an IntVector (io::read_int_vector checks it).
IntVector read_int_vector(const std::filesystem::path& path);

// True when `path` ends in .npz and is a scipy-sparse archive (io::sparse_npz_format), i.e. an
// affinity graph rather than activations.
bool is_sparse_npz(const std::filesystem::path& path);

// ---- messages --------------------------------------------------------------------------------

// The command being run ("ssc"), for the "sublens <command>: ..." prefix of every message.
void set_command_name(std::string name);
// "sublens <command>: warning: <message>" on stderr (also under -q: warnings are not progress).
void warn(const std::string& message);

// ---- global options and parse errors ---------------------------------------------------------

// `sublens --threads N <command>`: hands N to the command's own --threads unless that was given
// too; throws CLI::ValidationError when the command takes no --threads.
void apply_global_threads(const CLI::Option& global_threads, CLI::App& command);
// Prints help/--version (exit 0) or "sublens <command>: error: <what> (see 'sublens <command>
// --help')" (exit 2) and returns the exit code.
int report_parse_error(CLI::App& app, const CLI::ParseError& error);

// ---- one layer-selection vocabulary ----------------------------------------------------------
// Every command that picks layers spells it `--layers NAME[,NAME...]`, repeatable; each NAME is
// an exact layer name or an fnmatch glob ('layer*', 'block[12]'). Old spellings still parse, with
// one deprecation line on stderr: the aliases in `deprecated` (e.g. "--layer") and several values
// after one flag (`--layers a b`). `name` is "--layers" unless the command selects per operand.
// The deprecation lines are printed by warn_deprecated_spellings once the command has succeeded,
// so that a failing command still prints its one error line. add_layers_option is in
// layers_option.hpp (shared with sublens-torch).

// The layers `patterns` name among `available`, in pattern order (a glob's matches keep the order
// of `available`, a layer named twice appears once). No patterns: all of `available`. A pattern
// that matches nothing throws InputError "<source>: <option> 'x': matches no layer (available:
// ...)".
std::vector<std::string> select_layers(const std::string& source,
                                       const std::vector<std::string>& available,
                                       const std::vector<std::string>& patterns,
                                       const std::string& option = "--layers");
// select_layers over the arrays of an activations file (names read from its header only).
std::vector<std::string> select_activation_layers(const std::filesystem::path& path,
                                                  const std::vector<std::string>& patterns,
                                                  const std::string& option = "--layers");

void warn_deprecated_spellings();

// ---- inputs that teach -------------------------------------------------------------------------

// An affinity graph (scipy-sparse .npz, as `sublens ssc` writes). Anything else (activations, a
// dense .npy) throws InputError "<path>: <option>: expects an affinity graph ... from `sublens
// ssc`" rather than the zip reader's error.
SparseMatrix read_affinity_graph(const std::filesystem::path& path, const std::string& option);

// Class labels used as class indices (a 1-D integer .npy): warns when they look 1-based (no 0)
// or have gaps, since classes 0..max are counted (ssc-labels, neighbors). Commands that use
// labels only as a partition (modularity, cluster) read them with read_int_vector: renumbering
// changes nothing there.
IntVector read_labels(const std::filesystem::path& path, const std::string& option = "--labels");

// `text` as one CSV field: quoted (with "" for ") when it holds a comma, a quote or a newline.
std::string csv_field(const std::string& text);

}  // namespace sublens::cli
