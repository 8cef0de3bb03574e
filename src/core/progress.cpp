#include "sublens/core/progress.hpp"

#include <atomic>
#include <cstdio>

namespace sublens {
namespace {
std::atomic<bool> g_enabled{true};
constexpr double kMinSecondsBetweenLines = 0.5;
}  // namespace

void Progress::set_global_enabled(bool enabled) { g_enabled = enabled; }
bool Progress::global_enabled() { return g_enabled; }

Progress::Progress(std::string label, std::int64_t total, bool enabled, double delay_seconds)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled && g_enabled),
      delay_(delay_seconds),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void Progress::advance(std::int64_t done) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  done_ += done;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double since_last = std::chrono::duration<double>(now - last_).count();
  if (elapsed < delay_ || since_last < kMinSecondsBetweenLines) return;
  last_ = now;
  printed_ = true;
  const double fraction = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 0;
  const double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
  std::fprintf(stderr, "%s: %lld/%lld (%.0f%%) %.1f s, eta %.1f s\n", label_.c_str(),
               static_cast<long long>(done_), static_cast<long long>(total_), 100 * fraction,
               elapsed, eta);
}

void Progress::finish() {
  if (!enabled_ || !printed_) return;
  std::fprintf(stderr, "%s: done in %.1f s\n", label_.c_str(), seconds_since(start_));
}

}  // namespace sublens
