"""The GALIP Studio app: the layout (:func:`build_app`) and :func:`launch_app`.

Seven tabs — Generate, Interpolate, Blend grid, Style knobs, Noise walk, Model, Recipe — whose
buttons call :mod:`.handlers`, and a history strip under them (the session's last results: a click
brings one back with its settings). Every action is a named API endpoint (``/generate``,
``/interpolate``, ``/blend``, ``/blend_cell``, ``/style_knob``, ``/knob_position``,
``/weights_position``, ``/walk``, ``/read_recipe``, ``/render_recipe``, ``/model_info``,
``/load_checkpoint``, ``/load_official``, ``/use_default_model``, ``/list_checkpoints``,
``/random_seed``) that ``gradio_client`` can call; history, send-to and Stop are page-only.

Sessions: each browser tab (and each ``gradio_client.Client``) has its own ``gr.State`` with its
model choice and its last blend grid; the weights live in one app-level
:class:`~.models.ModelStore` (see there for the locking). Long jobs run in a worker thread that
checks a stop flag after every batch, so the Stop buttons (and ``Job.cancel()``) really stop them.
"""

from __future__ import annotations

import contextvars
import json
import logging
import shutil
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import gradio as gr

from .. import explore
from ..latent import EASINGS, INTERPOLATIONS, NOISE_PATHS
from ..pipeline import GALIPPipeline
from . import handlers as h
from .discover_tab import build_discover_tabs
from .models import DEFAULT_SPEC, REPO_ROOT, ModelHandle, ModelLibrary, ModelSpec, ModelStore
from .widgets import (
    IMAGE_BUTTONS, animation_formats, export_size, frame_size, frames_and_fps, grid_image, recipe_panel, run_stop, seed_input, status_line,
    truncation,
)

TITLE = "GALIP Studio"
POLL_S = 0.25  # how often a long job's generator wakes up (progress, cancellation)
MAX_UPLOAD_MB = 2048  # the largest file a browser may upload (the official checkpoints are ~1 GB)

# System fonts only: nothing is fetched from a font service, the page works offline.
SANS = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Noto Sans", "Arial", "sans-serif")
MONO = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace")

CSS = """
.gradio-container { max-width: 1320px !important; margin: 0 auto !important; }
#galip-header { align-items: flex-end; }
#galip-header h1 { font-size: 1.9rem; margin: 0; letter-spacing: -0.01em; }
#galip-header p { margin: 0.15rem 0 0 0; opacity: 0.8; }
#galip-banner { text-align: right; font-size: 0.9rem; opacity: 0.85; }
.galip-hint { font-size: 0.85rem; opacity: 0.75; }
.galip-keys { font-size: 0.8rem; opacity: 0.75; }
.galip-keys kbd { font-family: inherit; border: 1px solid currentColor; border-radius: 4px; padding: 0 4px; opacity: 0.9; }
.galip-status:empty { display: none; }
.galip-seed-row { align-items: flex-end; }
.galip-dice { max-width: 7rem; }
.galip-upscale img { width: 100% !important; height: 100% !important; object-fit: contain; }
/* Small images are shown with crisp pixels unless the user picks smooth scaling. */
body:not(.galip-smooth) .galip-pixels img, body:not(.galip-smooth) .galip-pixels video { image-rendering: pixelated; }
/* Gallery captions wrap instead of being cut ("seed 1708129…"). */
#galip-gallery .caption-label, #galip-figures .caption-label {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important; max-width: 100% !important;
}
#galip-history .caption-label { font-size: 0.7rem; }
"""

# Keyboard shortcuts (shown in the header): Ctrl/Cmd+Enter runs the open tab, Esc stops its job.
# Shift+Enter in a multi-line box and Enter in a one-line box are Gradio's own "submit".
HEAD = """
<script>
(() => {
  const visible = (el) => el && el.offsetParent !== null;
  const pick = (cls) => [...document.querySelectorAll('button.' + cls)].find(visible);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { const b = pick('galip-stop'); if (b) { b.click(); } }
    else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { const b = pick('galip-run'); if (b) { e.preventDefault(); b.click(); } }
  });
})();
</script>
"""
KEYS_HINT = (
    "Keys: <kbd>Shift</kbd>+<kbd>Enter</kbd> in a multi-line prompt runs it (<kbd>Enter</kbd> adds a line) · "
    "<kbd>Enter</kbd> in a one-line box runs · <kbd>Ctrl</kbd>+<kbd>Enter</kbd> runs the open tab · <kbd>Esc</kbd> stops it · "
    "<kbd>←</kbd> <kbd>→</kbd> on a slider fine-tune it; a typed value + <kbd>Enter</kbd> applies it"
)
SCALING_JS = "(v) => { document.body.classList.toggle('galip-smooth', v === 'lanczos'); return v; }"

# Prompts the bundled model does well, measured at release (its model card): each of 8 seeds' images
# is nearest its own prompt, in the mini-CLIP's space, among 36 candidate prompts.
PROMPTS = (
    "a red heart", "a 3d emoji of a smiling face", "a dog face", "a globe", "a flat emoji of a smiling face", "a flag",
)
CORNER_DEFAULTS = ("a red heart", "a 3d emoji of a smiling face", "a flag", "a globe")
# the blend grid's and the knobs' examples
CORNER_EXAMPLES = [list(CORNER_DEFAULTS), ["a dog face", "a flat emoji of a smiling face", "a flower", "a house"]]
KNOB_XY = (0.3, 0.25)
HISTORY_COLUMNS = 12
PICK_HINT = "Click an image, then send its prompt and seed: to a Style-knob corner (pick which), Interpolate A or B, a Noise-walk keyframe, or reuse its seed here."
LANDING = dict(prompt=PROMPTS[0], images=8, seed=0, truncation=1.0)  # the result the Generate tab opens with


def make_theme() -> gr.themes.Base:
    """A soft violet theme that uses the system's fonts (Gradio's defaults would load web fonts)."""
    return gr.themes.Soft(primary_hue="violet", secondary_hue="fuchsia", neutral_hue="slate", font=list(SANS), font_mono=list(MONO)).set(
        block_radius="12px", button_large_radius="10px"
    )


# ------------------------------------------------------------------------------------------ wiring helpers
class _Stopped(Exception):
    """Raised inside a job's progress callback once its request was cancelled."""


def _skip(n_outputs: int) -> Any:
    return gr.skip() if n_outputs == 1 else tuple(gr.skip() for _ in range(n_outputs))


def _long_job(handler: Callable[..., Any], n_outputs: int, store: ModelStore, outdir: Path, limits: explore.Limits) -> Callable[..., Iterator[Any]]:
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
            progress(done / total if total else 0.0, desc=h.progress_text(done, total, time.monotonic() - started, note))

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


def _quick(handler: Callable[..., Any], store: ModelStore, outdir: Path, limits: explore.Limits) -> Callable[..., Any]:
    """A plain Gradio function for fast handlers (one image): ``handler(model, *inputs, outdir, limits)``."""

    def run(spec: ModelSpec, *inputs: Any) -> Any:
        return handler(ModelHandle(store, spec), *inputs, outdir=outdir, limits=limits)

    run.__name__ = handler.__name__
    return run


def _write_example_recipes(outdir: Path) -> list[str]:
    """Two model-independent recipe files for the Recipe tab's examples."""
    folder = outdir / "example-recipes"
    folder.mkdir(parents=True, exist_ok=True)
    recipes = {
        "hearts-and-faces.json": {"format": explore.RECIPE_FORMAT, "kind": "seeds", "prompts": ["a red heart", "a 3d emoji of a smiling face"], "seeds": [0, 1, 2, 3], "truncation": 1.0, "batch_size": 8},
        "flag-to-cat.json": {"format": explore.RECIPE_FORMAT, "kind": "interpolate", "prompts": ["a flag", "a flat emoji of a cat face"], "steps": 6, "seeds": [0, 1, 2], "interp": "lerp", "easing": "linear", "truncation": 1.0, "batch_size": 8},
    }
    paths = []
    for name, recipe in recipes.items():
        path = folder / name
        path.write_text(json.dumps(recipe, indent=2) + "\n")
        paths.append(str(path))
    return paths


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
    _log_to_stderr()
    roots = list(checkpoint_roots) if checkpoint_roots is not None else list(dict.fromkeys([Path.cwd().resolve(), REPO_ROOT]))
    library = ModelLibrary(roots, model_dirs)
    store = ModelStore(model, device=device, allow_loading=allow_model_loading, library=library)
    if outdir is None:
        outdir = Path(tempfile.mkdtemp(prefix="galip-studio-"))
        cleanup: Callable[[], None] | None = lambda: shutil.rmtree(outdir, ignore_errors=True)  # noqa: E731
    else:
        outdir, cleanup = Path(outdir), None
    lim = limits
    max_seeds = lim.max_seeds or 64
    knob_weights = h.knob_position(*KNOB_XY)

    def long(handler: Callable[..., Any], n: int) -> Callable[..., Iterator[Any]]:
        return _long_job(handler, n, store, outdir, lim)

    def quick(handler: Callable[..., Any]) -> Callable[..., Any]:
        return _quick(handler, store, outdir, lim)

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        session_model = gr.State(DEFAULT_SPEC)
        session_uploads = gr.State({})  # weights files uploaded in this session: name -> server path
        last_blend = gr.State(None)
        jobs = gr.State({})  # this session's long jobs: handler name -> (done, total) so far (Stop's notice)
        history = gr.State([])  # this session's last results (handlers.HistoryEntry), newest first
        picked = gr.State(None)  # the Generate gallery image picked for "send to"
        # Public endpoints first: private events made from the same functions get suffixed names.
        gr.api(h.random_seed, api_name="random_seed")

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

        with gr.Tabs(selected="generate") as tabs:
            # ---------------------------------------------------------------- Generate
            with gr.Tab("Generate", id="generate"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=320):
                        gen_prompt = gr.Textbox(value=LANDING["prompt"], label="Prompt", lines=2, placeholder="a red heart  (one prompt per line for several)", info="Shift+Enter runs", elem_id="galip-prompt")
                        gen_n = gr.Slider(1, max_seeds, value=LANDING["images"], step=1, label="Images per prompt", info="image k uses seed + k")
                        gen_seed = seed_input(elem_id="galip-seed")
                        gen_trunc = truncation()
                        gen_size = export_size()
                        gen_go, gen_stop = run_stop("Generate")
                        gr.Examples([[p] for p in PROMPTS], [gen_prompt], label="Try")
                    with gr.Column(scale=3):
                        gen_status = status_line("galip-generate-status")
                        gen_gallery = gr.Gallery(
                            label="Images", show_label=False, format="png", interactive=False, columns=4, object_fit="contain", buttons=IMAGE_BUTTONS,
                            elem_id="galip-gallery", elem_classes="galip-pixels",
                        )
                        gen_picked = gr.Markdown(PICK_HINT, elem_classes="galip-hint", elem_id="galip-picked")
                        with gr.Row(elem_id="galip-send", equal_height=True):
                            send_corner = gr.Dropdown(list(h.CORNERS), value="top-left", show_label=False, scale=2, min_width=120, container=False)
                            send_knobs = gr.Button("→ Style knobs", size="sm", scale=2, min_width=110)
                            send_a = gr.Button("→ Interpolate A", size="sm", scale=2, min_width=110)
                            send_b = gr.Button("→ Interpolate B", size="sm", scale=2, min_width=110)
                            send_walk = gr.Button("→ Walk keyframe", size="sm", scale=2, min_width=110)
                            send_seed = gr.Button("Reuse this seed", size="sm", scale=2, min_width=110)
                        gen_file = gr.DownloadButton("Download the grid (PNG with recipe)")
                        gen_recipe = recipe_panel()

            # ---------------------------------------------------------------- Interpolate
            with gr.Tab("Interpolate", id="interpolate"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=320):
                        int_a = gr.Textbox(value="a red heart", label="Prompt A (first row)")
                        int_b = gr.Textbox(value="a 3d emoji of a smiling face", label="Prompt B (last row)", elem_id="galip-int-b")
                        int_steps = gr.Slider(2, lim.max_steps or 64, value=6, step=1, label="Steps A → B (rows)")
                        int_seeds = gr.Textbox(value="0, 1, 2, 3", label="Seeds (columns)", info="e.g. 0, 1, 2 or 0-5", elem_id="galip-int-seeds")
                        with gr.Row():
                            int_mode = gr.Radio(list(INTERPOLATIONS), value="lerp", label="Interpolation", info="lerp is the paper's blend")
                            int_ease = gr.Dropdown(list(EASINGS), value="linear", label="Step spacing")
                        int_trunc = truncation()
                        int_size = export_size()
                        int_go, int_stop = run_stop("Interpolate")
                        gr.Examples(
                            [["a red heart", "a 3d emoji of a smiling face"], ["a flag", "a globe"], ["a dog face", "a flower"]],
                            [int_a, int_b],
                            label="Try",
                        )
                    with gr.Column(scale=3):
                        int_status = status_line()
                        int_grid = grid_image("**Grid:** rows step from A to B, columns are seeds", "Interpolation grid", 520, "galip-int-grid")
                        int_file = gr.DownloadButton("Download the grid (PNG with captions and recipe)")
                        int_smooth = gr.Markdown()
                        gr.Markdown("**Smoothness along the path** (first seed)", elem_classes="galip-hint")
                        int_plot = gr.Image(label="Smoothness plot", show_label=False, format="png", type="pil", interactive=False, buttons=IMAGE_BUTTONS, elem_id="galip-int-plot")
                        int_recipe = recipe_panel()

            # ---------------------------------------------------------------- Blend grid
            with gr.Tab("Blend grid", id="blend"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=320):
                        gr.Markdown("Four prompts at the corners; every cell blends their sentence vectors bilinearly (the paper's Figure 7).", elem_classes="galip-hint")
                        with gr.Row():
                            bl_tl = gr.Textbox(value=CORNER_DEFAULTS[0], label="Top left")
                            bl_tr = gr.Textbox(value=CORNER_DEFAULTS[1], label="Top right")
                        with gr.Row():
                            bl_bl = gr.Textbox(value=CORNER_DEFAULTS[2], label="Bottom left")
                            bl_br = gr.Textbox(value=CORNER_DEFAULTS[3], label="Bottom right")
                        bl_size = gr.Slider(2, lim.max_grid or 16, value=5, step=1, label="Grid size (cells per side)")
                        bl_seed = seed_input()
                        bl_trunc = truncation()
                        bl_export = export_size()
                        bl_go, bl_stop = run_stop("Blend")
                        gr.Examples(
                            CORNER_EXAMPLES,
                            [bl_tl, bl_tr, bl_bl, bl_br],
                            label="Try",
                        )
                    with gr.Column(scale=3):
                        bl_status = status_line()
                        bl_grid = grid_image("**Blend grid:** click a cell to open it in Style knobs", "Blend grid", 560, "galip-blend-grid")
                        with gr.Row(elem_classes="galip-seed-row"):
                            bl_row = gr.Number(value=0, label="Row", precision=0, minimum=0)
                            bl_col = gr.Number(value=0, label="Column", precision=0, minimum=0)
                            bl_open = gr.Button("Open this cell in Style knobs")
                        bl_file = gr.DownloadButton("Download the grid (PNG with the corner prompts and recipe)")
                        bl_recipe = recipe_panel()

            # ---------------------------------------------------------------- Style knobs
            with gr.Tab("Style knobs", id="knobs"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=320):
                        gr.Markdown(
                            "Each knob weights one prompt; the image follows while you drag (arrow keys and a typed "
                            "value + Enter too). The position sliders set all four weights as a point in the blend "
                            "grid's square, and follow the weights.",
                            elem_classes="galip-hint",
                        )
                        kn_prompts, kn_weights = [], []
                        for i, (prompt, weight) in enumerate(zip(CORNER_DEFAULTS, knob_weights)):
                            with gr.Row(equal_height=True):
                                kn_prompts.append(gr.Textbox(value=prompt, label=f"Prompt {i + 1} ({h.CORNERS[i]})", scale=3))
                                kn_weights.append(gr.Slider(0.0, 2.0, value=weight, step=0.01, label="Weight", scale=2, elem_id=f"galip-weight-{i + 1}"))
                        with gr.Row():
                            kn_x = gr.Slider(0.0, 1.0, value=KNOB_XY[0], step=0.01, label="Position x (left → right)", elem_id="galip-pos-x")
                            kn_y = gr.Slider(0.0, 1.0, value=KNOB_XY[1], step=0.01, label="Position y (top → bottom)", elem_id="galip-pos-y")
                        kn_seed = seed_input(elem_id="galip-knobs-seed")
                        kn_trunc = truncation()
                        kn_norm = gr.Checkbox(value=True, label="Normalise weights (off: weights above 1 exaggerate a prompt)")
                        kn_go = gr.Button("Render", variant="primary", elem_classes="galip-run")
                        gr.Examples(
                            CORNER_EXAMPLES,
                            kn_prompts,
                            label="Try",
                        )
                    with gr.Column(scale=3):
                        kn_image = gr.Image(
                            label="Blend", show_label=False, format="png", type="filepath", interactive=False, height=520, buttons=IMAGE_BUTTONS,
                            elem_classes=["galip-upscale", "galip-pixels"], elem_id="galip-knob-image",
                        )
                        kn_mix = gr.Markdown(elem_id="galip-knob-mix")
                        kn_recipe = recipe_panel()

            # ---------------------------------------------------------------- Noise walk
            with gr.Tab("Noise walk", id="walk"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=320):
                        wk_prompts = gr.Textbox(value="a 3d emoji of a smiling face\na red heart", label="Prompts (one per line: keyframes)", lines=3, info="Shift+Enter runs")
                        wk_seeds = gr.Textbox(value="0, 1", label="Seeds (noise keyframes)", info="circle / random paths use one or two")
                        with gr.Row():
                            wk_path = gr.Dropdown(list(NOISE_PATHS), value="keyframes", label="Noise path")
                            wk_ease = gr.Dropdown(list(EASINGS), value="cosine", label="Easing")
                        wk_frames, wk_fps = frames_and_fps(lim, frames_elem_id="galip-walk-frames")
                        wk_play = gr.Radio(list(h.PLAYBACK), value="loop", label="Playback", info="loop closes the path; ping-pong plays back and forth")
                        wk_trunc = truncation()
                        with gr.Row():
                            wk_even = gr.Checkbox(value=False, label=f"Even speed (re-time in CLIP space: renders the path {h.RETIME_DENSITY}× first, slower)")
                            wk_formats = animation_formats()
                            wk_size = frame_size(64, 128, 256, 512)
                        wk_go, wk_stop = run_stop("Walk")
                        gr.Examples(
                            [
                                ["a 3d emoji of a smiling face\na red heart", "0, 1", "keyframes", "loop"],
                                ["a flag", "3", "circle", "loop"],
                                ["a red heart\na flag\na flat emoji of a cat face", "0", "spline", "ping-pong"],
                            ],
                            [wk_prompts, wk_seeds, wk_path, wk_play],
                            label="Try",
                        )
                    with gr.Column(scale=3):
                        wk_status = status_line("galip-walk-status")
                        with gr.Row():
                            wk_preview = gr.Image(label="GIF", type="filepath", interactive=False, height=360, buttons=IMAGE_BUTTONS, elem_classes="galip-pixels", elem_id="galip-walk-gif")
                            wk_video = gr.Video(label="MP4", interactive=False, height=360, loop=True, autoplay=True, buttons=["download"], elem_classes="galip-pixels")
                        with gr.Row():
                            wk_gif = gr.DownloadButton("Download GIF")
                            wk_mp4 = gr.DownloadButton("Download MP4")
                        wk_info = gr.Markdown()
                        wk_recipe = recipe_panel()

            build_discover_tabs([session_model, jobs], [session_model], long, quick, lim)  # Directions, Prompt map (ui/discover_tab.py)

            # ---------------------------------------------------------------- Model
            with gr.Tab("Model", id="model"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        md_card = gr.Markdown(elem_id="galip-model-card")
                        md_figures = gr.Gallery(
                            label="The model card's figures", format="png", interactive=False, columns=2, height="auto", object_fit="contain",
                            buttons=IMAGE_BUTTONS, elem_id="galip-figures", elem_classes="galip-pixels",
                        )
                        # describe() as JSON for API clients (/model_info's third value); not shown on the page.
                        md_json = gr.Code(language="json", label="describe()", interactive=False, visible=False)
                    with gr.Column(scale=2, visible=allow_model_loading):
                        gr.Markdown("### Load another model\nOnly this browser session switches; others keep theirs.")
                        md_ckpt = gr.Dropdown(elem_id="galip-ckpt", choices=
                            h.list_checkpoints(library) if allow_model_loading else [], label="Checkpoint directory", allow_custom_value=True,
                            info="one found under checkpoints/, runs/ or the server's --model-dir folders",
                        )
                        with gr.Row():
                            md_load = gr.Button("Load checkpoint", variant="primary")
                            md_refresh = gr.Button("Refresh list")
                        gr.Markdown("#### The paper's checkpoints")
                        md_upload = gr.File(
                            label="Upload weights (pre_coco.pth, ViT-B-32.pt, ...): for this session only",
                            file_count="multiple", file_types=[".pth", ".pt", ".safetensors", ".bin"], type="filepath",
                        )
                        md_uploaded = gr.Markdown()
                        md_pth = gr.Textbox(label="Official checkpoint", placeholder="pre_coco.pth or pre_cc12m.pth (uploaded, or in a model folder)")
                        md_clip = gr.Textbox(label="CLIP ViT-B/32 weights", placeholder="ViT-B-32.pt (uploaded, or in a model folder), or 'openai' (needs a network)")
                        md_official = gr.Button("Load official checkpoint")
                        md_default = gr.Button("Back to the default model")

            # ---------------------------------------------------------------- Recipe
            with gr.Tab("Recipe", id="recipe"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=320):
                        gr.Markdown("Drop a PNG, GIF, MP4 or JSON exported by GALIP Studio (app or CLI): its recipe makes it again, exactly.", elem_classes="galip-hint")
                        rc_file = gr.File(label="Exported file", file_types=[".png", ".gif", ".mp4", ".json"], type="filepath", elem_id="galip-recipe-file")
                        rc_summary = gr.Markdown(elem_id="galip-recipe-summary")
                        rc_go, rc_stop = run_stop("Make it again")
                        gr.Examples([[p] for p in _write_example_recipes(outdir)], [rc_file], label="Try a recipe")
                        rc_recipe = recipe_panel()
                    with gr.Column(scale=3):
                        rc_status = status_line()
                        rc_image = gr.Image(label="Result", type="filepath", interactive=False, height=480, buttons=IMAGE_BUTTONS, elem_classes=["galip-upscale", "galip-pixels"])
                        rc_out = gr.DownloadButton("Download the result")
                        rc_note = gr.Markdown()

        with gr.Column(elem_id="galip-history-block"):
            gr.Markdown("**History** (this browser session, newest first): click one to bring it back with its settings", elem_classes="galip-hint")
            history_strip = gr.Gallery(
                label="History", show_label=False, interactive=False, columns=HISTORY_COLUMNS, fit_columns=False, rows=1, height=150, allow_preview=False, object_fit="contain",
                buttons=[], elem_id="galip-history", elem_classes="galip-pixels",
            )
            history_note = status_line("galip-history-note")

        # ------------------------------------------------------------------------ events
        # What each tab records in the history (names -> components), and what clicking it restores.
        tab_settings: dict[str, dict[str, Any]] = {
            "generate": {"prompt": gen_prompt, "images": gen_n, "seed": gen_seed, "truncation": gen_trunc, "export_size": gen_size},
            "interpolate": {
                "prompt_a": int_a, "prompt_b": int_b, "steps": int_steps, "seeds": int_seeds, "interp": int_mode, "easing": int_ease,
                "truncation": int_trunc, "export_size": int_size,
            },
            "blend": {
                "prompt_tl": bl_tl, "prompt_tr": bl_tr, "prompt_bl": bl_bl, "prompt_br": bl_br, "size": bl_size, "seed": bl_seed,
                "truncation": bl_trunc, "export_size": bl_export,
            },
            "knobs": {
                **{f"prompt_{i + 1}": c for i, c in enumerate(kn_prompts)}, **{f"weight_{i + 1}": c for i, c in enumerate(kn_weights)},
                "x": kn_x, "y": kn_y, "seed": kn_seed, "truncation": kn_trunc, "normalize": kn_norm,
            },
            "walk": {
                "prompts": wk_prompts, "seeds": wk_seeds, "path": wk_path, "frames": wk_frames, "fps": wk_fps, "playback": wk_play,
                "easing": wk_ease, "truncation": wk_trunc, "even_speed": wk_even, "formats": wk_formats, "size": wk_size,
            },
            "recipe": {},
        }
        tab_results: dict[str, dict[str, Any]] = {
            "generate": {"gallery": gen_gallery, "file": gen_file, "recipe": gen_recipe},
            "interpolate": {"grid": int_grid, "file": int_file, "smoothness": int_smooth, "recipe": int_recipe},
            "blend": {"grid": bl_grid, "file": bl_file, "recipe": bl_recipe, "last_blend": last_blend},
            "knobs": {"image": kn_image, "mix": kn_mix, "recipe": kn_recipe},
            "walk": {"preview": wk_preview, "video": wk_video, "gif": wk_gif, "mp4": wk_mp4, "info": wk_info, "recipe": wk_recipe},
            "recipe": {"image": rc_image, "file": rc_out, "note": rc_note, "recipe": rc_recipe},
        }
        shown = {"generate": "gallery", "interpolate": "grid", "blend": "grid", "knobs": "image", "walk": "preview", "recipe": "image"}

        def recorder(tab: str, replace_same: bool = False) -> tuple[Callable[..., Any], list[Any]]:
            names, results = list(tab_settings[tab]), list(tab_results[tab])

            def record(past: list[Any], *values: Any) -> tuple[list[Any], list[tuple[str, str]]]:
                settings = dict(zip(names, values[: len(names)]))
                result = dict(zip(results, values[len(names):]))
                new = h.add_history(past, tab, settings, result, image_key=shown[tab], replace_same=replace_same)
                return new, h.history_gallery(new)

            record.__name__ = f"record_{tab}"
            return record, [history, *tab_settings[tab].values(), *tab_results[tab].values()]

        def remember(event: Any, tab: str, replace_same: bool = False) -> None:
            fn, inputs = recorder(tab, replace_same)
            event.success(fn, inputs, [history, history_strip], api_visibility="private", queue=False, show_progress="hidden")

        restorable = [c for group in (*tab_settings.values(), *tab_results.values()) for c in group.values()]

        def restore(past: list[Any], evt: gr.SelectData) -> dict[Any, Any]:
            entry = h.history_entry(past, evt.index)
            out: dict[Any, Any] = {tabs: gr.Tabs(selected=entry.tab)}
            for name, value in entry.settings.items():
                if name in tab_settings[entry.tab]:
                    out[tab_settings[entry.tab][name]] = value
            for name, value in entry.result.items():
                if name in tab_results[entry.tab]:
                    out[tab_results[entry.tab][name]] = value
            out[history_note] = f"Restored: {entry.caption}"
            return out

        history_strip.select(restore, history, [tabs, history_note, *restorable], api_visibility="private", queue=False, show_progress="hidden")

        def stopper(handler: Callable[..., Any]) -> Callable[[dict[str, Any]], str]:
            def stopped(board: dict[str, Any] | None) -> str:
                done, total = (board or {}).get(handler.__name__, (None, None))
                return h.stopped_notice(done, total)

            stopped.__name__ = f"stopped_{handler.__name__}"
            return stopped

        def long_event(triggers: list[Any], handler: Callable[..., Any], inputs: list[Any], outputs: list[Any], status: Any, stop: Any, api_name: str, tab: str) -> Any:
            for trigger in triggers:  # a new run clears the last "stopped" notice
                trigger(lambda: "", None, status, api_visibility="private", queue=False, show_progress="hidden")
            event = gr.on(triggers, long(handler, len(outputs)), [session_model, jobs, *inputs], outputs, api_name=api_name)
            stop.click(stopper(handler), jobs, status, cancels=[event], api_visibility="private", queue=False)
            remember(event, tab)
            return event

        # Generate (also on Shift+Enter in the prompt)
        gen_event = long_event(
            [gen_go.click, gen_prompt.submit], h.generate, [gen_prompt, gen_n, gen_seed, gen_trunc, gen_size, scaling],
            [gen_gallery, gen_file, gen_recipe], gen_status, gen_stop, "generate", "generate",
        )

        # Send to: a gallery image (its prompt and seed) into another tab.
        def pick(recipe: str, evt: gr.SelectData) -> tuple[h.GalleryItem, str]:
            item = h.gallery_item(recipe, evt.index)
            return item, h.picked_text(item)

        gen_gallery.select(pick, gen_recipe, [picked, gen_picked], api_visibility="private", queue=False, show_progress="hidden")
        gen_event.success(lambda: (None, PICK_HINT), None, [picked, gen_picked], api_visibility="private", queue=False, show_progress="hidden")

        def need_pick(item: h.GalleryItem | None) -> h.GalleryItem:
            if item is None:
                raise h.user_error("Click an image of the gallery first, then send it.")
            return h.GalleryItem(*item)

        def to_knobs(item: Any, corner: str, *prompts: str) -> tuple[Any, ...]:
            return (*h.send_to_knobs(need_pick(item), corner, *prompts), gr.Tabs(selected="knobs"))

        def to_interpolate(end: str) -> Callable[..., tuple[Any, ...]]:
            def send(item: Any, a: str, b: str, seeds: str) -> tuple[Any, ...]:
                return (*h.send_to_interpolate(need_pick(item), end, a, b, seeds), gr.Tabs(selected="interpolate"))

            return send

        def to_walk(item: Any, prompts: str, seeds: str) -> tuple[Any, ...]:
            return (*h.send_to_walk(need_pick(item), prompts, seeds), gr.Tabs(selected="walk"))

        def reuse_seed(item: Any) -> int:
            return need_pick(item).seed

        quiet = dict(api_visibility="private", queue=False, show_progress="hidden")
        send_knobs.click(to_knobs, [picked, send_corner, *kn_prompts], [*kn_prompts, kn_seed, tabs], **quiet)
        send_a.click(to_interpolate("A"), [picked, int_a, int_b, int_seeds], [int_a, int_b, int_seeds, tabs], **quiet)
        send_b.click(to_interpolate("B"), [picked, int_a, int_b, int_seeds], [int_a, int_b, int_seeds, tabs], **quiet)
        send_walk.click(to_walk, [picked, wk_prompts, wk_seeds], [wk_prompts, wk_seeds, tabs], **quiet)
        send_seed.click(reuse_seed, picked, gen_seed, **quiet)

        # Interpolate (Enter in either prompt runs it)
        long_event(
            [int_go.click, int_a.submit, int_b.submit], h.interpolate,
            [int_a, int_b, int_steps, int_seeds, int_mode, int_ease, int_trunc, int_size, scaling],
            [int_grid, int_plot, int_smooth, int_recipe, int_file], int_status, int_stop, "interpolate", "interpolate",
        )

        # Blend grid
        long_event(
            [bl_go.click, *(c.submit for c in (bl_tl, bl_tr, bl_bl, bl_br))], h.blend,
            [bl_tl, bl_tr, bl_bl, bl_br, bl_size, bl_seed, bl_trunc, bl_export, scaling],
            [bl_grid, bl_file, bl_recipe, last_blend], bl_status, bl_stop, "blend", "blend",
        )

        # Style knobs. The image follows every weight change the user makes: dragging (Gradio's
        # "input" event fires while the slider moves; trigger_mode="always_last" keeps one update
        # in flight and then renders the newest value, so updates are throttled to the server's
        # pace), arrow keys, a typed value + Enter. The position sliders follow the weights.
        knob_inputs = [session_model, *kn_prompts, *kn_weights, kn_seed, kn_trunc, kn_norm]
        knob_outputs = [kn_image, kn_mix, kn_recipe]
        knob_fn = quick(h.style_knob)
        knob_live = dict(trigger_mode="always_last", show_progress="hidden")
        gr.on(
            [kn_go.click, *(w.input for w in kn_weights), *(p.submit for p in kn_prompts), kn_norm.input, kn_seed.submit, kn_trunc.release],
            knob_fn, knob_inputs, knob_outputs, api_name="style_knob", **knob_live,
        )
        gr.on(
            [w.input for w in kn_weights], h.weights_position, kn_weights, [kn_x, kn_y], api_name="weights_position", queue=False,
            show_progress="hidden", trigger_mode="always_last",
        )
        position_event = gr.on(
            [kn_x.input, kn_y.input], h.knob_position, [kn_x, kn_y], kn_weights, api_name="knob_position", queue=False,
            show_progress="hidden", trigger_mode="always_last",
        )
        position_event.then(knob_fn, knob_inputs, knob_outputs, api_visibility="private", **knob_live)
        # One history entry per visit to the knobs (the newest replaces the last while you stay here).
        for trigger in (kn_go.click, *(w.release for w in kn_weights), kn_x.release, kn_y.release):
            fn, inputs = recorder("knobs", replace_same=True)
            trigger(fn, inputs, [history, history_strip], api_visibility="private", queue=False, show_progress="hidden")

        # A blend-grid cell opens here: click → (row, col) → switch tab → knobs and image.
        def pick_cell(recipe: dict[str, Any] | None, evt: gr.SelectData) -> tuple[int, int]:
            if not recipe:
                raise h.user_error("Make a blend grid first.")
            x, y = evt.index
            rows, cols, size = int(recipe["rows"]), int(recipe["cols"]), int(recipe["model"]["image_size"])
            return h.grid_cell(x, y, rows, cols, h.display_cell(size, cols) or size)

        cell_outputs = [*kn_prompts, *kn_weights, kn_x, kn_y, kn_seed, kn_trunc, *knob_outputs]
        cell_fn = quick(h.blend_cell)
        bl_open.click(cell_fn, [session_model, last_blend, bl_row, bl_col], cell_outputs, api_name="blend_cell")
        bl_open.click(lambda: gr.Tabs(selected="knobs"), None, tabs, api_visibility="private", queue=False)
        (
            bl_grid.select(pick_cell, last_blend, [bl_row, bl_col], api_visibility="private", queue=False)
            .success(lambda: gr.Tabs(selected="knobs"), None, tabs, api_visibility="private", queue=False)
            .success(cell_fn, [session_model, last_blend, bl_row, bl_col], cell_outputs, api_visibility="private")
        )

        # Noise walk (Shift+Enter in the prompts)
        long_event(
            [wk_go.click, wk_prompts.submit], h.walk,
            [wk_prompts, wk_seeds, wk_path, wk_frames, wk_fps, wk_play, wk_ease, wk_trunc, wk_even, wk_formats, wk_size],
            [wk_preview, wk_video, wk_gif, wk_mp4, wk_info, wk_recipe], wk_status, wk_stop, "walk", "walk",
        )

        # Model. Loads never leave an "Error" badge on the header or the card (show_progress hidden):
        # a failed load says why in a message and the session keeps its model.
        model_outputs = [session_model, banner, md_card, md_json]
        figures_fn = quick(h.model_figures)

        def show(spec: ModelSpec) -> tuple[Any, ...]:
            return tuple(h.switch_model(store, spec))[1:]

        def loading_allowed() -> None:
            if not store.allow_loading:
                raise h.user_error("this server does not allow loading other models")

        def load_checkpoint(spec: ModelSpec, path: str) -> h.ModelCard:
            loading_allowed()
            return h.switch_model(store, h.checkpoint_spec(library, path))

        def load_official(spec: ModelSpec, uploads: dict[str, str], pth: str, clip: str) -> h.ModelCard:
            loading_allowed()
            return h.switch_model(store, h.official_spec(library, uploads, pth, clip))

        def upload_weights(uploads: dict[str, str], files: Any) -> h.UploadResult:
            return h.register_uploads(uploads, files, allowed=store.allow_loading)

        def use_default(spec: ModelSpec) -> h.ModelCard:
            return h.switch_model(store, DEFAULT_SPEC)

        def refresh() -> gr.Dropdown:
            return gr.Dropdown(choices=h.list_checkpoints(library) if store.allow_loading else [])

        for event in (
            md_load.click(load_checkpoint, [session_model, md_ckpt], model_outputs, api_name="load_checkpoint", show_progress="hidden"),
            md_official.click(load_official, [session_model, session_uploads, md_pth, md_clip], model_outputs, api_name="load_official", show_progress="hidden"),
            md_default.click(use_default, [session_model], model_outputs, api_name="use_default_model", show_progress="hidden"),
        ):
            event.success(figures_fn, session_model, md_figures, api_visibility="private", show_progress="hidden")
        md_upload.upload(upload_weights, [session_uploads, md_upload], [session_uploads, md_uploaded], api_name="upload_weights")
        md_refresh.click(refresh, None, md_ckpt, api_name="list_checkpoints")

        # Recipe: clearing the file clears the summary and recipe (no error).
        rc_file.change(h.read_recipe, rc_file, [rc_recipe, rc_summary], api_name="read_recipe", show_progress="hidden")
        long_event(
            [rc_go.click], h.render_recipe, [rc_file], [rc_image, rc_out, rc_note, rc_recipe], rc_status, rc_stop, "render_recipe", "recipe",
        )

        # The landing page: the model's card, a first result in Generate and in the knobs.
        landing = quick(h.generate)
        landing_record, landing_inputs = recorder("generate")
        (
            demo.load(show, session_model, model_outputs[1:], api_name="model_info", show_progress="hidden")
            .then(figures_fn, session_model, md_figures, api_visibility="private", show_progress="hidden")
            .then(
                lambda spec, scale: landing(spec, LANDING["prompt"], LANDING["images"], LANDING["seed"], LANDING["truncation"], 256, scale),
                [session_model, scaling], [gen_gallery, gen_file, gen_recipe], api_visibility="private", show_progress="hidden",
            )
            .then(landing_record, landing_inputs, [history, history_strip], api_visibility="private", queue=False, show_progress="hidden")
            .then(knob_fn, knob_inputs, knob_outputs, api_visibility="private", show_progress="hidden")
        )

    _quiet_validation(demo)
    demo.queue(default_concurrency_limit=4, max_size=64)
    # ``demo.galip_cleanup()`` removes the temporary folder now (serve calls it on SIGTERM); it also
    # runs when the app is garbage-collected or the interpreter exits.
    demo.galip_cleanup = weakref.finalize(demo, cleanup) if cleanup is not None else (lambda: None)  # type: ignore[attr-defined]
    demo.galip_outdir = outdir  # type: ignore[attr-defined]
    return demo


def _quiet_validation(demo: gr.Blocks) -> None:
    """Gradio's own checks of a value (a slider above its maximum, a choice not in a dropdown) are
    user mistakes too: log them in one line like the handlers' (no traceback), same message."""

    def quiet(preprocess: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return preprocess(*args, **kwargs)
            except gr.Error as e:
                if not e.print_exception:
                    raise
                raise h.user_error(e.message) from None

        return run

    for block in demo.blocks.values():
        if isinstance(block, gr.components.Component) and not isinstance(block, gr.State):
            block.preprocess = quiet(block.preprocess)  # type: ignore[method-assign]


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _log_to_stderr() -> None:
    """The app's log (one line per user error or failed load) on stderr, once per process."""
    logger = logging.getLogger("galip_studio.app")
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("galip-studio: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def launch_app(
    demo: gr.Blocks,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    block: bool = True,
    quiet: bool = False,
    auth: tuple[str, str] | None = None,
    max_upload_mb: float = MAX_UPLOAD_MB,
) -> tuple[gr.Blocks, str]:
    """Start the server with the app's theme and CSS; returns ``(demo, local_url)`` once listening
    (``block=False``) or when the server stops (``block=True``).

    ``auth``: a (user, password) pair every visitor must give (Gradio's login page).
    ``max_upload_mb``: the largest upload accepted. Errors other than a user's mistakes reach
    clients as a bare "Error" (``show_error=False``): no exception text leaves the server.
    """
    _, url, _ = demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        theme=make_theme(),
        css=CSS,
        head=HEAD,
        footer_links=["api", "settings"],
        show_error=False,
        auth=auth,
        max_file_size=f"{max_upload_mb:g}mb",
        quiet=quiet,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
    )
    return demo, url
