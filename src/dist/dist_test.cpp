// sublens::dist's generic pieces. Run as one process (their single-process fallback: no MPI at
// all) and, from ctest, under mpirun with 2 and 3 processes (the real thing): every TEST holds for
// any number of processes. `--abort-test` and `--settle-test` (not gtests): rank 1 meets an
// error after taking a task and stops every process, by MPI_Abort or by settle(), handled as
// sublens's main handles it (tests/python/test_mpi.py checks the exit code and that the error is
// printed once).
#include "sublens/dist/dist.hpp"

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace sublens::dist {
namespace {

std::string who() { return std::to_string(rank()); }

TEST(DistTaskQueue, HandsOutEveryTaskExactlyOnce) {
  for (const std::int64_t count : {0, 1, 2, 5, 97}) {
    TaskQueue queue(count);
    std::vector<std::pair<std::int64_t, std::string>> mine;
    for (std::int64_t t = queue.next(); t >= 0; t = queue.next()) mine.emplace_back(t, who());
    EXPECT_EQ(queue.next(), -1);  // stays done
    EXPECT_EQ(queue.taken().size(), mine.size());
    if (!distributed()) {
      for (std::size_t i = 0; i < mine.size(); ++i) EXPECT_EQ(mine[i].first, std::int64_t(i));
    }
    // gather_results throws on rank 0 if a task was run twice or by no process.
    const std::vector<std::string> all = gather_results(count, mine);
    if (is_root()) {
      ASSERT_EQ(all.size(), static_cast<std::size_t>(count));
      for (const auto& owner : all) EXPECT_LT(std::stoi(owner), size());
    } else {
      EXPECT_TRUE(all.empty());
    }
  }
}

TEST(DistTaskQueue, RejectsANegativeCount) {
  EXPECT_THROW(TaskQueue(-1), std::invalid_argument);  // before any MPI call: on every process
}

TEST(DistTaskQueue, StopEndsTheQueueForEveryProcess) {
  const std::int64_t huge = std::int64_t{1} << 40;
  TaskQueue queue(huge);
  std::int64_t taken = 0;
  for (std::int64_t t = queue.next(); t >= 0; t = queue.next()) {
    ++taken;
    if (is_root()) queue.stop();  // rank 0 stops after its first task
  }
  EXPECT_EQ(queue.next(), -1);
  // The others stop too, long before 2^40 tasks: the loops end (the test finishes), and every
  // process learns the outcome.
  EXPECT_EQ(max_over_processes(taken < huge ? 0 : 1), 0);
}

TEST(DistGlobalCounter, SumsEveryProcessesSteps) {
  GlobalCounter counter;
  const std::int64_t after = counter.add(rank() + 1);
  EXPECT_GE(after, rank() + 1);
  barrier();
  const std::int64_t k = size();
  EXPECT_EQ(counter.total(), k * (k + 1) / 2);
  barrier();  // every process read the total before anyone adds again
  counter.add(10);
  barrier();
  EXPECT_EQ(counter.total(), k * (k + 1) / 2 + 10 * k);
}

TEST(DistCollectives, BroadcastGivesRankZerosText) {
  const std::string plan = R"({"steps": 12, "dir": "out/"})" + std::string(100000, 'x');
  EXPECT_EQ(broadcast(is_root() ? plan : "ignored"), plan);
  EXPECT_EQ(broadcast(is_root() ? "" : "ignored"), "");
}

TEST(DistCollectives, MaxOverProcesses) {
  EXPECT_EQ(max_over_processes(rank()), size() - 1);
  EXPECT_EQ(max_over_processes(is_root() ? 2 : 0), 2);
  barrier();
}

TEST(DistCollectives, GatherResultsKeepsBytesOfAnySize) {
  const std::int64_t count = 7;
  TaskQueue queue(count);
  std::vector<std::pair<std::int64_t, std::string>> mine;
  auto result_of = [](std::int64_t t) {
    std::string bytes(static_cast<std::size_t>(t == 3 ? 3 << 20 : t), '\0');  // binary, one big
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 31 + t);
    return bytes;
  };
  for (std::int64_t t = queue.next(); t >= 0; t = queue.next()) mine.emplace_back(t, result_of(t));
  const auto all = gather_results(count, mine);
  if (is_root()) {
    for (std::int64_t t = 0; t < count; ++t) EXPECT_EQ(all[std::size_t(t)], result_of(t));
  }
}

TEST(DistCollectives, GatherResultsNamesAMissingTask) {
  if (distributed()) GTEST_SKIP() << "one process: a missing task is a programming error";
  try {
    gather_results(3, {{0, "a"}, {2, "c"}});
    FAIL();
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("task 1"), std::string::npos);
  }
}

TEST(DistEnvironment, RemovesWhatMakesAProcessAnMpiRank) {
  for (const char* name :
       {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_MCA_ess", "PMIX_RANK",
        "PMIX_SERVER_URI41", "PMI_RANK", "PMI_SIZE", "PMI_FD", "MPI_LOCALRANKID", "SLURM_PROCID",
        "SLURM_LOCALID", "SLURM_STEP_ID", "SLURM_STEPID", "SLURM_NTASKS", "SLURM_SRUN_COMM_PORT"}) {
    EXPECT_TRUE(is_launcher_variable(name)) << name;
  }
  for (const char* name : {"PATH", "HOME", "OMP_NUM_THREADS", "SLURM_JOB_ID", "SLURM_CPUS_PER_TASK",
                           "SUBLENS_BIN", "OMPIX", "PMIX"}) {
    EXPECT_FALSE(is_launcher_variable(name)) << name;
  }
  const std::vector<std::string> env = {"PATH=/usr/bin", "OMPI_COMM_WORLD_SIZE=3", "A=PMIX_RANK=1",
                                        "PMIX_RANK=2",   "SLURM_JOB_ID=7",         "NOVALUE"};
  EXPECT_EQ(child_environment(env), (std::vector<std::string>{"PATH=/usr/bin", "A=PMIX_RANK=1",
                                                              "SLURM_JOB_ID=7", "NOVALUE"}));
}

// A child started with child_environment() does not see the launcher (under mpirun: this process
// does); everything else is passed on.
TEST(DistEnvironment, ChildOfARankRunsAsAPlainProcess) {
  EXPECT_EQ(launched(), distributed() || std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr);
  ::setenv("SUBLENS_DIST_TEST_KEPT", "yes", 1);
  std::vector<std::string> env = child_environment();
  for (const auto& entry : env)
    EXPECT_FALSE(is_launcher_variable(entry.substr(0, entry.find('='))));
  std::vector<char*> envp = environment_pointers(env);
  const char* script =
      "test -z \"$OMPI_COMM_WORLD_SIZE$PMIX_RANK$PMI_RANK$PMI_SIZE\" && "
      "test \"$SUBLENS_DIST_TEST_KEPT\" = yes";
  std::vector<char*> argv = {const_cast<char*>("sh"), const_cast<char*>("-c"),
                             const_cast<char*>(script), nullptr};
  pid_t child = 0;
  ASSERT_EQ(posix_spawn(&child, "/bin/sh", nullptr, nullptr, argv.data(), envp.data()), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(DistSession, RankAndSize) {
  EXPECT_GE(size(), 1);
  EXPECT_GE(rank(), 0);
  EXPECT_LT(rank(), size());
  EXPECT_EQ(is_root(), rank() == 0);
  if (!launched()) {
    EXPECT_EQ(size(), 1);
  }
  EXPECT_GE(threads_per_process(0), 1);
  EXPECT_EQ(threads_per_process(3), 3);
}

TEST(DistSettle, NoErrorAnywhereReturns) { EXPECT_NO_THROW(settle(nullptr)); }

TEST(DistSettle, TheProcessWithTheErrorRethrowsItTheOthersStop) {
  std::exception_ptr error;
  if (rank() == size() - 1) {
    error = std::make_exception_ptr(std::invalid_argument("step 3: bad plan"));
  }
  if (rank() == size() - 1) {
    EXPECT_THROW(settle(error), std::invalid_argument);
  } else {
    try {
      settle(error);
      FAIL() << "settle returned although a process met an error";
    } catch (const StoppedElsewhere& stopped) {
      EXPECT_EQ(stopped.code(), 2);
    }
  }
  EXPECT_TRUE(error_settled());
  // An internal error on one process and bad input on another: the worst code, 2.
  error = nullptr;
  if (rank() == 0) error = std::make_exception_ptr(std::runtime_error("disk full"));
  if (rank() == size() - 1 && distributed()) {
    error = std::make_exception_ptr(std::invalid_argument("bad"));
  }
  try {
    settle(error);
    FAIL();
  } catch (const StoppedElsewhere& stopped) {
    EXPECT_EQ(stopped.code(), 2);
    EXPECT_FALSE(error);
  } catch (const std::exception&) {
    EXPECT_TRUE(error);
  }
}

// Rank 1 (or the only process) meets an error after its first task while the others keep taking
// tasks. `settle`: it stops the queue and every process settles; otherwise the error leaves the
// loop and stops every process with MPI_Abort. Exit codes and printing as sublens's main.
int stop_test(bool settle_errors) {
  TaskQueue queue(std::int64_t{1} << 40);
  try {
    std::exception_ptr error;
    for (std::int64_t t = queue.next(); t >= 0; t = queue.next()) {
      try {
        if (rank() == std::min(1, size() - 1)) {
          throw std::invalid_argument("layer x: bad input met by rank " + who());
        }
      } catch (const std::exception&) {
        if (!settle_errors) throw;
        error = std::current_exception();
        queue.stop();
      }
    }
    settle(error);
    return 0;
  } catch (const StoppedElsewhere& stopped) {
    return stopped.code();
  } catch (const std::invalid_argument& error) {
    std::fprintf(stderr, "sublens_dist_test: error: %s\n", error.what());
    if (distributed() && collectives_started() && !error_settled()) abort(2);
    return 2;
  }
}

}  // namespace
}  // namespace sublens::dist

int main(int argc, char** argv) {
  const sublens::dist::Session mpi(argc, argv);
  if (argc > 1 && std::strcmp(argv[1], "--abort-test") == 0) return sublens::dist::stop_test(false);
  if (argc > 1 && std::strcmp(argv[1], "--settle-test") == 0) return sublens::dist::stop_test(true);
  ::testing::InitGoogleTest(&argc, argv);
  // Under mpirun, the other ranks print their failures only.
  if (!sublens::dist::is_root()) GTEST_FLAG_SET(brief, true);
  return RUN_ALL_TESTS();
}
