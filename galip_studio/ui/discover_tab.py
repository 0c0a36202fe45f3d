"""The Directions and Prompt map tabs: layout and wiring (the work is in :mod:`.discover_handlers`).

:func:`build_discover_tabs` is called inside the app's ``gr.Tabs`` with the session's model state
and the app's ``long``/``quick`` wrappers (worker thread with progress and Stop; plain call). Named
endpoints: ``/directions``, ``/prompt_map``, ``/map_click``, ``/map_path``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import gradio as gr

from .. import explore
from . import discover_handlers as dh
from .jobs import connect_stop, inline_errors, page_and_api
from .plumbing import error_text
from .widgets import IMAGE_BUTTONS, animation_formats, error_line, frame_size, frames_and_fps, run_stop, truncation

ENDPOINTS = ("/directions", "/prompt_map", "/map_click", "/map_path")


class Recorded(NamedTuple):
    """What the history strip keeps of a tab's run (the same names as the app's own tabs)."""

    id: str  # the tab's id
    shown: str  # the result the strip shows
    settings: dict[str, Any]  # input components by name: a click on the entry puts them back
    results: dict[str, Any]  # output components by name: a click on the entry shows them again
    error: gr.Markdown  # the tab's error line: a run that was a mistake is not recorded
    event: Any  # the run's page event (its ``.success`` records it)
    handler: Callable[..., Any]  # the long job (a stopped run is not recorded)


def build_discover_tabs(
    long_inputs: Sequence[Any],
    quick_inputs: Sequence[Any],
    long: Callable[[Callable[..., Any], int], Callable[..., Any]],
    quick: Callable[[Callable[..., Any]], Callable[..., Any]],
    limits: explore.Limits,
) -> list[Recorded]:
    """Add the two tabs (call inside ``with gr.Tabs():``); returns what the history records of
    each (finding directions, opening a map).

    ``long(handler, n_outputs)`` and ``quick(handler)`` are the app's wrappers; ``long_inputs`` and
    ``quick_inputs`` are the session states each wrapper reads before the handler's own inputs (the
    session's model first; ``long_inputs`` then its job board, which the Stop buttons flag).
    """
    lim = limits
    session_model = quick_inputs[0]
    recipe_box = lambda: gr.Code(language="json", label="Recipe", interactive=False, max_lines=30)  # noqa: E731

    # ---------------------------------------------------------------- Directions
    with gr.Tab("Directions", id="directions"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                gr.Markdown(
                    "Directions the model itself varies along, found by PCA: **noise** directions (GANSpace: the "
                    "generator's bridge feature over many random noises at this prompt, mapped back to noise) change "
                    "shape, pose or colour at a fixed prompt; **sentence** directions (the vocabulary's sentence "
                    "vectors) change what is drawn. Each row moves the image from −span σ to +span σ.",
                    elem_classes="galip-hint",
                )
                dr_space = gr.Radio(list(dh.SPACES), value=list(dh.SPACES)[0], label="Space")
                # Two controls a row at most: three squeezed a slider past the column (its top value cut off).
                with gr.Row():
                    dr_prompt = gr.Textbox(value="a red heart", label="Prompt (the image to move)", scale=3)
                    dr_seed = gr.Number(value=0, label="Seed", step=1, scale=1, min_width=90)
                with gr.Row():
                    dr_components = gr.Slider(2, lim.max_components or 64, value=8, step=1, label="Components to find")
                    dr_show = gr.Textbox(value="1-3", label="Show components", info="e.g. 1-3 or 1, 4, 5")
                with gr.Row():
                    dr_steps = gr.Slider(3, lim.max_strip or 31, value=7, step=2, label="Images per strip")
                    dr_span = gr.Slider(0.5, 6.0, value=3.0, step=0.5, label="Span (σ)")
                dr_trunc = truncation(info=None)
                dr_vocab = gr.Textbox(label="Vocabulary for sentence directions (one phrase per line; empty: the bundled 514 everyday phrases)", lines=3)
                dr_go, dr_stop = run_stop("Find directions")
                dr_error = error_line("galip-directions-error")
            with gr.Column(scale=3):
                dr_image = gr.Image(label="Strips: rows are components, columns −span σ … +span σ", format="png", type="filepath", interactive=False, height=520, buttons=IMAGE_BUTTONS, elem_classes="galip-pixels")
                dr_table = gr.Markdown()
                with gr.Accordion("Recipe", open=False):
                    dr_recipe = recipe_box()
        connect_stop(dr_stop, [dr_go.click], dh.directions, long_inputs[1])
        dr_event = page_and_api(
            [dr_go.click], long(dh.directions, 3),
            [*long_inputs, dr_space, dr_prompt, dr_components, dr_show, dr_seed, dr_steps, dr_span, dr_trunc, dr_vocab],
            [dr_image, dr_table, dr_recipe], dr_error, "directions",
        )

    # ---------------------------------------------------------------- Prompt map
    with gr.Tab("Prompt map", id="map"):
        map_state = gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                with gr.Row():
                    mp_view = gr.Radio(list(dh.MAP_VIEWS), value="PCA", label="Layout", scale=2)
                    mp_open = gr.Button("Open the map", variant="primary", scale=1)
                mp_open_error = error_line("galip-map-error")
                gr.Markdown("**Sentence space:** click anywhere for the image there", elem_classes="galip-hint")
                mp_image = gr.Image(
                    label="Sentence space: click anywhere", show_label=False, format="png", type="filepath", interactive=False, height=640,
                    buttons=IMAGE_BUTTONS, elem_id="galip-prompt-map",
                )
                mp_info = gr.Markdown()
                mp_vocab = gr.Textbox(label="Vocabulary (one phrase per line; empty: the bundled 514 everyday phrases)", lines=2)
            with gr.Column(scale=2, min_width=320):
                with gr.Row():
                    mp_x = gr.Number(value=0.0, label="x")
                    mp_y = gr.Number(value=0.0, label="y")
                    mp_seed = gr.Number(value=0, label="Seed", step=1)
                mp_trunc = truncation(info=None)
                mp_click_btn = gr.Button("Image at (x, y)")
                mp_click_error = error_line("galip-map-click-error")
                mp_result = gr.Image(label="The image there", format="png", type="filepath", interactive=False, height=300, buttons=IMAGE_BUTTONS, elem_classes=["galip-upscale", "galip-pixels"])
                mp_note = gr.Markdown()
                gr.Markdown("**Path**: every click adds a point; walk it as an animation.", elem_classes="galip-hint")
                mp_points = gr.Textbox(label="Path points (x,y; x,y; …)", lines=2)
                mp_frames, mp_fps = frames_and_fps(lim)
                with gr.Row():
                    mp_loop = gr.Checkbox(value=False, label="Loop back to the first point")
                    mp_formats = animation_formats()
                    mp_size = frame_size(128, 256)
                with gr.Row():
                    mp_walk = gr.Button("Walk the path", variant="primary", scale=2, elem_classes="galip-run")
                    mp_clear = gr.Button("Clear path", scale=1)
                    mp_stop = gr.Button("Stop", variant="stop", scale=1, elem_classes="galip-stop")
                mp_walk_error = error_line("galip-map-walk-error")
                with gr.Row():
                    mp_gif = gr.Image(label="GIF", type="filepath", interactive=False, height=220, buttons=IMAGE_BUTTONS, elem_classes="galip-pixels")
                    mp_video = gr.Video(label="MP4", interactive=False, height=220, loop=True, autoplay=True, buttons=["download"], elem_classes="galip-pixels")
                mp_walk_info = gr.Markdown()
                with gr.Accordion("Recipe", open=False):
                    mp_recipe = recipe_box()
        mp_event = page_and_api(
            [mp_open.click], long(dh.prompt_map, 3), [*long_inputs, mp_view, mp_vocab], [mp_image, mp_info, map_state], mp_open_error, "prompt_map"
        )
        click_fn = quick(dh.map_click)
        click_inputs = [*quick_inputs, map_state, mp_x, mp_y, mp_seed, mp_trunc]
        click_outputs = [mp_result, mp_note, mp_recipe]
        page_and_api([mp_click_btn.click], click_fn, click_inputs, click_outputs, mp_click_error, "map_click")

        def pick(state: Any, points: str, evt: gr.SelectData) -> tuple[Any, ...]:
            try:
                x, y = dh.map_pixel(state, *evt.index)
            except gr.Error as e:  # no map yet: say so, and render nothing
                return gr.skip(), gr.skip(), gr.skip(), error_text(e.message)
            return round(x, 3), round(y, 3), dh.add_point(points, x, y), ""

        (
            mp_image.select(pick, [map_state, mp_points], [mp_x, mp_y, mp_points, mp_click_error], api_visibility="private", queue=False)
            .success(
                inline_errors(click_fn, len(click_outputs)), click_inputs, [*click_outputs, mp_click_error], api_visibility="private",
                trigger_mode="always_last", show_progress="minimal",
            )
        )
        mp_clear.click(lambda: "", None, mp_points, api_visibility="private", queue=False)
        connect_stop(mp_stop, [mp_walk.click], dh.map_path, long_inputs[1])
        page_and_api(
            [mp_walk.click], long(dh.map_path, 5),
            [*long_inputs, map_state, mp_points, mp_frames, mp_fps, mp_loop, mp_seed, mp_trunc, mp_formats, mp_size],
            [mp_image, mp_gif, mp_video, mp_walk_info, mp_recipe], mp_walk_error, "map_path",
        )
    directions = Recorded(
        "directions", "image",
        {"space": dr_space, "prompt": dr_prompt, "components": dr_components, "show": dr_show, "seed": dr_seed, "steps": dr_steps,
         "span": dr_span, "truncation": dr_trunc, "vocabulary": dr_vocab},
        {"image": dr_image, "table": dr_table, "recipe": dr_recipe}, dr_error, dr_event, dh.directions,
    )
    prompt_map = Recorded(
        "map", "image", {"view": mp_view, "vocabulary": mp_vocab}, {"image": mp_image, "info": mp_info, "map_state": map_state},
        mp_open_error, mp_event, dh.prompt_map,
    )
    return [directions, prompt_map]
