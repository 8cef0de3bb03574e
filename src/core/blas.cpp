#include "sublens/core/blas.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string_view>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

extern "C" char* openblas_get_corename(void);

namespace sublens::blas {
namespace {

#if defined(__x86_64__) || defined(__i386__)
struct Registers {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Registers cpuid(unsigned leaf, unsigned subleaf) {
  Registers r;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

unsigned long long xgetbv0() {
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

bool bit(unsigned value, int index) { return ((value >> index) & 1U) != 0; }
#endif

}  // namespace

Cpu detect_cpu() {
  Cpu cpu;
#if defined(__x86_64__) || defined(__i386__)
  if (__get_cpuid_max(0, nullptr) < 7) return cpu;
  const Registers leaf1 = cpuid(1, 0);
  const bool osxsave = bit(leaf1.ecx, 27);
  const bool avx = bit(leaf1.ecx, 28);
  const bool fma = bit(leaf1.ecx, 12);
  if (!osxsave || !avx) return cpu;
  const unsigned long long xcr0 = xgetbv0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;    // XMM and YMM state saved by the OS
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;  // ... and opmask, ZMM_Hi256, Hi16_ZMM
  if (!os_ymm) return cpu;
  cpu.isa = Isa::kAvx;
  const Registers leaf7 = cpuid(7, 0);
  if (bit(leaf7.ebx, 5) && fma) cpu.isa = Isa::kAvx2;
  // The AVX-512 subsets OpenBLAS's SkylakeX kernels use: F, CD, BW, DQ, VL.
  const bool avx512 = bit(leaf7.ebx, 16) && bit(leaf7.ebx, 28) && bit(leaf7.ebx, 30) &&
                      bit(leaf7.ebx, 17) && bit(leaf7.ebx, 31);
  if (cpu.isa == Isa::kAvx2 && avx512 && os_zmm) {
    cpu.isa = Isa::kAvx512;
    cpu.avx512_bf16 = bit(cpuid(7, 1).eax, 5);
  }
#endif
  return cpu;
}

Isa core_isa(const std::string& core) {
  std::string name(core.size(), ' ');
  std::transform(core.begin(), core.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  constexpr std::array<std::string_view, 3> kAvx512{"skylakex", "cooperlake", "sapphirerapids"};
  constexpr std::array<std::string_view, 3> kAvx2{"haswell", "zen", "excavator"};
  constexpr std::array<std::string_view, 4> kAvx{"sandybridge", "bulldozer", "piledriver",
                                                 "steamroller"};
  auto in = [&](const auto& names) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  if (in(kAvx512)) return Isa::kAvx512;
  if (in(kAvx2)) return Isa::kAvx2;
  if (in(kAvx)) return Isa::kAvx;
  return Isa::kGeneric;
}

std::string better_core(const std::string& reported, const Cpu& cpu) {
  if (core_isa(reported) >= cpu.isa) return "";
  switch (cpu.isa) {
    case Isa::kAvx512:
      return cpu.avx512_bf16 ? "Cooperlake" : "SkylakeX";
    case Isa::kAvx2:
      return "Haswell";
    case Isa::kAvx:
      return "Sandybridge";
    case Isa::kGeneric:
      break;
  }
  return "";
}

std::string core_name() {
  const char* name = openblas_get_corename();
  return name != nullptr ? name : "";
}

void select_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice (or ours, re-run)
  const char* keep = std::getenv("SUBLENS_BLAS_KEEP");
  if (keep != nullptr && std::string_view(keep) == "1") return;
  const std::string core = better_core(core_name(), detect_cpu());
  if (core.empty()) return;
  if (setenv("OPENBLAS_CORETYPE", core.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // could not re-execute: carry on with the kernels we have
}

}  // namespace sublens::blas
