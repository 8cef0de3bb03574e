"""sublens.coupled_nmf and sublens.singular_spectrum: CLI agreement, invariants, errors."""
import numpy as np
import pytest

import sublens


def test_spectrum_matches_the_cli_and_numpy(tmp_path, cli):
    x = np.random.default_rng(0).standard_normal((40, 12))
    np.savez(tmp_path / "acts.npz", fc=x)

    cli("spectrum", tmp_path / "acts.npz", "-k", 5, "-o", tmp_path / "out")
    result = sublens.singular_spectrum(x, k=5)

    files = sorted((tmp_path / "out").glob("*.npy"))
    assert files, list((tmp_path / "out").iterdir())
    np.testing.assert_allclose(result.singular_values, np.load(files[0]).ravel()[:5], rtol=1e-12)
    np.testing.assert_allclose(result.singular_values, np.linalg.svd(x, compute_uv=False)[:5],
                               rtol=1e-10)
    assert result.method == "dense-svd"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_spectrum_dtype_and_layout(dtype, order):
    x = np.random.default_rng(1).standard_normal((30, 10)).astype(np.float32)

    result = sublens.singular_spectrum(np.array(x, dtype=dtype, order=order), k=3)

    np.testing.assert_allclose(result.singular_values,
                               sublens.singular_spectrum(x.astype(np.float64), k=3).singular_values,
                               rtol=1e-12)


def test_coupled_nmf_result_and_reconstruction():
    rng = np.random.default_rng(2)
    f = rng.random((30, 3))
    images = f @ rng.random((3, 16))
    layer = f @ rng.random((3, 8))

    result = sublens.coupled_nmf(images, {"fc": layer}, rank=3, solver="hals",
                                 max_iterations=300, seed=1)

    assert result.shared.shape == (30, 3)
    assert result.input_factors[0].shape == (16, 3) and result.layer_factors[0].shape == (8, 3)
    assert set(result.block_rmse) == {"input0", "fc"}
    reconstruction = result.shared @ result.layer_factors[0].T
    rmse = np.sqrt(np.mean((reconstruction - layer) ** 2))
    assert rmse == pytest.approx(result.block_rmse["fc"], rel=1e-6, abs=1e-12)
    relative = np.linalg.norm(reconstruction - layer) / np.linalg.norm(layer)
    assert relative == pytest.approx(result.block_relative_rmse["fc"], rel=1e-6, abs=1e-12)
    residual = np.linalg.norm(result.shared @ result.input_factors[0].T - images) ** 2 + \
        np.linalg.norm(reconstruction - layer) ** 2
    data = np.linalg.norm(images) ** 2 + np.linalg.norm(layer) ** 2
    assert result.relative_rmse == pytest.approx(np.sqrt(residual / data), rel=1e-6, abs=1e-12)
    assert result.rmse < 1e-2
    assert "CoupledNmfResult(" in repr(result) and "rank 3" in result.brief_report
    assert len(result.objective_history) == result.iterations


def test_coupled_nmf_is_independent_of_dtype_and_layout():
    rng = np.random.default_rng(3)
    images = rng.random((20, 9)).astype(np.float32)
    layer = rng.random((20, 5)).astype(np.float32)

    a = sublens.coupled_nmf([images.astype(np.float64)], [layer.astype(np.float64)], rank=2,
                            max_iterations=50, tolerance=0)
    b = sublens.coupled_nmf([np.asfortranarray(images)], [layer], rank=2, max_iterations=50,
                            tolerance=0)

    np.testing.assert_array_equal(a.shared, b.shared)
    assert a.objective == b.objective


def test_bad_inputs_raise_value_error():
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match="negative"):
        sublens.coupled_nmf(rng.standard_normal((10, 4)), None, rank=2)
    with pytest.raises(ValueError, match="solver|mu|hals"):
        sublens.coupled_nmf(rng.random((10, 4)), None, solver="als")
    with pytest.raises(ValueError):
        sublens.coupled_nmf(rng.random((10, 4)), [rng.random((9, 4))])
    with pytest.raises(ValueError, match="k"):
        sublens.singular_spectrum(rng.random((10, 4)), k=0)
    for bad, match in (({"tolerance": -1}, "tolerance"), ({"tolerance": float("nan")}, "tolerance"),
                       ({"max_restarts": 0}, "max_restarts"), ({"dense_limit": -1}, "dense_limit")):
        with pytest.raises(ValueError, match=match):
            sublens.singular_spectrum(rng.random((10, 4)), k=2, **bad)
