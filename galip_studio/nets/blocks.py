"""Building blocks of GALIP's networks (DF-GAN heritage), with the official sub-module names.

The attribute names (``fc_gamma.linear1``, ``fuse1.affine0``, ``c1``, ``c_sc``, ``conv_r``, ...)
follow the official code so that its checkpoints map onto these modules by prefix alone.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


def _mlp(cond_dim: int, num_features: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            [
                ("linear1", nn.Linear(cond_dim, num_features)),
                ("relu1", nn.ReLU(inplace=True)),
                ("linear2", nn.Linear(num_features, num_features)),
            ]
        )
    )


class Affine(nn.Module):
    """Text-conditioned channel-wise modulation: ``gamma(c) * x + beta(c)``.

    gamma and beta are two-layer MLPs of the condition c = [noise, sentence]. Their last layers
    start at weight 0 (bias 1 for gamma, 0 for beta), so the block is the identity at init.
    """

    def __init__(self, cond_dim: int, num_features: int):
        super().__init__()
        self.fc_gamma = _mlp(cond_dim, num_features)
        self.fc_beta = _mlp(cond_dim, num_features)
        nn.init.zeros_(self.fc_gamma.linear2.weight)
        nn.init.ones_(self.fc_gamma.linear2.bias)
        nn.init.zeros_(self.fc_beta.linear2.weight)
        nn.init.zeros_(self.fc_beta.linear2.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        gamma = self.fc_gamma(c)[:, :, None, None]
        beta = self.fc_beta(c)[:, :, None, None]
        return gamma * x + beta


class DFBlock(nn.Module):
    """Two affines, each followed by LeakyReLU(0.2) (official ``DFBLK``)."""

    def __init__(self, cond_dim: int, num_features: int):
        super().__init__()
        self.affine0 = Affine(cond_dim, num_features)
        self.affine1 = Affine(cond_dim, num_features)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.affine0(x, c), 0.2)
        return F.leaky_relu(self.affine1(x, c), 0.2)


class FusionBlock(nn.Module):
    """Fusion block of the bridge feature predictor (official ``M_Block``): conv, then affine.

    Residual: conv1 -> fuse1 -> conv2 -> fuse2; shortcut is the identity (a 1x1 ``c_sc`` only when
    the channel counts differ, which GALIP never uses).
    """

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, cond_dim: int, kernel: int = 3):
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv2d(in_ch, mid_ch, kernel, 1, pad)
        self.fuse1 = DFBlock(cond_dim, mid_ch)
        self.conv2 = nn.Conv2d(mid_ch, out_ch, kernel, 1, pad)
        self.fuse2 = DFBlock(cond_dim, out_ch)
        self.c_sc = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.fuse1(self.conv1(x), c)
        h = self.fuse2(self.conv2(h), c)
        return (x if self.c_sc is None else self.c_sc(x)) + h


class GBlock(nn.Module):
    """Generator block (official ``G_Block``): nearest-resize to ``size``, then affine before conv.

    Residual: fuse1 -> c1 (3x3) -> fuse2 -> c2 (3x3); shortcut is a 1x1 ``c_sc`` when the channel
    counts differ, else the identity. No residual scaling.
    """

    def __init__(self, cond_dim: int, in_ch: int, out_ch: int, size: int):
        super().__init__()
        self.size = size
        self.fuse1 = DFBlock(cond_dim, in_ch)
        self.c1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.fuse2 = DFBlock(cond_dim, out_ch)
        self.c2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.c_sc = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size))  # legacy 'nearest', as the official code
        h = self.c1(self.fuse1(x, c))
        h = self.c2(self.fuse2(h, c))
        return (x if self.c_sc is None else self.c_sc(x)) + h


class DBlock(nn.Module):
    """Discriminator block over CLIP features (official ``D_Block``); keeps the spatial size.

    ``out = shortcut(x) + gamma * conv_r(x) [+ beta * clip_feature]`` with scalar gamma and beta
    starting at 0. The 1x1 ``conv_s`` exists only when the channel counts differ (the official code
    also registers an unused one otherwise; the checkpoint importer skips it).
    """

    def __init__(self, fin: int, fout: int, residual: bool = True, clip_feature: bool = False):
        super().__init__()
        self.conv_r = nn.Sequential(
            nn.Conv2d(fin, fout, 3, 1, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(fout, fout, 3, 1, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.conv_s = nn.Conv2d(fin, fout, 1) if fin != fout else None
        self.gamma = nn.Parameter(torch.zeros(1)) if residual else None
        self.beta = nn.Parameter(torch.zeros(1)) if clip_feature else None

    def forward(self, x: torch.Tensor, clip_feature: torch.Tensor | None = None) -> torch.Tensor:
        out = x if self.conv_s is None else self.conv_s(x)
        if self.gamma is not None:
            out = out + self.gamma * self.conv_r(x)
        if self.beta is not None:
            if clip_feature is None:
                raise ValueError("this DBlock adds a CLIP feature; pass clip_feature")
            out = out + self.beta * clip_feature
        return out
