"""The Your image tab: layout and wiring (the work is in :mod:`.invert_handlers`).

:func:`build_invert_tab` is called inside the app's ``gr.Tabs`` like :func:`.discover_tab.build_discover_tabs`.
Named endpoints: ``/image_variations`` (quick) and ``/invert_image`` (a long job with progress and Stop).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import gradio as gr

from .. import explore
from . import invert_handlers as ih
from .jobs import connect_stop, page_and_api
from .widgets import IMAGE_BUTTONS, error_line, run_stop, truncation

ENDPOINTS = ("/image_variations", "/invert_image")


def build_invert_tab(
    long_inputs: Sequence[Any],
    quick_inputs: Sequence[Any],
    long: Callable[[Callable[..., Any], int], Callable[..., Any]],
    quick: Callable[[Callable[..., Any]], Callable[..., Any]],
    limits: explore.Limits,
) -> None:
    """Add the tab (call inside ``with gr.Tabs():``). Its runs are not kept in the history strip (an
    upload cannot be put back from it)."""
    with gr.Tab("Your image", id="your-image"):  # the wiring inside it too: its API-only buttons are no tabs
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                gr.Markdown(
                    "Bring your own picture into the space. **Variations**: its CLIP image embedding, moved to where "
                    "sentence vectors lie, drawn with several seeds (one pass), and the vocabulary phrases nearest it. "
                    "**Invert**: Adam finds a noise and a sentence vector whose image matches it; the recipe stores "
                    "both, so the Recipe tab and `galip-studio render` make it again. Animated images give their first "
                    "frame; transparency is put on white.",
                    elem_classes="galip-hint",
                )
                upload = gr.File(label="Your image (PNG, JPEG, WebP, GIF, BMP)", file_types=["image"], type="filepath")
                seeds = gr.Textbox(value="0-3", label="Variation seeds", info="e.g. 0-3 or 1, 5, 9")
                trunc = truncation(info=None)
                var_go = gr.Button("Variations", variant="primary")
                var_error = error_line("galip-variations-error")
                with gr.Row():  # two a row: a third pushed the steps slider's top value past its block
                    steps = gr.Slider(1, ih.APP_MAX_STEPS, value=100, step=1, label="Inversion steps")
                    starts = gr.Slider(1, ih.APP_MAX_STARTS, value=4, step=1, label="Starting noises")
                seed = gr.Number(value=0, label="Seed", step=1)
                inv_go, inv_stop = run_stop("Invert")
                inv_error = error_line("galip-invert-error")
            with gr.Column(scale=3):
                with gr.Row():
                    target = gr.Image(label="As the model sees it", format="png", type="filepath", interactive=False, height=200, buttons=IMAGE_BUTTONS, elem_classes="galip-pixels")
                    recon = gr.Image(label="Inversion", format="png", type="filepath", interactive=False, height=200, buttons=IMAGE_BUTTONS, elem_classes="galip-pixels")
                summary = gr.Markdown()
                strip = gr.Image(label="Variations", format="png", type="filepath", interactive=False, height=220, buttons=IMAGE_BUTTONS, elem_classes="galip-pixels")
                nearest = gr.Markdown()
                vectors = gr.File(label="Found vectors (safetensors: sentence, noise)", interactive=False)
                with gr.Accordion("Recipes", open=False):
                    var_recipe = gr.Code(language="json", label="Variations recipe", interactive=False, max_lines=20)
                    inv_recipe = gr.Code(language="json", label="Inversion recipe", interactive=False, max_lines=20)
        page_and_api([var_go.click], quick(ih.image_variations), [*quick_inputs, upload, seeds, trunc], [target, strip, nearest, var_recipe], var_error, "image_variations")
        connect_stop(inv_stop, [inv_go.click], ih.invert_image, long_inputs[1])
        page_and_api(
            [inv_go.click], long(ih.invert_image, 4), [*long_inputs, upload, steps, seed, starts], [recon, summary, inv_recipe, vectors], inv_error, "invert_image",
        )
