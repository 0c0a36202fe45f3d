"""The Model tab: the model's card and figures; loaders for other models (this session only) unless loading is off."""

from __future__ import annotations

from typing import Any

import gradio as gr

from .. import model_handlers as mh
from ..jobs import PAGE_ONLY, page_and_api
from ..models import DEFAULT_SPEC, ModelLibrary, ModelSpec
from ..plumbing import user_error
from ..widgets import IMAGE_BUTTONS, error_line, status_line
from .base import Page


class ModelTab:
    """The model's card and figures; loaders for other models (this session only) unless loading is off."""

    def __init__(self, library: ModelLibrary, allow_loading: bool) -> None:
        self.library = library
        with gr.Tab("Model", id="model"), gr.Row(equal_height=False):
            with gr.Column(scale=3):
                self.card = gr.Markdown(elem_id="galip-model-card")
                gr.Markdown("**The model card's figures**", elem_classes="galip-hint")
                self.figures = gr.Gallery(
                    label="The model card's figures", show_label=False, format="png", interactive=False, columns=2, height="auto", object_fit="contain",
                    buttons=IMAGE_BUTTONS, elem_id="galip-figures", elem_classes="galip-pixels",
                )
                # describe() as JSON for API clients (/model_info's third value); not shown on the page.
                self.json = gr.Code(language="json", label="describe()", interactive=False, visible=False)
            with gr.Column(scale=2, visible=allow_loading):
                gr.Markdown("### Load another model\nOnly this browser session switches; others keep theirs.")
                self.checkpoint = gr.Dropdown(elem_id="galip-ckpt", choices=
                    mh.list_checkpoints(library) if allow_loading else [], label="Checkpoint directory", allow_custom_value=True,
                    info="one found under checkpoints/, runs/ or the server's --model-dir folders",
                )
                with gr.Row():
                    self.load = gr.Button("Load checkpoint", variant="primary")
                    self.refresh = gr.Button("Refresh list")
                self.error = error_line("galip-model-error")
                self.loaded = status_line("galip-model-loaded")
                gr.Markdown("#### The paper's checkpoints")
                self.upload = gr.File(
                    label="Upload weights (pre_coco.pth, ViT-B-32.pt, ...): for this session only",
                    file_count="multiple", file_types=[".pth", ".pt", ".safetensors", ".bin"], type="filepath",
                )
                self.uploaded = gr.Markdown()
                self.pth = gr.Textbox(label="Official checkpoint", placeholder="pre_coco.pth or pre_cc12m.pth (uploaded, or in a model folder)")
                self.clip = gr.Textbox(label="CLIP ViT-B/32 weights", placeholder="ViT-B-32.pt (uploaded, or in a model folder), or 'openai' (needs a network)")
                self.official = gr.Button("Load official checkpoint")
                self.default = gr.Button("Back to the default model")
                self.official_error = error_line("galip-official-error")

    def outputs(self, page: Page) -> list[Any]:
        """What a model switch sets: the session's model, the banner, the card, ``describe()``."""
        return [page.session.model, page.banner, self.card, self.json]

    def wire(self, page: Page) -> None:
        """Loads never leave an "Error" badge on the header or the card (show_progress hidden): a
        failed load says why in a message and the session keeps its model."""
        store, library, session = page.run.store, self.library, page.session

        def loading_allowed() -> None:
            if not store.allow_loading:
                raise user_error("this server does not allow loading other models")

        def load_checkpoint(spec: ModelSpec, path: str) -> mh.ModelCard:
            loading_allowed()
            return mh.switch_model(store, mh.checkpoint_spec(library, path))

        def load_official(spec: ModelSpec, uploads: dict[str, str], pth: str, clip: str) -> mh.ModelCard:
            loading_allowed()
            return mh.switch_model(store, mh.official_spec(library, uploads, pth, clip))

        def upload_weights(uploads: dict[str, str], files: Any) -> mh.UploadResult:
            return mh.register_uploads(uploads, files, allowed=store.allow_loading)

        def use_default(spec: ModelSpec) -> mh.ModelCard:
            return mh.switch_model(store, DEFAULT_SPEC)

        def refresh() -> gr.Dropdown:
            return gr.Dropdown(choices=mh.list_checkpoints(library) if store.allow_loading else [])

        def loaded(spec: ModelSpec, error: str | None, official_error: str | None) -> str:
            """The confirmation a load gives (a failed one says why on its error line instead)."""
            if (error or "").strip() or (official_error or "").strip():
                return ""
            return f"✓ Now using **{spec.public_label()}** in this browser session (others keep theirs)."

        outputs, figures = self.outputs(page), page.run.quick(mh.model_figures)
        quiet = dict(show_progress="hidden")
        for event in (
            page_and_api([self.load.click], load_checkpoint, [session.model, self.checkpoint], outputs, self.error, "load_checkpoint", **quiet),
            page_and_api([self.official.click], load_official, [session.model, session.uploads, self.pth, self.clip], outputs, self.official_error, "load_official", **quiet),
            page_and_api([self.default.click], use_default, [session.model], outputs, self.error, "use_default_model", **quiet),
        ):
            event.success(figures, session.model, self.figures, api_visibility="private", show_progress="hidden")
            event.success(loaded, [session.model, self.error, self.official_error], self.loaded, **PAGE_ONLY)
        page_and_api([self.upload.upload], upload_weights, [session.uploads, self.upload], [session.uploads, self.uploaded], self.official_error, "upload_weights")
        self.refresh.click(refresh, None, self.checkpoint, api_name="list_checkpoints")
