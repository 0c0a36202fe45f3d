"""Differentiable augmentation (train --augment): what D sees is shifted/cut, never recoloured."""

from __future__ import annotations

import pytest
import torch

from galip_studio.cli import main
from galip_studio.train import Trainer, resolve_train_config
from galip_studio.train.augment import POLICIES, cutout, diff_augment, parse_policy, translate

from helpers import make_folder, quick_config


def _images(b: int = 6, size: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(b, 3, size, size, generator=g) * 1.8 - 0.9  # no exact zeros in the input


def _gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_parse_policy():
    assert parse_policy("translation,cutout") == ("translation", "cutout")
    assert parse_policy(" Cutout , cutout") == ("cutout",)
    assert parse_policy(None) == parse_policy("") == parse_policy("none") == ()
    assert parse_policy(list(POLICIES)) == POLICIES
    with pytest.raises(ValueError, match="unknown augmentation color; choose from translation, cutout"):
        parse_policy("translation,color")


def test_translation_shifts_each_image_by_whole_pixels_with_zero_fill():
    x = _images()
    out = translate(x, generator=_gen())
    assert out.shape == x.shape
    shifts = set()
    for i in range(len(x)):  # each output is the input rolled by (dy, dx) with |d| <= 2, zeros shifted in
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if torch.equal(out[i], _shifted(x[i], dy, dx))]
        assert len(found) == 1, i
        shifts.add(found[0])
    assert len(shifts) > 1  # drawn per image
    assert torch.equal(out, translate(x, generator=_gen()))  # same generator state, same shifts


def _shifted(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    out = torch.zeros_like(img)
    h, w = img.shape[-2:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        img[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_cutout_zeroes_one_square_of_half_the_side_and_keeps_the_rest():
    x = _images(b=64)
    out = cutout(x, generator=_gen())
    cut = (out == 0).all(dim=1)  # (B, H, W): pixels zeroed in every channel
    assert torch.equal(out[~cut[:, None].expand_as(x)], x[~cut[:, None].expand_as(x)])
    areas = cut.flatten(1).sum(1)
    assert areas.max() == 8 * 8 and areas.min() >= 1  # a full 8x8 square, or clipped at the border
    for i in range(len(x)):  # the cut region is a rectangle
        rows, cols = cut[i].any(1).nonzero(), cut[i].any(0).nonzero()
        assert areas[i] == len(rows) * len(cols)


def test_augmentation_is_differentiable_and_never_changes_colours():
    x = _images().requires_grad_(True)
    out = diff_augment(x, ("translation", "cutout"), _gen(3))
    out.sum().backward()
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0} and x.grad.sum() > 0  # pixels are moved or dropped
    values = set(x.detach().flatten().tolist()) | {0.0}
    assert set(out.detach().flatten().tolist()) <= values  # no new colour anywhere
    assert torch.equal(diff_augment(x, (), _gen()), x)


def test_training_with_augment_records_it_and_differs_from_plain(tmp_path):
    data = make_folder(tmp_path / "data", n=8)
    runs = {}
    for augment in (None, "cutout,translation"):
        runs[augment] = Trainer(quick_config(data, tmp_path / f"run-{augment}", steps=2, augment=augment)).run()
    assert resolve_train_config({"data_dir": "d", "out": "o", "augment": "none"}).augment is None
    plain, augmented = (runs[k].last_checkpoint for k in runs)
    assert plain is not None and augmented is not None
    import json

    assert json.loads((tmp_path / "run-cutout,translation" / "config.json").read_text())["train"]["augment"] == \
        "cutout,translation"
    from safetensors.torch import load_file

    a = load_file(str(plain / "discriminator.safetensors"))
    b = load_file(str(augmented / "discriminator.safetensors"))
    assert any(not torch.equal(a[k], b[k]) for k in a)  # D saw other images


def test_cli_refuses_an_unknown_policy(tmp_path, capsys):
    data = make_folder(tmp_path / "data", n=4)
    assert main(["train", str(data), "--out", str(tmp_path / "run"), "--preset", "tiny", "--augment", "colour",
                 "--steps", "1", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "unknown augmentation colour" in err and "Traceback" not in err
