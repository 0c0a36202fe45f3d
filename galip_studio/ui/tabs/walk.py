"""The Noise walk tab: keyframe prompts and a noise path, as a GIF and an MP4."""

from __future__ import annotations

import gradio as gr

from ... import explore
from ...explore import NOISE_PATHS
from ...latent import EASINGS
from .. import handlers as h
from ..widgets import IMAGE_BUTTONS, animation_formats, error_line, frame_size, frames_and_fps, recipe_panel, run_stop, status_line, truncation
from .base import Page, Tab


class WalkTab(Tab):
    id, shown = "walk", "preview"

    def __init__(self, limits: explore.Limits) -> None:
        with gr.Tab("Noise walk", id=self.id):
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=320):
                    self.prompts = gr.Textbox(value="a 3d emoji of a smiling face\na red heart", label="Prompts (one per line: keyframes)", lines=3, info="Shift+Enter runs · [your image]: the point Your image found")
                    self.seeds = gr.Textbox(value="0, 1", label="Seeds (noise keyframes)", info="circle / random paths use one or two")
                    with gr.Row():
                        self.path = gr.Dropdown(list(NOISE_PATHS), value="keyframes", label="Noise path")
                        self.easing = gr.Dropdown(list(EASINGS), value="cosine", label="Easing")
                    self.frames, self.fps = frames_and_fps(limits, frames_elem_id="galip-walk-frames")
                    self.playback = gr.Radio(list(h.PLAYBACK), value="loop", label="Playback", info="loop closes the path; ping-pong plays back and forth")
                    self.truncation = truncation()
                    with gr.Row():
                        self.even = gr.Checkbox(value=False, label=f"Even speed (re-time in CLIP space: renders the path {h.RETIME_DENSITY}× first, slower)")
                        self.formats = animation_formats()
                        self.size = frame_size(64, 128, 256, 512)
                    self.go, self.stop = run_stop("Walk")
                    self.error = error_line("galip-walk-error")
                with gr.Column(scale=3):
                    self.status = status_line("galip-walk-status")
                    with gr.Row():
                        self.preview = gr.Image(label="GIF", type="filepath", interactive=False, height=360, buttons=IMAGE_BUTTONS, elem_classes="galip-pixels", elem_id="galip-walk-gif")
                        self.video = gr.Video(label="MP4", interactive=False, height=360, loop=True, autoplay=True, buttons=["download"], elem_classes="galip-pixels")
                    with gr.Row():
                        self.gif = gr.DownloadButton("Download GIF")
                        self.mp4 = gr.DownloadButton("Download MP4")
                    self.info = gr.Markdown()
                    self.recipe = recipe_panel()
            # Under both columns: the whole width shows every corner prompt on one line (beside the controls it was cut or split).
            gr.Examples(
                [
                    ["a 3d emoji of a smiling face\na red heart", "0, 1", "keyframes", "loop"],
                    ["a strawberry", "3", "circle", "loop"],
                    ["a red heart\na strawberry\na cat face", "0", "spline", "ping-pong"],
                ],
                [self.prompts, self.seeds, self.path, self.playback],
                label="Try",
            )
        self.settings = {
            "prompts": self.prompts, "seeds": self.seeds, "path": self.path, "frames": self.frames, "fps": self.fps, "playback": self.playback,
            "easing": self.easing, "truncation": self.truncation, "even_speed": self.even, "formats": self.formats, "size": self.size,
        }
        self.results = {"preview": self.preview, "video": self.video, "gif": self.gif, "mp4": self.mp4, "info": self.info, "recipe": self.recipe}

    def wire(self, page: Page) -> None:
        """Walk (Shift+Enter in the prompts; a "[your image]" line is the session's found point)."""
        page.long_event(
            self, [self.go.click, self.prompts.submit], h.walk,
            [self.prompts, self.seeds, self.path, self.frames, self.fps, self.playback, self.easing, self.truncation, self.even, self.formats, self.size,
             page.scaling, page.session.found],
            [self.preview, self.video, self.gif, self.mp4, self.info, self.recipe], "walk",
        )
