"""export.py: captioned grids, GIF and MP4 read back with imageio, recipes in files and sidecars."""

from __future__ import annotations

import json

import imageio.v2 as iio2
import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from galip_studio.export import (
    RECIPE_KEY,
    gif_durations,
    grid_image,
    load_recipe,
    make_grid,
    save_animation,
    save_gif,
    save_mp4,
    save_png,
    sidecar_path,
)

RECIPE = {"format": "galip-recipe/1", "kind": "walk", "prompts": ["a \"quoted\" cat; = # \\ é"], "seeds": [0, 1], "fps": 25.0}


def _frames(n: int, h: int = 32, w: int = 32, seed: int = 0) -> np.ndarray:
    """Distinct smooth frames (a moving gradient), so encoders keep every one."""
    y, x = np.mgrid[0:h, 0:w]
    out = [np.stack([(x * 8 + 20 * k) % 256, (y * 8 + 9 * k + seed) % 256, np.full_like(x, 40 * k % 256)], -1) for k in range(n)]
    return np.asarray(out, dtype=np.uint8)


def _no_temp_files(folder) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------------------------------ grids
def test_grid_image_without_labels_is_make_grid():
    ims = [Image.fromarray(f) for f in _frames(6)]
    assert np.array_equal(np.asarray(grid_image(ims, 3)), np.asarray(make_grid(ims, nrow=3)))


def test_grid_image_captions_under_rows_and_columns():
    ims = [Image.new("RGB", (40, 40), (255, 255, 255)) for _ in range(6)]
    plain = grid_image(ims, 3)
    captioned = grid_image(ims, 3, row_labels=["first row", "second"], col_labels=["seed 0", "seed 1", "seed 2"])
    assert captioned.width == plain.width and captioned.height > plain.height
    arr = np.asarray(captioned)
    # Dark text pixels appear below the first row's images and below the grid, never on the (white) tiles.
    tile_top = arr[2:42, 2:42]
    assert (tile_top == 255).all()
    assert (arr[42 : 42 + 12] < 128).any()
    assert (arr[-10:] < 128).any()
    with pytest.raises(ValueError, match="2 grid rows but 1 row labels"):
        grid_image(ims, 3, row_labels=["x"])
    with pytest.raises(ValueError, match="no images"):
        grid_image([], 3, row_labels=["x"])


# ------------------------------------------------------------------------------------------ PNG + recipes
def test_png_recipe_in_text_chunk_and_sidecar(tmp_path):
    path = save_png(Image.fromarray(_frames(1)[0]), tmp_path / "grid.png", RECIPE, sidecar=True)
    assert json.loads(Image.open(path).text[RECIPE_KEY]) == RECIPE
    assert sidecar_path(path).name == "grid.png.json"
    assert json.loads(sidecar_path(path).read_text()) == RECIPE
    assert load_recipe(path) == RECIPE
    assert load_recipe(sidecar_path(path)) == RECIPE
    assert _no_temp_files(tmp_path)
    # The old call still works and writes no sidecar.
    save_png(Image.fromarray(_frames(1)[0]), tmp_path / "plain.png")
    assert not sidecar_path(tmp_path / "plain.png").exists()


def test_recipe_errors(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "foreign.png")
    with pytest.raises(ValueError, match="no recipe found .*foreign.png.json"):
        load_recipe(tmp_path / "foreign.png")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_recipe(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="does not hold a GALIP Studio recipe"):
        load_recipe(tmp_path / "list.json")
    with pytest.raises(FileNotFoundError):
        load_recipe(tmp_path / "missing.gif")
    # A recipe that is not JSON is refused before anything is written.
    with pytest.raises(ValueError, match="cannot be written as JSON"):
        save_png(Image.new("RGB", (8, 8)), tmp_path / "x.png", {"kind": "walk", "bad": object()})
    assert not (tmp_path / "x.png").exists() and _no_temp_files(tmp_path)


# ------------------------------------------------------------------------------------------ GIF
def test_gif_durations_keep_exact_total_time():
    assert gif_durations(5, 25) == [40] * 5
    d = gif_durations(24, 24)
    assert sum(d) == 1000 and set(d) <= {40, 50}
    assert sum(gif_durations(30, 30)) == 1000
    assert all(abs(sum(gif_durations(k, 24)) - k * 1000 / 24) <= 5 for k in range(1, 50))
    with pytest.raises(ValueError, match="GIF fps must be in .*use MP4"):
        gif_durations(5, 60)


@pytest.mark.parametrize("fps", [25.0, 24.0, 12.5])
def test_gif_reads_back_with_frames_size_fps_loop_and_recipe(tmp_path, fps):
    path = save_gif(_frames(12, 24, 40), tmp_path / "walk.gif", fps, recipe=RECIPE)
    frames = iio.imread(path, index=None)
    assert frames.shape == (12, 24, 40, 3)
    durations = [iio.immeta(path, index=i)["duration"] for i in range(12)]
    assert 1000 * 12 / sum(durations) == pytest.approx(fps, rel=0.02)
    assert max(durations) - min(durations) <= 10
    assert iio.immeta(path)["loop"] == 0
    assert json.loads(Image.open(path).info["comment"]) == RECIPE
    sidecar_path(path).unlink()
    assert load_recipe(path) == RECIPE  # from the GIF comment alone


def test_gif_keeps_identical_frames_and_colours(tmp_path):
    src = _frames(3)
    frames = np.stack([src[0], src[0], src[1], src[1], src[2]])
    path = save_gif(frames, tmp_path / "still.gif", 10)
    back = iio.imread(path, index=None)
    assert back.shape[0] == 5  # nothing merged: the frame count is the one asked for
    assert np.array_equal(back[0], back[1])
    # Each frame has its own 256-colour palette; median cut is a little truer than the fast octree.
    fast = np.abs(back.astype(int) - frames.astype(int)).mean()
    best = np.abs(iio.imread(save_gif(frames, tmp_path / "best.gif", 10, quantizer="mediancut"), index=None).astype(int) - frames).mean()
    assert best < fast < 8
    with pytest.raises(ValueError, match="unknown GIF quantizer 'lzw'"):
        save_gif(frames, tmp_path / "x.gif", 10, quantizer="lzw")


def test_gif_pingpong_and_play_once(tmp_path):
    src = _frames(5)
    path = save_gif(src, tmp_path / "pp.gif", 10, pingpong=True, loop=False)
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == 8
    assert "loop" not in iio.immeta(path)
    # Palette quantisation is deterministic: frame k and frame 8 - k come from the same source frame.
    assert np.array_equal(frames[3], frames[5]) and np.array_equal(frames[1], frames[7])
    assert not sidecar_path(path).exists()  # no recipe, no sidecar


# ------------------------------------------------------------------------------------------ MP4
def test_mp4_reads_back_with_frames_size_fps_and_plays_in_browsers(tmp_path):
    path = save_mp4(_frames(10, 32, 48), tmp_path / "walk.mp4", 24, recipe=RECIPE)
    reader = iio2.get_reader(path, format="FFMPEG")
    meta = reader.get_meta_data()
    assert meta["fps"] == pytest.approx(24)
    assert meta["size"] == (48, 32)
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    assert reader.count_frames() == 10
    first = reader.get_data(0)
    reader.close()
    assert np.abs(first.astype(int) - _frames(1, 32, 48)[0].astype(int)).mean() < 8
    assert load_recipe(path) == RECIPE
    sidecar_path(path).unlink()
    assert load_recipe(path) == RECIPE  # from the MP4 comment tag
    assert _no_temp_files(tmp_path)


def test_mp4_recipe_of_any_size_and_characters_round_trips_through_the_comment_tag(tmp_path):
    """The tag goes through an ffmetadata file, not ffmpeg's command line: one argument is limited to
    128 KiB on Linux, so a recipe over it used to fail (E2BIG) instead of writing the file."""
    tricky = "a=b; c#d \\ e\\=f \\\n g\nline two\r\t é ü 猫 🐈 \u2028 \"q\" ;FFMETADATA1 [chapter]"
    big = dict(RECIPE, prompts=[tricky, "= ; # \\"], weights=[i / 7 for i in range(20000)], note="=;#\\" * 20000)
    assert len(json.dumps(big)) > 200_000
    for name, recipe in (("tricky.mp4", dict(RECIPE, prompts=[tricky])), ("big.mp4", big)):
        path = save_mp4(_frames(3), tmp_path / name, 24, recipe=recipe, sidecar=False)
        assert not sidecar_path(path).exists()
        assert load_recipe(path) == recipe  # from the MP4 comment tag alone
        assert iio.imread(path, index=None).shape == (3, 32, 32, 3)
    assert _no_temp_files(tmp_path)


def test_mp4_failing_to_store_the_recipe_is_an_error_and_leaves_nothing(tmp_path, monkeypatch):
    import galip_studio.export as export

    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'cannot mux: disk on fire' >&2\nexit 1\n")
    fake.chmod(0o755)
    add_metadata = export._add_metadata
    monkeypatch.setattr(export, "_add_metadata", lambda *a: add_metadata(*a[:3], str(fake)))
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="could not store the recipe.*disk on fire"):
        save_mp4(_frames(2), out / "walk.mp4", 24, recipe=RECIPE)
    assert list(out.iterdir()) == []  # no video, no sidecar, no temporary files


def test_mp4_pads_odd_sizes_to_even_and_checks_arguments(tmp_path):
    path = save_mp4(_frames(4, 33, 21), tmp_path / "odd.mp4", 30, pingpong=True, sidecar=False)
    reader = iio2.get_reader(path, format="FFMPEG")
    assert reader.get_meta_data()["size"] == (22, 34)
    assert reader.count_frames() == 6
    reader.close()
    with pytest.raises(ValueError, match="quality must be between 1 and 10"):
        save_mp4(_frames(2), tmp_path / "q.mp4", 24, quality=11)
    with pytest.raises(ValueError, match="MP4 fps must be in"):
        save_mp4(_frames(2), tmp_path / "q.mp4", 0)
    with pytest.raises(ValueError, match="same size"):
        save_mp4([Image.new("RGB", (8, 8)), Image.new("RGB", (10, 8))], tmp_path / "q.mp4", 24)
    assert not (tmp_path / "q.mp4").exists()


def test_save_animation_dispatches_by_suffix(tmp_path):
    frames = [Image.fromarray(f) for f in _frames(3)]
    assert save_animation(frames, tmp_path / "a.gif", 10, quality=5).exists()
    assert save_animation(frames, tmp_path / "a.mp4", 10, loop=True).exists()
    with pytest.raises(ValueError, match="use a .gif or .mp4 file name"):
        save_animation(frames, tmp_path / "a.avi", 10)


def test_gif_and_mp4_stream_from_a_generator_crisp_enlarged_exact_colours(tmp_path):
    """Frames may come one at a time (a generator: nothing holds them all); ``upscale=k`` makes every
    source pixel a k x k block of one colour, and a frame of at most 256 colours keeps them exactly
    (no quantisation error, no dithering)."""
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, (12, 3), dtype=np.uint8)
    src = [palette[rng.integers(0, 12, (6, 5))] for _ in range(4)]  # 12 colours a frame
    made = []

    def frames():
        for f in src:
            made.append(1)
            yield Image.fromarray(f)

    path = save_gif(frames(), tmp_path / "crisp.gif", 10, upscale=3)
    back = iio.imread(path, index=None)
    assert back.shape == (4, 18, 15, 3) and len(made) == 4
    for got, want in zip(back, src):
        assert np.array_equal(got, want.repeat(3, axis=0).repeat(3, axis=1))  # exact colours, 3 x 3 blocks
    mp4 = save_mp4(iter(src), tmp_path / "crisp.mp4", 10, upscale=4)
    assert iio.imread(mp4, index=None).shape[:3] == (4, 24, 20)
    with pytest.raises(ValueError, match="upscale must be a whole number"):
        save_gif(src, tmp_path / "x.gif", 10, upscale=1.5)
    with pytest.raises(ValueError, match="no frames"):
        save_gif(iter([]), tmp_path / "x.gif", 10)
    assert not (tmp_path / "x.gif").exists()


def test_crisp_size_is_a_whole_multiple():
    from galip_studio.export import crisp_size

    assert [crisp_size(64, s) for s in (64, 100, 128, 256, 512)] == [64, 128, 128, 256, 512]
    assert crisp_size(224, 256) == 224 and crisp_size(32, 8) == 32


def test_captions_spell_out_what_the_default_font_cannot_draw():
    """Pillow's default font has no σ (a directions strip's "+3σ" was a missing-glyph box): such
    characters are spelled out, so the caption is drawn exactly as "+3sigma" is."""
    from galip_studio.export import grid_image

    images = [Image.new("RGB", (64, 64), (200, 100, 50))] * 2
    drawn = grid_image(images, 2, col_labels=["-3σ", "+3σ"])
    spelled = grid_image(images, 2, col_labels=["-3sigma", "+3sigma"])
    assert np.array_equal(np.asarray(drawn), np.asarray(spelled))
