"""The app end to end: launched on 127.0.0.1 on a tiny checkpoint, every endpoint called through gradio_client."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from conftest import make_tiny_model
from galip_studio import explore
from galip_studio.checkpoint import save_checkpoint
from galip_studio.export import RECIPE_KEY
from galip_studio.ui.handlers import display_cell

ENDPOINTS = {
    "/generate", "/random_seed", "/interpolate", "/blend", "/blend_cell", "/style_knob", "/knob_position", "/weights_position", "/walk",
    "/read_recipe", "/render_recipe", "/model_info", "/load_checkpoint", "/upload_weights", "/load_official", "/use_default_model",
    "/list_checkpoints", "/directions", "/prompt_map", "/map_click", "/map_path", "/image_variations", "/use_variation",
    "/invert_image",
}
APP_DOCS = Path(__file__).resolve().parents[1] / "docs" / "app.md"
CORNERS = ("a red apple", "a smiling sun", "a slice of pizza", "a green heart")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The folder the app may load models from (its ``--model-dir``)."""
    folder = tmp_path_factory.getbasetemp() / "app-models"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def client(app_url):
    return Client(app_url, verbose=False)


def _gif_len(path) -> int:
    with Image.open(path) as im:
        return im.n_frames


def test_every_action_is_a_named_endpoint_on_localhost(app_url, client):
    assert app_url.startswith("http://127.0.0.1:")
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert ENDPOINTS <= set(endpoints)
    # docs/app.md's tab table names the same public endpoints, no more and no fewer
    table = [line for line in APP_DOCS.read_text().splitlines() if line.startswith("| ")]
    assert set(re.findall(r"`(/[a-z_]+)`", "\n".join(row.rsplit("|", 2)[-2] for row in table))) == ENDPOINTS
    # every parameter has its name on the API page ("seed", not "param_3")
    unnamed = {name: [p["parameter_name"] for p in ep["parameters"]] for name, ep in endpoints.items()
               if any(p["parameter_name"].startswith("param_") for p in ep["parameters"])}
    assert unnamed == {}
    assert [p["parameter_name"] for p in endpoints["/generate"]["parameters"]][:4] == ["prompt", "num_images", "seed", "truncation"]


def test_generate_and_seed(client):
    gallery, grid, recipe = client.predict("a red apple", 3, 11, 1.0, api_name="/generate")
    assert [item["caption"] for item in gallery] == ["seed 11", "seed 12", "seed 13"]
    for item in gallery:
        im = Image.open(item["image"])
        assert im.format == "PNG" and im.size == (32, 32)
    assert json.loads(Image.open(gallery[0]["image"]).text[RECIPE_KEY])["seeds"] == [11]
    assert Image.open(grid).width == 3 * 256 + 4 * 2  # the download: 256 px an image by default
    recipe = json.loads(recipe)
    assert recipe["prompts"] == ["a red apple"] and recipe["seeds"] == [11, 12, 13] and recipe["model"]["image_size"] == 32
    seed = client.predict(api_name="/random_seed")
    assert isinstance(seed, int) and 0 <= seed < 2**31


def test_interpolate(client):
    grid, plot, smoothness, recipe, file = client.predict("a red apple", "a green heart", 3, "0, 1", "lerp", "linear", 1.0, api_name="/interpolate")
    cell = display_cell(32, 2)
    assert Image.open(grid).width == 2 * cell + 3 * 2
    assert Image.open(file).width == 2 * 256 + 3 * 2  # the download at the default export size, 256 px an image
    assert Image.open(plot).size == (720, 420)
    assert "Path of seed 0" in smoothness
    recipe = json.loads(recipe)
    assert (recipe["kind"], recipe["steps"], recipe["seeds"]) == ("interpolate", 3, [0, 1])


def test_blend_grid_then_a_cell_in_the_style_knobs(client, tiny_checkpoint):
    grid, file, recipe = client.predict(*CORNERS, 3, 2, 1.0, 64, "nearest", api_name="/blend")
    cell = display_cell(32, 3)
    assert Image.open(grid).size == (3 * cell + 4 * 2,) * 2
    assert Image.open(file).width == 3 * 64 + 4 * 2 and Image.open(file).height > Image.open(file).width  # corner captions
    assert json.loads(recipe)["rows"] == 3
    out = client.predict(2, 1, api_name="/blend_cell")  # the session remembers its last grid
    prompts, weights, (x, y, seed, truncation), (image, mix, knob_recipe) = out[:4], out[4:8], out[8:12], out[12:]
    assert tuple(prompts) == CORNERS and (x, y, seed, truncation) == (0.5, 1.0, 2, 1.0)
    assert weights == pytest.approx([0.0, 0.0, 0.5, 0.5])
    assert "50% a slice of pizza" in mix and json.loads(knob_recipe)["kind"] == "style"
    from galip_studio.pipeline import GALIPPipeline

    native = explore.blend_grid(GALIPPipeline.from_pretrained(tiny_checkpoint, device="cpu"), list(CORNERS), rows=3, seed=2).pil()
    diff = np.abs(np.asarray(Image.open(image).convert("RGB")).astype(int) - np.asarray(native[2 * 3 + 1]).astype(int))
    assert Image.open(image).size == (32, 32) and diff.max() <= 1


def test_style_knob_and_position(client):
    weights = client.predict(0.5, 0.0, api_name="/knob_position")
    assert list(weights) == [0.5, 0.5, 0.0, 0.0]
    assert list(client.predict(0.0, 0.25, 0.0, 0.75, api_name="/weights_position")) == [1.0, 0.75]
    image, mix, recipe = client.predict(*CORNERS, *weights, 9, 0.8, True, api_name="/style_knob")
    assert Image.open(image).size == (32, 32)
    assert mix == "**Mix:** 50% a red apple · 50% a smiling sun"
    recipe = json.loads(recipe)
    assert recipe["seed"] == 9 and recipe["truncation"] == 0.8 and recipe["weights"] == [0.5, 0.5, 0.0, 0.0]


def test_walk_exports_and_recipe_tab(client):
    preview, video, gif, mp4, info, recipe = client.predict(
        "a red apple\na green heart", "0, 1", "keyframes", 8, 12, "loop", "cosine", 1.0, False, ["GIF", "MP4"], 64, api_name="/walk"
    )
    assert _gif_len(gif) == 8 and Image.open(gif).size == (64, 64)
    assert video.endswith(".mp4") and mp4.endswith(".mp4") and preview.endswith(".gif")
    assert json.loads(recipe)["frames"] == 8 and json.loads(recipe)["loop"] is True
    assert "8 frames" in info
    text, summary = client.predict(handle_file(gif), api_name="/read_recipe")
    assert json.loads(text)["kind"] == "walk" and "**walk**" in summary
    image, again, note, _ = client.predict(handle_file(gif), api_name="/render_recipe")
    assert _gif_len(again) == 8 and "walk" in note
    with Image.open(gif) as a, Image.open(again) as b:
        for k in range(8):
            a.seek(k), b.seek(k)
            assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))


def test_model_tab_sessions_do_not_mix(app_url, model_dir, tmp_path_factory):
    other = model_dir / "seed1"
    save_checkpoint(make_tiny_model(1), other)
    a, b = Client(app_url, verbose=False), Client(app_url, verbose=False)
    banner, card, info = a.predict(api_name="/model_info")
    assert "32×32 px" in banner and "Parameters: generator" in card and json.loads(info)["image_size"] == 32
    banner_a, _, info_a = a.predict(f"{model_dir.name}/seed1", api_name="/load_checkpoint")
    assert "seed1" in banner_a and json.loads(info_a)["path"] == f"{model_dir.name}/seed1"  # relative to the allowed folder
    img_a = a.predict("a red apple", 1, 0, 1.0, api_name="/generate")[0][0]["image"]
    img_b = b.predict("a red apple", 1, 0, 1.0, api_name="/generate")[0][0]["image"]
    assert np.abs(np.asarray(Image.open(img_a)).astype(int) - np.asarray(Image.open(img_b)).astype(int)).mean() > 0.5
    assert "seed1" not in b.predict(api_name="/model_info")[0]
    assert "seed1" not in a.predict(api_name="/use_default_model")[0]
    with pytest.raises(AppError, match="no such model here"):
        a.predict(str(tmp_path_factory.mktemp("x") / "missing"), api_name="/load_checkpoint")
    with pytest.raises(AppError, match="CLIP ViT-B/32 weights"):
        a.predict("pre_coco.pth", "", api_name="/load_official")
    assert isinstance(a.predict(api_name="/list_checkpoints"), dict)


def test_limits_give_messages_not_crashes(client):
    with pytest.raises(AppError, match="above the limit of 16"):
        client.predict("a", "b", 3, "0-20", "lerp", "linear", 1.0, api_name="/interpolate")
    with pytest.raises(AppError, match="greater than maximum"):
        client.predict(*CORNERS, 13, 0, 1.0, api_name="/blend")
    with pytest.raises(AppError, match="greater than maximum"):
        client.predict("a\nb", "0", "keyframes", 500, 12, "loop", "linear", 1.0, False, ["GIF"], 0, api_name="/walk")
    # The worker is still there for the next request.
    assert Image.open(client.predict("a", 1, 0, 1.0, api_name="/generate")[0][0]["image"]).size == (32, 32)


def test_generate_export_size_and_scaling(client):
    gallery, grid, recipe = client.predict("a red apple\na green heart", 2, 0, 1.0, 128, "lanczos", api_name="/generate")
    assert Image.open(grid).width == 2 * 128 + 3 * 2 and "a-red-apple+a-green-heart" in grid
    assert json.loads(Image.open(grid).text[RECIPE_KEY])["export"]["size"] == 128
    assert Image.open(gallery[0]["image"]).size == (32, 32)


def test_user_mistakes_log_one_line_and_no_traceback(client, capfd):
    capfd.readouterr()
    for call in (
        lambda: client.predict("a", "b", "", "d", 3, 0, 1.0, api_name="/blend"),
        lambda: client.predict("", "", "", "", 0, 0, 0, 0, 0, 1.0, True, api_name="/style_knob"),
        lambda: client.predict("a", 1, 0, 1.0, 5000, "nearest", api_name="/generate"),  # Gradio's own checks too:
        lambda: client.predict(*CORNERS, 13, 0, 1.0, api_name="/blend"),  # a slider above its maximum
    ):
        with pytest.raises(AppError):
            call()
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert len([line for line in (out + err).splitlines() if line.startswith("galip-studio: user error:")]) == 4


def test_cancel_stops_the_job(client):
    job = client.submit(
        "a red apple\na green heart\na smiling sun", "0-3", "keyframes", 480, 24, "loop", "linear", 1.0, True, ["GIF"], 0, api_name="/walk"
    )
    deadline = time.time() + 60
    while not any(t.name == "galip-walk" for t in threading.enumerate()) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    job.cancel()
    while any(t.name == "galip-walk" for t in threading.enumerate()) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "galip-walk" for t in threading.enumerate()), "the walk kept running after cancel"
    assert job.status().code.name == "CANCELLED"


def test_every_stop_button_pairs_with_a_run_button_the_shortcuts_find(tiny_pipeline, tmp_path):
    """Esc clicks the open tab's ``galip-stop`` button and Ctrl+Enter its ``galip-run`` one: every
    Stop button (the Directions and Prompt map tabs' too) has the class, next to a run button that has its own."""
    import gradio as gr

    from galip_studio.ui.app import build_app

    demo = build_app(tiny_pipeline, checkpoint_roots=[], outdir=tmp_path)
    stops = [b for b in demo.blocks.values() if isinstance(b, gr.Button) and b.value == "Stop"]
    assert len(stops) == 8  # Generate, Interpolate, Blend grid, Noise walk, Directions, Prompt map, Recipe, Your image
    for stop in stops:
        assert "galip-stop" in stop.elem_classes
        runs = [b for b in stop.parent.children if isinstance(b, gr.Button) and "galip-run" in (b.elem_classes or [])]
        assert len(runs) == 1 and runs[0].variant == "primary"


def test_every_tab_long_job_has_stop_and_history(tiny_pipeline, tmp_path):
    """Every tab is one Tab class whose long jobs have a Stop and whose results the history keeps:
    Directions and the Prompt map too (opening the map and walking a path share the tab's Stop);
    the Your image tab's runs are not kept (an upload cannot be put back)."""
    from galip_studio.ui.app import build_app

    demo = build_app(tiny_pipeline, checkpoint_roots=[], outdir=tmp_path)
    fns = [f.fn for f in demo.fns.values()]
    stoppable = {name for fn in fns for name in getattr(fn, "handlers", ())}
    assert stoppable == {"generate", "interpolate", "blend", "walk", "directions", "prompt_map", "map_path", "invert_image", "remake_from_recipe"}
    recorded = {fn.__name__.removeprefix("record_") for fn in fns if getattr(fn, "__name__", "").startswith("record_")}
    assert recorded == {"generate", "interpolate", "blend", "knobs", "walk", "directions", "map", "recipe"}
