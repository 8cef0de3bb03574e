"""`sublens info RUN`: run folders written here with numpy (and a few lines of safetensors) are
validated and described; broken ones exit 2 with one line naming the file and the field."""
import json
import os
import shutil

import numpy as np
import pytest

from conftest import assert_bad_input

N, CLASSES = 12, 3
LAYERS = {"block1": (2, 3, 3), "fc": (CLASSES,)}


def write_safetensors(path, arrays):
    header, offset, blobs = {}, 0, []
    for name, array in arrays.items():
        blob = np.ascontiguousarray(array).tobytes()
        dtype = {"float32": "F32", "float64": "F64"}[str(array.dtype)]
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + b"".join(blobs))


@pytest.fixture
def run(tmp_path):
    """A valid run folder: epochs 0 and 5, inputs, metadata."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "run"
    folder.mkdir()
    labels = rng.integers(0, CLASSES, N)
    np.save(folder / "labels.npy", labels.astype(np.int64))
    np.save(folder / "inputs.npy", rng.random((N, 1, 4, 4), dtype=np.float32))
    epochs = []
    for epoch in (0, 5):
        arrays = {name: rng.standard_normal((N, *shape)).astype(np.float32)
                  for name, shape in LAYERS.items()}
        write_safetensors(folder / f"epoch-{epoch:04d}.safetensors", arrays)
        logits = arrays["fc"]
        np.save(folder / f"epoch-{epoch:04d}.predictions.npy", logits.argmax(1))
        softmax = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        np.save(folder / f"epoch-{epoch:04d}.softmax.npy", softmax.astype(np.float32))
        epochs.append({"epoch": epoch, "accuracy": float(np.mean(logits.argmax(1) == labels))})
    meta = {"format": "sublens-run", "version": 1, "n_inputs": N, "n_classes": CLASSES,
            "layers": [{"name": k, "shape": list(v)} for k, v in LAYERS.items()],
            "inputs": {"shape": [1, 4, 4]}, "epochs": epochs,
            "metadata": {"source": "test", "parameters": 7}}
    (folder / "run.json").write_text(json.dumps(meta))
    return folder


def edit_json(folder, change):
    meta = json.loads((folder / "run.json").read_text())
    change(meta)
    (folder / "run.json").write_text(json.dumps(meta))


def test_info_describes_a_valid_run(run, sublens_json):
    out = sublens_json("info", run)
    assert out["format"] == "run" and out["valid"] is True
    assert out["N"] == N and out["n_classes"] == CLASSES and out["class_names"] is None
    assert out["layers"] == [{"name": "block1", "shape": [2, 3, 3], "d": 18},
                             {"name": "fc", "shape": [3], "d": 3}]
    meta = json.loads((run / "run.json").read_text())
    assert out["epochs"] == meta["epochs"]
    assert out["inputs"] == {"shape": [1, 4, 4]}
    assert out["metadata"] == {"source": "test", "parameters": 7}
    assert out["bytes"] == sum(os.path.getsize(p) for p in run.iterdir())


def test_info_ignores_files_of_an_unlisted_epoch(run, sublens_json):
    shutil.copy(run / "epoch-0005.safetensors", run / "epoch-0009.safetensors")  # a half epoch
    out = sublens_json("info", run)
    assert [e["epoch"] for e in out["epochs"]] == [0, 5]
    assert out["folder_bytes"] > out["bytes"]


def test_missing_epoch_file(run, sublens):
    os.remove(run / "epoch-0005.softmax.npy")
    assert_bad_input(sublens("info", run), run / "epoch-0005.softmax.npy", "file: does not exist",
                     "epochs[1]")


def test_layer_missing_in_one_epoch(run, sublens):
    write_safetensors(run / "epoch-0000.safetensors",
                      {"block1": np.zeros((N, 2, 3, 3), np.float32)})
    assert_bad_input(sublens("info", run), run / "epoch-0000.safetensors", "tensor 'fc': missing")


def test_n_mismatches(run, sublens):
    np.save(run / "labels.npy", np.zeros(N - 1, np.int64))
    assert_bad_input(sublens("info", run), run / "labels.npy", "shape: shape (11,) but",
                     "n_inputs")
    np.save(run / "labels.npy", np.zeros(N, np.int64))
    write_safetensors(run / "epoch-0005.safetensors",
                      {"block1": np.zeros((N + 1, 2, 3, 3), np.float32),
                       "fc": np.zeros((N, 3), np.float32)})
    assert_bad_input(sublens("info", run), run / "epoch-0005.safetensors",
                     "tensor 'block1': shape (13, 2, 3, 3) but")


def test_nan_in_activations(run, sublens):
    arrays = {"block1": np.zeros((N, 2, 3, 3), np.float32), "fc": np.zeros((N, 3), np.float32)}
    arrays["block1"][7, 1, 2, 0] = np.nan
    write_safetensors(run / "epoch-0005.safetensors", arrays)
    assert_bad_input(sublens("info", run), run / "epoch-0005.safetensors",
                     "tensor 'block1': value of input 7 is not finite")


def test_run_json_of_another_format_or_version(run, sublens):
    edit_json(run, lambda m: m.update(format="other-tool-run"))
    assert_bad_input(sublens("info", run), run / "run.json", "format: must be \"sublens-run\"")
    edit_json(run, lambda m: m.update(format="sublens-run", version=2))
    assert_bad_input(sublens("info", run), run / "run.json", "version: unsupported version 2")


def test_shape_other_than_run_json_says(run, sublens):
    edit_json(run, lambda m: m["layers"][0].update(shape=[18]))
    assert_bad_input(sublens("info", run), run / "epoch-0000.safetensors",
                     "tensor 'block1': shape (12, 2, 3, 3) but", "(12, 18)")


def test_labels_out_of_range(run, sublens):
    labels = np.load(run / "labels.npy")
    labels[3] = CLASSES
    np.save(run / "labels.npy", labels)
    assert_bad_input(sublens("info", run), run / "labels.npy",
                     "value of input 3: 3 is outside 0 .. n_classes-1")


def test_bad_fields_and_folders(run, sublens, tmp_path):
    edit_json(run, lambda m: m["epochs"].reverse())
    assert_bad_input(sublens("info", run), run / "run.json", "epochs[1].epoch: 0 must be greater")
    edit_json(run, lambda m: m["epochs"].reverse() or m["epochs"][0].update(accuracy=1.5))
    assert_bad_input(sublens("info", run), run / "run.json", "epochs[0].accuracy: must be in [0, 1]")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_bad_input(sublens("info", empty), empty, "FILE: is a folder without run.json")


def test_info_shows_class_names(run, sublens_json):
    edit_json(run, lambda m: m.update(class_names=["cat", "dog", "T-shirt/top"]))
    assert sublens_json("info", run)["class_names"] == ["cat", "dog", "T-shirt/top"]


@pytest.mark.parametrize("names, field, constraint", [
    (["cat", "dog"], "class_names", "must be a list of n_classes (3) strings"),
    (["cat", "", "dog"], "class_names[1]", "must be a non-empty string"),
    (["cat", "dog", "cat"], "class_names[2]", "'cat' is listed twice"),
    (["cat", 7, "dog"], "class_names[1]", "must be a string"),
    ("cat,dog,bird", "class_names", "must be a list"),
], ids=["count", "empty", "duplicate", "number", "string"])
def test_bad_class_names_name_run_json_and_the_field(run, sublens, names, field, constraint):
    edit_json(run, lambda m: m.update(class_names=names))
    assert_bad_input(sublens("info", run), f"{run / 'run.json'}: {field}: {constraint}")
