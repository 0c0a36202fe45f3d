"""CLIP score and Fréchet distance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from galip_studio.metrics import clip_frechet_distance, clip_score, frechet_distance


def test_frechet_distance_of_known_gaussians():
    mu = np.zeros(3)
    assert frechet_distance(mu, np.eye(3), mu, np.eye(3)) == pytest.approx(0, abs=1e-8)
    # N(0, I) vs N(m, 4I): |m|^2 + 3 + 12 - 2 * 3 * 2
    m = np.array([1.0, 2.0, 2.0])
    assert frechet_distance(mu, np.eye(3), m, 4 * np.eye(3)) == pytest.approx(9 + 3, abs=1e-6)


def test_clip_frechet_distance_same_vs_shifted():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 4)), rng.normal(size=(400, 4))
    assert clip_frechet_distance(a, b) < 0.2 < clip_frechet_distance(a, b + 1.0)
    with pytest.raises(ValueError, match="at least 2"):
        clip_frechet_distance(a[:1], b)


def test_clip_score_is_cosine(tiny_model):
    clip = tiny_model.clip
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    s = clip_score(clip, images, ["a red apple", "a cat", "a dog"])
    img = torch.nn.functional.normalize(clip.encode_image(images), dim=-1)
    txt = torch.nn.functional.normalize(clip.encode_text(["a red apple", "a cat", "a dog"]), dim=-1)
    torch.testing.assert_close(s, (img * txt).sum(-1))
    assert clip_score(clip, images, ["one prompt"]).shape == (3,)
    with pytest.raises(ValueError, match="texts"):
        clip_score(clip, images, ["a", "b"])


def test_prompt_retrieval_ranks_distinct_captions():
    import torch.nn.functional as F

    from galip_studio.metrics import prompt_retrieval

    # three distinct captions (one repeated); each image points near a chosen caption's vector
    vectors = torch.eye(4)[:, :4]
    captions = ["a", "b", "c", "a"]
    sentence = torch.stack([vectors[0], vectors[1], vectors[2], vectors[0]]) * 3  # not normalised
    images = F.normalize(torch.stack([vectors[0], vectors[2] + 0.1 * vectors[1], vectors[2], vectors[0]]), dim=-1)
    r = prompt_retrieval(images, captions, sentence, ks=(1, 2))
    assert r[1] == 0.75  # image 1 ("b") is nearest to "c"
    assert r[2] == 1.0  # ... and "b" is its second choice; the repeated "a" counts once


def test_image_retrieval_finds_the_real_art_of_the_prompt():
    from galip_studio.metrics import image_retrieval

    e = torch.eye(4)
    reals = torch.stack([e[0], e[0], e[1], e[2]])  # two images of "apple" (two styles), one "heart", one "star"
    real_labels = ["apple", "apple", "heart", "star"]
    fakes = torch.nn.functional.normalize(torch.stack([e[0] + 0.1 * e[1], e[1] + 0.5 * e[2], e[0] + 0.1 * e[2]]), dim=-1)
    r = image_retrieval(fakes, ["apple", "star", "heart"], reals, real_labels, ks=(1, 2))
    assert r[1] == pytest.approx(1 / 3)  # only the apple is nearest art of its own prompt
    assert r[2] == pytest.approx(2 / 3)  # the "star" looks most like the heart, then the star; the "heart" like both apples
    # the real baseline: each real image against the others; only "apple" has another image
    real = image_retrieval(reals, real_labels, reals, real_labels, ks=(1, 5), leave_one_out=True)
    assert real == {1: 1.0, 5: 1.0}
    # its own row never counts, even when k covers the whole gallery
    lone = image_retrieval(reals[1:], real_labels[1:], reals[1:], real_labels[1:], leave_one_out=True)
    assert math.isnan(lone[1])
    with pytest.raises(ValueError, match="one label"):
        image_retrieval(fakes, ["apple"], reals, real_labels)
