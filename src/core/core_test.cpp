#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>

#include "sublens/core/blas.hpp"
#include "sublens/core/error.hpp"
#include "sublens/core/memory.hpp"
#include "sublens/core/threads.hpp"
#include "sublens/core/types.hpp"

namespace sublens {
namespace {

TEST(Types, PaperViewIsTheTransposeWithoutCopy) {
  RowMatrix activations(3, 2);
  activations << 1, 2, 3, 4, 5, 6;

  const auto x = paper_view(activations);

  ASSERT_EQ(x.rows(), 2);
  ASSERT_EQ(x.cols(), 3);
  EXPECT_EQ(x(1, 2), 6);  // neuron 1 of input 2
  EXPECT_EQ(x.data(), activations.data());
}

TEST(Blas, CoreNamesMapToTheirKernelFamilies) {
  EXPECT_EQ(blas::core_isa("Prescott"), blas::Isa::kGeneric);
  EXPECT_EQ(blas::core_isa("Nehalem"), blas::Isa::kGeneric);
  EXPECT_EQ(blas::core_isa("Sandybridge"), blas::Isa::kAvx);
  EXPECT_EQ(blas::core_isa("Haswell"), blas::Isa::kAvx2);
  EXPECT_EQ(blas::core_isa("Zen"), blas::Isa::kAvx2);
  EXPECT_EQ(blas::core_isa("SkylakeX"), blas::Isa::kAvx512);
  EXPECT_EQ(blas::core_isa("cooperlake"), blas::Isa::kAvx512);
  EXPECT_EQ(blas::core_isa("SapphireRapids"), blas::Isa::kAvx512);
  EXPECT_EQ(blas::core_isa("something new"), blas::Isa::kGeneric);
}

TEST(Blas, BetterCoreOnlyWhenTheCpuSupportsMore) {
  const blas::Cpu avx512{blas::Isa::kAvx512, false};
  const blas::Cpu avx512_bf16{blas::Isa::kAvx512, true};
  const blas::Cpu avx2{blas::Isa::kAvx2, false};
  const blas::Cpu generic{};

  // The case of issue 13: OpenBLAS 0.3.21 does not know the CPU and runs its SSE3 kernels.
  EXPECT_EQ(blas::better_core("Prescott", avx512), "SkylakeX");
  EXPECT_EQ(blas::better_core("Prescott", avx512_bf16), "Cooperlake");
  EXPECT_EQ(blas::better_core("Haswell", avx512), "SkylakeX");
  EXPECT_EQ(blas::better_core("Prescott", avx2), "Haswell");
  EXPECT_EQ(blas::better_core("Sandybridge", avx2), "Haswell");
  // Nothing to gain: OpenBLAS's own choice stands.
  EXPECT_EQ(blas::better_core("Zen", avx2), "");
  EXPECT_EQ(blas::better_core("Cooperlake", avx512_bf16), "");
  EXPECT_EQ(blas::better_core("SkylakeX", avx512_bf16), "");
  EXPECT_EQ(blas::better_core("Prescott", generic), "");
}

// The CPU's features as Linux reports them (the kernel clears AVX-512 flags the OS does not save).
std::set<std::string> cpuinfo_flags() {
  std::ifstream file("/proc/cpuinfo");
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    return {std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
  }
  return {};
}

TEST(Blas, DetectedCpuAgreesWithProcCpuinfo) {
  const std::set<std::string> flags = cpuinfo_flags();
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags";
  auto has = [&](const char* flag) { return flags.count(flag) > 0; };
  blas::Isa expected = blas::Isa::kGeneric;
  if (has("avx")) expected = blas::Isa::kAvx;
  if (expected == blas::Isa::kAvx && has("avx2") && has("fma")) expected = blas::Isa::kAvx2;
  if (expected == blas::Isa::kAvx2 && has("avx512f") && has("avx512cd") && has("avx512bw") &&
      has("avx512dq") && has("avx512vl")) {
    expected = blas::Isa::kAvx512;
  }

  const blas::Cpu cpu = blas::detect_cpu();

  EXPECT_EQ(cpu.isa, expected);
  EXPECT_EQ(cpu.avx512_bf16, expected == blas::Isa::kAvx512 && has("avx512_bf16"));
}

TEST(Error, InputErrorNamesFileFieldAndConstraint) {
  const InputError error("a.npy", "header 'shape'", "must be a tuple of ints");

  EXPECT_STREQ(error.what(), "a.npy: header 'shape': must be a tuple of ints");
  EXPECT_EQ(error.file(), "a.npy");
}

TEST(Memory, RefusesImpossibleAllocationWithTheByteCount) {
  const std::uint64_t huge = std::uint64_t{1} << 62;

  try {
    require_memory(huge, "dense C");
    FAIL() << "expected invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find(std::to_string(huge)), std::string::npos);
  }
  EXPECT_NO_THROW(require_memory(1024, "tiny"));
  EXPECT_GT(peak_resident_bytes(), 0U);
}

TEST(Threads, ZeroMeansAllCores) {
  EXPECT_GE(resolve_threads(0), 1);
  EXPECT_EQ(resolve_threads(3), 3);
}

}  // namespace
}  // namespace sublens
