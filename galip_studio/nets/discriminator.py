"""GALIP's CLIP-based discriminator (paper: "Mate-D"; official ``NetD`` + ``NetC``).

The frozen CLIP image encoder (:meth:`ClipBackbone.image_features`) gives patch tokens after a few
ViT blocks, stacked ``[B, n_taps, width, grid, grid]``. The CLIP feature extractor mixes them with
residual D-blocks; the quality assessor joins the result with the sentence and predicts a logit.
"""

from __future__ import annotations

import torch

from torch import nn

from .blocks import DBlock


class ClipFeatureExtractor(nn.Module):
    """Official ``NetD``: start from the first tap, add each later tap through a residual D-block."""

    def __init__(self, clip_width: int, n_taps: int, out_channels: int):
        super().__init__()
        self.blocks = nn.ModuleList(DBlock(clip_width, clip_width, clip_feature=True) for _ in range(n_taps - 1))
        self.main = DBlock(clip_width, out_channels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = features[:, 0]
        for k, block in enumerate(self.blocks):
            out = block(out, features[:, k + 1])
        return self.main(out)


class QualityAssessor(nn.Module):
    """Official ``NetC``: concat the tiled sentence, conv 4x4 -> LeakyReLU -> conv 4x4 -> logits.

    With a 7x7 CLIP grid the output is ``[B, 1, 1, 1]``; larger grids give a patch map of logits.
    """

    def __init__(self, in_channels: int, cond_dim: int, hidden: int):
        super().__init__()
        self.cond_dim = cond_dim
        self.joint_conv = nn.Sequential(
            nn.Conv2d(in_channels + cond_dim, hidden, 4, 1, 0, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(hidden, 1, 4, 1, 0, bias=False),
        )

    def forward(self, h: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        s = sentence.to(h.dtype)[:, :, None, None].expand(-1, -1, h.shape[-2], h.shape[-1])
        return self.joint_conv(torch.cat([h, s], dim=1))


class Discriminator(nn.Module):
    """D(features, sentence) = QualityAssessor(ClipFeatureExtractor(features), sentence)."""

    def __init__(self, clip_width: int, n_taps: int, grid: tuple[int, int], cond_dim: int, ndf: int = 64):
        super().__init__()
        if min(grid) < 7:
            raise ValueError(f"the quality assessor needs a CLIP patch grid of at least 7x7, got {grid}")
        self.feature_extractor = ClipFeatureExtractor(clip_width, n_taps, ndf * 8)
        self.quality_assessor = QualityAssessor(ndf * 8, cond_dim, ndf * 2)

    def forward(self, features: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        return self.quality_assessor(self.feature_extractor(features), sentence)
