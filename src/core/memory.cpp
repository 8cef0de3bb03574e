#include "sublens/core/memory.hpp"

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

namespace sublens {
namespace {
// Reads "<key>: <value> kB" from a /proc file; 0 when missing.
std::uint64_t read_kib(const char* path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  const std::string prefix = key + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stoull(line.substr(prefix.size())) * 1024;
  }
  return 0;
}
}  // namespace

std::uint64_t available_memory_bytes() { return read_kib("/proc/meminfo", "MemAvailable"); }

std::uint64_t peak_resident_bytes() { return read_kib("/proc/self/status", "VmHWM"); }

std::string human_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.2f %s", value, units[unit]);
  return text;
}

void require_memory(std::uint64_t bytes, const std::string& what) {
  const std::uint64_t available = available_memory_bytes();
  if (available != 0 && bytes > available) {
    throw std::invalid_argument(what + " needs " + std::to_string(bytes) + " bytes (" +
                                human_bytes(bytes) + ") but only " + human_bytes(available) +
                                " is available");
  }
}

}  // namespace sublens
