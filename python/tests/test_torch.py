"""sublens.torch.capture against a hand-written forward hook on a torchvision ResNet-18; its
messages (the nearest layer name, the memory estimate)."""
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import sublens  # noqa: E402
import sublens.torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10)  # random weights


@pytest.fixture(scope="module")
def images():
    return torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def hand_written_hook(model, images, name):
    outputs = []
    handle = dict(model.named_modules())[name].register_forward_hook(
        lambda module, inputs, output: outputs.append(output.detach().clone()))
    model.eval()
    with torch.no_grad():
        model(images)
    handle.remove()
    return outputs[-1].reshape(images.shape[0], -1).numpy()


def test_capture_equals_a_hand_written_hook(resnet, images):
    layers = ["layer1.0.conv1", "layer2", "avgpool", "fc"]

    acts = sublens.torch.capture(resnet, images, layers, batch_size=4)

    assert list(acts) == layers
    for name in layers:
        expected = hand_written_hook(resnet, images, name)
        assert acts[name].dtype == np.float32 and acts[name].shape == expected.shape
        np.testing.assert_allclose(acts[name], expected, rtol=1e-5, atol=1e-5)


def test_capture_restores_training_mode_and_accepts_loaders(resnet, images):
    resnet.train()
    loader = [(images[:3], torch.zeros(3)), (images[3:], torch.zeros(3))]

    acts = sublens.torch.capture(resnet, loader, "fc")

    assert resnet.training
    resnet.eval()
    np.testing.assert_allclose(acts["fc"], resnet(images).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_capture_writes_the_cli_format(tmp_path, resnet, images):
    acts = sublens.torch.capture(resnet, images.numpy(), ["layer3", "fc"],
                                 output=tmp_path / "acts.safetensors")
    sublens.torch.capture(resnet, images, ["layer3", "fc"], output=tmp_path / "acts.npz")

    for path in (tmp_path / "acts.safetensors", tmp_path / "acts.npz"):
        loaded = sublens.load_activations(path)
        assert list(loaded) == ["layer3", "fc"]
        np.testing.assert_allclose(loaded["layer3"], acts["layer3"], rtol=1e-6)
        assert sublens.list_arrays(path)[0][1] == "float32"


def test_functional_ops_between_modules():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(4, 5)
            self.b = torch.nn.Linear(5, 2)

        def forward(self, x):
            return self.b(torch.nn.functional.gelu(self.a(x)) * 2)

    torch.manual_seed(2)
    net = Net()
    x = torch.randn(7, 4)

    acts = sublens.torch.capture(net, x, ["a", "b"], batch_size=3)

    with torch.no_grad():
        np.testing.assert_allclose(acts["a"], net.a(x).numpy(), rtol=1e-6)
        np.testing.assert_allclose(acts["b"], net(x).numpy(), rtol=1e-6)


def test_bad_arguments_raise_value_error(resnet, images):
    with pytest.raises(ValueError, match="nosuchlayer"):
        sublens.torch.capture(resnet, images, ["nosuchlayer"])
    with pytest.raises(ValueError, match="batch_size"):
        sublens.torch.capture(resnet, images, ["fc"], batch_size=0)
    with pytest.raises(ValueError, match="safetensors"):
        sublens.torch.capture(resnet, images[:2], ["fc"], output="acts.txt")


def test_a_layer_typo_names_the_nearest_layer(resnet, images):
    with pytest.raises(ValueError, match=r"no submodule named 'layr1\.0'.*; did you mean "
                                         r"'layer1\.0'"):
        sublens.torch.capture(resnet, images, ["layr1.0"])
    with pytest.raises(ValueError, match=r"'avgpol'.*\.\.\.\); did you mean 'avgpool'"):
        sublens.torch.Recorder(resnet, ["avgpol"], images, np.zeros(6, int), "unused")


def test_the_memory_limit_matches_the_cli_default():
    header = (ROOT / "include" / "sublens" / "models" / "models.hpp").read_text()
    default = re.search(r"double max_memory_gb = ([0-9.]+);", header)

    assert default and float(default.group(1)) == sublens.torch.MAX_MEMORY_GB


def test_a_capture_above_max_memory_is_refused_with_the_estimate(resnet, images):
    names = [n for n in sublens.torch.module_names(resnet) if n.startswith("layer")]
    outputs = {}

    def size_hook(name):
        def hook(_module, _inputs, output):
            outputs[name] = output.shape[1:].numel()  # floats per input
        return hook

    handles = [dict(resnet.named_modules())[n].register_forward_hook(size_hook(n))
               for n in names]
    with torch.no_grad():
        resnet.eval()
        resnet(images[:1])
    for handle in handles:
        handle.remove()
    needed = 6 * sum(outputs.values()) * 4  # N x per-input floats x float32

    with pytest.raises(ValueError) as error:
        sublens.torch.capture(resnet, images, ["layer*"], batch_size=2,
                              max_memory=needed / 1e9 * 0.99)
    message = str(error.value)
    assert f"capture: {len(names)} layers need {needed / 1e9:.3g} GB (N = 6 inputs" in message
    assert f"more than max_memory = {needed / 1e9 * 0.99:g} GB" in message
    assert "raise the limit (max_memory=1, or max_memory=None for none)" in message

    acts = sublens.torch.capture(resnet, images, ["layer*"], max_memory=needed / 1e9 * 1.01)
    assert sum(a.nbytes for a in acts.values()) == needed
    assert list(sublens.torch.capture(resnet, images, "layer1.0", max_memory=None)) == ["layer1.0"]


def test_a_loader_without_a_known_length_is_checked_as_batches_come(resnet, images):
    loader = (images[i:i + 2] for i in range(0, 6, 2))  # a generator: N unknown in advance
    per_input = sum(a.shape[1] for a in sublens.torch.capture(resnet, images[:1],
                                                               ["layer3", "layer4"]).values()) * 4

    with pytest.raises(ValueError, match=r"need at least .* GB \(N = at least 4 inputs"):
        sublens.torch.capture(resnet, loader, ["layer3", "layer4"],
                              max_memory=per_input * 3.5 / 1e9)
