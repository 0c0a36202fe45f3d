"""The whole GALIP model: one frozen CLIP shared by a generator and a discriminator."""

from __future__ import annotations

from torch import nn

from ..clip_backbone import ClipBackbone
from ..config import ClipConfig, GALIPConfig
from .discriminator import Discriminator
from .generator import Generator


class GALIP(nn.Module):
    """Container for ``clip`` (frozen), ``generator`` and ``discriminator``.

    Its state dict keys are ``clip.model.*``, ``generator.*`` and ``discriminator.*``.
    """

    def __init__(self, config: GALIPConfig, clip: ClipBackbone):
        super().__init__()
        self.config = config
        self.clip = clip
        self.generator = Generator(config, clip)
        self.discriminator = Discriminator(clip.width, clip.n_taps, clip.grid_size, clip.embed_dim, config.ndf)

    @classmethod
    def from_configs(cls, config: GALIPConfig, clip: ClipConfig | ClipBackbone) -> "GALIP":
        if isinstance(clip, ClipConfig):
            clip = ClipBackbone.from_config(clip)
        return cls(config, clip)

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters of each network, and the frozen CLIP's total."""

        def count(module: nn.Module) -> int:
            return sum(p.numel() for p in module.parameters() if p.requires_grad)

        return {
            "generator": count(self.generator),
            "discriminator": count(self.discriminator.feature_extractor),
            "quality_assessor": count(self.discriminator.quality_assessor),
            "clip (frozen)": sum(p.numel() for p in self.clip.parameters()),
        }
