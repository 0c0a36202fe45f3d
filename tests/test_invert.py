"""Your own image: variations, inversion, the ``vectors`` recipe kind, bad input, the CLI and the endpoints."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from galip_studio import explore, invert
from galip_studio.export import load_recipe


@pytest.fixture(scope="module")
def pipe():
    from conftest import make_tiny_model
    from galip_studio.pipeline import GALIPPipeline

    return GALIPPipeline(make_tiny_model(0), device="cpu")


@pytest.fixture(scope="module")
def gap(pipe):
    return invert.image_gap(pipe, phrases=16, cache=False)


@pytest.fixture(scope="module")
def planted(pipe):
    """An image the generator made from known (s, z)."""
    s = explore.encode(pipe, ["a red apple"])
    z = torch.randn(1, pipe.z_dim, generator=torch.Generator().manual_seed(123))
    return explore.synthesize(pipe, z, s, 1, None), s[0], z[0]


def _png(path, image: Image.Image):
    image.save(path)
    return path


# ------------------------------------------------------------------------------------------ inversion
def test_planted_image_is_recovered(pipe, gap, planted):
    target, s_true, _ = planted
    start = invert.invert(pipe, target, steps=0, seed=0, starts=2, gap=gap)
    found = invert.invert(pipe, target, steps=20, seed=0, starts=2, gap=gap)
    # Stated error on the tiny model (whose random images differ little, so the start is already
    # close: about 45 dB): after 20 steps the CLIP patch-token distance is at most 75 % of the
    # start's and below 0.002, the PSNR at least 0.5 dB higher and above 40 dB.
    assert found.distance <= 0.75 * start.distance and found.distance < 2e-3
    assert found.psnr > 40.0 and found.psnr > start.psnr + 0.5
    assert found.losses[-1] < found.losses[0]
    assert found.steps == 20 and not found.stopped
    assert torch.cosine_similarity(found.sentence, s_true, 0) > 0.5


def test_inversion_is_deterministic_and_stops(pipe, gap, planted):
    target = planted[0]
    a = invert.invert(pipe, target, steps=2, seed=5, starts=2, gap=gap)
    b = invert.invert(pipe, target, steps=2, seed=5, starts=2, gap=gap)
    assert torch.equal(a.noise, b.noise) and torch.equal(a.sentence, b.sentence) and torch.equal(a.image, b.image)
    seen = []
    c = invert.invert(pipe, target, steps=50, seed=5, starts=1, gap=gap, progress=lambda d, t: seen.append((d, t)), stop=lambda: len(seen) >= 3)
    assert c.stopped and c.steps == 3 and seen[-1] == (3, 50)


def test_inversion_recipe_renders_bit_identically(pipe, gap, planted, tmp_path):
    found = invert.invert(pipe, planted[0], steps=2, seed=0, starts=1, gap=gap)
    recipe = json.loads(json.dumps(found.recipe))  # as a file holds it
    assert recipe["kind"] == "vectors"
    again = explore.render_recipe(recipe, pipe)
    assert torch.equal(again.images, found.image)
    from galip_studio.export import save_png

    path = save_png(found.pil(), tmp_path / "r.png", found.recipe)
    assert torch.equal(explore.render_recipe(load_recipe(path), pipe).images, found.image)


def test_settings_are_bounded(pipe, planted):
    with pytest.raises(ValueError, match="above the limit of 2000"):
        invert.invert(pipe, planted[0], steps=5000)
    with pytest.raises(ValueError, match="starts"):
        invert.invert(pipe, planted[0], starts=100)
    with pytest.raises(ValueError, match="max_seconds"):
        invert.invert(pipe, planted[0], max_seconds=float("inf"))


# ------------------------------------------------------------------------------------------ variations
def test_variations_and_nearest_phrases(pipe, gap, tmp_path):
    path = _png(tmp_path / "red.png", Image.new("RGB", (50, 30), (200, 20, 20)))
    v = invert.variations(pipe, path, seeds=[0, 1, 2], gap=gap, nearest=3)
    assert v.render.images.shape == (3, 3, pipe.image_size, pipe.image_size)
    assert len(v.nearest) == 3 and all(isinstance(p, str) for p, _ in v.nearest)
    assert abs(float(v.sentence.norm()) - gap.norm) < 1e-3  # renormalised to the sentence vectors' length
    again = explore.render_recipe(json.loads(json.dumps(v.render.recipe)), pipe)
    assert torch.equal(again.images, v.render.images)


def test_gap_report_compares_corrections(pipe, gap):
    """The benchmark's gap study: each correction is scored by cosine to the caption and caption R@1."""
    captions = ["a red apple", "a cat face", "a red apple"]
    images = explore.synthesize(pipe, torch.randn(3, pipe.z_dim, generator=torch.Generator().manual_seed(1)), explore.encode(pipe, captions), 3, None)
    text = explore.encode(pipe, captions)
    report = invert.gap_report(pipe, images, captions, gap, {"perfect": lambda e: 3.0 * text, "wrong": lambda e: text[[1, 0, 1]]})
    assert report["images"] == 3 and report["captions"] == 2
    assert report["cos_perfect"] == pytest.approx(1.0, abs=1e-5) and report["r1_perfect"] == 1.0  # scale does not count
    assert report["r1_wrong"] == 0.0 and report["cos_wrong"] < 1.0
    assert {"cos_raw", "r1_raw", "cos_corrected", "r1_corrected"} <= set(report)

def test_vectors_recipe_is_validated(pipe):
    d, z = pipe.clip.embed_dim, pipe.z_dim
    good = explore.make_recipe(pipe, "vectors", sentence=[[0.1] * d], noise=[[0.0] * z], batch_size=1)
    explore.render_recipe(good, pipe)
    for bad, message in (
        (dict(good, sentence=[[0.1] * (d + 1)]), f"list of {d} numbers"),
        (dict(good, noise=[["x"] * z]), "finite number"),
        (dict(good, noise=[[1e9] * z]), "finite number"),
        (dict(good, sentence=[[0.1] * d] * 100), "above the limit"),
        (dict(good, sentence="not a list"), "non-empty list"),
        (dict(good, seeds=[0]), "one of the two"),
    ):
        with pytest.raises(ValueError, match=message):
            explore.render_recipe(bad, pipe)


# ------------------------------------------------------------------------------------------ input
def test_bad_inputs_give_one_line(tmp_path, monkeypatch):
    text = tmp_path / "notes.png"
    text.write_text("hello, not an image")
    with pytest.raises(invert.ImageInputError, match="not an image this tool can read"):
        invert.load_image(text)
    with pytest.raises(invert.ImageInputError, match="no such image file"):
        invert.load_image(tmp_path / "missing.png")
    big = _png(tmp_path / "big.png", Image.new("RGB", (20, 20)))
    monkeypatch.setattr(invert, "MAX_PIXELS", 100)
    with pytest.raises(invert.ImageInputError, match="400 pixels, above the limit of 100: scale it down"):
        invert.load_image(big)
    monkeypatch.setattr(invert, "MAX_FILE_BYTES", 10)
    with pytest.raises(invert.ImageInputError, match="above the limit"):
        invert.load_image(big)
    with pytest.raises(invert.ImageInputError, match="above the limit"):
        invert.load_image(big.read_bytes())


def test_a_pickle_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.png"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(invert.ImageInputError, match="not an image"):
        invert.load_image(path)
    assert not marker.exists()


def test_conversions(tmp_path):
    clear = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert invert.load_image(_png(tmp_path / "clear.png", clear)).getpixel((0, 0)) == (255, 255, 255)
    grey = Image.new("L", (8, 8), 100)
    assert invert.load_image(_png(tmp_path / "grey.png", grey)).getpixel((0, 0)) == (100, 100, 100)
    deep = Image.fromarray(np.full((8, 8), 32896, dtype=np.uint16))
    assert invert.load_image(_png(tmp_path / "deep.png", deep)).getpixel((0, 0)) == (128, 128, 128)  # scaled, not clipped
    frames = [Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    assert invert.load_image(tmp_path / "anim.gif").getpixel((4, 4)) == (255, 0, 0)  # the first frame
    wide = invert.image_tensor(Image.new("RGB", (40, 20), (0, 0, 0)), 16)
    assert wide.shape == (1, 3, 16, 16) and float(wide[0, :, 0, 8].min()) == 1.0  # padded with white


# ------------------------------------------------------------------------------------------ CLI
def test_cli_writes_its_files_and_render_makes_them_again(tiny_checkpoint, tmp_path, capsys):
    from galip_studio.cli import main

    image = _png(tmp_path / "in.png", Image.new("RGBA", (40, 40), (30, 160, 40, 255)))
    out = tmp_path / "out"
    args = ["--checkpoint", str(tiny_checkpoint), "--device", "cpu"]
    assert main(["invert", str(image), "--out", str(out), "--steps", "2", "--starts", "1", "--variations", "0", "1", *args]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["target.png", "reconstruction.png", "reconstruction.png.json", "vectors.safetensors", "variations.png", "variations.png.json", "recipe.json"]
    )
    assert "CLIP distance" in capsys.readouterr().out
    assert main(["render", str(out / "recipe.json"), "--out", str(tmp_path / "again.png"), *args]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "again.png")), np.asarray(Image.open(out / "reconstruction.png")))
    assert main(["invert", str(tmp_path / "nothing.png"), "--out", str(out), *args]) == 1
    assert "no such image file" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ app
def test_endpoints_through_gradio_client(app_url, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(app_url, verbose=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/image_variations", "/invert_image"} <= set(endpoints)
    image = _png(tmp_path / "in.png", Image.new("RGB", (40, 40), (200, 40, 40)))
    target, strip, nearest, recipe = client.predict(handle_file(str(image)), "0-1", 1.0, api_name="/image_variations")
    assert Image.open(strip).size[0] > Image.open(target).size[0] and "Nearest phrases" in nearest
    assert json.loads(recipe)["kind"] == "vectors"
    recon, summary, recipe, vectors = client.predict(handle_file(str(image)), 2, 0, 1, api_name="/invert_image")
    assert "2 steps" in summary and json.loads(recipe)["kind"] == "vectors" and str(vectors).endswith(".safetensors")
    text = tmp_path / "x.png"
    text.write_text("not an image")
    with pytest.raises(AppError, match="not an image this tool can read"):
        client.predict(handle_file(str(text)), "0", 1.0, api_name="/image_variations")
    with pytest.raises(AppError, match="greater than maximum"):  # the slider bounds the steps
        client.predict(handle_file(str(image)), 900, 0, 1, api_name="/invert_image")
