"""Measures: CLIP score and Fréchet distance in CLIP image-feature space.

Both take a :class:`ClipBackbone` so that official models are scored with the official
preprocessing and new models with theirs.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .clip_backbone import ClipBackbone


@torch.no_grad()
def clip_image_embeddings(clip: ClipBackbone, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """L2-normalised CLIP image embeddings ``[N, D]`` of images in [-1, 1] (float32, CPU)."""
    out = []
    for i in range(0, images.shape[0], batch_size):
        batch = images[i : i + batch_size].to(clip.device, clip.dtype)
        out.append(F.normalize(clip.encode_image(batch).float(), dim=-1).cpu())
    return torch.cat(out) if out else torch.empty(0, clip.embed_dim)


@torch.no_grad()
def clip_score(
    clip: ClipBackbone, images: torch.Tensor, texts: Sequence[str] | torch.Tensor, batch_size: int = 64
) -> torch.Tensor:
    """Per-image cosine similarity ``[N]`` between CLIP image and text embeddings.

    ``texts`` is one prompt per image (or one prompt for all), or sentence vectors ``[N, D]``.
    GALIP reports the mean of this (the paper's "CS", e.g. 0.3338 on COCO).
    """
    img = clip_image_embeddings(clip, images, batch_size)
    if isinstance(texts, torch.Tensor):
        txt = texts.float().cpu()
    else:
        texts = list(texts)
        if len(texts) == 1 and img.shape[0] > 1:
            texts = texts * img.shape[0]
        txt = torch.cat([clip.encode_text(texts[i : i + batch_size]).cpu() for i in range(0, len(texts), batch_size)])
    if txt.shape[0] != img.shape[0]:
        raise ValueError(f"{img.shape[0]} images but {txt.shape[0]} texts")
    return (img * F.normalize(txt, dim=-1)).sum(-1)


def feature_statistics(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of ``[N, D]`` features (float64)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors [N, D], got shape {x.shape}")
    return x.mean(0), np.cov(x, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between two Gaussians (the FID formula), via scipy's sqrtm with an eps fallback."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def clip_frechet_distance(features_a: torch.Tensor | np.ndarray, features_b: torch.Tensor | np.ndarray) -> float:
    """Fréchet distance between two sets of CLIP image embeddings ``[N, D]``."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))
