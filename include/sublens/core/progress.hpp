// Progress on stderr for long work: "label: 40/100 (40%) 3.2 s, eta 4.8 s", at most a few lines a
// second, and nothing at all when disabled (quiet mode, tests) or when the whole job is quick.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace sublens {

class Progress {
 public:
  // `total` units of work; lines are printed only once `delay_seconds` have passed.
  Progress(std::string label, std::int64_t total, bool enabled = true, double delay_seconds = 1.0);
  // Adds `done` units (thread-safe) and prints a line if enough time has passed.
  void advance(std::int64_t done = 1);
  // Prints the final line if any line was printed before.
  void finish();

  static void set_global_enabled(bool enabled);
  static bool global_enabled();

 private:
  std::string label_;
  std::int64_t total_;
  std::int64_t done_ = 0;
  bool enabled_;
  bool printed_ = false;
  double delay_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
  std::mutex mutex_;
};

// Seconds since `start`, for Result timings.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace sublens
