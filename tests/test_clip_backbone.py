"""ClipBackbone: sentence vectors, the prompted ViT run, discriminator taps and preprocessing."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from galip_studio.clip_backbone import ClipBackbone, ClipError, WeightsUnavailable
from galip_studio.config import ClipConfig, TINY_CLIP_ARCH, default_prompt_layers, default_tap_layers


def test_default_layers_match_official_and_scale_with_depth():
    assert default_tap_layers(12) == (1, 4, 8)
    assert default_prompt_layers(12) == tuple(range(1, 9))
    assert default_tap_layers(4) == (0, 1, 2)
    assert default_prompt_layers(4) == (1, 2)
    assert default_tap_layers(24) == (3, 9, 17)
    assert default_prompt_layers(24) == tuple(range(1, 18))
    for depth in range(1, 40):
        taps, prompts = default_tap_layers(depth), default_prompt_layers(depth)
        assert taps and prompts and max(taps) < depth and max(prompts) < depth


def test_encode_text_is_eot_after_ln_final_times_projection(tiny_model):
    clip = tiny_model.clip
    prompts = ["a red apple", "a flat emoji of a cat"]
    s = clip.encode_text(prompts)
    m = clip.model
    tokens = clip.tokenize(prompts)
    with torch.no_grad():
        x = m.token_embedding(tokens) + m.positional_embedding
        x = m.transformer(x, attn_mask=m.attn_mask)
        x = m.ln_final(x)
        ref = x[torch.arange(2), tokens.argmax(-1)] @ m.text_projection
    assert s.shape == (2, clip.embed_dim)
    torch.testing.assert_close(s, ref)
    assert not torch.allclose(s.norm(dim=-1), torch.ones(2))  # not normalised


def test_long_empty_and_non_ascii_prompts(tiny_model):
    clip = tiny_model.clip
    context = clip.tokenize([""]).shape[1]
    long = " ".join(["apple"] * (context * 5))
    longer = long + " banana kiwi"
    s = clip.encode_text([long, longer, "", "café 🍎 日本語の絵文字"])
    assert torch.isfinite(s).all()
    torch.testing.assert_close(s[0], s[1])  # truncated at the context length, not an error


def test_forward_with_prompts_matches_manual_reference(tiny_model):
    clip = tiny_model.clip
    torch.manual_seed(0)
    b, w, (gh, gw) = 2, clip.width, clip.grid_size
    feat = torch.randn(b, w, gh, gw)
    prompts = torch.randn(b, clip.n_prompts, w)
    out = clip.forward_with_prompts(feat, prompts)
    v = clip.model.visual
    x = feat.flatten(2).transpose(1, 2)
    x = torch.cat([v.class_embedding.expand(b, 1, -1), x], 1) + v.positional_embedding
    x = v.ln_pre(x)
    for i, blk in enumerate(v.transformer.resblocks):
        if i in clip.prompt_layers:
            k = clip.prompt_layers.index(i)
            x = blk(torch.cat([x, prompts[:, k : k + 1]], 1))[:, :-1]
        else:
            x = blk(x)
    ref = x[:, 1:].transpose(1, 2).reshape(b, w, gh, gw)
    assert out.shape == (b, w, gh, gw)
    torch.testing.assert_close(out, ref)
    # each prompt matters
    prompts2 = prompts.clone()
    prompts2[:, -1] += 1.0
    assert not torch.allclose(clip.forward_with_prompts(feat, prompts2), out)


def test_image_features_taps_and_embedding_match_open_clip(tiny_model):
    clip = tiny_model.clip
    torch.manual_seed(1)
    images = torch.rand(2, 3, 40, 40) * 2 - 1
    feats, emb = clip.image_features(images)
    assert feats.shape == (2, clip.n_taps, clip.width, *clip.grid_size)
    pixels = clip.preprocess(images)
    with torch.no_grad():
        ref_emb = clip.model.encode_image(pixels)
        inter = clip.model.visual.forward_intermediates(pixels, indices=list(clip.tap_layers), intermediates_only=True)
    torch.testing.assert_close(emb, ref_emb)
    for k, ref in enumerate(inter["image_intermediates"]):
        torch.testing.assert_close(feats[:, k], ref)
    # without the embedding the later blocks are skipped, the taps are the same
    feats2, none = clip.image_features(images, with_embedding=False)
    assert none is None
    torch.testing.assert_close(feats2, feats)


def test_official_preprocessing_double_denormalisation():
    cfg = ClipConfig(name=None, arch=TINY_CLIP_ARCH, preprocess="official")
    clip = ClipBackbone.from_config(cfg)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    u = F.interpolate(x * 0.5 + 0.5, size=clip.image_size)  # nearest
    ref = ((u + 1) * 0.5 - clip.image_mean) / clip.image_std
    torch.testing.assert_close(clip.preprocess(x), ref)
    # pixels are squeezed into [0.5, 1] before normalisation
    back = clip.preprocess(x) * clip.image_std + clip.image_mean
    assert back.min() >= 0.5 - 1e-6 and back.max() <= 1 + 1e-6
    std = ClipBackbone.from_config(ClipConfig(name=None, arch=TINY_CLIP_ARCH, preprocess="standard"))
    back = std.preprocess(x) * std.image_std + std.image_mean
    assert back.min() < 0.4


def test_everything_frozen(tiny_model):
    assert not any(p.requires_grad for p in tiny_model.clip.parameters())
    tiny_model.clip.train()
    assert not tiny_model.clip.model.training


def test_bad_configs_give_clear_errors(tmp_path):
    with pytest.raises(ClipError, match="unknown open_clip model"):
        ClipBackbone.from_config(ClipConfig(name="ViT-Nope-99"))
    with pytest.raises(ClipError, match="tap_layers"):
        ClipBackbone.from_config(ClipConfig(name=None, arch=TINY_CLIP_ARCH, tap_layers=(0, 9)))
    with pytest.raises(ClipError, match="not found"):
        ClipBackbone.from_config(ClipConfig(name=None, arch=TINY_CLIP_ARCH, pretrained=str(tmp_path / "none.pt")))
    with pytest.raises(ValueError, match="preprocess"):
        ClipConfig(preprocess="fancy")


def test_weights_that_cannot_be_downloaded_give_one_clear_error(monkeypatch, caplog):
    import logging

    import open_clip

    def offline(name, pretrained=None, **kwargs):  # what open_clip does without a network
        logging.error("Failed to download weights for tag %r", pretrained)
        raise RuntimeError(f"Failed to download weights for tag {pretrained!r}")

    monkeypatch.setattr(open_clip, "create_model", offline)
    with caplog.at_level(logging.DEBUG), pytest.raises(WeightsUnavailable, match=r"could not get CLIP weights 'openai'.*--clip-weights"):
        ClipBackbone.from_config(ClipConfig(name="ViT-B-32-quickgelu", pretrained="openai"))
    assert caplog.records == []  # the error is said once, by the command, not also as a log line
    assert logging.root.manager.disable == logging.NOTSET  # and logging is as it was


def test_clip_directory_round_trip_and_local_weights_file(tmp_path, tiny_model):
    clip = tiny_model.clip
    clip.save_pretrained(tmp_path / "clip")
    umask = os.umask(0)
    os.umask(umask)
    assert {f.stat().st_mode & 0o777 for f in (tmp_path / "clip").iterdir()} == {0o666 & ~umask}  # not safetensors' 0600
    again = ClipBackbone.from_pretrained(tmp_path / "clip")
    for (k, a), (_, b) in zip(clip.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), k
    # a plain open_clip state dict file as `pretrained`
    path = tmp_path / "weights.pt"
    torch.save(clip.model.state_dict(), path)
    third = ClipBackbone.from_config(ClipConfig(name=None, arch=TINY_CLIP_ARCH, pretrained=str(path)))
    torch.testing.assert_close(third.encode_text(["hi"]), clip.encode_text(["hi"]))
