// SharedCounter (internal.hpp): one int64 on rank 0, MPI one-sided fetch-and-add.
#include <exception>
#include <stdexcept>

#include "internal.hpp"
#include "sublens/dist/dist.hpp"

#ifdef SUBLENS_HAVE_MPI
#include <mpi.h>
#endif

namespace sublens::dist {

#ifdef SUBLENS_HAVE_MPI

struct SharedCounter::Window {
  MPI_Win window = MPI_WIN_NULL;
  std::int64_t* value = nullptr;  // rank 0's copy; unused elsewhere
};

SharedCounter::SharedCounter() : window_(new Window) {
  const MPI_Aint bytes = rank() == 0 ? sizeof(std::int64_t) : 0;
  MPI_Win_allocate(bytes, sizeof(std::int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &window_->value,
                   &window_->window);
  if (rank() == 0) *window_->value = 0;
  MPI_Barrier(MPI_COMM_WORLD);  // zero before anyone adds
  MPI_Win_lock_all(MPI_MODE_NOCHECK, window_->window);
}

SharedCounter::~SharedCounter() {
  MPI_Win_unlock_all(window_->window);
  // Freeing is collective. While an exception unwinds, the others may never get here (they wait
  // for this process elsewhere) and this process is about to stop them all (MPI_Abort): leave it.
  if (std::uncaught_exceptions() == 0) MPI_Win_free(&window_->window);
  delete window_;
}

std::int64_t SharedCounter::fetch_add(std::int64_t amount) {
  std::int64_t before = 0;
  MPI_Fetch_and_op(&amount, &before, MPI_INT64_T, 0, 0, MPI_SUM, window_->window);
  MPI_Win_flush(0, window_->window);
  return before;
}

#else  // built without MPI: never more than one cooperating process

struct SharedCounter::Window {};
SharedCounter::SharedCounter() {
  throw std::invalid_argument(detail::built_without_mpi_message(size()));
}
SharedCounter::~SharedCounter() = default;
std::int64_t SharedCounter::fetch_add(std::int64_t /*amount*/) { return 0; }

#endif

}  // namespace sublens::dist
