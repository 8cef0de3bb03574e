// Which OpenBLAS kernels run, and choosing the ones the CPU supports.
//
// Debian 12's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its kernels from a table of CPU models it
// knows when the library is loaded. A newer CPU it does not know (Intel family 6 model 207, say)
// falls back to the generic `Prescott` (SSE3) kernels: every GEMM then runs about 5x slower than
// the AVX-512 kernels the same build carries. OpenBLAS reads `OPENBLAS_CORETYPE` only while it is
// being loaded, so the only way to change the choice is to set it before the program starts.
//
// `select_kernels(argv)`, the first call of `main` in `sublens` and `sublens-torch`, does that:
// when the user has not set OPENBLAS_CORETYPE and the kernels OpenBLAS chose use fewer vector
// instructions than the CPU and the operating system support (cpuid and XGETBV), it sets
// OPENBLAS_CORETYPE to the matching core and re-executes the program with the same arguments
// (a few milliseconds, once; the child inherits the setting, so `sublens` passes it on to
// `sublens-torch`). A value the user set is always respected. SUBLENS_BLAS_KEEP=1 turns the
// selection off (for measuring what OpenBLAS picks by itself).
//
// The Python module cannot do this for the interpreter's numpy, whose OpenBLAS is loaded before
// sublens is imported; `sublens/__init__.py` sets OPENBLAS_CORETYPE before its own extension loads
// and says once, on import, when numpy's BLAS runs generic kernels.
#pragma once

#include <string>

namespace sublens::blas {

// Vector instruction sets, in increasing order; each implies the ones before it.
enum class Isa { kGeneric = 0, kAvx = 1, kAvx2 = 2, kAvx512 = 3 };

struct Cpu {
  Isa isa = Isa::kGeneric;  // what the CPU and the OS (saved register state) both support
  bool avx512_bf16 = false;
};

// cpuid + XGETBV of the running CPU (kGeneric on other architectures).
Cpu detect_cpu();

// The kernel family of an OpenBLAS core name ("Prescott" -> kGeneric, "Haswell" -> kAvx2,
// "SkylakeX" -> kAvx512, ...; unknown names -> kGeneric).
Isa core_isa(const std::string& core);

// The OPENBLAS_CORETYPE to run on `cpu` when OpenBLAS chose `reported`, or "" when `reported` is
// already as good as the CPU allows.
std::string better_core(const std::string& reported, const Cpu& cpu);

// The core whose kernels this process's OpenBLAS runs (openblas_get_corename()).
std::string core_name();

// See the file comment. Returns when nothing is to be done (or re-executing failed); otherwise
// does not return.
void select_kernels(char** argv);

}  // namespace sublens::blas
