"""The GALIP Studio app's page: the layout (:func:`build_app`).

Ten tabs — Generate, Interpolate, Blend grid, Style knobs, Noise walk, Directions and Prompt map
(:mod:`.discover_tab`), Your image (:mod:`.invert_tab`), Model, Recipe — whose buttons call the handler modules (:mod:`.handlers`,
:mod:`.discover_handlers`, :mod:`.model_handlers`, :mod:`.recipe_handlers`), and a history strip
under them (:mod:`.history`: the session's last results, a click brings one back with its
settings). Every action is a named API endpoint (``/generate``, ``/interpolate``, ``/blend``, ``/blend_cell``, ``/style_knob``,
``/knob_position``, ``/weights_position``, ``/walk``, ``/read_recipe``, ``/render_recipe``,
``/model_info``, ``/load_checkpoint``, ``/upload_weights``, ``/load_official``,
``/use_default_model``, ``/list_checkpoints``, ``/random_seed``, and the discover and Your image tabs' own) that
``gradio_client`` can call; history, send-to and Stop are page-only.

Layout: each tab here is a class whose constructor lays it out and whose ``wire`` connects its
events; :func:`build_app` lays out every tab, then wires them and the events between tabs (send-to,
a blend cell opening in the knobs, history, the landing page). Shared widgets are in :mod:`.widgets`,
the page's look and keyboard shortcuts in :mod:`.theme`; :func:`.launch.launch_app` serves it.

Sessions: each browser tab (and each ``gradio_client.Client``) has its own ``gr.State`` with its
model choice and its last blend grid; the weights live in one app-level
:class:`~.models.ModelStore` (see there for the locking). Long jobs run in a worker thread
(:mod:`.jobs`) that checks a stop flag after every batch, so the Stop buttons (and ``Job.cancel()``)
really stop them. Exports go to one folder (:mod:`.exports`).
"""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr

from .. import explore
from ..explore import NOISE_PATHS
from ..latent import EASINGS, INTERPOLATIONS
from ..pipeline import GALIPPipeline
from . import handlers as h
from . import model_handlers as mh
from . import recipe_handlers as rh
from .discover_tab import build_discover_tabs
from .invert_tab import build_invert_tab
from .exports import export_folder, write_example_recipes
from .history import add_history, history_entry, history_gallery
from .jobs import PAGE_ONLY, Runner, connect_stop, inline_errors, page_and_api, was_stopped
from .launch import log_to_stderr, quiet_validation
from .models import DEFAULT_SPEC, REPO_ROOT, ModelLibrary, ModelSpec, ModelStore
from .plumbing import error_text, random_seed, user_error
from .widgets import (
    IMAGE_BUTTONS, animation_formats, error_line, export_size, frame_size, frames_and_fps, grid_image, recipe_panel, run_stop, seed_input,
    status_line, truncation,
)

TITLE = "GALIP Studio"

# The keys the header lists (the shortcuts' script is theme.HEAD).
KEYS_HINT = (
    "Keys: <kbd>Shift</kbd>+<kbd>Enter</kbd> in a multi-line prompt runs it (<kbd>Enter</kbd> adds a line) · "
    "<kbd>Enter</kbd> in a one-line box runs · <kbd>Ctrl</kbd>+<kbd>Enter</kbd> runs the open tab · <kbd>Esc</kbd> stops it · "
    "<kbd>←</kbd> <kbd>→</kbd> on a slider fine-tune it; a typed value + <kbd>Enter</kbd> applies it"
)
SCALING_JS = "(v) => { document.body.classList.toggle('galip-smooth', v === 'lanczos'); return v; }"

# Prompts the bundled model does well, measured at release (its model card): each of 8 seeds' images
# is nearest its own prompt, in the mini-CLIP's space, among 36 candidate prompts.
PROMPTS = (
    "a red heart", "a 3d emoji of a smiling face", "a dog face", "a house", "a flat emoji of a smiling face", "a flag",
)
CORNER_DEFAULTS = ("a red heart", "a 3d emoji of a smiling face", "a flag", "a house")
# the blend grid's and the knobs' examples
CORNER_EXAMPLES = [list(CORNER_DEFAULTS), ["a dog face", "a flat emoji of a smiling face", "a pizza", "a flat emoji of a cat face"]]
KNOB_XY = (0.3, 0.25)
HISTORY_COLUMNS = 12
PICK_HINT = "Click an image, then send its prompt and seed: to a Style-knob corner (pick which), Interpolate A or B, a Noise-walk keyframe, or reuse its seed here."
LANDING = dict(prompt=PROMPTS[0], images=8, seed=0, truncation=1.0)  # the result the Generate tab opens with


# ------------------------------------------------------------------------------------------ what the tabs share
@dataclass(frozen=True)
class _Session:
    """A browser session's states (each browser tab and each ``gradio_client.Client`` has its own)."""

    model: gr.State  # its ModelSpec
    uploads: gr.State  # weights files uploaded in this session: name -> server path
    last_blend: gr.State  # the last blend grid's recipe (its cells open in the knobs)
    jobs: gr.State  # its long jobs' board: handler name -> progress and Stop flags (jobs.connect_stop)
    history: gr.State  # its last results (history.HistoryEntry), newest first
    picked: gr.State  # the Generate gallery image picked for "send to"

    @classmethod
    def create(cls) -> _Session:
        return cls(gr.State(DEFAULT_SPEC), gr.State({}), gr.State(None), gr.State({}), gr.State([]), gr.State(None))


class _Tab(ABC):
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
    def wire(self, page: _Page) -> None:
        """Connect this tab's events (each tab class defines it)."""


@dataclass(frozen=True)
class _Page:
    """What the tabs' events share: the runner, the session's states and the page-wide components."""

    run: Runner
    session: _Session
    banner: gr.Markdown
    scaling: gr.Radio
    tabs: gr.Tabs
    history_strip: gr.Gallery

    def recorder(self, tab: _Tab, replace_same: bool = False) -> tuple[Callable[..., Any], list[Any]]:
        """A function adding ``tab``'s settings and result to the history, and its inputs."""
        names, results = list(tab.settings), list(tab.results)

        def record(past: list[Any], *values: Any) -> tuple[list[Any], list[tuple[str, str]]]:
            settings = dict(zip(names, values[: len(names)]))
            result = dict(zip(results, values[len(names):]))
            new = add_history(past, tab.id, settings, result, image_key=tab.shown, replace_same=replace_same)
            return new, history_gallery(new)

        record.__name__ = f"record_{tab.id}"
        return record, [self.session.history, *tab.settings.values(), *tab.results.values()]

    def record(self, trigger: Any, tab: _Tab, replace_same: bool = False, unless_stopped: Callable[..., Any] | None = None) -> None:
        """Add ``tab``'s result to the history on ``trigger`` (an event listener, e.g. ``event.success``),
        unless the tab's error line says the run was a mistake, or the last run of the long job
        ``unless_stopped`` ended by Stop."""
        add, inputs = self.recorder(tab, replace_same)

        def fn(board: dict[str, Any] | None, error: str | None, *values: Any) -> Any:
            if (error or "").strip() or (unless_stopped is not None and was_stopped(board, unless_stopped)):
                return gr.skip(), gr.skip()
            return add(*values)

        fn.__name__ = add.__name__
        trigger(fn, [self.session.jobs, tab.error, *inputs], [self.session.history, self.history_strip], **PAGE_ONLY)

    def long_event(self, tab: _Tab, triggers: list[Any], handler: Callable[..., Any], inputs: list[Any], outputs: list[Any], api_name: str) -> Any:
        """``handler`` as a long job of ``tab`` on ``triggers``: its Stop button, its notice, its error
        line (a mistake keeps the last result), its history entry; and the public endpoint ``api_name``."""
        connect_stop(tab.stop, triggers, handler, self.session.jobs, tab.status)  # a new run also clears the last "stopped" notice
        event = page_and_api(
            triggers, self.run.long(handler, len(outputs)), [self.session.model, self.session.jobs, *inputs], outputs, tab.error, api_name
        )
        self.record(event.success, tab, unless_stopped=handler)  # a stopped run ends without error, and made nothing
        return event



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


class _GenerateTab(_Tab):
    id, shown = "generate", "gallery"

    def __init__(self, limits: explore.Limits) -> None:
        with gr.Tab("Generate", id=self.id), gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                self.prompt = gr.Textbox(value=LANDING["prompt"], label="Prompt", lines=2, placeholder="a red heart  (one prompt per line for several)", info="Shift+Enter runs", elem_id="galip-prompt")
                self.images = gr.Slider(1, limits.max_seeds or 64, value=LANDING["images"], step=1, label="Images per prompt", info="image k uses seed + k")
                self.seed = seed_input(elem_id="galip-seed")
                self.truncation = truncation()
                self.export_size = export_size()
                self.go, self.stop = run_stop("Generate")
                self.error = error_line("galip-generate-error")
                gr.Examples([[p] for p in PROMPTS], [self.prompt], label="Try")
            with gr.Column(scale=3):
                self.status = status_line("galip-generate-status")
                self.gallery = gr.Gallery(
                    label="Images", show_label=False, format="png", interactive=False, columns=4, object_fit="contain", buttons=IMAGE_BUTTONS,
                    elem_id="galip-gallery", elem_classes="galip-pixels",
                )
                self.picked_note = gr.Markdown(PICK_HINT, elem_classes="galip-hint", elem_id="galip-picked")
                with gr.Row(elem_id="galip-send", equal_height=True):
                    self.send_corner = gr.Dropdown(list(h.CORNERS), value="top-left", label="Corner", show_label=False, scale=2, min_width=120, container=False)
                    self.send_knobs = gr.Button("→ Style knobs", size="sm", scale=2, min_width=110)
                    self.send_a = gr.Button("→ Interpolate A", size="sm", scale=2, min_width=110)
                    self.send_b = gr.Button("→ Interpolate B", size="sm", scale=2, min_width=110)
                    self.send_walk = gr.Button("→ Walk keyframe", size="sm", scale=2, min_width=110)
                    self.send_seed = gr.Button("Reuse this seed", size="sm", scale=2, min_width=110)
                self.file = gr.DownloadButton("Download the grid (PNG with recipe)")
                self.recipe = recipe_panel()
        self.settings = {"prompt": self.prompt, "images": self.images, "seed": self.seed, "truncation": self.truncation, "export_size": self.export_size}
        self.results = {"gallery": self.gallery, "file": self.file, "recipe": self.recipe}

    def wire(self, page: _Page) -> None:
        """Generate (also on Shift+Enter in the prompt); a click on an image picks it for "send to"."""
        event = page.long_event(
            self, [self.go.click, self.prompt.submit], h.generate,
            [self.prompt, self.images, self.seed, self.truncation, self.export_size, page.scaling], [self.gallery, self.file, self.recipe], "generate",
        )

        def pick(recipe: str, evt: gr.SelectData) -> tuple[Any, str]:
            try:
                item = h.gallery_item(recipe, evt.index)
            except gr.Error as e:
                return gr.skip(), error_text(e.message)
            return item, h.picked_text(item)

        def new_gallery(error: str | None) -> tuple[Any, Any]:
            return (gr.skip(), gr.skip()) if (error or "").strip() else (None, PICK_HINT)  # a mistake keeps the gallery and the pick

        self.gallery.select(pick, self.recipe, [page.session.picked, self.picked_note], **PAGE_ONLY)
        event.success(new_gallery, self.error, [page.session.picked, self.picked_note], **PAGE_ONLY)


class _InterpolateTab(_Tab):
    id, shown = "interpolate", "grid"

    def __init__(self, limits: explore.Limits) -> None:
        with gr.Tab("Interpolate", id=self.id), gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                self.a = gr.Textbox(value="a red heart", label="Prompt A (first row)")
                self.b = gr.Textbox(value="a 3d emoji of a smiling face", label="Prompt B (last row)", elem_id="galip-int-b")
                self.steps = gr.Slider(2, limits.max_steps or 64, value=6, step=1, label="Steps A → B (rows)")
                self.seeds = gr.Textbox(value="0, 1, 2, 3", label="Seeds (columns)", info="e.g. 0, 1, 2 or 0-5", elem_id="galip-int-seeds")
                with gr.Row():
                    self.mode = gr.Radio(list(INTERPOLATIONS), value="lerp", label="Interpolation", info="lerp is the paper's blend")
                    self.easing = gr.Dropdown(list(EASINGS), value="linear", label="Step spacing")
                self.truncation = truncation()
                self.export_size = export_size()
                self.go, self.stop = run_stop("Interpolate")
                self.error = error_line("galip-interpolate-error")
                gr.Examples(
                    [["a red heart", "a 3d emoji of a smiling face"], ["a flag", "a house"], ["a dog face", "a pizza"]],
                    [self.a, self.b],
                    label="Try",
                )
            with gr.Column(scale=3):
                self.status = status_line()
                self.grid = grid_image("**Grid:** rows step from A to B, columns are seeds", "Interpolation grid", 520, "galip-int-grid")
                self.file = gr.DownloadButton("Download the grid (PNG with captions and recipe)")
                self.smoothness = gr.Markdown()
                gr.Markdown("**Smoothness along the path** (first seed)", elem_classes="galip-hint")
                self.plot = gr.Image(label="Smoothness plot", show_label=False, format="png", type="pil", interactive=False, buttons=IMAGE_BUTTONS, elem_id="galip-int-plot")
                self.recipe = recipe_panel()
        self.settings = {
            "prompt_a": self.a, "prompt_b": self.b, "steps": self.steps, "seeds": self.seeds, "interp": self.mode, "easing": self.easing,
            "truncation": self.truncation, "export_size": self.export_size,
        }
        self.results = {"grid": self.grid, "file": self.file, "smoothness": self.smoothness, "recipe": self.recipe}

    def wire(self, page: _Page) -> None:
        """Interpolate (Enter in either prompt runs it)."""
        page.long_event(
            self, [self.go.click, self.a.submit, self.b.submit], h.interpolate,
            [self.a, self.b, self.steps, self.seeds, self.mode, self.easing, self.truncation, self.export_size, page.scaling],
            [self.grid, self.plot, self.smoothness, self.recipe, self.file], "interpolate",
        )


class _BlendTab(_Tab):
    id, shown = "blend", "grid"

    def __init__(self, limits: explore.Limits, last_blend: gr.State) -> None:
        with gr.Tab("Blend grid", id=self.id):
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=320):
                    gr.Markdown("Four prompts at the corners; every cell blends their sentence vectors bilinearly (the paper's Figure 7).", elem_classes="galip-hint")
                    with gr.Row():
                        tl = gr.Textbox(value=CORNER_DEFAULTS[0], label="Top left")
                        tr = gr.Textbox(value=CORNER_DEFAULTS[1], label="Top right")
                    with gr.Row():
                        bl = gr.Textbox(value=CORNER_DEFAULTS[2], label="Bottom left")
                        br = gr.Textbox(value=CORNER_DEFAULTS[3], label="Bottom right")
                    self.corners = [tl, tr, bl, br]
                    self.size = gr.Slider(2, limits.max_grid or 16, value=5, step=1, label="Grid size (cells per side)")
                    self.seed = seed_input()
                    self.truncation = truncation()
                    self.export_size = export_size()
                    self.go, self.stop = run_stop("Blend")
                    self.error = error_line("galip-blend-error")
                with gr.Column(scale=3):
                    self.status = status_line()
                    self.grid = grid_image("**Blend grid:** click a cell to open it in Style knobs", "Blend grid", 560, "galip-blend-grid")
                    with gr.Row(elem_classes="galip-seed-row"):
                        self.row = gr.Number(value=0, label="Row", step=1, elem_id="galip-cell-row")
                        self.col = gr.Number(value=0, label="Column", step=1, elem_id="galip-cell-col")
                        self.open = gr.Button("Open this cell in Style knobs")
                    self.cell_error = error_line("galip-cell-error")
                    self.file = gr.DownloadButton("Download the grid (PNG with the corner prompts and recipe)")
                    self.recipe = recipe_panel()
            # Under both columns: the whole width shows every corner prompt on one line (beside the controls it was cut or split).
            gr.Examples(CORNER_EXAMPLES, self.corners, label="Try")
        self.last_blend = last_blend
        self.settings = {
            "prompt_tl": tl, "prompt_tr": tr, "prompt_bl": bl, "prompt_br": br, "size": self.size, "seed": self.seed,
            "truncation": self.truncation, "export_size": self.export_size,
        }
        self.results = {"grid": self.grid, "file": self.file, "recipe": self.recipe, "last_blend": last_blend}

    def wire(self, page: _Page) -> None:
        """Blend (Enter in a corner prompt runs it)."""
        page.long_event(
            self, [self.go.click, *(c.submit for c in self.corners)], h.blend,
            [*self.corners, self.size, self.seed, self.truncation, self.export_size, page.scaling],
            [self.grid, self.file, self.recipe, self.last_blend], "blend",
        )


class _KnobsTab(_Tab):
    id, shown = "knobs", "image"

    def __init__(self) -> None:
        with gr.Tab("Style knobs", id=self.id):
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=320):
                    gr.Markdown(
                        "Each knob weights one prompt; the image follows while you drag (arrow keys and a typed "
                        "value + Enter too). The position sliders set all four weights as a point in the blend "
                        "grid's square, and follow the weights.",
                        elem_classes="galip-hint",
                    )
                    self.prompts: list[gr.Textbox] = []
                    self.weights: list[gr.Slider] = []
                    for i, (prompt, weight) in enumerate(zip(CORNER_DEFAULTS, h.knob_position(*KNOB_XY))):
                        with gr.Row(equal_height=True):
                            self.prompts.append(gr.Textbox(value=prompt, label=f"Prompt {i + 1} ({h.CORNERS[i]})", scale=3))
                            self.weights.append(gr.Slider(0.0, 2.0, value=weight, step=0.01, label="Weight", scale=2, elem_id=f"galip-weight-{i + 1}"))
                    with gr.Row():
                        self.x = gr.Slider(0.0, 1.0, value=KNOB_XY[0], step=0.01, label="Position x", info="left → right", elem_id="galip-pos-x")
                        self.y = gr.Slider(0.0, 1.0, value=KNOB_XY[1], step=0.01, label="Position y", info="top → bottom", elem_id="galip-pos-y")
                    self.seed = seed_input(elem_id="galip-knobs-seed")
                    self.truncation = truncation()
                    self.normalize = gr.Checkbox(value=True, label="Normalise weights (off: weights above 1 exaggerate a prompt)")
                    self.go = gr.Button("Render", variant="primary", elem_classes="galip-run")
                    self.error = error_line("galip-knobs-error")
                with gr.Column(scale=3):
                    self.image = gr.Image(
                        label="Blend", show_label=False, format="png", type="filepath", interactive=False, height=520, buttons=IMAGE_BUTTONS,
                        elem_classes=["galip-upscale", "galip-pixels"], elem_id="galip-knob-image",
                    )
                    self.mix = gr.Markdown(elem_id="galip-knob-mix")
                    self.recipe = recipe_panel()
            # Under both columns: the whole width shows every corner prompt on one line (beside the controls it was cut or split).
            gr.Examples(CORNER_EXAMPLES, self.prompts, label="Try")
        self.settings = {
            **{f"prompt_{i + 1}": c for i, c in enumerate(self.prompts)}, **{f"weight_{i + 1}": c for i, c in enumerate(self.weights)},
            "x": self.x, "y": self.y, "seed": self.seed, "truncation": self.truncation, "normalize": self.normalize,
        }
        self.results = {"image": self.image, "mix": self.mix, "recipe": self.recipe}
        self.outputs = [self.image, self.mix, self.recipe]  # a render's

    def inputs(self, page: _Page) -> list[Any]:
        """A render's inputs: the session's model, then what ``h.style_knob`` takes."""
        return [page.session.model, *self.prompts, *self.weights, self.seed, self.truncation, self.normalize]

    def wire(self, page: _Page) -> None:
        """The image follows every weight change the user makes: dragging (Gradio's "input" event
        fires while the slider moves; trigger_mode="always_last" keeps one update in flight and then
        renders the newest value, so updates are throttled to the server's pace), arrow keys, a typed
        value + Enter. The position sliders follow the weights."""
        render = page.run.quick(h.style_knob)
        live = dict(trigger_mode="always_last", show_progress="hidden")
        page_and_api(
            [self.go.click, *(w.input for w in self.weights), *(p.submit for p in self.prompts), self.normalize.input, self.seed.submit, self.truncation.release],
            render, self.inputs(page), self.outputs, self.error, "style_knob", **live,
        )
        gr.on(
            [w.input for w in self.weights], h.weights_position, self.weights, [self.x, self.y], api_name="weights_position", queue=False,
            show_progress="hidden", trigger_mode="always_last",
        )
        position = gr.on(
            [self.x.input, self.y.input], h.knob_position, [self.x, self.y], self.weights, api_name="knob_position", queue=False,
            show_progress="hidden", trigger_mode="always_last",
        )
        position.then(inline_errors(render, len(self.outputs)), self.inputs(page), [*self.outputs, self.error], api_visibility="private", **live)
        # One history entry per visit to the knobs (the newest replaces the last while you stay here).
        for trigger in (self.go.click, *(w.release for w in self.weights), self.x.release, self.y.release):
            page.record(trigger, self, replace_same=True)


class _WalkTab(_Tab):
    id, shown = "walk", "preview"

    def __init__(self, limits: explore.Limits) -> None:
        with gr.Tab("Noise walk", id=self.id):
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=320):
                    self.prompts = gr.Textbox(value="a 3d emoji of a smiling face\na red heart", label="Prompts (one per line: keyframes)", lines=3, info="Shift+Enter runs")
                    self.seeds = gr.Textbox(value="0, 1", label="Seeds (noise keyframes)", info="circle / random paths use one or two")
                    with gr.Row():
                        self.path = gr.Dropdown(list(NOISE_PATHS), value="keyframes", label="Noise path")
                        self.easing = gr.Dropdown(list(EASINGS), value="cosine", label="Easing")
                    self.frames, self.fps = frames_and_fps(limits, frames_elem_id="galip-walk-frames")
                    self.playback = gr.Radio(list(h.PLAYBACK), value="loop", label="Playback", info="loop closes the path; ping-pong plays back and forth")
                    self.truncation = truncation()
                    with gr.Row():
                        self.even = gr.Checkbox(value=False, label=f"Even speed (re-time in CLIP space: renders the path {h.RETIME_DENSITY}× first, slower)")
                        self.formats = animation_formats()
                        self.size = frame_size(64, 128, 256, 512)
                    self.go, self.stop = run_stop("Walk")
                    self.error = error_line("galip-walk-error")
                with gr.Column(scale=3):
                    self.status = status_line("galip-walk-status")
                    with gr.Row():
                        self.preview = gr.Image(label="GIF", type="filepath", interactive=False, height=360, buttons=IMAGE_BUTTONS, elem_classes="galip-pixels", elem_id="galip-walk-gif")
                        self.video = gr.Video(label="MP4", interactive=False, height=360, loop=True, autoplay=True, buttons=["download"], elem_classes="galip-pixels")
                    with gr.Row():
                        self.gif = gr.DownloadButton("Download GIF")
                        self.mp4 = gr.DownloadButton("Download MP4")
                    self.info = gr.Markdown()
                    self.recipe = recipe_panel()
            # Under both columns: the whole width shows every corner prompt on one line (beside the controls it was cut or split).
            gr.Examples(
                [
                    ["a 3d emoji of a smiling face\na red heart", "0, 1", "keyframes", "loop"],
                    ["a flag", "3", "circle", "loop"],
                    ["a red heart\na flag\na flat emoji of a cat face", "0", "spline", "ping-pong"],
                ],
                [self.prompts, self.seeds, self.path, self.playback],
                label="Try",
            )
        self.settings = {
            "prompts": self.prompts, "seeds": self.seeds, "path": self.path, "frames": self.frames, "fps": self.fps, "playback": self.playback,
            "easing": self.easing, "truncation": self.truncation, "even_speed": self.even, "formats": self.formats, "size": self.size,
        }
        self.results = {"preview": self.preview, "video": self.video, "gif": self.gif, "mp4": self.mp4, "info": self.info, "recipe": self.recipe}

    def wire(self, page: _Page) -> None:
        """Walk (Shift+Enter in the prompts)."""
        page.long_event(
            self, [self.go.click, self.prompts.submit], h.walk,
            [self.prompts, self.seeds, self.path, self.frames, self.fps, self.playback, self.easing, self.truncation, self.even, self.formats, self.size,
             page.scaling],
            [self.preview, self.video, self.gif, self.mp4, self.info, self.recipe], "walk",
        )


class _ModelTab:
    """The model's card and figures; loaders for other models (this session only) unless loading is off."""

    def __init__(self, library: ModelLibrary, allow_loading: bool) -> None:
        self.library = library
        with gr.Tab("Model", id="model"), gr.Row(equal_height=False):
            with gr.Column(scale=3):
                self.card = gr.Markdown(elem_id="galip-model-card")
                gr.Markdown("**The model card's figures**", elem_classes="galip-hint")
                self.figures = gr.Gallery(
                    label="The model card's figures", show_label=False, format="png", interactive=False, columns=2, height="auto", object_fit="contain",
                    buttons=IMAGE_BUTTONS, elem_id="galip-figures", elem_classes="galip-pixels",
                )
                # describe() as JSON for API clients (/model_info's third value); not shown on the page.
                self.json = gr.Code(language="json", label="describe()", interactive=False, visible=False)
            with gr.Column(scale=2, visible=allow_loading):
                gr.Markdown("### Load another model\nOnly this browser session switches; others keep theirs.")
                self.checkpoint = gr.Dropdown(elem_id="galip-ckpt", choices=
                    mh.list_checkpoints(library) if allow_loading else [], label="Checkpoint directory", allow_custom_value=True,
                    info="one found under checkpoints/, runs/ or the server's --model-dir folders",
                )
                with gr.Row():
                    self.load = gr.Button("Load checkpoint", variant="primary")
                    self.refresh = gr.Button("Refresh list")
                self.error = error_line("galip-model-error")
                self.loaded = status_line("galip-model-loaded")
                gr.Markdown("#### The paper's checkpoints")
                self.upload = gr.File(
                    label="Upload weights (pre_coco.pth, ViT-B-32.pt, ...): for this session only",
                    file_count="multiple", file_types=[".pth", ".pt", ".safetensors", ".bin"], type="filepath",
                )
                self.uploaded = gr.Markdown()
                self.pth = gr.Textbox(label="Official checkpoint", placeholder="pre_coco.pth or pre_cc12m.pth (uploaded, or in a model folder)")
                self.clip = gr.Textbox(label="CLIP ViT-B/32 weights", placeholder="ViT-B-32.pt (uploaded, or in a model folder), or 'openai' (needs a network)")
                self.official = gr.Button("Load official checkpoint")
                self.default = gr.Button("Back to the default model")
                self.official_error = error_line("galip-official-error")

    def outputs(self, page: _Page) -> list[Any]:
        """What a model switch sets: the session's model, the banner, the card, ``describe()``."""
        return [page.session.model, page.banner, self.card, self.json]

    def wire(self, page: _Page) -> None:
        """Loads never leave an "Error" badge on the header or the card (show_progress hidden): a
        failed load says why in a message and the session keeps its model."""
        store, library, session = page.run.store, self.library, page.session

        def loading_allowed() -> None:
            if not store.allow_loading:
                raise user_error("this server does not allow loading other models")

        def load_checkpoint(spec: ModelSpec, path: str) -> mh.ModelCard:
            loading_allowed()
            return mh.switch_model(store, mh.checkpoint_spec(library, path))

        def load_official(spec: ModelSpec, uploads: dict[str, str], pth: str, clip: str) -> mh.ModelCard:
            loading_allowed()
            return mh.switch_model(store, mh.official_spec(library, uploads, pth, clip))

        def upload_weights(uploads: dict[str, str], files: Any) -> mh.UploadResult:
            return mh.register_uploads(uploads, files, allowed=store.allow_loading)

        def use_default(spec: ModelSpec) -> mh.ModelCard:
            return mh.switch_model(store, DEFAULT_SPEC)

        def refresh() -> gr.Dropdown:
            return gr.Dropdown(choices=mh.list_checkpoints(library) if store.allow_loading else [])

        def loaded(spec: ModelSpec, error: str | None, official_error: str | None) -> str:
            """The confirmation a load gives (a failed one says why on its error line instead)."""
            if (error or "").strip() or (official_error or "").strip():
                return ""
            return f"✓ Now using **{spec.public_label()}** in this browser session (others keep theirs)."

        outputs, figures = self.outputs(page), page.run.quick(mh.model_figures)
        quiet = dict(show_progress="hidden")
        for event in (
            page_and_api([self.load.click], load_checkpoint, [session.model, self.checkpoint], outputs, self.error, "load_checkpoint", **quiet),
            page_and_api([self.official.click], load_official, [session.model, session.uploads, self.pth, self.clip], outputs, self.official_error, "load_official", **quiet),
            page_and_api([self.default.click], use_default, [session.model], outputs, self.error, "use_default_model", **quiet),
        ):
            event.success(figures, session.model, self.figures, api_visibility="private", show_progress="hidden")
            event.success(loaded, [session.model, self.error, self.official_error], self.loaded, **PAGE_ONLY)
        page_and_api([self.upload.upload], upload_weights, [session.uploads, self.upload], [session.uploads, self.uploaded], self.official_error, "upload_weights")
        self.refresh.click(refresh, None, self.checkpoint, api_name="list_checkpoints")


class _RecipeTab(_Tab):
    id, shown = "recipe", "image"

    def __init__(self, outdir: Path) -> None:
        with gr.Tab("Recipe", id=self.id), gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                gr.Markdown("Drop a PNG, GIF, MP4 or JSON exported by GALIP Studio (app or CLI): its recipe makes it again, exactly.", elem_classes="galip-hint")
                self.file = gr.File(label="Exported file", file_types=[".png", ".gif", ".mp4", ".json"], type="filepath", elem_id="galip-recipe-file")
                self.summary = gr.Markdown(elem_id="galip-recipe-summary")
                self.go, self.stop = run_stop("Make it again")
                self.error = error_line("galip-recipe-error")
                gr.Examples([[p] for p in write_example_recipes(outdir)], [self.file], label="Try a recipe")
                self.recipe = recipe_panel()
            with gr.Column(scale=3):
                self.status = status_line()
                self.image = gr.Image(label="Result", type="filepath", interactive=False, height=480, buttons=IMAGE_BUTTONS, elem_classes=["galip-upscale", "galip-pixels"])
                self.out = gr.DownloadButton("Download the result")
                self.note = gr.Markdown()
        self.settings = {}
        self.results = {"image": self.image, "file": self.out, "note": self.note, "recipe": self.recipe}

    def wire(self, page: _Page) -> None:
        """Reading a file shows its recipe (clearing it clears them, no error); the button makes it again."""
        page_and_api([self.file.change], rh.read_recipe, [self.file], [self.recipe, self.summary], self.error, "read_recipe", show_progress="hidden")
        page.long_event(self, [self.go.click], rh.render_recipe, [self.file], [self.image, self.out, self.note, self.recipe], "render_recipe")


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
def _wire_history(page: _Page, tabs: Sequence[_Tab], note: gr.Markdown) -> None:
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


def _wire_send_to(page: _Page, generate: _GenerateTab, interpolate: _InterpolateTab, knobs: _KnobsTab, walk: _WalkTab) -> None:
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


def _wire_blend_cell(page: _Page, blend: _BlendTab, knobs: _KnobsTab) -> None:
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


def _wire_landing(demo: gr.Blocks, page: _Page, generate: _GenerateTab, knobs: _KnobsTab, model: _ModelTab) -> None:
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
        session = _Session.create()
        # Public endpoints first: private events made from the same functions get suffixed names.
        gr.api(random_seed, api_name="random_seed")
        banner, scaling = _header()
        with gr.Tabs(selected="generate") as tabs:
            generate = _GenerateTab(limits)
            interpolate = _InterpolateTab(limits)
            blend = _BlendTab(limits, session.last_blend)
            knobs = _KnobsTab()
            walk = _WalkTab(limits)
            discover = build_discover_tabs([session.model, session.jobs], [session.model], run.long, run.quick, limits)  # Directions, Prompt map
            build_invert_tab([session.model, session.jobs], [session.model], run.long, run.quick, limits)  # Your image
            model_tab = _ModelTab(library, allow_model_loading)
            recipe = _RecipeTab(folder)
        history_strip, history_note = _history_block()

        page = _Page(run, session, banner, scaling, tabs, history_strip)
        _wire_history(page, [generate, interpolate, blend, knobs, walk, *discover, recipe], history_note)  # type: ignore[list-item]
        for found in discover:
            page.record(found.event.success, found, unless_stopped=found.handler)  # type: ignore[arg-type]
        generate.wire(page)
        _wire_send_to(page, generate, interpolate, knobs, walk)
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
