// `sublens extract`: runs `sublens-torch extract ...` (see cmd_train.cpp).
#include "command.hpp"

namespace sublens::cli {

Runner setup_torch_command(CLI::App& app, const std::string& command);  // cmd_train.cpp

namespace {
const bool registered = register_command(
    {"extract", "Capture layer activations from a training run or a TorchScript model (LibTorch)",
     "sublens extract --run runs/r20 --all-epochs --layers 'stage*' --n 1000 -o acts.safetensors",
     [](CLI::App& app) { return setup_torch_command(app, "extract"); }});
}  // namespace

}  // namespace sublens::cli
