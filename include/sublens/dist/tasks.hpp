// Independent tasks over every process of an MPI run (see dist.hpp), with the same code path in
// one process: a command that loops over `TaskQueue::next()` runs every task itself when no
// launcher started it, and shares them with the other processes when one did.
//
// Every type and function here is collective unless it says otherwise: each process calls it at
// the same point of the program, in the same order. In one process they cost nothing (no MPI).
//
// Errors met by one process while the processes' work differs (after its first
// `TaskQueue::next()`), two ways:
//  - let the exception leave the command: `sublens`'s main prints it on that process and stops
//    every process at once (MPI_Abort with the exit code: 2 for bad input, 1 otherwise; mpirun
//    exits with it). See collectives_started().
//  - catch it, stop() the queue and call settle() after the loop: every process finishes the task
//    it holds (no half-written outputs, no orphaned child processes), then the one that met the
//    error rethrows it (main prints it there, once) and the others throw StoppedElsewhere (main
//    prints nothing); all exit with the error's code, without MPI_Abort.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sublens::dist {

class SharedCounter;

// Hands out the task indices 0 .. count - 1, each to exactly one process, first come first served
// (one atomic fetch-and-add on a counter held by rank 0, MPI one-sided: no process waits for
// another to take a task). In one process: 0, 1, ..., count - 1 in order. Every process
// constructs it with the same count; the destructor is collective as well (after the loop).
//
//   dist::TaskQueue queue(steps.size());
//   for (std::int64_t t = queue.next(); t >= 0; t = queue.next()) run(steps[t]);
class TaskQueue {
 public:
  explicit TaskQueue(std::int64_t count);  // count >= 0
  ~TaskQueue();
  TaskQueue(const TaskQueue&) = delete;
  TaskQueue& operator=(const TaskQueue&) = delete;

  // The next task for this process, or -1 once every task is handed out (or after stop()).
  // Not collective: each process calls it as often as it takes tasks.
  std::int64_t next();
  // Hands out no further task, to any process (each still finishes the task it holds). Not
  // collective. For a process that met an error it reports without aborting (see
  // max_over_processes).
  void stop();
  std::int64_t count() const { return count_; }
  // The tasks this process took, in the order it took them.
  const std::vector<std::int64_t>& taken() const { return taken_; }

 private:
  std::int64_t count_;
  std::int64_t local_next_ = 0;  // one process
  bool done_ = false;
  std::vector<std::int64_t> taken_;
  std::unique_ptr<SharedCounter> counter_;  // several processes
};

// A count every process adds to and any process reads, e.g. steps done over all processes for a
// progress line ("37/120 steps"). Starts at 0. add() and total() are not collective.
class GlobalCounter {
 public:
  GlobalCounter();
  ~GlobalCounter();
  GlobalCounter(const GlobalCounter&) = delete;
  GlobalCounter& operator=(const GlobalCounter&) = delete;

  // Adds `amount` (this process's newly finished steps); returns the total over every process
  // right after the addition.
  std::int64_t add(std::int64_t amount);
  // The total over every process now.
  std::int64_t total();

 private:
  std::int64_t local_ = 0;
  std::unique_ptr<SharedCounter> counter_;
};

// Thrown by settle() on a process that met no error when another did; `sublens`'s main exits
// with code() and prints nothing (the process that met the error prints it).
class StoppedElsewhere : public std::runtime_error {
 public:
  explicit StoppedElsewhere(int code)
      : std::runtime_error("stopped: another process met an error"), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// After a task loop, on every process: `error` is what this process caught (null if nothing).
// Returns when no process met an error. Otherwise this process rethrows its own error, or throws
// StoppedElsewhere with the largest exit code any process met (2 for std::invalid_argument, 1
// for any other exception); from then on error_settled() is true. In one process: rethrows
// `error` if there is one.
void settle(const std::exception_ptr& error);

// True once settle() has told every process about an error: main reports it without MPI_Abort.
bool error_settled();

// Waits until every process has called it.
void barrier();

// Rank 0's `text` (a plan, a JSON document) on every process; `text` itself in one process.
std::string broadcast(const std::string& text);

// The largest `value` over every process (e.g. exit codes: 0 where all went well, so every
// process stops with the worst code after a queue was stop()ped).
int max_over_processes(int value);

// Collects the results of tasks handed out by a TaskQueue of `count` tasks on rank 0: `mine` holds
// (task, result bytes) for the tasks this process ran. Returns on rank 0 every task's result,
// indexed by task (throws std::runtime_error naming a task no process returned); an empty vector
// on the other processes. In one process: `mine` placed by task.
std::vector<std::string> gather_results(std::int64_t count,
                                        std::vector<std::pair<std::int64_t, std::string>> mine);

}  // namespace sublens::dist
