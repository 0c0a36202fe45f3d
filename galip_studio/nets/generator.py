"""GALIP's CLIP-empowered generator (paper: "Mate-G"; official ``NetG``).

Data flow for noise z and sentence s (GALIP paper, Sec. 3.3 "CLIP-empowered Generator"; docs/architecture.md), c = [z, s]:

1. bridge feature predictor: ``fc_code(z)`` -> fusion blocks (conditioned on c) -> ``conv_fuse``
   gives the bridge feature F_b ``[B, clip_width, grid, grid]``;
2. prompt predictor: one CLIP-width prompt per chosen ViT block, from c;
3. the frozen CLIP-ViT runs over F_b (instead of patch embeddings) with the prompts;
4. ``conv_out(F_b + 0.1 * CLIP(F_b))`` starts the image generator;
5. image generator: G-blocks up to the output size, then LeakyReLU and a 3x3 conv to RGB
   (no tanh: outputs are nominally in [-1, 1] and clamped only when saved).
"""

from __future__ import annotations

import torch

from torch import nn

from ..clip_backbone import ClipBackbone
from ..config import GALIPConfig
from .blocks import FusionBlock, GBlock


class BridgeFeaturePredictor(nn.Module):
    """Noise -> bridge feature that replaces CLIP-ViT's patch embedding, plus the merge conv."""

    def __init__(self, config: GALIPConfig, cond_dim: int, clip_width: int, grid: tuple[int, int], out_ch: int):
        super().__init__()
        self.grid = grid
        self.code_channels = config.code_channels
        self.fc_code = nn.Linear(config.z_dim, config.code_channels * grid[0] * grid[1])
        self.fusion_blocks = nn.ModuleList(
            FusionBlock(config.code_channels, config.code_mid, config.code_channels, cond_dim)
            for _ in range(config.n_fusion_blocks)
        )
        self.conv_fuse = nn.Conv2d(config.code_channels, clip_width, 5, 1, 2)
        self.conv_out = nn.Conv2d(clip_width, out_ch, 5, 1, 2)

    def forward(self, noise: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The bridge feature F_b, ``[B, clip_width, grid, grid]``."""
        x = self.fc_code(noise).view(noise.shape[0], self.code_channels, *self.grid)
        for block in self.fusion_blocks:
            x = block(x, c)
        return self.conv_fuse(x)


class PromptPredictor(nn.Module):
    """c -> one CLIP-width prompt token per prompted ViT block, ``[B, n_prompts, clip_width]``."""

    def __init__(self, cond_dim: int, n_prompts: int, clip_width: int):
        super().__init__()
        self.n_prompts = n_prompts
        self.clip_width = clip_width
        self.fc = nn.Linear(cond_dim, n_prompts * clip_width)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return self.fc(c).view(c.shape[0], self.n_prompts, self.clip_width)


class ImageGenerator(nn.Module):
    """G-blocks from the CLIP grid up to the output size, then to RGB."""

    def __init__(self, config: GALIPConfig, cond_dim: int):
        super().__init__()
        schedule = config.gblock_schedule()
        self.blocks = nn.ModuleList(GBlock(cond_dim, cin, cout, size) for cin, cout, size in schedule)
        self.to_rgb = nn.Sequential(nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(schedule[-1][1], 3, 3, 1, 1))

    @property
    def in_channels(self) -> int:
        return self.blocks[0].c1.in_channels

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, c)
        return self.to_rgb(x)


class Generator(nn.Module):
    """GALIP generator. The CLIP is shared with the discriminator side and not a sub-module:
    its weights are frozen and never part of the generator's state dict.
    """

    def __init__(self, config: GALIPConfig, clip: ClipBackbone):
        super().__init__()
        object.__setattr__(self, "clip", clip)  # shared and frozen: deliberately not registered
        self.config = config
        self.z_dim = config.z_dim
        self.cond_dim = config.z_dim + clip.embed_dim
        self.clip_residual = config.clip_residual
        self.image_generator = ImageGenerator(config, self.cond_dim)
        self.bridge = BridgeFeaturePredictor(
            config, self.cond_dim, clip.width, clip.grid_size, self.image_generator.in_channels
        )
        self.prompt_predictor = PromptPredictor(self.cond_dim, clip.n_prompts, clip.width)

    def forward(self, noise: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        """Images ``[B, 3, img_size, img_size]`` (unbounded, nominally [-1, 1]) from noise ``[B, z_dim]``
        and sentence vectors ``[B, embed_dim]``."""
        if noise.shape[0] != sentence.shape[0]:
            raise ValueError(f"noise batch {noise.shape[0]} != sentence batch {sentence.shape[0]}")
        c = torch.cat([noise, sentence.to(noise.dtype)], dim=1)  # noise first, as the official code
        bridge = self.bridge(noise, c)
        prompts = self.prompt_predictor(c)
        clip_out = self.clip.forward_with_prompts(bridge, prompts)
        x = self.bridge.conv_out(bridge + self.clip_residual * clip_out)
        return self.image_generator(x, c)


