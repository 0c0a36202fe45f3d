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
from galip_studio.pipeline import noise_from_seeds, to_pil


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
    with pytest.raises(ValueError, match="candidates is 300, above the limit of 256"):
        invert.invert(pipe, planted[0], candidates=300)
    with pytest.raises(ValueError, match="phrases is 21, above the limit of 20"):
        invert.invert(pipe, planted[0], phrases=21)


def test_inversion_keeps_its_best_point(pipe, gap, planted):
    """A step size far too large makes the loss worse; the result is still the best point reached."""
    start = invert.invert(pipe, planted[0], steps=0, seed=0, starts=2, candidates=4, phrases=0, gap=gap)
    wild = invert.invert(pipe, planted[0], steps=4, seed=0, starts=2, candidates=4, phrases=0, lr=1.0, gap=gap)
    assert max(wild.losses[1:]) > wild.losses[0]  # the steps went uphill...
    assert min(wild.start_losses) <= min(start.start_losses)  # ...and were not kept
    assert wild.best_step == 0 and torch.equal(wild.image, start.image)


def test_inversion_starts_from_the_nearest_phrases(pipe, gap):
    """An image made from a vocabulary phrase and a seed: the candidate search finds that very pair (no
    noise prior here: the tiny model's images differ so little that the prior's term would decide)."""
    from galip_studio.explore.directions import load_vocabulary

    def planted(phrase):
        target = explore.synthesize(pipe, noise_from_seeds([3], pipe.z_dim), explore.encode(pipe, [phrase]), 1, None)
        return target, [p for p, _ in invert.nearest_phrases(pipe, invert.image_sentence(pipe, target, gap), 5)]

    # The premise (the random tiny CLIP is no judge of images): a phrase whose image points back to it.
    phrase, target = next((p, target) for p in load_vocabulary(None)[0][:200] for target, near in [planted(p)] if p in near)
    found = invert.invert(pipe, target, steps=0, seed=0, starts=1, candidates=8, phrases=5, prior_weight=0.0, gap=gap)
    assert (found.start_from, found.start_seed) == (phrase, 3) and found.distance < 1e-3
    alone = invert.invert(pipe, target, steps=0, seed=0, starts=1, candidates=8, phrases=0, prior_weight=0.0, gap=gap)
    assert alone.start_from == "your image" and alone.distance > found.distance


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
    assert {"/image_variations", "/use_variation", "/invert_image"} <= set(endpoints)
    image = _png(tmp_path / "in.png", Image.new("RGB", (40, 40), (200, 40, 40)))
    target, strip, nearest, recipe = client.predict(handle_file(str(image)), "0-1", 1.0, api_name="/image_variations")
    assert Image.open(strip).size[0] > Image.open(target).size[0] and "Nearest phrases" in nearest
    assert json.loads(recipe)["kind"] == "vectors"
    # Variation 2 becomes the session's found point, and a walk's "[your image]" line starts there.
    _, summary, picked, _ = client.predict(recipe, 2, api_name="/use_variation")
    picked = json.loads(picked)
    assert "Variation 2" in summary and picked["noise"] is not None
    *_, info, walk_recipe = client.predict("[your image]\na flag", "0", "keyframes", 3, 12, "once", "linear", 1.0, False, ["GIF"], 0, api_name="/walk")
    walk_recipe = json.loads(walk_recipe)
    assert walk_recipe["prompts"][0]["label"] == "your image (seed 1)" and "starts at your image" in info
    assert walk_recipe["prompts"][0]["sentence"] == picked["sentence"][0] and walk_recipe["noise"] == picked["noise"]
    recon, summary, recipe, vectors = client.predict(handle_file(str(image)), 2, 0, 1, api_name="/invert_image")
    assert "2 steps" in summary and json.loads(recipe)["kind"] == "vectors" and str(vectors).endswith(".safetensors")
    # The same client's session now holds the found point: "[your image]" alone at a knob is the reconstruction.
    knob, mix, knob_recipe = client.predict("[your image]", "a flag", "", "", 1, 0, 0, 0, 0, 1.0, True, api_name="/style_knob")
    assert np.abs(np.asarray(Image.open(knob), dtype=int) - np.asarray(Image.open(recon), dtype=int)).max() <= 1
    assert json.loads(knob_recipe)["prompts"][0]["label"] == "your image"
    with pytest.raises(AppError, match="run Invert there first"):  # another session has found nothing
        Client(app_url, verbose=False).predict("[your image]", "a flag", "", "", 1, 0, 0, 0, 0, 1.0, True, api_name="/style_knob")
    text = tmp_path / "x.png"
    text.write_text("not an image")
    with pytest.raises(AppError, match="not an image this tool can read"):
        client.predict(handle_file(str(text)), "0", 1.0, api_name="/image_variations")
    with pytest.raises(AppError, match="greater than maximum"):  # the slider bounds the steps
        client.predict(handle_file(str(image)), 900, 0, 1, api_name="/invert_image")


# ------------------------------------------------------------------------------------------ the found point in other tabs
def _found(planted) -> dict:
    """The session's slot as a successful Invert leaves it, for the planted image's (s, z)."""
    return {"sentence": planted[1].tolist(), "noise": planted[2].tolist(), "label": "your image"}


def test_invert_image_fills_the_slot_with_the_point_it_shows(pipe, gap, planted, tmp_path, monkeypatch):
    from galip_studio.ui import invert_handlers as ih

    monkeypatch.setattr(ih, "_gap", lambda model: gap)
    image = _png(tmp_path / "t.png", explore.Render(planted[0], {}, 1, 1, planted[1][None], planted[2][None]).pil()[0])
    out = ih.invert_image(pipe, str(image), 2, 0, 1, outdir=tmp_path)
    s, z = torch.tensor([out.found["sentence"]]), torch.tensor([out.found["noise"]])
    assert np.array_equal(np.asarray(Image.open(out.reconstruction)), np.asarray(explore.Render(explore.synthesize(pipe, z, s, 1, None), {}, 1, 1, s, z).pil()[0]))


def test_your_image_in_a_knob_corner_is_the_found_point_and_its_recipe_remakes_it(pipe, planted, tmp_path):
    from galip_studio.export import load_recipe
    from galip_studio.ui import handlers as h
    from galip_studio.ui import invert_handlers as ih

    sent = ih.send_found_to_knobs(_found(planted), "top-right", "a red apple", "a flag", "a house", "a dog face", 0.5, 0.5, 0.5, 0.5, 7)
    assert sent.prompt_2 == "[your image]" and sent.weight_2 == 1.0 and sent.prompt_1 == "a red apple" and sent.seed == 7
    out = h.style_knob(pipe, *sent[:4], 0, 1.0, 0, 0, 7, 1.0, True, _found(planted), outdir=tmp_path)  # that corner alone
    assert np.allclose(np.asarray(Image.open(out.image), dtype=float), np.asarray(to_pil(planted[0])[0], dtype=float), atol=1)
    recipe = load_recipe(out.image)
    assert recipe["prompts"][1]["label"] == "your image" and len(recipe["noise"]) == pipe.z_dim
    again = explore.render_recipe(recipe, pipe)
    assert np.array_equal(np.asarray(again.pil()[0]), np.asarray(Image.open(out.image)))  # bit-identical
    mixed = h.style_knob(pipe, *sent[:4], *sent[4:8], 7, 1.0, True, _found(planted), outdir=tmp_path)
    assert torch.equal(explore.render_recipe(load_recipe(mixed.image), pipe).images, explore.render_recipe(load_recipe(mixed.image), pipe).images)


def test_your_image_as_interpolation_end_is_the_found_point_and_its_recipe_remakes_it(pipe, planted, tmp_path):
    from galip_studio.export import load_recipe
    from galip_studio.ui import handlers as h
    from galip_studio.ui import invert_handlers as ih

    a, b = ih.send_found_to_interpolate(_found(planted), "A", "a flag", "a house")
    assert (a, b) == ("[your image]", "a house")
    render = explore.interpolation_grid(pipe, _found(planted), "a house", steps=3, seeds=[0, 1], noise=[_found(planted)["noise"]])
    assert render.cols == 3 and render.col_labels[0] == "noise 1" and render.row_labels[0] == "A: your image"
    assert torch.allclose(render.images[0], planted[0][0], atol=1e-5)  # row A, the found noise: the found image
    recipe = json.loads(json.dumps(render.recipe))  # as a file holds it
    assert torch.equal(explore.render_recipe(recipe, pipe).images, render.images)
    out = h.interpolate(pipe, a, b, 3, "0, 1", "lerp", "linear", 1.0, 0, "nearest", _found(planted), outdir=tmp_path)
    assert json.loads(out.recipe)["noise"] == recipe["noise"] and "Path of noise 1" in out.smoothness
    assert torch.equal(explore.render_recipe(load_recipe(out.file), pipe).images, render.images)


def test_your_image_as_blend_corner_is_the_found_point_and_its_recipe_and_cells_remake_it(pipe, planted, tmp_path):
    from galip_studio.export import load_recipe
    from galip_studio.ui import handlers as h
    from galip_studio.ui import invert_handlers as ih

    corners = ih.send_found_to_blend(_found(planted), "bottom-right", "a red apple", "a flag", "a house", "a dog face")
    assert corners == ("a red apple", "a flag", "a house", "[your image]")
    out = h.blend(pipe, *corners, 3, 5, 1.0, 0, "nearest", _found(planted), outdir=tmp_path)
    render = explore.render_recipe(json.loads(json.dumps(out.last_blend)), pipe)  # as a file holds it
    assert torch.allclose(render.images[-1], planted[0][0], atol=1e-5)  # the corner is the found image
    assert torch.equal(explore.render_recipe(load_recipe(out.file), pipe).images, render.images)
    cell = h.blend_cell(pipe, out.last_blend, 2, 2, outdir=tmp_path)  # the corner, opened in the knobs
    assert cell.prompt_4 == "[your image]" and cell.weight_4 == 1.0
    assert np.array_equal(np.asarray(Image.open(cell.image)), np.asarray(explore.Render(render.images[-1:], {}, 1, 1, render.sentence, render.noise).pil()[0]))


def test_your_image_without_a_found_point_is_one_line(pipe, tmp_path):
    import gradio as gr

    from galip_studio.ui import handlers as h
    from galip_studio.ui import invert_handlers as ih

    with pytest.raises(gr.Error, match="run Invert there first"):
        h.style_knob(pipe, "[your image]", "a flag", "", "", 1, 1, 0, 0, 0, 1.0, True, None, outdir=tmp_path)
    with pytest.raises(gr.Error, match="run Invert there first"):
        h.interpolate(pipe, "a flag", "[Your Image]", 3, "0", "lerp", "linear", 1.0, outdir=tmp_path)
    with pytest.raises(gr.Error, match="run Invert first"):
        ih.send_found_to_knobs(None, "top-left", "a", "b", "c", "d", 1, 0, 0, 0, 0)
    with pytest.raises(gr.Error, match="run Invert first"):
        ih.send_found_to_interpolate(None, "B", "a", "b")
    with pytest.raises(gr.Error, match="run Invert there first"):
        h.blend(pipe, "a", "b", "c", "[your image]", 2, 0, 1.0, outdir=tmp_path)
    with pytest.raises(gr.Error, match="run Invert first"):
        ih.send_found_to_blend(None, "top-left", "a", "b", "c", "d")
    with pytest.raises(gr.Error, match="run Invert there first"):
        h.walk(pipe, "a flag\n[your image]", "0", "keyframes", 3, 12, "once", "linear", 1.0, False, ["GIF"], 0, outdir=tmp_path)
    with pytest.raises(gr.Error, match="run Invert first"):
        ih.send_found_to_walk(None, "a flag")


def test_points_in_recipes_are_validated(pipe, planted):
    point = _found(planted)
    with pytest.raises(ValueError, match="unknown keys"):
        explore.style_knob(pipe, [{**point, "code": "x"}])
    with pytest.raises(ValueError, match="finite number"):
        explore.style_knob(pipe, [{"sentence": [float("nan")] * pipe.clip.embed_dim, "label": "x"}])
    with pytest.raises(ValueError, match="this model's size"):
        explore.style_knob(pipe, [{"sentence": [0.0] * 3, "label": "x"}])
    with pytest.raises(ValueError, match="noise holds 17 vectors"):
        explore.interpolation_grid(pipe, point, "a flag", steps=2, seeds=[0], noise=[point["noise"]] * 17)


def test_your_image_in_a_walk_starts_there_and_its_recipe_remakes_the_gif(pipe, planted, tmp_path):
    from galip_studio.export import load_recipe
    from galip_studio.ui import handlers as h
    from galip_studio.ui import invert_handlers as ih
    from galip_studio.ui import recipe_handlers as rh

    # The send button puts "[your image]" first (an earlier such line moves up), the other lines kept.
    assert ih.send_found_to_walk(_found(planted), "a red apple\n[Your Image]\n\na flag") == "[your image]\na red apple\na flag"
    prompts = ih.send_found_to_walk(_found(planted), "a house")
    out = h.walk(pipe, prompts, "0", "keyframes", 4, 12, "loop", "linear", 1.0, False, ["GIF"], 0, "nearest", _found(planted), outdir=tmp_path)
    assert "starts at your image" in out.info
    recipe = load_recipe(out.gif_file)
    assert recipe["prompts"][0]["label"] == "your image" and recipe["prompts"][1] == "a house"
    assert recipe["noise"] == [torch.tensor(_found(planted)["noise"]).tolist()] and recipe["seeds"] == [0]
    again = explore.render_recipe(recipe, pipe)
    assert torch.allclose(again.images[0], planted[0][0], atol=1e-5)  # the first frame is the found image
    assert torch.equal(again.noise[0], planted[2]) and torch.equal(again.sentence[0], planted[1])
    assert "“your image”; “a house”" in rh.read_recipe(out.gif_file).summary  # the point by its label, not its numbers
    remade = rh.remake_from_recipe(pipe, out.gif_file, outdir=tmp_path).file  # the Recipe tab
    with Image.open(out.gif_file) as a, Image.open(remade) as b:
        assert a.n_frames == b.n_frames == 4
        for k in range(4):
            a.seek(k), b.seek(k)
            assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))  # frame for frame, bit for bit
    elsewhere = h.walk(pipe, "a house\n[your image]", "0", "keyframes", 3, 12, "once", "linear", 0.7, False, ["GIF"], 0, "nearest", _found(planted), outdir=tmp_path)
    assert "put [your image] on the first line" in elsewhere.info


def test_your_image_starts_a_circle_and_a_random_walk(pipe, planted, tmp_path):
    import gradio as gr

    from galip_studio.ui import handlers as h

    circle = explore.walk(pipe, [_found(planted)], frames=4, path="circle", seeds=[3], noise=[_found(planted)["noise"]])
    assert circle.recipe["seeds"] == [3] and torch.allclose(circle.images[0], planted[0][0], atol=1e-5)
    torch.testing.assert_close(circle.noise.norm(dim=-1), planted[2].norm().expand(4), atol=1e-4, rtol=0)  # around the found noise's circle
    assert torch.equal(explore.render_recipe(json.loads(json.dumps(circle.recipe)), pipe).images, circle.images)
    rw = explore.walk(pipe, [_found(planted), "a flag"], frames=4, path="random", seeds=[5], noise=[_found(planted)["noise"]], pingpong=True)
    assert torch.equal(rw.noise[0], planted[2])  # steps drawn from seed 5
    with pytest.raises(gr.Error, match="give one seed"):
        h.walk(pipe, "[your image]", "0, 1", "circle", 4, 12, "loop", "linear", 1.0, False, ["GIF"], 0, "nearest", _found(planted), outdir=tmp_path)
    with pytest.raises(ValueError, match="one or two noise keyframes"):
        explore.walk(pipe, "a flag", frames=4, path="circle", seeds=[1, 2], noise=[_found(planted)["noise"]])
    with pytest.raises(ValueError, match="this model's size"):
        explore.walk(pipe, "a flag", frames=4, seeds=[1], noise=[[0.0] * 3])
    with pytest.raises(gr.Error, match="at most 4 lines"):
        h.walk(pipe, "\n".join(["[your image]", "a flag"] * 5), "0", "keyframes", 4, 12, "loop", "linear", 1.0, False, ["MP4"], 0, "nearest", _found(planted), outdir=tmp_path)


def test_use_variation_makes_that_variation_the_found_point(pipe, gap, tmp_path, monkeypatch):
    from galip_studio.ui import handlers as h
    from galip_studio.ui import invert_handlers as ih

    monkeypatch.setattr(ih, "_gap", lambda model: gap)
    image = _png(tmp_path / "red.png", Image.new("RGB", (30, 30), (200, 20, 20)))
    v = ih.image_variations(pipe, str(image), "3-5", 0.8, outdir=tmp_path)
    used = ih.use_variation(pipe, v.recipe, 2, outdir=tmp_path)
    assert used.found["label"] == "your image (seed 4)" and "Variation 2" in used.summary and "ψ 0.8" in used.summary
    # Sent to a knob corner alone: the image of variation 2 (seed 4 at ψ 0.8), whatever the knob's seed and truncation.
    sent = ih.send_found_to_knobs(used.found, "top-left", "", "", "", "", 0, 0, 0, 0, 9)
    knob = h.style_knob(pipe, *sent[:4], *sent[4:8], sent.seed, 1.0, True, used.found, outdir=tmp_path)
    variation = invert.vector_grid(pipe, json.loads(v.recipe)["sentence"], seeds=[4], truncation=0.8, batch_size=1)
    assert np.array_equal(np.asarray(Image.open(knob.image)), np.asarray(variation.pil()[0]))
    assert np.array_equal(np.asarray(Image.open(used.reconstruction)), np.asarray(variation.pil()[0]))
    in_strip = explore.render_recipe(json.loads(v.recipe), pipe).images[1]  # drawn 3 at a time: the last bit may round apart
    assert torch.allclose(in_strip, variation.images[0], atol=1e-5)
    import gradio as gr

    with pytest.raises(gr.Error, match="Run Variations first"):
        ih.use_variation(pipe, "", 1, outdir=tmp_path)
    for wrong in (4, 0, 1.5, float("inf"), None):
        with pytest.raises(gr.Error, match="from 1 to 3"):
            ih.use_variation(pipe, v.recipe, wrong, outdir=tmp_path)
    with pytest.raises(gr.Error, match="Run Variations first"):
        ih.use_variation(pipe, "[" * 100_000, 1, outdir=tmp_path)  # nested too deep for JSON: one line, not a crash


def test_variations_and_inversion_on_an_official_224_model(tmp_path):
    """The official checkpoints' architecture (CLIP ViT-B/32 inside G and D, 224 px; random weights
    here, as no real weights are reachable offline): variations and inversion run, and the found
    point's recipe renders the same image again."""
    from galip_studio.config import get_preset
    from galip_studio.nets import GALIP
    from galip_studio.pipeline import GALIPPipeline

    preset = get_preset("official-224")
    preset.clip.pretrained = None
    torch.manual_seed(0)
    pipe = GALIPPipeline(GALIP.from_configs(preset.galip, preset.clip).eval(), device="cpu")
    assert pipe.image_size == 224
    gap = invert.image_gap(pipe, phrases=2, cache=False)
    image = _png(tmp_path / "red.png", Image.new("RGB", (300, 200), (200, 20, 20)))
    v = invert.variations(pipe, image, seeds=[0], gap=gap, nearest=0)
    assert v.render.images.shape == (1, 3, 224, 224)
    found = invert.invert(pipe, image, steps=1, seed=0, starts=1, candidates=2, phrases=0, gap=gap)
    assert found.image.shape == (1, 3, 224, 224) and found.steps == 1
    assert torch.equal(explore.render_recipe(json.loads(json.dumps(found.recipe)), pipe).images, found.image)
