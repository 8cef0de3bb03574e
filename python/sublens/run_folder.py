"""Writing run folders (format "sublens-run", version 1) with numpy only.

A run folder holds a fixed analysis set's activations at each recorded epoch; the README's section
"The run folder" is the contract, ``sublens info RUN`` validates one. This module is the file-level part that
``sublens.torch.Recorder`` uses: file names, run.json, atomic writes and a safetensors file that
is written batch by batch (its header first, then each batch of each tensor at its offset).

Example::

    from sublens import run_folder
    with run_folder.StreamedSafetensors(path, {"fc": (500, 10)}) as f:
        f.write_rows("fc", 0, batch)           # rows 0 .. len(batch)-1 of tensor "fc"
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

FORMAT = "sublens-run"
VERSION = 1
EPOCH_SUFFIXES = (".safetensors", ".predictions.npy", ".softmax.npy")


def epoch_file_name(epoch: int, suffix: str) -> str:
    """``epoch-0012.safetensors`` for ``(12, ".safetensors")``."""
    return f"epoch-{epoch:04d}{suffix}"


def temporary_name(path: Path) -> Path:
    """The fixed temporary name of `path` in its folder (a later writer overwrites a stale one)."""
    return path.with_name("." + path.name + ".tmp")


def replace_atomically(temporary: Path, path: Path) -> None:
    """fsyncs `temporary` and renames it over `path` (atomic within one file system)."""
    with open(temporary, "rb") as f:
        os.fsync(f.fileno())
    os.replace(temporary, path)


def save_npy_atomically(path: Path, array: np.ndarray) -> None:
    temporary = temporary_name(path)
    try:
        with open(temporary, "wb") as f:
            np.save(f, array, allow_pickle=False)
        replace_atomically(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_run_json(folder: Path, run: dict) -> None:
    """Writes ``folder/run.json`` atomically (temporary file + rename)."""
    path = folder / "run.json"
    temporary = temporary_name(path)
    try:
        temporary.write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
        replace_atomically(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def read_run_json(folder: Path) -> dict | None:
    """run.json of `folder` (checked format and version), or None when there is none."""
    path = folder / "run.json"
    if not path.exists():
        return None
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: json: cannot be read ({error})") from None
    if not isinstance(run, dict) or run.get("format") != FORMAT:
        raise ValueError(f"{path}: format: must be \"{FORMAT}\" (not a sublens run folder)")
    if run.get("version") != VERSION:
        raise ValueError(f"{path}: version: unsupported version {run.get('version')!r} "
                         f"(this sublens writes {VERSION})")
    for key, kind in (("n_inputs", int), ("n_classes", int), ("layers", list), ("epochs", list)):
        if not isinstance(run.get(key), kind):
            raise ValueError(f"{path}: {key}: missing or not a{'n integer' if kind is int else ' list'}"
                             " (`sublens info` checks the whole folder)")
    for i, layer in enumerate(run["layers"]):
        if not isinstance(layer, dict) or not isinstance(layer.get("name"), str) or not \
                isinstance(layer.get("shape"), list):
            raise ValueError(f"{path}: layers[{i}]: must be an object with name and shape")
    for i, epoch in enumerate(run["epochs"]):
        if not isinstance(epoch, dict) or not isinstance(epoch.get("epoch"), int):
            raise ValueError(f"{path}: epochs[{i}]: must be an object with epoch and accuracy")
    return run


def with_epoch(run: dict, epoch: int, accuracy: float | None) -> dict:
    """`run` with `epoch`'s entry replaced (or removed when `accuracy` is None), sorted."""
    epochs = [e for e in run["epochs"] if e["epoch"] != epoch]
    if accuracy is not None:
        epochs.append({"epoch": epoch, "accuracy": accuracy})
    return {**run, "epochs": sorted(epochs, key=lambda e: e["epoch"])}


class StreamedSafetensors:
    """A float32 .safetensors file written row block by row block.

    The header (every tensor's shape and offsets, in the given order) is written when the file is
    opened, so only one block of rows needs to be in memory at a time. Rows not written stay
    zero; `close` checks that every row of every tensor was written once.
    """

    def __init__(self, path: Path, shapes: dict[str, tuple[int, ...]]):
        self.path = Path(path)
        self._offsets: dict[str, int] = {}
        self._row_bytes: dict[str, int] = {}
        self._rows_written = {name: 0 for name in shapes}
        self._n = {name: shape[0] for name, shape in shapes.items()}
        header, offset = {}, 0
        for name, shape in shapes.items():
            size = 4 * int(np.prod(shape, dtype=np.int64))
            header[name] = {"dtype": "F32", "shape": list(map(int, shape)),
                            "data_offsets": [offset, offset + size]}
            self._row_bytes[name] = size // shape[0] if shape[0] else 0
            offset += size
        text = json.dumps(header, separators=(",", ":")).encode("utf-8")
        text += b" " * (-len(text) % 8)
        self._data_start = 8 + len(text)
        self._file = open(self.path, "wb")
        self._file.write(len(text).to_bytes(8, "little") + text)
        self._file.truncate(self._data_start + offset)
        for name, begin in zip(header, (h["data_offsets"][0] for h in header.values())):
            self._offsets[name] = begin

    def write_rows(self, name: str, start: int, rows: np.ndarray) -> None:
        """Writes `rows` (a block of rows start .. start+len-1) of tensor `name`."""
        block = np.ascontiguousarray(rows, dtype="<f4")
        if block.shape[0] and block.nbytes != block.shape[0] * self._row_bytes[name]:
            raise ValueError(f"{self.path}: tensor '{name}': a row holds "
                             f"{block.nbytes // block.shape[0]} bytes, not {self._row_bytes[name]}")
        if start + block.shape[0] > self._n[name]:
            raise ValueError(f"{self.path}: tensor '{name}': rows beyond N = {self._n[name]}")
        self._file.seek(self._data_start + self._offsets[name] + start * self._row_bytes[name])
        self._file.write(memoryview(block).cast("B"))
        self._rows_written[name] += block.shape[0]

    def close_file(self) -> None:
        """Closes the file without checking (after an error)."""
        self._file.close()

    def close(self) -> None:
        """Closes the file; raises ValueError unless every row of every tensor was written."""
        self._file.close()
        for name, rows in self._rows_written.items():
            if rows != self._n[name]:
                raise ValueError(f"{self.path}: tensor '{name}': {rows} rows written, "
                                 f"expected N = {self._n[name]}")

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.close()
        else:
            self.close_file()
