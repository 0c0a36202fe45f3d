"""The GALIP Studio app's page: the layout of the tabs, the events between them, and :func:`build_app`.

Ten tabs, one class each under :mod:`.tabs` — Generate, Interpolate, Blend grid, Style knobs, Noise
walk, Directions, Prompt map, Your image, Model, Recipe — whose buttons call the handler modules
(:mod:`.handlers`, :mod:`.discover_handlers`, :mod:`.invert_handlers`, :mod:`.model_handlers`,
:mod:`.recipe_handlers`), and a history strip under them (:mod:`.history`: the session's last results,
a click brings one back with its settings). Every action is a named API endpoint (``/generate``,
``/interpolate``, ``/blend``, ``/blend_cell``, ``/style_knob``, ``/knob_position``,
``/weights_position``, ``/walk``, ``/directions``, ``/prompt_map``, ``/map_click``, ``/map_path``,
``/image_variations``, ``/use_variation``, ``/invert_image``, ``/read_recipe``, ``/render_recipe``, ``/model_info``,
``/load_checkpoint``, ``/upload_weights``, ``/load_official``, ``/use_default_model``,
``/list_checkpoints``, ``/random_seed``) that ``gradio_client`` can call; history, send-to and Stop
are page-only.

Layout: each tab is a :class:`~.tabs.base.Tab` whose constructor lays it out and whose ``wire``
connects its events (a long job with its Stop button, progress notice, error line and history entry:
:meth:`~.tabs.base.Page.long_event`); :func:`build_app` lays out every tab, then wires them and the
events between tabs (send-to, a blend cell opening in the knobs, history, the landing page). Shared
widgets are in :mod:`.widgets`, the page's look and keyboard shortcuts in :mod:`.theme`;
:func:`.launch.launch_app` serves it.

Sessions: each browser tab (and each ``gradio_client.Client``) has its own ``gr.State`` with its
model choice and its last blend grid; the weights live in one app-level
:class:`~.models.ModelStore` (see there for the locking). Long jobs run in a worker thread
(:mod:`.jobs`) that checks a stop flag after every batch, so the Stop buttons (and ``Job.cancel()``)
really stop them. Exports go to one folder (:mod:`.exports`).
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr

from .. import explore
from ..pipeline import GALIPPipeline
from . import handlers as h
from . import invert_handlers as ih
from . import model_handlers as mh
from .exports import export_folder
from .history import history_entry
from .jobs import PAGE_ONLY, Runner, inline_errors
from .launch import log_to_stderr, quiet_validation
from .models import REPO_ROOT, ModelLibrary, ModelSpec, ModelStore
from .plumbing import random_seed, user_error
from .tabs import (
    LANDING, BlendTab, DirectionsTab, GenerateTab, InterpolateTab, KnobsTab, ModelTab, Page, PromptMapTab, RecipeTab, Session, Tab,
    WalkTab, YourImageTab,
)
from .widgets import status_line

TITLE = "GALIP Studio"

# The keys the header lists (the shortcuts' script is theme.HEAD).
KEYS_HINT = (
    "Keys: <kbd>Shift</kbd>+<kbd>Enter</kbd> in a multi-line prompt runs it (<kbd>Enter</kbd> adds a line) · "
    "<kbd>Enter</kbd> in a one-line box runs · <kbd>Ctrl</kbd>+<kbd>Enter</kbd> runs the open tab · <kbd>Esc</kbd> stops it · "
    "<kbd>←</kbd> <kbd>→</kbd> on a slider fine-tune it; a typed value + <kbd>Enter</kbd> applies it"
)
SCALING_JS = "(v) => { document.body.classList.toggle('galip-smooth', v === 'lanczos'); return v; }"

# Prompts the bundled model does well, measured at release (its model card): each of 8 seeds' images
HISTORY_COLUMNS = 12


# ------------------------------------------------------------------------------------------ the page
def _header() -> tuple[gr.Markdown, gr.Radio]:
    """Title, keys, the model banner and the Small images setting."""
    with gr.Row(elem_id="galip-header"):
        with gr.Column(scale=3):
            gr.Markdown(
                f"# {TITLE}\nA text-to-image GAN with a smooth latent space (GALIP, CVPR 2023): one forward pass per image. "
                "Blend prompts, turn style knobs, walk the noise, export loops.",
            )
            gr.Markdown(KEYS_HINT, elem_classes="galip-keys", elem_id="galip-keys")
        with gr.Column(scale=1, min_width=260):
            banner = gr.Markdown("Model: loading…", elem_id="galip-banner")
            scaling = gr.Radio(
                list(h.RESAMPLE_CHOICES), value="nearest", label="Small images", elem_id="galip-scaling",
                info="how 64 px images are enlarged on screen and in downloads",
            )
    scaling.change(None, scaling, None, js=SCALING_JS, api_visibility="private", queue=False)
    return banner, scaling


def _history_block() -> tuple[gr.Gallery, gr.Markdown]:
    """The history strip under the tabs and its note."""
    with gr.Column(elem_id="galip-history-block"):
        gr.Markdown("**History** (this browser session, newest first): click one to bring it back with its settings", elem_classes="galip-hint")
        strip = gr.Gallery(
            label="History", show_label=False, interactive=False, columns=HISTORY_COLUMNS, fit_columns=False, rows=1, height=150, allow_preview=False, object_fit="contain",
            buttons=[], elem_id="galip-history", elem_classes="galip-pixels",
        )
        note = status_line("galip-history-note")
    return strip, note


# ------------------------------------------------------------------------------------------ events across tabs
def _wire_history(page: Page, tabs: Sequence[Tab], note: gr.Markdown) -> None:
    """A click on the history strip opens that entry's tab with its settings and result."""
    by_id = {tab.id: tab for tab in tabs}
    restorable = [c for group in (*(t.settings for t in tabs), *(t.results for t in tabs)) for c in group.values()]

    def restore(past: list[Any], evt: gr.SelectData) -> dict[Any, Any]:
        entry = history_entry(past, evt.index)
        tab = by_id[entry.tab]
        out: dict[Any, Any] = {page.tabs: gr.Tabs(selected=entry.tab)}
        for name, value in entry.settings.items():
            if name in tab.settings:
                out[tab.settings[name]] = value
        for name, value in entry.result.items():
            if name in tab.results:
                out[tab.results[name]] = value
        out[note] = f"Restored: {entry.caption}"
        return out

    page.history_strip.select(restore, page.session.history, [page.tabs, note, *restorable], **PAGE_ONLY)


def _need_pick(item: h.GalleryItem | None) -> h.GalleryItem:
    if item is None:
        raise user_error("Click an image of the gallery first, then send it.")
    return h.GalleryItem(*item)


def _wire_send_to(page: Page, generate: GenerateTab, interpolate: InterpolateTab, knobs: KnobsTab, walk: WalkTab) -> None:
    """Send to: the picked gallery image (its prompt and seed) into another tab."""
    picked, tabs = page.session.picked, page.tabs

    def to_knobs(item: Any, corner: str, *prompts_and_weights: Any) -> tuple[Any, ...]:
        sent = h.send_to_knobs(_need_pick(item), corner, *prompts_and_weights)
        return (*sent, *h.weights_position(*sent[4:8]), gr.Tabs(selected="knobs"))

    def to_interpolate(end: str) -> Callable[..., tuple[Any, ...]]:
        def send(item: Any, a: str, b: str, seeds: str) -> tuple[Any, ...]:
            return (*h.send_to_interpolate(_need_pick(item), end, a, b, seeds), gr.Tabs(selected="interpolate"))

        return send

    def to_walk(item: Any, prompts: str, seeds: str) -> tuple[Any, ...]:
        return (*h.send_to_walk(_need_pick(item), prompts, seeds), gr.Tabs(selected="walk"))

    def reuse_seed(item: Any) -> int:
        return _need_pick(item).seed

    def send(button: gr.Button, fn: Callable[..., Any], inputs: list[Any], outputs: list[Any]) -> Any:
        """A send-to button: nothing moves, and the line under the gallery says why, without a pick."""
        return button.click(inline_errors(fn, len(outputs)), inputs, [*outputs, generate.picked_note], **PAGE_ONLY)

    ends = [interpolate.a, interpolate.b, interpolate.seeds]
    # → Style knobs lands ready: the prompt at its corner with a real weight, the position following,
    # and the image (and its Mix line) rendered at once.
    (
        send(generate.send_knobs, to_knobs, [picked, generate.send_corner, *knobs.prompts, *knobs.weights],
             [*knobs.prompts, *knobs.weights, knobs.seed, knobs.x, knobs.y, tabs])
        .success(inline_errors(page.run.quick(h.style_knob), len(knobs.outputs)), knobs.inputs(page), [*knobs.outputs, knobs.error],
                 api_name="render_sent_knobs", api_visibility="private", show_progress="hidden")  # a name of its own: /style_knob is the public one
    )
    send(generate.send_a, to_interpolate("A"), [picked, *ends], [*ends, tabs])
    send(generate.send_b, to_interpolate("B"), [picked, *ends], [*ends, tabs])
    send(generate.send_walk, to_walk, [picked, walk.prompts, walk.seeds], [walk.prompts, walk.seeds, tabs])
    send(generate.send_seed, reuse_seed, [picked], [generate.seed])


def _wire_send_found(page: Page, your_image: YourImageTab, interpolate: InterpolateTab, knobs: KnobsTab, blend: BlendTab, walk: WalkTab) -> None:
    """Send the found point ("[your image]") from Your image to a knob or blend corner, an Interpolate end or the walk's first line."""
    found, tabs = page.session.found, page.tabs

    def to_knobs(point: Any, corner: str, *prompts_weights_seed: Any) -> tuple[Any, ...]:
        sent = ih.send_found_to_knobs(point, corner, *prompts_weights_seed)
        return (*sent, *h.weights_position(*sent[4:8]), gr.Tabs(selected="knobs"))

    def to_interpolate(end: str) -> Callable[..., tuple[Any, ...]]:
        def send(point: Any, a: str, b: str) -> tuple[Any, ...]:
            return (*ih.send_found_to_interpolate(point, end, a, b), gr.Tabs(selected="interpolate"))

        return send

    def send(button: gr.Button, fn: Callable[..., Any], inputs: list[Any], outputs: list[Any]) -> Any:
        return button.click(inline_errors(fn, len(outputs)), inputs, [*outputs, your_image.send_error], **PAGE_ONLY)

    (
        send(your_image.send_knobs, to_knobs, [found, your_image.send_corner, *knobs.prompts, *knobs.weights, knobs.seed],
             [*knobs.prompts, *knobs.weights, knobs.seed, knobs.x, knobs.y, tabs])
        .success(inline_errors(page.run.quick(h.style_knob), len(knobs.outputs)), knobs.inputs(page), [*knobs.outputs, knobs.error],
                 api_name="render_found_knobs", api_visibility="private", show_progress="hidden")
    )
    def to_blend(point: Any, corner: str, *corners: Any) -> tuple[Any, ...]:
        return (*ih.send_found_to_blend(point, corner, *corners), gr.Tabs(selected="blend"))

    send(your_image.send_blend, to_blend, [found, your_image.send_corner, *blend.corners], [*blend.corners, tabs])
    send(your_image.send_a, to_interpolate("A"), [found, interpolate.a, interpolate.b], [interpolate.a, interpolate.b, tabs])
    send(your_image.send_b, to_interpolate("B"), [found, interpolate.a, interpolate.b], [interpolate.a, interpolate.b, tabs])

    def to_walk(point: Any, prompts: str) -> tuple[Any, ...]:
        return ih.send_found_to_walk(point, prompts), gr.Tabs(selected="walk")

    send(your_image.send_walk, to_walk, [found, walk.prompts], [walk.prompts, tabs])


def _wire_blend_cell(page: Page, blend: BlendTab, knobs: KnobsTab) -> None:
    """A blend-grid cell opens in the knobs: click → (row, col) → switch tab → knobs and image."""

    def pick_cell(recipe: dict[str, Any] | None, evt: gr.SelectData) -> tuple[int, int]:
        if not recipe:
            raise user_error("Make a blend grid first.")
        x, y = evt.index
        rows, cols, size = int(recipe["rows"]), int(recipe["cols"]), int(recipe["model"]["image_size"])
        return h.grid_cell(x, y, rows, cols, h.display_cell(size, cols) or size)

    inputs = [page.session.model, blend.last_blend, blend.row, blend.col]
    outputs = [*knobs.prompts, *knobs.weights, knobs.x, knobs.y, knobs.seed, knobs.truncation, *knobs.outputs]
    cell = page.run.quick(h.blend_cell)

    def open_cell(spec: ModelSpec, recipe: dict[str, Any] | None, row: Any, col: Any) -> tuple[Any, ...]:
        # Checked and rendered first: a cell that is not in the grid leaves the tab and the knobs alone.
        return (*cell(spec, recipe, row, col), gr.Tabs(selected="knobs"))

    def click_cell(spec: ModelSpec, recipe: dict[str, Any] | None, evt: gr.SelectData) -> tuple[Any, ...]:
        row, col = pick_cell(recipe, evt)
        return (row, col, *open_cell(spec, recipe, row, col))

    hidden = gr.Button(visible=False, elem_classes="galip-api-only")
    hidden.click(cell, inputs, outputs, api_name="blend_cell")
    page_outputs = [*outputs, page.tabs, blend.cell_error]
    blend.open.click(inline_errors(open_cell, len(outputs) + 1), inputs, page_outputs, api_visibility="private")
    blend.grid.select(
        inline_errors(click_cell, len(outputs) + 3), [page.session.model, blend.last_blend], [blend.row, blend.col, *page_outputs], api_visibility="private"
    )


def _wire_landing(demo: gr.Blocks, page: Page, generate: GenerateTab, knobs: KnobsTab, model: ModelTab) -> None:
    """The landing page: the model's card, a first result in Generate and in the knobs."""
    store = page.run.store

    def show(spec: ModelSpec) -> tuple[Any, ...]:
        return tuple(mh.switch_model(store, spec))[1:]

    landing = page.run.quick(h.generate)
    record, record_inputs = page.recorder(generate)
    (
        demo.load(show, page.session.model, model.outputs(page)[1:], api_name="model_info", show_progress="hidden")
        .then(page.run.quick(mh.model_figures), page.session.model, model.figures, api_visibility="private", show_progress="hidden")
        .then(
            lambda spec, scale: landing(spec, LANDING["prompt"], LANDING["images"], LANDING["seed"], LANDING["truncation"], 256, scale),
            [page.session.model, page.scaling], [generate.gallery, generate.file, generate.recipe], api_visibility="private", show_progress="hidden",
        )
        .then(record, record_inputs, [page.session.history, page.history_strip], **PAGE_ONLY)
        .then(page.run.quick(h.style_knob), knobs.inputs(page), knobs.outputs, api_visibility="private", show_progress="hidden")
    )


# ------------------------------------------------------------------------------------------ the app
def build_app(
    model: GALIPPipeline | Callable[[], GALIPPipeline],
    *,
    device: str | None = None,
    allow_model_loading: bool = True,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    checkpoint_roots: Sequence[str | Path] | None = None,
    model_dirs: Sequence[str | Path] = (),
    outdir: str | Path | None = None,
) -> gr.Blocks:
    """The GALIP Studio app for ``model`` (a pipeline, or a zero-argument loader called on first use).

    Args:
        device: where models loaded from the Model tab run (default: the default model's device).
        allow_model_loading: show the Model tab's loaders (switch off when strangers can reach the server).
        limits: bounds on grid sizes, frames, images (the sliders' ranges follow them).
        checkpoint_roots: folders whose ``checkpoints/`` and ``runs/`` the Model tab lists and may load
            (default: the current directory and the repository).
        model_dirs: more folders the Model tab may load checkpoints and weights from (``--model-dir``).
            Nothing outside these folders can be loaded, except files uploaded in the same session.
        outdir: where exported files are written (default: a temporary folder removed with the app,
            also on SIGTERM when started by ``galip-studio serve``).
    """
    log_to_stderr()
    roots = list(checkpoint_roots) if checkpoint_roots is not None else list(dict.fromkeys([Path.cwd().resolve(), REPO_ROOT]))
    library = ModelLibrary(roots, model_dirs)
    store = ModelStore(model, device=device, allow_loading=allow_model_loading, library=library)
    folder, cleanup = export_folder(outdir)
    run = Runner(store, folder, limits)

    # Layout first, then the events: components and events keep the ids (and the API's endpoint
    # names) they had, and every tab's events can reach the history strip under the tabs.
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        session = Session.create()
        # Public endpoints first: private events made from the same functions get suffixed names.
        gr.api(random_seed, api_name="random_seed")
        banner, scaling = _header()
        with gr.Tabs(selected="generate") as tabs:
            generate = GenerateTab(limits)
            interpolate = InterpolateTab(limits)
            blend = BlendTab(limits, session.last_blend)
            knobs = KnobsTab()
            walk = WalkTab(limits)
            directions = DirectionsTab(limits)
            prompt_map = PromptMapTab(limits)
            your_image = YourImageTab()
            model_tab = ModelTab(library, allow_model_loading)
            recipe = RecipeTab(folder)
        history_strip, history_note = _history_block()

        page = Page(run, session, banner, scaling, tabs, history_strip)
        _wire_history(page, [generate, interpolate, blend, knobs, walk, directions, prompt_map, recipe], history_note)
        directions.wire(page)
        prompt_map.wire(page)
        your_image.wire(page)
        generate.wire(page)
        _wire_send_to(page, generate, interpolate, knobs, walk)
        _wire_send_found(page, your_image, interpolate, knobs, blend, walk)
        interpolate.wire(page)
        blend.wire(page)
        knobs.wire(page)
        _wire_blend_cell(page, blend, knobs)
        walk.wire(page)
        model_tab.wire(page)
        recipe.wire(page)
        _wire_landing(demo, page, generate, knobs, model_tab)

    quiet_validation(demo)
    demo.queue(default_concurrency_limit=4, max_size=64)
    # ``demo.galip_cleanup()`` removes the temporary folder now (serve calls it on SIGTERM); it also
    # runs when the app is garbage-collected or the interpreter exits.
    demo.galip_cleanup = weakref.finalize(demo, cleanup) if cleanup is not None else (lambda: None)  # type: ignore[attr-defined]
    demo.galip_outdir = folder  # type: ignore[attr-defined]
    return demo
