// libFuzzer target: .npz archives read from memory through libzip, as arrays and as scipy-sparse.
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "sublens/io/io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  try {
    for (const auto& entry : sublens::io::parse_npz(bytes, size, "fuzz.npz")) {
      (void)entry.second.to_double();
    }
  } catch (const std::invalid_argument&) {
  }
  try {
    (void)sublens::io::parse_sparse_npz(bytes, size, "fuzz.npz");
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
