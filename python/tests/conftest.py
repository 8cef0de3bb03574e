"""Fixtures of the Python-module tests.

The module comes from PYTHONPATH (<build>/python, set by ctest); the CLI used as the reference
comes from $SUBLENS_BIN (also set by ctest), falling back to build/bin/sublens.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("SUBLENS_BIN", os.path.join(ROOT, "build", "bin", "sublens"))

if not any(os.path.exists(os.path.join(p, "sublens", "__init__.py")) for p in sys.path if p):
    sys.path.insert(0, os.path.join(ROOT, "build", "python"))


def run_cli(*args):
    """Runs the CLI, checks exit 0 and returns its JSON summary (one object or a list)."""
    if not os.path.exists(BIN):
        pytest.skip(f"CLI not built ({BIN}); set SUBLENS_BIN")
    proc = subprocess.run([BIN, "--quiet", *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, (args, proc.stderr)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return rows[0] if len(rows) == 1 else rows


@pytest.fixture
def cli():
    return run_cli


def union_of_subspaces(groups=3, dim=3, per_group=20, d=16, noise=0.05, seed=0):
    """N x d points near `groups` random `dim`-dimensional subspaces, and their labels."""
    rng = np.random.default_rng(seed)
    blocks, labels = [], []
    for g in range(groups):
        basis = np.linalg.qr(rng.standard_normal((d, dim)))[0]
        blocks.append(rng.standard_normal((per_group, dim)) @ basis.T)
        labels += [g] * per_group
    x = np.vstack(blocks) + noise * rng.standard_normal((groups * per_group, d))
    return x, np.array(labels, dtype=np.int64)


@pytest.fixture
def subspaces():
    return union_of_subspaces()
