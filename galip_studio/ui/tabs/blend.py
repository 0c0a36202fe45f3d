"""The Blend grid tab: four corner prompts, bilinear blends between them (the paper's Figure 7)."""

from __future__ import annotations

import gradio as gr

from ... import explore
from .. import handlers as h
from ..widgets import error_line, export_size, grid_image, recipe_panel, run_stop, seed_input, status_line, truncation
from .base import CORNER_DEFAULTS, CORNER_EXAMPLES, Page, Tab


class BlendTab(Tab):
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

    def wire(self, page: Page) -> None:
        """Blend (Enter in a corner prompt runs it)."""
        page.long_event(
            self, [self.go.click, *(c.submit for c in self.corners)], h.blend,
            [*self.corners, self.size, self.seed, self.truncation, self.export_size, page.scaling],
            [self.grid, self.file, self.recipe, self.last_blend], "blend",
        )
