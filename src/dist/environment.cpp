// launched() and the environment of child processes (environment.hpp): which variables say that
// an MPI launcher started this process.
#include "sublens/dist/environment.hpp"

#include <array>
#include <cstdlib>

#include "sublens/dist/dist.hpp"

extern char** environ;  // NOLINT: POSIX

namespace sublens::dist {
namespace {

constexpr std::array<std::string_view, 5> kPrefixes = {"OMPI_", "PMIX_", "PMI_", "SLURM_STEP_",
                                                       "SLURM_SRUN_COMM_"};
constexpr std::array<std::string_view, 11> kNames = {
    "MPI_LOCALNRANKS",         "MPI_LOCALRANKID", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NODEID",
    "SLURM_TASK_PID",          "SLURM_GTIDS",     "SLURM_STEPID", "SLURM_NTASKS",  "SLURM_NPROCS",
    "SLURM_LAUNCH_NODE_IPADDR"};

bool env_set(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0';
}

}  // namespace

// The variables an MPI launcher sets for each process it starts (all of them launcher variables).
bool launched() {
  return env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMIX_RANK") || env_set("PMI_RANK") ||
         env_set("PMI_SIZE");
}

bool is_launcher_variable(std::string_view name) {
  for (const auto prefix : kPrefixes) {
    if (name.substr(0, prefix.size()) == prefix) return true;
  }
  for (const auto exact : kNames) {
    if (name == exact) return true;
  }
  return false;
}

std::vector<std::string> child_environment(const std::vector<std::string>& environment) {
  std::vector<std::string> kept;
  kept.reserve(environment.size());
  for (const auto& entry : environment) {
    const auto equals = entry.find('=');
    const std::string_view name = std::string_view(entry).substr(0, equals);
    if (!is_launcher_variable(name)) kept.push_back(entry);
  }
  return kept;
}

std::vector<std::string> child_environment() {
  std::vector<std::string> current;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    current.emplace_back(*entry);
  }
  return child_environment(current);
}

std::vector<char*> environment_pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (auto& entry : strings) pointers.push_back(entry.data());
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace sublens::dist
