#include "command.hpp"

#include <cmath>
#include <cstdio>

#include "sublens/core/error.hpp"
#include "sublens/io/io.hpp"

namespace sublens::cli {
namespace {
std::vector<CommandSpec>& registry() {
  static std::vector<CommandSpec> commands;
  return commands;
}
}  // namespace

bool register_command(CommandSpec spec) {
  registry().push_back(std::move(spec));
  return true;
}

const std::vector<CommandSpec>& registered_commands() { return registry(); }

void require_writable_file(const std::filesystem::path& output, const std::string& option) {
  namespace fs = std::filesystem;
  if (output.empty()) throw InputError("(none)", option, "an output path is required");
  if (fs::is_directory(output))
    throw InputError(output.string(), option, "is a folder, expected a file path");
  const fs::path parent = output.has_parent_path() ? output.parent_path() : fs::path(".");
  if (!fs::is_directory(parent)) {
    throw InputError(output.string(), option, "folder " + parent.string() + " does not exist");
  }
}

void require_readable_file(const std::filesystem::path& input, const std::string& option) {
  namespace fs = std::filesystem;
  if (!fs::exists(input)) throw InputError(input.string(), option, "file does not exist");
  if (fs::is_directory(input))
    throw InputError(input.string(), option, "is a folder, expected a file");
}

nlohmann::json json_number(double value) {
  if (!std::isfinite(value)) return nullptr;
  return value;
}

IntVector read_int_vector(const std::filesystem::path& path) {
  const std::vector<std::int64_t> values = io::read_int_vector(path);
  return Eigen::Map<const IntVector>(values.data(), static_cast<Index>(values.size()));
}

bool is_sparse_npz(const std::filesystem::path& path) {
  return path.extension() == ".npz" && io::sparse_npz_format(path).has_value();
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace sublens::cli
