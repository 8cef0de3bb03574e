#!/usr/bin/python3
"""Issue 14's scaling benchmark: `sublens ssc` in one process and under `mpirun -np K`, one thread
per process, on the same data in the same run; the communication each process does; and a model
of the time at K processes and N inputs from the measured costs.

Usage (Debian's python3 and Open MPI; idle machine):
  /usr/bin/python3 bench/bench_mpi.py --bin build/bin/sublens [--cases fm5k,fm10k] [--ranks 1,2]
      [--commands ssc,cka-matrix,factorize] [--repeat 3]

cka-matrix: linear CKA between every pair of 12 synthetic layers (N = 10,000 inputs, 64 to 768
features); one task per pair. factorize: a rank sweep on 3,000 Fashion-MNIST-sized images and one
layer (ranks 5..30, 2 seeds, HALS, 100 iterations); one task per fit.

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


REPEAT = 1


def run_command(binary, ranks, args):
    cmd = [binary, "--quiet", *map(str, args), "--threads", "1"]
    if ranks > 1:
        cmd = [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
               "-np", str(ranks)] + cmd
    best = None
    for _ in range(REPEAT):  # the fastest of REPEAT runs: the least disturbed by other work
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - start
        if best is None or seconds < best[0]:
            best = (seconds, json.loads(proc.stdout.splitlines()[-1]))
    return best


def run(binary, ranks, path, out):
    return run_command(binary, ranks, ["ssc", path, "-o", out])


def bench_ssc(args, tmp):
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
                              "objective": row["objective"]}), flush=True)


def same_file(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def bench_cka_matrix(args, tmp):
    rng = np.random.default_rng(3)
    n, widths = 10000, [64, 128, 192, 256, 320, 384, 448, 512, 576, 640, 704, 768]
    path = os.path.join(tmp, "layers.npz")
    np.savez(path, **{f"layer{i}": np.maximum(rng.standard_normal((n, w)), 0).astype(np.float32)
                      for i, w in enumerate(widths)})
    base = None
    for ranks in map(int, args.ranks.split(",")):
        out = os.path.join(tmp, f"cka{ranks}.npy")
        seconds, _ = run_command(args.bin, ranks, ["cka-matrix", path, "--kind", "linear", "-o", out])
        base = base or seconds
        print(json.dumps({"command": "cka-matrix", "n": n, "layers": len(widths), "pairs": 78,
                          "processes": ranks, "seconds": round(seconds, 3),
                          "speedup": round(base / seconds, 2),
                          "same_bytes": same_file(out, os.path.join(tmp, "cka1.npy"))}), flush=True)


def bench_factorize(args, tmp):
    rng = np.random.default_rng(4)
    n, truth = 3000, 12
    f = rng.random((n, truth))
    images = (255 * np.clip(f @ rng.random((truth, 784)) / truth, 0, 1)).astype(np.uint8)
    np.save(os.path.join(tmp, "images.npy"), images.reshape(n, 28, 28))
    np.save(os.path.join(tmp, "acts.npy"), (f @ rng.random((truth, 256))).astype(np.float32))
    base = None
    for ranks in map(int, args.ranks.split(",")):
        out = os.path.join(tmp, f"nmf{ranks}")
        seconds, row = run_command(args.bin, ranks, [
            "factorize", "--inputs", os.path.join(tmp, "images.npy"), "--acts",
            os.path.join(tmp, "acts.npy"), "--ranks", "5,10,15,20,25,30", "--seeds", "2",
            "--solver", "hals", "--max-iter", "100", "--tol", "0", "-o", out])
        base = base or seconds
        print(json.dumps({"command": "factorize", "n": n, "fits": 12, "processes": ranks,
                          "seconds": round(seconds, 3), "speedup": round(base / seconds, 2),
                          "rmse_rank30": row["ranks"][-1]["rmse_mean"]}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--cases", default="fm5k,fm10k")
    parser.add_argument("--ranks", default="1,2")
    parser.add_argument("--commands", default="ssc,cka-matrix,factorize")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest counts")
    args = parser.parse_args()
    global REPEAT
    REPEAT = args.repeat
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    benches = {"ssc": bench_ssc, "cka-matrix": bench_cka_matrix, "factorize": bench_factorize}
    with tempfile.TemporaryDirectory() as tmp:
        for command in args.commands.split(","):
            benches[command](args, tmp)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
