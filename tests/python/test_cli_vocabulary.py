"""One CLI vocabulary (issue 15): `--layers NAME|GLOB[,...]` (repeatable) in every command that
picks layers, with the old spellings (`--layer`, `--layer-a/-b`, `--layers a b`) still working and
saying so once on stderr; global options (-q, --threads) after the command; parse errors with the
`sublens <command>: error:` prefix and exit code 2; messages that name what a graph command
expects, and warnings for 1-based or gapped labels.

CKA values are checked against NumPy's linear CKA, singular values against numpy.linalg.svd.
"""
import json
import subprocess

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import BIN, assert_bad_input, parse_json_lines

TOL = 1e-9  # CKA / singular values: float64 results of identical formulas, O(N d) sums
LAYERS = {"block1": 6, "block2": 5, "head": 4}  # name -> d, in file order
N = 30


def run_raw(*args):
    """The CLI without conftest's leading --quiet (to place global options ourselves)."""
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=120)


def stderr_lines(proc):
    return [line for line in proc.stderr.splitlines() if line.strip()]


def linear_cka(x, y):
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


@pytest.fixture
def acts(tmp_path):
    rng = np.random.default_rng(15)
    layers = {name: rng.standard_normal((N, d)) for name, d in LAYERS.items()}
    np.savez(tmp_path / "acts.npz", **layers)
    return tmp_path / "acts.npz", layers


@pytest.fixture
def graph(tmp_path):
    rng = np.random.default_rng(3)
    dense = np.abs(rng.standard_normal((N, N))) * (rng.random((N, N)) < 0.3)
    dense = dense + dense.T
    np.fill_diagonal(dense, 0.0)
    sp.save_npz(tmp_path / "w.npz", sp.csr_matrix(dense))
    return tmp_path / "w.npz"


# ---- one layer flag, one syntax ----------------------------------------------------------------

NEW_SPELLINGS = {
    "comma": ["--layers", "head,block1"],
    "repeated": ["--layers", "head", "--layers", "block1"],
    "equals": ["--layers=head,block1"],
}
OLD_SPELLINGS = {
    "singular": (["--layer", "head", "--layer", "block1"], "'--layer'"),
    "space-separated": (["--layers", "head", "block1"], "'--layers head block1'"),
}


@pytest.mark.parametrize("spelling", NEW_SPELLINGS, ids=list(NEW_SPELLINGS))
def test_cka_matrix_layers_in_the_new_spellings(sublens, acts, tmp_path, spelling):
    path, layers = acts
    out = tmp_path / "m.npy"

    proc = sublens("cka-matrix", path, *NEW_SPELLINGS[spelling], "-o", out, check=True)

    summary = parse_json_lines(proc.stdout)[0]
    assert summary["rows"] == ["head", "block1"]
    assert proc.stderr == ""
    expected = [[linear_cka(layers[a], layers[b]) for b in ("head", "block1")]
                for a in ("head", "block1")]
    np.testing.assert_allclose(np.load(out), expected, atol=TOL)


@pytest.mark.parametrize("spelling", OLD_SPELLINGS, ids=list(OLD_SPELLINGS))
def test_old_layer_spellings_still_work_with_one_deprecation_line(sublens, acts, tmp_path,
                                                                  spelling):
    path, _ = acts
    args, quoted = OLD_SPELLINGS[spelling]

    proc = sublens("cka-matrix", path, *args, "-o", tmp_path / "m.npy", check=True)

    assert parse_json_lines(proc.stdout)[0]["rows"] == ["head", "block1"]
    lines = stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("sublens cka-matrix: warning: ")
    assert quoted in lines[0] and "deprecated" in lines[0] and "--layers" in lines[0]


def test_ssc_old_and_new_layer_flags_give_the_same_graph(sublens, acts, tmp_path):
    path, _ = acts

    old = sublens("ssc", path, "--layer", "block2", "-o", tmp_path / "old.npz", check=True)
    new = sublens("ssc", path, "--layers", "block2", "-o", tmp_path / "new.npz", check=True)

    assert "deprecated" in old.stderr and new.stderr == ""
    a, b = sp.load_npz(tmp_path / "old.npz"), sp.load_npz(tmp_path / "new.npz")
    assert a.shape == (N, N) and (a != b).nnz == 0


def test_a_glob_selects_every_matching_layer_in_file_order(sublens, acts, tmp_path):
    path, layers = acts

    ssc = sublens("ssc", path, "--layers", "block*", "-o", tmp_path / "graphs", check=True)
    matrix = sublens("cka-matrix", path, "--layers", "head", "--layers", "block?",
                     "-o", tmp_path / "m.npy", check=True)

    assert [row["layer"] for row in parse_json_lines(ssc.stdout)] == ["block1", "block2"]
    assert sorted(p.name for p in (tmp_path / "graphs").glob("*.npz")) == ["block1.npz",
                                                                          "block2.npz"]
    assert parse_json_lines(matrix.stdout)[0]["rows"] == ["head", "block1", "block2"]


def test_spectrum_takes_comma_separated_globs(sublens, acts, tmp_path):
    path, layers = acts

    proc = sublens("spectrum", path, "--layers", "he*,block2", "-k", "3", "-o", tmp_path / "s",
                   check=True)

    assert [row["layer"] for row in json.loads(proc.stdout)["layers"]] == ["head", "block2"]
    for name in ("head", "block2"):
        expected = np.linalg.svd(layers[name], compute_uv=False)[:3]
        np.testing.assert_allclose(np.load(tmp_path / "s" / f"spectrum_{name}.npy"), expected,
                                   rtol=TOL)


def test_factorize_takes_the_same_layer_syntax(sublens, acts, tmp_path):
    path, layers = acts
    np.savez(tmp_path / "pos.npz", **{k: np.abs(v) for k, v in layers.items()})

    proc = sublens("factorize", "--acts", tmp_path / "pos.npz", "--layers", "block*",
                   "--ranks", "2", "--seeds", "1", "--max-iter", "5", "--no-latent",
                   "-o", tmp_path / "nmf", check=True)

    assert proc.stderr == ""
    assert (tmp_path / "nmf" / "sweep.csv").exists()
    bad = sublens("factorize", "--acts", tmp_path / "pos.npz", "--layers", "nope*",
                  "--ranks", "2", "-o", tmp_path / "nmf2")
    assert_bad_input(bad, "pos.npz", "nope*", "block1, block2, head", outputs=[tmp_path / "nmf2"])


def test_cka_layers_apply_to_both_operands_or_per_operand(sublens_json, sublens, acts, tmp_path):
    path, layers = acts

    both = sublens_json("cka", path, path, "--layers", "block2")
    per_operand = sublens_json("cka", path, path, "--layers-a", "block1", "--layers-b", "he*")
    old = sublens("cka", path, path, "--layer-a", "block1", "--layer-b", "head", check=True)

    assert both["cka"] == pytest.approx(1.0, abs=TOL)
    assert (per_operand["layer_a"], per_operand["layer_b"]) == ("block1", "head")
    assert per_operand["cka"] == pytest.approx(linear_cka(layers["block1"], layers["head"]),
                                               abs=TOL)
    assert json.loads(old.stdout)["cka"] == pytest.approx(per_operand["cka"], abs=TOL)
    warnings = stderr_lines(old)
    assert len(warnings) == 2 and all("deprecated" in line for line in warnings), old.stderr
    assert "'--layer-a'" in warnings[0] and "'--layers-a'" in warnings[0]


def test_cka_glob_matching_several_layers_names_them(sublens, acts):
    path, _ = acts

    assert_bad_input(sublens("cka", path, path, "--layers", "block*"),
                     "sublens cka: error:", "--layers", "block1, block2")
    assert_bad_input(sublens("cka", path, path, "--layers", "nope"),
                     "'nope'", "matches no layer", "block1, block2, head")


def test_a_failing_command_prints_only_its_error_not_the_deprecation(sublens, acts, tmp_path):
    path, _ = acts
    out = tmp_path / "w.npz"

    assert_bad_input(sublens("ssc", path, "--layer", "zz", "-o", out), "zz", outputs=[out])


# ---- global options after the command --------------------------------------------------------

def test_quiet_is_accepted_after_the_command(acts, tmp_path):
    path, _ = acts
    args = ["ssc", path, "--layers", "block1,block2", "-o"]

    loud = run_raw(*args, tmp_path / "loud")
    quiet_after = run_raw(*args, tmp_path / "after", "-q")
    quiet_long = run_raw(*args, tmp_path / "long", "--quiet")

    assert loud.returncode == 0 and "ssc: layer block1" in loud.stderr
    for proc in (quiet_after, quiet_long):
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        assert [r["layer"] for r in parse_json_lines(proc.stdout)] == ["block1", "block2"]


def test_threads_before_or_after_the_command(acts, tmp_path):
    path, _ = acts

    before = run_raw("-q", "--threads", "1", "ssc", path, "--layers", "head", "-o",
                     tmp_path / "a.npz")
    after = run_raw("ssc", path, "--layers", "head", "-o", tmp_path / "b.npz", "--threads", "1",
                    "-q")

    assert before.returncode == 0 and after.returncode == 0, (before.stderr, after.stderr)
    assert parse_json_lines(before.stdout)[0]["layer"] == "head"


def test_threads_is_refused_where_it_does_not_apply(graph, tmp_path):
    np.save(tmp_path / "labels.npy", np.arange(N) % 3)

    for args in (["--threads", "2", "modularity", graph, "--labels", tmp_path / "labels.npy"],
                 ["modularity", graph, "--labels", tmp_path / "labels.npy", "--threads", "2"]):
        assert_bad_input(run_raw(*args), "sublens modularity: error:", "--threads",
                         "does not apply")


# ---- parse errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    (["ssc", "ACTS", "-o", "w.npz", "--bogus"], "--bogus"),
    (["ssc", "ACTS"], "--output is required"),
    (["cka-matrix", "ACTS", "--layers"], "--layers"),
    (["modularity", "W", "--labels"], "--labels"),
    (["cluster", "W", "-k", "two", "-o", "c.npy"], "two"),
])
def test_parse_errors_carry_the_command_prefix_and_exit_2(sublens, acts, graph, tmp_path, args,
                                                          fragment):
    path, _ = acts
    args = [path if a == "ACTS" else graph if a == "W" else a for a in args]
    command = args[0]

    assert_bad_input(sublens(*args), f"sublens {command}: error:", fragment)


def test_parse_errors_without_a_command_have_the_program_prefix(sublens):
    assert_bad_input(sublens("--bogus"), "sublens: error:", "'--bogus'", "ssc, ssc-labels")
    assert_bad_input(sublens("sscc"), "sublens: error:", "'sscc'", "commands:")


def test_help_still_exits_0(sublens):
    proc = sublens("ssc", "--help")

    assert proc.returncode == 0 and "--layers" in proc.stdout
    assert "--layer " not in proc.stdout  # the deprecated alias is not advertised


def test_unknown_cka_names_list_the_allowed_values(sublens, acts):
    path, _ = acts

    assert_bad_input(sublens("cka", path, path, "--kind", "bogus"), "sublens cka: error:",
                     "auto, graph, linear, rbf", "'bogus'")
    assert_bad_input(sublens("cka-matrix", path, "--kind", "graf", "-o", "m.npy"),
                     "auto, graph, linear, rbf")
    assert_bad_input(sublens("cka", path, path, "--layers", "head", "--method", "fast"),
                     "auto, feature, gram")
    assert_bad_input(sublens("cka", path, path, "--layers", "head", "--estimator", "debiased"),
                     "biased, unbiased")


# ---- messages that teach ---------------------------------------------------------------------

GRAPH_COMMANDS = {
    "modularity": ["--labels", "LABELS"],
    "ssc-labels": ["--labels", "LABELS"],
    "neighbors": ["--labels", "LABELS", "--index", "0"],
    "embed": ["-k", "2", "-o", "OUT"],
    "cluster": ["-k", "2", "-o", "OUT"],
}


@pytest.mark.parametrize("command", GRAPH_COMMANDS)
@pytest.mark.parametrize("given", ["acts.npz", "dense.npy"])
def test_graph_commands_given_activations_ask_for_an_ssc_graph(sublens, acts, tmp_path, command,
                                                               given):
    path, layers = acts
    np.save(tmp_path / "dense.npy", layers["head"])
    np.save(tmp_path / "labels.npy", np.arange(N) % 3)
    out = tmp_path / "out.npy"
    extra = [tmp_path / "labels.npy" if a == "LABELS" else out if a == "OUT" else a
             for a in GRAPH_COMMANDS[command]]

    proc = sublens(command, tmp_path / given, *extra)

    assert_bad_input(proc, f"sublens {command}: error:", given, "affinity graph",
                     "sublens ssc", outputs=[out])
    assert "zip" not in proc.stderr


def test_cka_matrix_of_graphs_given_activations_asks_for_an_ssc_graph(sublens, acts, tmp_path):
    path, _ = acts
    out = tmp_path / "m.npy"

    assert_bad_input(sublens("cka-matrix", path, "--kind", "graph", "-o", out),
                     "acts.npz", "affinity graph", "sublens ssc", outputs=[out])


def test_one_based_labels_warn(sublens, graph, tmp_path):
    np.save(tmp_path / "labels.npy", np.arange(N) % 10 + 1)  # classes 1..10

    proc = sublens("ssc-labels", graph, "--labels", tmp_path / "labels.npy", check=True)

    assert json.loads(proc.stdout)["n_classes"] == 11
    lines = stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("sublens ssc-labels: warning: ")
    assert "1-based" in lines[0] and "n_classes 11" in lines[0] and "labels.npy" in lines[0]


def test_gapped_labels_warn_and_name_the_missing_classes(sublens, graph, tmp_path):
    np.save(tmp_path / "labels.npy", (np.arange(N) % 3) * 2)  # classes 0, 2, 4

    proc = sublens("neighbors", graph, "--labels", tmp_path / "labels.npy", "--index", "0",
                   check=True)

    assert len(json.loads(proc.stdout)["class_affinity"]) == 5
    lines = stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("sublens neighbors: warning: ")
    assert "gaps" in lines[0] and "no 1, 3" in lines[0] and "n_classes 5" in lines[0]


def test_contiguous_zero_based_labels_do_not_warn(sublens, graph, tmp_path):
    np.save(tmp_path / "labels.npy", np.arange(N) % 3)

    proc = sublens("ssc-labels", graph, "--labels", tmp_path / "labels.npy", check=True)

    assert proc.stderr == "" and json.loads(proc.stdout)["n_classes"] == 3


def test_labels_used_only_as_a_partition_do_not_warn(sublens, graph, tmp_path):
    np.save(tmp_path / "labels.npy", np.arange(N) % 10 + 1)  # renumbering changes nothing here

    proc = sublens("modularity", graph, "--labels", tmp_path / "labels.npy", check=True)

    assert proc.stderr == "" and json.loads(proc.stdout)["n_classes"] == 10


def test_libtorch_commands_pass_every_argument_through(tmp_path):
    """train/extract/models hand all their arguments, -q included, to sublens-torch."""
    fake = tmp_path / "fake-sublens-torch"
    fake.write_text('#!/bin/sh\nprintf \'%s\\n\' "$@"\n')
    fake.chmod(0o755)
    args = ["--model", "cnn2", "--layers", "pool1,pool2", "-q", "--threads", "2"]

    proc = subprocess.run([BIN, "models", *args], capture_output=True, text=True, timeout=60,
                          env={"SUBLENS_TORCH": str(fake), "PATH": "/usr/bin:/bin"})

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:-1] == ["models", *args]
