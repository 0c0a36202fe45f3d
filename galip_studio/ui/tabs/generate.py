"""The Generate tab: prompts x seeds, and a picked image to send to the other tabs."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ... import explore
from .. import handlers as h
from ..jobs import PAGE_ONLY
from ..plumbing import error_text
from ..widgets import IMAGE_BUTTONS, error_line, export_size, recipe_panel, run_stop, seed_input, status_line, truncation
from .base import Page, Tab

# Prompts the bundled model does well, measured at release (its model card): each of 8 seeds' images
# is nearest its own prompt, in the mini-CLIP's space, among 36 candidate prompts.
PROMPTS = (
    "a red heart", "a 3d emoji of a smiling face", "a dog face", "a house", "a snowman", "a strawberry",
)
PICK_HINT = "Click an image, then send its prompt and seed: to a Style-knob corner (pick which), Interpolate A or B, a Noise-walk keyframe, or reuse its seed here."
LANDING = dict(prompt=PROMPTS[0], images=8, seed=0, truncation=1.0)  # the result the Generate tab opens with


class GenerateTab(Tab):
    id, shown = "generate", "gallery"

    def __init__(self, limits: explore.Limits) -> None:
        with gr.Tab("Generate", id=self.id), gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                self.prompt = gr.Textbox(value=LANDING["prompt"], label="Prompt", lines=2, placeholder="a red heart  (one prompt per line for several)", info="Shift+Enter runs", elem_id="galip-prompt")
                self.images = gr.Slider(1, limits.max_seeds or 64, value=LANDING["images"], step=1, label="Images per prompt", info="image k uses seed + k")
                self.seed = seed_input(elem_id="galip-seed")
                self.truncation = truncation()
                self.export_size = export_size()
                self.go, self.stop = run_stop("Generate")
                self.error = error_line("galip-generate-error")
                gr.Examples([[p] for p in PROMPTS], [self.prompt], label="Try")
            with gr.Column(scale=3):
                self.status = status_line("galip-generate-status")
                self.gallery = gr.Gallery(
                    label="Images", show_label=False, format="png", interactive=False, columns=4, object_fit="contain", buttons=IMAGE_BUTTONS,
                    elem_id="galip-gallery", elem_classes="galip-pixels",
                )
                self.picked_note = gr.Markdown(PICK_HINT, elem_classes="galip-hint", elem_id="galip-picked")
                with gr.Row(elem_id="galip-send", equal_height=True):
                    self.send_corner = gr.Dropdown(list(h.CORNERS), value="top-left", label="Corner", show_label=False, scale=2, min_width=120, container=False)
                    self.send_knobs = gr.Button("→ Style knobs", size="sm", scale=2, min_width=110)
                    self.send_a = gr.Button("→ Interpolate A", size="sm", scale=2, min_width=110)
                    self.send_b = gr.Button("→ Interpolate B", size="sm", scale=2, min_width=110)
                    self.send_walk = gr.Button("→ Walk keyframe", size="sm", scale=2, min_width=110)
                    self.send_seed = gr.Button("Reuse this seed", size="sm", scale=2, min_width=110)
                self.file = gr.DownloadButton("Download the grid (PNG with recipe)")
                self.recipe = recipe_panel()
        self.settings = {"prompt": self.prompt, "images": self.images, "seed": self.seed, "truncation": self.truncation, "export_size": self.export_size}
        self.results = {"gallery": self.gallery, "file": self.file, "recipe": self.recipe}

    def wire(self, page: Page) -> None:
        """Generate (also on Shift+Enter in the prompt); a click on an image picks it for "send to"."""
        event = page.long_event(
            self, [self.go.click, self.prompt.submit], h.generate,
            [self.prompt, self.images, self.seed, self.truncation, self.export_size, page.scaling], [self.gallery, self.file, self.recipe], "generate",
        )

        def pick(recipe: str, evt: gr.SelectData) -> tuple[Any, str]:
            try:
                item = h.gallery_item(recipe, evt.index)
            except gr.Error as e:
                return gr.skip(), error_text(e.message)
            return item, h.picked_text(item)

        def new_gallery(error: str | None) -> tuple[Any, Any]:
            return (gr.skip(), gr.skip()) if (error or "").strip() else (None, PICK_HINT)  # a mistake keeps the gallery and the pick

        self.gallery.select(pick, self.recipe, [page.session.picked, self.picked_note], **PAGE_ONLY)
        event.success(new_gallery, self.error, [page.session.picked, self.picked_note], **PAGE_ONLY)
