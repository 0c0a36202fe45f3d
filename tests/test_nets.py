"""Network shapes, the G-block schedule, init, and the official parameter counts."""

from __future__ import annotations

import pytest
import torch

from galip_studio.config import GALIPConfig, get_preset
from galip_studio.nets import GALIP, Affine


def test_gblock_schedule_matches_official_rule():
    assert GALIPConfig(img_size=224).gblock_schedule() == [
        (512, 512, 8), (512, 512, 16), (512, 512, 32), (512, 256, 64), (256, 128, 128), (128, 64, 224)
    ]
    assert GALIPConfig(img_size=64).gblock_schedule() == [(512, 512, 8), (512, 256, 16), (256, 128, 32), (128, 64, 64)]
    assert [s for *_, s in GALIPConfig(img_size=256).gblock_schedule()] == [8, 16, 32, 64, 128, 256]
    assert [s for *_, s in GALIPConfig(img_size=128).gblock_schedule()] == [8, 16, 32, 64, 128]
    with pytest.raises(ValueError, match="power of two"):
        GALIPConfig(img_size=100)


def test_affine_is_identity_at_init():
    a = Affine(10, 4)
    x = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(a(x, torch.randn(2, 10)), x)


def test_tiny_shapes(tiny_model):
    g, clip = tiny_model.generator, tiny_model.clip
    z = torch.randn(3, tiny_model.config.z_dim)
    s = clip.encode_text(["a", "b", "c"])
    with torch.no_grad():
        img = g(z, s)
        feats, emb = clip.image_features(img)
        logits = tiny_model.discriminator(feats, s)
    assert img.shape == (3, 3, 32, 32)
    assert feats.shape == (3, 3, clip.width, 7, 7)
    assert emb.shape == (3, clip.embed_dim)
    assert logits.shape == (3, 1, 1, 1)


def test_generator_state_dict_excludes_clip(tiny_model):
    keys = tiny_model.generator.state_dict().keys()
    assert not any("clip" in k.lower() or "visual" in k for k in keys)
    assert all(p.requires_grad for p in tiny_model.generator.parameters())


@pytest.mark.slow
def test_official_preset_parameter_counts_and_shapes():
    preset = get_preset("official-224")
    preset.clip.pretrained = None
    model = GALIP.from_configs(preset.galip, preset.clip)
    counts = model.parameter_counts()
    assert counts["generator"] == 51_830_211
    assert counts["discriminator"] == 27_525_637  # the two unused 768x768 1x1 shortcuts left out
    assert counts["discriminator"] + 2 * (768 * 768 + 768) == 28_706_821
    assert counts["quality_assessor"] == 2_099_200
    assert counts["clip (frozen)"] == 151_277_313
    with torch.no_grad():
        s = model.clip.encode_text(["a photo of a bird"])
        img = model.generator(torch.randn(1, 100), s)
        feats, emb = model.clip.image_features(img)
        assert img.shape == (1, 3, 224, 224)
        assert feats.shape == (1, 3, 768, 7, 7) and emb.shape == (1, 512)
        assert model.discriminator(feats, s).shape == (1, 1, 1, 1)
