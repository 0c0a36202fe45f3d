"""Read the tensors of a TorchScript archive without running any of it.

OpenAI distributes CLIP as a TorchScript archive (``ViT-B-32.pt``). ``torch.jit.load`` would run
the archive's code, and ``torch.load(weights_only=True)`` refuses TorchScript, so
:func:`read_torchscript_tensors` reads ``<name>/data.pkl`` with a restricted unpickler that only
rebuilds tensors and records module attributes as plain data (docs/security.md). Anything else in
the archive (other globals, a custom ``__setstate__`` state) is refused with a
:class:`TorchScriptError`.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any, Sequence

import torch


class TorchScriptError(ValueError):
    """A file that is not a TorchScript weights archive this reader accepts; the message says why."""


def is_torchscript(path: str | os.PathLike) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("constants.pkl") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


# TorchScript storage classes -> dtypes (the only globals besides tensor rebuilding a weights
# archive needs).
_STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}
MAX_TORCHSCRIPT_OBJECTS = 100_000


class _ScriptObject:
    """A TorchScript object (a module) as plain data: its class name and its attributes.

    The unpickler builds these instead of the archive's classes; nothing of the archive's code
    (``code/``, ``__setstate__`` methods) is ever run.
    """

    qualified_name = "?"

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: Sequence[int], stride: Sequence[int], *_: Any) -> torch.Tensor:
    """A tensor view of a storage read from the archive (bounds checked by ``as_strided``), copied."""
    return storage.as_strided(tuple(size), tuple(stride), int(offset)).clone()


def _build_list(items: Any) -> list:
    return list(items)


def _restore_type_tag(value: Any, _type: str) -> Any:
    return value


class _WeightsOnlyUnpickler(pickle.Unpickler):
    """Reads a TorchScript archive's ``data.pkl`` into :class:`_ScriptObject` trees and tensors.

    Only these globals resolve: the archive's own ``__torch__`` classes (as inert
    :class:`_ScriptObject` records), storage types, tensor rebuilding, ``OrderedDict`` and
    TorchScript's list builders. Any other global (``os.system``, ``builtins.eval``, ...) is refused.
    """

    def __init__(self, data: bytes, zf: zipfile.ZipFile, prefix: str, source: str):
        import io

        super().__init__(io.BytesIO(data))
        self._zf = zf
        self._prefix = prefix
        self._source = source
        self._classes: dict[str, type] = {}
        self._storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "__torch__" or module.startswith("__torch__."):
            qualified = f"{module}.{name}"
            if qualified not in self._classes:
                if len(self._classes) > 10_000:
                    raise TorchScriptError(f"{self._source} defines too many TorchScript classes to be a CLIP weights file")
                self._classes[qualified] = type("ScriptObject", (_ScriptObject,), {"qualified_name": qualified})
            return self._classes[qualified]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            import collections

            return collections.OrderedDict
        if module == "torch.jit._pickle" and name in ("build_intlist", "build_doublelist", "build_boollist", "build_tensorlist"):
            return _build_list
        if (module, name) == ("torch.jit._pickle", "restore_type_tag"):
            return _restore_type_tag
        raise TorchScriptError(
            f"{self._source} refers to {module}.{name}, which a CLIP weights archive never needs; refusing to read it "
            f"(galip-studio never runs code from a weights file)"
        )

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)):
            raise TorchScriptError(f"{self._source} holds a persistent object of an unknown kind; not a CLIP weights archive")
        _, dtype, key, _location, numel = pid
        if not isinstance(key, str) or not key.isdigit():
            raise TorchScriptError(f"{self._source} names a tensor storage {key!r} that is not in its data/ folder")
        if key not in self._storages:
            try:
                raw = self._zf.read(f"{self._prefix}data/{key}")
            except KeyError as e:
                raise TorchScriptError(f"{self._source} lacks the tensor data {self._prefix}data/{key}") from e
            itemsize = torch.empty((), dtype=dtype).element_size()
            if len(raw) != int(numel) * itemsize:
                raise TorchScriptError(f"{self._source}: tensor data {key} has {len(raw)} bytes, expected {int(numel) * itemsize}")
            self._storages[key] = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        return self._storages[key]


def _script_object_tensors(obj: _ScriptObject, source: str) -> dict[str, torch.Tensor]:
    """Every tensor attribute of a module tree, by dotted name (``visual.conv1.weight``)."""
    out: dict[str, torch.Tensor] = {}
    todo: list[tuple[str, _ScriptObject]] = [("", obj)]
    seen = 0
    while todo:
        prefix, node = todo.pop()
        seen += 1
        if seen > MAX_TORCHSCRIPT_OBJECTS:
            raise TorchScriptError(f"{source} holds too many objects to be a CLIP weights file")
        state = getattr(node, "state", None)
        if not isinstance(state, dict):
            raise TorchScriptError(
                f"{source}: the TorchScript object {node.qualified_name} keeps a custom state (a __setstate__ method); "
                f"refusing to load it, since only a plain module's tensors can be read without running its code. "
                f"Use OpenAI's CLIP file or an open_clip state dict / safetensors file"
            )
        for name, value in state.items():
            if not isinstance(name, str):
                continue
            if isinstance(value, torch.Tensor):
                out[prefix + name] = value
            elif isinstance(value, _ScriptObject):
                todo.append((f"{prefix}{name}.", value))
    return out


def read_torchscript_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a TorchScript archive (OpenAI's ``ViT-B-32.pt``), by state-dict name.

    Reads ``<name>/data.pkl`` with a restricted unpickler that only rebuilds tensors and records
    module attributes as plain data: no ``torch.jit.load``, no code from the archive is run, and an
    archive with anything else (custom ``__setstate__`` state, other globals) is refused.
    """
    source = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            pickles = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
            if len(pickles) != 1:
                raise TorchScriptError(f"{source} is not a TorchScript archive with one <name>/data.pkl")
            prefix = pickles[0][: -len("data.pkl")]
            data = zf.read(pickles[0])
            try:
                root = _WeightsOnlyUnpickler(data, zf, prefix, source).load()
            except TorchScriptError:
                raise
            except (pickle.UnpicklingError, EOFError, TypeError, ValueError, RuntimeError, AttributeError, IndexError, KeyError, RecursionError) as e:
                raise TorchScriptError(f"{source} is not a readable TorchScript weights archive ({type(e).__name__})") from e
    except (zipfile.BadZipFile, OSError) as e:
        raise TorchScriptError(f"{source} is not a readable TorchScript archive ({type(e).__name__})") from e
    if not isinstance(root, _ScriptObject):
        raise TorchScriptError(f"{source} does not hold a TorchScript module")
    return _script_object_tensors(root, source)
