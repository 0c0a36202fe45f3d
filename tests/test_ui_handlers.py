"""The app's handlers as plain functions on the tiny model: outputs, files, recipes, friendly errors."""

from __future__ import annotations

import json
import os
import time

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from galip_studio import explore
from galip_studio.export import RECIPE_KEY, save_png
from galip_studio.ui import handlers as h


def _arr(path_or_image) -> np.ndarray:
    im = path_or_image if isinstance(path_or_image, Image.Image) else Image.open(path_or_image)
    return np.asarray(im.convert("RGB")).astype(int)


def _gif_frames(path) -> list[np.ndarray]:
    frames = []
    with Image.open(path) as im:
        for k in range(im.n_frames):
            im.seek(k)
            frames.append(np.asarray(im.convert("RGB")).astype(int))
    return frames


# ------------------------------------------------------------------------------------------ parsing
def test_parse_seeds_lists_ranges_and_errors():
    assert h.parse_seeds("0, 1  2,5-7") == [0, 1, 2, 5, 6, 7]
    assert h.parse_seeds(3) == [3]
    for bad, needle in [("", "at least one seed"), ("a", "not a seed"), ("-1", "not a seed"), ("5-2", "backwards"), ("0-100000", "too many")]:
        with pytest.raises(gr.Error, match=needle):
            h.parse_seeds(bad)


def test_parse_prompts_one_per_line():
    assert h.parse_prompts("a cat\n\n  a dog \n") == ["a cat", "a dog"]
    with pytest.raises(gr.Error, match="Type a prompt"):
        h.parse_prompts("  \n ")


def test_display_cell_scales_small_models_only():
    assert h.display_cell(32, 4) == 160
    assert h.display_cell(32, 1) == 256
    assert h.display_cell(224, 4) is None
    assert h.display_cell(64, 12) is None


def test_grid_cell_and_cell_position():
    # 3x3 grid of 10 px cells with 2 px padding: cell c spans x in [2 + 12c, 12 + 12c).
    assert h.grid_cell(2, 2, 3, 3, 10) == (0, 0)
    assert h.grid_cell(30, 15, 3, 3, 10) == (1, 2)
    assert h.grid_cell(500, -4, 3, 3, 10) == (0, 2)
    assert h.cell_position(1, 2, 3) == (1.0, 0.5)
    assert h.cell_position(0, 0, 5) == (0.0, 0.0)
    with pytest.raises(gr.Error, match="not in a 3x3 grid"):
        h.cell_position(3, 0, 3)


def test_knob_position_is_bilinear():
    assert h.knob_position(0, 0) == (1.0, 0.0, 0.0, 0.0)
    w = h.knob_position(0.25, 0.5)
    assert sum(w) == pytest.approx(1.0)
    assert w.top_right == pytest.approx(0.125) and w.bottom_left == pytest.approx(0.375)
    with pytest.raises(gr.Error, match=r"\[0, 1\]"):
        h.knob_position(1.5, 0)


def test_new_job_dir_prunes_old_folders(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    stamp = time.time() - 2 * h.OUTPUT_MAX_AGE_S
    os.utime(old, (stamp, stamp))
    a, b = h.new_job_dir(tmp_path), h.new_job_dir(tmp_path)
    assert a != b and a.is_dir() and b.is_dir()
    assert not old.exists()


# ------------------------------------------------------------------------------------------ generate
def test_generate_gallery_pngs_carry_recipes_that_remake_them(tiny_pipeline, tmp_path):
    out = h.generate(tiny_pipeline, "a red apple\na green heart", 3, 7, 0.9, outdir=tmp_path)
    assert len(out.gallery) == 6
    assert [c for _, c in out.gallery][:2] == ["a red apple · seed 7", "a red apple · seed 8"]
    path, _ = out.gallery[4]
    assert Image.open(path).size == (32, 32) and Image.open(path).format == "PNG"
    recipe = json.loads(Image.open(path).text[RECIPE_KEY])
    assert recipe["prompts"] == ["a green heart"] and recipe["seeds"] == [8] and recipe["truncation"] == 0.9
    # The same image as the pipeline makes for that prompt and seed, and again from its recipe.
    direct = tiny_pipeline("a green heart", seeds=[8], truncation=0.9).images[0]
    assert np.abs(_arr(path) - _arr(direct)).max() <= 1
    again = h.render_recipe(tiny_pipeline, path, outdir=tmp_path)
    assert Image.open(again.image).size == (32, 32)
    assert np.abs(_arr(again.image) - _arr(path)).max() <= 1
    grid = Image.open(out.grid_file)
    assert json.loads(grid.text[RECIPE_KEY])["seeds"] == [7, 8, 9]
    assert json.loads(out.recipe)["kind"] == "seeds"


def test_generate_limits_and_empty_prompt(tiny_pipeline, tmp_path):
    with pytest.raises(gr.Error, match="Type a prompt"):
        h.generate(tiny_pipeline, "", 2, 0, 1.0, outdir=tmp_path)
    with pytest.raises(gr.Error, match="limit of 16"):
        h.generate(tiny_pipeline, "a red apple", 17, 0, 1.0, outdir=tmp_path)
    with pytest.raises(gr.Error, match="truncation"):
        h.generate(tiny_pipeline, "a red apple", 1, 0, 1.5, outdir=tmp_path)
    small = explore.Limits(max_seeds=2)
    with pytest.raises(gr.Error, match="limit of 2"):
        h.generate(tiny_pipeline, "a red apple", 3, 0, 1.0, outdir=tmp_path, limits=small)


def test_generate_without_seed_picks_one(tiny_pipeline, tmp_path):
    out = h.generate(tiny_pipeline, "a cat", 1, None, 1.0, outdir=tmp_path)
    assert isinstance(json.loads(out.recipe)["seeds"][0], int)


# ------------------------------------------------------------------------------------------ interpolate
def test_interpolate_grid_plot_and_smoothness(tiny_pipeline, tmp_path):
    calls = []
    out = h.interpolate(tiny_pipeline, "a red apple", "a green heart", 4, "0, 1", "slerp", "cosine", 1.0,
                        outdir=tmp_path, progress=lambda d, t: calls.append((d, t)))
    recipe = json.loads(out.recipe)
    assert recipe["steps"] == 4 and recipe["seeds"] == [0, 1] and recipe["interp"] == "slerp"
    grid = Image.open(out.grid)
    cell = h.display_cell(32, 2)
    assert grid.width == 2 * cell + 3 * 2 and grid.height > 4 * cell  # captions under the rows
    assert json.loads(grid.text[RECIPE_KEY])["export"]["size"] == cell
    assert isinstance(out.plot, Image.Image) and out.plot.size == (720, 420)
    assert "Path of seed 0" in out.smoothness and "3 steps" in out.smoothness
    assert calls and calls[-1] == (8, 8)


def test_interpolate_friendly_errors(tiny_pipeline, tmp_path):
    with pytest.raises(gr.Error, match="prompt B"):
        h.interpolate(tiny_pipeline, "a", " ", 4, "0", "lerp", "linear", 1.0, outdir=tmp_path)
    with pytest.raises(gr.Error, match="number of seeds is 17, above the limit of 16"):
        h.interpolate(tiny_pipeline, "a", "b", 4, "0-16", "lerp", "linear", 1.0, outdir=tmp_path)
    with pytest.raises(gr.Error, match="unknown interpolation"):
        h.interpolate(tiny_pipeline, "a", "b", 4, "0", "cubic", "linear", 1.0, outdir=tmp_path)


# ------------------------------------------------------------------------------------------ blend and knobs
CORNERS = ("a red apple", "a smiling sun", "a slice of pizza", "a green heart")


def test_blend_grid_and_cell_to_knobs(tiny_pipeline, tmp_path):
    out = h.blend(tiny_pipeline, *CORNERS, 3, 5, 1.0, outdir=tmp_path)
    assert out.last_blend["rows"] == 3 and out.last_blend["seed"] == 5
    cell = h.display_cell(32, 3)
    grid = Image.open(out.grid)
    assert grid.size == (3 * cell + 4 * 2,) * 2
    native = explore.blend_grid(tiny_pipeline, list(CORNERS), rows=3, seed=5).pil()
    # Cell (1, 2): x = 1, y = 0.5 -> half top-right, half bottom-right.
    picked = h.blend_cell(tiny_pipeline, out.last_blend, 1, 2, outdir=tmp_path)
    assert picked[:4] == CORNERS
    assert picked[4:8] == pytest.approx((0.0, 0.5, 0.0, 0.5))
    assert (picked.x, picked.y, picked.seed, picked.truncation) == (1.0, 0.5, 5, 1.0)
    assert np.abs(_arr(picked.image) - _arr(native[1 * 3 + 2])).max() <= 1
    # A click in the middle of the displayed cell (1, 2) maps back to it.
    assert h.grid_cell(2 + 2 * (cell + 2) + cell / 2, 2 + (cell + 2) + cell / 2, 3, 3, cell) == (1, 2)


def test_blend_cell_needs_a_grid(tiny_pipeline, tmp_path):
    with pytest.raises(gr.Error, match="blend grid first"):
        h.blend_cell(tiny_pipeline, None, 0, 0, outdir=tmp_path)


def test_blend_limits(tiny_pipeline, tmp_path):
    with pytest.raises(gr.Error, match="limit of 12"):
        h.blend(tiny_pipeline, *CORNERS, 13, 0, 1.0, outdir=tmp_path)
    with pytest.raises(gr.Error, match="bottom-left prompt"):
        h.blend(tiny_pipeline, "a", "b", "", "d", 3, 0, 1.0, outdir=tmp_path)


def test_style_knob_one_hot_is_the_plain_image(tiny_pipeline, tmp_path):
    out = h.style_knob(tiny_pipeline, *CORNERS, 0, 2.5, 0, 0, 4, 1.0, True, outdir=tmp_path)
    direct = tiny_pipeline(CORNERS[1], seeds=[4]).images[0]
    assert np.array_equal(_arr(out.image), _arr(direct))
    assert "100% a smiling sun" in out.mix
    recipe = json.loads(Image.open(out.image).text[RECIPE_KEY])
    assert recipe["kind"] == "style" and recipe["seed"] == 4


def test_style_knob_mix_and_errors(tiny_pipeline, tmp_path):
    out = h.style_knob(tiny_pipeline, "a cat", "a dog", "", "", 1, 3, 0, 0, 0, 1.0, True, outdir=tmp_path)
    assert out.mix == "**Mix:** 25% a cat · 75% a dog"
    assert json.loads(out.recipe)["prompts"] == ["a cat", "a dog"]
    with pytest.raises(gr.Error, match="All weights are 0"):
        h.style_knob(tiny_pipeline, "a", "b", "c", "d", 0, 0, 0, 0, 0, 1.0, True, outdir=tmp_path)
    with pytest.raises(gr.Error, match="empty prompt has a weight"):
        h.style_knob(tiny_pipeline, "a", "", "c", "d", 1, 1, 0, 0, 0, 1.0, True, outdir=tmp_path)
    with pytest.raises(gr.Error, match="at least one prompt"):
        h.style_knob(tiny_pipeline, "", "", "", "", 0, 0, 0, 0, 0, 1.0, True, outdir=tmp_path)


# ------------------------------------------------------------------------------------------ walks and recipes
def test_walk_gif_and_mp4_and_recipe_roundtrip(tiny_pipeline, tmp_path):
    out = h.walk(tiny_pipeline, "a red apple\na green heart", "0, 1", "keyframes", 6, 12, "ping-pong", "cosine",
                 1.0, False, ["GIF", "MP4"], 64, outdir=tmp_path)
    frames = _gif_frames(out.gif_file)
    assert len(frames) == 2 * 6 - 2 and frames[0].shape == (64, 64, 3)
    assert out.preview == out.gif_file and out.video == out.mp4_file and os.path.getsize(out.mp4_file) > 0
    recipe = json.loads(out.recipe)
    assert recipe["frames"] == 6 and recipe["pingpong"] is True and recipe["fps"] == 12.0
    assert "10 frames" in out.info
    # The GIF's recipe makes the same frames again.
    again = h.render_recipe(tiny_pipeline, out.gif_file, outdir=tmp_path)
    assert again.file.endswith(".gif")
    assert all(np.array_equal(a, b) for a, b in zip(_gif_frames(again.file), frames))
    # So does the MP4's (into an MP4, with a GIF to look at).
    info = h.read_recipe(out.mp4_file)
    assert json.loads(info.recipe)["kind"] == "walk" and "**walk**" in info.summary
    again = h.render_recipe(tiny_pipeline, out.mp4_file, outdir=tmp_path)
    assert again.file.endswith(".mp4") and again.image.endswith(".gif")


def test_walk_only_gif_and_errors(tiny_pipeline, tmp_path):
    out = h.walk(tiny_pipeline, "a red apple", "3", "circle", 5, 10, "loop", "linear", 1.0, False, ["GIF"], 0, outdir=tmp_path)
    assert out.mp4_file is None and out.video is None and len(_gif_frames(out.gif_file)) == 5
    args = ("a red apple", "3", "circle", 5, 10, "loop", "linear", 1.0, False)
    with pytest.raises(gr.Error, match="GIF, MP4 or both"):
        h.walk(tiny_pipeline, *args, [], 0, outdir=tmp_path)
    with pytest.raises(gr.Error, match="playback"):
        h.walk(tiny_pipeline, "a", "3", "circle", 5, 10, "sideways", "linear", 1.0, False, ["GIF"], 0, outdir=tmp_path)
    with pytest.raises(gr.Error, match="frames is 481, above the limit of 480"):
        h.walk(tiny_pipeline, "a", "3", "circle", 481, 10, "loop", "linear", 1.0, False, ["GIF"], 0, outdir=tmp_path)
    with pytest.raises(gr.Error, match="stands still"):
        h.walk(tiny_pipeline, "a", "3", "keyframes", 5, 10, "once", "linear", 1.0, False, ["GIF"], 0, outdir=tmp_path)


def test_render_recipe_json_and_errors(tiny_pipeline, tmp_path):
    recipe = {"format": explore.RECIPE_FORMAT, "kind": "seeds", "prompts": ["a red apple"], "seeds": [0, 1], "truncation": 1.0, "batch_size": 8}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recipe))
    out = h.render_recipe(tiny_pipeline, str(path), outdir=tmp_path)
    assert Image.open(out.image).size == (2 * 32 + 3 * 2, 32 + 2 * 2)  # the plain grid, as the CLI writes it
    plain = tmp_path / "plain.png"
    save_png(Image.new("RGB", (8, 8)), plain)
    with pytest.raises(gr.Error, match="no recipe found"):
        h.render_recipe(tiny_pipeline, str(plain), outdir=tmp_path)
    with pytest.raises(gr.Error, match="Drop a PNG"):
        h.read_recipe(None)
    wrong = dict(recipe, model={"source": "checkpoint", "id": "elsewhere", "image_size": 64})
    path.write_text(json.dumps(wrong))
    with pytest.raises(gr.Error, match="image_size 64"):
        h.render_recipe(tiny_pipeline, str(path), outdir=tmp_path)


def test_render_recipe_notes_another_model(tiny_pipeline, tmp_path):
    recipe = {"kind": "seeds", "prompts": ["a"], "seeds": [0], "model": {"source": "checkpoint", "id": "other-model", "image_size": 32}}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recipe))
    with pytest.warns(UserWarning, match="other-model"):
        out = h.render_recipe(tiny_pipeline, str(path), outdir=tmp_path)
    assert "loaded model differs" in out.note


# ------------------------------------------------------------------------------------------ model
def test_describe_model_and_banner(tiny_pipeline):
    card, info = h.describe_model(tiny_pipeline)
    assert "| Output | 32×32 px, noise 16-d |" in card and "Parameters: generator" in card
    assert json.loads(info)["image_size"] == 32
    assert "32×32 px" in h.model_banner(tiny_pipeline)
