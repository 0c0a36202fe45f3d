"""Differentiable augmentation for data-efficient GAN training (``train --augment``).

With few images per concept, D learns the training images by heart and stops giving G a useful
signal. Zhao et al. 2020 ("Differentiable Augmentation for Data-Efficient GAN Training") showed
that augmenting *every* image D sees — reals in the D step, fakes in both the D and the G step —
with a transform that is differentiable with respect to the image cures this without leaking the
augmentation into G's outputs (Karras et al. 2020, "ADA", reach the same conclusion). In GALIP, D
judges CLIP features, so the augmented image is what enters the frozen CLIP ViT; the fakes'
CLIP embedding for the similarity loss comes from the same augmented batch.

Policies (Zhao et al.'s ``translation`` and ``cutout``; their colour policy is left out on purpose:
colour words are part of the prompts, so a red apple must stay red):

* ``translation``: shift each image by up to ``1/8`` of its side in x and y (integer pixels, fresh
  per image), filling with 0 (mid-grey in [-1, 1] pixels), as the reference implementation does;
* ``cutout``: zero a square of half the side at a random centre (it may hang over the border).

Each function draws its randomness from a ``torch.Generator``, so a training step is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

POLICIES = ("translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"translation,cutout"`` → ``("translation", "cutout")``; ``None``/``""``/``"none"`` → ``()``.

    Raises ``ValueError`` naming the known policies for anything else.
    """
    if text is None:
        return ()
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(dict.fromkeys(p.strip().lower() for p in parts if p.strip()))
    if names == ("none",):
        return ()
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)}; choose from {', '.join(POLICIES)} "
                         "(comma-separated), or none")
    return names


def _randint(high: int, n: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randint(0, high, (n,), generator=generator)


def translate(images: torch.Tensor, ratio: float = TRANSLATION_RATIO,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by a random whole number of pixels in ``[-ratio*side, ratio*side]``, zero-filled."""
    b, _c, h, w = images.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if sy == 0 and sx == 0:
        return images
    # offsets of the crop window in the padded image: 0 .. 2*s (s: no shift)
    oy = _randint(2 * sy + 1, b, generator).to(images.device)
    ox = _randint(2 * sx + 1, b, generator).to(images.device)
    padded = torch.nn.functional.pad(images, (sx, sx, sy, sy))
    rows = (torch.arange(h, device=images.device)[None, :] + oy[:, None])  # (B, H)
    cols = (torch.arange(w, device=images.device)[None, :] + ox[:, None])  # (B, W)
    batch = torch.arange(b, device=images.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)


def cutout(images: torch.Tensor, ratio: float = CUTOUT_RATIO,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero one ``ratio*side`` square per image at a random centre (clipped at the border)."""
    b, _c, h, w = images.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if ch == 0 or cw == 0:
        return images
    cy = _randint(h + (1 - ch % 2), b, generator).to(images.device)  # centres as in the reference code
    cx = _randint(w + (1 - cw % 2), b, generator).to(images.device)
    ys = torch.arange(h, device=images.device)[None, :]
    xs = torch.arange(w, device=images.device)[None, :]
    inside_y = (ys >= (cy - ch // 2)[:, None]) & (ys < (cy - ch // 2 + ch)[:, None])  # (B, H)
    inside_x = (xs >= (cx - cw // 2)[:, None]) & (xs < (cx - cw // 2 + cw)[:, None])  # (B, W)
    keep = ~(inside_y[:, :, None] & inside_x[:, None, :])  # (B, H, W)
    return images * keep[:, None].to(images.dtype)


def diff_augment(images: torch.Tensor, policy: Sequence[str],
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the ``policy`` transforms in order; differentiable with respect to ``images``."""
    for name in policy:
        if name == "translation":
            images = translate(images, generator=generator)
        elif name == "cutout":
            images = cutout(images, generator=generator)
        else:
            raise ValueError(f"unknown augmentation {name!r}; choose from {', '.join(POLICIES)}")
    return images
