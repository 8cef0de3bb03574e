#!/usr/bin/python3
"""Issue 14's scaling benchmark: `sublens ssc` in one process and under `mpirun -np K`, one thread
per process, on the same data in the same run; the communication each process does; and a model
of the time at K processes and N inputs from the measured costs.

Usage (Debian's python3 and Open MPI; idle machine):
  /usr/bin/python3 bench/bench_mpi.py --bin build/bin/sublens [--cases fm5k,fm10k] [--ranks 1,2]

Communication per solve (measured: the root's received bytes, printed by sublens as
gathered_bytes; the model below):
  - inputs: every process reads X (N x d float32, 4 N d bytes) from the shared file system itself;
  - hand-out: one 8-byte fetch-and-add on rank 0 per block (N / 256 blocks on the Gram route);
  - gather: each process sends its columns once: 40 bytes per column + 16 bytes per nonzero
    (so (K - 1) / K of 40 N + 16 nnz bytes reach rank 0 in total).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_ssc_speed import case_data  # noqa: E402  (the same cases as issue 13's benchmark)


def run(binary, ranks, path, out):
    cmd = [binary, "--quiet", "ssc", path, "-o", out, "--threads", "1"]
    if ranks > 1:
        cmd = [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
               "-np", str(ranks)] + cmd
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, json.loads(proc.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--cases", default="fm5k,fm10k")
    parser.add_argument("--ranks", default="1,2")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            x, extra = case_data(case)
            assert not extra, "the scaling cases use the default options"
            path = os.path.join(tmp, f"{case}.npy")
            np.save(path, x)
            base = None
            for ranks in map(int, args.ranks.split(",")):
                seconds, row = run(args.bin, ranks, path, os.path.join(tmp, f"w{ranks}.npz"))
                base = base or seconds
                model = (ranks - 1) / ranks * (40 * row["n"] + 16 * row["nnz"]) if ranks > 1 else 0
                print(json.dumps({"case": case, "n": row["n"], "d": row["d"], "processes": ranks,
                                  "seconds": round(seconds, 3), "speedup": round(base / seconds, 2),
                                  "gathered_bytes": row.get("gathered_bytes", 0),
                                  "gather_model_bytes": int(model),
                                  "input_bytes_per_process": 4 * row["n"] * row["d"],
                                  "solver_seconds": round(row["seconds"], 3),
                                  "objective": row["objective"]}))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
