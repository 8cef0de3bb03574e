"""Training and extraction throughput (images/s) of each zoo model at 28x28 (Fashion-MNIST), with
1 and 2 torch threads, through the CLI (`sublens train` / `sublens extract`, i.e. sublens-torch).

Train: one epoch over a stratified fraction of the training split, batch 128, SGD; images/s of the
SGD loop only (the JSON field `images_per_second`). Extract: forward + copy of every capture point
of the last checkpoint over the first N test images, batch 256 (`images_per_second`).

Usage: SUBLENS_BIN=build/bin/sublens /usr/bin/python3 bench/bench_models.py [--quick]
"""
import json
import os
import subprocess
import sys
import tempfile

BIN = os.environ.get("SUBLENS_BIN", "build/bin/sublens")
QUICK = "--quick" in sys.argv
# (model, training images fraction, extract N): sized so that each run takes seconds on 1 core.
MODELS = [
    ("cnn2", 0.05, 2000),
    ("alexnet", 0.005, 500),
    ("vgg11", 0.005, 500),
    ("resnet20", 0.005, 500),
    ("resnet18", 0.0025, 128),
    ("wrn-16-2", 0.005, 500),
    ("densenet40", 0.005, 500),
]


def run(*args):
    proc = subprocess.run([BIN, "--quiet", *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"sublens {' '.join(map(str, args))}: {proc.stderr}")
    return json.loads(proc.stdout.splitlines()[-1])


def main():
    print("| model | params | train img/s 1 thr | train img/s 2 thr | extract img/s 1 thr | extract img/s 2 thr |")
    print("|---|---:|---:|---:|---:|---:|")
    models = MODELS[:2] if QUICK else MODELS
    with tempfile.TemporaryDirectory() as tmp:
        for model, fraction, n in models:
            params = run("models", "--model", model)["parameters"]
            train, extract = {}, {}
            for threads in (1, 2):
                run_dir = os.path.join(tmp, f"{model}-{threads}")
                summary = run("train", "--model", model, "--train-fraction", fraction, "--epochs", 1,
                              "--threads", threads, "--test-n", -1, "-o", run_dir)
                train[threads] = summary["images_per_second"]
                out = os.path.join(tmp, f"{model}-{threads}.safetensors")
                summary = run("extract", "--run", run_dir, "--layers", "*", "--n", n,
                              "--threads", threads, "-o", out)
                extract[threads] = summary["images_per_second"]
            print(f"| {model} | {params:,} | {train[1]:.0f} | {train[2]:.0f} | "
                  f"{extract[1]:.0f} | {extract[2]:.0f} |", flush=True)


if __name__ == "__main__":
    main()
