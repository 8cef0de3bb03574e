// Running one command over several processes with MPI (Open MPI or MPICH; launched by mpirun,
// mpiexec or Slurm's srun). sublens is an ordinary MPI program when an MPI launcher started it and
// an ordinary single process otherwise: MPI is only initialised when the launcher's environment
// says so (OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK or PMI_SIZE is set), so a plain `sublens`
// starts in milliseconds and never touches the MPI runtime.
//
// What is distributed: `sublens ssc` splits the columns of each Lasso solve over the processes
// (ssc::ColumnSchedule, dynamic blocks); `cka-matrix` its pairs of layers and `factorize` its fits
// (rank x seed), with a TaskQueue (tasks.hpp); `study` its variants (study::WorkSharing,
// implemented over a TaskQueue in src/cli/cmd_study.cpp). Every process reads the inputs itself
// from the shared file system, and the root (rank 0) gathers the results, writes exactly the files
// a single process writes and prints the JSON once. Commands that run in one process refuse to
// start under a launcher with more than one process rather than writing the same files K times.
//
// The generic pieces for any command made of independent tasks: tasks.hpp (a work queue, a
// global counter, barrier, broadcast, gathering results on rank 0) and environment.hpp (the
// environment for a child process that must not believe it is an MPI process).
//
// Built without MPI (SUBLENS_MPI=OFF or no MPI found), launched() is still detected and the
// command refuses to run with more than one process.
#pragma once

#include <cstdint>
#include <memory>

#include "sublens/dist/environment.hpp"
#include "sublens/dist/tasks.hpp"
#include "sublens/ssc/ssc.hpp"

namespace sublens::dist {

// Initialises MPI for the process's lifetime when an MPI launcher started it; finalises it when
// destroyed. Construct one, first thing in main (after any re-exec).
class Session {
 public:
  Session(int& argc, char**& argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

bool built_with_mpi();
// Started by an MPI launcher (whatever the number of processes): OMPI_COMM_WORLD_SIZE, PMIX_RANK,
// PMI_RANK or PMI_SIZE is set (child_environment() removes them).
bool launched();
int rank();  // 0 without MPI
int size();  // 1 without MPI
inline bool distributed() { return size() > 1; }
inline bool is_root() { return rank() == 0; }

// Threads for each process: `requested` when > 0; otherwise the node's cores divided among the
// processes sharing the node (at least 1), so K processes on one machine do not oversubscribe it.
int threads_per_process(int requested);

// A schedule over every process for one solve. Collective: every process creates it at the same
// point and destroys it after the solve. Blocks are handed out by an atomic counter on rank 0
// (MPI one-sided fetch-and-add), so a process that finishes early takes the next block.
std::unique_ptr<ssc::ColumnSchedule> column_schedule();

// True once this process has taken a block of a distributed solve or a task of a TaskQueue with
// several processes: the processes' work differs from then on, so an error happens on this
// process alone and must stop the others (sublens's main prints it here and calls abort()).
// Before, every process meets the same errors (options, inputs): rank 0 alone prints them and
// they all exit with the same code.
bool collectives_started();

// Bytes this process has sent and received in gathers so far (for benchmarks).
std::uint64_t bytes_sent();
std::uint64_t bytes_received();

// Stops every process with `code` (an error that happened on this process only): MPI_Abort, and
// mpirun exits with `code`. In one process: exit(code).
[[noreturn]] void abort(int code);

}  // namespace sublens::dist
