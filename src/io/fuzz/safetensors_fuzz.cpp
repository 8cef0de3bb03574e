// libFuzzer target: .safetensors images (JSON header, offsets, dtypes).
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "sublens/io/io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    std::vector<std::pair<std::string, std::string>> metadata;
    for (const auto& entry : sublens::io::parse_safetensors(
             reinterpret_cast<const std::byte*>(data), size, "fuzz.safetensors", &metadata)) {
      (void)entry.second.to_double();
    }
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
