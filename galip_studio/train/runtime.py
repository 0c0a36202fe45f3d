"""Where training runs: the process group (``torchrun``) and stop signals. The device and precision
choice are :mod:`galip_studio.device`'s (the mini-CLIP trainer shares them)."""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import threading
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Iterator

import torch
import torch.distributed as dist

from ..device import resolve_device


@dataclass
class DistContext:
    """This process's place in a ``torchrun`` job (a single process when not launched by torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Sum a few floats over all ranks (identity in a single process)."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t)
        return t.tolist()

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        if self.initialized_here and dist.is_initialized():
            dist.destroy_process_group()


def setup_distributed(requested_device: str | None, timeout_minutes: float = 30.0) -> DistContext:
    """Join the ``torchrun`` process group when its environment is set (NCCL on GPU, gloo on CPU).

    Each process uses ``cuda:LOCAL_RANK`` on GPU machines. Without ``WORLD_SIZE`` > 1 this is a
    single process on ``requested_device``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(device=resolve_device(requested_device))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(requested_device)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    initialized_here = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs: dict[str, Any] = {"timeout": datetime.timedelta(minutes=timeout_minutes)}
        if device.type == "cuda":
            kwargs["device_id"] = device
        dist.init_process_group(backend=backend, **kwargs)
        initialized_here = True
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=device, initialized_here=initialized_here)


class StopSignal:
    """Turns the first Ctrl-C (SIGINT) or SIGTERM into a request to stop after the current step.

    A second Ctrl-C interrupts at once. Handlers are installed only in the main thread, and the
    previous ones are restored on exit.
    """

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    @contextlib.contextmanager
    def installed(self) -> Iterator["StopSignal"]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous.clear()
