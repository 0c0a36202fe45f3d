"""Small widget builders several tabs share (:mod:`.tabs`): the same control,
label and range wherever it appears. Call them inside a Gradio layout block; each returns its component(s).
"""

from __future__ import annotations

import gradio as gr

from .. import explore
from ..export import GIF_MAX_FPS
from . import handlers as h
from .plumbing import random_seed

IMAGE_BUTTONS = ["download", "fullscreen"]  # never "share": it needs Hugging Face Spaces and fails offline
TRUNCATION_INFO = "pulls the noise toward its mean: 1 = none, lower = safer, less varied"


def seed_input(label: str = "Seed", elem_id: str | None = None) -> gr.Number:
    """A seed box with a Random button beside it. No ``minimum`` or ``precision``: Gradio would refuse a
    negative or non-whole seed with a red badge (or, for NaN, a traceback) before the handler could
    say what to type (:func:`.plumbing.parse_seeds` does)."""
    with gr.Row(elem_classes="galip-seed-row"):
        seed = gr.Number(value=0, label=label, step=1, scale=4, elem_id=elem_id)
        dice = gr.Button("Random", elem_classes="galip-dice", scale=0, min_width=90)
    dice.click(random_seed, None, seed, api_visibility="private", queue=False)
    return seed


def truncation(info: str | None = TRUNCATION_INFO) -> gr.Slider:
    return gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Truncation ψ", info=info)


def recipe_panel() -> gr.Code:
    """The open "Recipe" accordion under a result, with its JSON."""
    with gr.Accordion("Recipe", open=True):
        return gr.Code(language="json", label="Recipe (prompts, seeds, model: everything needed to make it again)", interactive=False, max_lines=14)


def status_line(elem_id: str | None = None) -> gr.Markdown:
    """A one-line notice above a result ("Stopped …"), hidden while empty."""
    return gr.Markdown(elem_classes="galip-status", elem_id=elem_id)


def error_line(elem_id: str | None = None) -> gr.Markdown:
    """Where a tab says what to change after a mistake (a seed that is not a number, a value above
    its limit), under the controls that run it; hidden while empty, cleared by the next success."""
    return gr.Markdown(elem_classes="galip-error", elem_id=elem_id)


def grid_image(hint: str, label: str, height: int, elem_id: str) -> gr.Image:
    """A grid of images under a one-line hint that says how to read it (the label stays off the image)."""
    gr.Markdown(hint, elem_classes="galip-hint")
    return gr.Image(
        label=label, show_label=False, format="png", type="filepath", interactive=False, height=height,
        buttons=IMAGE_BUTTONS, elem_id=elem_id, elem_classes="galip-pixels",
    )


def export_size() -> gr.Dropdown:
    return gr.Dropdown(list(h.EXPORT_SIZES), value=256, label="Download size (per image)", info="scaled with the page's Small images setting")


def run_stop(label: str) -> tuple[gr.Button, gr.Button]:
    """The run and Stop buttons of a long job (Ctrl+Enter and Esc find them by their classes)."""
    with gr.Row():
        go = gr.Button(label, variant="primary", scale=3, elem_classes="galip-run")
        stop = gr.Button("Stop", variant="stop", scale=1, elem_classes="galip-stop")
    return go, stop


def frames_and_fps(limits: explore.Limits, frames_elem_id: str | None = None) -> tuple[gr.Slider, gr.Slider]:
    """An animation's length and speed, side by side (the FPS a GIF can play at most)."""
    with gr.Row():
        frames = gr.Slider(2, limits.max_frames or 960, value=48, step=1, label="Frames", elem_id=frames_elem_id)
        fps = gr.Slider(1, min(limits.max_fps or GIF_MAX_FPS, GIF_MAX_FPS), value=24, step=1, label="FPS")
    return frames, fps


def animation_formats() -> gr.CheckboxGroup:
    return gr.CheckboxGroup(list(h.EXPORT_FORMATS), value=list(h.EXPORT_FORMATS), label="Export")


def frame_size(*sizes: int) -> gr.Dropdown:
    """An animation's frame size: the model's native size or one of ``sizes`` (pixels)."""
    return gr.Dropdown([("native", 0), *((f"{s} px", s) for s in sizes)], value=256, label="Frame size")
