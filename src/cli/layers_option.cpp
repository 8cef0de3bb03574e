// See layers_option.hpp.
#include "layers_option.hpp"

#include <set>

namespace sublens::cli {
namespace {

std::vector<std::string>& pending() {
  static std::vector<std::string> lines;
  return lines;
}

// One deprecation line per old spelling.
void deprecated(const std::string& key, const std::string& old_spelling,
                const std::string& new_spelling) {
  static std::set<std::string> said;
  if (said.insert(key).second) {
    pending().push_back("'" + old_spelling + "' is deprecated and will be removed; write " +
                        new_spelling);
  }
}

void split_commas(const std::string& value, std::vector<std::string>& out) {
  std::size_t start = 0;
  for (std::size_t comma = value.find(','); comma != std::string::npos;
       comma = value.find(',', start)) {
    out.push_back(value.substr(start, comma - start));
    start = comma + 1;
  }
  out.push_back(value.substr(start));
}

}  // namespace

std::vector<std::string> take_deprecation_lines() {
  std::vector<std::string> lines;
  lines.swap(pending());
  return lines;
}

CLI::Option* add_layers_option(CLI::App& app, std::vector<std::string>& patterns,
                               const std::string& help, const std::string& name,
                               const std::vector<std::string>& deprecated_names) {
  // Runs once per occurrence of the flag (trigger_on_parse), so `values` are that occurrence's.
  auto parser = [&patterns, name](const std::string& spelling) {
    return [&patterns, name, spelling](const CLI::results_t& values) {
      if (spelling != name) {
        deprecated(spelling, spelling, "'" + name + "'");
      } else if (values.size() > 1) {
        std::string spaced, commas;
        for (const auto& value : values) {
          spaced += " " + value;
          commas += (commas.empty() ? "" : ",") + value;
        }
        deprecated(name + " a b", name + spaced, "'" + name + " " + commas + "' or repeat " + name);
      }
      for (const auto& value : values) split_commas(value, patterns);
      return true;
    };
  };
  auto configure = [](CLI::Option* option) {
    return option->expected(1, CLI::detail::expected_max_vector_size)
        ->allow_extra_args()
        ->trigger_on_parse()
        ->type_name("NAME|GLOB[,...]");
  };
  for (const auto& old_name : deprecated_names) {
    configure(app.add_option(old_name, parser(old_name), "Deprecated: " + name))->group("");
  }
  return configure(
      app.add_option(name, parser(name), help + " (names or globs; comma-separated or repeated)"));
}

}  // namespace sublens::cli
