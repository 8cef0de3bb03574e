"""The result classes: every function returns its own class whose fields, types, repr and
to_dict agree with the class's annotations and docstring and with independent NumPy / SciPy /
networkx values."""
import dataclasses
import typing

import numpy as np
import pytest
import scipy.sparse

import sublens
from conftest import union_of_subspaces

kTol = 1e-8  # solver outputs against dense NumPy recomputations (double precision, O(N) sums)


@pytest.fixture(scope="module")
def data():
    x, labels = union_of_subspaces()
    r = sublens.ssc(x, tau=10)
    return x, labels, r


def conforms(value, hint):
    """Whether `value` is an instance of the annotation `hint` (List/Dict/Optional resolved)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        return any(conforms(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(conforms(item, args[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            conforms(k, args[0]) and conforms(v, args[1]) for k, v in value.items())
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def check_result(result, cls):
    """The generic contract of a result class, against the class declaration itself."""
    assert type(result) is cls and isinstance(result, sublens.Result)
    names = [field.name for field in dataclasses.fields(cls)]
    hints = typing.get_type_hints(cls, {**vars(sublens._results), "scipy": scipy})
    assert result.keys() == names and list(result) == names and len(result) == len(names)
    doc = cls.__doc__
    as_dict = result.to_dict()
    assert list(as_dict) == names
    text = repr(result)
    assert text.startswith(cls.__name__ + "(")
    for name in names:
        value = getattr(result, name)
        assert conforms(value, hints[name]), (cls.__name__, name, type(value), hints[name])
        assert result[name] is value and name in result and name in dir(result)
        assert f"{name}=" in text
        assert f"        {name}: " in doc, f"{cls.__name__}.{name} is not documented"
        if isinstance(value, sublens.Result):
            assert as_dict[name] == value.to_dict()
        elif isinstance(value, (list, dict)):  # a new container of the same (shared) items
            assert type(as_dict[name]) is type(value) and len(as_dict[name]) == len(value)
        else:
            assert as_dict[name] is value
    with pytest.raises(KeyError):
        result["no_such_field"]
    with pytest.raises(AttributeError):
        result.no_such_field
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(result, names[0], None)


def test_ssc_result(data):
    x, _, r = data
    check_result(r, sublens.SscResult)

    c = r.coefficients.toarray()
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)  # normalize="l2"
    objective = np.abs(c).sum() + r.tau / 2 * np.linalg.norm(xn.T - xn.T @ c) ** 2
    assert (r.n, r.d) == x.shape and r.solver in ("lasso", "admm") and r.converged
    np.testing.assert_allclose(r.affinity.toarray(), np.abs(c) + np.abs(c).T, rtol=kTol)
    assert np.all(np.diag(c) == 0)
    assert r.objective == pytest.approx(objective, rel=1e-6)
    assert "affinity=<csr_matrix 60 x 60, nnz" in repr(r)


def test_cka_result(data):
    x, _, _ = data
    y = np.tanh(x @ np.random.default_rng(1).standard_normal((16, 5)))
    r = sublens.cka(x, y, kind="linear")
    check_result(r, sublens.CkaResult)

    xc, yc = x - x.mean(0), y - y.mean(0)
    kl = np.linalg.norm(yc.T @ xc) ** 2
    kk, ll = np.linalg.norm(xc.T @ xc) ** 2, np.linalg.norm(yc.T @ yc) ** 2
    assert r.cka == pytest.approx(kl / np.sqrt(kk * ll), rel=kTol)
    assert r.hsic_kl / np.sqrt(r.hsic_kk * r.hsic_ll) == pytest.approx(r.cka, rel=kTol)
    assert r.n == 60 and r.defined and r.estimator == "biased" and r.method in ("feature", "gram")


def test_modularity_and_community_results(data):
    nx = pytest.importorskip("networkx")
    _, labels, r = data
    graph = nx.from_scipy_sparse_array(r.affinity)

    q = sublens.modularity(r.affinity, labels)
    check_result(q, sublens.ModularityResult)
    groups = [set(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    assert q.modularity == pytest.approx(nx.community.modularity(graph, groups), rel=kTol)
    assert q.total_weight == pytest.approx(r.affinity.sum(), rel=kTol)
    assert (q.n_communities, q.n_isolated) == (3, 0)

    c = sublens.detect_communities(r.affinity, method="louvain", seed=1)
    check_result(c, sublens.CommunityResult)
    found = [set(np.flatnonzero(c.membership == k)) for k in np.unique(c.membership)]
    assert c.n_communities == len(found) and c.method == "louvain"
    assert c.modularity == pytest.approx(nx.community.modularity(graph, found), rel=kTol)


def test_embedding_and_clustering_results(data):
    _, labels, r = data
    w = r.affinity.toarray()
    scale = 1 / np.sqrt(w.sum(1))
    expected = np.linalg.eigvalsh(scale[:, None] * w * scale[None, :])[::-1][:3]

    e = sublens.spectral_embedding(r.affinity, dimensions=3)
    check_result(e, sublens.EmbeddingResult)
    np.testing.assert_allclose(e.eigenvalues, expected, rtol=1e-7, atol=1e-9)
    assert e.embedding.shape == (60, 3) and e.isolated == []
    np.testing.assert_allclose(np.linalg.norm(e.embedding, axis=0), 1.0, rtol=kTol)

    s = sublens.spectral_clustering(r.affinity, clusters=3, seed=0)
    check_result(s, sublens.SpectralClusteringResult)
    check_result(s.embedding, sublens.EmbeddingResult)
    assert s.labels.shape == (60,) and s.inertia >= 0
    assert s.to_dict()["embedding"]["eigenvalues"] is s.embedding.eigenvalues


def test_ssc_label_result(data):
    _, labels, r = data
    predictions = np.roll(labels, 1)
    w = r.affinity.toarray()
    class_sums = np.stack([w[:, labels == c].sum(1) for c in range(3)], axis=1)
    expected = np.where(class_sums.sum(1) > 0, class_sums.argmax(1), -1)

    without = sublens.ssc_labels(r.affinity, labels)
    check_result(without, sublens.SscLabelResult)
    assert without.prediction_accuracy is None and without.agreement is None

    s = sublens.ssc_labels(r.affinity, labels, predictions)
    check_result(s, sublens.SscLabelResult)
    np.testing.assert_array_equal(s.ssc_labels, expected)
    assert s.accuracy == pytest.approx(np.mean(expected == labels), rel=kTol)
    assert s.agreement == pytest.approx(np.mean(expected == predictions), rel=kTol)
    assert s.prediction_accuracy == pytest.approx(np.mean(predictions == labels), rel=kTol)


def test_neighborhood_result(data):
    _, labels, r = data
    w = r.affinity.toarray()
    row = w[7].copy()
    row[7] = 0

    nb = sublens.neighbors(r.affinity, 7, labels, top=4)
    check_result(nb, sublens.Neighborhood)
    for neighbor in nb.top:
        check_result(neighbor, sublens.Neighbor)
    np.testing.assert_allclose(
        nb.class_affinity, [row[labels == c].sum() / row.sum() for c in range(3)], rtol=kTol)
    order = np.argsort(-row, kind="stable")[:4]
    assert [n.index for n in nb.top] == list(order)
    assert [n["weight"] for n in nb.top] == pytest.approx(row[order], rel=kTol)
    assert nb.to_dict()["top"][0] == {"index": int(order[0]), "weight": row[order[0]],
                                      "label": int(labels[order[0]]), "predicted": -1}
    assert nb.total_affinity == pytest.approx(row.sum(), rel=kTol) and nb.label == labels[7]


def test_coupled_nmf_result(data):
    x, _, _ = data
    images, acts = np.abs(x[:, :6]), np.abs(x[:, 6:])

    r = sublens.coupled_nmf({"img": images}, {"fc": acts}, rank=3, max_iterations=50, seed=0)
    check_result(r, sublens.CoupledNmfResult)
    residual = acts - r.shared @ r.layer_factors[0].T
    assert r.block_rmse["fc"] == pytest.approx(np.sqrt(np.mean(residual ** 2)), rel=1e-6)
    assert r.squared_error[1] == pytest.approx(np.sum(residual ** 2), rel=1e-6)
    assert r.shared.shape == (60, 3) and r.input_factors[0].shape == (6, 3)
    assert r.rank == 3 and r.solver == "mu" and len(r.objective_history) == r.iterations


def test_spectrum_result(data):
    x, _, _ = data
    r = sublens.singular_spectrum(x, k=5)
    check_result(r, sublens.SpectrumResult)
    np.testing.assert_allclose(r.singular_values, np.linalg.svd(x, compute_uv=False)[:5],
                               rtol=1e-9)


def test_every_result_class_is_exported_and_tested():
    exported = {name for name in sublens.__all__
                if isinstance(getattr(sublens, name), type)
                and issubclass(getattr(sublens, name), sublens.Result)}
    assert exported == set(sublens._results.__all__)
    tested = {"SscResult", "CkaResult", "ModularityResult", "CommunityResult", "EmbeddingResult",
              "SpectralClusteringResult", "SscLabelResult", "Neighborhood", "Neighbor",
              "CoupledNmfResult", "SpectrumResult"}
    assert exported - {"Result"} == tested
