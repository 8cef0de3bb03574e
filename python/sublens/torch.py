"""Activation capture from PyTorch models with forward hooks (pure Python; uses the torch the
user already has, never a second LibTorch).

Example::

    import torchvision, sublens.torch
    model = torchvision.models.resnet18(num_classes=10)
    acts = sublens.torch.capture(model, images, ["layer1", "layer4", "fc"], batch_size=64)
    acts["layer4"].shape        # (N, 512 * 7 * 7 / ...): N x d float32, row = input
    sublens.torch.capture(model, images, ["layer4"], output="acts.safetensors")   # CLI format
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
import torch

__all__ = ["capture", "module_names"]


def module_names(model: torch.nn.Module) -> list[str]:
    """Dotted names of every submodule of `model` that `capture` accepts (named_modules order)."""
    return [name for name, _ in model.named_modules() if name]


def _resolve_layers(model, layers):
    if isinstance(layers, str):
        layers = [layers]
    available = dict(model.named_modules())
    resolved = []
    for pattern in layers:
        if pattern in available and pattern:
            resolved.append(pattern)
            continue
        matches = [n for n in available if n and fnmatch.fnmatchcase(n, pattern)]
        if not matches:
            shown = ", ".join(module_names(model)[:20])
            raise ValueError(
                f"capture: no submodule named '{pattern}' (available: {shown}"
                f"{', ...' if len(available) > 21 else ''})"
            )
        resolved.extend(m for m in matches if m not in resolved)
    if not resolved:
        raise ValueError("capture: no layers given")
    return resolved


def _batches(data, batch_size):
    """Yield input batches from a tensor/ndarray (N x ...) or an iterable of batches."""
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if isinstance(data, torch.Tensor):
        for start in range(0, data.shape[0], batch_size):
            yield data[start : start + batch_size]
        return
    for batch in data:  # a DataLoader or any iterable; (inputs, targets) pairs keep the inputs
        if isinstance(batch, (list, tuple)):
            batch = batch[0]
        if isinstance(batch, np.ndarray):
            batch = torch.from_numpy(batch)
        yield batch


def _first_tensor(output):
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (list, tuple)):
        for item in output:
            tensor = _first_tensor(item)
            if tensor is not None:
                return tensor
    if isinstance(output, dict):
        for item in output.values():
            tensor = _first_tensor(item)
            if tensor is not None:
                return tensor
    return None


def capture(
    model: torch.nn.Module,
    data,
    layers,
    device: str = "cpu",
    batch_size: int = 256,
    output: str | Path | None = None,
    dtype=np.float32,
) -> dict[str, np.ndarray]:
    """Outputs of the named submodules of `model` for every input of `data`.

    Runs `model` in eval mode under ``torch.no_grad()`` with a forward hook on each named module,
    flattens each output per input (``N x C x H x W -> N x (C H W)``, row = input, as the CLI
    writes) and concatenates the batches. Functional operations between modules are fine: what
    is captured is what leaves the module. A module called several times in one forward pass
    (e.g. a shared ReLU) contributes its last call. The model's training mode is restored.

    Args:
        model: a ``torch.nn.Module`` (torchvision models included).
        data: a tensor or ndarray ``N x ...`` (split into `batch_size` batches), or an iterable of
            batches (a DataLoader; ``(inputs, targets)`` pairs use the inputs).
        layers: dotted submodule names ("layer1.0.conv1") or fnmatch globs ("layer*"), in the
            order wanted; a single string is one layer.
        device: where the model and batches run ("cpu", "cuda", ...).
        batch_size: inputs per forward pass when `data` is a tensor or array.
        output: optional ``.safetensors`` or ``.npz`` path: also writes the activations in the
            CLI's format (one N x d float32 array per layer, in layer order).
        dtype: numpy dtype of the returned arrays (float32, as the CLI).

    Returns:
        ``{layer: ndarray N x d}`` in layer order.

    Example::

        acts = sublens.torch.capture(model, torch.rand(8, 3, 64, 64), ["layer2", "fc"])
        r = sublens.ssc(acts["layer2"])
    """
    if batch_size < 1:
        raise ValueError(f"capture: batch_size must be >= 1 (got {batch_size})")
    names = _resolve_layers(model, layers)
    modules = dict(model.named_modules())
    current: dict[str, torch.Tensor] = {}
    collected: dict[str, list[np.ndarray]] = {name: [] for name in names}

    def make_hook(name):
        def hook(_module, _inputs, out):
            tensor = _first_tensor(out)
            if tensor is None:
                raise ValueError(f"capture: module '{name}' returned no tensor")
            current[name] = tensor.detach()

        return hook

    handles = [modules[name].register_forward_hook(make_hook(name)) for name in names]
    was_training = model.training
    model.eval()
    model.to(device)
    try:
        with torch.no_grad():
            for batch in _batches(data, batch_size):
                current.clear()
                batch = batch.to(device)
                model(batch)
                for name in names:
                    if name not in current:
                        raise ValueError(f"capture: module '{name}' was not called in forward")
                    tensor = current[name]
                    if tensor.dim() == 0 or tensor.shape[0] != batch.shape[0]:
                        raise ValueError(
                            f"capture: module '{name}' output has shape {tuple(tensor.shape)}, "
                            f"whose first axis is not the batch ({batch.shape[0]})"
                        )
                    flat = tensor.reshape(tensor.shape[0], -1).to("cpu")
                    collected[name].append(flat.numpy().astype(dtype, copy=False))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    result = {}
    for name in names:
        if not collected[name]:
            raise ValueError("capture: data holds no inputs")
        result[name] = np.ascontiguousarray(np.concatenate(collected[name], axis=0))
    if output is not None:
        _write(Path(output), result)
    return result


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    from . import write_npz, write_safetensors

    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        write_safetensors(path, arrays)
    elif suffix == ".npz":
        write_npz(path, arrays)
    else:
        raise ValueError(f"capture: output must end in .safetensors or .npz (got {path})")
