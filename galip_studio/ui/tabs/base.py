"""What the tabs share: the session's states (:class:`Session`), the tab pattern (:class:`Tab`: lay out
in the constructor, connect events in ``wire``) and the page's shared parts and event helpers
(:class:`Page`: long jobs with Stop, error line and history), plus the default corner prompts."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import gradio as gr

from ..history import add_history, history_gallery
from ..jobs import PAGE_ONLY, Runner, connect_stop, page_and_api, was_stopped
from ..models import DEFAULT_SPEC

CORNER_DEFAULTS = ("a red heart", "a 3d emoji of a smiling face", "a strawberry", "a house")
# the blend grid's and the knobs' examples
CORNER_EXAMPLES = [list(CORNER_DEFAULTS), ["a dog face", "a crescent moon", "a green apple", "a cat face"]]


@dataclass(frozen=True)
class Session:
    """A browser session's states (each browser tab and each ``gradio_client.Client`` has its own)."""

    model: gr.State  # its ModelSpec
    uploads: gr.State  # weights files uploaded in this session: name -> server path
    last_blend: gr.State  # the last blend grid's recipe (its cells open in the knobs)
    jobs: gr.State  # its long jobs' board: handler name -> progress and Stop flags (jobs.connect_stop)
    history: gr.State  # its last results (history.HistoryEntry), newest first
    picked: gr.State  # the Generate gallery image picked for "send to"
    found: gr.State  # the point the last Invert found ({"sentence", "noise", "label"}): what "[your image]" stands for


    @classmethod
    def create(cls) -> Session:
        return cls(gr.State(DEFAULT_SPEC), gr.State({}), gr.State(None), gr.State({}), gr.State([]), gr.State(None), gr.State(None))


class Tab(ABC):
    """A tab whose results the history keeps. The constructor lays it out (call it inside ``gr.Tabs``);
    :meth:`wire` connects its events once the whole page exists (the history strip is under the tabs).

    ``settings`` and ``results`` name the components a history entry records and restores, ``shown``
    the result whose image the history strip shows; ``status`` and ``stop`` serve its long job, if any;
    ``error`` is the line under its controls that says what to change after a mistake.
    """

    id: str
    shown: str
    settings: dict[str, Any]
    results: dict[str, Any]
    status: gr.Markdown
    stop: gr.Button
    error: gr.Markdown

    @abstractmethod
    def wire(self, page: Page) -> None:
        """Connect this tab's events (each tab class defines it)."""


@dataclass(frozen=True)
class Page:
    """What the tabs' events share: the runner, the session's states and the page-wide components."""

    run: Runner
    session: Session
    banner: gr.Markdown
    scaling: gr.Radio
    tabs: gr.Tabs
    history_strip: gr.Gallery

    def recorder(self, tab: Tab, replace_same: bool = False) -> tuple[Callable[..., Any], list[Any]]:
        """A function adding ``tab``'s settings and result to the history, and its inputs."""
        names, results = list(tab.settings), list(tab.results)

        def record(past: list[Any], *values: Any) -> tuple[list[Any], list[tuple[str, str]]]:
            settings = dict(zip(names, values[: len(names)]))
            result = dict(zip(results, values[len(names):]))
            new = add_history(past, tab.id, settings, result, image_key=tab.shown, replace_same=replace_same)
            return new, history_gallery(new)

        record.__name__ = f"record_{tab.id}"
        return record, [self.session.history, *tab.settings.values(), *tab.results.values()]

    def record(
        self, trigger: Any, tab: Tab, replace_same: bool = False, unless_stopped: Callable[..., Any] | None = None, error_line: gr.Markdown | None = None
    ) -> None:
        """Add ``tab``'s result to the history on ``trigger`` (an event listener, e.g. ``event.success``),
        unless the error line (the tab's, or ``error_line``) says the run was a mistake, or the last run of
        the long job ``unless_stopped`` ended by Stop."""
        add, inputs = self.recorder(tab, replace_same)

        def fn(board: dict[str, Any] | None, error: str | None, *values: Any) -> Any:
            if (error or "").strip() or (unless_stopped is not None and was_stopped(board, unless_stopped)):
                return gr.skip(), gr.skip()
            return add(*values)

        fn.__name__ = add.__name__
        trigger(fn, [self.session.jobs, error_line or tab.error, *inputs], [self.session.history, self.history_strip], **PAGE_ONLY)

    def long_event(
        self, tab: Tab, triggers: list[Any], handler: Callable[..., Any], inputs: list[Any], outputs: list[Any], api_name: str, *,
        error: gr.Markdown | None = None, record: bool = True, own_stop: bool = True, also_stops: Sequence[Callable[..., Any]] = (),
    ) -> Any:
        """``handler`` as a long job of ``tab`` on ``triggers``: the tab's Stop button and notice, its
        error line (a mistake keeps the last result; ``error`` for a second job's own line), its
        history entry (unless ``record`` is False); and the public endpoint ``api_name``.

        A tab with two long jobs and one Stop button wires the first with ``own_stop=False`` and the
        second with ``also_stops=[first handler]``: Stop then ends whichever runs."""
        error = error or tab.error
        connect_stop(tab.stop if own_stop else None, triggers, handler, self.session.jobs, tab.status, also=also_stops)  # a new run also clears the last notice
        event = page_and_api(
            triggers, self.run.long(handler, len(outputs)), [self.session.model, self.session.jobs, *inputs], outputs, error, api_name
        )
        if record:
            self.record(event.success, tab, unless_stopped=handler, error_line=error)  # a stopped run ends without error, and made nothing
        return event
