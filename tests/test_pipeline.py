"""GALIPPipeline: determinism by seed, batching, prompt caching, sentence-vector input, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from galip_studio.pipeline import noise_from_seeds
from galip_studio.text_cache import SentenceCache


def _arr(images):
    return np.stack([np.asarray(im) for im in images])


def test_same_seed_same_image_regardless_of_batch(tiny_pipeline):
    a = tiny_pipeline("a red apple", num_images=5, seed=3, batch_size=5)
    b = tiny_pipeline("a red apple", num_images=5, seed=3, batch_size=2)
    c = tiny_pipeline("a red apple", seeds=[5], batch_size=1)
    assert a.seeds == [3, 4, 5, 6, 7]
    assert np.array_equal(_arr(a.images), _arr(b.images))
    assert np.array_equal(_arr(a.images)[2], _arr(c.images)[0])
    assert a.images[0].size == (32, 32) and a.images[0].mode == "RGB"


def test_seed_and_prompt_change_the_image(tiny_pipeline):
    x = _arr(tiny_pipeline("a cat", seeds=[0, 1]).images).astype(int)
    y = _arr(tiny_pipeline("a dog", seeds=[0]).images).astype(int)
    assert np.abs(x[0] - x[1]).mean() > 0.5
    assert np.abs(x[0] - y[0]).mean() > 0.5


def test_several_prompts_and_tensor_output(tiny_pipeline):
    out = tiny_pipeline(["a", "b", "c"], num_images=2, seed=0, output_type="pt")
    assert out.images.shape == (6, 3, 32, 32)
    assert out.images.min() >= -1 and out.images.max() <= 1
    assert out.prompts == ["a", "a", "b", "b", "c", "c"]
    assert out.seeds == [0, 1] * 3


def test_sentence_vectors_and_noise_inputs(tiny_pipeline):
    s = tiny_pipeline.encode(["a red apple"])
    by_prompt = tiny_pipeline("a red apple", seeds=[7], output_type="pt").images
    by_vector = tiny_pipeline(sentence=s, seeds=[7], output_type="pt").images
    by_noise = tiny_pipeline(sentence=s, noise=noise_from_seeds([7], tiny_pipeline.z_dim), output_type="pt").images
    torch.testing.assert_close(by_prompt, by_vector)
    torch.testing.assert_close(by_prompt, by_noise)


def test_encode_is_cached_per_prompt(tiny_pipeline, monkeypatch):
    calls = []
    real = tiny_pipeline.clip.encode_text
    monkeypatch.setattr(tiny_pipeline.clip, "encode_text", lambda p: calls.append(list(p)) or real(p))
    first = tiny_pipeline.encode(["x", "y", "x"])
    again = tiny_pipeline.encode(["y", "x"])
    assert calls == [["x", "y"]]
    torch.testing.assert_close(first[0], again[1])


def test_encode_cache_keeps_the_newest_prompts_and_is_cleared_by_to(tiny_pipeline):
    tiny_pipeline.cache_size = 2
    tiny_pipeline.encode(["a", "b"])
    tiny_pipeline.encode(["a", "c"])  # "b" is the least recently used
    assert "a" in tiny_pipeline._text_cache and "c" in tiny_pipeline._text_cache and "b" not in tiny_pipeline._text_cache
    tiny_pipeline.to("cpu")  # device or dtype may change: the vectors are computed again
    assert len(tiny_pipeline._text_cache) == 0
    empty = tiny_pipeline.encode([])
    assert empty.shape == (0, tiny_pipeline.clip.embed_dim) and empty.dtype == torch.float32


def test_chunked_sentence_cache_pads_so_a_vector_never_depends_on_its_batch_mates(tiny_pipeline, monkeypatch):
    # the trainer's mode (chunk=32): resumed runs must see the vectors an uninterrupted run saw
    clip = tiny_pipeline.clip
    calls = []
    real = clip.encode_text
    monkeypatch.setattr(clip, "encode_text", lambda p: calls.append(list(p)) or real(p))
    first = SentenceCache(clip, max_entries=10, chunk=4)(["a", "b", "a"])
    other = SentenceCache(clip, max_entries=10, chunk=4)(["c", "d", "b", "e", "f"])
    assert calls == [["a", "b", "", ""], ["c", "d", "b", "e"], ["f", "", "", ""]]
    assert torch.equal(first[1], other[2]) and torch.equal(first[0], first[2])
    assert first.dtype == torch.float32 and first.device == clip.device


def test_truncation_scales_noise_toward_mean():
    z = noise_from_seeds([1, 2], 16)
    torch.testing.assert_close(noise_from_seeds([1, 2], 16, truncation=0.5), z * 0.5)
    with pytest.raises(ValueError, match="truncation"):
        noise_from_seeds([1], 16, truncation=1.5)
    with pytest.raises(ValueError, match="seeds"):
        noise_from_seeds([-1], 16)


def test_bad_inputs(tiny_pipeline):
    with pytest.raises(ValueError, match="prompt"):
        tiny_pipeline()
    with pytest.raises(ValueError, match="num_images"):
        tiny_pipeline("a", num_images=0)
    with pytest.raises(ValueError, match="dims"):
        tiny_pipeline(sentence=torch.zeros(1, 5), seeds=[0])
    with pytest.raises(ValueError, match="output_type"):
        tiny_pipeline("a", output_type="webp")


def test_describe(tiny_pipeline):
    d = tiny_pipeline.describe()
    assert d["image_size"] == 32 and d["clip"]["tap_layers"] == [0, 1, 2]
    assert d["parameters"]["generator"] > 0
