"""explore.py on the tiny random model: grids, style knob, walks, re-timing, recipes, limits, CLI."""

from __future__ import annotations

import copy
import json

import imageio.v2 as iio2
import imageio.v3 as iio
import numpy as np
import pytest
import torch

from galip_studio import explore, latent
from galip_studio.cli import main
from galip_studio.export import load_recipe, sidecar_path
from galip_studio.metrics import measure_path, pixel_steps, plot_path
from galip_studio.pipeline import GALIPPipeline, noise_from_seeds

PROMPTS = ["a red apple", "a blue car", "a small bird", "a snowy mountain"]


@pytest.fixture(scope="module")
def pipe(tiny_model) -> GALIPPipeline:
    """One tiny pipeline for the module (explore never changes the model)."""
    return GALIPPipeline(copy.deepcopy(tiny_model), device="cpu")


def _plain(pipe, prompt: str, seed: int) -> torch.Tensor:
    return pipe(prompt, seeds=[seed], output_type="pt").images


# ------------------------------------------------------------------------------------------ grids
def test_blend_grid_corners_bit_equal_to_plain_generations(pipe):
    r = explore.blend_grid(pipe, PROMPTS, rows=2, cols=3, seed=5, batch_size=1)
    assert r.images.shape == (6, 3, 32, 32) and (r.rows, r.cols) == (2, 3)
    for index, prompt in zip([0, 2, 3, 5], PROMPTS):
        assert torch.equal(r.images[index : index + 1], _plain(pipe, prompt, 5)), prompt
    # The edge cells are real blends: they differ from every corner.
    assert all((r.images[k] - r.images[i]).abs().mean() > 1e-4 for k in (1, 4) for i in (0, 2, 3, 5))


def test_blend_grid_in_batches_has_bit_equal_latents(pipe):
    r = explore.blend_grid(pipe, PROMPTS, rows=3, seed=2)  # batch_size 8
    vectors = pipe.encode(PROMPTS).cpu()
    for index, k in zip([0, 2, 6, 8], range(4)):
        assert torch.equal(r.sentence[index], vectors[k])
        torch.testing.assert_close(r.images[index : index + 1], _plain(pipe, PROMPTS[k], 2), atol=1e-5, rtol=0)
    assert torch.equal(r.noise, noise_from_seeds([2], pipe.z_dim).expand(9, -1))


def test_interpolation_grid_rows_steps_columns_seeds(pipe):
    r = explore.interpolation_grid(pipe, "a cat", "a dog", steps=4, seeds=[3, 9], batch_size=1)
    assert r.images.shape == (8, 3, 32, 32) and (r.rows, r.cols) == (4, 2)
    assert torch.equal(r.images[0:1], _plain(pipe, "a cat", 3))
    assert torch.equal(r.images[7:8], _plain(pipe, "a dog", 9))
    assert torch.equal(r.noise[0], r.noise[6]) and not torch.equal(r.noise[0], r.noise[1])
    assert r.col_labels == ["seed 3", "seed 9"] and r.row_labels[0] == "A: a cat" and r.row_labels[1] == "0.33"


def test_seed_grid_equals_pipeline_generation(pipe):
    r = explore.seed_grid(pipe, ["a cat", "a dog"], seeds=[0, 1, 2], batch_size=4)
    ref = pipe(["a cat", "a dog"], seeds=[0, 1, 2], batch_size=4, output_type="pt").images
    assert torch.equal(r.images, ref)


def test_style_knob_weights_and_position(pipe):
    one_hot = explore.style_knob(pipe, PROMPTS, [0, 0, 3, 0], seed=4)
    assert torch.equal(one_hot.images, _plain(pipe, PROMPTS[2], 4))
    corner = explore.style_knob(pipe, PROMPTS, position=(1.0, 0.0), seed=4)
    assert torch.equal(corner.images, _plain(pipe, PROMPTS[1], 4))
    centre = explore.style_knob(pipe, PROMPTS, position=(0.5, 0.5), seed=4)
    # The same sentence vector as the blend grid's centre cell, so the same image.
    assert torch.equal(centre.sentence[0], latent.bilinear_blend(pipe.encode(PROMPTS).cpu(), 3, 3)[1, 1])
    raw = explore.style_knob(pipe, PROMPTS[:2], [1.0, 1.0], normalize=False, seed=4)
    v = pipe.encode(PROMPTS[:2]).cpu()
    torch.testing.assert_close(raw.sentence[0], v[0] + v[1])
    assert centre.recipe["blend_weights"] == [0.25, 0.25, 0.25, 0.25]
    # Recorded at the precision they are used at (float32), without float noise: 0.525, not 0.5249999761581421.
    assert explore.style_knob(pipe, PROMPTS, position=(0.3, 0.25), seed=4).recipe["blend_weights"] == [0.525, 0.225, 0.175, 0.075]


# ------------------------------------------------------------------------------------------ walks
def test_loop_walk_returns_to_its_first_frame(pipe):
    kwargs = dict(seeds=[0, 1, 2], loop=True, easing="smoothstep", batch_size=1)
    r = explore.walk(pipe, ["a cat", "a dog"], frames=6, **kwargs)
    after_last = explore.walk(pipe, ["a cat", "a dog"], frames=1 + 1, times=[1.0, 0.5], **kwargs)
    assert torch.equal(after_last.noise[0], r.noise[0]) and torch.equal(after_last.sentence[0], r.sentence[0])
    assert torch.equal(after_last.images[0], r.images[0])
    steps = pixel_steps(r.images, closed=True)
    assert float(steps[-1]) < 2 * float(steps[:-1].mean())  # the closing step is an ordinary step
    assert r.recipe["loop"] is True and r.progress[-1] == pytest.approx(5 / 6)


def test_circle_walk_loops_with_constant_noise_norm(pipe):
    r = explore.walk(pipe, "a cat", frames=8, path="circle", seeds=[7], batch_size=1)
    assert r.recipe["seeds"] == [7, 8] and r.recipe["loop"] is True
    norms = r.noise.norm(dim=-1)
    torch.testing.assert_close(norms, norms[:1].expand(8), atol=1e-4, rtol=0)
    again = explore.walk(pipe, "a cat", frames=2, path="circle", seeds=[7], times=[1.0, 0.0], batch_size=1)
    assert torch.equal(again.images[0], r.images[0])


def test_pingpong_random_and_spline_walks(pipe):
    r = explore.walk(pipe, ["a cat", "a dog"], frames=5, pingpong=True)
    assert r.images.shape[0] == 8 and r.recipe["frames"] == 5
    assert torch.equal(r.images[3], r.images[5]) and torch.equal(r.images[1], r.images[7])
    rw = explore.walk(pipe, "a cat", frames=6, path="random", seeds=[1], step_size=0.3)
    assert rw.recipe["seeds"] == [1, 2] and torch.equal(rw.noise[0], noise_from_seeds([1], pipe.z_dim)[0])
    sp = explore.walk(pipe, "a cat", frames=7, path="spline", seeds=[0, 1, 2])
    assert torch.equal(sp.noise[-1], noise_from_seeds([2], pipe.z_dim)[0])


@pytest.mark.parametrize("space", ["pixel", "clip"])
def test_retime_evens_out_an_uneven_walk(pipe, space):
    kwargs = dict(frames=6, seeds=[0, 1], easing="cosine")  # eases in and out: slow ends, fast middle
    plain = explore.walk(pipe, "a cat", **kwargs)
    timed = explore.walk(pipe, "a cat", retime=space, retime_density=3, **kwargs)
    before = measure_path(pipe.clip, plain.images)
    after = measure_path(pipe.clip, timed.images)
    key = "pixel_smoothness" if space == "pixel" else "clip_smoothness"
    assert getattr(after, key).cv < 0.6 * getattr(before, key).cv
    assert timed.recipe["times"][0] == 0.0 and timed.recipe["times"][-1] == 1.0
    # The recorded times reproduce the re-timed frames without measuring again.
    assert torch.equal(explore.render_recipe(timed.recipe, pipe).images, timed.images)


def test_measure_path_and_plot(pipe):
    r = explore.walk(pipe, ["a cat", "a dog"], frames=6, loop=True)
    m = measure_path(pipe.clip, r.images, ["a cat", "a dog"], closed=True)
    assert len(m.clip_scores) == 6 and len(m.clip_scores[0]) == 2
    assert len(m.clip_steps) == 6 and len(m.pixel_steps) == 6
    assert m.pixel_smoothness.max >= m.pixel_smoothness.mean > 0 and m.pixel_smoothness.max_over_mean >= 1
    json.dumps(m.to_dict())
    assert plot_path(m, (400, 300)).size == (400, 300)


def test_progress_is_reported_per_batch(pipe):
    seen = []
    explore.seed_grid(pipe, ["a", "b"], seeds=[0, 1, 2], batch_size=4, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(4, 6), (6, 6)]
    seen.clear()  # re-timing: the dense pass and the final pass share one count
    explore.walk(pipe, ["a", "b"], frames=3, retime="pixel", retime_density=2, batch_size=4, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(4, 9), (6, 9), (9, 9)]


# ------------------------------------------------------------------------------------------ recipes
def test_recipe_round_trip_through_files(pipe, tmp_path):
    walk = explore.walk(pipe, ["a cat", "a dog"], frames=5, seeds=[0, 1], loop=True, fps=10)
    grid = explore.interpolation_grid(pipe, "a cat", "a dog", steps=3, seeds=[0, 1])
    knob = explore.style_knob(pipe, PROMPTS, [0.2, 0.3, 0.1, 0.4], seed=1)
    for render, name in [(walk, "w.gif"), (walk, "w.mp4"), (grid, "g.png"), (knob, "k.png")]:
        path = explore.save_render(render, tmp_path / name)
        recipe = load_recipe(path)
        assert recipe["model"]["z_dim"] == pipe.z_dim and recipe["galip_studio"]
        again = explore.render_recipe(recipe, pipe)
        assert torch.equal(again.images, render.images), name
    assert load_recipe(tmp_path / "w.mp4")["export"]["fps"] == 10.0
    gif = iio.imread(tmp_path / "w.gif", index=None)
    assert gif.shape == (5, 32, 32, 3)


def test_a_preset_model_is_named_with_its_seed():
    p = GALIPPipeline.from_preset("tiny", seed=3, device="cpu")
    info = explore.model_info(p)
    assert (info["source"], info["id"], info["seed"]) == ("preset", "tiny", 3)


def test_a_generate_recipe_of_an_earlier_version_renders_as_a_seed_grid(pipe, tmp_path):
    old = {"kind": "generate", "model": "tiny", "prompts": ["a cat"], "seeds": [1, 2], "truncation": 0.8, "galip_studio": "0.1.0"}
    again = explore.render_recipe(old, pipe)
    assert again.recipe["kind"] == "seeds" and torch.equal(again.images, explore.seed_grid(pipe, "a cat", [1, 2], truncation=0.8).images)
    assert explore.recipe_model(old) == {"source": "preset", "id": "tiny"}
    assert explore.recipe_model(dict(old, model=str(tmp_path))) == {"source": "checkpoint", "id": str(tmp_path)}
    assert explore.recipe_model({"kind": "seeds"}) == {}


def test_walk_export_has_asked_frames_size_and_fps(pipe, tmp_path):
    r = explore.walk(pipe, "a cat", frames=6, path="circle", fps=20)
    explore.save_render(r, tmp_path / "w.mp4", size=64)
    reader = iio2.get_reader(tmp_path / "w.mp4", format="FFMPEG")
    assert reader.get_meta_data()["fps"] == pytest.approx(20) and reader.get_meta_data()["size"] == (64, 64)
    assert reader.count_frames() == 6
    reader.close()
    explore.save_render(r, tmp_path / "w.gif", fps=12.5)
    assert iio.immeta(tmp_path / "w.gif", index=0)["duration"] == 80


def test_render_recipe_refuses_other_models_and_kinds(pipe):
    r = explore.style_knob(pipe, ["a cat"], seed=0)
    bad = dict(r.recipe, model=dict(r.recipe["model"], z_dim=100))
    with pytest.raises(ValueError, match="z_dim 100, but this model has 16: load the model"):
        explore.render_recipe(bad, pipe)
    with pytest.raises(ValueError, match="unknown recipe kind 'zoom'"):
        explore.render_recipe(dict(r.recipe, kind="zoom"), pipe)
    with pytest.raises(ValueError, match="format"):
        explore.render_recipe(dict(r.recipe, format="galip-recipe/9"), pipe)


# ------------------------------------------------------------------------------------------ errors and limits
@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: explore.interpolation_grid(p, "a", "b", steps=1), "steps must be a whole number of at least 2"),
        (lambda p: explore.interpolation_grid(p, "a", "b", steps=33, seeds=[0]), r"steps is 33, above the limit of 32: .*--no-limits"),
        (lambda p: explore.interpolation_grid(p, "a", "  ", steps=3), "prompt 2 is empty"),
        (lambda p: explore.interpolation_grid(p, "a", "b", seeds=[-1]), "seed -1 is out of range"),
        (lambda p: explore.interpolation_grid(p, "a", "b", interp="cubic"), "choose one of lerp, slerp"),
        (lambda p: explore.blend_grid(p, PROMPTS[:3]), "exactly 4 prompts"),
        (lambda p: explore.blend_grid(p, PROMPTS, rows=13), "grid rows is 13, above the limit of 12"),
        (lambda p: explore.seed_grid(p, ["a"] * 2, seeds=list(range(17))), "number of seeds is 17"),
        (lambda p: explore.style_knob(p, PROMPTS, [1, 1], seed=0), "4 prompts need 4 weights"),
        (lambda p: explore.style_knob(p, PROMPTS, [1, 0, 0, 0], position=(0, 0)), "either weights or a position"),
        (lambda p: explore.style_knob(p, PROMPTS[:3], position=(0, 0)), "exactly 4 prompts"),
        (lambda p: explore.style_knob(p, PROMPTS, position=(2, 0)), r"\[0, 1\]"),
        (lambda p: explore.walk(p, "a", frames=10), "stands still"),
        (lambda p: explore.walk(p, ["a", "b"], frames=10, loop=True, pingpong=True), "choose loop or pingpong"),
        (lambda p: explore.walk(p, "a", frames=10, path="random", loop=True), "cannot loop"),
        (lambda p: explore.walk(p, "a", path="random", step_size=2), r"step_size must be in \(0, 1\]"),
        (lambda p: explore.walk(p, "a", path="zigzag"), "unknown path 'zigzag'"),
        (lambda p: explore.walk(p, ["a", "b"], frames=481), "frames is 481, above the limit of 480"),
        (lambda p: explore.walk(p, ["a", "b"], fps=0), "fps must be a positive number"),
        (lambda p: explore.walk(p, ["a", "b"], frames=3, times=[0, 1]), "2 times given for 3 frames"),
        (lambda p: explore.walk(p, ["a", "b"], retime="lpips"), "unknown retime space"),
        (lambda p: explore.walk(p, ["a", "b"], truncation=1.5), r"truncation must be in \[0, 1\]"),
    ],
)
def test_invalid_arguments_raise_clear_errors(pipe, call, message):
    with pytest.raises(ValueError, match=message):
        call(pipe)


def test_no_limits_lifts_the_bounds(pipe, tmp_path):
    r = explore.interpolation_grid(pipe, "a", "b", steps=33, seeds=[0], limits=explore.NO_LIMITS)
    assert r.images.shape[0] == 33
    with pytest.raises(ValueError, match="size .* above the limit of 1024"):
        explore.save_render(r, tmp_path / "big.png", size=2048)
    with pytest.raises(ValueError, match="cannot save a grid as .*use a file name ending in .png"):
        explore.save_render(r, tmp_path / "grid.gif")


# ------------------------------------------------------------------------------------------ CLI
def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_interpolate_and_blend_write_pngs_with_recipes(tiny_checkpoint, tmp_path, capsys):
    model = ["--checkpoint", str(tiny_checkpoint)]
    code, out, _ = _run(capsys, "interpolate", "a cat", "a dog", "--steps", "3", "--seeds", "0", "1", "--out", str(tmp_path / "i.png"), *model)
    assert code == 0 and "wrote" in out
    recipe = load_recipe(tmp_path / "i.png")
    assert recipe["kind"] == "interpolate" and recipe["steps"] == 3 and recipe["seeds"] == [0, 1]
    assert recipe["model"] == dict(recipe["model"], source="checkpoint", id=str(tiny_checkpoint))
    assert sidecar_path(tmp_path / "i.png").exists()
    code, _, _ = _run(capsys, "blend", *PROMPTS, "--grid", "3", "--seed", "4", "--no-captions", "--out", str(tmp_path / "b.png"), *model)
    assert code == 0 and load_recipe(tmp_path / "b.png")["rows"] == 3


def test_cli_walk_and_render_reproduce_the_file(tiny_checkpoint, tmp_path, capsys):
    model = ["--checkpoint", str(tiny_checkpoint)]
    code, _, _ = _run(capsys, "walk", "a red apple", "--frames", "6", "--loop", "--fps", "12", "--out", str(tmp_path / "w.gif"), *model)
    assert code == 0
    recipe = load_recipe(tmp_path / "w.gif")
    assert recipe["path"] == "circle" and recipe["frames"] == 6 and recipe["fps"] == 12.0
    code, _, _ = _run(capsys, "walk", "a", "b", "--frames", "4", "--pingpong", "--out", str(tmp_path / "w.mp4"), *model)
    assert code == 0
    reader = iio2.get_reader(tmp_path / "w.mp4", format="FFMPEG")
    assert reader.count_frames() == 6 and reader.get_meta_data()["fps"] == pytest.approx(24)
    reader.close()
    # render: the model comes from the recipe; the same recipe gives the same file content.
    code, _, _ = _run(capsys, "render", str(tmp_path / "w.gif"), "--out", str(tmp_path / "again.gif"))
    assert code == 0
    assert np.array_equal(iio.imread(tmp_path / "w.gif", index=None), iio.imread(tmp_path / "again.gif", index=None))


def test_cli_crisp_walk_gif_is_a_whole_factor_nearest_enlargement_and_renders_again_byte_identically(tiny_checkpoint, tmp_path, capsys):
    """``--resample nearest`` (the app's crisp pixels): every frame of the GIF is the un-enlarged
    frame with each pixel made a k x k block (k whole: --size 100 of 32 px images makes 96 px), the
    recipe keeps the scaling, and ``render`` of the file writes the same bytes again."""
    walk = ["walk", "a red apple", "a blue car", "--seeds", "0", "1", "--frames", "4", "--loop", "--fps", "8", "--checkpoint", str(tiny_checkpoint)]
    assert _run(capsys, *walk, "--out", str(tmp_path / "native.gif"))[0] == 0
    assert _run(capsys, *walk, "--size", "100", "--resample", "nearest", "--out", str(tmp_path / "crisp.gif"))[0] == 0
    native, crisp = iio.imread(tmp_path / "native.gif", index=None), iio.imread(tmp_path / "crisp.gif", index=None)
    assert native.shape[:3] == (4, 32, 32) and crisp.shape[:3] == (4, 96, 96)
    assert np.array_equal(crisp, native.repeat(3, axis=1).repeat(3, axis=2))
    assert load_recipe(tmp_path / "crisp.gif")["export"] == dict(format="gif", size=96, fps=8.0, quality=8.0, loop=True, resample="nearest")
    assert "resample" not in load_recipe(tmp_path / "native.gif")["export"]  # the default (lanczos) as before
    assert _run(capsys, "render", str(tmp_path / "crisp.gif"), "--out", str(tmp_path / "again.gif"))[0] == 0
    assert (tmp_path / "again.gif").read_bytes() == (tmp_path / "crisp.gif").read_bytes()
    # Grids too: a crisp blend's cells are whole blocks, and the choices are the app's.
    assert _run(capsys, "blend", *PROMPTS, "--grid", "2", "--size", "64", "--resample", "nearest", "--no-captions",
                "--out", str(tmp_path / "b.png"), "--checkpoint", str(tiny_checkpoint))[0] == 0
    cell = iio.imread(tmp_path / "b.png")[2:66, 2:66]
    assert np.array_equal(cell, cell[::2, ::2].repeat(2, axis=0).repeat(2, axis=1))
    from galip_studio.cli.common import RESAMPLE_NAMES
    from galip_studio.export import RESAMPLERS
    assert RESAMPLE_NAMES == tuple(RESAMPLERS)


def test_cli_errors_are_one_line(tiny_checkpoint, tmp_path, capsys):
    model = ["--checkpoint", str(tiny_checkpoint)]
    code, _, err = _run(capsys, "interpolate", "a", "b", "--steps", "33", "--seeds", "0", "--out", str(tmp_path / "x.png"), *model)
    assert code == 1 and err.startswith("galip-studio: error: steps is 33, above the limit") and err.count("\n") == 1
    code, _, err = _run(capsys, "walk", "a", "b", "--out", str(tmp_path / "x.avi"), *model)
    assert code == 1 and ".gif, .mp4" in err
    code, _, _ = _run(capsys, "interpolate", "a", "b", "--steps", "33", "--seeds", "0", "--no-limits", "--out", str(tmp_path / "x.png"), *model)
    assert code == 0
    code, _, err = _run(capsys, "render", str(tmp_path / "nothing.png"), "--out", str(tmp_path / "y.png"))
    assert code == 1 and "no such file" in err


def test_cli_render_reproduces_a_generate_grid(tiny_checkpoint, tmp_path, capsys):
    first, again = tmp_path / "gen.png", tmp_path / "again.png"
    code, _, _ = _run(capsys, "generate", "a red apple", "-n", "3", "--seed", "2", "--checkpoint", str(tiny_checkpoint), "--out", str(first))
    assert code == 0
    code, _, _ = _run(capsys, "render", str(first), "--out", str(again))  # no export settings recorded: the plain grid
    assert code == 0
    assert np.array_equal(iio.imread(first), iio.imread(again))
    assert load_recipe(again)["kind"] == "seeds"
