// `sublens spectrum`: the top-k singular values of each layer's activation matrix (PAPERS.md,
// section B: semi-log spectra). Dense SVD for small matrices, matrix-free Lanczos on the Gram of
// the smaller side otherwise (see sublens/factor/spectrum.hpp for the method and its accuracy).
//
// Outputs in DIR: spectrum_<layer>.npy (descending singular values) and spectrum.csv
// (layer,index,singular_value,normalized = sigma / sigma_1); JSON summary on stdout.
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "command.hpp"
#include "sublens/core/error.hpp"
#include "sublens/factor/spectrum.hpp"
#include "sublens/io/io.hpp"

namespace sublens::cli {
namespace {

namespace fs = std::filesystem;

struct SpectrumCommandOptions {
  std::string activations;          // ACTS file
  std::vector<std::string> layers;  // layers to use (all when empty)
  int k = 50;                       // singular values per layer
  long long dense_limit = 1000;     // dense SVD when min(N, d) <= this
  std::string output;               // output folder
};

nlohmann::json spectrum_command(const SpectrumCommandOptions& options) {
  require_readable_file(options.activations, "ACTS");
  if (fs::exists(options.output) && !fs::is_directory(options.output)) {
    throw InputError(options.output, "-o", "exists and is not a folder");
  }
  if (options.k < 1) throw std::invalid_argument("spectrum: -k must be >= 1");
  const auto layers = io::load_activations(
      options.activations, select_activation_layers(options.activations, options.layers));
  const fs::path dir(options.output);
  factor::SpectrumOptions spectrum_options;
  spectrum_options.k = options.k;
  spectrum_options.dense_limit = static_cast<Index>(options.dense_limit);

  std::ostringstream csv;
  csv.precision(17);
  csv << "layer,index,singular_value,normalized\n";
  nlohmann::json results = nlohmann::json::array();
  nlohmann::json files = nlohmann::json::array();
  // Every layer is computed before anything is written, so a failing layer leaves no output.
  std::vector<factor::SpectrumResult> spectra;
  for (const auto& layer : layers) {
    spectra.push_back(factor::top_singular_values(layer.values, spectrum_options));
  }
  fs::create_directories(dir);
  for (std::size_t index = 0; index < layers.size(); ++index) {
    const io::Layer& layer = layers[index];
    const factor::SpectrumResult& spectrum = spectra[index];
    const Vector& s = spectrum.singular_values;
    const fs::path file = dir / ("spectrum_" + io::layer_file_stem(layer.name) + ".npy");
    io::write_npy(file, io::NdArray::from_double({s.size()}, s.data()));
    files.push_back(file.string());
    nlohmann::json values = nlohmann::json::array();
    for (Index i = 0; i < s.size(); ++i) {
      const double normalized = s(0) > 0 ? s(i) / s(0) : 0.0;
      csv << csv_field(layer.name) << "," << i << "," << s(i) << "," << normalized << "\n";
      values.push_back(s(i));
    }
    results.push_back({{"layer", layer.name},
                       {"n_inputs", layer.values.rows()},
                       {"dims", layer.values.cols()},
                       {"k", s.size()},
                       {"method", spectrum.method},
                       {"converged", spectrum.converged},
                       {"products", spectrum.products},
                       {"seconds", spectrum.seconds},
                       {"singular_values", values}});
  }
  io::write_file_atomically(dir / "spectrum.csv", csv.str());
  files.push_back((dir / "spectrum.csv").string());
  return {{"command", "spectrum"}, {"layers", results}, {"files", files}};
}

const bool registered = register_command(
    {"spectrum", "Top-k singular values of each layer's activation matrix (.npy + CSV)",
     "sublens spectrum acts.npz --layers conv1,conv2 -k 50 -o spectra/", [](CLI::App& app) {
       auto options = std::make_shared<SpectrumCommandOptions>();
       app.option_defaults()->always_capture_default();
       app.add_option("ACTS", options->activations, "Activations (.npy, .npz or .safetensors)")
           ->required();
       add_layers_option(app, options->layers, "Layers to use (default: all)");
       app.add_option("-k", options->k, "Number of singular values per layer (capped at min(N, d))")
           ->check(CLI::PositiveNumber);
       app.add_option("--dense-limit", options->dense_limit,
                      "Use a dense SVD when min(N, d) is at most this; Lanczos above")
           ->check(CLI::NonNegativeNumber);
       app.add_option("-o,--output", options->output, "Output folder (created if missing)")
           ->required();
       return [options] { return spectrum_command(*options); };
     }});

}  // namespace
}  // namespace sublens::cli
