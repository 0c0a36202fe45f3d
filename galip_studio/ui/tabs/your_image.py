"""The Your image tab: variations of an uploaded picture and its inversion (the work is in
:mod:`..invert_handlers`). Endpoints: ``/image_variations`` (quick), ``/use_variation`` (quick: one
variation becomes the found point) and ``/invert_image`` (a long job with progress and Stop). Its
send buttons put the found point (the session's ``found`` state) into Style knobs, Blend grid,
Interpolate and Noise walk as ``[your image]`` (wired in ``app._wire_send_found``)."""

from __future__ import annotations

import gradio as gr

from .. import handlers as h
from .. import invert_handlers as ih
from ..jobs import page_and_api
from ..widgets import IMAGE_BUTTONS, error_line, run_stop, status_line, truncation
from .base import Page, Tab


class YourImageTab(Tab):
    """Its runs are not kept in the history strip (an upload cannot be put back from it)."""

    id, shown = "your-image", "reconstruction"

    def __init__(self) -> None:
        with gr.Tab("Your image", id=self.id), gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                gr.Markdown(
                    "Bring your own picture into the space. **Variations**: its CLIP image embedding, moved to where "
                    "sentence vectors lie, drawn with several seeds (one pass), and the vocabulary phrases nearest it. "
                    "**Invert**: Adam finds a noise and a sentence vector whose image matches it; the recipe stores "
                    "both, so the Recipe tab and `galip-studio render` make it again. Animated images give their first "
                    "frame; transparency is put on white.",
                    elem_classes="galip-hint",
                )
                self.upload = gr.File(label="Your image (PNG, JPEG, WebP, GIF, BMP)", file_types=["image"], type="filepath")
                self.seeds = gr.Textbox(value="0-3", label="Variation seeds", info="e.g. 0-3 or 1, 5, 9")
                self.truncation = truncation(info=None)
                self.variations = gr.Button("Variations", variant="primary")
                with gr.Row(elem_classes="galip-seed-row"):  # like the blend grid's cell row: the button level with the box
                    self.variation = gr.Number(value=1, label="Variation", info="1 is the first, left", minimum=1, step=1, precision=0, min_width=120)
                    self.use_variation = gr.Button("Use it as the found point", min_width=160)
                self.variations_error = error_line("galip-variations-error")
                with gr.Row():  # two a row: a third pushed the steps slider's top value past its block
                    self.steps = gr.Slider(1, ih.APP_MAX_STEPS, value=100, step=1, label="Inversion steps")
                    self.starts = gr.Slider(1, ih.APP_MAX_STARTS, value=4, step=1, label="Starting noises")
                self.seed = gr.Number(value=0, label="Seed", step=1)
                self.go, self.stop = run_stop("Invert")
                self.error = error_line("galip-invert-error")
            with gr.Column(scale=3):
                self.status = status_line("galip-invert-status")
                with gr.Row():
                    self.target = gr.Image(label="As the model sees it", format="png", type="filepath", interactive=False, height=200, buttons=IMAGE_BUTTONS, elem_classes="galip-pixels")
                    self.reconstruction = gr.Image(label="Found point (inversion or variation)", format="png", type="filepath", interactive=False, height=200, buttons=IMAGE_BUTTONS, elem_classes="galip-pixels")
                self.summary = gr.Markdown()
                self.strip = gr.Image(label="Variations", format="png", type="filepath", interactive=False, height=220, buttons=IMAGE_BUTTONS, elem_classes="galip-pixels")
                self.nearest = gr.Markdown()
                self.vectors = gr.File(label="Found vectors (safetensors: sentence, noise)", interactive=False)
                gr.Markdown(
                    "**Start from it:** put the found point into another tab as “[your image]” (its sentence vector, and "
                    "its noise in place of a seed; in Noise walk the first line, its noise the walk's start).", elem_classes="galip-hint",
                )
                with gr.Row(elem_classes="galip-seed-row"):
                    self.send_corner = gr.Dropdown(list(h.CORNERS), value=h.CORNERS[0], label="Corner (knobs, blend)", scale=1, min_width=120)
                    self.send_knobs = gr.Button("→ Style knobs corner", size="sm")
                    self.send_blend = gr.Button("→ Blend corner", size="sm")
                with gr.Row():
                    self.send_a = gr.Button("→ Interpolate A", size="sm")
                    self.send_b = gr.Button("→ Interpolate B", size="sm")
                    self.send_walk = gr.Button("→ Noise walk (first line)", size="sm")
                self.send_error = error_line("galip-send-found-error")
                with gr.Accordion("Recipes", open=False):
                    self.variations_recipe = gr.Code(language="json", label="Variations recipe", interactive=False, max_lines=20)
                    self.recipe = gr.Code(language="json", label="Found point recipe (inversion or variation)", interactive=False, max_lines=20)
        self.settings = {"seeds": self.seeds, "truncation": self.truncation, "steps": self.steps, "starts": self.starts, "seed": self.seed}
        self.results = {"reconstruction": self.reconstruction, "summary": self.summary, "recipe": self.recipe, "vectors": self.vectors}

    def wire(self, page: Page) -> None:
        """Variations (one pass); Use variation (one image: the found point); Invert (a long job with Stop)."""
        page_and_api(
            [self.variations.click], page.run.quick(ih.image_variations), [page.session.model, self.upload, self.seeds, self.truncation],
            [self.target, self.strip, self.nearest, self.variations_recipe], self.variations_error, "image_variations",
        )
        page_and_api(
            [self.use_variation.click], page.run.quick(ih.use_variation), [page.session.model, self.variations_recipe, self.variation],
            [self.reconstruction, self.summary, self.recipe, self.vectors, page.session.found], self.variations_error, "use_variation",
        )
        page.long_event(
            self, [self.go.click], ih.invert_image, [self.upload, self.steps, self.seed, self.starts],
            [self.reconstruction, self.summary, self.recipe, self.vectors, page.session.found], "invert_image", record=False,
        )
