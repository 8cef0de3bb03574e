// Shared by the files of sublens::dist (not installed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sublens/dist/tasks.hpp"

namespace sublens::dist {

// An int64 held by rank 0 that every process adds to atomically (MPI one-sided fetch-and-add on a
// window; passive target, so rank 0 need not take part). Construction and destruction are
// collective; construction sets it to 0 before any process can add. Only with MPI and more than
// one process (throws std::invalid_argument in a build without MPI).
class SharedCounter {
 public:
  SharedCounter();
  ~SharedCounter();
  SharedCounter(const SharedCounter&) = delete;
  SharedCounter& operator=(const SharedCounter&) = delete;

  // Adds `amount`; returns the value before the addition.
  std::int64_t fetch_add(std::int64_t amount);

 private:
  struct Window;
  Window* window_ = nullptr;
};

namespace detail {

// From here on this process's work differs from the others' (see collectives_started()).
void mark_collectives_started();

// Point-to-point byte buffers of any size between two processes (MPI only), counted in
// bytes_sent() / bytes_received().
void send_buffer(const std::vector<char>& buffer, int to);
std::vector<char> receive_buffer(int from);

// The error for K processes started by a launcher in a build without MPI.
std::string built_without_mpi_message(int processes);

}  // namespace detail
}  // namespace sublens::dist
