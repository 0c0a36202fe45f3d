"""The mini-CLIP's image augmentation: batched zoom, rotation, shift and meaning-preserving mirroring.

(The GAN trainer's :mod:`galip_studio.train.augment` is DiffAugment for the discriminator, a different
job: these transforms must keep what the captions say true, so colours are never touched and mirroring
is allowed per image.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Random affine augmentation (no colour changes: colour carries meaning)."""

    zoom: tuple[float, float] = (0.85, 1.12)
    max_rotation_deg: float = 6.0
    max_shift: float = 0.08  # fraction of the image side
    flip_p: float = 0.5  # for images whose captions allow it


def augment(images: torch.Tensor, flip_ok: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Zoom, rotate, shift and (where allowed) mirror a batch ``[B, C, H, W]`` with one ``grid_sample``.

    Pixels from outside the image repeat the border (white for emoji on a white canvas).
    """
    b = images.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=generator)

    scale = uniform(*cfg.zoom)
    angle = torch.deg2rad(uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg))
    shift = torch.stack([uniform(-cfg.max_shift, cfg.max_shift), uniform(-cfg.max_shift, cfg.max_shift)], 1) * 2
    flip = (torch.rand(b, generator=generator) < cfg.flip_p) & flip_ok.cpu()
    sx = torch.where(flip, -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # output pixel -> input sampling position: rotate(mirror(p)) / zoom + shift
    theta = torch.stack(
        [torch.stack([cos * sx, -sin, shift[:, 0] * scale], 1), torch.stack([sin * sx, cos, shift[:, 1] * scale], 1)], 1
    ) / scale[:, None, None]
    theta = theta.to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
