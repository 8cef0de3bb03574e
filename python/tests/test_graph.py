"""Graph bindings: modularity, communities, spectral embedding/clustering, SSC labels and
neighbourhoods against the CLI and hand-checkable cases."""
import numpy as np
import pytest
import scipy.sparse

import sublens

kTol = 1e-10


def two_triangles():
    """Two triangles joined by one weak edge; labels = the triangles."""
    edges = [(0, 1, 1.0), (1, 2, 1.0), (0, 2, 1.0), (3, 4, 1.0), (4, 5, 1.0), (3, 5, 1.0),
             (2, 3, 0.1)]
    rows, cols, vals = zip(*edges)
    w = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(6, 6))
    return (w + w.T).tocsr(), np.array([0, 0, 0, 1, 1, 1])


@pytest.fixture
def ssc_graph(subspaces):
    x, labels = subspaces
    return sublens.ssc(x).affinity, labels


def test_modularity_by_hand():
    w, labels = two_triangles()
    two_m = 2 * 6.1
    expected = 2 * (6 / two_m - (3.05 / 6.1) ** 2)

    result = sublens.modularity(w, labels)

    assert result.modularity == pytest.approx(expected, rel=kTol)
    assert result.n_communities == 2 and result.total_weight == pytest.approx(two_m)
    assert sublens.modularity(w.toarray(), labels).modularity == pytest.approx(expected, rel=kTol)


def test_modularity_and_communities_match_the_cli(tmp_path, cli, ssc_graph):
    w, labels = ssc_graph
    scipy.sparse.save_npz(tmp_path / "w.npz", w)
    np.save(tmp_path / "labels.npy", labels)

    summary = cli("modularity", tmp_path / "w.npz", "--labels", tmp_path / "labels.npy",
                  "--detect", "--communities-out", tmp_path / "c.npy")
    q = sublens.modularity(w, labels)
    communities = sublens.detect_communities(w)

    assert q.modularity == pytest.approx(summary["modularity"], rel=kTol)
    np.testing.assert_array_equal(communities.membership, np.load(tmp_path / "c.npy"))


def test_embedding_and_clustering_match_the_cli(tmp_path, cli, ssc_graph):
    w, labels = ssc_graph
    scipy.sparse.save_npz(tmp_path / "w.npz", w)

    cli("embed", tmp_path / "w.npz", "-k", 2, "-o", tmp_path / "e.npy")
    cli("cluster", tmp_path / "w.npz", "-k", 3, "-o", tmp_path / "k.npy")
    embedding = sublens.spectral_embedding(w, dimensions=2)
    clusters = sublens.spectral_clustering(w, clusters=3)

    np.testing.assert_allclose(embedding.embedding, np.load(tmp_path / "e.npy"), atol=1e-9)
    np.testing.assert_array_equal(clusters.labels, np.load(tmp_path / "k.npy"))
    assert clusters.embedding.embedding.shape == (len(labels), 3)


def test_ssc_labels_and_neighbors_match_the_cli(tmp_path, cli, ssc_graph):
    w, labels = ssc_graph
    predictions = labels.copy()
    predictions[:5] = (predictions[:5] + 1) % 3
    scipy.sparse.save_npz(tmp_path / "w.npz", w)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "pred.npy", predictions)

    cli("ssc-labels", tmp_path / "w.npz", "--labels", tmp_path / "labels.npy", "--predictions",
        tmp_path / "pred.npy", "-o", tmp_path / "s.npy")
    summary = cli("neighbors", tmp_path / "w.npz", "--index", 4, "--labels",
                  tmp_path / "labels.npy", "--predictions", tmp_path / "pred.npy")
    result = sublens.ssc_labels(w, labels, predictions)
    hood = sublens.neighbors(w, 4, labels, predictions)

    np.testing.assert_array_equal(result.ssc_labels, np.load(tmp_path / "s.npy"))
    assert 0 <= result.agreement <= 1
    assert hood.ssc_label == summary["ssc_label"] and hood.predicted == summary["predicted"]
    np.testing.assert_allclose(hood.class_affinity, summary["class_affinity"], rtol=kTol)
    assert [n["index"] for n in hood.top] == [n["index"] for n in summary["top"]]


def test_two_triangles_by_hand():
    w, labels = two_triangles()

    clusters = sublens.spectral_clustering(w, clusters=2, seed=0)
    communities = sublens.detect_communities(w, method="louvain")
    hood = sublens.neighbors(w, 2, labels, top=2)

    assert len(set(clusters.labels[:3])) == 1 and clusters.labels[0] != clusters.labels[3]
    assert communities.n_communities == 2
    assert [n["index"] for n in hood.top] == [0, 1]
    np.testing.assert_allclose(hood.class_affinity, [2 / 2.1, 0.1 / 2.1], rtol=kTol)
    assert "Neighborhood(" in repr(hood)


def test_bad_inputs_raise_value_error():
    w, labels = two_triangles()
    with pytest.raises(ValueError, match="6"):
        sublens.modularity(w, labels[:4])
    with pytest.raises(ValueError):
        sublens.modularity(scipy.sparse.csr_matrix((3, 3)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="method|leiden"):
        sublens.detect_communities(w, method="walktrap")
    with pytest.raises(ValueError):
        sublens.spectral_embedding(w, dimensions=0)
    with pytest.raises(ValueError, match="laplacian|normalized"):
        sublens.spectral_embedding(w, laplacian="random-walk")
    with pytest.raises(ValueError, match="integer"):
        sublens.ssc_labels(w, np.linspace(0, 1, 6))
    with pytest.raises((ValueError, IndexError)):
        sublens.neighbors(w, 17, labels)


@pytest.mark.parametrize("call, message", [
    (lambda w, y: sublens.modularity(w, y, resolution=-1),
     r"modularity: resolution must be a finite number >= 0 \(got -1\)"),
    (lambda w, y: sublens.modularity(w, y, resolution=float("nan")), "resolution"),
    (lambda w, y: sublens.detect_communities(w, resolution=-1), r"communities: resolution .* > 0"),
    (lambda w, y: sublens.spectral_embedding(w, dimensions=1, tolerance=-1),
     r"embed: tolerance must be a finite number > 0 \(got -1\)"),
    (lambda w, y: sublens.spectral_embedding(w, dimensions=1, max_iterations=0),
     "embed: max_iterations must be at least 1"),
    (lambda w, y: sublens.spectral_clustering(w, clusters=2, restarts=0),
     "cluster: restarts must be at least 1"),
    (lambda w, y: sublens.spectral_clustering(w, clusters=2, max_iterations=-5),
     "cluster: max_iterations must be at least 1"),
], ids=["resolution", "resolution-nan", "communities", "tolerance", "embed-iterations",
        "restarts", "cluster-iterations"])
def test_options_out_of_range_raise_naming_the_option(call, message):
    w, labels = two_triangles()
    with pytest.raises(ValueError, match=message):
        call(w, labels)
