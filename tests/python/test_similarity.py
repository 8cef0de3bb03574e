"""End-to-end tests of `sublens cka` and `sublens cka-matrix` against NumPy transcriptions of the
CKA definitions (Kornblith et al. 2019 biased HSIC; Song et al. 2012 unbiased HSIC)."""
import csv
import os

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import assert_bad_input

TOL = 1e-9


# ---- NumPy references, written from the definitions ------------------------------------------
def hsic_biased(K, L):
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(K @ H @ L @ H) / (n - 1) ** 2


def hsic_unbiased(K, L):
    n = K.shape[0]
    Kt, Lt = K.copy(), L.copy()
    np.fill_diagonal(Kt, 0)
    np.fill_diagonal(Lt, 0)
    one = np.ones(n)
    return (np.trace(Kt @ Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ Kt @ Lt @ one) / (n * (n - 3))


HSIC = {"biased": hsic_biased, "unbiased": hsic_unbiased}


def cka(K, L, estimator):
    h = HSIC[estimator]
    return h(K, L) / np.sqrt(h(K, K) * h(L, L))


def gram_rbf(x, threshold=1.0):  # Kornblith et al.'s cka.py
    dot = x @ x.T
    sq = np.diag(dot)
    d2 = -2 * dot + sq[:, None] + sq[None, :]
    return np.exp(-d2 / (2 * threshold ** 2 * np.median(d2)))


def random_graph(rng, n, density=0.08):
    a = sp.random(n, n, density=density, random_state=rng, format="csr")
    a = a + a.T
    a = a - sp.diags(a.diagonal())
    a.eliminate_zeros()
    return a.tocsr()


@pytest.fixture
def graphs(tmp_path):
    rng = np.random.default_rng(0)
    paths, dense = [], []
    for i in range(3):
        g = random_graph(rng, 80)
        p = tmp_path / f"w{i}.npz"
        sp.save_npz(p, g)
        paths.append(p)
        dense.append(g.toarray())
    return paths, dense


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_graph_cka_matches_numpy(sublens_json, graphs, tmp_path, estimator):
    paths, dense = graphs

    out = sublens_json("cka", paths[0], paths[1], "--estimator", estimator)
    dense_path = tmp_path / "k.npy"
    np.save(dense_path, dense[0])
    out_dense = sublens_json("cka", dense_path, paths[1], "--kind", "graph", "--estimator", estimator)

    expected = cka(dense[0], dense[1], estimator)
    assert out["estimator"] == estimator and out["kind"] == "graph" and out["method"] == "sparse"
    assert out["cka"] == pytest.approx(expected, abs=TOL)
    assert out["hsic_ab"] == pytest.approx(HSIC[estimator](dense[0], dense[1]), abs=TOL)
    assert out_dense["method"] == "dense"
    assert out_dense["cka"] == pytest.approx(expected, abs=TOL)


def test_graph_cka_with_itself_is_one(sublens_json, graphs):
    paths, _ = graphs
    assert sublens_json("cka", paths[0], paths[0])["cka"] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
@pytest.mark.parametrize("method", ["feature", "gram"])
def test_linear_cka_matches_numpy(sublens_json, tmp_path, estimator, method):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(70, 12)).astype(np.float32)
    y = (x[:, :5] @ rng.normal(size=(5, 9)) + rng.normal(size=(70, 9))).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "y.npz", other=x, target=y)
    xd, yd = x.astype(np.float64), y.astype(np.float64)

    out = sublens_json("cka", tmp_path / "x.npy", tmp_path / "y.npz", "--layer-b", "target",
                       "--kind", "linear", "--estimator", estimator, "--method", method)

    assert out["method"] == method and out["estimator"] == estimator
    assert out["cka"] == pytest.approx(cka(xd @ xd.T, yd @ yd.T, estimator), abs=1e-8)


def test_linear_cka_feature_form_and_invariances(sublens_json, tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 6))
    y = x @ rng.normal(size=(6, 6)) + 0.5 * rng.normal(size=(60, 6))
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "yq.npy", 4.0 * y @ q)
    xc, yc = x - x.mean(0), y - y.mean(0)
    feature = np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))

    base = sublens_json("cka", tmp_path / "x.npy", tmp_path / "y.npy", "--kind", "linear")
    rotated = sublens_json("cka", tmp_path / "x.npy", tmp_path / "yq.npy", "--kind", "linear")

    assert base["cka"] == pytest.approx(feature, abs=1e-10)
    assert rotated["cka"] == pytest.approx(base["cka"], abs=1e-10)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_rbf_cka_matches_numpy(sublens_json, tmp_path, estimator):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 4))
    y = np.tanh(x @ rng.normal(size=(4, 7)))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)

    out = sublens_json("cka", tmp_path / "x.npy", tmp_path / "y.npy", "--kind", "rbf",
                       "--estimator", estimator)

    assert out["cka"] == pytest.approx(cka(gram_rbf(x), gram_rbf(y), estimator), abs=1e-9)


def test_cka_matrix_of_graph_folder(sublens_json, graphs, tmp_path):
    paths, dense = graphs
    folder = tmp_path / "layers"
    folder.mkdir()
    for name, p in zip(["block10", "block2", "block1"], paths):
        os.rename(p, folder / f"{name}.npz")
    by_name = dict(zip(["block10", "block2", "block1"], dense))

    out = sublens_json("cka-matrix", folder, "--estimator", "unbiased", "-o", tmp_path / "m.npy")
    matrix = np.load(tmp_path / "m.npy")
    with open(tmp_path / "m.csv") as f:
        rows = list(csv.reader(f))

    assert out["rows"] == ["block1", "block2", "block10"]  # natural order
    assert rows[0] == ["layer", "block1", "block2", "block10"]
    for i, a in enumerate(out["rows"]):
        for j, b in enumerate(out["cols"]):
            assert matrix[i, j] == pytest.approx(cka(by_name[a], by_name[b], "unbiased"), abs=TOL)
            assert float(rows[i + 1][j + 1]) == pytest.approx(matrix[i, j], abs=1e-15)


def test_cka_matrix_of_two_activation_files(sublens_json, tmp_path):
    rng = np.random.default_rng(4)
    a = {"l1": rng.normal(size=(40, 5)), "l2": rng.normal(size=(40, 30))}
    b = {"m1": rng.normal(size=(40, 3))}
    np.savez(tmp_path / "a.npz", **a)
    np.savez(tmp_path / "b.npz", **b)

    out = sublens_json("cka-matrix", tmp_path / "a.npz", tmp_path / "b.npz", "--kind", "linear",
                       "-o", tmp_path / "m.npy")
    matrix = np.load(tmp_path / "m.npy")

    assert matrix.shape == (2, 1) and out["rows"] == ["l1", "l2"] and out["cols"] == ["m1"]
    for i, name in enumerate(["l1", "l2"]):
        k, l = a[name] @ a[name].T, b["m1"] @ b["m1"].T
        assert matrix[i, 0] == pytest.approx(cka(k, l, "biased"), abs=1e-9)


def test_shape_mismatch_names_both_shapes(sublens, tmp_path):
    rng = np.random.default_rng(5)
    sp.save_npz(tmp_path / "k.npz", random_graph(rng, 50))
    sp.save_npz(tmp_path / "l.npz", random_graph(rng, 40))

    proc = sublens("cka", tmp_path / "k.npz", tmp_path / "l.npz")

    assert_bad_input(proc, "cka: K is 50 x 50 but L is 40 x 40")


def test_bad_estimator_and_asymmetric_graph(sublens, graphs, tmp_path):
    paths, _ = graphs
    asym = sp.csr_matrix(np.triu(np.ones((6, 6)), 1))
    sp.save_npz(tmp_path / "asym.npz", asym)

    assert_bad_input(sublens("cka", paths[0], paths[1], "--estimator", "debiased"), "biased")
    assert_bad_input(sublens("cka", tmp_path / "asym.npz", tmp_path / "asym.npz"), "symmetric")
    assert_bad_input(sublens("cka-matrix", paths[0], "-o", tmp_path / "no" / "m.npy"), "-o",
                     outputs=[tmp_path / "no" / "m.npy"])


def test_options_that_do_not_apply_to_the_kind_are_rejected(sublens, graphs, tmp_path):
    paths, _ = graphs
    out = tmp_path / "m.npy"

    assert_bad_input(sublens("cka", paths[0], paths[1], "--layer-a", "x"), "--layer-a", "graph")
    assert_bad_input(sublens("cka", paths[0], paths[1], "--method", "gram"), "--method", "graph")
    assert_bad_input(sublens("cka-matrix", paths[0], "--layer", "x", "-o", out), "--layer",
                     outputs=[out, tmp_path / "m.csv"])


def test_coo_graph_is_taken_as_a_graph(sublens_json, graphs, tmp_path):
    paths, dense = graphs
    sp.save_npz(tmp_path / "coo.npz", sp.coo_matrix(dense[0]))

    out = sublens_json("cka", tmp_path / "coo.npz", paths[1])

    assert out["kind"] == "graph"
    assert out["cka"] == pytest.approx(cka(dense[0], dense[1], "biased"), abs=TOL)


def test_layer_names_survive_the_graph_folder(sublens_json, tmp_path):
    # Names that are not file-name safe, and two that a naive '_' replacement would merge.
    rng = np.random.default_rng(3)
    names = ["block/1", "block_1", "..", "stage.2"]
    np.savez(tmp_path / "acts.npz", **{name: rng.normal(size=(40, 6 + i)) for i, name in enumerate(names)})

    sublens_json("ssc", tmp_path / "acts.npz", "--all-layers", "-o", tmp_path / "graphs")
    out = sublens_json("cka-matrix", tmp_path / "graphs", "-o", tmp_path / "m.npy")
    direct = sublens_json("cka", tmp_path / "graphs" / "block%2F1.npz", tmp_path / "graphs" / "block_1.npz")

    assert len([f for f in os.listdir(tmp_path / "graphs") if f.endswith(".npz")]) == len(names)
    assert out["rows"] == names  # the order ssc recorded in layers.json
    m = np.load(tmp_path / "m.npy")
    i, j = out["rows"].index("block/1"), out["cols"].index("block_1")
    assert m[i, j] == pytest.approx(direct["cka"], rel=1e-12)
