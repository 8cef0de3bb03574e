"""`sublens study` under mpirun (Open MPI from Debian): the work is shared among the processes in
rounds (training and capture per network, SSC graphs and their measures per network and epoch,
the other measures per network; each process takes the next task not yet taken and runs its
steps into the shared folder), and rank 0 reads every variant back from the step records and
writes the tables, study.json and the report: the tables must be byte-identical to a single
process's. A killed mpirun resumes with any
number of processes, recomputing nothing that finished; a step that rejects its input stops every
process with exit 2 and its one error line.

Three tiny recorded runs (test_study_runs.py's networks, PyTorch on CPU), one thread per process,
oversubscribed on this 2-core machine; `--allow-run-as-root` because CI runs as root.
"""
import json
import shutil
import subprocess

import pytest

from conftest import BIN

pytest.importorskip("torch")
import test_study_runs as runs  # noqa: E402  (the recorded networks)

MPIRUN = shutil.which("mpirun")
LAUNCH = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
TABLES = ("variants.csv", "modularity.csv", "dynamics.csv", "heatmaps.csv", "block-diagonal.csv",
          "nmf.csv", "replicates.csv")
pytestmark = pytest.mark.skipif(MPIRUN is None, reason="mpirun not found (scripts/bootstrap)")


def study_args(folder, out):
    return ["--quiet", "study", *(a for n in ("a", "b", "c") for a in ("--run", folder / n)),
            "-o", out, "--threads", "1", "--no-figures"]


def mpi_study(processes, folder, out):
    return subprocess.run([*LAUNCH, "-np", str(processes), BIN, *map(str, study_args(folder, out))],
                          capture_output=True, text=True, timeout=600, env=runs.NO_TORCH)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recorded")
    for name, depth, seed in (("a", 2, 0), ("b", 3, 1), ("c", 2, 2)):
        runs.train_and_record(folder / name, depth=depth, seed=seed)
    out = folder / "single"
    proc = subprocess.run([BIN, *map(str, study_args(folder, out))], capture_output=True, text=True,
                          timeout=600, env=runs.NO_TORCH)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder, out, json.loads(proc.stdout)


def assert_same_tables(out, reference):
    for name in TABLES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_shared_study_writes_the_single_process_tables(single, tmp_path, processes):
    folder, reference, summary = single
    out = tmp_path / "shared"
    proc = mpi_study(processes, folder, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1  # printed once, by rank 0
    shared = json.loads(lines[0])
    assert shared.get("processes", 1) == processes  # one process: the plain study
    assert shared["steps_run"] == summary["steps_run"] and shared["steps_skipped"] == 0
    assert_same_tables(out, reference)
    # study.json too, but for the run folders' paths, which are relative to the output folder.
    study, expected = (json.loads((d / "study.json").read_text()) for d in (out, reference))
    for variant in study["variants"] + expected["variants"]:
        variant.pop("run")
    assert study == expected


def test_one_network_shares_its_epochs(single, tmp_path):
    # A single network's analysed epochs are tasks of their own (SSC graphs and their measures).
    folder, _, _ = single
    args = ["--quiet", "study", "--run", folder / "b", "--threads", "1", "--no-figures", "-o"]
    alone = subprocess.run([BIN, *map(str, args + [tmp_path / "one"])], capture_output=True,
                           text=True, timeout=600, env=runs.NO_TORCH)
    shared = subprocess.run([*LAUNCH, "-np", "2", BIN, *map(str, args + [tmp_path / "two"])],
                            capture_output=True, text=True, timeout=600, env=runs.NO_TORCH)
    assert alone.returncode == 0 and shared.returncode == 0, shared.stderr[-3000:]
    assert json.loads(shared.stdout)["processes"] == 2
    assert_same_tables(tmp_path / "two", tmp_path / "one")


def test_killed_mpirun_resumes_with_another_process_count(single, tmp_path):
    folder, reference, summary = single
    out = tmp_path / "shared"
    finished = runs.kill_after_steps([*LAUNCH, "-np", "2", BIN, *study_args(folder, out)], out, 12)
    resumed = mpi_study(3, folder, out)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    counts = json.loads(resumed.stdout)
    assert counts["steps_skipped"] >= len(finished)
    assert counts["steps_run"] + counts["steps_skipped"] == summary["steps_run"]
    for path, mtime in finished.items():
        assert path.stat().st_mtime_ns == mtime, f"{path.name} ran again"
    assert_same_tables(out, reference)
    # And once more in one process: everything is done.
    again = subprocess.run([BIN, *map(str, study_args(folder, out))], capture_output=True,
                           text=True, timeout=600, env=runs.NO_TORCH)
    assert again.returncode == 0 and json.loads(again.stdout)["steps_run"] == 0


def test_a_step_that_rejects_its_input_stops_every_process_with_one_line(single, tmp_path):
    folder, _, _ = single
    bad = tmp_path / "runs"
    shutil.copytree(folder / "a", bad / "a")
    shutil.copytree(folder / "c", bad / "c")
    # Run b with a layer that is all zeros at epoch 2: its SSC graph has no edges, and the
    # modularity step rejects it (exit 2) while another process works on another run.
    shutil.copytree(folder / "b", bad / "b")
    arrays = runs.read_safetensors(bad / "b" / "epoch-0002.safetensors")
    arrays = {name: array.copy() for name, array in arrays.items()}
    arrays["block1"][:] = 0
    runs.write_safetensors(bad / "b" / "epoch-0002.safetensors", arrays)
    proc = mpi_study(2, bad, tmp_path / "out")
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "sublens modularity: error:" in errors[0], proc.stderr
    assert "no edges" in errors[0]
    assert "MPI_ABORT" not in proc.stderr and proc.stdout == ""
