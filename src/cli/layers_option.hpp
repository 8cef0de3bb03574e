// The `--layers` flag of both executables (`sublens` and the companion `sublens-torch`): one
// spelling, `--layers NAME|GLOB[,...]`, repeatable; the old spellings still parse for one release
// and leave a deprecation line for the command to print once it has succeeded.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace sublens::cli {

// Adds `name` (and the deprecated aliases `deprecated`, e.g. "--layer") to `app`; every
// occurrence appends its comma-separated values to `patterns`. Several values after one flag
// (`--layers a b`) or an alias add a deprecation line (taken by take_deprecation_lines).
CLI::Option* add_layers_option(CLI::App& app, std::vector<std::string>& patterns,
                               const std::string& help, const std::string& name = "--layers",
                               const std::vector<std::string>& deprecated = {});

// The deprecation lines collected while parsing ("'--layer' is deprecated ... write '--layers'"),
// each old spelling once; the list is emptied.
std::vector<std::string> take_deprecation_lines();

}  // namespace sublens::cli
