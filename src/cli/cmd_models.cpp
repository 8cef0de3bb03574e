// `sublens models`: runs `sublens-torch models ...` (see cmd_train.cpp).
#include "command.hpp"

namespace sublens::cli {

Runner setup_torch_command(CLI::App& app, const std::string& command);  // cmd_train.cpp

namespace {
const bool registered =
    register_command({"models", "List the model zoo and each model's capture points (LibTorch)",
                      "sublens models --model vgg16 --input 3,32,32",
                      [](CLI::App& app) { return setup_torch_command(app, "models"); }});
}  // namespace

}  // namespace sublens::cli
