"""End-to-end tests of `sublens ssc`, checked with numpy/scipy (independent of the C++ solver).

The optimality conditions of every column are recomputed here from their definition:
g = tau X^T (X c - x_i) (papers' X: d x N), |g_j| <= 1 off the support, g_j = -sign(c_j) on it.
"""
import gzip
import json
import os

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import assert_bad_input

# Solver tolerance passed on the command line, and the slack allowed on top of it when the
# conditions are recomputed in numpy (different summation order).
TOL = 1e-8
KKT_SLACK = 1e-7
FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def union_of_subspaces(groups=3, dim=3, per_group=20, d=16, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(groups):
        basis = rng.standard_normal((d, dim))
        rows.append((basis @ rng.standard_normal((dim, per_group))).T)
    x = np.vstack(rows) + noise * rng.standard_normal((groups * per_group, d))
    return x


def prepared(x, normalize="l2"):
    x = np.asarray(x, dtype=np.float64)
    if normalize == "l2":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = np.where(norms > 0, x / np.where(norms > 0, norms, 1), 0)
    return x


def kkt_and_objective(x, c, tau):
    """Largest optimality violation over all columns, and the objective of eq. 2."""
    xp = x.T  # d x N
    c = c.toarray()
    residual = xp @ c - xp
    g = tau * xp.T @ residual
    n = c.shape[0]
    on = c != 0
    off = ~on & ~np.eye(n, dtype=bool)
    worst = 0.0
    if on.any():
        worst = max(worst, np.abs(g[on] + np.sign(c[on])).max())
    if off.any():
        worst = max(worst, (np.abs(g[off]) - 1).max())
    objective = np.abs(c).sum() + tau / 2 * (residual ** 2).sum()
    return worst, objective


def test_single_layer_outputs_and_optimality(tmp_path, sublens_json):
    x = union_of_subspaces()
    np.save(tmp_path / "acts.npy", x.astype(np.float32))
    w_path, c_path = tmp_path / "w.npz", tmp_path / "c.npz"

    row = sublens_json("ssc", tmp_path / "acts.npy", "-o", w_path, "--coef-out", c_path,
                       "--tol", TOL, "--threads", 2)

    w, c = sp.load_npz(w_path), sp.load_npz(c_path)
    assert w.shape == c.shape == (60, 60)
    assert row["layer"] == "acts" and row["n"] == 60 and row["d"] == 16
    assert row["solver"] == "lasso" and row["converged"] is True
    assert row["nnz"] == c.nnz and row["kkt_violation"] <= TOL
    assert np.all(c.diagonal() == 0) and np.all(w.diagonal() == 0)
    assert abs(w - w.T).max() == 0
    assert abs(w - (abs(c) + abs(c).T)).max() <= 1e-15
    worst, objective = kkt_and_objective(prepared(x.astype(np.float32)), c, 10.0)
    assert worst <= TOL + KKT_SLACK
    assert objective == pytest.approx(row["objective"], rel=1e-10)


def test_admm_and_lasso_reach_the_same_optimum(tmp_path, sublens_json):
    x = union_of_subspaces(per_group=15, d=10, seed=1)
    np.save(tmp_path / "acts.npy", x)

    lasso = sublens_json("ssc", tmp_path / "acts.npy", "-o", tmp_path / "w1.npz", "--coef-out",
                         tmp_path / "c1.npz", "--tol", TOL)
    admm = sublens_json("ssc", tmp_path / "acts.npy", "-o", tmp_path / "w2.npz", "--coef-out",
                        tmp_path / "c2.npz", "--solver", "admm", "--tol", 1e-11,
                        "--max-iter", 100000)

    assert admm["solver"] == "admm" and admm["converged"] is True
    assert admm["objective"] == pytest.approx(lasso["objective"], rel=1e-6)
    c1, c2 = sp.load_npz(tmp_path / "c1.npz").toarray(), sp.load_npz(tmp_path / "c2.npz").toarray()
    assert np.abs(c1 - c2).max() < 1e-4
    assert np.array_equal(np.abs(c1) > 1e-5, np.abs(c2) > 1e-5)


@pytest.mark.skipif(not os.path.exists(FMNIST), reason="Debian dataset-fashion-mnist not installed")
def test_fashion_mnist_pixels(tmp_path, sublens_json):
    with gzip.open(FMNIST) as f:
        data = f.read(16 + 300 * 784)
    pixels = np.frombuffer(data[16:], dtype=np.uint8).reshape(300, 784)
    np.save(tmp_path / "pixels.npy", pixels.astype(np.float32) / 255)

    row = sublens_json("ssc", tmp_path / "pixels.npy", "-o", tmp_path / "w.npz", "--coef-out",
                       tmp_path / "c.npz", "--tol", TOL, "--tau", 20)

    c = sp.load_npz(tmp_path / "c.npz")
    worst, objective = kkt_and_objective(prepared(pixels.astype(np.float32) / 255), c, 20.0)
    assert worst <= TOL + KKT_SLACK
    assert objective == pytest.approx(row["objective"], rel=1e-10)
    assert 0 < row["nnz"] < 300 * 299 / 4  # sparse


def test_relative_tau_and_no_normalisation(tmp_path, sublens_json):
    x = 5.0 * union_of_subspaces(seed=2)
    np.save(tmp_path / "acts.npy", x)

    row = sublens_json("ssc", tmp_path / "acts.npy", "-o", tmp_path / "w.npz", "--coef-out",
                       tmp_path / "c.npz", "--tau-mode", "relative", "--tau", 20, "--normalize",
                       "none", "--tol", TOL)

    gram = np.abs(x @ x.T)
    np.fill_diagonal(gram, 0)
    assert row["tau"] == pytest.approx(20 / gram.max(axis=1).min(), rel=1e-12)
    worst, _ = kkt_and_objective(x, sp.load_npz(tmp_path / "c.npz"), row["tau"])
    assert worst <= TOL + KKT_SLACK


def test_several_layers_write_a_folder(tmp_path, sublens):
    x = union_of_subspaces(seed=3)
    np.savez(tmp_path / "acts.npz", first=x, second=x[:, :8], third=np.abs(x))
    out = tmp_path / "graphs"

    proc = sublens("ssc", tmp_path / "acts.npz", "--all-layers", "-o", out, "--coef-out",
                   tmp_path / "coefs", check=True)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    picked = sublens("ssc", tmp_path / "acts.npz", "--layer", "third", "--layer", "first", "-o",
                     tmp_path / "picked", check=True)

    assert [r["layer"] for r in rows] == ["first", "second", "third"]
    assert [r["d"] for r in rows] == [16, 8, 16]
    for r in rows:
        w = sp.load_npz(out / f"{r['layer']}.npz")
        c = sp.load_npz(tmp_path / "coefs" / f"{r['layer']}.npz")
        assert w.nnz == (abs(c) + abs(c).T).nnz
    assert sorted(os.listdir(tmp_path / "picked")) == ["first.npz", "layers.json", "third.npz"]
    assert json.loads((tmp_path / "picked" / "layers.json").read_text())["layers"] == [
        "third", "first"]  # the order asked for
    assert [json.loads(line)["layer"] for line in picked.stdout.splitlines()] == ["third", "first"]


def test_edges_zero_input_and_duplicates(tmp_path, sublens_json):
    x = union_of_subspaces(per_group=8, seed=4)
    x[3] = 0.0
    x[5] = x[6]
    np.save(tmp_path / "acts.npy", x)

    row = sublens_json("ssc", tmp_path / "acts.npy", "-o", tmp_path / "w.npz", "--coef-out",
                       tmp_path / "c.npz", "--tol", TOL)

    c = sp.load_npz(tmp_path / "c.npz").toarray()
    assert np.isfinite(c).all() and row["converged"] is True
    assert not c[3].any() and not c[:, 3].any()


def test_one_input_and_small_tau(tmp_path, sublens_json):
    np.save(tmp_path / "one.npy", np.ones((1, 4)))
    np.save(tmp_path / "acts.npy", union_of_subspaces(seed=5))

    one = sublens_json("ssc", tmp_path / "one.npy", "-o", tmp_path / "w1.npz")
    small = sublens_json("ssc", tmp_path / "acts.npy", "-o", tmp_path / "w2.npz", "--tau", 0.5)

    assert one["n"] == 1 and one["nnz"] == 0 and sp.load_npz(tmp_path / "w1.npz").shape == (1, 1)
    assert small["nnz"] == 0 and small["objective"] == pytest.approx(0.5 / 2 * 60)


@pytest.mark.parametrize("args,fragment", [
    (["--tau", "0"], "tau must be finite and > 0"),
    (["--tau", "-1"], "tau must be finite and > 0"),
    (["--tau", "nan"], "tau"),
    (["--mu", "0"], "mu must be finite and > 0"),
    (["--tol", "0"], "tolerance"),
    (["--max-iter", "0"], "max_iterations"),
    (["--solver", "fista"], "solver must be one of auto, admm, lasso"),
    (["--normalize", "l1"], "--normalize must be l2 or none"),
    (["--tau-mode", "scaled"], "--tau-mode must be absolute or relative"),
])
def test_bad_options(tmp_path, sublens, args, fragment):
    np.save(tmp_path / "acts.npy", union_of_subspaces(seed=6))
    out = tmp_path / "w.npz"

    proc = sublens("ssc", tmp_path / "acts.npy", "-o", out, *args)

    assert_bad_input(proc, fragment, outputs=[out])


def test_bad_inputs(tmp_path, sublens):
    x = union_of_subspaces(seed=7)
    bad = x.copy()
    bad[4, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    np.savez(tmp_path / "two.npz", a=x, b=x)
    out = tmp_path / "w.npz"

    assert_bad_input(sublens("ssc", tmp_path / "nan.npy", "-o", out), "nan.npy", outputs=[out])
    assert_bad_input(sublens("ssc", tmp_path / "two.npz", "-o", out), "--all-layers",
                     outputs=[out])
    assert_bad_input(sublens("ssc", tmp_path / "two.npz", "--layer", "zz", "-o", out), "zz",
                     outputs=[out])
    assert_bad_input(sublens("ssc", tmp_path / "missing.npy", "-o", out), "missing.npy",
                     outputs=[out])
    assert_bad_input(sublens("ssc", tmp_path / "two.npz", "--all-layers", "-o",
                             tmp_path / "no" / "dir"), "does not exist")
