"""sublens io bindings: round trips, agreement with numpy/scipy, CLI-format files, errors."""
import numpy as np
import pytest
import scipy.sparse

import sublens


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, np.bool_, np.float16])
def test_npy_round_trip_matches_numpy(tmp_path, dtype):
    x = (np.arange(24).reshape(2, 3, 4) % 5).astype(dtype)
    path = tmp_path / "x.npy"

    sublens.write_npy(path, x)
    back = sublens.read_npy(path)

    np.testing.assert_array_equal(np.load(path), x)
    assert back.dtype == x.dtype and back.shape == x.shape
    np.testing.assert_array_equal(back, x)


def test_npy_reads_fortran_order_written_by_numpy(tmp_path):
    x = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    np.save(tmp_path / "f.npy", x)

    back = sublens.read_npy(tmp_path / "f.npy")

    np.testing.assert_array_equal(back, x)


def test_npz_keeps_order_and_numpy_reads_it(tmp_path):
    arrays = {"zeta": np.ones((3, 2), np.float32), "alpha": np.arange(3, dtype=np.int64)}

    sublens.write_npz(tmp_path / "a.npz", arrays, compress=True)
    back = sublens.read_npz(tmp_path / "a.npz")

    assert list(back) == ["zeta", "alpha"]
    with np.load(tmp_path / "a.npz") as npz:
        np.testing.assert_array_equal(npz["zeta"], arrays["zeta"])
    np.testing.assert_array_equal(back["alpha"], arrays["alpha"])


def test_safetensors_round_trip_with_metadata(tmp_path):
    arrays = {"layer1": np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32),
              "fc": np.eye(4)}

    sublens.write_safetensors(tmp_path / "a.safetensors", arrays, metadata={"model": "toy"})
    back, meta = sublens.read_safetensors(tmp_path / "a.safetensors", metadata=True)

    assert list(back) == ["layer1", "fc"]
    np.testing.assert_array_equal(back["layer1"], arrays["layer1"])
    assert meta["model"] == "toy"
    assert sublens.list_arrays(tmp_path / "a.safetensors") == [
        ("layer1", "float32", (4, 6)), ("fc", "float64", (4, 4))]


def test_sparse_npz_interoperates_with_scipy(tmp_path):
    w = scipy.sparse.random(30, 30, density=0.1, random_state=0, format="csr")
    w = w + w.T
    scipy.sparse.save_npz(tmp_path / "scipy.npz", w.tocsc())

    read = sublens.read_sparse_npz(tmp_path / "scipy.npz")
    sublens.write_sparse_npz(tmp_path / "ours.npz", read)
    back = scipy.sparse.load_npz(tmp_path / "ours.npz")

    assert isinstance(read, scipy.sparse.csr_matrix)
    assert (abs(read - w)).max() == 0
    assert back.format == "csr" and (abs(back - w)).max() == 0


def test_load_activations_flattens_and_selects(tmp_path):
    conv = np.random.default_rng(1).standard_normal((5, 2, 3, 3)).astype(np.float32)
    fc = np.random.default_rng(2).standard_normal((5, 4))
    np.savez(tmp_path / "acts.npz", conv=conv, fc=fc)

    acts = sublens.load_activations(tmp_path / "acts.npz")
    only = sublens.load_activations(tmp_path / "acts.npz", layers=["fc"])

    assert list(acts) == ["conv", "fc"]
    assert acts["conv"].dtype == np.float64 and acts["conv"].shape == (5, 18)
    np.testing.assert_array_equal(acts["conv"], conv.reshape(5, -1))
    assert list(only) == ["fc"]


def test_torch_tensor_is_written_like_its_numpy_view(tmp_path):
    torch = pytest.importorskip("torch")
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3).requires_grad_()

    sublens.write_npy(tmp_path / "t.npy", t)

    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), t.detach().numpy())


def test_bad_files_raise_value_error_with_the_message(tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    np.savez(tmp_path / "acts.npz", a=np.ones((3, 2)))

    with pytest.raises(ValueError, match="bad.npy"):
        sublens.read_npy(tmp_path / "bad.npy")
    with pytest.raises(ValueError, match="nope"):
        sublens.load_activations(tmp_path / "acts.npz", layers=["nope"])
    with pytest.raises(ValueError, match="dtype"):
        sublens.write_npy(tmp_path / "c.npy", np.ones(3, dtype=np.complex64))
