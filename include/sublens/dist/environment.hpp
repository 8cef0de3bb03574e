// The environment of a child process that must run as a plain, single `sublens` process although
// its parent is one process of an MPI run (a study runs each step as a child `sublens`).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sublens::dist {

// True for a variable an MPI launcher sets for its processes: OMPI_* (Open MPI), PMIX_* (PMIx:
// Open MPI, Slurm --mpi=pmix), PMI_* (MPICH's Hydra, Slurm --mpi=pmi2), MPI_LOCALNRANKS /
// MPI_LOCALRANKID (Hydra), and Slurm's per-task step variables (SLURM_PROCID, SLURM_LOCALID,
// SLURM_NODEID, SLURM_TASK_PID, SLURM_GTIDS, SLURM_STEP_*, SLURM_STEPID, SLURM_NTASKS,
// SLURM_NPROCS, SLURM_SRUN_COMM_*, SLURM_LAUNCH_NODE_IPADDR). Every variable launched() reads is
// one of them. Job-wide Slurm variables (SLURM_JOB_ID, SLURM_CPUS_PER_TASK, ...) are not.
bool is_launcher_variable(std::string_view name);

// `environment` (KEY=VALUE strings) without the launcher's variables, in the same order.
std::vector<std::string> child_environment(const std::vector<std::string>& environment);

// This process's environment (environ) without the launcher's variables: pass it to posix_spawn
// or execve, and the child `sublens` runs as a single process (launched() is false there).
std::vector<std::string> child_environment();

// Pointers for posix_spawn / execve's envp: into `strings`, null-terminated.
std::vector<char*> environment_pointers(std::vector<std::string>& strings);

}  // namespace sublens::dist
