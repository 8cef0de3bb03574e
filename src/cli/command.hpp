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

// `text` as one CSV field: quoted (with "" for ") when it holds a comma, a quote or a newline.
std::string csv_field(const std::string& text);

}  // namespace sublens::cli
