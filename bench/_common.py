"""Helpers shared by the benchmark scripts (bench_graph.py, bench_similarity.py)."""
import json
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp


def run(cmd):
    """Runs a command; returns (wall seconds, the JSON objects it printed one per line)."""
    start = time.perf_counter()
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed: {proc.stderr}")
    return wall, [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]


def ssc_like_graph(rng, n, per_row, classes=10):
    """An SSC-like affinity graph and its planted labels.

    Symmetric, zero diagonal, ~2*per_row non-zeros per row, 80% of them within the planted class.
    Returns (w as scipy CSR, labels as int64).
    """
    labels = rng.integers(0, classes, n)
    rows = np.repeat(np.arange(n), per_row)
    same = rng.random(n * per_row) < 0.8
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=classes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    cols = rng.integers(0, n, n * per_row)
    c = labels[rows[same]]
    cols[same] = order[starts[c] + (rng.random(same.sum()) * counts[c]).astype(np.int64)]
    keep = rows != cols
    w = sp.csr_matrix((rng.random(keep.sum()), (rows[keep], cols[keep])), shape=(n, n))
    w = (w + w.T).tocsr()
    w.sum_duplicates()
    return w, labels.astype(np.int64)
