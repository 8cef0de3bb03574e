"""sublens.torch.Recorder and record_checkpoints: run folders against an independent forward pass.

A tiny CNN is trained for 3 epochs on random data and recorded at each epoch. The files are read
back with a few lines of numpy (not sublens's readers) and compared with the modules' outputs
computed by hand in eval mode; the CLI (`sublens info RUN`) must accept every folder written.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sublens.torch  # noqa: E402
from conftest import BIN  # noqa: E402

N, CLASSES, BATCH = 26, 3, 10  # N not a multiple of the batch: a short last batch
LAYERS = ["conv1", "relu1", "pool", "fc"]
ATOL = 1e-6  # float32 activations, same arithmetic as the reference forward pass


class TinyCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.relu1 = torch.nn.ReLU(inplace=True)  # in place: the recorded conv1 must not change
        self.pool = torch.nn.MaxPool2d(2)
        self.drop = torch.nn.Dropout(0.5)  # active only in training mode
        self.fc = torch.nn.Linear(4 * 4 * 4, CLASSES)

    def forward(self, x):
        return self.fc(self.drop(self.pool(self.relu1(self.bn(self.conv1(x)))).flatten(1)))

    def reference(self, x):
        """Each recorded module's output, computed step by step (eval mode, no hooks)."""
        conv1 = self.conv1(x)
        relu1 = torch.relu(self.bn(conv1))
        pool = self.pool(relu1)
        return {"conv1": conv1, "relu1": relu1, "pool": pool, "fc": self.fc(pool.flatten(1))}


def read_safetensors(path):
    """{name: array} of a safetensors file, parsed with numpy (independent of sublens)."""
    data = open(path, "rb").read()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    out = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        assert entry["dtype"] == "F32"
        out[name] = np.frombuffer(data[8 + length + begin:8 + length + end], "<f4").reshape(
            entry["shape"])
    return out, list(header)


def info(path):
    if not os.path.exists(BIN):
        pytest.skip(f"CLI not built ({BIN})")
    return subprocess.run([BIN, "--quiet", "info", str(path)], capture_output=True, text=True,
                          timeout=120)


def data(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(N, 1, 8, 8, generator=g), torch.randint(0, CLASSES, (N,), generator=g)


def train_epoch(model, x, y, optimizer):
    model.train()
    for start in range(0, N, 8):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[start:start + 8]), y[start:start + 8])
        loss.backward()
        optimizer.step()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 3-epoch run recorded each epoch, the expected outputs per epoch and the checkpoints."""
    root = tmp_path_factory.mktemp("recorder")
    torch.manual_seed(0)
    model = TinyCnn()
    x, y = data()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    recorder = sublens.torch.Recorder(model, LAYERS, x, y, root / "run", batch_size=BATCH,
                                      metadata={"seed": 0, "optimizer": "SGD lr=0.5"},
                                      class_names=["a", "b", "c"])
    expected, checkpoints, modes = {}, [], []
    for epoch in (1, 2, 3):
        train_epoch(model, x, y, optimizer)
        bn_mean = model.bn.running_mean.clone()
        recorder.record(epoch)
        modes.append((model.training, model.drop.training))
        assert torch.equal(model.bn.running_mean, bn_mean)  # eval mode: no BN update
        model.eval()
        with torch.no_grad():
            expected[epoch] = {k: v.numpy().copy() for k, v in model.reference(x).items()}
        checkpoints.append(root / f"epoch_{epoch}.pt")
        torch.save(model.state_dict(), checkpoints[-1])
    return {"root": root, "run": root / "run", "x": x, "y": y, "expected": expected,
            "checkpoints": checkpoints, "modes": modes}


def test_recorded_activations_equal_an_independent_forward_pass(trained):
    run = trained["run"]
    for epoch, outputs in trained["expected"].items():
        tensors, order = read_safetensors(run / f"epoch-{epoch:04d}.safetensors")
        assert order == LAYERS
        for name in LAYERS:
            assert tensors[name].shape == outputs[name].shape
            np.testing.assert_allclose(tensors[name], outputs[name], rtol=0, atol=ATOL)
        logits = torch.from_numpy(outputs["fc"])
        predictions = np.load(run / f"epoch-{epoch:04d}.predictions.npy")
        softmax = np.load(run / f"epoch-{epoch:04d}.softmax.npy")
        assert predictions.dtype == np.int64 and softmax.dtype == np.float32
        np.testing.assert_array_equal(predictions, logits.argmax(1).numpy())
        np.testing.assert_allclose(softmax, torch.softmax(logits, 1).numpy(), atol=ATOL)


def test_run_json_describes_the_run(trained):
    run = json.loads((trained["run"] / "run.json").read_text())
    assert run["format"] == "sublens-run" and run["version"] == 1
    assert run["n_inputs"] == N and run["n_classes"] == CLASSES
    assert run["class_names"] == ["a", "b", "c"]
    assert run["layers"] == [{"name": "conv1", "shape": [4, 8, 8]},
                             {"name": "relu1", "shape": [4, 8, 8]},
                             {"name": "pool", "shape": [4, 4, 4]},
                             {"name": "fc", "shape": [CLASSES]}]
    assert run["inputs"] == {"shape": [1, 8, 8]}
    assert [e["epoch"] for e in run["epochs"]] == [1, 2, 3]
    labels = trained["y"].numpy()
    for entry in run["epochs"]:
        logits = trained["expected"][entry["epoch"]]["fc"]
        assert entry["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == labels), abs=1e-12)
    metadata = run["metadata"]
    assert metadata["source"] == "pytorch-recorder" and metadata["model"] == "TinyCnn"
    assert metadata["parameters"] == sum(p.numel() for p in TinyCnn().parameters())
    assert metadata["seed"] == 0 and metadata["optimizer"] == "SGD lr=0.5"
    np.testing.assert_array_equal(np.load(trained["run"] / "labels.npy"), labels)
    inputs = np.load(trained["run"] / "inputs.npy")
    assert inputs.dtype == np.float32
    np.testing.assert_array_equal(inputs, trained["x"].numpy())


def test_training_mode_is_restored(trained):
    assert trained["modes"] == [(True, True)] * 3
    model = TinyCnn()
    model.train()
    model.bn.eval()  # a frozen BatchNorm stays frozen
    x, y = data()
    sublens.torch.Recorder(model, "fc", x, y, trained["root"] / "modes").record(0)
    assert model.training and model.drop.training and not model.bn.training


def test_the_cli_accepts_the_recorded_folder(trained):
    proc = info(trained["run"])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["format"] == "run" and out["N"] == N and out["n_classes"] == CLASSES
    assert [layer["name"] for layer in out["layers"]] == LAYERS
    assert out["layers"][2]["d"] == 64
    assert [e["epoch"] for e in out["epochs"]] == [1, 2, 3]


def test_batches_stream_to_disk_one_batch_at_a_time(tmp_path, monkeypatch):
    torch.manual_seed(1)
    model = TinyCnn()
    x, y = data()
    blocks = []
    write_rows = sublens.run_folder.StreamedSafetensors.write_rows
    monkeypatch.setattr(sublens.run_folder.StreamedSafetensors, "write_rows",
                        lambda self, name, start, rows: (blocks.append(len(rows)),
                                                         write_rows(self, name, start, rows)))
    sublens.torch.Recorder(model, LAYERS, x, y, tmp_path / "small", batch_size=4).record(0)
    assert max(blocks) == 4 and sum(blocks) == N * len(LAYERS)
    sublens.torch.Recorder(model, LAYERS, x, y, tmp_path / "large", batch_size=N).record(0)
    small, _ = read_safetensors(tmp_path / "small" / "epoch-0000.safetensors")
    large, _ = read_safetensors(tmp_path / "large" / "epoch-0000.safetensors")
    for name in LAYERS:
        np.testing.assert_allclose(small[name], large[name], rtol=0, atol=ATOL)
    for suffix in (".predictions.npy", ".softmax.npy"):
        np.testing.assert_allclose(np.load(tmp_path / "small" / f"epoch-0000{suffix}"),
                                   np.load(tmp_path / "large" / f"epoch-0000{suffix}"), atol=ATOL)


def folder_state(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_an_error_mid_epoch_leaves_earlier_epochs_and_no_half_epoch(tmp_path):
    torch.manual_seed(2)
    model = TinyCnn()
    x, y = data()
    recorder = sublens.torch.Recorder(model, LAYERS, x, y, tmp_path / "run", batch_size=BATCH)
    recorder.record(1)
    recorder.record(2)
    before = folder_state(tmp_path / "run")
    calls = []

    def failing_hook(*_):
        calls.append(1)
        if len(calls) == 2:  # the second batch
            raise RuntimeError("killed")

    handle = model.pool.register_forward_hook(failing_hook)
    for epoch in (3, 2):  # a new epoch, and a listed one being replaced
        calls.clear()
        with pytest.raises(RuntimeError, match="killed"):
            recorder.record(epoch)
        assert folder_state(tmp_path / "run") == before  # no temporary or epoch-0003 file
    handle.remove()
    assert model.training
    recorder.record(3)
    assert [e["epoch"] for e in json.loads((tmp_path / "run" / "run.json").read_text())["epochs"]
            ] == [1, 2, 3]


def test_a_failed_first_record_leaves_no_folder(tmp_path):
    x, y = data()
    with pytest.raises(ValueError, match="Recorder: labels: 5 is not a class of the model's 3 "
                                         "outputs"):
        sublens.torch.Recorder(TinyCnn(), "fc", x, torch.full((N,), 5), tmp_path / "run").record(0)
    assert not (tmp_path / "run").exists()


KILLED_SCRIPT = textwrap.dedent("""
    import os, signal, sys, torch
    sys.path[:0] = sys.argv[2].split(os.pathsep)
    import sublens.torch
    from test_recorder import TinyCnn, data, LAYERS
    torch.manual_seed(3)
    model = TinyCnn()
    x, y = data()
    recorder = sublens.torch.Recorder(model, LAYERS, x, y, sys.argv[1], batch_size=10)
    recorder.record(1)
    recorder.record(2)
    calls = []
    def kill(*_):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    model.pool.register_forward_hook(kill)
    recorder.record(3)
""")


def test_a_killed_recording_resumes(tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    script = tmp_path / "record.py"
    script.write_text(KILLED_SCRIPT)
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(script), str(run),
                           os.pathsep.join([here] + sys.path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    listed = json.loads((run / "run.json").read_text())["epochs"]
    assert [e["epoch"] for e in listed] == [1, 2]
    assert not (run / "epoch-0003.safetensors").exists()
    assert info(run).returncode == 0, info(run).stderr
    torch.manual_seed(3)
    model = TinyCnn()
    x, y = data()
    sublens.torch.Recorder(model, LAYERS, x, y, run, batch_size=10).record(3)
    proc = info(run)
    assert proc.returncode == 0, proc.stderr
    assert [e["epoch"] for e in json.loads(proc.stdout)["epochs"]] == [1, 2, 3]


def test_another_analysis_set_or_other_layers_are_refused(trained, tmp_path):
    torch.manual_seed(4)
    model = TinyCnn()
    x, y = data()
    run = tmp_path / "run"
    sublens.torch.Recorder(model, LAYERS, x, y, run).record(0)
    before = folder_state(run)
    other_y = y.clone()
    other_y[5] = (other_y[5] + 1) % CLASSES
    other_x = x.clone()
    other_x[0, 0, 0, 0] += 1
    cases = [
        ((model, LAYERS, x[:-1], y[:-1], run), f"{run / 'run.json'}: n_inputs"),
        ((model, LAYERS, x, other_y, run), f"{run / 'labels.npy'}: labels"),
        ((model, LAYERS, other_x, y, run), f"{run / 'inputs.npy'}: inputs"),
        ((model, LAYERS, x.flatten(1), y, run), f"{run / 'run.json'}: inputs"),
        ((model, ["conv1", "fc"], x, y, run), f"{run / 'run.json'}: layers"),
        ((model, LAYERS[::-1], x, y, run), f"{run / 'run.json'}: layers"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError) as error:
            sublens.torch.Recorder(*args).record(1)
        assert str(error.value).startswith(message), str(error.value)
        assert folder_state(run) == before
    sublens.torch.Recorder(model, ["conv1"], x, y, tmp_path / "conv1").record(0)
    wider = TinyCnn()
    wider.fc = torch.nn.Linear(64, CLASSES + 1)
    with pytest.raises(ValueError, match="run.json: n_classes: the folder holds 3, this model "
                                         "outputs 4"):
        sublens.torch.Recorder(wider, ["conv1"], x, y, tmp_path / "conv1").record(1)
    with pytest.raises(ValueError, match=r"run.json: layers: 'fc' has shape \[3\] in the folder, "
                                         r"\[4\] in this model"):
        sublens.torch.Recorder(wider, LAYERS, x, y, run).record(1)
    assert folder_state(run) == before


def test_re_recording_an_epoch_replaces_it(tmp_path):
    torch.manual_seed(5)
    model = TinyCnn()
    x, y = data()
    recorder = sublens.torch.Recorder(model, ["fc"], x, y, tmp_path)
    recorder.record(4)
    with torch.no_grad():
        model.fc.bias += 1
    recorder.record(4)
    model.eval()
    with torch.no_grad():
        expected = model(x).numpy()
    tensors, _ = read_safetensors(tmp_path / "epoch-0004.safetensors")
    np.testing.assert_allclose(tensors["fc"], expected, atol=ATOL)
    assert len(json.loads((tmp_path / "run.json").read_text())["epochs"]) == 1


def test_output_that_is_not_logits_is_refused(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3))  # N x 2 x 6 x 6, not N x classes
    x, y = data()
    with pytest.raises(ValueError, match=r"output has shape \(10, 2, 6, 6\); predictions and "
                                         "softmax need N x n_classes logits"):
        sublens.torch.Recorder(model, "0", x, y, tmp_path / "run", batch_size=10).record(0)


def test_record_checkpoints_equals_the_recorder(trained, tmp_path):
    sublens.torch.record_checkpoints(TinyCnn, trained["checkpoints"], LAYERS, trained["x"],
                                     trained["y"], tmp_path / "run", batch_size=7,
                                     metadata={"seed": 0, "optimizer": "SGD lr=0.5"},
                                     class_names=["a", "b", "c"])
    recorded = json.loads((trained["run"] / "run.json").read_text())
    replayed = json.loads((tmp_path / "run" / "run.json").read_text())
    assert replayed == recorded
    for epoch in (1, 2, 3):
        a, _ = read_safetensors(trained["run"] / f"epoch-{epoch:04d}.safetensors")
        b, _ = read_safetensors(tmp_path / "run" / f"epoch-{epoch:04d}.safetensors")
        for name in LAYERS:
            np.testing.assert_allclose(a[name], b[name], rtol=0, atol=ATOL)
    assert info(tmp_path / "run").returncode == 0


def test_checkpoint_epochs_come_from_names_order_or_the_argument(trained, tmp_path):
    model = TinyCnn()
    state = model.state_dict()
    for name in ("ckpt-0012.pth", "ckpt-0003.pth", "final.pt", "dup_3.pt"):
        torch.save({"state_dict": state}, tmp_path / name)
    x, y = data()

    def epochs_of(files, **kwargs):
        out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        sublens.torch.record_checkpoints(TinyCnn, [tmp_path / f for f in files], "fc", x, y, out,
                                         **kwargs)
        return [e["epoch"] for e in json.loads((out / "run.json").read_text())["epochs"]]

    assert epochs_of(["ckpt-0012.pth", "ckpt-0003.pth"]) == [3, 12]
    assert epochs_of(["ckpt-0012.pth", "final.pt"]) == [1, 2]
    assert epochs_of(["final.pt", "ckpt-0003.pth"], epochs=[0, 7]) == [0, 7]
    with pytest.raises(ValueError, match="ckpt-0003.pth and .*dup_3.pt are both epoch 3"):
        epochs_of(["ckpt-0003.pth", "dup_3.pt"])
    with pytest.raises(ValueError, match="2 epochs for 1 checkpoints"):
        epochs_of(["final.pt"], epochs=[1, 2])


def test_presets_name_blocks_by_module_structure():
    torchvision = pytest.importorskip("torchvision")
    resolve = sublens.torch._resolve_layers
    resnet = torchvision.models.resnet18(num_classes=3)
    assert resolve(resnet, "blocks") == [f"layer{s}.{b}" for s in range(1, 5) for b in (0, 1)]
    assert resolve(resnet, ["conv1", "stages", "fc"]) == [
        "conv1", "layer1", "layer2", "layer3", "layer4", "fc"]
    vgg = torchvision.models.vgg11_bn(num_classes=3)
    relus = [f"features.{i}" for i, m in enumerate(vgg.features)
             if isinstance(m, torch.nn.ReLU)]
    assert resolve(vgg, "blocks") == relus and len(relus) == 8
    assert resolve(vgg, "stages") == [f"features.{i}" for i, m in enumerate(vgg.features)
                                      if isinstance(m, torch.nn.MaxPool2d)]
    dense = torchvision.models.densenet121(num_classes=3)
    assert resolve(dense, "blocks") == [
        "features.denseblock1", "features.transition1", "features.denseblock2",
        "features.transition2", "features.denseblock3", "features.transition3",
        "features.denseblock4"]

    class NetworkBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Identity())

    class Wrn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.block1, self.block2, self.block3 = NetworkBlock(), NetworkBlock(), NetworkBlock()

    assert resolve(Wrn(), "blocks") == [f"block{s}.layer.{b}" for s in (1, 2, 3) for b in (0, 1)]
    with pytest.raises(ValueError, match="layers='blocks': no blocks found in TinyCnn"):
        resolve(TinyCnn(), "blocks")
    with pytest.raises(ValueError, match="no submodule named 'block' and no preset of that name "
                                         r"\(presets: blocks, stages"):
        resolve(TinyCnn(), "block")


def test_a_fixed_loader_records_like_a_tensor_and_a_shuffled_one_is_refused(tmp_path):
    torch.manual_seed(6)
    model = TinyCnn()
    x, y = data()
    loader = [(x[s:s + 9], y[s:s + 9]) for s in range(0, N, 9)]
    sublens.torch.Recorder(model, LAYERS, loader, y, tmp_path / "loader").record(0)
    sublens.torch.Recorder(model, LAYERS, x.numpy(), y.numpy(), tmp_path / "array").record(0)
    a, _ = read_safetensors(tmp_path / "loader" / "epoch-0000.safetensors")
    b, _ = read_safetensors(tmp_path / "array" / "epoch-0000.safetensors")
    for name in LAYERS:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=ATOL)
    assert json.loads((tmp_path / "loader" / "run.json").read_text())["inputs"] is None
    assert not (tmp_path / "loader" / "inputs.npy").exists()
    shuffled = [(x[s:s + 9], y.roll(1)[s:s + 9]) for s in range(0, N, 9)]
    with pytest.raises(ValueError, match="the loader's targets differ from `labels`"):
        sublens.torch.Recorder(model, LAYERS, shuffled, y, tmp_path / "shuffled").record(0)
    with pytest.raises(ValueError, match="re-iterable loader"):
        sublens.torch.Recorder(model, LAYERS, iter(loader), y, tmp_path / "iterator")
    assert not (tmp_path / "shuffled").exists()


def test_a_folder_of_another_format_or_a_broken_run_json_is_refused(tmp_path):
    x, y = data()
    model = TinyCnn()
    for content, message in [({"format": "other"}, "format: must be \"sublens-run\""),
                             ({"format": "sublens-run", "version": 2}, "version: unsupported"),
                             ({"format": "sublens-run", "version": 1, "n_inputs": N,
                               "n_classes": 3, "layers": "fc", "epochs": []}, "layers: missing"),
                             ("{", "json: cannot be read")]:
        (tmp_path / "run.json").write_text(content if isinstance(content, str)
                                           else json.dumps(content))
        with pytest.raises(ValueError, match=f"run.json: {message}"):
            sublens.torch.Recorder(model, "fc", x, y, tmp_path).record(0)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


@pytest.mark.parametrize("names, message", [
    (["a", "", "c"], r"class_names\[1\]: must be a non-empty string"),
    (["a", "b", "a"], r"class_names\[2\]: 'a' is listed twice"),
    ("abc", "pass a list of names"),
])
def test_class_names_must_be_distinct_non_empty_strings(tmp_path, names, message):
    x, y = data()
    with pytest.raises(ValueError, match=message):
        sublens.torch.Recorder(TinyCnn(), LAYERS, x, y, tmp_path / "run", class_names=names)
    assert not (tmp_path / "run").exists()
