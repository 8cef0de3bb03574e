"""Benchmark of `sublens factorize` (issue #5) on Fashion-MNIST.

Data: the N = 10,000 Fashion-MNIST test images (/usr/share/datasets/fashion-mnist, uint8 / 255) and
the ReLU outputs of the paper's two conv layers (1->10 ch 5x5, maxpool, ReLU: 1440 neurons;
10->20 ch 5x5, maxpool, ReLU: 320 neurons) of a network with PyTorch's default initialisation
(seed 0, untrained: timing does not depend on training). Rank 50.

Measures, in one run on one machine:
  1. time per MU iteration: sublens (C++, the paper's updates) vs `numpy_mu` (the NumPy transcription
     in tests/python/test_factor.py), both with the objective evaluated each iteration, and NumPy
     also without it (updates only);
  2. time for HALS to reach the objective MU reaches after MU_ITERATIONS iterations, vs MU's time.

Usage: SUBLENS_BIN=build/bin/sublens /usr/bin/python3 bench/bench_factor.py [--quick]
Prints a markdown section on stdout.
"""
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))
from test_factor import numpy_mu  # noqa: E402

BIN = os.environ.get("SUBLENS_BIN", os.path.join(HERE, "..", "build", "bin", "sublens"))
IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
QUICK = "--quick" in sys.argv
N = 2000 if QUICK else 10000
RANK = 50
REPEATS = 3
TIMED_ITERATIONS = 10 if QUICK else 10      # iterations per per-iteration timing
MU_ITERATIONS = 50 if QUICK else 100        # MU run whose final objective HALS must reach


def load_images():
    with gzip.open(IMAGES, "rb") as f:
        data = f.read()
    pixels = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(-1, 28, 28)[:N]
    return pixels


def activations(pixels):
    import torch
    torch.manual_seed(0)
    conv1 = torch.nn.Conv2d(1, 10, 5)
    conv2 = torch.nn.Conv2d(10, 20, 5)
    with torch.no_grad():
        x = torch.from_numpy(pixels.astype(np.float32) / 255.0).unsqueeze(1)
        a1 = torch.relu(torch.max_pool2d(conv1(x), 2))
        a2 = torch.relu(torch.max_pool2d(conv2(a1), 2))
    return a1.reshape(len(pixels), -1).double().numpy(), a2.reshape(len(pixels), -1).double().numpy()


def sublens(*args):
    proc = subprocess.run([BIN, "--quiet", *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def main():
    pixels = load_images()
    layer1, layer2 = activations(pixels)
    images = pixels.reshape(N, -1).astype(np.float64) / 255.0
    work = tempfile.mkdtemp(prefix="bench_factor_")
    images_path = os.path.join(work, "images.npy")
    acts_path = os.path.join(work, "acts.npz")
    np.save(images_path, pixels)  # uint8: sublens scales by 1/255 like the line above
    np.savez(acts_path, conv1=layer1, conv2=layer2)
    common = ["--inputs", images_path, "--acts", acts_path, "--ranks", RANK, "--seeds", 1, "--tol", 0]

    # 1. per-iteration time, MU
    cpp = []
    for repeat in range(REPEATS):
        s = sublens("factorize", *common, "--solver", "mu", "--max-iter", TIMED_ITERATIONS, "--seed", repeat,
                    "--no-latent", "-o", os.path.join(work, "t"))
        row = s["ranks"][0]
        cpp.append(row["seconds_mean"] / row["iterations_mean"])
    D, A1, A2 = images.T.copy(), layer1.T.copy(), layer2.T.copy()  # the paper's orientation
    rng = np.random.default_rng(0)
    init = (rng.random((N, RANK)), [rng.random((784, RANK))], [rng.random((1440, RANK)), rng.random((320, RANK))])
    numpy_with, numpy_without = [], []
    for repeat in range(REPEATS):
        start = time.perf_counter()
        numpy_mu([D], [A1, A2], *init, TIMED_ITERATIONS, objective=True)
        numpy_with.append((time.perf_counter() - start) / TIMED_ITERATIONS)
        start = time.perf_counter()
        numpy_mu([D], [A1, A2], *init, TIMED_ITERATIONS, objective=False)
        numpy_without.append((time.perf_counter() - start) / TIMED_ITERATIONS)

    # 2. time to equal objective, HALS vs MU (same seed)
    runs = {}
    for solver in ["mu", "hals"]:
        out = os.path.join(work, solver)
        s = sublens("factorize", *common, "--solver", solver, "--max-iter", MU_ITERATIONS, "-o", out)
        runs[solver] = (s["ranks"][0], np.load(os.path.join(out, f"rank{RANK}", "objective.npy")))
    mu_row, mu_history = runs["mu"]
    hals_row, hals_history = runs["hals"]
    target = mu_history[-1]
    reached = np.nonzero(hals_history <= target)[0]
    hals_per_iteration = hals_row["seconds_mean"] / hals_row["iterations_mean"]
    hals_iterations = int(reached[0]) + 1 if len(reached) else None
    hals_time = hals_iterations * hals_per_iteration if hals_iterations else float("nan")

    med = statistics.median
    print(f"### Coupled NMF (`sublens factorize`), N = {N}, rank {RANK}")
    print()
    print(f"Blocks: images 784 x N, conv1 1440 x N, conv2 320 x N (untrained paper CNN, seed 0). "
          f"Medians of {REPEATS} runs, {TIMED_ITERATIONS} iterations each; {os.cpu_count()} cores, "
          f"BLAS threads default.")
    print()
    print("| per MU iteration | median s | ratio vs sublens |")
    print("|---|---|---|")
    print(f"| sublens (C++), objective each iteration | {med(cpp):.4f} | 1.0 |")
    print(f"| NumPy transcription, objective each iteration (explicit residual) | {med(numpy_with):.4f} | "
          f"{med(numpy_with) / med(cpp):.1f}x |")
    print(f"| NumPy transcription, updates only | {med(numpy_without):.4f} | "
          f"{med(numpy_without) / med(cpp):.1f}x |")
    print()
    print(f"| time to J <= J_MU({MU_ITERATIONS} it.) = {target:.6g} | iterations | seconds |")
    print("|---|---|---|")
    print(f"| MU (paper) | {MU_ITERATIONS} | {mu_row['seconds_mean']:.2f} |")
    print(f"| HALS | {hals_iterations} | {hals_time:.2f} |")
    print()
    print(f"HALS speed-up to equal objective: {mu_row['seconds_mean'] / hals_time:.1f}x; "
          f"HALS after {MU_ITERATIONS} iterations: J = {hals_history[-1]:.6g} "
          f"(RMSE {hals_row['rmse_mean']:.5f} vs MU {mu_row['rmse_mean']:.5f}).")
    print()
    print(f"Command: `SUBLENS_BIN={BIN} /usr/bin/python3 bench/bench_factor.py{' --quick' if QUICK else ''}`")


if __name__ == "__main__":
    main()
