"""sublens under mpirun (Open MPI from Debian): `ssc` splits the columns of each solve over the
processes, `cka-matrix` its pairs of layers and `factorize` its fits; rank 0 writes exactly what a
single process writes and prints the JSON once. The generic pieces (sublens::dist's work queue,
global counter, broadcast, gather, child environment, stopping every process on an error) run
under mpirun as the gtest binary sublens_dist_test.

The runs are oversubscribed with one thread per process (this 2-core machine runs 3 processes);
`--allow-run-as-root` because CI runs as root. The single-process run is the reference: the
arrays must be equal bit for bit (the Gram route's per-column work does not depend on which
process solves a column), and the objective and the KKT figure equal.
"""
import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

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
    assert "only cka-matrix, factorize, ssc, study split their work" in proc.stderr
    assert proc.stderr.count("error:") == 1


def test_usage_errors_are_printed_once(layers):
    proc = mpi_sublens(3, "ssc", layers)  # -o missing
    assert proc.returncode == 2
    assert proc.stderr.count("-o") >= 1 and proc.stderr.count("is required") == 1, proc.stderr


# ---- the generic pieces (src/dist/dist_test.cpp) under mpirun ------------------------------------

DIST_TEST = Path(BIN).parent / "sublens_dist_test"
needs_dist_test = pytest.mark.skipif(not DIST_TEST.exists(), reason="built without tests")


@needs_dist_test
@pytest.mark.parametrize("processes", [1, 2, 3])
def test_dist_pieces_under_mpirun(processes):
    proc = subprocess.run([*LAUNCH, "-np", str(processes), DIST_TEST], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "[  PASSED  ]" in proc.stdout and "FAILED" not in proc.stdout


@needs_dist_test
@pytest.mark.parametrize("how", ["abort", "settle"])
def test_an_error_on_one_process_stops_all_with_its_code_printed_once(how):
    # Rank 1 meets bad input after taking a task while ranks 0 and 2 keep taking tasks (2^40 of
    # them). abort: MPI_Abort stops them all at once; settle: the queue is stopped, every process
    # finishes its task and they exit together without MPI_Abort. mpirun exits 2 either way and
    # the error is printed once.
    proc = subprocess.run([*LAUNCH, "-np", "3", DIST_TEST, f"--{how}-test"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("sublens_dist_test: error:")]
    assert errors == ["sublens_dist_test: error: layer x: bad input met by rank 1"], proc.stderr
    if how == "settle":  # (Open MPI's MPI_ABORT notice is not always printed before it kills)
        assert "MPI_ABORT" not in proc.stderr, proc.stderr


# ---- cka-matrix: pairs of layers over the processes --------------------------------------------

@pytest.fixture(scope="module")
def graph_folder(tmp_path_factory):
    """Seven layers' SSC graphs (network order in layers.json) and their activations."""
    rng = np.random.default_rng(11)
    n = 240
    acts = {f"layer{i}": np.maximum(rng.standard_normal((n, 6 + 3 * i)) @ rng.standard_normal((6 + 3 * i, 20)), 0)
            .astype(np.float32) for i in range(7)}
    folder = tmp_path_factory.mktemp("cka")
    np.savez(folder / "acts.npz", **acts)
    run_sublens("ssc", folder / "acts.npz", "--all-layers", "-o", folder / "graphs", "--threads", "1", check=True)
    return folder


def same_bytes(a, b):
    return Path(a).read_bytes() == Path(b).read_bytes()


@pytest.mark.parametrize("processes", [1, 2, 3])
@pytest.mark.parametrize("kind", ["graph", "linear", "rbf"])
def test_cka_matrix_split_equals_single_process_byte_for_byte(graph_folder, tmp_path, processes, kind):
    source = graph_folder / ("graphs" if kind == "graph" else "acts.npz")
    args = ["cka-matrix", source, "--kind", kind, "--threads", "1"]
    single = run_sublens(*args, "-o", tmp_path / "one.npy", check=True)
    split = mpi_sublens(processes, *args, "-o", tmp_path / "many.npy")
    assert split.returncode == 0, split.stderr
    assert parse_json_lines(split.stdout) == [{**parse_json_lines(single.stdout)[0],
                                               "output": str(tmp_path / "many.npy"),
                                               "csv": str(tmp_path / "many.csv")}]  # printed once
    assert same_bytes(tmp_path / "one.npy", tmp_path / "many.npy")
    assert same_bytes(tmp_path / "one.csv", tmp_path / "many.csv")
    assert np.load(tmp_path / "many.npy").shape == (7, 7)


def test_cka_matrix_a_by_b_split_equals_single_process(graph_folder, tmp_path):
    args = ["cka-matrix", graph_folder / "graphs", graph_folder / "graphs", "--layers", "layer1,layer2,layer3",
            "--estimator", "unbiased", "--threads", "1"]
    run_sublens(*args, "-o", tmp_path / "one.npy", check=True)
    split = mpi_sublens(3, *args, "-o", tmp_path / "many.npy")
    assert split.returncode == 0, split.stderr
    assert same_bytes(tmp_path / "one.npy", tmp_path / "many.npy")
    assert same_bytes(tmp_path / "one.csv", tmp_path / "many.csv")


def test_cka_matrix_bad_input_under_mpirun_fails_once(graph_folder, tmp_path):
    proc = mpi_sublens(3, "cka-matrix", graph_folder / "graphs", "--layers", "nope", "-o", tmp_path / "m.npy")
    assert proc.returncode == 2
    assert proc.stderr.count("error:") == 1 and "nope" in proc.stderr, proc.stderr
    assert not (tmp_path / "m.npy").exists()


# ---- factorize: the fits of a rank sweep over the processes ------------------------------------

@pytest.fixture(scope="module")
def nmf_inputs(tmp_path_factory):
    rng = np.random.default_rng(5)
    n = 120
    f = rng.random((n, 3))
    images = (255 * np.clip(f @ rng.random((3, 64)) / 3, 0, 1)).astype(np.uint8).reshape(n, 8, 8)
    acts = (f @ rng.random((3, 25))).astype(np.float32)
    folder = tmp_path_factory.mktemp("nmf")
    np.save(folder / "images.npy", images)
    np.save(folder / "acts.npy", acts)
    return folder


def without_timings(sweep_csv):
    rows = list(csv.DictReader(open(sweep_csv)))
    for row in rows:
        del row["seconds_mean"]
    return rows


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_factorize_sweep_split_equals_single_process(nmf_inputs, tmp_path, processes):
    args = ["factorize", "--inputs", nmf_inputs / "images.npy", "--acts", nmf_inputs / "acts.npy",
            "--ranks", "2,3,4", "--seeds", "2", "--solver", "hals", "--max-iter", "80", "--threads", "1"]
    single = run_sublens(*args, "-o", tmp_path / "one", check=True)
    split = mpi_sublens(processes, *args, "-o", tmp_path / "many")
    assert split.returncode == 0, split.stderr
    [one], [many] = parse_json_lines(single.stdout), parse_json_lines(split.stdout)  # printed once
    for row in one["ranks"] + many["ranks"]:
        del row["seconds_mean"]
    assert many["ranks"] == one["ranks"]
    assert without_timings(tmp_path / "many" / "sweep.csv") == without_timings(tmp_path / "one" / "sweep.csv")
    names = sorted(str(p.relative_to(tmp_path / "one")) for p in (tmp_path / "one").rglob("*"))
    assert names == sorted(str(p.relative_to(tmp_path / "many")) for p in (tmp_path / "many").rglob("*"))
    for name in names:
        if name.endswith((".npy", ".png")):
            assert same_bytes(tmp_path / "one" / name, tmp_path / "many" / name), name
