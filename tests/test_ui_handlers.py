"""The app's handlers as plain functions on the tiny model: outputs, files, recipes, friendly errors."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from galip_studio import explore
from galip_studio.export import RECIPE_KEY, save_png
from galip_studio.ui import handlers as h
from galip_studio.ui import history as hist
from galip_studio.ui import model_handlers as mh
from galip_studio.ui import plumbing as pl
from galip_studio.ui import recipe_handlers as rh
from galip_studio.ui.models import REPO_ROOT


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
    assert pl.parse_seeds("0, 1  2,5-7") == [0, 1, 2, 5, 6, 7]
    assert pl.parse_seeds(3) == [3]
    for bad, needle in [
        ("", "at least one seed"), ("a", "not a seed"), ("-1", "0 or more, got -1"), ("5-2", "backwards"), ("0-100000", "too many"),
        (-3, "0 or more, got -3"), (float("nan"), "whole number .* got nan"), (float("inf"), "got inf"), (1.5, "got 1.5"),
    ]:
        with pytest.raises(gr.Error, match=needle):
            pl.parse_seeds(bad)
    assert pl.parse_seeds(7.0) == [7]  # a number box without precision sends floats


@pytest.mark.parametrize("seed", [-1, float("nan"), 2.5])
def test_negative_and_nan_seeds_are_messages_in_generate_and_blend(tiny_pipeline, tmp_path, seed):
    with pytest.raises(gr.Error, match="seed"):
        h.generate(tiny_pipeline, "a red apple", 1, seed, 1.0, outdir=tmp_path)
    with pytest.raises(gr.Error, match="seed"):
        h.blend(tiny_pipeline, "a", "b", "c", "d", 2, seed, 1.0, outdir=tmp_path)


def test_inline_errors_keep_the_last_result_and_say_why():
    """The page's wrapper: a user's mistake becomes "no change" for every output and a message for
    the error line; a success clears the line; a long job's generator works the same way."""
    from galip_studio.ui.jobs import inline_errors

    def handler(x):
        if x < 0:
            raise pl.user_error("x must be 0 or more")
        return x, x * 2

    run = inline_errors(handler, 2)
    assert run(3) == (3, 6, "")
    skip_a, skip_b, line = run(-1)
    assert skip_a == skip_b == gr.skip() and line == "⚠ x must be 0 or more"

    def job(x):
        yield (gr.skip(), gr.skip())  # "no change yet", as a long job's generator yields while it works
        yield handler(x)

    assert list(inline_errors(job, 2)(3)) == [(gr.skip(), gr.skip(), ""), (3, 6, "")]  # the first yield clears the line
    assert list(inline_errors(job, 2)(-1))[-1] == (gr.skip(), gr.skip(), "⚠ x must be 0 or more")

    def other(x):
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):  # not a user's mistake: still an error
        inline_errors(other, 1)(0)


def test_blend_cell_rows_and_columns_must_be_whole_numbers_in_the_grid():
    for row, needle in [(-1, "not in a 3x3"), (3, "not in a 3x3"), (float("nan"), "row is a whole number"), (0.5, "row is a whole number")]:
        with pytest.raises(gr.Error, match=needle):
            h.cell_position(row, 0, 3)


def test_parse_prompts_one_per_line():
    assert pl.parse_prompts("a cat\n\n  a dog \n") == ["a cat", "a dog"]
    with pytest.raises(gr.Error, match="Type a prompt"):
        pl.parse_prompts("  \n ")


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
    stamp = time.time() - 2 * pl.OUTPUT_MAX_AGE_S
    os.utime(old, (stamp, stamp))
    a, b = pl.new_job_dir(tmp_path), pl.new_job_dir(tmp_path)
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
    again = rh.remake_from_recipe(tiny_pipeline, path, outdir=tmp_path)
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
def test_walk_export_frames_are_crisp_whole_multiples_and_all_there(tiny_pipeline, tmp_path):
    """Crisp pixels (the page's default): every frame enlarged a whole number of times with nearest
    neighbour, so each 4 x 4 block of a 128 px frame of the 32 px model is one colour; the GIF has
    the frames asked for. Smooth (Lanczos) is not blocky."""
    out = h.walk(tiny_pipeline, "a red apple\na green heart", "0, 1", "keyframes", 7, 12, "once", "linear",
                 1.0, False, ["GIF", "MP4"], 128, "nearest", outdir=tmp_path)
    frames = _gif_frames(out.gif_file)
    assert len(frames) == 7 and frames[0].shape == (128, 128, 3)
    for f in frames:
        blocks = f.reshape(32, 4, 32, 4, 3)
        assert (blocks == blocks[:, :1, :, :1]).all()
    import imageio.v3 as iio

    assert iio.imread(out.mp4_file, index=None).shape[:3] == (7, 128, 128)
    assert json.loads(Image.open(out.gif_file).info["comment"])["export"] == {
        "format": "gif", "size": 128, "fps": 12.0, "quality": 8.0, "loop": True, "resample": "nearest",
    }
    smooth = _gif_frames(h.walk(tiny_pipeline, "a red apple\na green heart", "0, 1", "keyframes", 3, 12, "once", "linear",
                                1.0, False, ["GIF"], 128, "lanczos", outdir=tmp_path).gif_file)[1].reshape(32, 4, 32, 4, 3)
    assert not (smooth == smooth[:, :1, :, :1]).all()
    # 100 px is not a whole multiple of 32: crisp pixels make 96 px (3x) and say so.
    odd = h.walk(tiny_pipeline, "a red apple", "0, 1", "keyframes", 2, 12, "once", "linear", 1.0, False, ["GIF"], 100, outdir=tmp_path)
    assert _gif_frames(odd.gif_file)[0].shape == (96, 96, 3) and "96 px, not 100" in odd.info


def test_walk_frames_times_size_is_bounded_before_anything_is_made(tiny_pipeline, tmp_path):
    with pytest.raises(gr.Error, match=r"480 frames of 1024x1024 px .* above the limit .* at most 120 frames"):
        h.walk(tiny_pipeline, "a", "0, 1", "keyframes", 480, 24, "loop", "linear", 1.0, False, ["GIF"], 1024, outdir=tmp_path)
    assert not list(tmp_path.iterdir())  # refused before any frame or folder was made


MEMORY_SCRIPT = """
import resource, sys, tempfile
sys.path.insert(0, {tests!r})
import torch
torch.set_num_threads(2)
from conftest import make_tiny_model
from galip_studio.pipeline import GALIPPipeline
from galip_studio.ui import handlers as h
pipe = GALIPPipeline(make_tiny_model(0), device="cpu")
h.generate(pipe, "warm up", 2, 0, 1.0, outdir=tempfile.mkdtemp())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
h.walk(pipe, "a red heart\\na smiling face\\na flag", "0, 1, 2", "keyframes", 480, 24, "loop", "cosine", 1.0, False,
       ["GIF", "MP4"], 512, outdir=tempfile.mkdtemp())
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""
WALK_PEAK_GROWTH_MB = 150


def test_a_maximum_walk_streams_its_frames_peak_memory_stays_small():
    """The largest walk the app allows (480 frames of 512 px, GIF and MP4) grows the process's peak
    memory by under 150 MB: frames are made, enlarged and encoded one at a time. (Before, every
    frame was held enlarged, twice, for each format: +1.2 GB for this walk, +5 GB at 1024 px.)"""
    import subprocess
    import sys

    code = MEMORY_SCRIPT.format(tests=str(Path(__file__).parent))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    growth = float(done.stdout.strip().splitlines()[-1])
    assert growth < WALK_PEAK_GROWTH_MB, f"peak RSS grew {growth:.0f} MB"


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
    again = rh.remake_from_recipe(tiny_pipeline, out.gif_file, outdir=tmp_path)
    assert again.file.endswith(".gif")
    assert all(np.array_equal(a, b) for a, b in zip(_gif_frames(again.file), frames))
    # So does the MP4's (into an MP4, with a GIF to look at).
    info = rh.read_recipe(out.mp4_file)
    assert json.loads(info.recipe)["kind"] == "walk" and "**walk**" in info.summary
    again = rh.remake_from_recipe(tiny_pipeline, out.mp4_file, outdir=tmp_path)
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
    out = rh.remake_from_recipe(tiny_pipeline, str(path), outdir=tmp_path)
    assert Image.open(out.image).size == (2 * 32 + 3 * 2, 32 + 2 * 2)  # the plain grid, as the CLI writes it
    plain = tmp_path / "plain.png"
    save_png(Image.new("RGB", (8, 8)), plain)
    with pytest.raises(gr.Error, match="no recipe found"):
        rh.remake_from_recipe(tiny_pipeline, str(plain), outdir=tmp_path)
    with pytest.raises(gr.Error) as e:
        rh.read_recipe(str(plain))
    assert "plain.png" in str(e.value) and str(tmp_path) not in str(e.value)  # the file's name, not where the server keeps it
    assert rh.read_recipe(None) == ("", "")  # a cleared file clears the summary: no error
    with pytest.raises(gr.Error, match="Drop a PNG"):
        rh.remake_from_recipe(tiny_pipeline, None, outdir=tmp_path)
    wrong = dict(recipe, model={"source": "checkpoint", "id": "elsewhere", "image_size": 64})
    path.write_text(json.dumps(wrong))
    with pytest.raises(gr.Error, match="image_size 64"):
        rh.remake_from_recipe(tiny_pipeline, str(path), outdir=tmp_path)


def test_render_recipe_notes_another_model(tiny_pipeline, tmp_path):
    recipe = {"kind": "seeds", "prompts": ["a"], "seeds": [0], "model": {"source": "checkpoint", "id": "other-model", "image_size": 32}}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recipe))
    with pytest.warns(UserWarning, match="other-model"):
        out = rh.remake_from_recipe(tiny_pipeline, str(path), outdir=tmp_path)
    assert "loaded model differs" in out.note
    # A `generate` recipe of an earlier version names its model by path: the same policy applies.
    path.write_text(json.dumps({"kind": "generate", "prompts": ["a"], "seeds": [0], "model": "runs/older"}))
    with pytest.warns(UserWarning, match="checkpoint “runs/older”"):
        out = rh.remake_from_recipe(tiny_pipeline, str(path), outdir=tmp_path)
    assert Image.open(out.image).size == (32, 32) and json.loads(out.recipe)["kind"] == "seeds"  # one image saved bare: bare again


# ------------------------------------------------------------------------------------------ model
def test_describe_model_and_banner(tiny_pipeline):
    card, info = mh.describe_model(tiny_pipeline)
    assert "| Output | 32×32 px, noise 16-d |" in card and "Parameters: generator" in card
    assert json.loads(info)["image_size"] == 32
    assert "32×32 px" in mh.model_banner(tiny_pipeline)


# ------------------------------------------------------------------------------------------ v2: knobs follow, no float noise
def test_knob_weights_have_no_float_noise_and_the_position_follows_them():
    for x in np.arange(0, 101, 7) / 100:
        for y in np.arange(0, 101, 9) / 100:
            w = h.knob_position(float(x), float(y))
            assert all(repr(v) == repr(round(v, 4)) and len(repr(v)) <= 6 for v in w), w  # e.g. 0.015, not 0.015000000000000013
            assert sum(w) == pytest.approx(1.0, abs=2e-4)
            assert h.weights_position(*w) == pytest.approx((round(float(x), 2), round(float(y), 2)), abs=1e-9)
    assert h.weights_position(0, 0, 0, 0) == (0.5, 0.5)
    assert h.weights_position(0, 2, 0, 2) == (1.0, 0.5)  # all on the right: x = 1, halfway down


# ------------------------------------------------------------------------------------------ v2: exports at a chosen size
def _blocks_uniform(im: Image.Image, cell: int, k: int) -> bool:
    """Whether each k x k block of the top-left cell (at 2 px padding) has one colour (nearest-neighbour upscaling)."""
    a = _arr(im)[2 : 2 + cell, 2 : 2 + cell]
    blocks = a.reshape(cell // k, k, cell // k, k, 3)
    return bool((blocks == blocks[:, :1, :, :1]).all())


def test_generate_exports_the_grid_at_a_chosen_size_named_after_every_prompt(tiny_pipeline, tmp_path):
    out = h.generate(tiny_pipeline, "a red apple\na green heart", 2, 0, 1.0, 128, "nearest", outdir=tmp_path)
    grid = Image.open(out.grid_file)
    assert grid.width == 2 * 128 + 3 * 2
    assert "a-red-apple" in out.grid_file and "a-green-heart" in out.grid_file and out.grid_file.endswith("-128px.png")
    assert _blocks_uniform(grid, 128, 4)  # crisp: every source pixel is a 4x4 block
    assert json.loads(grid.text[RECIPE_KEY])["export"] == {"format": "png", "size": 128, "captions": True, "resample": "nearest"}
    assert all(Image.open(p).size == (32, 32) for p, _ in out.gallery)  # the gallery keeps native images
    smooth = Image.open(h.generate(tiny_pipeline, "a red apple", 2, 0, 1.0, 128, "lanczos", outdir=tmp_path).grid_file)
    assert smooth.width == grid.width and not _blocks_uniform(smooth, 128, 4)
    native = h.generate(tiny_pipeline, "a red apple", 2, 0, 1.0, 0, "nearest", outdir=tmp_path)
    assert Image.open(native.grid_file).width == 2 * 32 + 3 * 2
    with pytest.raises(gr.Error, match="limit of 1024"):
        h.generate(tiny_pipeline, "a red apple", 1, 0, 1.0, 2048, "nearest", outdir=tmp_path)
    with pytest.raises(gr.Error, match="scaling must be one of"):
        h.generate(tiny_pipeline, "a red apple", 1, 0, 1.0, 64, "bicubic", outdir=tmp_path)
    # The nearest-scaled grid's recipe makes it again, scaled the same way.
    again = rh.remake_from_recipe(tiny_pipeline, out.grid_file, outdir=tmp_path)
    assert np.abs(_arr(again.file) - _arr(grid)).max() <= 1


def test_interpolate_and_blend_downloads_at_the_export_size(tiny_pipeline, tmp_path):
    out = h.interpolate(tiny_pipeline, "a red apple", "a green heart", 3, "0, 1", "lerp", "linear", 1.0, 64, "nearest", outdir=tmp_path)
    file = Image.open(out.file)
    assert file.width == 2 * 64 + 3 * 2 and file.height > 3 * 64  # captioned, at 64 px a cell
    assert json.loads(file.text[RECIPE_KEY])["export"]["size"] == 64
    assert Image.open(out.grid).width == 2 * h.display_cell(32, 2) + 3 * 2  # the one shown is sized for the screen
    blend = h.blend(tiny_pipeline, *CORNERS, 3, 5, 1.0, 64, "nearest", outdir=tmp_path)
    shown, file = Image.open(blend.grid), Image.open(blend.file)
    assert shown.size == (3 * h.display_cell(32, 3) + 4 * 2,) * 2  # the clickable grid has no captions
    assert file.width == 3 * 64 + 4 * 2 and file.height > file.width  # the download has the corner prompts under rows 1 and 3
    assert json.loads(file.text[RECIPE_KEY])["export"]["captions"] is True
    assert all(h._slug(c, 16) in blend.file for c in CORNERS)


# ------------------------------------------------------------------------------------------ v2: progress, stop, walk stages
def test_progress_text_says_what_how_far_and_the_time_left():
    assert pl.progress_text(0, 480, 0.0) == "0 / 480 images"
    assert pl.progress_text(120, 480, 3.0, "frames") == "frames · 120 / 480 images · 3 s so far, about 9 s left"
    assert pl.progress_text(60, 600, 12.0).endswith("about 1 min 48 s left")
    assert pl.progress_text(8, 8, 2.2) == "8 / 8 images · done in 2 s"


def test_walk_progress_explains_the_even_speed_measuring_pass(tiny_pipeline, tmp_path):
    notes: list[tuple[int, int, str]] = []
    h.walk(tiny_pipeline, "a red apple\na green heart", "0, 1", "keyframes", 4, 12, "once", "linear", 1.0, True, ["GIF"], 0,
           outdir=tmp_path, progress=lambda d, t, note=None: notes.append((d, t, note)))
    total = 4 * h.RETIME_DENSITY + 4
    assert notes[-1][:2] == (total, total)
    measuring = [n for d, t, n in notes if d <= 4 * h.RETIME_DENSITY]
    assert measuring and all("measuring the path (16 images, 4 per frame), then 4 frames" in n for n in measuring)
    assert notes[-1][2] == "frames (4 of 4)"
    plain: list[str] = []
    h.walk(tiny_pipeline, "a red apple\na green heart", "0, 1", "keyframes", 4, 12, "once", "linear", 1.0, False, ["GIF"], 0,
           outdir=tmp_path, progress=lambda d, t, note=None: plain.append(note))
    assert plain and set(plain) == {"frames"}


def test_stopped_notice():
    assert "Stopped after 120 of 480 images" in pl.stopped_notice(120, 480)
    assert pl.stopped_notice().startswith("⏹ **Stopped.**") and "from the run before" in pl.stopped_notice()
    assert "while saving (all 48 images were made" in pl.stopped_notice(48, 48)


# ------------------------------------------------------------------------------------------ v2: history and send-to
def test_history_keeps_the_newest_results_with_their_settings(tmp_path):
    past: list = []
    for k in range(hist.HISTORY_SIZE + 2):
        past = hist.add_history(past, "generate", {"prompt": f"p{k}", "seed": k}, {"gallery": [(f"/x/{k}.png", "seed")]}, image_key="gallery")
    assert len(past) == hist.HISTORY_SIZE and past[0].settings == {"prompt": f"p{hist.HISTORY_SIZE + 1}", "seed": hist.HISTORY_SIZE + 1}
    strip = hist.history_gallery(past)
    assert strip[0] == (f"/x/{hist.HISTORY_SIZE + 1}.png", f"Generate: p{hist.HISTORY_SIZE + 1} · seed {hist.HISTORY_SIZE + 1}")
    assert hist.history_entry(past, 1).result == {"gallery": [(f"/x/{hist.HISTORY_SIZE}.png", "seed")]}
    # the knobs replace their own last entry (one per visit); another tab in between keeps both
    past = hist.add_history(past, "knobs", {"prompt_1": "a"}, {"image": "/k1.png"}, image_key="image", replace_same=True)
    past = hist.add_history(past, "knobs", {"prompt_1": "b"}, {"image": "/k2.png"}, image_key="image", replace_same=True)
    assert [e.image for e in past[:2]] == ["/k2.png", f"/x/{hist.HISTORY_SIZE + 1}.png"]
    assert hist.add_history(past, "walk", {}, {"preview": None}, image_key="preview") == past  # nothing to show: not recorded
    with pytest.raises(gr.Error, match="no longer in this session's history"):
        hist.history_entry(past, 99)


def test_history_captions_say_what_each_item_is_and_a_remake_is_not_a_copy():
    recipe = json.dumps({"kind": "interpolate", "prompts": ["a flag", "a cat face"], "steps": 6})
    past: list = []
    for _ in range(6):  # the same recipe made again six times: one entry
        past = hist.add_history(past, "recipe", {}, {"image": "/r.png", "recipe": recipe}, image_key="image")
    assert [e.caption for e in past] == ["Recipe: interpolate of a flag / a cat face"]
    past = hist.add_history(past, "interpolate", {"prompt_a": "a flag", "prompt_b": "a house", "steps": 6}, {"grid": "/i.png"}, image_key="grid")
    past = hist.add_history(past, "walk", {"prompts": "a cat\na dog\na fox", "seeds": "0, 1"}, {"preview": "/w.gif"}, image_key="preview")
    past = hist.add_history(past, "directions", {"prompt": "a red heart", "seed": 3.0}, {"image": "/d.png"}, image_key="image")
    past = hist.add_history(past, "map", {"view": "PCA", "vocabulary": ""}, {"image": "/m.png"}, image_key="image")
    assert [e.caption for e in past] == [
        "Prompt map: PCA of the bundled phrases", "Directions: a red heart · seed 3", "Walk: a cat → a dog → a fox",
        "Interpolate: a flag → a house", "Recipe: interpolate of a flag / a cat face",
    ]


def test_gallery_item_and_send_to(tiny_pipeline, tmp_path):
    out = h.generate(tiny_pipeline, "a red apple\na green heart", 3, 7, 1.0, outdir=tmp_path)
    item = h.gallery_item(out.recipe, 4)  # second prompt, second seed
    assert item == ("a green heart", 8) and "seed **8**" in h.picked_text(item)
    recipe = json.loads(Image.open(out.gallery[4][0]).text[RECIPE_KEY])
    assert (recipe["prompts"][0], recipe["seeds"][0]) == item  # the same as the image's own recipe
    with pytest.raises(gr.Error, match="no image 7"):
        h.gallery_item(out.recipe, 6)
    with pytest.raises(gr.Error, match="Generate some images first"):
        h.gallery_item("", 0)
    assert h.send_to_knobs(item, "bottom-left", "a", "b", "c", "d") == ("a", "b", "a green heart", "d", 0, 0, 1.0, 0, 8)
    # the sent prompt gets a real share (weight 1), the other corners keep theirs
    assert h.send_to_knobs(item, "top-right", "a", "b", "c", "d", 0.5, 0.075, 0.2, 0.3)[4:] == (0.5, 1.0, 0.2, 0.3, 8)
    with pytest.raises(gr.Error, match="pick a corner"):
        h.send_to_knobs(item, "middle", "a", "b", "c", "d")
    assert h.send_to_interpolate(item, "A", "x", "y", "0, 8, 1") == ("a green heart", "y", "8, 0, 1")
    assert h.send_to_interpolate(item, "B", "x", "y", "") == ("x", "a green heart", "8")
    assert h.send_to_walk(item, "a red apple\n", "0") == ("a red apple\na green heart", "0, 8")
    # What was sent makes the picked image again: the knob with all weight on that corner.
    knob = h.style_knob(tiny_pipeline, *h.send_to_knobs(item, "top-left", "", "", "", ""), 1.0, True, outdir=tmp_path)
    assert np.abs(_arr(knob.image) - _arr(out.gallery[4][0])).max() <= 1


# ------------------------------------------------------------------------------------------ v2: the Model tab
def test_model_card_shows_what_a_user_needs_without_json_or_machine_paths(tiny_model, tmp_path):
    from galip_studio.checkpoint import save_checkpoint
    from galip_studio.pipeline import GALIPPipeline

    folder = tmp_path / "models" / "tiny-card"
    metrics = {"clip_score": 0.209, "clip_score_real": 0.18, "clip_fd": 0.2, "prompt_r1": 0.17, "raw_clip_score": 0.1, "eval_images": 256}
    save_checkpoint(tiny_model, folder, training={"step": 8000, "preset": "tiny", "metrics": metrics, "clip_dir": str(tmp_path / "clip")})
    Image.new("RGB", (16, 16), "red").save(folder / "samples.png")
    (folder / "MODEL_CARD.md").write_text(
        "# Tiny\n\n![samples](samples.png)\n\n*Rows: a red apple; columns: seeds 0-7.*\n\n![outside](../../secret.png)\n\n"
        "## Data\n\n5,667 images of 1,906 emoji, split by emoji.\n\n| split | images |\n|---|---|\n| train | 5,098 |\n\n## Limits\n\nsmall.\n"
    )
    (tmp_path / "secret.png").write_bytes((folder / "samples.png").read_bytes())
    pipe = GALIPPipeline.from_pretrained(folder, device="cpu")
    card, info = mh.describe_model(pipe)
    for needle in ("### Architecture", "Parameters: generator", "Parameters: total", "| steps trained | 8,000 |",
                   "5,667 images of 1,906 emoji", "| train | 5,098 |", "### Evaluation at step 8,000 (256 images)",
                   "| CLIP score (higher: images match their captions) | 0.209 | 0.180 |"):
        assert needle in card, needle
    assert "raw_clip_score" not in card and "{" not in card and str(tmp_path) not in card and "Limits" not in card
    assert json.loads(info)["image_size"] == 32  # the full describe() stays for API clients
    figures = mh.model_figures(pipe, outdir=tmp_path / "out")
    assert [caption for _, caption in figures] == ["Rows: a red apple; columns: seeds 0-7."]  # the file outside the folder is skipped
    assert Path(figures[0][0]).parent.parent == tmp_path / "out" and Image.open(figures[0][0]).size == (16, 16)
    assert mh.shown_path(REPO_ROOT / "checkpoints" / "galip-emoji-64") == "checkpoints/galip-emoji-64"
    assert mh.shown_path("/somewhere/else/model") == "model"
