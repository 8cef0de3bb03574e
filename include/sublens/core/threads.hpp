// Thread counts for OpenMP and OpenBLAS.
//
// LibTorch and OpenBLAS may start with one thread on this machine; sublens sets both explicitly.
// A count of 0 means "all cores" (std::thread::hardware_concurrency()).
#pragma once

namespace sublens {

// Number of threads `requested` resolves to (0 -> all cores, never less than 1).
int resolve_threads(int requested);

// Sets the OpenMP and OpenBLAS thread counts; returns the count used.
int set_threads(int requested);

// Threads OpenBLAS uses for one call; set to 1 inside parallel regions that call BLAS per thread.
class ScopedBlasThreads {
 public:
  explicit ScopedBlasThreads(int threads);
  ~ScopedBlasThreads();
  ScopedBlasThreads(const ScopedBlasThreads&) = delete;
  ScopedBlasThreads& operator=(const ScopedBlasThreads&) = delete;

 private:
  int previous_;
};

}  // namespace sublens
