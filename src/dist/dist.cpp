// MPI side of sublens::dist (see dist.hpp). Compiled with SUBLENS_HAVE_MPI when MPI was found.
#include "sublens/dist/dist.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "internal.hpp"

#ifdef SUBLENS_HAVE_MPI
#include <mpi.h>
#endif

namespace sublens::dist {
namespace {

int g_rank = 0;
int g_size = 1;
int g_local_size = 1;
bool g_initialised = false;
bool g_collectives = false;
std::uint64_t g_sent = 0;
std::uint64_t g_received = 0;

[[maybe_unused]] bool env_set(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0';
}

}  // namespace

bool collectives_started() { return g_collectives; }
void detail::mark_collectives_started() { g_collectives = true; }
int rank() { return g_rank; }
int size() { return g_size; }
std::uint64_t bytes_sent() { return g_sent; }
std::uint64_t bytes_received() { return g_received; }

int threads_per_process(int requested) {
  if (requested > 0) return requested;
  const int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, g_local_size));
}

#ifdef SUBLENS_HAVE_MPI

bool built_with_mpi() { return true; }

Session::Session(int& argc, char**& argv) {
  if (!launched()) return;
  int provided = 0;
  // Only the main thread calls MPI (OpenMP threads never do).
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  g_initialised = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &g_local_size);
  MPI_Comm_free(&node);
}

Session::~Session() {
  if (g_initialised) MPI_Finalize();
}

void abort(int code) {
  if (g_initialised) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

namespace {

// Serialised outcomes: per solved column a fixed header, then its entries.
struct Header {
  std::int64_t column;
  std::int64_t nnz;
  double objective;
  double violation;
  std::int32_t rounds;
  std::int32_t converged;
};
struct Entry {
  std::int64_t row;
  double value;
};

template <typename T>
void append(std::vector<char>& buffer, const T& value) {
  const std::size_t at = buffer.size();
  buffer.resize(at + sizeof(T));
  std::memcpy(buffer.data() + at, &value, sizeof(T));
}

std::vector<char> pack(const std::vector<ssc::ColumnOutcome>& outcomes) {
  std::vector<char> buffer;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const ssc::ColumnOutcome& out = outcomes[i];
    if (!out.solved) continue;
    append(buffer,
           Header{static_cast<std::int64_t>(i), static_cast<std::int64_t>(out.entries.size()),
                  out.objective, out.violation, out.rounds, out.converged ? 1 : 0});
    for (const auto& [row, value] : out.entries) append(buffer, Entry{row, value});
  }
  return buffer;
}

void unpack(const std::vector<char>& buffer, std::vector<ssc::ColumnOutcome>& outcomes) {
  std::size_t at = 0;
  while (at < buffer.size()) {
    Header header{};
    std::memcpy(&header, buffer.data() + at, sizeof(Header));
    at += sizeof(Header);
    ssc::ColumnOutcome& out = outcomes.at(static_cast<std::size_t>(header.column));
    out.entries.resize(static_cast<std::size_t>(header.nnz));
    for (auto& [row, value] : out.entries) {
      Entry entry{};
      std::memcpy(&entry, buffer.data() + at, sizeof(Entry));
      at += sizeof(Entry);
      row = entry.row;
      value = entry.value;
    }
    out.objective = header.objective;
    out.violation = header.violation;
    out.rounds = header.rounds;
    out.converged = header.converged != 0;
    out.solved = true;
  }
}

// Point-to-point in pieces, so buffers past 2^31 bytes (MPI's int counts) travel too.
constexpr std::uint64_t kPiece = 1ULL << 30;
constexpr int kTag = 7301;

}  // namespace

void detail::send_buffer(const std::vector<char>& buffer, int to) {
  std::uint64_t bytes = buffer.size();
  MPI_Send(&bytes, 1, MPI_UINT64_T, to, kTag, MPI_COMM_WORLD);
  for (std::uint64_t at = 0; at < bytes; at += kPiece) {
    const int piece = static_cast<int>(std::min(kPiece, bytes - at));
    MPI_Send(buffer.data() + at, piece, MPI_BYTE, to, kTag, MPI_COMM_WORLD);
  }
  g_sent += bytes + sizeof bytes;
}

std::vector<char> detail::receive_buffer(int from) {
  std::uint64_t bytes = 0;
  MPI_Recv(&bytes, 1, MPI_UINT64_T, from, kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  std::vector<char> buffer(bytes);
  for (std::uint64_t at = 0; at < bytes; at += kPiece) {
    const int piece = static_cast<int>(std::min(kPiece, bytes - at));
    MPI_Recv(buffer.data() + at, piece, MPI_BYTE, from, kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  g_received += bytes + sizeof bytes;
  return buffer;
}

namespace {

class MpiSchedule final : public ssc::ColumnSchedule {
 public:
  MpiSchedule() = default;

  int processes() const override { return g_size; }

  std::int64_t next_block(std::int64_t blocks) override {
    g_collectives = true;  // from here on the processes' work differs
    const std::int64_t taken = counter_.fetch_add(1);
    return taken < blocks ? taken : -1;
  }

  bool gather(std::vector<ssc::ColumnOutcome>& outcomes) override {
    if (g_rank != 0) {
      detail::send_buffer(pack(outcomes), 0);
      return false;
    }
    for (int from = 1; from < g_size; ++from) unpack(detail::receive_buffer(from), outcomes);
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      if (!outcomes[i].solved) {
        throw std::runtime_error("dist: column " + std::to_string(i) + " was solved by no process");
      }
    }
    return true;
  }

 private:
  SharedCounter counter_;
};

}  // namespace

std::unique_ptr<ssc::ColumnSchedule> column_schedule() {
  if (g_size <= 1) return nullptr;
  return std::make_unique<MpiSchedule>();
}

#else  // built without MPI

namespace {

int env_int(const char* a, const char* b) {
  for (const char* name : {a, b}) {
    if (env_set(name)) return std::atoi(std::getenv(name));
  }
  return 0;
}

}  // namespace

bool built_with_mpi() { return false; }

// Without MPI the processes cannot cooperate, but they know they are K copies: rank 0 alone
// reports that, and none writes anything.
Session::Session(int& /*argc*/, char**& /*argv*/) {
  if (!launched()) return;
  g_size = std::max(1, env_int("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"));
  g_rank = env_int("OMPI_COMM_WORLD_RANK", "PMI_RANK");
}
Session::~Session() = default;
void abort(int code) { std::exit(code); }

std::unique_ptr<ssc::ColumnSchedule> column_schedule() {
  if (g_size <= 1) return nullptr;
  throw std::invalid_argument(detail::built_without_mpi_message(g_size));
}

#endif

std::string detail::built_without_mpi_message(int processes) {
  return "this sublens was built without MPI (SUBLENS_MPI=OFF or no MPI library found), so its " +
         std::to_string(processes) +
         " processes cannot share the work: run it without the launcher";
}

}  // namespace sublens::dist
