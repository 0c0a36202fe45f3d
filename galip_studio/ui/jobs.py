"""How the page's events run the handlers: long jobs in a worker thread with progress and Stop,
quick ones as a plain call, and what a Stop button says.

A long job's worker checks a stop flag after every batch (its progress report), so the Stop buttons
(and ``Job.cancel()``) really stop it. Every handler gets the session's model (a
:class:`~.models.ModelHandle`), the export folder and the limits as well as its inputs.

The page's Stop buttons do not use Gradio's ``cancels=``: they set a flag on the session's job board
(:func:`connect_stop`), and the job's generator, which looks at the board every :data:`POLL_S`
seconds, ends the run itself. Gradio 6's cancel answers the browser with an empty "completed"
message that its client cannot read when it arrives after the cancel request has returned (a
loaded machine), and the run's outputs then keep a red "Error" badge. ``Job.cancel()`` from
``gradio_client`` still works: Gradio closes the generator, which sets the same stop flag.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import gradio as gr

from .. import explore
from .models import ModelHandle, ModelSpec, ModelStore
from .plumbing import error_text, progress_text, stopped_notice

POLL_S = 0.25  # how often a long job's generator wakes up (progress, cancellation)


class _Stopped(Exception):
    """Raised inside a job's progress callback once its request was cancelled."""


def _skip(n_outputs: int) -> Any:
    return gr.skip() if n_outputs == 1 else tuple(gr.skip() for _ in range(n_outputs))


def _named(run: Callable[..., Any], handler: Callable[..., Any], leading: tuple[str, ...]) -> Callable[..., Any]:
    """Give ``run(*leading, *inputs, ...)`` the names of ``handler``'s inputs (its parameters after
    the model), so the API page names every parameter (``prompt``, ``seed``) instead of ``param_3``."""
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    inputs = [q for q in inspect.signature(handler).parameters.values() if q.kind in positional][1:]
    own = [q for q in inspect.signature(run).parameters.values() if q.kind is inspect.Parameter.KEYWORD_ONLY]
    params = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in leading]
    params += [q.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) for q in inputs] + own
    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return run


def _entry(board: dict[str, Any] | None, handler: Callable[..., Any]) -> dict[str, Any]:
    """``handler``'s entry on a session's job board (a throwaway one when there is no board).

    Keys: ``done``/``total`` (its last progress, for Stop's notice), ``asked`` (a run was asked for
    and has not started), ``running``, ``stop`` (Stop was pressed for the run asked for or running)
    and ``stopped`` (the last run ended by Stop: its history entry is skipped).
    """
    if not isinstance(board, dict):
        return {}
    entry = board.get(handler.__name__)
    if not isinstance(entry, dict):
        entry = board[handler.__name__] = {}
    return entry


def long_job(handler: Callable[..., Any], n_outputs: int, store: ModelStore, outdir: Path, limits: explore.Limits) -> Callable[..., Iterator[Any]]:
    """A Gradio generator that runs ``handler(model, *inputs, outdir, limits, progress)`` in a worker.

    Inputs are the session's model spec, the session's job board (a dict in its ``gr.State``, see
    :func:`_entry`), then the handler's inputs. The generator wakes every :data:`POLL_S` seconds and
    yields "no change". It ends the run, with no output, when the page's Stop button flags it on the
    board (:func:`connect_stop`), or when Gradio cancels the event (``Job.cancel()``, a closed tab)
    and closes it; either way it sets the stop flag, and the worker's next progress report (after its
    current batch) raises and ends it. A run stopped while it waited in the queue does not start.
    The worker runs in a copy of the request's context, so ``gr.Progress`` and ``gr.Warning`` work.
    Progress says what is made, how far, and the time left at the pace so far.
    """

    def run(spec: ModelSpec, board: dict[str, Any] | None, *inputs: Any, progress: gr.Progress = gr.Progress()) -> Iterator[Any]:
        entry = _entry(board, handler)
        if entry.get("stop"):  # Stop was pressed while this run waited for its turn
            entry.update(asked=False, stop=False, stopped=True)
            return
        entry.update(done=0, total=0, asked=False, running=True, stopped=False)
        stop = threading.Event()
        started = time.monotonic()

        def report(done: int, total: int, note: str | None = None) -> None:
            if stop.is_set():
                raise _Stopped()
            entry.update(done=done, total=total)
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
                if entry.get("stop"):
                    entry["stopped"] = True
                    return  # the worker ends at its next progress report, its result unused
                if worker.is_alive():
                    yield _skip(n_outputs)
            error = box.get("error")
            if isinstance(error, _Stopped):
                entry["stopped"] = True
                return
            if error is not None:
                raise error
            yield box["result"]
        finally:
            stop.set()
            entry.update(running=False, stop=False)

    run.__name__ = handler.__name__
    return _named(run, handler, ("model", "jobs"))


def quick(handler: Callable[..., Any], store: ModelStore, outdir: Path, limits: explore.Limits) -> Callable[..., Any]:
    """A plain Gradio function for fast handlers (one image): ``handler(model, *inputs, outdir, limits)``."""

    def run(spec: ModelSpec, *inputs: Any) -> Any:
        return handler(ModelHandle(store, spec), *inputs, outdir=outdir, limits=limits)

    run.__name__ = handler.__name__
    return _named(run, handler, ("model",))


def asker(handler: Callable[..., Any], notice: bool) -> Callable[[dict[str, Any] | None], Any]:
    """What a run button does first, at once (before the queue starts the run): note on the job board
    that a run of ``handler`` was asked for, so Stop can stop it while it waits; clear the notice."""

    def ask(board: dict[str, Any] | None) -> Any:
        entry = _entry(board, handler)
        entry.update(asked=True, stop=False)
        return "" if notice else None

    ask.__name__ = f"ask_{handler.__name__}"
    return ask


def stopper(handler: Callable[..., Any] | Sequence[Callable[..., Any]], notice: bool = True) -> Callable[[dict[str, Any] | None], Any]:
    """What a Stop button does: flag the running or waiting run of ``handler`` (or of each of several
    handlers) on the session's job board (its generator then ends it) and, with ``notice``, say how
    far it had come."""
    handlers = list(handler) if isinstance(handler, (list, tuple)) else [handler]

    def stopped(board: dict[str, Any] | None) -> Any:
        entries = [_entry(board, h) for h in handlers]
        live = [entry for entry in entries if entry.get("running") or entry.get("asked")]
        for entry in live:
            entry["stop"] = True
        entry = (live or entries)[0]
        return stopped_notice(entry.get("done"), entry.get("total")) if notice else None

    stopped.__name__ = "stopped_" + "_".join(h.__name__ for h in handlers)
    stopped.handlers = tuple(h.__name__ for h in handlers)  # type: ignore[attr-defined]  (what it stops, for tests)
    return stopped


def was_stopped(board: dict[str, Any] | None, handler: Callable[..., Any]) -> bool:
    """Whether ``handler``'s last run in this session ended by Stop (then it made nothing to keep)."""
    return bool(_entry(board, handler).get("stopped"))


PAGE_ONLY = dict(api_visibility="private", queue=False, show_progress="hidden")  # page-only events: instant, no spinner, not in the API


def connect_stop(
    stop: gr.Button | None, triggers: list[Any], handler: Callable[..., Any], board: gr.State, notice: gr.Markdown | None = None,
    *, also: Sequence[Callable[..., Any]] = (),
) -> None:
    """Wire ``stop`` to the long job ``handler`` that ``triggers`` (event listeners, e.g.
    ``button.click``) start: each trigger notes on ``board`` that a run was asked for (and clears
    ``notice``); Stop flags it there (and says in ``notice`` how far it had come). A tab with several
    long jobs and one Stop button names the others in ``also`` (Stop ends whichever runs) and
    connects theirs with ``stop`` None (their triggers only note their runs)."""
    for trigger in triggers:
        trigger(asker(handler, notice is not None), board, notice, **PAGE_ONLY)
    if stop is not None:
        stop.click(stopper([handler, *also], notice is not None), board, notice, **PAGE_ONLY)


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


def inline_errors(fn: Callable[..., Any], n_outputs: int) -> Callable[..., Any]:
    """``fn`` (a plain function or a long job's generator) for the page: one more output, the error
    line under its controls. A user's mistake (:class:`gradio.Error`) no longer fails the event:
    its outputs keep the last good result (``gr.skip()``), the error line says what to change, and
    no red "Error" badge is left on them; a success clears the line. API clients call the same
    function without this wrapper (:func:`page_and_api`), so their mistakes still raise."""

    def failed(e: gr.Error) -> tuple[Any, ...]:
        return (*(gr.skip() for _ in range(n_outputs)), error_text(e.message))

    def done(result: Any) -> tuple[Any, ...]:
        if n_outputs == 1:
            result = (result,)
        if all(isinstance(v, dict) and v == {"__type__": "update"} for v in result):  # a long job's "no change yet"
            return (*result, gr.skip())
        return (*result, "")

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def run_gen(*args: Any, **kwargs: Any) -> Iterator[Any]:
            first = True
            try:
                for result in fn(*args, **kwargs):
                    out = done(result)
                    yield (*out[:-1], "") if first else out  # a new run clears the last mistake's line
                    first = False
            except gr.Error as e:
                yield failed(e)

        return run_gen

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return done(fn(*args, **kwargs))
        except gr.Error as e:
            return failed(e)

    return run


def page_and_api(
    triggers: list[Any], fn: Callable[..., Any], inputs: list[Any], outputs: list[Any], error_line: gr.Markdown, api_name: str | None, **kwargs: Any
) -> Any:
    """``fn`` on the page's ``triggers`` with :func:`inline_errors` (its error line is the last
    output), and, when ``api_name`` is given, the same ``fn`` as that public endpoint, where a user's
    mistake raises (``gradio_client``'s ``AppError``). The endpoint hangs on a hidden button that
    the page never clicks. Returns the page's event (for ``.success``/``.then``)."""
    if api_name is not None:
        hidden = gr.Button(visible=False, elem_classes="galip-api-only")
        gr.on([hidden.click], fn, inputs, outputs, api_name=api_name, **kwargs)
    return gr.on(triggers, inline_errors(fn, len(outputs)), inputs, [*outputs, error_line], api_visibility="private", **kwargs)
