"""The Recipe tab: drop an exported file, read its recipe, make it again."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from .. import recipe_handlers as rh
from ..exports import write_example_recipes
from ..jobs import page_and_api
from ..widgets import IMAGE_BUTTONS, error_line, recipe_panel, run_stop, status_line
from .base import Page, Tab


class RecipeTab(Tab):
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

    def wire(self, page: Page) -> None:
        """Reading a file shows its recipe (clearing it clears them, no error); the button makes it again."""
        page_and_api([self.file.change], rh.read_recipe, [self.file], [self.recipe, self.summary], self.error, "read_recipe", show_progress="hidden")
        page.long_event(self, [self.go.click], rh.remake_from_recipe, [self.file], [self.image, self.out, self.note, self.recipe], "render_recipe")
