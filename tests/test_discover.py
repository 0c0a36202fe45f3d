"""explore/directions.py and explore/map.py on the tiny random model: PCA maths, directions, strips, the prompt map, recipes, CLI, app endpoints."""

from __future__ import annotations

import copy
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from galip_studio import explore
from galip_studio.checkpoint import save_checkpoint
from galip_studio.cli import main
from galip_studio.export import RECIPE_KEY, load_recipe
from galip_studio.pipeline import GALIPPipeline

VOCAB = ["a red apple", "a green pear", "a cat face", "a dog face", "a blue car", "a smiling sun", "a red heart", "a house"]


@pytest.fixture(scope="module")
def pipe(tiny_model) -> GALIPPipeline:
    return GALIPPipeline(copy.deepcopy(tiny_model), device="cpu")


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, tiny_model):
    """This module's own tiny checkpoint (it overrides conftest's, also for the app), so that nothing
    done here shows up in other modules' checkpoint folders."""
    path = tmp_path_factory.mktemp("discover-ckpt") / "tiny"
    save_checkpoint(tiny_model, path, training={"note": "test"})
    return path


@pytest.fixture(autouse=True)
def _no_home_cache(tmp_path, monkeypatch):
    """Caches of models without a folder (presets) go to a temporary folder, never the home directory."""
    monkeypatch.setenv("GALIP_STUDIO_CACHE", str(tmp_path / "cache"))


# ------------------------------------------------------------------------------------------ maths
def test_pca_recovers_a_known_low_rank_set():
    gen = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(20, 3, generator=gen, dtype=torch.float64))  # 3 orthonormal axes in 20-d
    scales = torch.tensor([5.0, 2.0, 0.5], dtype=torch.float64)
    raw = torch.randn(400, 3, generator=gen, dtype=torch.float64)
    q, _ = torch.linalg.qr(raw - raw.mean(0))  # uncorrelated, centred columns: the axes are exactly the basis
    coords = q * scales * 399**0.5  # standard deviations exactly `scales`
    data = coords @ basis.T + 7.0
    res = explore.pca(data, 5)
    assert res.components.shape == (5, 20)
    # The first three components span the basis, in order of variance; nothing is left for the rest.
    overlap = (res.components[:3] @ basis).abs()
    assert torch.allclose(overlap, torch.eye(3, dtype=torch.float64), atol=1e-6)
    torch.testing.assert_close(res.sigma[:3], scales)
    assert res.ratio[:3].sum() == pytest.approx(1.0, abs=1e-9) and res.sigma[3:].max() < 1e-6
    # Coordinates reconstruct the data exactly.
    torch.testing.assert_close(res.coords[:, :3] @ res.components[:3] + res.mean, data)


def test_regression_maps_components_back_to_the_input():
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(300, 6, generator=gen, dtype=torch.float64)
    lift = torch.randn(6, 40, generator=gen, dtype=torch.float64)
    res = explore.pca(z @ lift, 6)  # a linear "activation": every component comes from one input direction
    u = explore.directions.regress_directions(res.coords, z)
    torch.testing.assert_close(res.coords @ u, z - z.mean(0), atol=1e-8, rtol=0)


def test_map_blend_is_exact_at_vocabulary_points_and_continuous():
    gen = torch.Generator().manual_seed(2)
    coords = torch.randn(30, 2, generator=gen, dtype=torch.float64)
    vectors = torch.randn(30, 16, generator=gen)
    for i in range(30):
        w = explore.map_weights(coords, coords[i])
        assert w[i] == 1.0 and w.sum() == 1.0
        assert torch.equal(explore.map_sentence(vectors, coords, coords[i]), vectors[i])
    # Between points: a convex blend of at most `neighbors` prompts, changing smoothly along a line.
    line = torch.stack([torch.linspace(-2, 2, 2001, dtype=torch.float64), torch.full((2001,), 0.3, dtype=torch.float64)], 1)
    w = explore.map_weights(coords, line, neighbors=4)
    assert ((w > 0).sum(1) <= 4).all() and torch.allclose(w.sum(1), torch.ones(2001, dtype=torch.float64))
    assert (w[1:] - w[:-1]).abs().max() < 0.1


# ------------------------------------------------------------------------------------------ directions and strips
def test_noise_directions_and_a_strip_reproducible_from_its_recipe(pipe):
    found = explore.noise_directions(pipe, "a red apple", components=3, samples=48, seed=1)
    assert found.vectors.shape == (3, pipe.z_dim) and found.sigma.shape == (3,)
    torch.testing.assert_close(found.vectors.norm(dim=1), torch.ones(3))
    assert (found.ratio[:-1] >= found.ratio[1:]).all() and found.cached is None  # an in-memory model is not cached
    r = explore.strips(pipe, found, [0, 2], seed=4, steps=5)
    assert r.images.shape == (10, 3, 32, 32) and (r.rows, r.cols) == (2, 5)
    assert r.col_labels == ["-3σ", "-1.5σ", "0", "+1.5σ", "+3σ"] and r.row_labels[1].startswith("noise PC3")
    # The middle column is the image itself; the ends differ from it.
    plain = pipe("a red apple", seeds=[4], output_type="pt").images
    torch.testing.assert_close(r.images[2:3], plain, atol=1e-5, rtol=0)
    assert (r.images[0] - r.images[2]).abs().mean() > 1e-3
    again = explore.render_recipe(json.loads(json.dumps(r.recipe)), pipe)
    assert torch.equal(again.images, r.images)


def test_sentence_directions_over_a_vocabulary(pipe):
    found = explore.sentence_directions(pipe, VOCAB, components=3)
    vectors = pipe.encode(VOCAB).cpu().double()
    torch.testing.assert_close(found.vectors.double() @ found.vectors.double().T, torch.eye(3, dtype=torch.float64), atol=1e-5, rtol=0)
    centred = vectors - vectors.mean(0)
    torch.testing.assert_close((centred @ found.vectors.double().T).std(0), found.sigma, atol=1e-4, rtol=1e-4)
    assert all(len(low) == 3 and len(high) == 3 and set(low + high) <= set(VOCAB) for low, high in found.ends)
    r = explore.strips(pipe, found, [1], prompt="a cat face", steps=3, span=2.0)
    assert r.images.shape[0] == 3 and r.recipe["space"] == "sentence"
    assert torch.equal(explore.render_recipe(r.recipe, pipe).images, r.images)


def test_limits_and_errors(pipe):
    with pytest.raises(ValueError, match="above the limit of 15"):
        explore.strips(pipe, explore.sentence_directions(pipe, VOCAB, components=2), [0], prompt="a", steps=21)
    with pytest.raises(ValueError, match="above the limit of 32"):
        explore.noise_directions(pipe, "a", components=40)
    with pytest.raises(ValueError, match="component 5 does not exist"):
        explore.strips(pipe, explore.sentence_directions(pipe, VOCAB, components=2), [4], prompt="a")
    with pytest.raises(ValueError, match="vocabulary"):
        explore.sentence_directions(pipe, VOCAB, limits=explore.Limits(max_vocabulary=4))
    with pytest.raises(ValueError, match="span"):
        explore.direction_strip(pipe, "noise", [[0.0] * pipe.z_dim], [1.0], prompt="a", span=0)
    assert explore.noise_directions(pipe, "a", components=2, samples=8, limits=explore.NO_LIMITS).vectors.shape[0] == 2


def test_directions_are_cached_in_the_cache_folder(tiny_checkpoint, tmp_path):
    p = GALIPPipeline.from_pretrained(tiny_checkpoint, device="cpu")
    first = explore.noise_directions(p, "a red apple", components=2, samples=16)
    folder = tmp_path / "cache" / "discover"
    assert first.cached and str(folder) in first.cached and not (tiny_checkpoint / "discover").exists()
    second = explore.noise_directions(p, "a red apple", components=2, samples=16)
    assert second.cached == "hit" and torch.equal(first.vectors, second.vectors) and second.settings == first.settings
    umask = os.umask(0)
    os.umask(umask)
    assert {f.stat().st_mode & 0o777 for f in folder.iterdir()} == {0o666 & ~umask}
    other = explore.noise_directions(p, "a red apple", components=2, samples=17)
    assert other.cached != "hit"


def test_vocabulary_sources(tmp_path):
    prompts, source = explore.load_vocabulary()
    assert source == "bundled" and len(prompts) >= 300 and "a red apple" in prompts and len(set(prompts)) == len(prompts)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("a cat\na 3d emoji of a cat\n")
    (tmp_path / "y.txt").write_text("a dog\na cat\n\n")
    assert explore.load_vocabulary(tmp_path)[0] == ["a cat", "a 3d emoji of a cat", "a dog"]
    with pytest.raises(FileNotFoundError):
        explore.load_vocabulary(tmp_path / "missing")


# ------------------------------------------------------------------------------------------ prompt map
def test_prompt_map_point_walk_and_atlas(pipe, tmp_path):
    m = explore.prompt_map(pipe, VOCAB, view="pca")
    assert m.coords.shape == (len(VOCAB), 2) and len(m.ratio) == 2
    # Pixels and map coordinates are inverse maps.
    x, y = m.point_of("a cat face")
    assert m.from_pixel(*m.to_pixel(x, y)) == pytest.approx((x, y))
    assert m.image(path=[(x, y), m.point_of("a house")], marker=(x, y)).size == (m.size, m.size)
    # A vocabulary point gives exactly that prompt's image.
    r = explore.map_point(pipe, m.prompts, m.coords.tolist(), (x, y), seed=3)
    assert r.recipe["kind"] == "style" and r.recipe["prompts"] == ["a cat face"] and r.recipe["map"]["point"] == [x, y]
    assert torch.equal(r.images, pipe("a cat face", seeds=[3], output_type="pt").images)
    assert torch.equal(explore.render_recipe(r.recipe, pipe).images, r.images)
    # A path: frames, recipe with only the prompts it uses, GIF/MP4 export, the same frames again.
    path = [m.point_of("a red apple"), m.point_of("a cat face"), (0.0, 0.0)]
    w = explore.map_walk(pipe, m.prompts, m.coords.tolist(), path, frames=6, seed=1)
    assert w.images.shape[0] == 6 and w.is_animation and set(w.recipe["prompts"]) <= set(VOCAB)
    assert torch.equal(w.sentence[0], pipe.encode(["a red apple"])[0].cpu())  # the path starts exactly at the prompt
    torch.testing.assert_close(w.images[0:1], pipe("a red apple", seeds=[1], output_type="pt").images, atol=1e-5, rtol=0)
    for suffix in (".gif", ".mp4"):
        saved = explore.save_render(w, tmp_path / f"walk{suffix}")
        assert torch.equal(explore.render_recipe(load_recipe(saved), pipe).images, w.images)
    g = explore.map_grid(pipe, m.prompts, m.coords.tolist(), rows=2, cols=3)
    assert g.images.shape[0] == 6 and torch.equal(explore.render_recipe(g.recipe, pipe).images, g.images)


def test_tsne_view(pipe):
    m = explore.prompt_map(pipe, VOCAB, view="tsne", seed=0)
    assert m.view == "tsne" and m.coords.shape == (len(VOCAB), 2) and torch.isfinite(m.coords).all()
    with pytest.raises(ValueError, match="map view"):
        explore.prompt_map(pipe, VOCAB, view="umap")


def test_one_render_recipe_renders_every_kind(pipe):
    """Importing galip_studio.explore registers every kind, invert's too; a renderer registered twice is refused."""
    assert set(explore.KINDS) == {"interpolate", "blend", "seeds", "style", "walk", "direction_strip", "map_walk", "map_grid", "vectors"}
    assert {k for k, v in explore.KINDS.items() if v.animation} == {"walk", "map_walk"}
    assert explore.is_animation({"kind": "map_walk"}) and not explore.is_animation({"kind": "generate"})
    g = explore.map_grid(pipe, VOCAB[:3], [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], rows=2)
    assert torch.equal(explore.render_recipe(g.recipe, pipe).images, g.images)
    with pytest.raises(ValueError, match="recipe kind 'map_grid' is registered twice"):
        explore.recipe_kind("map_grid")(lambda pipe: None)


# ------------------------------------------------------------------------------------------ CLI
def test_cli_directions_and_map_write_re_renderable_files(tmp_path, tiny_checkpoint, capsys):
    ck = ["--checkpoint", str(tiny_checkpoint)]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    out = tmp_path / "strips.png"
    assert main(["directions", "a red apple", "--components", "3", "--samples", "24", "--show", "1", "3", "--steps", "5", "--out", str(out), *ck]) == 0
    text = capsys.readouterr().out
    assert "noise directions" in text and "PC3" in text and "wrote" in text
    recipe = json.loads(Image.open(out).text[RECIPE_KEY])
    assert recipe["kind"] == "direction_strip" and recipe["steps"] == 5 and len(recipe["vectors"]) == 2
    assert main(["render", str(out), "--out", str(tmp_path / "again.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(tmp_path / "again.png")))

    sent = tmp_path / "sentence.png"
    assert main(["directions", "a cat face", "--space", "sentence", "--vocabulary", str(vocab), "--components", "2", "--show", "2", "--out", str(sent), *ck]) == 0
    assert "<->" in capsys.readouterr().out and load_recipe(sent)["space"] == "sentence"

    atlas, walk = tmp_path / "map.png", tmp_path / "walk.gif"
    args = ["map", "--vocabulary", str(vocab), "--grid", "2", "--through", "a red apple", "a house", "--walk", str(walk), "--frames", "4"]
    assert main([*args, "--out", str(atlas), *ck]) == 0
    assert (tmp_path / "map-points.png").is_file() and json.loads((tmp_path / "map-points.json").read_text())["view"] == "pca"
    assert load_recipe(atlas)["kind"] == "map_grid" and load_recipe(walk)["kind"] == "map_walk"
    assert main(["render", str(walk), "--out", str(tmp_path / "walk-again.gif")]) == 0
    with Image.open(walk) as a, Image.open(tmp_path / "walk-again.gif") as b:
        assert a.n_frames == b.n_frames == 4
    capsys.readouterr()
    assert main(["map", "--vocabulary", str(vocab), "--through", "a unicorn", "--walk", str(walk), "--out", str(atlas), *ck]) == 1
    assert "not on this map" in capsys.readouterr().err
    assert main(["directions", "a", "--steps", "99", "--out", str(out), *ck]) == 1
    assert "above the limit" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ app
def test_app_endpoints_directions_map_click_and_path(app_url, tiny_checkpoint):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(app_url, verbose=False)
    assert {"/directions", "/prompt_map", "/map_click", "/map_path"} <= set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    strips, table, recipe = client.predict(
        "noise (at this prompt)", "a red apple", 3, "1, 3", 2, 5, 2.0, 1.0, "", api_name="/directions"
    )
    recipe = json.loads(recipe)
    assert recipe["kind"] == "direction_strip" and len(recipe["vectors"]) == 2 and recipe["steps"] == 5 and recipe["seed"] == 2
    assert "| 3 |" in table and Image.open(strips).format == "PNG"
    assert not (tiny_checkpoint / "discover").exists()  # cached in the cache folder, not the app's checkpoint
    assert "/" not in str(recipe["model"]["id"]).strip("/") or not str(recipe["model"]["id"]).startswith("/")  # no machine path
    _, table, sentence = client.predict("sentence (vocabulary)", "a cat face", 2, "2", 0, 3, 3.0, 1.0, "\n".join(VOCAB), api_name="/directions")
    assert json.loads(sentence)["space"] == "sentence" and "↔" in table

    image, info = client.predict("PCA", "\n".join(VOCAB), api_name="/prompt_map")
    assert "8 prompts" in info and Image.open(image).size == (640, 640)
    # The session kept the map: a click at a vocabulary point gives that prompt's image.
    m = explore.prompt_map(GALIPPipeline.from_pretrained(tiny_checkpoint, device="cpu"), VOCAB, cache=False)
    x, y = m.point_of("a house")
    picture, note, click_recipe = client.predict(x, y, 5, 1.0, api_name="/map_click")
    # (The app's sentence vectors can differ from these in the last bits: a prompt encoded in another
    # batch is padded differently. So the point is "a house" up to rounding.)
    weights = dict(zip(*(json.loads(click_recipe)[k] for k in ("prompts", "weights"))))
    assert weights["a house"] > 0.999 and "100% a house" in note
    plain = GALIPPipeline.from_pretrained(tiny_checkpoint, device="cpu")("a house", seeds=[5]).images[0]
    assert np.abs(np.asarray(Image.open(picture).convert("RGB")).astype(int) - np.asarray(plain).astype(int)).max() <= 1

    points = f"{x},{y}; {m.point_of('a red apple')[0]},{m.point_of('a red apple')[1]}"
    drawn, gif, mp4, walk_info, walk_recipe = client.predict(points, 6, 12, False, 1, 1.0, ["GIF", "MP4"], 0, api_name="/map_path")
    assert json.loads(walk_recipe)["kind"] == "map_walk" and "6 frames" in walk_info and mp4.endswith(".mp4")
    with Image.open(gif) as im:
        assert im.n_frames == 6
    _, again, _, _ = client.predict(handle_file(gif), api_name="/render_recipe")  # the Recipe tab makes it again
    with Image.open(again) as im:
        assert im.n_frames == 6
    with pytest.raises(AppError, match="at least two points"):
        client.predict("0,0", 6, 12, False, 1, 1.0, ["GIF"], 0, api_name="/map_path")
    with pytest.raises(AppError, match="Open the prompt map first"):
        Client(app_url, verbose=False).predict(0.0, 0.0, 0, 1.0, api_name="/map_click")
