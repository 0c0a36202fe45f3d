"""What this machine can do: CPU instruction sets, NNPACK, the C allocator, the GPU's AMP dtype, the
device and mixed precision a run takes (``--device``, ``--amp``), and what a run ran on (its record).

The lowest layer (docs/architecture.md): plain facts about the device, no model code, so the fast
inference path (``fast.py``), the GAN trainer and the mini-CLIP trainer all read them from one place.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import sys
from typing import Any, Callable, ContextManager

import torch


def _cpuinfo(key: str) -> str | None:
    """The value of the first ``/proc/cpuinfo`` line starting with ``key`` (None where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1]
    except OSError:
        pass
    return None


def _cpu_flags() -> set[str]:
    return set((_cpuinfo("flags") or "").split())


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what :mod:`platform` knows."""
    name = _cpuinfo("model name")
    return name.strip() if name is not None else platform.processor() or platform.machine()


def cpu_has_native_bf16() -> bool:
    """True when the CPU has bf16 instructions (AVX512-BF16 or AMX-BF16) that oneDNN uses.

    Without them bf16 convolutions fall back to an emulation that is many times slower than fp32.
    """
    return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags()) and _onednn_bf16()


def _onednn_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def nnpack_available() -> bool:
    """NNPACK is compiled in and initialises on this CPU."""
    try:
        return bool(torch._nnpack_available())  # also initialises NNPACK (its first calls fail otherwise)
    except (AttributeError, RuntimeError):
        return False


def _glibc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # only glibc has mallopt's M_MMAP_THRESHOLD / M_TRIM_THRESHOLD
        return libc
    except (OSError, AttributeError):
        return None


def allocator_tunable() -> bool:
    """The C allocator is glibc's, whose thresholds :func:`tune_cpu_allocator` can raise."""
    return _glibc() is not None


_ALLOCATOR_TUNED = False


def tune_cpu_allocator() -> bool:
    """Let glibc keep large freed blocks (process-wide, idempotent); True when applied.

    By default glibc serves blocks over 32 MB (and, before its threshold adapts, over 128 KB) with
    fresh ``mmap`` pages and returns them on free, so every large activation page-faults again:
    at batch 8 that is about a third of the reference generator's time on a 2-core CPU.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return True
    libc = _glibc()
    if libc is None:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    for threshold in (1 << 30, 32 << 20):
        if libc.mallopt(m_mmap_threshold, threshold) == 1:
            libc.mallopt(m_trim_threshold, (1 << 31) - 1)
            _ALLOCATOR_TUNED = True
            return True
    return False


def cuda_amp_dtype() -> torch.dtype:
    """bf16 where the GPU supports it (no overflow risk on unbounded GAN activations), else fp16."""
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


# ------------------------------------------------------------------------------------------ a run's device
def resolve_device(requested: str | None) -> torch.device:
    """``--device``: ``None``/``auto`` is CUDA when there is a GPU, else the CPU; a CUDA device asked for
    on a machine without one is a one-line error."""
    if requested in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {requested}: CUDA is not available on this machine; use --device cpu")
    return device


AMP_CHOICES = ("auto", "none", "bf16", "fp16")


def resolve_amp(amp: str, device: torch.device) -> str:
    """``auto`` -> ``fp16`` on CUDA (the paper's recipe, with loss scaling), ``bf16`` on CPUs with
    native bf16, else ``none``. Explicit choices are checked against the device."""
    if amp not in AMP_CHOICES:
        raise ValueError(f"--amp must be one of {', '.join(AMP_CHOICES)}, got {amp!r}")
    if amp == "auto":
        if device.type == "cuda":
            return "fp16"
        return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "none"
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("--amp fp16 needs a CUDA device; on the CPU use --amp bf16 or none")
    return amp


def autocast_factory(amp: str, device: torch.device) -> Callable[[], ContextManager]:
    """A function returning a fresh autocast context for the chosen precision (a no-op for ``none``)."""
    if amp == "none":
        return contextlib.nullcontext
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def hardware_info(device: torch.device, amp: str) -> dict[str, Any]:
    """What a run ran on, for its metrics file (``amp``: the resolved precision, none/bf16/fp16)."""
    info: dict[str, Any] = {
        "device": str(device),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16": cpu_has_native_bf16(),
        "autocast": "fp32" if amp == "none" else amp,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
