"""sublens.ssc: same graphs as `sublens ssc`, dtype/layout independence, GIL release, errors."""
import threading
import time

import numpy as np
import pytest
import scipy.sparse

import sublens
from conftest import union_of_subspaces

kTol = 1e-9


def test_matches_the_cli(tmp_path, cli, subspaces):
    x, _ = subspaces
    np.save(tmp_path / "x.npy", x)

    summary = cli("ssc", tmp_path / "x.npy", "-o", tmp_path / "w.npz", "--coef-out",
                  tmp_path / "c.npz", "--tau", 20)
    result = sublens.ssc(x, tau=20)

    w_cli = scipy.sparse.load_npz(tmp_path / "w.npz")
    c_cli = scipy.sparse.load_npz(tmp_path / "c.npz")
    assert isinstance(result.affinity, scipy.sparse.csr_matrix)
    assert abs(result.affinity - w_cli).max() <= kTol
    assert abs(result.coefficients - c_cli).max() <= kTol
    assert result.objective == pytest.approx(summary["objective"], rel=1e-9)
    assert result.solver == summary["solver"] and result.converged == summary["converged"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_dtype_and_layout_give_the_same_graph(subspaces, dtype, order):
    x, _ = subspaces
    x32 = x.astype(np.float32)  # the float32 values, so every variant sees the same numbers
    reference = sublens.ssc(x32.astype(np.float64))

    result = sublens.ssc(np.array(x32, dtype=dtype, order=order))

    assert abs(result.affinity - reference.affinity).max() <= kTol


def test_strided_views_and_conv_shaped_inputs(subspaces):
    x, _ = subspaces
    wide = np.repeat(x, 2, axis=1)
    reference = sublens.ssc(np.ascontiguousarray(wide[:, ::2]))

    strided = sublens.ssc(wide[:, ::2])
    conv_shaped = sublens.ssc(x.reshape(x.shape[0], 4, 2, 2))

    assert abs(strided.affinity - reference.affinity).max() == 0
    assert abs(conv_shaped.affinity - sublens.ssc(x).affinity).max() == 0


def test_torch_tensor_input(subspaces):
    torch = pytest.importorskip("torch")
    x, _ = subspaces

    result = sublens.ssc(torch.from_numpy(x))

    assert abs(result.affinity - sublens.ssc(x).affinity).max() == 0


def test_result_object(subspaces):
    x, _ = subspaces

    result = sublens.ssc(x, solver="admm", max_iterations=500)

    assert result.solver == "admm" and result.n == x.shape[0] and result.d == x.shape[1]
    assert "SscResult(" in repr(result) and "csr_matrix" in repr(result)
    assert set(result.to_dict()) >= {"affinity", "coefficients", "objective", "converged", "tau"}
    assert (result.affinity != result.affinity.T).nnz == 0
    with pytest.raises(AttributeError):
        result.nonexistent


@pytest.mark.parametrize("kwargs, message", [
    ({"tau": -1.0}, "tau"),
    ({"solver": "newton"}, "newton"),
    ({"normalize": "l1"}, "normalize"),
    ({"max_iterations": 0}, "max_iterations"),
])
def test_bad_options_raise_value_error(subspaces, kwargs, message):
    x, _ = subspaces

    with pytest.raises(ValueError, match=message):
        sublens.ssc(x, **kwargs)


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match=r"2-D"):
        sublens.ssc(np.ones(5))
    with pytest.raises(ValueError):
        sublens.ssc(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="dtype"):
        sublens.ssc(np.array([["a", "b"], ["c", "d"]]))


def test_a_dict_of_layers_is_refused_with_what_to_pass(subspaces):
    x, _ = subspaces

    with pytest.raises(ValueError) as error:
        sublens.ssc({"conv": x, "fc": x})

    assert str(error.value) == ("ssc: activations: pass one layer (an array), not a dict "
                                "(keys 'conv', 'fc'; pass one value, e.g. acts['conv'])")
    with pytest.raises(ValueError, match=r"ssc: activations: pass one layer .*an empty dict"):
        sublens.ssc({})
    with pytest.raises(ValueError, match=r"singular_spectrum: activations: pass one layer"):
        sublens.singular_spectrum({"fc": x})


def test_gil_is_released_during_ssc():
    x, _ = union_of_subspaces(groups=6, dim=4, per_group=150, d=40, seed=3)
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    start = time.perf_counter()
    sublens.ssc(x, threads=1)  # warm-up; also the time one solve takes
    solve_seconds = time.perf_counter() - start
    counter = threading.Thread(target=count)
    counter.start()
    start = time.perf_counter()
    sublens.ssc(x, threads=1)
    end = time.perf_counter()
    done.set()
    counter.join()

    during = [t for t in ticks if start < t < end]
    # With the GIL held the counter could not run at all until the solve returned.
    assert solve_seconds > 0.02, "problem too small to test the GIL"
    assert len(during) >= 5, (len(during), end - start)
