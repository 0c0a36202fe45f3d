"""Writing safetensors files with the permissions every other file gets.

safetensors' ``save_file`` creates its files with mode 0600, so a cache or a CLIP written by one
user could not be read by another. :func:`save_safetensors` writes the same bytes through
``open()`` (mode 0666 under the umask), to a temporary name that replaces ``path`` only when the
file is complete. Checkpoint directories are written in a temporary directory and given default
modes as a whole (``checkpoint.atomic_directory``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import torch


def save_safetensors(tensors: Mapping[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (made contiguous) to ``path`` as a safetensors file, atomically."""
    from safetensors.torch import save

    path = Path(path)
    data = save({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
