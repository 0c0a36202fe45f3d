"""The GALIP Studio app: the layout (:func:`build_app`) and :func:`launch_app`.

Seven tabs — Generate, Interpolate, Blend grid, Style knobs, Noise walk, Model, Recipe — whose
buttons call :mod:`.handlers`. Every action is a named API endpoint (``/generate``,
``/interpolate``, ``/blend``, ``/blend_cell``, ``/style_knob``, ``/knob_position``, ``/walk``,
``/read_recipe``, ``/render_recipe``, ``/model_info``, ``/load_checkpoint``, ``/load_official``,
``/use_default_model``, ``/list_checkpoints``, ``/random_seed``) that ``gradio_client`` can call.

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
import weakref
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import gradio as gr

from .. import explore
from ..export import GIF_MAX_FPS
from ..latent import EASINGS, INTERPOLATIONS, NOISE_PATHS
from ..pipeline import GALIPPipeline
from . import handlers as h
from .models import DEFAULT_SPEC, REPO_ROOT, ModelHandle, ModelLibrary, ModelSpec, ModelStore

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
.galip-seed-row { align-items: flex-end; }
.galip-dice { max-width: 7rem; }
.galip-upscale img { width: 100% !important; height: 100% !important; object-fit: contain; }
"""

# Prompts the bundled model does well, measured at release (its model card): each of 8 seeds' images
# is nearest its own prompt, in the mini-CLIP's space, among 36 candidate prompts.
PROMPTS = (
    "a red heart", "a 3d emoji of a smiling face", "a dog face", "a globe", "a flat emoji of a smiling face", "a flag",
)
CORNER_DEFAULTS = ("a red heart", "a 3d emoji of a smiling face", "a flag", "a globe")
# the blend grid's and the knobs' examples
CORNER_EXAMPLES = [list(CORNER_DEFAULTS), ["a dog face", "a flat emoji of a smiling face", "a flower", "a house"]]
KNOB_XY = (0.3, 0.25)


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

    The generator wakes every :data:`POLL_S` seconds and yields "no change"; when Gradio cancels the
    event (a Stop button, ``Job.cancel()``, a closed tab) it closes the generator, which sets the
    stop flag, and the worker's next progress report (after its current batch) raises and ends it.
    The worker runs in a copy of the request's context, so ``gr.Progress`` and ``gr.Warning`` work.
    """

    def run(spec: ModelSpec, *inputs: Any, progress: gr.Progress = gr.Progress()) -> Iterator[Any]:
        stop = threading.Event()

        def report(done: int, total: int) -> None:
            if stop.is_set():
                raise _Stopped()
            progress((done, total), unit="images")

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


def _seed_input(label: str = "Seed") -> gr.Number:
    with gr.Row(elem_classes="galip-seed-row"):
        seed = gr.Number(value=0, label=label, precision=0, minimum=0, scale=4)
        dice = gr.Button("Random", elem_classes="galip-dice", scale=0, min_width=90)
    dice.click(h.random_seed, None, seed, api_visibility="private", queue=False)
    return seed


def _truncation() -> gr.Slider:
    return gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Truncation ψ", info="pulls the noise toward its mean: 1 = none, lower = safer, less varied")


def _recipe_json() -> gr.Code:
    return gr.Code(language="json", label="Recipe (prompts, seeds, model: everything needed to make it again)", interactive=False, max_lines=30)


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
        # Public endpoints first: private events made from the same functions get suffixed names.
        gr.api(h.random_seed, api_name="random_seed")

        with gr.Row(elem_id="galip-header"):
            with gr.Column(scale=3):
                gr.Markdown(
                    f"# {TITLE}\nA text-to-image GAN with a smooth latent space (GALIP, CVPR 2023): one forward pass per image. "
                    "Blend prompts, turn style knobs, walk the noise, export loops.",
                )
            with gr.Column(scale=1, min_width=240):
                banner = gr.Markdown("Model: loading…", elem_id="galip-banner")

        with gr.Tabs(selected="generate") as tabs:
            # ---------------------------------------------------------------- Generate
            with gr.Tab("Generate", id="generate"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=320):
                        gen_prompt = gr.Textbox(value=PROMPTS[0], label="Prompt", lines=2, placeholder="a red heart  (one prompt per line for several)")
                        gen_n = gr.Slider(1, max_seeds, value=8, step=1, label="Images per prompt", info="image k uses seed + k")
                        gen_seed = _seed_input()
                        gen_trunc = _truncation()
                        with gr.Row():
                            gen_go = gr.Button("Generate", variant="primary", scale=3)
                            gen_stop = gr.Button("Stop", variant="stop", scale=1)
                        gr.Examples([[p] for p in PROMPTS], [gen_prompt], label="Try")
                    with gr.Column(scale=3):
                        gen_gallery = gr.Gallery(label="Images", format="png", columns=4, object_fit="contain", buttons=["download", "fullscreen"], elem_id="galip-gallery")
                        with gr.Accordion("Download and recipe", open=False):
                            gen_file = gr.DownloadButton("Download the grid (PNG with recipe)")
                            gen_recipe = _recipe_json()
                gen_event = gr.on(
                    [gen_go.click, gen_prompt.submit],
                    long(h.generate, 3),
                    [session_model, gen_prompt, gen_n, gen_seed, gen_trunc],
                    [gen_gallery, gen_file, gen_recipe],
                    api_name="generate",
                )
                gen_stop.click(None, None, None, cancels=[gen_event], api_visibility="private")

            # ---------------------------------------------------------------- Interpolate
            with gr.Tab("Interpolate", id="interpolate"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=320):
                        int_a = gr.Textbox(value="a red heart", label="Prompt A (first row)")
                        int_b = gr.Textbox(value="a 3d emoji of a smiling face", label="Prompt B (last row)")
                        int_steps = gr.Slider(2, lim.max_steps or 64, value=6, step=1, label="Steps A → B (rows)")
                        int_seeds = gr.Textbox(value="0, 1, 2, 3", label="Seeds (columns)", info="e.g. 0, 1, 2 or 0-5")
                        with gr.Row():
                            int_mode = gr.Radio(list(INTERPOLATIONS), value="lerp", label="Interpolation", info="lerp is the paper's blend")
                            int_ease = gr.Dropdown(list(EASINGS), value="linear", label="Step spacing")
                        int_trunc = _truncation()
                        with gr.Row():
                            int_go = gr.Button("Interpolate", variant="primary", scale=3)
                            int_stop = gr.Button("Stop", variant="stop", scale=1)
                        gr.Examples(
                            [["a red heart", "a 3d emoji of a smiling face"], ["a flag", "a globe"], ["a dog face", "a flower"]],
                            [int_a, int_b],
                            label="Try",
                        )
                    with gr.Column(scale=3):
                        int_grid = gr.Image(label="Grid: rows step from A to B, columns are seeds", format="png", type="filepath", interactive=False, height=520)
                        int_smooth = gr.Markdown()
                        int_plot = gr.Image(label="Smoothness along the path (first seed)", format="png", type="pil", interactive=False)
                        with gr.Accordion("Recipe", open=False):
                            int_recipe = _recipe_json()
                int_event = int_go.click(
                    long(h.interpolate, 4),
                    [session_model, int_a, int_b, int_steps, int_seeds, int_mode, int_ease, int_trunc],
                    [int_grid, int_plot, int_smooth, int_recipe],
                    api_name="interpolate",
                )
                int_stop.click(None, None, None, cancels=[int_event], api_visibility="private")

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
                        bl_seed = _seed_input()
                        bl_trunc = _truncation()
                        with gr.Row():
                            bl_go = gr.Button("Blend", variant="primary", scale=3)
                            bl_stop = gr.Button("Stop", variant="stop", scale=1)
                        gr.Examples(
                            CORNER_EXAMPLES,
                            [bl_tl, bl_tr, bl_bl, bl_br],
                            label="Try",
                        )
                    with gr.Column(scale=3):
                        bl_grid = gr.Image(label="Blend grid: click a cell to open it in Style knobs", format="png", type="filepath", interactive=False, height=560, elem_id="galip-blend-grid")
                        with gr.Row(elem_classes="galip-seed-row"):
                            bl_row = gr.Number(value=0, label="Row", precision=0, minimum=0)
                            bl_col = gr.Number(value=0, label="Column", precision=0, minimum=0)
                            bl_open = gr.Button("Open this cell in Style knobs")
                        with gr.Accordion("Recipe", open=False):
                            bl_recipe = _recipe_json()
                bl_event = bl_go.click(
                    long(h.blend, 3),
                    [session_model, bl_tl, bl_tr, bl_bl, bl_br, bl_size, bl_seed, bl_trunc],
                    [bl_grid, bl_recipe, last_blend],
                    api_name="blend",
                )
                bl_stop.click(None, None, None, cancels=[bl_event], api_visibility="private")

            # ---------------------------------------------------------------- Style knobs
            with gr.Tab("Style knobs", id="knobs"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=320):
                        gr.Markdown(
                            "Each knob weights one prompt; the image follows when you let go of a slider. "
                            "The position sliders set all four weights as a point in the blend grid's square.",
                            elem_classes="galip-hint",
                        )
                        kn_prompts, kn_weights = [], []
                        for i, (prompt, weight) in enumerate(zip(CORNER_DEFAULTS, knob_weights)):
                            with gr.Row(equal_height=True):
                                kn_prompts.append(gr.Textbox(value=prompt, label=f"Prompt {i + 1} ({h.CORNERS[i]})", scale=3))
                                kn_weights.append(gr.Slider(0.0, 2.0, value=round(weight, 2), step=0.01, label="Weight", scale=2))
                        with gr.Row():
                            kn_x = gr.Slider(0.0, 1.0, value=KNOB_XY[0], step=0.01, label="Position x (left → right)")
                            kn_y = gr.Slider(0.0, 1.0, value=KNOB_XY[1], step=0.01, label="Position y (top → bottom)")
                        kn_seed = _seed_input()
                        kn_trunc = _truncation()
                        kn_norm = gr.Checkbox(value=True, label="Normalise weights (off: weights above 1 exaggerate a prompt)")
                        kn_go = gr.Button("Render", variant="primary")
                        gr.Examples(
                            CORNER_EXAMPLES,
                            kn_prompts,
                            label="Try",
                        )
                    with gr.Column(scale=3):
                        kn_image = gr.Image(label="Blend", format="png", type="filepath", interactive=False, height=520, elem_classes="galip-upscale", elem_id="galip-knob-image")
                        kn_mix = gr.Markdown()
                        with gr.Accordion("Recipe", open=False):
                            kn_recipe = _recipe_json()
                knob_inputs = [session_model, *kn_prompts, *kn_weights, kn_seed, kn_trunc, kn_norm]
                knob_outputs = [kn_image, kn_mix, kn_recipe]
                knob_fn = quick(h.style_knob)
                gr.on(
                    [kn_go.click, *(w.release for w in kn_weights), *(p.submit for p in kn_prompts), kn_norm.input],
                    knob_fn, knob_inputs, knob_outputs, api_name="style_knob", trigger_mode="always_last", show_progress="minimal",
                )
                gr.on([kn_x.release, kn_y.release], h.knob_position, [kn_x, kn_y], kn_weights, api_name="knob_position", queue=False).then(
                    knob_fn, knob_inputs, knob_outputs, api_visibility="private", trigger_mode="always_last", show_progress="minimal"
                )

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

            # ---------------------------------------------------------------- Noise walk
            with gr.Tab("Noise walk", id="walk"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=320):
                        wk_prompts = gr.Textbox(value="a 3d emoji of a smiling face\na red heart", label="Prompts (one per line: keyframes)", lines=3)
                        wk_seeds = gr.Textbox(value="0, 1", label="Seeds (noise keyframes)", info="circle / random paths use one or two")
                        with gr.Row():
                            wk_path = gr.Dropdown(list(NOISE_PATHS), value="keyframes", label="Noise path")
                            wk_ease = gr.Dropdown(list(EASINGS), value="cosine", label="Easing")
                        with gr.Row():
                            wk_frames = gr.Slider(2, lim.max_frames or 960, value=48, step=1, label="Frames")
                            wk_fps = gr.Slider(1, min(lim.max_fps or GIF_MAX_FPS, GIF_MAX_FPS), value=24, step=1, label="FPS")
                        wk_play = gr.Radio(list(h.PLAYBACK), value="loop", label="Playback", info="loop closes the path; ping-pong plays back and forth")
                        wk_trunc = _truncation()
                        with gr.Row():
                            wk_even = gr.Checkbox(value=False, label="Even speed (re-time in CLIP space; slower)")
                            wk_formats = gr.CheckboxGroup(list(h.EXPORT_FORMATS), value=list(h.EXPORT_FORMATS), label="Export")
                            wk_size = gr.Dropdown([("native", 0), ("64 px", 64), ("128 px", 128), ("256 px", 256), ("512 px", 512)], value=256, label="Frame size")
                        with gr.Row():
                            wk_go = gr.Button("Walk", variant="primary", scale=3)
                            wk_stop = gr.Button("Stop", variant="stop", scale=1)
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
                        with gr.Row():
                            wk_preview = gr.Image(label="GIF", type="filepath", interactive=False, height=360)
                            wk_video = gr.Video(label="MP4", interactive=False, height=360, loop=True, autoplay=True)
                        with gr.Row():
                            wk_gif = gr.DownloadButton("Download GIF")
                            wk_mp4 = gr.DownloadButton("Download MP4")
                        wk_info = gr.Markdown()
                        with gr.Accordion("Recipe", open=False):
                            wk_recipe = _recipe_json()
                wk_event = wk_go.click(
                    long(h.walk, 6),
                    [session_model, wk_prompts, wk_seeds, wk_path, wk_frames, wk_fps, wk_play, wk_ease, wk_trunc, wk_even, wk_formats, wk_size],
                    [wk_preview, wk_video, wk_gif, wk_mp4, wk_info, wk_recipe],
                    api_name="walk",
                )
                wk_stop.click(None, None, None, cancels=[wk_event], api_visibility="private")

            # ---------------------------------------------------------------- Model
            with gr.Tab("Model", id="model"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        md_card = gr.Markdown()
                        with gr.Accordion("Everything describe() reports", open=False):
                            md_json = gr.Code(language="json", label="describe()", interactive=False, max_lines=40)
                    with gr.Column(scale=2, visible=allow_model_loading):
                        gr.Markdown("### Load another model\nOnly this browser session switches; others keep theirs.")
                        md_ckpt = gr.Dropdown(
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
                model_outputs = [session_model, banner, md_card, md_json]

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

                md_load.click(load_checkpoint, [session_model, md_ckpt], model_outputs, api_name="load_checkpoint")
                md_upload.upload(upload_weights, [session_uploads, md_upload], [session_uploads, md_uploaded], api_name="upload_weights")
                md_official.click(load_official, [session_model, session_uploads, md_pth, md_clip], model_outputs, api_name="load_official")
                md_default.click(use_default, [session_model], model_outputs, api_name="use_default_model")
                md_refresh.click(refresh, None, md_ckpt, api_name="list_checkpoints")

            # ---------------------------------------------------------------- Recipe
            with gr.Tab("Recipe", id="recipe"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=320):
                        gr.Markdown("Drop a PNG, GIF, MP4 or JSON exported by GALIP Studio (app or CLI): its recipe makes it again, exactly.", elem_classes="galip-hint")
                        rc_file = gr.File(label="Exported file", file_types=[".png", ".gif", ".mp4", ".json"], type="filepath")
                        rc_summary = gr.Markdown()
                        with gr.Row():
                            rc_go = gr.Button("Make it again", variant="primary", scale=3)
                            rc_stop = gr.Button("Stop", variant="stop", scale=1)
                        gr.Examples([[p] for p in _write_example_recipes(outdir)], [rc_file], label="Try a recipe")
                        with gr.Accordion("Recipe", open=True):
                            rc_recipe = _recipe_json()
                    with gr.Column(scale=3):
                        rc_image = gr.Image(label="Result", type="filepath", interactive=False, height=480, elem_classes="galip-upscale")
                        rc_out = gr.DownloadButton("Download the result")
                        rc_note = gr.Markdown()
                rc_file.change(h.read_recipe, rc_file, [rc_recipe, rc_summary], api_name="read_recipe")
                rc_event = rc_go.click(
                    long(h.render_recipe, 4), [session_model, rc_file], [rc_image, rc_out, rc_note, rc_recipe], api_name="render_recipe"
                )
                rc_stop.click(None, None, None, cancels=[rc_event], api_visibility="private")

        demo.load(show, session_model, model_outputs[1:], api_name="model_info").then(
            knob_fn, knob_inputs, knob_outputs, api_visibility="private", show_progress="hidden"
        )

    demo.queue(default_concurrency_limit=4, max_size=64)
    # ``demo.galip_cleanup()`` removes the temporary folder now (serve calls it on SIGTERM); it also
    # runs when the app is garbage-collected or the interpreter exits.
    demo.galip_cleanup = weakref.finalize(demo, cleanup) if cleanup is not None else (lambda: None)  # type: ignore[attr-defined]
    demo.galip_outdir = outdir  # type: ignore[attr-defined]
    return demo


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
