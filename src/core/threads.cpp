#include "sublens/core/threads.hpp"

#include <omp.h>

#include <algorithm>
#include <thread>

extern "C" {
// OpenBLAS's runtime thread control (declared here so no cblas header is needed).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}

namespace sublens {

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return std::max(1U, std::thread::hardware_concurrency());
}

int set_threads(int requested) {
  const int threads = resolve_threads(requested);
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
  return threads;
}

ScopedBlasThreads::ScopedBlasThreads(int threads) : previous_(openblas_get_num_threads()) {
  openblas_set_num_threads(std::max(1, threads));
}

ScopedBlasThreads::~ScopedBlasThreads() { openblas_set_num_threads(previous_); }

}  // namespace sublens
