"""End-to-end tests of the graph commands (modularity, embed, cluster, ssc-labels, neighbors)
against networkx, scipy.sparse.linalg.eigsh, scikit-learn and NumPy transcriptions."""
import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from conftest import assert_bad_input, parse_json_lines, run_sublens

TOL = 1e-10
EIG_TOL = 1e-7


def planted_graph(rng, blocks=3, size=60, p_in=0.2, p_out=0.01, isolated=0):
    """Symmetric zero-diagonal affinity with planted blocks (+ isolated inputs at the end)."""
    n = blocks * size
    truth = np.repeat(np.arange(blocks), size)
    same = truth[:, None] == truth[None, :]
    mask = rng.random((n, n)) < np.where(same, p_in, p_out)
    w = np.triu(mask * rng.random((n, n)), 1)
    w = w + w.T
    if isolated:
        w = np.pad(w, ((0, isolated), (0, isolated)))
        truth = np.concatenate([truth, np.zeros(isolated, dtype=int)])
    return sp.csr_matrix(w), truth.astype(np.int64)


@pytest.fixture
def planted(tmp_path):
    rng = np.random.default_rng(0)
    w, truth = planted_graph(rng, isolated=2)
    sp.save_npz(tmp_path / "w.npz", w)
    np.save(tmp_path / "labels.npy", truth)
    return w, truth


def test_modularity_matches_networkx(sublens_json, planted, tmp_path):
    w, truth = planted
    rng = np.random.default_rng(1)
    noisy = np.where(rng.random(len(truth)) < 0.2, rng.integers(0, 3, len(truth)), truth)
    np.save(tmp_path / "noisy.npy", noisy)
    g = nx.from_scipy_sparse_array(w)

    out = sublens_json("modularity", tmp_path / "w.npz", "--labels", tmp_path / "labels.npy")
    out_noisy = sublens_json("modularity", tmp_path / "w.npz", "--labels", tmp_path / "noisy.npy",
                             "--resolution", "1.5")

    def communities(labels):
        return [set(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    assert out["modularity"] == pytest.approx(
        nx.community.modularity(g, communities(truth), weight="weight"), abs=TOL)
    assert out_noisy["modularity"] == pytest.approx(
        nx.community.modularity(g, communities(noisy), weight="weight", resolution=1.5), abs=TOL)
    assert out["n_isolated"] == 2 and out["n_classes"] == 3


def test_modularity_detect(sublens_json, planted, tmp_path):
    w, truth = planted

    for method in ["leiden", "louvain"]:
        out = sublens_json("modularity", tmp_path / "w.npz", "--labels", tmp_path / "labels.npy",
                           "--detect", "--method", method, "--communities-out", tmp_path / "c.npy")
        found = np.load(tmp_path / "c.npy")
        g = nx.from_scipy_sparse_array(w)
        parts = [set(np.flatnonzero(found == c)) for c in np.unique(found)]

        detected = out["detected"]
        assert detected["method"] == method
        assert detected["modularity"] == pytest.approx(
            nx.community.modularity(g, parts, weight="weight"), abs=TOL)
        # Heuristics: near the planted partition's modularity, and close to the planted blocks.
        assert detected["modularity"] >= 0.99 * out["modularity"]
        assert detected["ari"] > 0.95
        assert detected["nmi"] == pytest.approx(normalized_mutual_info_score(truth, found), abs=TOL)
        assert detected["ari"] == pytest.approx(adjusted_rand_score(truth, found), abs=TOL)


def test_modularity_edges(sublens, sublens_json, tmp_path):
    w = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=float))
    sp.save_npz(tmp_path / "tri.npz", w)
    sp.save_npz(tmp_path / "empty.npz", sp.csr_matrix((3, 3)))
    np.save(tmp_path / "one.npy", np.zeros(3, dtype=np.int64))
    np.save(tmp_path / "short.npy", np.zeros(2, dtype=np.int64))

    single = sublens_json("modularity", tmp_path / "tri.npz", "--labels", tmp_path / "one.npy")

    assert single["modularity"] == pytest.approx(0.0, abs=TOL)
    assert_bad_input(sublens("modularity", tmp_path / "empty.npz", "--labels", tmp_path / "one.npy"),
                     "no edges")
    assert_bad_input(sublens("modularity", tmp_path / "tri.npz", "--labels", tmp_path / "short.npy"),
                     "3 x 3", "2 entries")
    # Detection options without --detect are a usage error, not silently ignored.
    for option, value in (("--method", "louvain"), ("--seed", "3")):
        proc = sublens("modularity", tmp_path / "tri.npz", "--labels", tmp_path / "one.npy",
                       option, value)
        assert proc.returncode == 2 and "--detect" in proc.stderr, proc.stderr


@pytest.mark.parametrize("laplacian", ["normalized", "none"])
def test_embed_matches_eigsh(sublens_json, planted, tmp_path, laplacian):
    w, _ = planted
    active = np.asarray(w.sum(1)).ravel() > 0
    sub = w[active][:, active]
    if laplacian == "normalized":
        d = np.asarray(sub.sum(1)).ravel() ** -0.5
        sub = sp.diags(d) @ sub @ sp.diags(d)
    values, vectors = sla.eigsh(sub, k=3, which="LA", tol=1e-12)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]

    out = sublens_json("embed", tmp_path / "w.npz", "-k", "3", "--laplacian", laplacian,
                       "-o", tmp_path / "e.npy")
    e = np.load(tmp_path / "e.npy")

    assert out["solver"] == "lanczos" and out["converged"]
    assert out["n_isolated"] == 2 and out["isolated"] == [180, 181]
    assert np.isnan(e[180:]).all()
    np.testing.assert_allclose(out["eigenvalues"], values, atol=EIG_TOL)
    # Same invariant subspace (eigenvectors are defined up to sign / rotation in clusters).
    emb = e[active]
    projector_ref = vectors @ vectors.T
    np.testing.assert_allclose(emb @ emb.T, projector_ref, atol=1e-6)
    assert np.linalg.norm(sub @ emb - emb * np.array(out["eigenvalues"]), axis=0).max() < EIG_TOL


def test_cluster_recovers_blocks_and_metrics_match_sklearn(sublens_json, tmp_path):
    rng = np.random.default_rng(2)
    w, truth = planted_graph(rng, blocks=4, size=50, p_in=0.25, p_out=0.02)
    sp.save_npz(tmp_path / "w.npz", w)
    noisy = truth.copy()
    noisy[:15] = (noisy[:15] + 1) % 4
    np.save(tmp_path / "labels.npy", noisy)

    out = sublens_json("cluster", tmp_path / "w.npz", "-k", "4", "-o", tmp_path / "c.npy",
                       "--labels", tmp_path / "labels.npy", "--seed", "3")
    found = np.load(tmp_path / "c.npy")
    again = sublens_json("cluster", tmp_path / "w.npz", "-k", "4", "-o", tmp_path / "c2.npy",
                         "--seed", "3")

    assert adjusted_rand_score(truth, found) == pytest.approx(1.0)
    assert out["nmi"] == pytest.approx(normalized_mutual_info_score(noisy, found), abs=TOL)
    assert out["ari"] == pytest.approx(adjusted_rand_score(noisy, found), abs=TOL)
    assert out["accuracy"] == pytest.approx(1 - 15 / 200, abs=TOL)
    np.testing.assert_array_equal(np.load(tmp_path / "c2.npy"), found)
    assert again["inertia"] == pytest.approx(out["inertia"])


def reference_ssc_labels(w, labels):
    dense = w.toarray()
    np.fill_diagonal(dense, 0)
    sums = np.stack([dense[:, labels == c].sum(1) for c in range(labels.max() + 1)], axis=1)
    out = sums.argmax(1)  # first maximum: lowest class on ties
    out[(dense > 0).sum(1) == 0] = -1
    return out


def test_ssc_labels_match_numpy(sublens_json, planted, tmp_path):
    w, truth = planted
    rng = np.random.default_rng(3)
    predictions = np.where(rng.random(len(truth)) < 0.1, (truth + 1) % 3, truth)
    np.save(tmp_path / "pred.npy", predictions)

    out = sublens_json("ssc-labels", tmp_path / "w.npz", "--labels", tmp_path / "labels.npy",
                       "--predictions", tmp_path / "pred.npy", "-o", tmp_path / "s.npy")
    ssc = np.load(tmp_path / "s.npy")

    expected = reference_ssc_labels(w, truth)
    np.testing.assert_array_equal(ssc, expected)
    assert out["n_unlabelled"] == 2 and out["unlabelled"] == [180, 181]
    assert out["ssc_accuracy"] == pytest.approx(np.mean(expected == truth), abs=TOL)
    assert out["network_accuracy"] == pytest.approx(np.mean(predictions == truth), abs=TOL)
    assert out["agreement"] == pytest.approx(np.mean(expected == predictions), abs=TOL)


def test_neighbors_and_confidently_wrong(sublens, planted, tmp_path):
    w, truth = planted
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(len(truth), 3))
    np.save(tmp_path / "logits.npy", logits)
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    predicted = logits.argmax(1)

    proc = sublens("neighbors", tmp_path / "w.npz", "--index", 5, "--labels",
                   tmp_path / "labels.npy", "--scores", tmp_path / "logits.npy",
                   "--confidently-wrong", 3, "--top", 4)
    rows = parse_json_lines(proc.stdout)

    assert proc.returncode == 0, proc.stderr
    assert len(rows) == 4
    row = rows[0]
    weights = w[5].toarray().ravel()
    order = sorted(np.flatnonzero(weights), key=lambda j: (-weights[j], j))[:4]
    assert [t["index"] for t in row["top"]] == order
    assert row["predicted"] == predicted[5]
    class_sums = np.array([weights[truth == c].sum() for c in range(3)])
    np.testing.assert_allclose(row["class_affinity"], class_sums / class_sums.sum(), atol=TOL)
    wrong = np.flatnonzero(predicted != truth)
    confidence = probabilities[wrong, predicted[wrong]]
    expected = wrong[np.argsort(-confidence, kind="stable")[:3]]
    assert [r["index"] for r in rows[1:]] == list(expected)
    assert rows[1]["confidence"] == pytest.approx(confidence.max(), abs=1e-12)


def test_bad_inputs(sublens, planted, tmp_path):
    assert_bad_input(sublens("embed", tmp_path / "w.npz", "-k", "0", "-o", tmp_path / "e.npy"),
                     "1 <= k", outputs=[tmp_path / "e.npy"])
    assert_bad_input(sublens("neighbors", tmp_path / "w.npz", "--index", 999, "--labels",
                             tmp_path / "labels.npy"), "index = 999")
    assert_bad_input(sublens("cluster", tmp_path / "w.npz", "-k", "3", "-o", tmp_path / "missing" / "c.npy"),
                     "-o")


def test_cluster_agrees_with_sklearn_kmeans_on_the_same_embedding(sublens_json, tmp_path):
    from sklearn.cluster import KMeans
    rng = np.random.default_rng(6)
    w, truth = planted_graph(rng, blocks=5, size=30, p_in=0.3, p_out=0.02)
    sp.save_npz(tmp_path / "w.npz", w)
    d = np.asarray(w.sum(1)).ravel() ** -0.5
    _, vectors = sla.eigsh(sp.diags(d) @ w @ sp.diags(d), k=5, which="LA", tol=1e-12)
    rows = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    reference = KMeans(n_clusters=5, n_init=20, random_state=0).fit_predict(rows)

    sublens_json("cluster", tmp_path / "w.npz", "-k", "5", "-o", tmp_path / "c.npy")
    found = np.load(tmp_path / "c.npy")

    assert adjusted_rand_score(reference, found) == pytest.approx(1.0)
    assert adjusted_rand_score(truth, found) > 0.9


# ---- options outside their range are refused by the library (the CLI and Python alike) ----------

@pytest.mark.parametrize("args, message", [
    (["modularity", "W", "--labels", "L", "--resolution", "-1"],
     "modularity: resolution must be a finite number >= 0 (got -1)"),
    (["modularity", "W", "--labels", "L", "--resolution", "inf"],
     "modularity: resolution must be a finite number >= 0 (got inf)"),
    (["modularity", "W", "--labels", "L", "--detect", "--resolution", "0"],
     "communities: resolution must be a finite number > 0 (got 0)"),
    (["embed", "W", "-k", "2", "--max-iterations", "0", "-o", "OUT"],
     "embed: max_iterations must be at least 1 (got 0)"),
    (["cluster", "W", "-k", "3", "--restarts", "0", "-o", "OUT"],
     "cluster: restarts must be at least 1 (got 0)"),
], ids=["resolution-negative", "resolution-inf", "detect-resolution-0", "embed-iterations",
        "cluster-restarts"])
def test_options_out_of_range_exit_2_naming_the_option(sublens, planted, tmp_path, args, message):
    names = {"W": tmp_path / "w.npz", "L": tmp_path / "labels.npy", "OUT": tmp_path / "out.npy"}
    proc = sublens(*[names.get(a, a) for a in args])
    assert_bad_input(proc, message, outputs=[tmp_path / "out.npy"])
