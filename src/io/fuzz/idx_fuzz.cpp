// libFuzzer target: IDX files (raw or gzipped) and CIFAR-10/100 batches.
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "sublens/io/io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  try {
    (void)sublens::io::parse_idx(bytes, size, "fuzz.idx").to_double();
  } catch (const std::invalid_argument&) {
  }
  for (const bool cifar100 : {false, true}) {
    try {
      (void)sublens::io::parse_cifar(bytes, size, "fuzz.bin", cifar100);
    } catch (const std::invalid_argument&) {
    }
  }
  return 0;
}
