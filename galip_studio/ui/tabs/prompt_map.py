"""The Prompt map tab: a vocabulary's sentence vectors laid out in 2-D; a click gives the image there,
clicks make a path that walks as an animation (the work is in :mod:`..discover_handlers`).
Endpoints: ``/prompt_map``, ``/map_click``, ``/map_path``."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ... import explore
from .. import discover_handlers as dh
from ..jobs import inline_errors, page_and_api
from ..plumbing import error_text
from ..widgets import IMAGE_BUTTONS, animation_formats, error_line, frame_size, frames_and_fps, status_line, truncation
from .base import Page, Tab
from .directions import recipe_box


class PromptMapTab(Tab):
    """Two long jobs: opening the map and walking a path. The tab's one Stop button (beside *Walk the
    path*, where Esc finds it) ends whichever runs; each job has its own error line. Both are kept in
    the history with the whole tab: the map, the picked point, the path and the walk."""

    id, shown = "map", "image"

    def __init__(self, limits: explore.Limits) -> None:
        with gr.Tab("Prompt map", id=self.id), gr.Row(equal_height=False):
            self.state = gr.State(None)
            with gr.Column(scale=3):
                with gr.Row():
                    self.view = gr.Radio(list(dh.MAP_VIEWS), value="PCA", label="Layout", scale=2)
                    self.go = gr.Button("Open the map", variant="primary", scale=1)
                self.error = error_line("galip-map-error")
                gr.Markdown("**Sentence space:** click anywhere for the image there", elem_classes="galip-hint")
                self.image = gr.Image(
                    label="Sentence space: click anywhere", show_label=False, format="png", type="filepath", interactive=False, height=640,
                    buttons=IMAGE_BUTTONS, elem_id="galip-prompt-map",
                )
                self.info = gr.Markdown()
                self.vocabulary = gr.Textbox(label="Vocabulary (one phrase per line; empty: the bundled 514 everyday phrases)", lines=2)
            with gr.Column(scale=2, min_width=320):
                with gr.Row():
                    self.x = gr.Number(value=0.0, label="x")
                    self.y = gr.Number(value=0.0, label="y")
                    self.seed = gr.Number(value=0, label="Seed", step=1)
                self.truncation = truncation(info=None)
                self.click = gr.Button("Image at (x, y)")
                self.click_error = error_line("galip-map-click-error")
                self.result = gr.Image(
                    label="The image there", format="png", type="filepath", interactive=False, height=300, buttons=IMAGE_BUTTONS,
                    elem_classes=["galip-upscale", "galip-pixels"],
                )
                self.note = gr.Markdown()
                gr.Markdown("**Path**: every click adds a point; walk it as an animation.", elem_classes="galip-hint")
                self.points = gr.Textbox(label="Path points (x,y; x,y; …)", lines=2)
                self.frames, self.fps = frames_and_fps(limits)
                with gr.Row():
                    self.loop = gr.Checkbox(value=False, label="Loop back to the first point")
                    self.formats = animation_formats()
                    self.size = frame_size(128, 256)
                with gr.Row():
                    self.walk = gr.Button("Walk the path", variant="primary", scale=2, elem_classes="galip-run")
                    self.clear = gr.Button("Clear path", scale=1)
                    self.stop = gr.Button("Stop", variant="stop", scale=1, elem_classes="galip-stop")  # stops opening the map too
                self.walk_error = error_line("galip-map-walk-error")
                self.status = status_line("galip-map-status")
                with gr.Row():
                    self.gif = gr.Image(label="GIF", type="filepath", interactive=False, height=220, buttons=IMAGE_BUTTONS, elem_classes="galip-pixels")
                    self.video = gr.Video(label="MP4", interactive=False, height=220, loop=True, autoplay=True, buttons=["download"], elem_classes="galip-pixels")
                self.walk_info = gr.Markdown()
                self.recipe = recipe_box()
        self.settings = {
            "view": self.view, "vocabulary": self.vocabulary, "x": self.x, "y": self.y, "seed": self.seed, "truncation": self.truncation,
            "points": self.points, "frames": self.frames, "fps": self.fps, "loop": self.loop, "formats": self.formats, "size": self.size,
        }
        self.results = {
            "image": self.image, "info": self.info, "map_state": self.state, "result": self.result, "note": self.note, "gif": self.gif,
            "video": self.video, "walk_info": self.walk_info, "recipe": self.recipe,
        }

    def wire(self, page: Page) -> None:
        """Open the map; a click on it (or the button) renders the point and adds it to the path; walk the path."""
        page.long_event(
            self, [self.go.click], dh.prompt_map, [self.view, self.vocabulary], [self.image, self.info, self.state], "prompt_map", own_stop=False,
        )
        click_fn = page.run.quick(dh.map_click)
        click_inputs = [page.session.model, self.state, self.x, self.y, self.seed, self.truncation]
        click_outputs = [self.result, self.note, self.recipe]
        page_and_api([self.click.click], click_fn, click_inputs, click_outputs, self.click_error, "map_click")

        def pick(state: Any, points: str, evt: gr.SelectData) -> tuple[Any, ...]:
            try:
                x, y = dh.map_pixel(state, *evt.index)
            except gr.Error as e:  # no map yet: say so, and render nothing
                return gr.skip(), gr.skip(), gr.skip(), error_text(e.message)
            return round(x, 3), round(y, 3), dh.add_point(points, x, y), ""

        (
            self.image.select(pick, [self.state, self.points], [self.x, self.y, self.points, self.click_error], api_visibility="private", queue=False)
            .success(
                inline_errors(click_fn, len(click_outputs)), click_inputs, [*click_outputs, self.click_error], api_visibility="private",
                trigger_mode="always_last", show_progress="minimal",
            )
        )
        self.clear.click(lambda: "", None, self.points, api_visibility="private", queue=False)
        page.long_event(
            self, [self.walk.click], dh.map_path,
            [self.state, self.points, self.frames, self.fps, self.loop, self.seed, self.truncation, self.formats, self.size],
            [self.image, self.gif, self.video, self.walk_info, self.recipe], "map_path", error=self.walk_error, also_stops=[dh.prompt_map],
        )
