"""Read the tensors of a PyTorch zip archive without running any of it, and without letting a
small file ask for much memory.

OpenAI distributes CLIP as a TorchScript archive (``ViT-B-32.pt``), and the official GALIP
checkpoints are ``torch.save`` zip archives (``pre_coco.pth``). ``torch.jit.load`` would run a
TorchScript archive's code, ``torch.load(weights_only=True)`` refuses TorchScript, and both
allocate every storage an archive declares (a deflated ``data/0`` of 2 GB of zeros is 2 MB on the
disk) before anything is checked. So both kinds are read here in two steps:

1. :func:`scan_archive` reads ``<name>/data.pkl`` (at most :data:`MAX_PICKLE_BYTES`) with a
   restricted unpickler that only records, as :class:`TensorRef`, which bytes of which storage each
   tensor would view, and module attributes as plain data (docs/security.md). No tensor data is
   read. Every storage must be a ``data/<key>`` entry stored uncompressed (as torch writes them)
   whose size is its dtype × element count; every tensor must lie inside its storage with no
   stride 0 and no element twice (``expand``-ed views, which no real checkpoint holds).
2. :func:`read_tensors` reads the chosen tensors (after the caller has checked their names and
   shapes against the architecture): no two may overlap, so what is allocated is at most what the
   file stores.

Anything else in an archive (other globals, a custom ``__setstate__`` state) is refused with a
:class:`TorchScriptError`.
"""

from __future__ import annotations

import collections
import io
import math
import os
import pickle
import struct
import sys
import zipfile
from dataclasses import dataclass
from typing import Any, Mapping

import torch


class TorchScriptError(ValueError):
    """A file that is not a weights archive this reader accepts; the message says why."""


def is_torchscript(path: str | os.PathLike) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("constants.pkl") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


# Storage classes -> dtypes (the only globals besides tensor rebuilding a weights archive needs).
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
# data.pkl holds names and shapes, not weights: OpenAI's ViT-L/14 needs well under 1 MB.
MAX_PICKLE_BYTES = 64 * 1024**2
MAX_DIMS = 16
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StorageRef:
    """A storage of the archive: its entry (``<name>/data/<key>``), dtype and element count."""

    record: str
    dtype: torch.dtype
    numel: int

    @property
    def nbytes(self) -> int:
        return self.numel * _itemsize(self.dtype)


@dataclass(frozen=True)
class TensorRef:
    """A tensor of the archive, not read yet: a strided view of ``storage`` (checked to lie inside
    it, with no stride 0 and no element twice)."""

    storage: StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def shape(self) -> torch.Size:
        return torch.Size(self.size)

    @property
    def dtype(self) -> torch.dtype:
        return self.storage.dtype

    def numel(self) -> int:
        return math.prod(self.size)

    def span(self) -> tuple[int, int]:
        """The storage elements ``[start, end)`` the view reaches."""
        if self.numel() == 0:
            return self.offset, self.offset
        return self.offset, self.offset + sum((s - 1) * st for s, st in zip(self.size, self.stride)) + 1


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class _ScriptObject:
    """A TorchScript object (a module) as plain data: its class name and its attributes.

    The unpickler builds these instead of the archive's classes; nothing of the archive's code
    (``code/``, ``__setstate__`` methods) is ever run.
    """

    qualified_name = "?"

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _build_list(items: Any) -> list:
    return list(items)


def _restore_type_tag(value: Any, _type: str) -> Any:
    return value


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    return data


class _WeightsOnlyUnpickler(pickle.Unpickler):
    """Reads an archive's ``data.pkl`` into plain containers, :class:`_ScriptObject` trees and
    :class:`TensorRef` records, reading no tensor data.

    Only these globals resolve: the archive's own ``__torch__`` classes (as inert
    :class:`_ScriptObject` records), storage types, tensor and parameter rebuilding,
    ``OrderedDict`` and TorchScript's list builders. Any other global (``os.system``,
    ``builtins.eval``, ...) is refused.
    """

    def __init__(self, data: bytes, zf: zipfile.ZipFile, prefix: str, source: str):
        super().__init__(io.BytesIO(data))
        self._zf = zf
        self._prefix = prefix
        self._source = source
        self._classes: dict[str, type] = {}
        self._storages: dict[str, StorageRef] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "__torch__" or module.startswith("__torch__."):
            qualified = f"{module}.{name}"
            if qualified not in self._classes:
                if len(self._classes) > 10_000:
                    raise TorchScriptError(f"{self._source} defines too many TorchScript classes to be a weights file")
                self._classes[qualified] = type("ScriptObject", (_ScriptObject,), {"qualified_name": qualified})
            return self._classes[qualified]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self._rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch.jit._pickle" and name in ("build_intlist", "build_doublelist", "build_boollist", "build_tensorlist"):
            return _build_list
        if (module, name) == ("torch.jit._pickle", "restore_type_tag"):
            return _restore_type_tag
        raise TorchScriptError(
            f"{self._source} refers to {module}.{name}, which a weights file never needs; refusing to unpickle it "
            f"(galip-studio never runs code from a weights file)"
        )

    def persistent_load(self, pid: Any) -> StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)):
            raise TorchScriptError(f"{self._source} holds a persistent object of an unknown kind; not a weights archive")
        _, dtype, key, _location, numel = pid
        if not isinstance(key, str) or not key.isdigit():
            raise TorchScriptError(f"{self._source} names a tensor storage {key!r} that is not in its data/ folder")
        if not _whole_number(numel):
            raise TorchScriptError(f"{self._source}: tensor storage {key} declares {numel!r} elements")
        ref = StorageRef(f"{self._prefix}data/{key}", dtype, numel)
        known = self._storages.get(key)
        if known is None:
            _check_record(self._zf, ref, self._source)
            self._storages[key] = known = ref
        elif known != ref:
            raise TorchScriptError(f"{self._source} declares tensor storage {key} twice with different sizes")
        return known

    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> TensorRef:
        if not isinstance(storage, StorageRef):
            raise TorchScriptError(f"{self._source} rebuilds a tensor from something that is not a stored tensor")
        size, stride = tuple(size) if isinstance(size, (tuple, list)) else size, tuple(stride) if isinstance(stride, (tuple, list)) else stride
        plain = (
            _whole_number(offset)
            and isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride) <= MAX_DIMS
            and all(_whole_number(v) for v in size + stride)
        )
        if not plain:
            raise TorchScriptError(f"{self._source} holds a tensor with an invalid shape {size!r} / stride {stride!r}")
        ref = TensorRef(storage, offset, size, stride)
        where = f"{self._source}: a tensor of shape {list(size)} in {storage.record}"
        if any(st == 0 and s > 1 for s, st in zip(size, stride)):
            raise TorchScriptError(
                f"{where} repeats one stored value (stride 0); a real checkpoint never holds such a tensor, refusing to expand it"
            )
        if ref.numel():
            reach = 0
            for s, st in sorted(((s, st) for s, st in zip(size, stride) if s > 1), key=lambda d: d[1]):
                if st <= reach:
                    raise TorchScriptError(f"{where} reads some stored values twice (overlapping strides {list(stride)}); refusing to expand it")
                reach += (s - 1) * st
            if ref.span()[1] > storage.numel:
                raise TorchScriptError(f"{where} reaches past its storage of {storage.numel} elements")
        return ref


def _check_record(zf: zipfile.ZipFile, ref: StorageRef, source: str) -> zipfile.ZipInfo:
    """The zip entry of a storage, checked before a byte of it is read: present, stored as torch
    writes it (not compressed, so its size on the disk is its size in memory) and exactly as large
    as its dtype × element count."""
    try:
        info = zf.getinfo(ref.record)
    except KeyError as e:
        raise TorchScriptError(f"{source} lacks the tensor data {ref.record}") from e
    if info.compress_type != zipfile.ZIP_STORED:
        raise TorchScriptError(
            f"{source}: tensor data {ref.record} is compressed ({info.file_size} bytes from {info.compress_size}); "
            f"PyTorch never compresses tensor data, refusing to expand it"
        )
    if info.file_size != ref.nbytes or info.compress_size != ref.nbytes:
        raise TorchScriptError(f"{source}: tensor data {ref.record} has {info.file_size} bytes, expected {ref.nbytes}")
    return info


_READ_ERRORS = (
    pickle.UnpicklingError, EOFError, TypeError, ValueError, RuntimeError, AttributeError, IndexError, KeyError,
    RecursionError, MemoryError, OverflowError, struct.error,
)


def _data_pickle(zf: zipfile.ZipFile, source: str) -> tuple[str, bytes]:
    pickles = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise TorchScriptError(f"{source} is not a PyTorch zip archive with one <name>/data.pkl")
    info = zf.getinfo(pickles[0])
    if info.file_size > MAX_PICKLE_BYTES:
        raise TorchScriptError(
            f"{source}: {pickles[0]} is {info.file_size} bytes, more than the {MAX_PICKLE_BYTES} a weights file's index needs"
        )
    with zf.open(info) as fh:
        data = fh.read(MAX_PICKLE_BYTES + 1)  # bounded whatever the entry claims
    prefix = pickles[0][: -len("data.pkl")]
    order = f"{prefix}byteorder"
    if order in zf.namelist():
        with zf.open(order) as fh:
            if fh.read(16).strip() != sys.byteorder.encode():
                raise TorchScriptError(f"{source} was written on a machine of another byte order; re-save it on this kind of machine")
    return prefix, data


def refuse_legacy(path: str | os.PathLike) -> None:
    """PyTorch's legacy pickle format (before 1.6) allocates its storages before their sizes can be
    checked: refuse it, naming the fix."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:
        return
    if head[:1] == b"\x80" and not zipfile.is_zipfile(path):
        raise TorchScriptError(
            f"{path} is in PyTorch's legacy format (before 1.6), whose tensor sizes cannot be checked before they "
            f"are allocated; re-save it with torch.save from PyTorch 1.6 or later"
        )


def scan_archive(path: str | os.PathLike) -> Any:
    """The object in ``<name>/data.pkl`` of a PyTorch zip archive, its tensors as :class:`TensorRef`
    records (nothing of their data read): plain containers, and TorchScript modules as
    :class:`_ScriptObject` records. Raises :class:`TorchScriptError` for anything else."""
    source = str(path)
    refuse_legacy(path)
    try:
        with zipfile.ZipFile(path) as zf:
            prefix, data = _data_pickle(zf, source)
            try:
                return _WeightsOnlyUnpickler(data, zf, prefix, source).load()
            except TorchScriptError:
                raise
            except _READ_ERRORS as e:
                raise TorchScriptError(f"{source} is not a readable PyTorch weights archive ({type(e).__name__})") from e
    except (zipfile.BadZipFile, OSError) as e:
        raise TorchScriptError(f"{source} is not a readable PyTorch zip archive ({type(e).__name__})") from e


def _contiguous(ref: TensorRef) -> bool:
    expected = 1
    for s, st in reversed(list(zip(ref.size, ref.stride))):
        if s != 1 and st != expected:
            return False
        expected *= s
    return True


def _overlapping(refs: set[TensorRef]) -> bool:
    """Whether any two of ``refs`` (views of one storage) reach the same stretch of it."""
    reach = -1
    for start, end in sorted(ref.span() for ref in refs if ref.numel()):
        if start < reach:
            return True
        reach = max(reach, end)
    return False


def read_tensors(path: str | os.PathLike, refs: Mapping[str, TensorRef]) -> dict[str, torch.Tensor]:
    """Read the tensors ``refs`` (from :func:`scan_archive` of the same file), by name.

    Each storage is read once (its entry's size checked again first). Tensors that overlap in it
    (one tensor under two names, a transposed twin) stay views of that one buffer, as with
    ``torch.load``; other tensors are copied out of it, so that a small tensor does not keep a large
    storage alive. Either way the memory allocated is at most twice the bytes the file stores.
    """
    source = str(path)
    by_storage: dict[StorageRef, list[tuple[str, TensorRef]]] = {}
    for name, ref in refs.items():
        by_storage.setdefault(ref.storage, []).append((name, ref))
    out: dict[str, torch.Tensor] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for storage, views in by_storage.items():
                info = _check_record(zf, storage, source)
                buffer = bytearray(storage.nbytes)
                into = memoryview(buffer)
                done = 0
                with zf.open(info) as fh:
                    while done < storage.nbytes:
                        chunk = fh.read(min(_CHUNK, storage.nbytes - done))
                        if not chunk:
                            break
                        into[done : done + len(chunk)] = chunk
                        done += len(chunk)
                if done != storage.nbytes:
                    raise TorchScriptError(f"{source}: tensor data {storage.record} ends after {done} of {storage.nbytes} bytes")
                base = torch.frombuffer(buffer, dtype=storage.dtype) if storage.nbytes else torch.empty(0, dtype=storage.dtype)
                shared = _overlapping({ref for _, ref in views})
                made: dict[TensorRef, torch.Tensor] = {}
                for name, ref in views:
                    if ref not in made:
                        whole = ref.offset == 0 and ref.numel() == storage.numel and _contiguous(ref)
                        if whole:
                            made[ref] = base.view(ref.size)
                        else:
                            view = base.as_strided(ref.size, ref.stride, ref.offset)
                            made[ref] = view if shared else view.clone()
                    out[name] = made[ref]
    except (zipfile.BadZipFile, OSError) as e:
        raise TorchScriptError(f"{source} is not a readable PyTorch zip archive ({type(e).__name__}: {e})") from e
    return out


# The plain values ``torch.save`` writes around tensors (an optimizer's state, a training position).
_PLAIN = (int, float, complex, bool, str, bytes, type(None))
MAX_NESTING = 64


def _walk(obj: Any, source: str, visit: Any) -> Any:
    """``obj`` with each :class:`TensorRef` ``r`` replaced by ``visit(r)``: dicts (``OrderedDict``
    included, with their attributes such as a state dict's ``_metadata``) and lists in place, tuples
    rebuilt. Anything but plain containers, numbers, strings and tensors is refused."""
    seen: dict[int, Any] = {}

    def walk(o: Any, depth: int) -> Any:
        if isinstance(o, TensorRef):
            return visit(o)
        if isinstance(o, _PLAIN):
            return o
        if id(o) in seen:
            return seen[id(o)]
        if depth > MAX_NESTING or len(seen) > MAX_TORCHSCRIPT_OBJECTS:
            raise TorchScriptError(f"{source} nests its containers too deeply or holds too many to be a weights or training file")
        if isinstance(o, dict):
            seen[id(o)] = o
            for key in list(o):
                if not isinstance(key, _PLAIN):
                    raise TorchScriptError(f"{source} holds a dict keyed by a {type(key).__name__}; not a plain torch.save file")
                o[key] = walk(o[key], depth + 1)
            return o
        if isinstance(o, list):
            seen[id(o)] = o
            o[:] = [walk(v, depth + 1) for v in o]
            return o
        if isinstance(o, tuple):
            seen[id(o)] = out = tuple(walk(v, depth + 1) for v in o)
            return out
        what = "a TorchScript module" if isinstance(o, _ScriptObject) else f"a {type(o).__name__}"
        raise TorchScriptError(f"{source} holds {what}, where a plain torch.save file holds only containers, numbers, strings and tensors")

    return walk(obj, 0)


def load_archive(path: str | os.PathLike) -> Any:
    """What ``torch.load(path, weights_only=True)`` returns for a plain ``torch.save`` file (dicts,
    lists, tuples, numbers, strings, ``None`` and tensors, nested), read without running anything and
    never allocating more than twice the bytes the file stores: every storage is checked by
    :func:`scan_archive` (no deflated entries, no stride-0 or overlapping views) before any is read."""
    source = str(path)
    root = scan_archive(path)
    names: dict[TensorRef, str] = {}

    def collect(ref: TensorRef) -> TensorRef:
        names.setdefault(ref, str(len(names)))
        return ref

    _walk(root, source, collect)
    tensors = read_tensors(path, {name: ref for ref, name in names.items()})
    return _walk(root, source, lambda ref: tensors[names[ref]])


def state_dict_refs(obj: Any, source: str) -> dict[str, TensorRef]:
    """The state dict of a scanned archive (:func:`scan_archive`): the object itself or its
    ``state_dict`` entry, names without DDP's ``module.`` prefix, every value a tensor."""
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) and isinstance(v, TensorRef) for k, v in obj.items()):
        raise TorchScriptError(f"{source} is not a state dict of tensors")
    if next(iter(obj)).startswith("module."):
        obj = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in obj.items()}
    return dict(obj)


def select_refs(
    refs: Mapping[str, TensorRef], expected: Mapping[str, Any], source: str, optional: tuple[str, ...] = ()
) -> dict[str, TensorRef]:
    """The tensors of ``expected`` (name -> shape or tensor, e.g. a model's ``state_dict()``) from
    ``refs``, once every name is there with its shape (names starting with one of ``optional`` may
    be missing); nothing of the tensors is read."""
    missing = sorted(k for k in expected if k not in refs and not (optional and k.startswith(optional)))
    wrong = sorted(k for k in expected if k in refs and tuple(refs[k].size) != tuple(getattr(expected[k], "shape", expected[k])))
    if missing or wrong:
        raise TorchScriptError(f"{source} does not fit this architecture: missing {missing[:4]}, wrong shapes {wrong[:4]}")
    return {k: refs[k] for k in expected if k in refs}


def _script_object_tensors(obj: _ScriptObject, source: str) -> dict[str, TensorRef]:
    """Every tensor attribute of a module tree, by dotted name (``visual.conv1.weight``)."""
    out: dict[str, TensorRef] = {}
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
            if isinstance(value, TensorRef):
                out[prefix + name] = value
            elif isinstance(value, _ScriptObject):
                todo.append((f"{prefix}{name}.", value))
    return out


def read_torchscript_tensors(path: str | os.PathLike, expected: Mapping[str, Any] | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a TorchScript archive (OpenAI's ``ViT-B-32.pt``), by state-dict name.

    Reads ``<name>/data.pkl`` with a restricted unpickler that only rebuilds tensors and records
    module attributes as plain data: no ``torch.jit.load``, no code from the archive is run, and an
    archive with anything else (custom ``__setstate__`` state, other globals) is refused. With
    ``expected`` (name -> shape or tensor, e.g. a model's ``state_dict()``), only those tensors are read, and
    only once each is there with its shape.
    """
    source = str(path)
    root = scan_archive(path)
    if not isinstance(root, _ScriptObject):
        raise TorchScriptError(f"{source} does not hold a TorchScript module")
    refs = _script_object_tensors(root, source)
    if expected is not None:
        refs = select_refs(refs, expected, source)
    return read_tensors(path, refs)
