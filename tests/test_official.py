"""Importing official GALIP checkpoints: strict key table, identical images, clear errors."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from galip_studio.checkpoint import CheckpointError
from galip_studio.official import load_official, map_official_key
from galip_studio.config import get_preset
from galip_studio.nets import GALIP
from galip_studio.pipeline import GALIPPipeline, noise_from_seeds
from official_layout import write_official


def _perturbed_clip(model):
    """The same CLIP but with a different visual trunk: the import must take the trunk from the file."""
    clip = copy.deepcopy(model.clip)
    with torch.no_grad():
        for p in clip.model.visual.transformer.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return clip


def _same_images(a: GALIP, b: GALIP, seeds=(0, 1, 2)):
    s = a.clip.encode_text(["a bird on a branch"] * len(seeds))
    z = noise_from_seeds(seeds, a.config.z_dim)
    with torch.no_grad():
        return a.generator(z, s), b.generator(z, s)


@pytest.mark.parametrize("ddp_prefix", [True, False])
def test_import_tiny_official_layout_reproduces_images(tmp_path, tiny_model, ddp_prefix):
    path = tmp_path / "pre_tiny.pth"
    write_official(path, tiny_model, ddp_prefix=ddp_prefix, with_optimizers=True)
    imported, report = load_official(path, _perturbed_clip(tiny_model), tiny_model.config)
    ref, got = _same_images(tiny_model, imported)
    assert torch.equal(ref, got)
    assert sorted(report["networks"]) == ["netC", "netD", "netG"]
    assert "netG.mapping.CLIP_ViT.conv1.weight" in report["ignored_keys"]
    assert any("conv_s" in k for k in report["ignored_keys"])
    for a, b in zip(tiny_model.discriminator.parameters(), imported.discriminator.parameters()):
        assert torch.equal(a, b)


def test_fp16_clip_tensors_import_close(tmp_path, tiny_model):
    path = tmp_path / "half.pth"
    write_official(path, tiny_model, clip_dtype=torch.float16)
    imported, _ = load_official(path, _perturbed_clip(tiny_model), tiny_model.config)
    assert next(imported.clip.parameters()).dtype == torch.float32
    ref, got = _same_images(tiny_model, imported)
    assert (ref - got).abs().max() < 1e-2


def test_every_official_key_is_mapped_or_ignored(tmp_path, tiny_model):
    nets = write_official(tmp_path / "x.pth", tiny_model, ddp_prefix=False)
    ours = set(tiny_model.state_dict())
    for net, sd in nets.items():
        for key in sd:
            target = map_official_key(f"{net}.{key}")
            assert target is None or target in ours, key
    with pytest.raises(CheckpointError, match="unknown key"):
        map_official_key("netG.mapping.something_new.weight")


def test_official_import_errors(tmp_path, tiny_model):
    clip = tiny_model.clip
    cfg = tiny_model.config
    with pytest.raises(CheckpointError, match="not found"):
        load_official(tmp_path / "nope.pth", clip, cfg)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_official(junk, clip, cfg)
    wrong = tmp_path / "wrong.pth"
    torch.save({"state_dict": {"a": torch.zeros(1)}}, wrong)
    with pytest.raises(CheckpointError, match="not an official GALIP checkpoint"):
        load_official(wrong, clip, cfg)

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    evil = tmp_path / "evil.pth"
    torch.save({"model": {"netG": {"x": torch.zeros(1)}}, "payload": Evil()}, evil)
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        load_official(evil, clip, cfg)

    nets = write_official(tmp_path / "ok.pth", tiny_model, ddp_prefix=False)
    missing = copy.deepcopy(nets)
    del missing["netG"]["GBlocks.0.c1.weight"]
    torch.save({"model": missing}, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="missing .*GBlocks|missing .*blocks.0.c1"):
        load_official(tmp_path / "missing.pth", clip, cfg)
    extra = copy.deepcopy(nets)
    extra["netG"]["mapping.new_layer.weight"] = torch.zeros(1)
    torch.save({"model": extra}, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match="unknown key"):
        load_official(tmp_path / "extra.pth", clip, cfg)
    shape = copy.deepcopy(nets)
    shape["netG"]["fc_code.weight"] = torch.zeros(3, 3)
    torch.save({"model": shape}, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match="shape of generator.bridge.fc_code.weight"):
        load_official(tmp_path / "shape.pth", clip, cfg)


def test_generator_only_file_loads(tmp_path, tiny_model):
    nets = write_official(tmp_path / "full.pth", tiny_model, ddp_prefix=False)
    torch.save({"model": {"netG": nets["netG"]}}, tmp_path / "g.pth")
    imported, report = load_official(tmp_path / "g.pth", copy.deepcopy(tiny_model.clip), tiny_model.config)
    assert report["networks"] == ["netG"]
    ref, got = _same_images(tiny_model, imported)
    assert torch.equal(ref, got)


@pytest.mark.slow
def test_full_size_official_file_has_spec_layout_and_reproduces_images(tmp_path):
    preset = get_preset("official-224")
    preset.clip.pretrained = None
    torch.manual_seed(0)
    source = GALIP.from_configs(preset.galip, preset.clip).eval()
    with torch.no_grad():  # make the affines non-trivial so the test can see a wrong mapping
        for name, p in source.generator.named_parameters():
            if "linear2" in name:
                p.add_(torch.randn_like(p) * 0.02)
    path = tmp_path / "pre_coco.pth"
    nets = write_official(path, source)
    assert (len(nets["netG"]), len(nets["netD"]), len(nets["netC"])) == (525, 17, 2)
    assert nets["netG"]["module.mapping.fc_prompt.weight"].shape == (6144, 612)
    assert nets["netG"]["module.mapping.CLIP_ViT.positional_embedding"].shape == (50, 768)
    assert nets["netG"]["module.GBlocks.5.c_sc.weight"].shape == (64, 128, 1, 1)
    assert nets["netC"]["module.joint_conv.0.weight"].shape == (128, 1024, 4, 4)
    del nets
    pipe = GALIPPipeline.from_official(path, clip=_perturbed_clip(source), device="cpu")
    ref, got = _same_images(source, pipe.model, seeds=(0,))
    assert torch.equal(ref, got)
