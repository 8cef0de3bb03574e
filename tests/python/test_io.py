"""End-to-end tests of the io module through `sublens info`.

numpy/scipy (Debian's) write every fixture at test time; sublens reads it and reports what it
holds, which is checked against what numpy says about the same arrays.
"""
import gzip
import json
import os
import struct
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import assert_bad_input

FASHION_IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def test_info_npz_written_by_numpy_lists_layers_in_archive_order(tmp_path, sublens_json):
    layers = {
        "conv1": np.random.default_rng(0).normal(size=(6, 2, 3, 3)).astype(np.float32),
        "fc": np.arange(12.0).reshape(6, 2),
        "logits": np.ones((6, 3), np.float16),
    }
    path = tmp_path / "acts.npz"
    np.savez_compressed(path, **layers)

    info = sublens_json("info", path)

    assert info["format"] == "npz"
    assert [a["name"] for a in info["arrays"]] == list(np.load(path).keys())
    for row, (name, array) in zip(info["arrays"], layers.items()):
        assert row["dtype"] == array.dtype.name
        assert tuple(row["shape"]) == array.shape
        assert row["N"] == array.shape[0]
        assert row["d"] == int(np.prod(array.shape[1:]))
        assert row["finite"] is True
    assert info["N"] == 6 and info["layers_share_N"] is True


@pytest.mark.parametrize("dtype", ["<f2", "<f4", ">f8", "|i1", "<i2", ">i4", "<i8", "|u1", "<u2",
                                   "<u4", "<u8", "|b1"])
@pytest.mark.parametrize("fortran", [False, True])
def test_info_npy_every_dtype_and_order(tmp_path, sublens_json, dtype, fortran):
    array = np.arange(24).reshape(4, 3, 2).astype(dtype)
    if fortran:
        array = np.asfortranarray(array)
    path = tmp_path / "layer.npy"
    np.save(path, array)

    info = sublens_json("info", path)

    (row,) = info["arrays"]
    assert row["name"] == "layer"
    assert row["dtype"] == np.dtype(dtype).name
    assert row["shape"] == [4, 3, 2] and row["N"] == 4 and row["d"] == 6


def test_info_reports_first_nonfinite_input(tmp_path, sublens_json):
    acts = np.zeros((5, 4), np.float32)
    acts[3, 1] = np.nan
    path = tmp_path / "acts.npz"
    np.savez(path, clean=np.zeros((5, 2)), dirty=acts)

    info = sublens_json("info", path)

    by_name = {a["name"]: a for a in info["arrays"]}
    assert by_name["clean"]["finite"] is True
    assert by_name["dirty"]["finite"] is False
    assert by_name["dirty"]["first_nonfinite_input"] == 3


def test_info_safetensors_built_from_the_spec(tmp_path, sublens_json):
    weights = np.arange(6, dtype="<f4").reshape(3, 2)
    codes = np.array([1, 2, 3], "<i8")
    header = {
        "__metadata__": {"source": "test"},
        "codes": {"dtype": "I64", "shape": [3], "data_offsets": [24, 48]},
        "weights": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 24]},
    }
    blob = json.dumps(header).encode()
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + weights.tobytes() + codes.tobytes())

    info = sublens_json("info", path)

    assert info["format"] == "safetensors"
    assert [a["name"] for a in info["arrays"]] == ["weights", "codes"]  # data order
    assert info["arrays"][0]["shape"] == [3, 2] and info["arrays"][1]["dtype"] == "int64"
    assert info["metadata"] == {"source": "test"}


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_info_scipy_sparse(tmp_path, sublens_json, fmt):
    matrix = sp.random(7, 7, density=0.3, random_state=1, format=fmt)
    matrix = matrix + matrix.T
    path = tmp_path / "w.npz"
    sp.save_npz(path, matrix.asformat(fmt))

    info = sublens_json("info", path)

    assert info["format"] == "sparse" and info["sparse_format"] == fmt
    assert info["shape"] == [7, 7] and info["N"] == 7
    assert info["nnz"] == sp.csr_matrix(matrix).nnz
    assert info["symmetric"] is True and info["finite"] is True


def test_info_fashion_mnist_images(sublens_json):
    if not os.path.exists(FASHION_IMAGES):
        pytest.skip("dataset-fashion-mnist is not installed")

    info = sublens_json("info", FASHION_IMAGES)

    assert info["format"] == "idx" and info["gzip"] is True
    assert info["dtype"] == "uint8" and info["shape"] == [10000, 28, 28]
    assert info["N"] == 10000 and info["d"] == 784
    assert info["min"] == 0 and info["max"] == 255


def test_info_idx_raw_int16(tmp_path, sublens_json):
    array = np.arange(-6, 6, dtype=">i2").reshape(3, 4)
    path = tmp_path / "values-idx2-short"
    path.write_bytes(bytes([0, 0, 0x0B, 2]) + struct.pack(">2I", 3, 4) + array.tobytes())

    info = sublens_json("info", path)

    assert info["format"] == "idx" and info["gzip"] is False
    assert info["dtype"] == "int16" and info["shape"] == [3, 4]
    assert info["min"] == -6 and info["max"] == 5


def test_info_cifar10_batch(tmp_path, sublens_json):
    labels = np.array([3, 3, 9], np.uint8)
    records = np.zeros((3, 3073), np.uint8)
    records[:, 0] = labels
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(records.tobytes())

    info = sublens_json("info", path)

    assert info["format"] == "cifar10" and info["N"] == 3
    assert info["label_counts"] == np.bincount(labels, minlength=10).tolist()


# ---- bad input: exit 2 and one line naming the file and what is wrong ---------------------------

def _npy_with_header(header, data=b""):
    header = header + " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


BAD_FILES = {
    "empty.npy": (b"", "is empty"),
    "magic.npy": (b"NOTNUMPY" * 4, "magic"),
    "truncated.npy": (b"\x93NUMPY\x01", "truncated"),
    "beyond.npy": (b"\x93NUMPY\x01\x00\xff\x7f{'descr'", "header length"),
    "dtype.npy": (_npy_with_header("{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}",
                                   bytes(8)), "unsupported dtype '<c8'"),
    "count.npy": (_npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}",
                                   bytes(16)), "file holds 16"),
    "huge.npy": (_npy_with_header("{'descr': '<f8', 'fortran_order': False, "
                                  "'shape': (1000000, 1000000)}", bytes(8)), "8000000000000"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_info_rejects_malformed_npy(tmp_path, sublens, name):
    content, fragment = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)

    assert_bad_input(sublens("info", path), name, fragment)


def test_info_rejects_missing_file_and_folder(tmp_path, sublens):
    assert_bad_input(sublens("info", tmp_path / "missing.npy"), "missing.npy", "does not exist")
    assert_bad_input(sublens("info", tmp_path), "is a folder")


def test_info_rejects_zip_member_that_is_not_npy(tmp_path, sublens):
    path = tmp_path / "acts.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")

    assert_bad_input(sublens("info", path), "acts.npz[notes.txt]", "not an .npy")


@pytest.mark.parametrize("offsets,fragment", [
    ([[0, 8], [4, 12]], "overlaps"),
    ([[0, 8], [8, 40]], "out of range"),
])
def test_info_rejects_bad_safetensors_offsets(tmp_path, sublens, offsets, fragment):
    header = {name: {"dtype": "F32", "shape": [(end - begin) // 4], "data_offsets": [begin, end]}
              for name, (begin, end) in zip(["a", "b"], offsets)}
    blob = json.dumps(header).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + bytes(16))

    assert_bad_input(sublens("info", path), "bad.safetensors", fragment)


def test_info_rejects_safetensors_header_beyond_file(tmp_path, sublens):
    path = tmp_path / "cut.safetensors"
    path.write_bytes(struct.pack("<Q", 1000) + b"{}")

    assert_bad_input(sublens("info", path), "cut.safetensors", "header length")


def test_info_rejects_truncated_gzip_idx(tmp_path, sublens):
    raw = bytes([0, 0, 8, 1]) + struct.pack(">I", 5000) + bytes(5000)
    path = tmp_path / "labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(raw)[:20])

    assert_bad_input(sublens("info", path), "labels-idx1-ubyte.gz", "gzip")


def test_info_rejects_bad_sparse_indices(tmp_path, sublens):
    path = tmp_path / "w.npz"
    np.savez(path, format=np.array(b"csr"), shape=np.array([2, 2]), data=np.array([1.0]),
             indices=np.array([5], np.int32), indptr=np.array([0, 1, 1], np.int32))

    assert_bad_input(sublens("info", path), "w.npz", "indices")
