"""How the page's events run the handlers: long jobs in a worker thread with progress and Stop,
quick ones as a plain call, and what a Stop button says.

A long job's worker checks a stop flag after every batch (its progress report), so the Stop buttons
(and ``Job.cancel()``) really stop it. Every handler gets the session's model (a
:class:`~.models.ModelHandle`), the export folder and the limits as well as its inputs.
"""

from __future__ import annotations

import contextvars
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr

from .. import explore
from .models import ModelHandle, ModelSpec, ModelStore
from .plumbing import progress_text, stopped_notice

POLL_S = 0.25  # how often a long job's generator wakes up (progress, cancellation)


class _Stopped(Exception):
    """Raised inside a job's progress callback once its request was cancelled."""


def _skip(n_outputs: int) -> Any:
    return gr.skip() if n_outputs == 1 else tuple(gr.skip() for _ in range(n_outputs))


def long_job(handler: Callable[..., Any], n_outputs: int, store: ModelStore, outdir: Path, limits: explore.Limits) -> Callable[..., Iterator[Any]]:
    """A Gradio generator that runs ``handler(model, *inputs, outdir, limits, progress)`` in a worker.

    Inputs are the session's model spec, the session's job board (a dict in its ``gr.State``: the
    last progress of each tab's job, for the Stop button's notice), then the handler's inputs.
    The generator wakes every :data:`POLL_S` seconds and yields "no change"; when Gradio cancels the
    event (a Stop button, ``Job.cancel()``, a closed tab) it closes the generator, which sets the
    stop flag, and the worker's next progress report (after its current batch) raises and ends it.
    The worker runs in a copy of the request's context, so ``gr.Progress`` and ``gr.Warning`` work.
    Progress says what is made, how far, and the time left at the pace so far.
    """

    def run(spec: ModelSpec, board: dict[str, Any] | None, *inputs: Any, progress: gr.Progress = gr.Progress()) -> Iterator[Any]:
        stop = threading.Event()
        started = time.monotonic()
        if isinstance(board, dict):
            board[handler.__name__] = (0, 0)

        def report(done: int, total: int, note: str | None = None) -> None:
            if stop.is_set():
                raise _Stopped()
            if isinstance(board, dict):
                board[handler.__name__] = (done, total)
            progress(done / total if total else 0.0, desc=progress_text(done, total, time.monotonic() - started, note))

        box: dict[str, Any] = {}
        context = contextvars.copy_context()

        def work() -> None:
            try:
                box["result"] = context.run(handler, ModelHandle(store, spec), *inputs, outdir=outdir, limits=limits, progress=report)
            except BaseException as e:  # handed to the generator, which re-raises it in Gradio's thread
                box["error"] = e

        worker = threading.Thread(target=work, name=f"galip-{handler.__name__}", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(POLL_S)
                if worker.is_alive():
                    yield _skip(n_outputs)
            error = box.get("error")
            if isinstance(error, _Stopped):
                return
            if error is not None:
                raise error
            yield box["result"]
        finally:
            stop.set()

    run.__name__ = handler.__name__
    return run


def quick(handler: Callable[..., Any], store: ModelStore, outdir: Path, limits: explore.Limits) -> Callable[..., Any]:
    """A plain Gradio function for fast handlers (one image): ``handler(model, *inputs, outdir, limits)``."""

    def run(spec: ModelSpec, *inputs: Any) -> Any:
        return handler(ModelHandle(store, spec), *inputs, outdir=outdir, limits=limits)

    run.__name__ = handler.__name__
    return run


def stopper(handler: Callable[..., Any]) -> Callable[[dict[str, Any] | None], str]:
    """What a Stop button says: how far ``handler``'s job had come (from the session's job board)."""

    def stopped(board: dict[str, Any] | None) -> str:
        done, total = (board or {}).get(handler.__name__, (None, None))
        return stopped_notice(done, total)

    stopped.__name__ = f"stopped_{handler.__name__}"
    return stopped


@dataclass(frozen=True)
class Runner:
    """Runs the handlers for the events: ``long`` in a worker with progress and Stop, ``quick`` as a plain call."""

    store: ModelStore
    outdir: Path
    limits: explore.Limits

    def long(self, handler: Callable[..., Any], n_outputs: int) -> Callable[..., Iterator[Any]]:
        return long_job(handler, n_outputs, self.store, self.outdir, self.limits)

    def quick(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        return quick(handler, self.store, self.outdir, self.limits)
