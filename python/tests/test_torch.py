"""sublens.torch.capture against a hand-written forward hook on a torchvision ResNet-18."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import sublens  # noqa: E402
import sublens.torch  # noqa: E402


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
