"""`sublens ssc` under mpirun (Open MPI from Debian): the columns of each solve are split over the
processes, rank 0 writes exactly what a single process writes and prints the JSON once.

The runs are oversubscribed with one thread per process (this 2-core machine runs 3 processes);
`--allow-run-as-root` because CI runs as root. The single-process run is the reference: the
arrays must be equal bit for bit (the Gram route's per-column work does not depend on which
process solves a column), and the objective and the KKT figure equal.
"""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from conftest import BIN, parse_json_lines, run_sublens

MPIRUN = shutil.which("mpirun")
LAUNCH = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]


def mpi_sublens(processes, *args):
    return subprocess.run([*LAUNCH, "-np", str(processes), BIN, "--quiet", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def same_arrays(a_path, b_path):
    a, b = np.load(a_path), np.load(b_path)
    return sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)


@pytest.fixture(scope="module")
def layers(tmp_path_factory):
    rng = np.random.default_rng(7)
    n = 1300  # >= 1024: the mixed-precision route, 6 blocks of 256 columns to hand out
    bases = [np.linalg.qr(rng.standard_normal((48, 4)))[0] for _ in range(5)]
    x = np.vstack([(b @ rng.standard_normal((4, n // 5))).T for b in bases])
    x += 0.02 * rng.standard_normal(x.shape)
    path = tmp_path_factory.mktemp("mpi") / "acts.npz"
    np.savez(path, early=x.astype(np.float32), late=np.maximum(x[:, :30], 0).astype(np.float32))
    return path


def test_mpirun_is_installed():
    assert MPIRUN, "mpirun not found: scripts/bootstrap installs openmpi-bin"


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_split_solve_equals_single_process(layers, tmp_path, processes):
    single = run_sublens("ssc", layers, "--all-layers", "-o", tmp_path / "one",
                         "--coef-out", tmp_path / "one-c", "--threads", "1", check=True)
    split = mpi_sublens(processes, "ssc", layers, "--all-layers", "-o", tmp_path / "many",
                        "--coef-out", tmp_path / "many-c", "--threads", "1")
    assert split.returncode == 0, split.stderr
    rows_one, rows_many = parse_json_lines(single.stdout), parse_json_lines(split.stdout)
    assert [r["layer"] for r in rows_many] == ["early", "late"]  # printed once, by rank 0
    for one, many in zip(rows_one, rows_many):
        for key in ("objective", "kkt_violation", "nnz", "affinity_nnz", "iterations", "tau"):
            assert many[key] == one[key], key
        assert many.get("processes", 1) == processes
    for folder in ("", "-c"):
        assert sorted(os.listdir(tmp_path / f"many{folder}")) == sorted(os.listdir(tmp_path / f"one{folder}"))
        for layer in ("early", "late"):
            assert same_arrays(tmp_path / f"one{folder}" / f"{layer}.npz", tmp_path / f"many{folder}" / f"{layer}.npz")
    assert json.loads((tmp_path / "many" / "layers.json").read_text()) == json.loads((tmp_path / "one" / "layers.json").read_text())


def test_single_process_json_has_no_process_count(layers, tmp_path):
    row = parse_json_lines(run_sublens("ssc", layers, "--layers", "late", "-o", tmp_path / "w.npz", check=True).stdout)[0]
    assert "processes" not in row


def test_bad_input_under_mpirun_fails_once_and_writes_nothing(layers, tmp_path):
    proc = mpi_sublens(3, "ssc", layers, "--layers", "nope", "-o", tmp_path / "w.npz")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("sublens ssc: error:")]
    assert len(errors) == 1 and "nope" in errors[0], proc.stderr
    assert not (tmp_path / "w.npz").exists()


def test_admm_refuses_to_split(layers, tmp_path):
    proc = mpi_sublens(2, "ssc", layers, "--layers", "late", "--solver", "admm", "-o", tmp_path / "w.npz")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "ADMM" in errors[0], proc.stderr
    assert not (tmp_path / "w.npz").exists()


def test_single_process_commands_refuse_to_run_k_times(layers, tmp_path):
    proc = mpi_sublens(2, "cka", layers, layers)
    assert proc.returncode == 2
    assert "only `sublens ssc` splits its work" in proc.stderr
    assert proc.stderr.count("error:") == 1


def test_usage_errors_are_printed_once(layers):
    proc = mpi_sublens(3, "ssc", layers)  # -o missing
    assert proc.returncode == 2
    assert proc.stderr.count("-o") >= 1 and proc.stderr.count("is required") == 1, proc.stderr
