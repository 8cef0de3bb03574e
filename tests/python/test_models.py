"""End-to-end tests of `sublens models|train|extract` (run through the companion sublens-torch).

Everything is tiny: 2-conv CNN with 4 channels, ~180 Fashion-MNIST images, 1-2 epochs. The
TorchScript capture is checked against python3-torch's own forward hooks.
"""
import csv
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from conftest import assert_bad_input

FASHION_MNIST = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"]
SAFETENSORS_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def read_safetensors(path):
    data = open(path, "rb").read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    metadata = header.pop("__metadata__", {})
    arrays = {}
    for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
        begin, end = info["data_offsets"]
        arrays[name] = np.frombuffer(data[8 + size + begin:8 + size + end],
                                     dtype=SAFETENSORS_DTYPES[info["dtype"]]).reshape(info["shape"])
    return arrays, metadata


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from conftest import run_sublens
    run_dir = tmp_path_factory.mktemp("runs") / "cnn2"
    proc = run_sublens("train", "--model", "cnn2", "--base-width", "4", "--train-fraction", "0.003",
                       "--epochs", "2", "--batch-size", "32", "--lr", "0.05", "--threads", "1",
                       "--test-n", "100", "-o", run_dir, check=True)
    return run_dir, json.loads(proc.stdout)


def test_models_lists_zoo_and_capture_points(sublens_json):
    rows = sublens_json("models")
    names = [row["model"] for row in rows]
    assert names == ["cnn2", "alexnet", "vgg11", "resnet20", "resnet18", "wrn-16-2", "densenet40"]
    for row in rows:
        points = row["capture_points"]
        assert points[-1]["name"] == "logits" and points[-1]["dim"] == 10
        assert all(p["dim"] == int(np.prod(p["shape"])) for p in points)

    vgg = sublens_json("models", "--model", "vgg16", "--base-width", "4", "--input", "3,32,32")

    names = [p["name"] for p in vgg["capture_points"]]
    assert names[:3] == ["stage1.conv1", "stage1.conv2", "stage1.pool"]
    assert vgg["capture_points"][0]["shape"] == [4, 32, 32]
    assert sum(".conv" in n for n in names) == 13


def test_help_shows_example(sublens):
    proc = sublens("train", "--help")
    assert proc.returncode == 0
    assert "Example:" in proc.stdout and "--model" in proc.stdout


def test_train_writes_run_folder(tiny_run):
    run_dir, summary = tiny_run

    assert summary["first_epoch"] == 1 and summary["last_epoch"] == 2
    assert summary["train_images"] == 180
    assert 0 <= summary["test_accuracy"] <= 1
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["epoch-0001.pt", "epoch-0002.pt"]
    rows = list(csv.DictReader(open(run_dir / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    config = json.load(open(run_dir / "config.json"))
    assert config["model"]["name"] == "cnn2" and config["train_images"] == 180


def test_extract_all_epochs(tiny_run, tmp_path, sublens_json):
    run_dir, _ = tiny_run
    out = tmp_path / "acts.safetensors"

    summary = sublens_json("extract", "--run", run_dir, "--all-epochs", "--layers", "pool*,logits",
                           "--n", "30", "--threads", "1", "-o", out)

    assert summary["epochs"] == [1, 2] and summary["n_inputs"] == 30
    arrays, metadata = read_safetensors(tmp_path / "acts.epoch-0002.safetensors")
    assert list(arrays) == ["pool1", "pool2", "logits"]
    assert arrays["pool1"].shape == (30, 4 * 12 * 12) and arrays["pool2"].shape == (30, 8 * 4 * 4)
    assert metadata["sublens.shape.pool2"] == "8,4,4"
    labels = np.load(tmp_path / "acts.labels.npy")
    indices = np.load(tmp_path / "acts.indices.npy")
    predictions = np.load(tmp_path / "acts.epoch-0002.predictions.npy")
    softmax = np.load(tmp_path / "acts.epoch-0002.softmax.npy")
    assert list(indices) == list(range(30)) and labels.dtype == np.int64
    assert np.array_equal(predictions, arrays["logits"].argmax(1))
    np.testing.assert_allclose(softmax.sum(1), 1, rtol=1e-5)
    assert summary["accuracy"][1] == pytest.approx(np.mean(predictions == labels))


def test_resume_and_subsets(tmp_path, sublens_json, sublens):
    run_dir = tmp_path / "ordered"
    common = ["--model", "cnn2", "--base-width", "2", "--classes", "3,1", "--ordered",
              "--train-fraction", "0.01", "--threads", "1", "--test-n", "-1", "-o", run_dir]

    first = sublens_json("train", *common, "--epochs", "1")
    again = sublens("train", *common, "--epochs", "2")
    other_lr = sublens("train", *common, "--epochs", "3", "--resume", "--lr", "0.05")
    other_model = sublens("train", "--model", "resnet8", "-o", run_dir, "--epochs", "3", "--resume")
    resumed = sublens_json("train", *common, "--epochs", "2", "--resume")
    # Only what the caller gave is compared: the stored options fill in the rest.
    defaults = sublens_json("train", "--model", "cnn2", "--base-width", "2", "-o", run_dir,
                            "--epochs", "2", "--resume", "--threads", "1", "--test-n", "-1")

    assert first["train_images"] == 120  # 1% of 6000 images of each of 2 classes
    assert_bad_input(other_lr, "config.json", "lr", "0.1", "0.05")
    assert_bad_input(other_model, "config.json", "model", "cnn2", "resnet8")
    assert defaults["first_epoch"] == 3 and defaults["last_epoch"] == 2
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["epoch-0001.pt", "epoch-0002.pt"]
    assert_bad_input(again, str(run_dir), "--resume")
    assert resumed["first_epoch"] == 2 and resumed["last_epoch"] == 2


def test_checkpoint_epochs_and_epoch_list(tiny_run, tmp_path, sublens_json):
    run_dir, _ = tiny_run
    init_run = tmp_path / "init"

    summary = sublens_json("train", "--model", "cnn2", "--base-width", "2", "--train-fraction",
                           "0.002", "--epochs", "3", "--checkpoint-epochs", "0,2", "--threads", "1",
                           "--test-n", "-1", "-o", init_run)
    acts = sublens_json("extract", "--run", run_dir, "--epoch", "1,2", "--layers", "conv1",
                        "--n", "5", "--split", "train", "-o", tmp_path / "a.npz")

    assert [os.path.basename(p) for p in summary["checkpoints"]] == [
        "epoch-0000.pt", "epoch-0002.pt", "epoch-0003.pt"]
    assert [os.path.basename(p) for p in acts["outputs"]] == ["a.epoch-0001.npz", "a.epoch-0002.npz"]
    assert np.load(tmp_path / "a.epoch-0001.npz")["conv1"].shape == (5, 4 * 24 * 24)


def test_bad_inputs(tiny_run, tmp_path, sublens):
    run_dir, _ = tiny_run
    out = tmp_path / "a.safetensors"
    assert_bad_input(sublens("train", "--model", "resnet21", "--epochs", "1", "-o", tmp_path / "r"),
                     "6n+2")
    assert_bad_input(sublens("train", "--model", "cnn2", "--epochs", "1", "--train-fraction", "0",
                             "-o", tmp_path / "r"), "fraction")
    assert_bad_input(sublens("train", "--model", "cnn2", "--epochs", "1", "--dataset", "mnist",
                             "--data-dir", tmp_path, "-o", tmp_path / "r"), "train-images-idx3-ubyte")
    assert_bad_input(sublens("extract", "--run", run_dir, "--epoch", "9", "--layers", "logits",
                             "-o", out), "epoch 9", "available: 1, 2", outputs=[out])
    assert_bad_input(sublens("extract", "--run", run_dir, "--layers", "nope*", "-o", out),
                     "nope*", "pool1", outputs=[out])


TORCH_SCRIPT = r"""
import sys, numpy as np, torch
from torch import nn
torch.manual_seed(0)

class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.layer1 = nn.Sequential(Block(4), Block(4))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 10)
    def forward(self, x):
        x = self.layer1(self.stem(x))
        return self.fc(self.pool(x).flatten(1))

net = Net()
for m in net.modules():
    if isinstance(m, nn.BatchNorm2d):
        m.running_mean.uniform_(-0.5, 0.5); m.running_var.uniform_(0.5, 2); m.weight.data.uniform_(0.5, 1.5)
net.eval()
inputs = torch.randn(7, 1, 12, 12)
torch.jit.save(torch.jit.script(net), sys.argv[1] + "/scripted.pt")
torch.jit.save(torch.jit.trace(net, inputs), sys.argv[1] + "/traced.pt")
np.save(sys.argv[1] + "/inputs.npy", inputs.numpy())
names = sys.argv[2].split(",")
outputs = {}
for name in names:
    net.get_submodule(name).register_forward_hook(
        lambda m, i, o, name=name: outputs.__setitem__(name, o.detach().clone()))
with torch.no_grad():
    net(inputs)
np.savez(sys.argv[1] + "/hooks.npz", **{n: outputs[n].reshape(7, -1).numpy() for n in names})
"""

LAYERS = ["stem", "stem.0", "layer1.0.conv1", "layer1.0.bn2", "layer1.0", "layer1", "pool", "fc"]


@pytest.mark.parametrize("kind", ["scripted", "traced"])
def test_torchscript_capture_matches_python_hooks(tmp_path, sublens, sublens_json, kind):
    script = tmp_path / "make_model.py"  # torch.jit.script needs the source in a file
    script.write_text(TORCH_SCRIPT)
    subprocess.run([sys.executable, str(script), str(tmp_path), ",".join(LAYERS)], check=True)
    hooks = np.load(tmp_path / "hooks.npz")
    out = tmp_path / f"{kind}.safetensors"

    listing = sublens_json("extract", "--torchscript", tmp_path / f"{kind}.pt")
    summary = sublens_json("extract", "--torchscript", tmp_path / f"{kind}.pt", "--inputs",
                           tmp_path / "inputs.npy", "--layers", ",".join(LAYERS), "--batch-size", "3", "-o", out)
    missing = sublens("extract", "--torchscript", tmp_path / f"{kind}.pt", "--inputs",
                      tmp_path / "inputs.npy", "--layers", "layer9", "-o", tmp_path / "x.safetensors")

    assert set(LAYERS) <= set(listing["available"])
    assert summary["n_inputs"] == 7
    arrays, _ = read_safetensors(out)
    assert list(arrays) == LAYERS
    for name in LAYERS:
        np.testing.assert_allclose(arrays[name], hooks[name], rtol=1e-5, atol=1e-5, err_msg=name)
    assert_bad_input(missing, "layer9", "layer1.0.conv1", outputs=[tmp_path / "x.safetensors"])


def test_cifar_and_npy_datasets(tmp_path, sublens_json):
    rng = np.random.default_rng(0)
    cifar = tmp_path / "cifar-10-batches-bin"
    cifar.mkdir()
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = np.zeros((4, 3073), np.uint8)
        records[:, 0] = [0, 1, 2, 9]
        records[:, 1:] = rng.integers(0, 256, (4, 3072))
        records.tofile(cifar / name)
    npy = tmp_path / "npy"
    npy.mkdir()
    np.save(npy / "train_images.npy", rng.random((30, 20, 20)).astype(np.float32))
    np.save(npy / "train_labels.npy", np.arange(30) % 3)
    np.save(npy / "test_images.npy", rng.random((6, 20, 20)).astype(np.float32))
    np.save(npy / "test_labels.npy", np.arange(6) % 3)

    cifar_run = sublens_json("train", "--model", "resnet20", "--base-width", "2", "--dataset",
                             "cifar10", "--data-dir", tmp_path, "--epochs", "1", "--threads", "1",
                             "-o", tmp_path / "cifar_run")
    npy_run = sublens_json("train", "--model", "vgg11", "--base-width", "2", "--dataset", "npy",
                           "--data-dir", npy, "--epochs", "1", "--threads", "1",
                           "-o", tmp_path / "npy_run")
    acts = sublens_json("extract", "--run", tmp_path / "npy_run", "--layers", "stage1.conv1",
                        "logits", "-o", tmp_path / "npy.npz")

    assert cifar_run["train_images"] == 20
    config = json.load(open(tmp_path / "cifar_run" / "config.json"))
    assert config["model"]["in_channels"] == 3 and config["model"]["height"] == 32
    assert npy_run["train_images"] == 30
    archive = np.load(tmp_path / "npy.npz")
    assert archive["stage1.conv1"].shape == (6, 2 * 20 * 20) and archive["logits"].shape == (6, 3)


def test_extract_writes_a_run_folder_from_a_training_run(tiny_run, tmp_path, sublens_json):
    run_dir, _ = tiny_run
    out = tmp_path / "run"

    summary = sublens_json("extract", "--run", run_dir, "--epoch", "1,2", "--layers", "pool1,pool2",
                           "--n", "50", "--sample-seed", "0", "--threads", "1", "-o", out)
    # Epoch 2 again (a rerun replaces it) and nothing else: run.json still lists both.
    sublens_json("extract", "--run", run_dir, "--epoch", "2", "--layers", "pool1", "--layers", "pool2",
                 "--n", "50", "--sample-seed", "0", "--threads", "1", "-o", out)

    meta = json.loads((out / "run.json").read_text())
    assert meta["format"] == "sublens-run" and meta["version"] == 1
    assert meta["n_inputs"] == 50 and meta["n_classes"] == 10
    assert [layer["name"] for layer in meta["layers"]] == ["pool1", "pool2"]
    assert meta["metadata"]["source"] == "sublens-train"
    assert meta["class_names"] == FASHION_MNIST  # the dataset's names, for figures and tables
    assert meta["metadata"]["recipe"]["model"]["name"] == "cnn2"
    labels = np.load(out / "labels.npy")
    inputs = np.load(out / "inputs.npy")
    assert inputs.dtype == np.float32 and inputs.shape == (50, 1, 28, 28)
    assert [e["epoch"] for e in meta["epochs"]] == [1, 2] == summary["epochs"]
    for entry in meta["epochs"]:
        predictions = np.load(out / f"epoch-{entry['epoch']:04d}.predictions.npy")
        assert entry["accuracy"] == pytest.approx(np.mean(predictions == labels))
        softmax = np.load(out / f"epoch-{entry['epoch']:04d}.softmax.npy")
        np.testing.assert_array_equal(softmax.argmax(1), predictions)
        arrays, _ = read_safetensors(out / f"epoch-{entry['epoch']:04d}.safetensors")
        assert [a.shape for a in arrays.values()] == [
            (50, *layer["shape"]) for layer in meta["layers"]]
    assert sublens_json("info", out)["N"] == 50


def test_extract_refuses_to_mix_layers_in_one_run_folder(tiny_run, tmp_path, sublens_json, sublens):
    run_dir, _ = tiny_run
    out = tmp_path / "run"
    sublens_json("extract", "--run", run_dir, "--layers", "pool1", "--n", "20", "-o", out)
    before = (out / "run.json").read_bytes()

    proc = sublens("extract", "--run", run_dir, "--layers", "pool2", "--n", "20", "-o", out)

    assert_bad_input(proc, "run.json", "layers")
    assert (out / "run.json").read_bytes() == before


def test_torchscript_models_of_several_epochs_write_a_run_folder(tmp_path, sublens_json):
    script = tmp_path / "make_model.py"
    script.write_text(TORCH_SCRIPT)
    layers = ["stem", "layer1", "fc"]
    subprocess.run([sys.executable, str(script), str(tmp_path), ",".join(layers)], check=True)
    hooks = np.load(tmp_path / "hooks.npz")
    labels = np.arange(7) % 10
    np.save(tmp_path / "labels.npy", labels)
    for epoch in (2, 10):  # epoch numbers taken from the file names
        os.link(tmp_path / "scripted.pt", tmp_path / f"model-epoch-{epoch}.pt")
    out = tmp_path / "run"

    summary = sublens_json("extract", "--torchscript", tmp_path / "model-epoch-2.pt",
                           "--torchscript", tmp_path / "model-epoch-10.pt", "--inputs",
                           tmp_path / "inputs.npy", "--labels", tmp_path / "labels.npy",
                           "--layers", ",".join(layers), "-o", out)
    explicit = sublens_json("extract", "--torchscript", tmp_path / "scripted.pt", "--torchscript",
                            tmp_path / "traced.pt", "--epoch", "3,5", "--inputs",
                            tmp_path / "inputs.npy", "--labels", tmp_path / "labels.npy",
                            "--layers", "stem", "--layers", "layer1,fc", "-o", tmp_path / "run2")

    assert summary["epochs"] == [2, 10] and explicit["epochs"] == [3, 5]
    meta = json.loads((out / "run.json").read_text())
    assert meta["metadata"]["source"] == "torchscript"
    assert "class_names" not in meta  # unknown: the labels stay numbers
    assert [layer["name"] for layer in meta["layers"]] == layers
    predictions = hooks["fc"].argmax(1)
    for epoch in (2, 10):
        arrays, _ = read_safetensors(out / f"epoch-{epoch:04d}.safetensors")
        for name in layers:
            np.testing.assert_allclose(arrays[name].reshape(7, -1), hooks[name], rtol=1e-5,
                                       atol=1e-5, err_msg=name)
        np.testing.assert_array_equal(np.load(out / f"epoch-{epoch:04d}.predictions.npy"),
                                      predictions)
    assert meta["epochs"][0]["accuracy"] == pytest.approx(np.mean(predictions == labels))
    np.testing.assert_array_equal(np.load(out / "inputs.npy"), np.load(tmp_path / "inputs.npy"))
    assert sublens_json("info", out)["N"] == 7


def test_the_old_space_separated_layers_still_work_with_one_deprecation_line(tiny_run, tmp_path,
                                                                             sublens):
    run_dir, _ = tiny_run
    old = sublens("extract", "--run", run_dir, "--layers", "pool1", "pool2", "--n", "10",
                  "--threads", "1", "-o", tmp_path / "old.npz")
    new = sublens("extract", "--run", run_dir, "--layers", "pool1,pool2", "--n", "10",
                  "--threads", "1", "-o", tmp_path / "new.npz")

    assert old.returncode == 0 and new.returncode == 0, old.stderr + new.stderr
    lines = [line for line in old.stderr.splitlines() if line.strip()]
    assert lines == ["sublens extract: warning: '--layers pool1 pool2' is deprecated and will be "
                     "removed; write '--layers pool1,pool2' or repeat --layers"]
    assert new.stderr.strip() == ""
    old_arrays, new_arrays = np.load(tmp_path / "old.npz"), np.load(tmp_path / "new.npz")
    assert list(old_arrays) == list(new_arrays) == ["pool1", "pool2"]
    for name in ("pool1", "pool2"):
        np.testing.assert_array_equal(old_arrays[name], new_arrays[name])


def test_torchscript_layers_take_globs(tmp_path, sublens, sublens_json):
    script = tmp_path / "make_model.py"
    script.write_text(TORCH_SCRIPT)
    subprocess.run([sys.executable, str(script), str(tmp_path), ",".join(LAYERS)], check=True)
    model = tmp_path / "scripted.pt"
    available = sublens_json("extract", "--torchscript", model)["available"]

    summary = sublens_json("extract", "--torchscript", model, "--inputs", tmp_path / "inputs.npy",
                           "--layers", "fc,layer1.0.conv*", "-o", tmp_path / "g.safetensors")
    nothing = sublens("extract", "--torchscript", model, "--inputs", tmp_path / "inputs.npy",
                      "--layers", "block*", "-o", tmp_path / "x.safetensors")

    convs = [n for n in available if n.startswith("layer1.0.conv")]
    assert convs and [layer["name"] for layer in summary["layers"]] == ["fc", *convs]
    assert_bad_input(nothing, "--layers", "'block*' matches no submodule", "layer1.0.conv1",
                     outputs=[tmp_path / "x.safetensors"])
