// Zoo model names (torch-free: `sublens study` checks plans with the same parser the zoo uses).
// See include/sublens/models/models.hpp.
#include <cctype>
#include <stdexcept>

#include "sublens/models/models.hpp"

namespace sublens::models {

ModelSpec with_family_defaults(ModelSpec spec) {
  if (spec.depth <= 0) {
    if (spec.name == "vgg") spec.depth = 11;
    if (spec.name == "resnet") spec.depth = 20;
    if (spec.name == "wrn") spec.depth = 16;
    if (spec.name == "densenet") spec.depth = 40;
  }
  if (spec.name == "wrn" && spec.width <= 0) spec.width = 2;
  return spec;
}

ModelSpec parse_model_name(const std::string& text) {
  std::string lower;
  for (const char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const std::string& prefix : kModelFamilies) {
    if (lower.rfind(prefix, 0) != 0) continue;
    ModelSpec spec;
    spec.name = prefix;
    std::string rest = lower.substr(prefix.size());
    if (!rest.empty() && rest[0] == '-') rest.erase(0, 1);
    if (!rest.empty()) {
      std::size_t used = 0;
      bool ok = std::isdigit(static_cast<unsigned char>(rest[0])) != 0 && prefix != "cnn2" &&
                prefix != "alexnet";
      if (ok) {
        spec.depth = std::stoi(rest, &used);
        rest = rest.substr(used);
        if (!rest.empty() && prefix == "wrn" && (rest[0] == '-' || rest[0] == 'x') &&
            rest.size() > 1 && std::isdigit(static_cast<unsigned char>(rest[1]))) {
          spec.width = std::stoi(rest.substr(1), &used);
          rest = rest.substr(1 + used);
        }
        ok = rest.empty();
      }
      if (!ok) break;
    }
    return with_family_defaults(spec);
  }
  throw std::invalid_argument(
      "model must be one of cnn2, alexnet, vgg[N], resnet[N], wrn[-D-K], densenet[N] (is \"" +
      text + "\")");
}

}  // namespace sublens::models
