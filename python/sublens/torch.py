"""Activation capture from PyTorch models with forward hooks (pure Python; uses the torch the
user already has, never a second LibTorch).

Example::

    import torchvision, sublens.torch
    model = torchvision.models.resnet18(num_classes=10)
    acts = sublens.torch.capture(model, images, ["layer1", "layer4", "fc"], batch_size=64)
    acts["layer4"].shape        # (N, 512 * 7 * 7 / ...): N x d float32, row = input
    sublens.torch.capture(model, images, ["layer4"], output="acts.safetensors")   # CLI format

Recording a training run (a run folder that ``sublens study --run`` reads)::

    recorder = sublens.torch.Recorder(model, "blocks", images, labels, "runs/r18")
    for epoch in range(1, epochs + 1):
        train_one_epoch(model)
        recorder.record(epoch)
"""

from __future__ import annotations

import difflib
import fnmatch
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from . import run_folder

__all__ = ["MAX_MEMORY_GB", "PRESETS", "Recorder", "capture", "module_names", "record_checkpoints"]

# capture() refuses to hold more than this many GB (1e9 bytes) of activations unless told
# otherwise: the default of `sublens extract --max-memory` (ExtractOptions::max_memory_gb in
# include/sublens/models/models.hpp; the extension does not link the models module).
MAX_MEMORY_GB = 4.0


def module_names(model: torch.nn.Module) -> list[str]:
    """Dotted names of every submodule of `model` that `capture` accepts (named_modules order)."""
    return [name for name, _ in model.named_modules() if name]


PRESETS = ("blocks", "stages")


def _children(modules, parent):
    return [f"{parent}.{name}" for name, _ in modules[parent].named_children()]


def _vgg_layers(features, preset):
    """Each ReLU that follows a conv (BatchNorm between allowed), or each max-pool, of `features`."""
    names, after_conv = [], False
    for name, module in features.named_children():
        if preset == "stages" and isinstance(module, torch.nn.MaxPool2d):
            names.append(f"features.{name}")
        if preset == "blocks" and isinstance(module, torch.nn.ReLU) and after_conv:
            names.append(f"features.{name}")
        if isinstance(module, torch.nn.Conv2d):
            after_conv = True
        elif not isinstance(module, torch.nn.BatchNorm2d):
            after_conv = False
    return names


def _preset_layers(model, preset):
    """The modules a preset names, by module structure (see Recorder), in network order."""
    modules = dict(model.named_modules())
    stages = [n for n in ("layer1", "layer2", "layer3", "layer4") if n in modules]
    if stages:  # torchvision ResNet/ResNeXt/wide_resnet, CIFAR ResNets and WRNs with layer1..
        return stages if preset == "stages" else [b for s in stages for b in _children(modules, s)]
    dense = [n for n in modules if re.fullmatch(r"features\.(denseblock|transition)\d+", n)]
    if dense:  # torchvision DenseNet
        return [n for n in dense if "denseblock" in n] if preset == "stages" else dense
    stages = [n for n in ("block1", "block2", "block3", "block4") if n in modules]
    if stages:  # WRN-style NetworkBlocks (block1..block3, each with a `layer` Sequential)
        if preset == "stages":
            return stages
        return [b for s in stages for b in _children(modules, f"{s}.layer" if f"{s}.layer" in
                                                     modules else s)]
    features = modules.get("features")
    if isinstance(features, torch.nn.Sequential) and any(
            isinstance(m, torch.nn.Conv2d) for m in features.children()):  # VGG
        return _vgg_layers(features, preset)
    if preset == "blocks" and isinstance(modules.get("blocks"), (torch.nn.Sequential,
                                                                torch.nn.ModuleList)):
        return _children(modules, "blocks")  # transformer-style `blocks`
    raise ValueError(
        f"layers='{preset}': no {preset} found in {type(model).__name__} (known: ResNet/WRN "
        "layer1..layer4 or block1..block3, DenseNet features.denseblock*/transition*, VGG "
        "features); name the layers or use globs like 'layer*'")


def _resolve_layers(model, layers, who="capture"):
    if isinstance(layers, str):
        layers = [layers]
    available = dict(model.named_modules())
    resolved = []
    for pattern in layers:
        if pattern in available and pattern:
            names = [pattern]
        elif pattern in PRESETS:
            names = _preset_layers(model, pattern)
        else:
            names = [n for n in available if n and fnmatch.fnmatchcase(n, pattern)]
        if not names:
            raise ValueError(_unknown_layer_message(model, pattern, who))
        resolved.extend(m for m in names if m not in resolved)
    if not resolved:
        raise ValueError(f"{who}: no layers given")
    return resolved


def _unknown_layer_message(model, pattern, who):
    """No module matches `pattern`: name the nearest module names (difflib), then list some."""
    candidates = module_names(model)
    nearest = difflib.get_close_matches(pattern, candidates + list(PRESETS), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(n) for n in nearest)}?" if nearest else ""
    shown = ", ".join(candidates[:20]) + (", ..." if len(candidates) > 20 else "")
    return (f"{who}: no submodule named '{pattern}' and no preset of that name (presets: "
            f"{', '.join(PRESETS)}; modules: {shown}){hint}")


def _input_count(data):
    """N when it is known before running: an array or tensor, or a DataLoader's sampler."""
    if isinstance(data, (np.ndarray, torch.Tensor)):
        return int(data.shape[0])
    sampler = getattr(data, "sampler", None)
    if sampler is not None and getattr(data, "drop_last", False) is False:
        try:
            return len(sampler)
        except TypeError:  # an iterable sampler without a length
            return None
    return None


def _check_memory(shapes, n_inputs, rows_so_far, itemsize, max_memory):
    """Refuses a capture whose N x d arrays would exceed `max_memory` GB.

    `shapes` are the first batch's per-layer output shapes; N is `n_inputs` when known, else the
    rows captured so far (checked again after every batch).
    """
    if max_memory is None:
        return
    per_input = sum(int(np.prod(shape[1:], dtype=np.int64)) for shape in shapes.values()) * itemsize
    n = n_inputs if n_inputs is not None else rows_so_far
    needed = n * per_input
    if needed <= max_memory * 1e9:
        return
    known = "" if n_inputs is not None else "at least "
    raise ValueError(
        f"capture: {len(shapes)} layers need {known}{needed / 1e9:.3g} GB (N = {known}{n} "
        f"inputs x {per_input / 1e6:.3g} MB per input), more than max_memory = {max_memory:g} GB; "
        f"capture fewer layers or inputs per call, or raise the limit "
        f"(max_memory={int(np.ceil(needed / 1e9))}, or max_memory=None for none)")


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
    max_memory: float | None = MAX_MEMORY_GB,
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
        max_memory: the most GB (1e9 bytes) the returned arrays may take, as ``sublens extract
            --max-memory``; None for no limit. The need, N x (sum of the layers' per-input output
            sizes) x itemsize, is estimated from the first batch's outputs before any more
            batches run (N from the array, or a DataLoader's sampler; otherwise checked as the
            batches come), and a larger one raises ValueError with the estimate.

    Returns:
        ``{layer: ndarray N x d}`` in layer order.

    Example::

        acts = sublens.torch.capture(model, torch.rand(8, 3, 64, 64), ["layer2", "fc"])
        r = sublens.ssc(acts["layer2"])
    """
    if batch_size < 1:
        raise ValueError(f"capture: batch_size must be >= 1 (got {batch_size})")
    if max_memory is not None and not max_memory > 0:
        raise ValueError(f"capture: max_memory must be > 0 GB or None (got {max_memory})")
    names = _resolve_layers(model, layers)
    n_inputs = _input_count(data)
    itemsize = np.dtype(dtype).itemsize
    rows = 0
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
                rows += batch.shape[0]
                _check_memory({n: tuple(current[n].shape) for n in names}, n_inputs, rows,
                              itemsize, max_memory)
                for name in names:
                    tensor = current[name]
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


# ---- run folders ---------------------------------------------------------------------------------


def _model_device(model):
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _as_tensor(data):
    return torch.from_numpy(np.asarray(data)) if isinstance(data, np.ndarray) else data


def _batches_with_start(data, batch_size, labels):
    """(start, inputs) per batch; a loader's (inputs, targets) targets must equal the labels."""
    start = 0
    for batch in _batches_of(data, batch_size):
        inputs, targets = batch if isinstance(batch, (list, tuple)) else (batch, None)
        inputs = _as_tensor(inputs)
        if isinstance(targets, (torch.Tensor, np.ndarray)) and len(targets) == len(inputs):
            expected = labels[start:start + len(inputs)]
            got = torch.as_tensor(targets).detach().cpu().numpy().astype(np.int64)
            if got.shape != expected.shape or not np.array_equal(got, expected):
                raise ValueError(
                    f"Recorder: inputs: the loader's targets differ from `labels` in inputs "
                    f"{start}..{start + len(inputs) - 1}; the analysis set must be fixed "
                    "(a loader without shuffle)")
        yield start, inputs
        start += len(inputs)


def _batches_of(data, batch_size):
    if isinstance(data, torch.Tensor):
        for start in range(0, data.shape[0], batch_size):
            yield data[start:start + batch_size]
        return
    yield from data


class _Forward:
    """Forward hooks that keep a CPU float32 copy of each named module's latest output."""

    def __init__(self, model, names):
        modules = dict(model.named_modules())
        self.outputs = {}
        self._handles = [modules[n].register_forward_hook(self._hook(n)) for n in names]

    def _hook(self, name):
        def hook(_module, _inputs, out):
            tensor = _first_tensor(out)
            if tensor is None:
                raise ValueError(f"Recorder: module '{name}' returned no tensor")
            # A copy now: a later in-place op (ReLU(inplace=True)) must not change it.
            self.outputs[name] = tensor.detach().to("cpu", torch.float32, copy=True)

        return hook

    def remove(self):
        for handle in self._handles:
            handle.remove()


def _class_names(class_names):
    """The names as a list of distinct non-empty strings (None stays None); refuses others."""
    if class_names is None:
        return None
    if isinstance(class_names, (str, bytes)):
        raise ValueError("Recorder: class_names: pass a list of names (one per class), not a string")
    names = [str(c) for c in class_names]
    for k, name in enumerate(names):
        if not name:
            raise ValueError(f"Recorder: class_names[{k}]: must be a non-empty string")
        if name in names[:k]:
            raise ValueError(f"Recorder: class_names[{k}]: '{name}' is listed twice "
                             "(class names must be unique)")
    return names


class Recorder:
    """Records a fixed analysis set's activations at each epoch into a run folder.

    A run folder (README.md, "The run folder") is what ``sublens study --run`` and
    ``sublens info`` read:
    run.json, labels.npy, inputs.npy and per epoch ``epoch-NNNN.safetensors`` (one float32
    ``N x <layer shape>`` tensor per layer), ``.predictions.npy`` and ``.softmax.npy``.

    ``record(epoch)`` runs the analysis set through `model` in eval mode under ``torch.no_grad()``
    on the model's device, then restores every module's training mode. Each batch's layer outputs
    go straight to their rows of the epoch's safetensors file, so memory holds one batch of all
    layers, never ``N x`` all layers. An epoch is written under temporary names, renamed into
    place and only then listed in run.json: a killed training leaves the earlier epochs intact and
    no half epoch. Recording a listed epoch again replaces it. A folder that holds another
    analysis set (N, labels, inputs) or other layers is refused.

    Args:
        model: the ``torch.nn.Module`` being trained; its output must be ``N x n_classes`` logits.
        layers: dotted module names, fnmatch globs ("layer*") or a preset: "blocks" (ResNet/WRN
            residual blocks, DenseNet dense blocks and transitions, the ReLU after each VGG conv,
            a transformer's ``blocks``) or "stages" (ResNet layer1..4, WRN block1..3, DenseNet
            dense blocks, VGG max-pools). Network order is the order of the list.
        inputs: the analysis inputs, a tensor/ndarray ``N x ...`` (also written to inputs.npy as
            float32), or a re-iterable loader of batches in a fixed order (no inputs.npy).
        labels: N integer class labels.
        out: the run folder (created by the first ``record``).
        device: where the batches go; None = the device of the model's first parameter.
        batch_size: inputs per forward pass (tensor inputs).
        dtype: floating-point inputs are converted to this dtype (the model's) before the forward
            pass; the files always hold float32.
        metadata: merged into run.json's metadata (source, model class and parameter count are
            filled in).
        class_names: optional names of the n_classes classes.

    Example::

        recorder = sublens.torch.Recorder(model, "blocks", x_test[:500], y_test[:500], "runs/r18")
        for epoch in range(1, 101):
            train_one_epoch(model)
            recorder.record(epoch)
    """

    def __init__(self, model, layers, inputs, labels, out, device=None, batch_size=256,
                 dtype=torch.float32, metadata=None, class_names=None):
        if int(batch_size) < 1:
            raise ValueError(f"Recorder: batch_size must be >= 1 (got {batch_size})")
        self.model = model
        self.layers = _resolve_layers(model, layers, "Recorder")
        if isinstance(labels, torch.Tensor):
            labels = labels.detach().cpu().numpy()
        labels = np.asarray(labels)
        if labels.dtype.kind not in "iuf" or (labels.dtype.kind == "f" and not np.array_equal(
                labels, np.round(labels))):
            raise ValueError("Recorder: labels must be integer class indices")
        self.labels = labels.astype(np.int64)
        if self.labels.ndim != 1 or len(self.labels) == 0 or self.labels.min() < 0:
            raise ValueError("Recorder: labels must be a non-empty vector of class indices >= 0")
        self.inputs = _as_tensor(inputs)
        self.n = len(self.labels)
        if isinstance(self.inputs, torch.Tensor):
            if self.inputs.dim() == 0 or self.inputs.shape[0] != self.n:
                raise ValueError(f"Recorder: inputs have shape {tuple(self.inputs.shape)}, whose "
                                 f"first axis must be N = {self.n} (the number of labels)")
        elif iter(self.inputs) is self.inputs:
            raise ValueError("Recorder: inputs must be a tensor, an array or a re-iterable loader "
                             "(an iterator would be used up by the first record)")
        self.out = Path(out)
        self.device = device
        self.batch_size = int(batch_size)
        self.dtype = dtype
        self.class_names = _class_names(class_names)
        self.metadata = {
            "source": "pytorch-recorder",
            "model": type(model).__name__,
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "torch": torch.__version__,
            **(metadata or {}),
        }

    # -- the analysis set ------------------------------------------------------------------------

    def _inputs_array(self):
        """inputs.npy's content (float32), or None when the inputs are a loader or rank 1."""
        if not isinstance(self.inputs, torch.Tensor) or self.inputs.dim() < 2:
            return None
        return self.inputs.detach().cpu().numpy().astype(np.float32)

    def _check_same_set(self, run):
        json_path = self.out / "run.json"
        if run["n_inputs"] != self.n:
            raise ValueError(f"{json_path}: n_inputs: the folder holds {run['n_inputs']} inputs, "
                             f"this recorder {self.n}; a run folder holds one analysis set "
                             "(record into another folder)")
        if not np.array_equal(np.load(self.out / "labels.npy"), self.labels):
            raise ValueError(f"{self.out / 'labels.npy'}: labels: differ from this recorder's "
                             "labels; a run folder holds one analysis set")
        inputs = self._inputs_array()
        shape = None if inputs is None else list(inputs.shape[1:])
        held = (run.get("inputs") or {}).get("shape")
        if held != shape:
            raise ValueError(f"{json_path}: inputs: the folder holds inputs of shape {held}, "
                             f"this recorder {shape}")
        if inputs is not None and not np.array_equal(
                np.load(self.out / "inputs.npy", mmap_mode="r"), inputs):
            raise ValueError(f"{self.out / 'inputs.npy'}: inputs: differ from this recorder's "
                             "inputs; a run folder holds one analysis set")
        names = [layer["name"] for layer in run["layers"]]
        if names != self.layers:
            raise ValueError(f"{json_path}: layers: the folder holds {names}, this recorder "
                             f"records {self.layers}")

    def _check_outputs(self, run, shapes, n_classes):
        json_path = self.out / "run.json"
        for name, shape in shapes.items():
            if len(shape) < 2:
                raise ValueError(f"Recorder: module '{name}' outputs one value per input; "
                                 "a layer needs a per-input shape (N x ...)")
        if run is not None:
            for layer in run["layers"]:
                if list(shapes[layer["name"]][1:]) != layer["shape"]:
                    raise ValueError(
                        f"{json_path}: layers: '{layer['name']}' has shape {layer['shape']} in "
                        f"the folder, {list(shapes[layer['name']][1:])} in this model")
            if run["n_classes"] != n_classes:
                raise ValueError(f"{json_path}: n_classes: the folder holds {run['n_classes']}, "
                                 f"this model outputs {n_classes}")
        if self.labels.max() >= n_classes:
            raise ValueError(f"Recorder: labels: {self.labels.max()} is not a class of the "
                             f"model's {n_classes} outputs")
        if self.class_names is not None and len(self.class_names) != n_classes:
            raise ValueError(f"Recorder: class_names: {len(self.class_names)} names for "
                             f"{n_classes} classes")

    # -- one epoch -------------------------------------------------------------------------------

    def _device(self):
        model_device = _model_device(self.model)
        if self.device is None:
            return model_device
        device = torch.device(self.device)
        if device.type != model_device.type or (
                device.index is not None and device.index != model_device.index):
            raise ValueError(f"Recorder: device={self.device} but the model is on {model_device}; "
                             "move the model or leave device=None")
        return device

    def _logits(self, output, batch_size):
        tensor = output if isinstance(output, torch.Tensor) else _first_tensor(output)
        if tensor is None or tensor.dim() != 2 or tensor.shape[0] != batch_size:
            shape = None if tensor is None else tuple(tensor.shape)
            raise ValueError(f"Recorder: the model's output has shape {shape}; predictions and "
                             f"softmax need N x n_classes logits (batch {batch_size})")
        return tensor.detach().float()

    def _forward_epoch(self, temporary, run):
        """Streams the layers to `temporary`; returns (predictions, softmax, layer shapes)."""
        device = self._device()
        forward = _Forward(self.model, self.layers)
        modes = {module: module.training for module in self.model.modules()}
        self.model.eval()
        writer, predictions, softmax, shapes = None, None, None, None
        try:
            with torch.no_grad():
                for start, batch in _batches_with_start(self.inputs, self.batch_size,
                                                        self.labels):
                    if start + len(batch) > self.n:
                        raise ValueError(f"Recorder: inputs hold more than N = {self.n} inputs")
                    forward.outputs.clear()
                    if batch.is_floating_point():
                        batch = batch.to(device, self.dtype)
                    logits = self._logits(self.model(batch.to(device)), len(batch))
                    missing = [n for n in self.layers if n not in forward.outputs]
                    if missing:
                        raise ValueError(f"Recorder: modules {missing} were not called in forward")
                    if writer is None:
                        shapes = {n: (self.n, *forward.outputs[n].shape[1:]) for n in self.layers}
                        self._check_outputs(run, shapes, logits.shape[1])
                        writer = run_folder.StreamedSafetensors(temporary, shapes)
                        predictions = np.zeros(self.n, np.int64)
                        softmax = np.zeros((self.n, logits.shape[1]), np.float32)
                    for name in self.layers:
                        tensor = forward.outputs[name]
                        if tuple(tensor.shape) != (len(batch), *shapes[name][1:]):
                            raise ValueError(
                                f"Recorder: module '{name}' output has shape "
                                f"{tuple(tensor.shape)}; expected (batch {len(batch)}, "
                                f"*{tuple(shapes[name][1:])}) as in the first batch")
                        writer.write_rows(name, start, tensor.numpy())
                    predictions[start:start + len(batch)] = logits.argmax(1).cpu().numpy()
                    softmax[start:start + len(batch)] = torch.softmax(logits, 1).cpu().numpy()
            if writer is None:
                raise ValueError("Recorder: inputs hold no inputs")
            writer.close()  # checks that all N rows were written
        finally:
            forward.remove()
            for module, training in modes.items():
                module.train(training)
            if writer is not None:
                writer.close_file()
        return predictions, softmax, shapes

    def _new_run(self, shapes, n_classes):
        inputs = self._inputs_array()
        run = {
            "format": run_folder.FORMAT,
            "version": run_folder.VERSION,
            "n_inputs": self.n,
            "n_classes": n_classes,
            "layers": [{"name": n, "shape": list(map(int, shapes[n][1:]))} for n in self.layers],
            "inputs": None if inputs is None else {"shape": list(inputs.shape[1:])},
            "epochs": [],
            "metadata": {},
        }
        if self.class_names is not None:
            run["class_names"] = self.class_names
        run_folder.save_npy_atomically(self.out / "labels.npy", self.labels)
        if inputs is not None:
            run_folder.save_npy_atomically(self.out / "inputs.npy", inputs)
        return run

    def record(self, epoch: int) -> dict:
        """Records the analysis set at `epoch` (>= 0; 0 = before training).

        Returns run.json's entry for it, ``{"epoch": epoch, "accuracy": ...}``.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"Recorder.record: epoch must be an integer >= 0 (got {epoch!r})")
        epoch = int(epoch)
        run = run_folder.read_run_json(self.out) if self.out.is_dir() else None
        if run is not None:
            self._check_same_set(run)
        created = not self.out.exists()
        self.out.mkdir(parents=True, exist_ok=True)
        paths = [self.out / run_folder.epoch_file_name(epoch, s) for s in run_folder.EPOCH_SUFFIXES]
        temporaries = [run_folder.temporary_name(p) for p in paths]
        try:
            predictions, softmax, shapes = self._forward_epoch(temporaries[0], run)
            for temporary, array in zip(temporaries[1:], (predictions, softmax)):
                with open(temporary, "wb") as f:
                    np.save(f, array, allow_pickle=False)
            if run is None:
                run = self._new_run(shapes, softmax.shape[1])
            elif any(e["epoch"] == epoch for e in run["epochs"]):
                run = run_folder.with_epoch(run, epoch, None)  # unlisted while replaced
                run_folder.write_run_json(self.out, run)
            for temporary, path in zip(temporaries, paths):
                run_folder.replace_atomically(temporary, path)
            accuracy = float(np.mean(predictions == self.labels))
            run = run_folder.with_epoch(run, epoch, accuracy)
            run["metadata"] = {**run.get("metadata", {}), **self.metadata}
            if self.class_names is not None:
                run["class_names"] = self.class_names
            run_folder.write_run_json(self.out, run)
        except BaseException:
            for temporary in temporaries:
                temporary.unlink(missing_ok=True)
            if created:
                shutil.rmtree(self.out, ignore_errors=True)
            raise
        return {"epoch": epoch, "accuracy": accuracy}


# ---- checkpoints ---------------------------------------------------------------------------------


def _checkpoint_epochs(checkpoints, epochs):
    names = [str(c) if isinstance(c, (str, Path)) else f"checkpoints[{i}]"
             for i, c in enumerate(checkpoints)]
    if epochs is not None:
        numbers = [int(e) for e in epochs]
        if len(numbers) != len(checkpoints):
            raise ValueError(f"record_checkpoints: {len(numbers)} epochs for "
                             f"{len(checkpoints)} checkpoints")
    else:
        found = [re.findall(r"\d+", Path(c).stem) if isinstance(c, (str, Path)) else []
                 for c in checkpoints]
        numbers = ([int(f[-1]) for f in found] if all(found)
                   else list(range(1, len(checkpoints) + 1)))
    seen = {}
    for name, number in zip(names, numbers):
        if number < 0:
            raise ValueError(f"record_checkpoints: {name}: epoch {number} must be >= 0")
        if number in seen:
            raise ValueError(f"record_checkpoints: {seen[number]} and {name} are both epoch "
                             f"{number}; give `epochs` explicitly")
        seen[number] = name
    return numbers


def _state_dict(checkpoint, device):
    """The state_dict of a path or dict; {"state_dict": ...}/{"model": ...} wrappers and
    DataParallel's "module." prefixes are unwrapped."""
    if isinstance(checkpoint, (str, Path)):
        state = torch.load(checkpoint, map_location=device, weights_only=True)
    else:
        state = checkpoint
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def record_checkpoints(build_model, checkpoints, layers, inputs, labels, out, epochs=None,
                       **recorder_kwargs) -> Recorder:
    """Records a run folder from per-epoch checkpoints saved during training.

    Args:
        build_model: called once with no arguments; returns the (untrained) model whose
            ``load_state_dict`` takes each checkpoint.
        checkpoints: ``state_dict`` files (``torch.save(model.state_dict(), ...)``; loaded with
            ``weights_only=True``; ``{"state_dict": ...}`` wrappers and "module." prefixes are
            unwrapped), or state dicts.
        epochs: the epoch of each checkpoint; by default the last integer of each file name
            (``epoch_12.pt``, ``ckpt-0012.pth``), else 1, 2, ... in the given order. Duplicate
            epochs are refused.
        layers, inputs, labels, out, **recorder_kwargs: as for `Recorder` (with `device` the model
            is moved there).

    Returns:
        the Recorder (e.g. to record more epochs).

    Example::

        sublens.torch.record_checkpoints(lambda: resnet18(num_classes=10),
                                         sorted(glob.glob("ckpt/epoch_*.pt")), "blocks",
                                         x_test[:500], y_test[:500], "runs/r18")
    """
    checkpoints = list(checkpoints)
    if not checkpoints:
        raise ValueError("record_checkpoints: no checkpoints given")
    numbers = _checkpoint_epochs(checkpoints, epochs)
    model = build_model()
    if recorder_kwargs.get("device") is not None:
        model.to(recorder_kwargs["device"])
    recorder = Recorder(model, layers, inputs, labels, out, **recorder_kwargs)
    for number, checkpoint in sorted(zip(numbers, checkpoints), key=lambda pair: pair[0]):
        model.load_state_dict(_state_dict(checkpoint, _model_device(model)))
        recorder.record(number)
    return recorder
