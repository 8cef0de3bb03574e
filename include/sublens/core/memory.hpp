// Memory checks before large allocations ("Memory is part of correctness").
#pragma once

#include <cstdint>
#include <string>

namespace sublens {

// Physical memory available to this process now (MemAvailable from /proc/meminfo), in bytes.
std::uint64_t available_memory_bytes();

// Peak resident set size of this process so far (VmHWM), in bytes; 0 when unknown.
std::uint64_t peak_resident_bytes();

// Throws std::invalid_argument "<what> needs <bytes> (<human>) but only <avail> is available"
// when `bytes` exceeds the available memory.
void require_memory(std::uint64_t bytes, const std::string& what);

// "1.50 GiB"
std::string human_bytes(std::uint64_t bytes);

}  // namespace sublens
