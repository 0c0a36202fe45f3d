"""``train --recon-weight``: each generated image is also pulled towards the real image whose caption
it was drawn for (not in the paper; off by default)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from galip_studio.cli import main
from galip_studio.train import Trainer, resolve_train_config
from galip_studio.train.losses import reconstruction_loss

from helpers import COLORS, make_folder, quick_config


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("recon") / "data", n=8)


@pytest.fixture(scope="module")
def flat(tmp_path_factory) -> Path:
    """One flat colour per caption: data a generator can reproduce exactly."""
    from PIL import Image

    root = tmp_path_factory.mktemp("recon") / "flat"
    root.mkdir()
    for c in COLORS:
        Image.new("RGB", (32, 32), c).save(root / f"{c}.png")
        (root / f"{c}.txt").write_text(f"a {c} square\n")
    return root


def _run(data: Path, out: Path, steps: int, **kw) -> tuple[object, list[dict[str, float]]]:
    losses: list[dict[str, float]] = []
    result = Trainer(quick_config(data, out, steps=steps, **kw), callbacks=[lambda info: losses.append(info.losses)]).run()
    return result, losses


def test_reconstruction_loss_is_the_mean_absolute_pixel_difference_of_pairs():
    fake, real = torch.rand(3, 3, 8, 8) * 2 - 1, torch.rand(3, 3, 8, 8) * 2 - 1
    assert reconstruction_loss(fake, real) == pytest.approx((fake - real).abs().mean().item())
    assert reconstruction_loss(real, real) == 0
    # reals of another side (256 px reals for a 224 px model) are resized to the fakes' side
    big = torch.rand(2, 3, 16, 16)
    small = F.interpolate(big, size=(8, 8), mode="bilinear", antialias=True, align_corners=False)
    assert reconstruction_loss(small, big) == pytest.approx(0, abs=1e-7)
    with pytest.raises(ValueError, match="do not pair up"):
        reconstruction_loss(fake, real[:2])


def test_recon_size_compares_layout_and_colour_only():
    # a fine checkerboard and flat grey have the same 2 x 2 average: at size 2 they match, at full size not
    board = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 2.0 - 1.0
    fake, real = board.expand(1, 3, 8, 8).clone(), torch.zeros(1, 3, 8, 8)
    assert reconstruction_loss(fake, real) == pytest.approx(1.0)
    assert reconstruction_loss(fake, real, size=2) < 0.01  # measured 0.005, against 1.0 at full size
    # but a different layout still differs: left half white vs right half white
    left, right = torch.full((1, 3, 8, 8), -1.0), torch.full((1, 3, 8, 8), -1.0)
    left[..., :4], right[..., 4:] = 1.0, 1.0
    assert reconstruction_loss(left, right, size=2) > 1.0  # measured 1.43 (2.0 at full size)
    # a size at or over the fakes' side is the full-size term; bigger reals are resized to the size
    assert reconstruction_loss(fake, real, size=8) == reconstruction_loss(fake, real, size=64) == reconstruction_loss(fake, real)
    big = F.interpolate(left, size=(16, 16), mode="nearest")
    assert reconstruction_loss(left, big, size=4) < 0.01  # measured 0.005: the edge's filter footprints differ


def test_recon_weight_adds_a_term_to_the_generator_loss_only_and_pulls_fakes_to_their_images(tmp_path, flat):
    _, plain = _run(flat, tmp_path / "plain", 2, lr_g=1e-3, batch_size=6)
    assert not any("recon" in k for row in plain for k in row)
    _, recon = _run(flat, tmp_path / "recon", 60, recon_weight=50.0, lr_g=1e-3, batch_size=6)
    # the first step's logged terms (GALIP's own) are the same numbers: the term only adds to L_G, so
    # the generator's first update differs and with it the second step
    assert {k: recon[0][k] for k in plain[0]} == pytest.approx(plain[0], rel=1e-6)
    assert recon[1]["loss_g_adv"] != pytest.approx(plain[1]["loss_g_adv"], rel=1e-6)
    # with a heavy weight, the generated images move towards their captions' images
    curve = [row["loss_recon"] for row in recon]
    assert sum(curve[-5:]) < 0.7 * sum(curve[:5]), curve  # measured 0.55


def test_recon_samples_trains_on_the_nearest_of_k_noise_draws(tmp_path, data):
    # the step's own noise is one of the K candidates, so the first step's term can only fall; with
    # 8 captions and 3 more draws each, some caption finds a nearer drawing
    _, one = _run(data, tmp_path / "one", 1, recon_weight=2.0)
    _, four = _run(data, tmp_path / "four", 1, recon_weight=2.0, recon_samples=4)
    assert four[0]["loss_recon"] < one[0]["loss_recon"]
    # and without --recon-weight the option draws nothing: the same run as the paper's
    _, plain = _run(data, tmp_path / "plain", 1)
    _, unused = _run(data, tmp_path / "unused", 1, recon_samples=4)
    assert unused[0] == plain[0]


def test_a_recon_run_resumes_bit_exact_and_bad_weights_are_one_line_errors(tmp_path, data, capsys):
    straight, _ = _run(data, tmp_path / "a", 4, recon_weight=2.0, recon_size=8, recon_samples=3)
    _run(data, tmp_path / "b", 2, recon_weight=2.0, recon_size=8, recon_samples=3)
    saved = json.loads((tmp_path / "b" / "config.json").read_text())["train"]
    assert saved["recon_weight"] == 2.0 and saved["recon_size"] == 8 and saved["recon_samples"] == 3
    resumed = Trainer(resolve_train_config({"data_dir": str(data), "out": str(tmp_path / "b"), "resume": "latest", "steps": 4}, saved)).run()
    a = load_file(str(straight.last_checkpoint / "generator.safetensors"))
    b = load_file(str(resumed.last_checkpoint / "generator.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the checkpoint, and a release converted from it, say how it was trained
    recipe = json.loads((resumed.last_checkpoint / "config.json").read_text())["training"]["recipe"]
    assert (recipe["recon_weight"], recipe["recon_size"], recipe["recon_samples"]) == (2.0, 8, 3)
    assert main(["convert", str(resumed.last_checkpoint), str(tmp_path / "release")]) == 0
    released = json.loads((tmp_path / "release" / "config.json").read_text())["training"]
    assert released["recipe"] == recipe and released["converted_from"]

    # the weight may change when resuming (a schedule by hand), and the log says from which step; the
    # rest of the objective may not
    lowered = Trainer(resolve_train_config({"data_dir": str(data), "out": str(tmp_path / "b"), "resume": "latest",
                                            "steps": 5, "recon_weight": 0.5}, saved)).run()
    recipe = json.loads((lowered.last_checkpoint / "config.json").read_text())["training"]["recipe"]
    assert recipe["recon_weight"] == 0.5 and recipe["recon_samples"] == 3
    starts = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    starts = [(r["step"], r["recipe"]["recon_weight"]) for r in starts if r.get("event") in ("start", "resume")]
    assert starts == [(0, 2.0), (2, 2.0), (4, 0.5)]
    with pytest.raises(ValueError, match="cannot change recon_size when resuming"):
        resolve_train_config({"data_dir": str(data), "out": str(tmp_path / "b"), "resume": "latest", "recon_size": 4}, saved)

    capsys.readouterr()
    for bad in ("-1", "nan"):
        with pytest.raises(ValueError, match="recon_weight must be zero"):
            quick_config(data, tmp_path / "x", recon_weight=float(bad))
        assert main(["train", str(data), "--out", str(tmp_path / "bad"), "--preset", "tiny", "--recon-weight", bad,
                     "--steps", "1", "--no-progress"]) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "recon_weight must be zero (off) or positive" in err[0], err
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="recon_size is a side in pixels"):
        quick_config(data, tmp_path / "x", recon_weight=1.0, recon_size=-4)
    assert quick_config(data, tmp_path / "x", recon_weight=1.0, recon_size=16).recon_size == 16
    for bad in (0, 65):
        with pytest.raises(ValueError, match="recon_samples is a number of noise draws"):
            quick_config(data, tmp_path / "x", recon_weight=1.0, recon_samples=bad)


def test_every_train_setting_is_in_the_recipe_or_said_not_to_be():
    """RECIPE_FIELDS and NOT_RECIPE_FIELDS split TrainConfig's fields between them, each once: a new
    setting that shapes the weights cannot be left out of the checkpoints' training.recipe unseen."""
    from galip_studio.train.config import NOT_RECIPE_FIELDS, RECIPE_FIELDS, TrainConfig

    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    assert sorted(RECIPE_FIELDS + NOT_RECIPE_FIELDS) == sorted(fields)
