// libFuzzer target: .npy images. Malformed input must end in sublens::InputError, nothing else.
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "sublens/io/io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const sublens::io::NdArray array =
        sublens::io::parse_npy(reinterpret_cast<const std::byte*>(data), size, "fuzz.npy");
    (void)array.to_double();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
