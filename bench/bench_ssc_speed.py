#!/usr/bin/python3
"""Issue 13's speed benchmark: the whole `sublens ssc` command against the hardware floor (one
float32 GEMM X X^T with the kernels sublens runs) and against scikit-learn's LassoLars, all
measured in the same run, in the environment the user has (nothing set by hand).

Usage (Debian's python3, which has numpy/scipy/sklearn):
  /usr/bin/python3 bench/bench_ssc_speed.py --bin build/bin/sublens [--baseline OLD_BIN]
      [--cases fm5k,fm10k,relu10k,lowrank] [--fmnist-all] [--repeat 3] [--markdown FILE]

Cases (tau = 10, l2-normalised, exact Lasso solver, all cores):
  fm5k, fm10k   the first 5,000 / all 10,000 Fashion-MNIST test images, pixels/255 (d = 784)
  relu10k       a ReLU layer stand-in: relu(X W - 0.5), W 784 x 512 Gaussian / 28 (d = 512, 11% > 0)
  lowrank       issue 13's reproducer (N = 450, d = 48, --normalize none --tau-mode relative
                --tau 800) against LassoLars, one column at a time
  fm70k         (--fmnist-all) all 70,000 Fashion-MNIST images
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "ssc"))
from ssc_reference import lowrank_matrix  # noqa: E402  (the tests' copy of the reproducer)

FMNIST = "/usr/share/datasets/fashion-mnist"


def fmnist(parts=("t10k",)):
    images = []
    for part in parts:
        with gzip.open(f"{FMNIST}/{part}-images-idx3-ubyte.gz") as f:
            images.append(np.frombuffer(f.read()[16:], dtype=np.uint8).reshape(-1, 784))
    return np.vstack(images).astype(np.float32) / 255


def case_data(name):
    if name == "fm5k":
        return fmnist()[:5000], []
    if name == "fm10k":
        return fmnist(), []
    if name == "fm70k":
        return fmnist(("train", "t10k")), []
    if name == "relu10k":
        x = fmnist()
        w = np.random.default_rng(0).standard_normal((784, 512)).astype(np.float32) / 28
        return np.maximum(x @ w - 0.5, 0).astype(np.float32), []
    if name == "lowrank":
        return lowrank_matrix(), ["--normalize", "none", "--tau-mode", "relative", "--tau", "800"]
    raise SystemExit(f"unknown case {name}")


def run_ssc(binary, path, extra, out):
    """Wall time, peak RSS (bytes, of this process alone) and JSON summary of one whole command."""
    start = time.perf_counter()
    proc = subprocess.Popen([binary, "--quiet", "ssc", path, "-o", out, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{binary} failed: {stderr}")
    return wall, usage.ru_maxrss * 1024, json.loads(stdout)


GEMM_CODE = """
import sys, time, numpy as np
x = np.load(sys.argv[1]).astype(np.float32)
x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
times = []
for _ in range(3):
    t = time.perf_counter(); x @ x.T; times.append(time.perf_counter() - t)
print(min(times))
"""


def gemm_seconds(path, kernels):
    """One float32 X X^T in numpy, with the OpenBLAS kernels sublens runs (set for that process)."""
    env = dict(os.environ, OPENBLAS_CORETYPE=kernels)
    out = subprocess.run(["/usr/bin/python3", "-c", GEMM_CODE, path], capture_output=True, text=True,
                         env=env, check=True)
    return float(out.stdout)


def lassolars_seconds(x, tau):
    from sklearn.linear_model import LassoLars

    n, d = x.shape
    start = time.perf_counter()
    objective = 0.0
    for i in range(n):
        others = np.r_[0:i, i + 1:n]
        model = LassoLars(alpha=1.0 / (tau * d), fit_intercept=False, max_iter=100000)
        model.fit(x[others].T, x[i])
        residual = x[i] - x[others].T @ model.coef_
        objective += np.abs(model.coef_).sum() + tau / 2 * residual @ residual
    return time.perf_counter() - start, objective


def kernels_of(binary):
    out = subprocess.run([binary, "--version"], capture_output=True, text=True)
    text = out.stdout.strip()
    return text.split("OpenBLAS ")[1].split(" kernels")[0] if "OpenBLAS " in text else "?"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--bin", default="build/bin/sublens")
    parser.add_argument("--baseline", help="an older sublens to time in the same run")
    parser.add_argument("--cases", default="fm5k,fm10k,relu10k,lowrank")
    parser.add_argument("--fmnist-all", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown")
    args = parser.parse_args()
    cases = args.cases.split(",") + (["fm70k"] if args.fmnist_all else [])
    kernels = kernels_of(args.bin)
    rows = [f"load average before: {os.getloadavg()[0]:.2f}; sublens runs OpenBLAS {kernels} "
            f"kernels; environment as the user has it",
            "",
            "| case | N x d | sublens ssc (median) | floor: fp32 X X^T | ratio | baseline | "
            "peak RSS | KKT | reference |",
            "|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in cases:
            x, extra = case_data(name)
            path = os.path.join(tmp, f"{name}.npy")
            np.save(path, x)
            out = os.path.join(tmp, f"{name}.npz")
            repeat = 1 if name == "fm70k" else args.repeat
            runs = [run_ssc(args.bin, path, extra, out) for _ in range(repeat)]
            wall = float(np.median([r[0] for r in runs]))
            peak, summary = runs[-1][1], runs[-1][2]
            base = "–"
            if args.baseline:
                base_wall, _, base_summary = run_ssc(args.baseline, path, extra, out)
                same = abs(base_summary["objective"] - summary["objective"]) <= 1e-9 * abs(
                    summary["objective"])
                base = f"{base_wall:.2f} s ({base_wall / wall:.1f}x slower{'' if same else ', objective differs'})"
            floor = gemm_seconds(path, kernels)
            reference = "–"
            if name == "lowrank":
                lars, lars_objective = lassolars_seconds(np.asarray(x, dtype=np.float64), summary["tau"])
                reference = (f"LassoLars loop {lars:.2f} s ({lars / wall:.1f}x slower; objective "
                             f"{(lars_objective - summary['objective']) / summary['objective']:+.1e} rel.)")
            rows.append(f"| {name} | {x.shape[0]} x {x.shape[1]} | {wall:.2f} s | {floor:.3f} s | "
                        f"{wall / floor:.1f} | {base} | {peak / 1e9:.2f} GB | "
                        f"{summary['kkt_violation']:.1e} | {reference} |")
            print(rows[-1], file=sys.stderr, flush=True)
    rows.append("")
    rows.append(f"load average after: {os.getloadavg()[0]:.2f}")
    text = "\n".join(rows)
    print(text)
    if args.markdown:
        os.makedirs(os.path.dirname(args.markdown) or ".", exist_ok=True)
        with open(args.markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
