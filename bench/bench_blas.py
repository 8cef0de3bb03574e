#!/usr/bin/python3
"""Which BLAS kernels to run (issue 13): GEMM speed of Debian's OpenBLAS under each kernel set it
carries (OPENBLAS_CORETYPE), the set it picks by itself, and Debian's BLIS, on the same matrices.

Usage: /usr/bin/python3 bench/bench_blas.py [--n 5000] [--k 784] [--threads 2] [--blis LIB]

OpenBLAS is timed through numpy (which calls the same libopenblas.so.0 as sublens), one child
process per kernel set, since OpenBLAS reads OPENBLAS_CORETYPE only when it is loaded. BLIS
(--blis, e.g. libblis.so.4 from `apt-get download libblis4-pthread; dpkg -x ...`) is called
through ctypes (cblas_sgemm / cblas_dgemm). Each figure is the best of 3: C = A^T A with A k x n.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys

CHILD = r"""
import ctypes, json, sys, time
import numpy as np
n, k = int(sys.argv[1]), int(sys.argv[2])
out = {}
for dtype in (np.float32, np.float64):
    a = np.random.default_rng(0).random((n, k)).astype(dtype)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        a @ a.T
        times.append(time.perf_counter() - start)
    out[np.dtype(dtype).name] = min(times)
try:
    corename = ctypes.CDLL("libopenblas.so.0").openblas_get_corename
    corename.restype = ctypes.c_char_p
    out["core"] = corename().decode()
except (OSError, AttributeError):
    out["core"] = "?"
print(json.dumps(out))
"""

def openblas(n, k, threads, coretype):
    env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_CORETYPE"}
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    out = subprocess.run(["/usr/bin/python3", "-c", CHILD, str(n), str(k)], capture_output=True,
                         text=True, env=env, check=True)
    return json.loads(out.stdout)


def blis(path, n, k, threads):
    import time

    import numpy as np

    os.environ["BLIS_NUM_THREADS"] = str(threads)
    lib = ctypes.CDLL(path)
    out = {"core": "BLIS"}
    for name, dtype, call in (("float32", np.float32, lib.cblas_sgemm),
                              ("float64", np.float64, lib.cblas_dgemm)):
        scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
        a = np.random.default_rng(0).random((n, k)).astype(dtype)
        c = np.empty((n, n), dtype=dtype)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            # Row-major A (n x k): C = A A^T.
            call(101, 111, 112, n, n, k, scalar(1.0), a.ctypes.data_as(ctypes.c_void_p), k,
                 a.ctypes.data_as(ctypes.c_void_p), k, scalar(0.0),
                 c.ctypes.data_as(ctypes.c_void_p), n)
            times.append(time.perf_counter() - start)
        out[name] = min(times)
        assert np.allclose(c[:4, :4], (a[:4] @ a[:4].T), rtol=1e-3)
    return out

# The instructions each kernel set executes (forcing one the CPU lacks dies with SIGILL).
AVX512 = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"}
NEEDS = {"Haswell": {"avx2", "fma"}, "Zen": {"avx2", "fma"}, "SkylakeX": AVX512,
         "Cooperlake": AVX512 | {"avx512_bf16"}}


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--k", type=int, default=784)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--blis")
    args = parser.parse_args()
    flops = 2.0 * args.n * args.n * args.k
    rows = [f"load average before: {os.getloadavg()[0]:.2f}; C = A A^T, A {args.n} x {args.k}, "
            f"{args.threads} threads", "",
            "| kernels | sgemm | GFLOP/s | dgemm | GFLOP/s |", "|---|---|---|---|---|"]
    cases = [("(OpenBLAS's own choice)", None), ("Prescott", "Prescott"), ("Haswell", "Haswell"),
             ("Zen", "Zen"), ("SkylakeX", "SkylakeX"), ("Cooperlake", "Cooperlake")]
    for label, coretype in cases:
        if coretype in NEEDS and not NEEDS[coretype] <= cpu_flags():
            rows.append(f"| OpenBLAS {label} | – | – | – | – (this CPU lacks "
                        f"{', '.join(sorted(NEEDS[coretype] - cpu_flags()))}) |")
            continue
        r = openblas(args.n, args.k, args.threads, coretype)
        name = f"{label} → {r['core']}" if coretype is None else label
        rows.append(f"| OpenBLAS {name} | {r['float32']:.3f} s | {flops / r['float32'] / 1e9:.0f} | "
                    f"{r['float64']:.3f} s | {flops / r['float64'] / 1e9:.0f} |")
    if args.blis:
        r = blis(args.blis, args.n, args.k, args.threads)
        rows.append(f"| BLIS 0.9.0 (pthread) | {r['float32']:.3f} s | {flops / r['float32'] / 1e9:.0f} | "
                    f"{r['float64']:.3f} s | {flops / r['float64'] / 1e9:.0f} |")
    rows += ["", f"load average after: {os.getloadavg()[0]:.2f}"]
    print("\n".join(rows))


if __name__ == "__main__":
    sys.exit(main())
