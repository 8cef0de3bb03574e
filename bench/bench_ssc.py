#!/usr/bin/python3
"""Benchmark of `sublens ssc` (whole command: start-up, reading, solving, writing) against a NumPy
implementation of the paper's Algorithm 1 (ADMM, 100 iterations, inverse formed once, fixed mu).

Usage (Debian's python3, which has numpy/scipy/sklearn):
  OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/bench_ssc.py --bin build/bin/sublens \
      --threads 2 [--sizes 1000x128,1000x1024,2000x128,2000x1024] [--large 10000x512] \
      [--fmnist-all] [--repeat 3] [--markdown bench/results/ssc.md]

Data: a union of 10 random 8-dimensional subspaces in R^d with Gaussian noise (sigma 0.05 per
entry on inputs of norm ~sqrt(8)), N/10 inputs each; --fmnist-all: all 70,000 Fashion-MNIST
images (pixels/255, 784-d). Reported next to each time: nnz per column of C, and the clustering
accuracy of spectral clustering (scikit-learn, precomputed affinity, Hungarian matching) on W.
Both programs use OpenBLAS with the same thread count (OPENBLAS_NUM_THREADS = --threads).
The "GEMM" column is the time of one 2dN^2 GEMM (X X^T in numpy) on the same machine.
"""
import argparse
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp


def union_of_subspaces(n, d, groups=10, dim=8, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    per = n // groups
    rows, labels = [], []
    for g in range(groups):
        basis = rng.standard_normal((d, dim))
        rows.append((basis @ rng.standard_normal((dim, per))).T + noise * rng.standard_normal((per, d)))
        labels += [g] * per
    return np.vstack(rows), np.array(labels)


def fashion_mnist_all():
    images, labels = [], []
    for part in ("train", "t10k"):
        with gzip.open(f"/usr/share/datasets/fashion-mnist/{part}-images-idx3-ubyte.gz") as f:
            raw = f.read()
        images.append(np.frombuffer(raw[16:], dtype=np.uint8).reshape(-1, 784))
        with gzip.open(f"/usr/share/datasets/fashion-mnist/{part}-labels-idx1-ubyte.gz") as f:
            labels.append(np.frombuffer(f.read()[8:], dtype=np.uint8))
    return np.vstack(images).astype(np.float32) / 255, np.concatenate(labels).astype(np.int64)


def normalise(x):
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(norms > 0, x / np.where(norms > 0, norms, 1), 0)


def numpy_admm(x, tau=10.0, mu=10.0, iterations=100):
    """Algorithm 1 of the paper, dense, fixed mu, (tau G + mu I)^{-1} formed once."""
    xp = x.T  # d x N
    n = xp.shape[1]
    gram = xp.T @ xp
    inverse = np.linalg.inv(tau * gram + mu * np.eye(n))
    c = np.zeros((n, n))
    lam = np.zeros((n, n))
    tg = tau * gram
    for _ in range(iterations):
        z = inverse @ (tg + mu * c - lam)
        v = z + lam / mu
        c = np.sign(v) * np.maximum(np.abs(v) - 1 / mu, 0)
        np.fill_diagonal(c, 0)
        lam += mu * (z - c)
    residual = xp - xp @ c
    objective = np.abs(c).sum() + tau / 2 * (residual ** 2).sum()
    return sp.csr_matrix(c), objective


def clustering_accuracy(w, labels):
    """Spectral clustering (Ng-Jordan-Weiss: top-k eigenvectors of D^-1/2 W D^-1/2, rows
    normalised, k-means) and the best one-to-one matching of clusters to labels."""
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse.linalg import lobpcg
    from sklearn.cluster import KMeans

    k = len(np.unique(labels))
    w = sp.csr_matrix(w)
    degree = np.asarray(w.sum(axis=1)).ravel()
    scale = np.where(degree > 0, 1 / np.sqrt(np.where(degree > 0, degree, 1)), 0)
    m = sp.diags(scale) @ w @ sp.diags(scale)
    # A block eigensolver: the ideal SSC graph has exactly k components, i.e. eigenvalue 1 of
    # multiplicity k, and single-vector Lanczos (eigsh; sklearn's SpectralClustering) misses copies.
    start = np.random.default_rng(0).standard_normal((w.shape[0], k + 2))
    values, vectors = lobpcg(m, start, largest=True, tol=1e-5, maxiter=500)
    vectors = vectors[:, np.argsort(-values)[:k]]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms > 0, norms, 1)
    predicted = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(vectors)
    table = np.zeros((k, k))
    for p, t in zip(predicted, labels):
        table[p, t] += 1
    rows, cols = linear_sum_assignment(-table)
    return table[rows, cols].sum() / len(labels)


def gemm_seconds(x, repeat=3, max_columns=4000):
    """Wall and CPU seconds of one 2dN^2 GEMM (X X^T); for large N, X X_B^T for a block of
    max_columns inputs, scaled by N / max_columns (X X^T itself would need N^2 doubles)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    block = x[:max_columns]
    scale = x.shape[0] / block.shape[0]
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        t, t_cpu = time.perf_counter(), time.process_time()
        x @ block.T
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - t_cpu)
    return best * scale, best_cpu * scale


def run_sublens(binary, path, out, threads, repeat):
    times, cpu, row = [], [], None
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run([binary, "--quiet", "ssc", path, "-o", out, "--threads", str(threads)],
                              capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        row = json.loads(proc.stdout.splitlines()[0])
    return float(np.median(times)), float(np.median(cpu)), row


def child_peak_rss():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="build/bin/sublens")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", default="1000x128,1000x1024,2000x128,2000x1024")
    parser.add_argument("--large", default="", help="e.g. 10000x512 (sublens only)")
    parser.add_argument("--fmnist-all", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-numpy", action="store_true")
    parser.add_argument("--markdown", default="")
    args = parser.parse_args()
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)  # for the sublens child too

    results = []
    work = tempfile.mkdtemp(prefix="bench_ssc_")
    cases = [("uos", s) for s in args.sizes.split(",") if s] + \
            [("uos", s) for s in args.large.split(",") if s]
    if args.fmnist_all:
        cases.append(("fmnist", "70000x784"))
    for kind, size in cases:
        n, d = map(int, size.split("x"))
        if kind == "uos":
            x, labels = union_of_subspaces(n, d)
        else:
            x, labels = fashion_mnist_all()
        path = os.path.join(work, f"{kind}_{n}_{d}.npy")
        np.save(path, x.astype(np.float32))
        out = os.path.join(work, "w.npz")
        repeat = args.repeat if n <= 2000 else 1
        wall, cpu, row = run_sublens(args.bin, path, out, args.threads, repeat)
        w = sp.load_npz(out)
        entry = {"data": kind, "n": n, "d": d, "sublens_s": wall, "sublens_cpu_s": cpu,
                 "solve_s": row["seconds"],
                 "objective": row["objective"], "kkt": row["kkt_violation"],
                 "rounds": row["iterations"], "nnz_per_col": row["nnz"] / n,
                 "peak_rss": child_peak_rss()}
        entry["gemm_s"], entry["gemm_cpu_s"] = gemm_seconds(normalise(x.astype(np.float32)))
        if n <= 100000:
            entry["accuracy"] = clustering_accuracy(w, labels)
        if not args.no_numpy and n <= 2000:
            xn = normalise(x.astype(np.float32).astype(np.float64))
            t, t_cpu = time.perf_counter(), time.process_time()
            c, objective = numpy_admm(xn)
            entry["numpy_s"] = time.perf_counter() - t
            entry["numpy_cpu_s"] = time.process_time() - t_cpu
            entry["numpy_objective"] = objective
            entry["numpy_nnz_per_col"] = c.nnz / n
            entry["numpy_accuracy"] = clustering_accuracy(abs(c) + abs(c).T, labels)
        results.append(entry)
        print(json.dumps(entry), flush=True)

    if args.markdown:
        write_markdown(args, results)


def write_markdown(args, results):
    load = os.getloadavg()
    lines = ["# `sublens ssc` benchmark", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
             f"(shared; load average {load[0]:.1f} at the end), OpenBLAS "
             f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(auto)')}, "
             f"{args.threads} threads for both programs.", "",
             "Command: `" + " ".join(["OPENBLAS_CORETYPE=" + os.environ.get("OPENBLAS_CORETYPE", "")]
                                      + ["/usr/bin/python3"] + sys.argv) + "`", "",
             "sublens time = the whole `sublens ssc` command (start-up, reading the .npy, solving, "
             "writing the .npz), median of runs; NumPy = Algorithm 1, 100 iterations, inverse "
             "formed once (fixed mu = 10), tau = 10, l2-normalised inputs for both.", "",
             "Wall times are inflated by other jobs on the shared cores; CPU seconds (user + sys, "
             "all threads) are the steadier measure. × GEMM = sublens CPU s / one 2dN² GEMM's CPU s.",
             "",
             "| data | N | d | sublens wall s | sublens CPU s | GEMM CPU s | × GEMM | NumPy wall s | "
             "NumPy CPU s | speed-up wall (CPU) | objective sublens | objective NumPy | nnz/col | "
             "NumPy nnz/col | acc | NumPy acc | KKT | peak RSS |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in results:
        def f(key, fmt="{:.3g}"):
            return fmt.format(e[key]) if key in e else "–"
        speedup = (f"{e['numpy_s'] / e['sublens_s']:.0f}× ({e['numpy_cpu_s'] / e['sublens_cpu_s']:.0f}×)"
                   if "numpy_s" in e else "–")
        lines.append(
            f"| {e['data']} | {e['n']} | {e['d']} | {e['sublens_s']:.2f} | {e['sublens_cpu_s']:.2f} | "
            f"{e['gemm_cpu_s']:.3f} | {e['sublens_cpu_s'] / e['gemm_cpu_s']:.1f} | "
            f"{f('numpy_s', '{:.1f}')} | {f('numpy_cpu_s', '{:.1f}')} | "
            f"{speedup} | {e['objective']:.6g} | {f('numpy_objective', '{:.6g}')} | "
            f"{e['nnz_per_col']:.1f} | {f('numpy_nnz_per_col', '{:.1f}')} | "
            f"{f('accuracy', '{:.3f}')} | {f('numpy_accuracy', '{:.3f}')} | {e['kkt']:.1e} | "
            f"{e['peak_rss'] / 2**30:.2f} GiB |")
    with open(args.markdown, "w") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
