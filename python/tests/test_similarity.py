"""sublens.cka and sublens.cka_matrix: CLI agreement, reference formulas, layouts, errors."""
import numpy as np
import pytest
import scipy.sparse

import sublens

kTol = 1e-10


def linear_cka_reference(x, y):
    x = x - x.mean(0)
    y = y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def random_graph(n, seed):
    w = scipy.sparse.random(n, n, density=0.2, random_state=seed, format="csr")
    w = (w + w.T).tocsr()
    w = (w - scipy.sparse.diags(w.diagonal())).tocsr()
    w.eliminate_zeros()
    return w


def test_graph_cka_matches_the_cli(tmp_path, cli):
    a, b = random_graph(40, 1), random_graph(40, 2)
    scipy.sparse.save_npz(tmp_path / "a.npz", a)
    scipy.sparse.save_npz(tmp_path / "b.npz", b)

    for estimator in ("biased", "unbiased"):
        summary = cli("cka", tmp_path / "a.npz", tmp_path / "b.npz", "--kind", "graph",
                      "--estimator", estimator)
        result = sublens.cka(a, b, estimator=estimator)

        assert result.cka == pytest.approx(summary["cka"], rel=kTol)
        assert result.method == summary["method"] and result.estimator == estimator


def test_sparse_and_dense_graphs_agree():
    a, b = random_graph(30, 3), random_graph(30, 4)

    sparse = sublens.cka(a, b, kind="graph").cka
    dense = sublens.cka(a.toarray(), b.toarray(), kind="graph").cka

    assert sparse == pytest.approx(dense, rel=kTol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_linear_cka_matches_the_formula_for_any_layout(dtype, order):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((50, 8)).astype(np.float32).astype(np.float64)
    y = (x @ rng.standard_normal((8, 6)) + 0.5 * rng.standard_normal((50, 6)))

    result = sublens.cka(np.array(x, dtype=dtype, order=order), y)

    assert result.method in ("feature", "gram")
    assert result.cka == pytest.approx(linear_cka_reference(x, y), rel=1e-6)


def test_linear_cka_matches_the_cli(tmp_path, cli):
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((30, 5)), rng.standard_normal((30, 7))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)

    summary = cli("cka", tmp_path / "x.npy", tmp_path / "y.npy", "--kind", "linear")

    assert sublens.cka(x, y, kind="linear").cka == pytest.approx(summary["cka"], rel=kTol)


def test_cka_matrix_matches_the_cli_and_pairs(tmp_path, cli):
    graphs = {f"g{i}": random_graph(25, 10 + i) for i in range(3)}
    (tmp_path / "graphs").mkdir()
    for name, w in graphs.items():
        scipy.sparse.save_npz(tmp_path / "graphs" / f"{name}.npz", w)

    cli("cka-matrix", tmp_path / "graphs", "--kind", "graph", "-o", tmp_path / "m.npy")
    matrix = sublens.cka_matrix(graphs)

    np.testing.assert_allclose(matrix, np.load(tmp_path / "m.npy"), rtol=kTol)
    assert matrix[0, 1] == pytest.approx(sublens.cka(graphs["g0"], graphs["g1"]).cka, rel=kTol)
    np.testing.assert_allclose(np.diag(matrix), 1.0, rtol=kTol)


def test_activation_cka_matrix():
    rng = np.random.default_rng(7)
    layers = [rng.standard_normal((20, d)) for d in (3, 4, 5)]

    matrix = sublens.cka_matrix(layers, layers[:2], kind="linear")

    assert matrix.shape == (3, 2)
    assert matrix[2, 1] == pytest.approx(linear_cka_reference(layers[2], layers[1]), rel=1e-9)


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    x = torch.randn(20, 4, generator=torch.Generator().manual_seed(0))

    result = sublens.cka(x, x * 2)

    assert result.cka == pytest.approx(1.0, rel=1e-12)


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="40 x 40.*30 x 30|K is"):
        sublens.cka(random_graph(40, 1), random_graph(30, 2))
    with pytest.raises(ValueError, match="estimator|biased"):
        sublens.cka(random_graph(10, 1), random_graph(10, 2), estimator="fancy")
    with pytest.raises(ValueError, match="kind"):
        sublens.cka(np.ones((4, 2)), np.ones((4, 2)), kind="cosine")
    with pytest.raises(ValueError):
        sublens.cka(np.ones((4, 2)), np.ones((5, 2)))


def test_a_bad_method_is_refused_for_every_kind():
    w = random_graph(10, 1)
    x = np.random.default_rng(8).standard_normal((10, 3))

    # Issue 15: method="bogus" with kind="graph" returned 1.0 where the CLI refuses.
    with pytest.raises(ValueError) as error:
        sublens.cka(w, w, kind="graph", method="bogus")
    assert str(error.value) == "cka: method must be one of 'auto', 'feature', 'gram' (got 'bogus')"
    with pytest.raises(ValueError, match="cka: method must be one of"):
        sublens.cka(x, x, kind="rbf", method="bogus")
    with pytest.raises(ValueError, match="cka: method='gram' applies to kind='linear' only "
                                         r"\(kind is 'graph' here\)"):
        sublens.cka(w, w, method="gram")
    assert sublens.cka(x, x, method="gram").method == "gram"
