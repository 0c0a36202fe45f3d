"""The Directions tab: directions the model varies along (PCA of noise or sentence space), shown as
strips around one image (the work is in :mod:`..discover_handlers`). Endpoint: ``/directions``."""

from __future__ import annotations

import gradio as gr

from ... import explore
from .. import discover_handlers as dh
from ..widgets import IMAGE_BUTTONS, error_line, run_stop, status_line, truncation
from .base import Page, Tab


def recipe_box() -> gr.Code:
    """The closed "Recipe" accordion of the discover tabs, with its JSON."""
    with gr.Accordion("Recipe", open=False):
        return gr.Code(language="json", label="Recipe", interactive=False, max_lines=30)


class DirectionsTab(Tab):
    id, shown = "directions", "image"

    def __init__(self, limits: explore.Limits) -> None:
        with gr.Tab("Directions", id=self.id), gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                gr.Markdown(
                    "Directions the model itself varies along, found by PCA: **noise** directions (GANSpace: the "
                    "generator's bridge feature over many random noises at this prompt, mapped back to noise) change "
                    "shape, pose or colour at a fixed prompt; **sentence** directions (the vocabulary's sentence "
                    "vectors) change what is drawn. Each row moves the image from −span σ to +span σ.",
                    elem_classes="galip-hint",
                )
                self.space = gr.Radio(list(dh.SPACES), value=list(dh.SPACES)[0], label="Space")
                # Two controls a row at most: three squeezed a slider past the column (its top value cut off).
                with gr.Row():
                    self.prompt = gr.Textbox(value="a red heart", label="Prompt (the image to move)", scale=3)
                    self.seed = gr.Number(value=0, label="Seed", step=1, scale=1, min_width=90)
                with gr.Row():
                    self.components = gr.Slider(2, limits.max_components or 64, value=8, step=1, label="Components to find")
                    self.show = gr.Textbox(value="1-3", label="Show components", info="e.g. 1-3 or 1, 4, 5")
                with gr.Row():
                    self.steps = gr.Slider(3, limits.max_strip or 31, value=7, step=2, label="Images per strip")
                    self.span = gr.Slider(0.5, 6.0, value=3.0, step=0.5, label="Span (σ)")
                self.truncation = truncation(info=None)
                self.vocabulary = gr.Textbox(label="Vocabulary for sentence directions (one phrase per line; empty: the bundled 514 everyday phrases)", lines=3)
                self.go, self.stop = run_stop("Find directions")
                self.error = error_line("galip-directions-error")
            with gr.Column(scale=3):
                self.status = status_line("galip-directions-status")
                self.image = gr.Image(
                    label="Strips: rows are components, columns −span σ … +span σ", format="png", type="filepath", interactive=False, height=520,
                    buttons=IMAGE_BUTTONS, elem_classes="galip-pixels",
                )
                self.table = gr.Markdown()
                self.recipe = recipe_box()
        self.settings = {
            "space": self.space, "prompt": self.prompt, "components": self.components, "show": self.show, "seed": self.seed,
            "steps": self.steps, "span": self.span, "truncation": self.truncation, "vocabulary": self.vocabulary,
        }
        self.results = {"image": self.image, "table": self.table, "recipe": self.recipe}

    def wire(self, page: Page) -> None:
        """Find directions (Enter in the prompt runs it too)."""
        page.long_event(
            self, [self.go.click, self.prompt.submit], dh.directions,
            [self.space, self.prompt, self.components, self.show, self.seed, self.steps, self.span, self.truncation, self.vocabulary],
            [self.image, self.table, self.recipe], "directions",
        )
