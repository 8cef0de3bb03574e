// barrier, broadcast, max_over_processes and gather_results (tasks.hpp).
#include <cstring>
#include <stdexcept>
#include <string>

#include "internal.hpp"
#include "sublens/dist/dist.hpp"

#ifdef SUBLENS_HAVE_MPI
#include <mpi.h>
#endif

namespace sublens::dist {
namespace {

// Results as bytes: per task, its index, its length, then its bytes.
template <typename T>
void append(std::vector<char>& buffer, const T& value) {
  const std::size_t at = buffer.size();
  buffer.resize(at + sizeof(T));
  std::memcpy(buffer.data() + at, &value, sizeof(T));
}

[[maybe_unused]] std::vector<char> pack(
    const std::vector<std::pair<std::int64_t, std::string>>& results) {
  std::vector<char> buffer;
  for (const auto& [task, bytes] : results) {
    append(buffer, task);
    append(buffer, static_cast<std::uint64_t>(bytes.size()));
    buffer.insert(buffer.end(), bytes.begin(), bytes.end());
  }
  return buffer;
}

void place(std::int64_t task, std::string bytes, std::vector<std::string>& all,
           std::vector<char>& seen) {
  if (task < 0 || task >= static_cast<std::int64_t>(all.size()) ||
      seen[static_cast<std::size_t>(task)] != 0) {
    throw std::runtime_error("dist: task " + std::to_string(task) +
                             " returned twice or out of range");
  }
  all[static_cast<std::size_t>(task)] = std::move(bytes);
  seen[static_cast<std::size_t>(task)] = 1;
}

[[maybe_unused]] void unpack(const std::vector<char>& buffer, std::vector<std::string>& all,
                             std::vector<char>& seen) {
  std::size_t at = 0;
  while (at < buffer.size()) {
    std::int64_t task = 0;
    std::uint64_t length = 0;
    std::memcpy(&task, buffer.data() + at, sizeof task);
    std::memcpy(&length, buffer.data() + at + sizeof task, sizeof length);
    at += sizeof task + sizeof length;
    place(task, std::string(buffer.data() + at, length), all, seen);
    at += length;
  }
}

}  // namespace

#ifdef SUBLENS_HAVE_MPI

void barrier() {
  if (distributed()) MPI_Barrier(MPI_COMM_WORLD);
}

std::string broadcast(const std::string& text) {
  if (!distributed()) return text;
  std::vector<char> bytes(text.begin(), text.end());
  if (is_root()) {
    for (int to = 1; to < size(); ++to) detail::send_buffer(bytes, to);
    return text;
  }
  bytes = detail::receive_buffer(0);
  return {bytes.begin(), bytes.end()};
}

int max_over_processes(int value) {
  if (!distributed()) return value;
  int result = value;
  MPI_Allreduce(&value, &result, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return result;
}

#else

void barrier() {}
std::string broadcast(const std::string& text) { return text; }
int max_over_processes(int value) { return value; }

#endif

namespace {
bool g_settled = false;
}  // namespace

bool error_settled() { return g_settled; }

void settle(const std::exception_ptr& error) {
  int code = 0;
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::invalid_argument&) {
      code = 2;
    } catch (...) {
      code = 1;
    }
  }
  const int worst = max_over_processes(code);
  if (worst == 0) return;
  g_settled = true;
  if (error) std::rethrow_exception(error);
  throw StoppedElsewhere(worst);
}

std::vector<std::string> gather_results(std::int64_t count,
                                        std::vector<std::pair<std::int64_t, std::string>> mine) {
  std::vector<std::string> all(static_cast<std::size_t>(count));
  std::vector<char> seen(static_cast<std::size_t>(count), 0);
#ifdef SUBLENS_HAVE_MPI
  if (distributed() && !is_root()) {
    detail::send_buffer(pack(mine), 0);
    return {};
  }
#endif
  for (auto& [task, bytes] : mine) place(task, std::move(bytes), all, seen);
#ifdef SUBLENS_HAVE_MPI
  for (int from = 1; distributed() && from < size(); ++from) {
    unpack(detail::receive_buffer(from), all, seen);
  }
#endif
  for (std::size_t task = 0; task < seen.size(); ++task) {
    if (seen[task] == 0) {
      throw std::runtime_error("dist: task " + std::to_string(task) + " was run by no process");
    }
  }
  return all;
}

}  // namespace sublens::dist
