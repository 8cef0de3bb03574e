#!/usr/bin/env python3
"""Benchmarks of sublens CKA (issue #4), with the reference measured in the same run.

1. All-pairs SSC-CKA of G sparse graphs of N inputs (`sublens cka-matrix FOLDER`) vs a dense NumPy
   CKA (Kornblith et al.'s `cka(gram_x, gram_y)`: centre both N x N Grams, then one dot product)
   timed on a few pairs and multiplied by the number of pairs (G (G + 1) / 2 calls).
2. Exact linear CKA at N x d (`sublens cka x.npy y.npy --kind linear --method feature`) as a multiple
   of one float64 GEMM X^T Y of the same shapes (NumPy/OpenBLAS, same threads).

Usage: /usr/bin/python3 bench/bench_similarity.py [--sublens build/bin/sublens] [--quick]
Writes bench/results/similarity.md (or --out).
"""
import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp

from _common import run, ssc_like_graph


def numpy_cka(gram_x, gram_y):  # Kornblith et al. 2019, cka.py (biased)
    def center(g):
        g = g.copy()
        means = np.mean(g, 0, dtype=np.float64)
        means -= np.mean(means) / 2
        g -= means[:, None]
        g -= means[None, :]
        return g
    gx, gy = center(gram_x), center(gram_y)
    scaled = gx.ravel().dot(gy.ravel())
    return scaled / (np.linalg.norm(gx) * np.linalg.norm(gy))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sublens", default="build/bin/sublens")
    parser.add_argument("--graphs", type=int, default=30)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--per-row", type=int, default=15)
    parser.add_argument("--dense-pairs", type=int, default=3)
    parser.add_argument("--linear-n", type=int, default=50000)
    parser.add_argument("--linear-d", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-linear", action="store_true")
    parser.add_argument("--skip-graphs", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--out", default="bench/results/similarity.md")
    args = parser.parse_args()
    if args.quick:
        args.graphs, args.n, args.linear_n, args.linear_d, args.repeats = 6, 2000, 4000, 256, 1
    rng = np.random.default_rng(0)
    lines = ["# sublens similarity benchmarks (issue #4)", "",
             f"Command: `/usr/bin/python3 {' '.join(sys.argv)}`", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs "
             f"(shared with other jobs while measured), numpy {np.__version__}.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_graphs:
            folder = os.path.join(tmp, "graphs")
            os.mkdir(folder)
            graphs = []
            for g in range(args.graphs):
                w, _ = ssc_like_graph(rng, args.n, args.per_row)
                sp.save_npz(os.path.join(folder, f"layer{g}.npz"), w)
                graphs.append(w)
            nnz = statistics.mean(w.nnz for w in graphs)
            pairs = args.graphs * (args.graphs + 1) // 2
            walls = []
            for _ in range(args.repeats):
                wall, out = run([args.sublens, "--quiet", "cka-matrix", folder, "--kind", "graph",
                                 "-o", os.path.join(tmp, "m.npy")])
                walls.append(wall)
            sublens_wall = statistics.median(walls)
            matrix = np.load(os.path.join(tmp, "m.npy"))
            dense_times, errors = [], []
            for p in range(args.dense_pairs):
                i, j = p % args.graphs, (p + 1) % args.graphs
                kx, ky = graphs[i].toarray(), graphs[j].toarray()
                start = time.perf_counter()
                value = numpy_cka(kx, ky)
                dense_times.append(time.perf_counter() - start)
                errors.append(abs(value - matrix[i, j]))
                del kx, ky
            dense_pair = statistics.median(dense_times)
            dense_total = dense_pair * pairs
            lines += ["## All-pairs SSC-CKA (sparse O(nnz) identity vs dense NumPy)", "",
                      f"{args.graphs} graphs, N = {args.n}, mean nnz = {nnz:.0f} per graph; "
                      f"{pairs} CKA values (pairs incl. diagonal).", "",
                      "| | time (s) |", "|---|---|",
                      f"| `sublens cka-matrix` (whole command: reading {args.graphs} .npz, stats, all pairs; median of {args.repeats}) | {sublens_wall:.3f} |",
                      f"| dense NumPy CKA, one pair (median of {args.dense_pairs}; Grams already dense in memory) | {dense_pair:.3f} |",
                      f"| dense NumPy CKA, all {pairs} pairs (one pair x {pairs}) | {dense_total:.1f} |",
                      f"| **speed-up** | **{dense_total / sublens_wall:.0f}x** |", "",
                      f"Max |sublens - NumPy| over the checked pairs: {max(errors):.2e}. "
                      f"The dense path also needs {args.n * args.n * 8 / 2**30:.2f} GiB per Gram; "
                      f"all {args.graphs} would need {args.graphs * args.n * args.n * 8 / 2**30:.0f} GiB.", ""]
            print("\n".join(lines[-12:]), flush=True)

        if not args.skip_linear:
            n, d = args.linear_n, args.linear_d
            x = rng.standard_normal((n, d), dtype=np.float32)
            y = (x[:, : d // 2] @ rng.standard_normal((d // 2, d), dtype=np.float32) / np.sqrt(d)
                 + rng.standard_normal((n, d), dtype=np.float32))
            np.save(os.path.join(tmp, "x.npy"), x)
            np.save(os.path.join(tmp, "y.npy"), y)
            x64, y64 = x.astype(np.float64), y.astype(np.float64)
            del x, y
            gemm = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                _ = x64.T @ y64
                gemm.append(time.perf_counter() - start)
            gemm_time = statistics.median(gemm)
            del x64, y64
            compute, walls = [], []
            for _ in range(args.repeats):
                wall, out = run([args.sublens, "--quiet", "cka", os.path.join(tmp, "x.npy"),
                                 os.path.join(tmp, "y.npy"), "--kind", "linear", "--method", "feature"])
                compute.append(out[0]["seconds"])
                walls.append(wall)
            c, w = statistics.median(compute), statistics.median(walls)
            lines += ["## Exact linear CKA (feature form, float64 accumulation)", "",
                      f"N = {n}, d = {d} (float32 files, {n * d * 4 / 2**30:.2f} GiB each).", "",
                      "| | time (s) | x GEMM |", "|---|---|---|",
                      f"| NumPy float64 GEMM X^T Y ({d} x {n} x {d}), median of {args.repeats} | {gemm_time:.2f} | 1.00 |",
                      f"| sublens linear CKA, compute (JSON `seconds`) | {c:.2f} | {c / gemm_time:.2f} |",
                      f"| sublens linear CKA, whole command incl. reading both files | {w:.2f} | {w / gemm_time:.2f} |", "",
                      "The feature form needs X^T X and Y^T Y (symmetric rank-k updates, half a GEMM each) "
                      "and Y^T X (one GEMM): 2 GEMM-equivalents is the floor for the exact value.", ""]
            print("\n".join(lines[-10:]), flush=True)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
