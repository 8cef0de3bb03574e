#!/usr/bin/env python3
"""Benchmarks of the sublens graph commands (issue #4), references measured in the same run.

A 70,000-node SSC-like sparse graph (10 planted classes, ~2 x per_row non-zeros per row):
- `sublens embed -k 2` (Lanczos on D^-1/2 W D^-1/2, Spectra) vs scipy.sparse.linalg.eigsh on the
  same operator (ARPACK, which="LA");
- `sublens modularity` vs networkx.community.modularity;
- `sublens ssc-labels` vs a vectorised scipy.sparse transcription;
- `sublens cluster -k 10` (embedding + 20 k-means++ restarts), no reference timed.
Usage: /usr/bin/python3 bench/bench_graph.py [--sublens build/bin/sublens] [--n 70000] [--quick]
Writes bench/results/graph.md (or --out).
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
import scipy.sparse.linalg as sla

from _common import run, ssc_like_graph


def timed(fn, repeats):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sublens", default="build/bin/sublens")
    parser.add_argument("--n", type=int, default=70000)
    parser.add_argument("--per-row", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="bench/results/graph.md")
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeats = 5000, 1
    rng = np.random.default_rng(0)
    w, labels = ssc_like_graph(rng, args.n, args.per_row)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        wp, lp = os.path.join(tmp, "w.npz"), os.path.join(tmp, "labels.npy")
        sp.save_npz(wp, w)
        np.save(lp, labels)

        # Spectral embedding.
        walls, secs = [], []
        for _ in range(args.repeats):
            wall, out = run([args.sublens, "--quiet", "embed", wp, "-k", "2", "-o", os.path.join(tmp, "e.npy")])
            walls.append(wall)
            secs.append(out[0]["seconds"])
        embed_out = out[0]
        d = np.asarray(w.sum(1)).ravel() ** -0.5
        s = (sp.diags(d) @ w @ sp.diags(d)).tocsr()
        eig_time, (values, _) = timed(lambda: sla.eigsh(s, k=2, which="LA", tol=1e-10), args.repeats)
        values = np.sort(values)[::-1]
        rows.append(("spectral embedding, k = 2 (normalized)", statistics.median(secs),
                     statistics.median(walls), "scipy eigsh (ARPACK), same operator", eig_time,
                     f"max eigenvalue difference {np.max(np.abs(values - np.array(embed_out['eigenvalues']))):.1e}; "
                     f"{embed_out['matrix_products']} products, {embed_out['iterations']} restarts"))

        # Modularity vs networkx.
        walls = []
        for _ in range(args.repeats):
            wall, out = run([args.sublens, "--quiet", "modularity", wp, "--labels", lp])
            walls.append(wall)
        q = out[0]["modularity"]
        try:
            import networkx as nx
            g = nx.from_scipy_sparse_array(w)
            communities = [set(np.flatnonzero(labels == c)) for c in range(labels.max() + 1)]
            nx_time, q_nx = timed(lambda: nx.community.modularity(g, communities, weight="weight"), 1)
            rows.append(("modularity (class labels)", None, statistics.median(walls),
                         "networkx.community.modularity (graph already built)", nx_time,
                         f"|dQ| = {abs(q - q_nx):.1e}"))
        except ImportError:
            pass

        # SSC labels vs vectorised scipy.
        walls = []
        for _ in range(args.repeats):
            wall, out = run([args.sublens, "--quiet", "ssc-labels", wp, "--labels", lp, "-o", os.path.join(tmp, "s.npy")])
            walls.append(wall)

        def scipy_ssc():
            onehot = sp.csr_matrix((np.ones(args.n), (np.arange(args.n), labels)))
            sums = (w @ onehot).toarray()
            out = sums.argmax(1)
            out[w.getnnz(1) == 0] = -1
            return out
        ref_time, ref = timed(scipy_ssc, args.repeats)
        same = np.array_equal(np.load(os.path.join(tmp, "s.npy")), ref)
        rows.append(("SSC labels", None, statistics.median(walls), "scipy.sparse W @ one-hot, argmax",
                     ref_time, f"labels identical: {same}"))

        # Spectral clustering.
        wall, out = run([args.sublens, "--quiet", "cluster", wp, "-k", "10", "-o", os.path.join(tmp, "c.npy"),
                         "--labels", lp])
        rows.append(("spectral clustering, k = 10, 20 restarts", None, wall, "-", None,
                     f"ARI vs planted classes {out[0]['ari']:.3f}"))

    lines = ["# sublens graph benchmarks (issue #4)", "",
             f"Command: `/usr/bin/python3 {' '.join(sys.argv)}`", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs (shared with other jobs "
             f"while measured). Graph: N = {args.n}, nnz = {w.nnz}, 10 planted classes; "
             f"median of {args.repeats} runs unless noted.", "",
             "| task | sublens compute (s) | sublens whole command (s) | reference | reference (s) | notes |",
             "|---|---|---|---|---|---|"]
    for task, compute, wall, ref, ref_time, notes in rows:
        lines.append(f"| {task} | {'' if compute is None else f'{compute:.3f}'} | {wall:.3f} | {ref} | "
                     f"{'' if ref_time is None else f'{ref_time:.3f}'} | {notes} |")
    lines += ["", "Whole-command times include process start and reading the .npz graph."]
    print("\n".join(lines))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
