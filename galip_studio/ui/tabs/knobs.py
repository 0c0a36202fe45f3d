"""The Style knobs tab: one image from four weighted prompts, following every weight change."""

from __future__ import annotations

from typing import Any

import gradio as gr

from .. import handlers as h
from ..jobs import inline_errors, page_and_api
from ..widgets import IMAGE_BUTTONS, error_line, recipe_panel, seed_input, truncation
from .base import CORNER_DEFAULTS, CORNER_EXAMPLES, Page, Tab

KNOB_XY = (0.3, 0.25)  # where the knobs open


class KnobsTab(Tab):
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

    def inputs(self, page: Page) -> list[Any]:
        """A render's inputs: the session's model, then what ``h.style_knob`` takes."""
        return [page.session.model, *self.prompts, *self.weights, self.seed, self.truncation, self.normalize]

    def wire(self, page: Page) -> None:
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
