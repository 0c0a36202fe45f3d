"""The Interpolate tab: prompt A to prompt B down the rows, seeds across, and the path's smoothness."""

from __future__ import annotations

import gradio as gr

from ... import explore
from ...latent import EASINGS, INTERPOLATIONS
from .. import handlers as h
from ..widgets import IMAGE_BUTTONS, error_line, export_size, grid_image, recipe_panel, run_stop, status_line, truncation
from .base import Page, Tab


class InterpolateTab(Tab):
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
                    [["a red heart", "a 3d emoji of a smiling face"], ["a strawberry", "a house"], ["a dog face", "a green apple"]],
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

    def wire(self, page: Page) -> None:
        """Interpolate (Enter in either prompt runs it; "[your image]" in either is the session's found point)."""
        page.long_event(
            self, [self.go.click, self.a.submit, self.b.submit], h.interpolate,
            [self.a, self.b, self.steps, self.seeds, self.mode, self.easing, self.truncation, self.export_size, page.scaling, page.session.found],
            [self.grid, self.plot, self.smoothness, self.recipe, self.file], "interpolate",
        )
