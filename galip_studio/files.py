"""Writing files atomically, and safetensors files with the permissions every other file gets.

Every file the package writes in place goes through :func:`atomic_path`: the bytes go to a temporary
name in the same folder, which replaces the target only when the file is complete, so a process
killed while writing leaves the old file (or none), never half of one. :func:`write_atomic` is that
for bytes or text in memory.

safetensors' ``save_file`` creates its files with mode 0600, so a cache or a CLIP written by one
user could not be read by another. :func:`save_safetensors` writes the same bytes through
``open()`` (mode 0666 under the umask). Checkpoint directories are written in a temporary directory
and given default modes as a whole (``checkpoint.atomic_directory``).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Iterator, Mapping

import torch


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces ``path`` when the block succeeds (and is removed
    when it fails). It keeps ``path``'s suffix, for writers that choose the format by it (PIL,
    ffmpeg), and starts with a dot, so folder scans skip it. Creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created by the writer itself (not mkstemp), so the file gets the usual permissions.
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def write_atomic(path: str | os.PathLike, data: bytes | str, encoding: str = "utf-8") -> None:
    """Write ``data`` (bytes, or text in ``encoding``) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding=encoding)
        else:
            tmp.write_bytes(data)


def save_safetensors(tensors: Mapping[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (made contiguous) to ``path`` as a safetensors file, atomically."""
    from safetensors.torch import save

    write_atomic(path, save({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata))
