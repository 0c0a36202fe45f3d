"""The whole GALIP model: one frozen CLIP shared by a generator and a discriminator."""

from __future__ import annotations

import torch
from torch import nn

from ..clip_backbone import ClipBackbone, ClipShape, check_arch_size, clip_shape
from ..config import ClipConfig, GALIPConfig, check_model_memory
from .discriminator import Discriminator
from .generator import Generator


def estimate_memory(config: GALIPConfig, clip: ClipShape) -> tuple[dict[str, float], float]:
    """``(parameters, bytes)`` of a GALIP over a CLIP of ``clip``'s shape, before building it: exact
    parameter counts of the generator and discriminator (built on the ``meta`` device, which allocates
    nothing) and the bytes of all parameters in float32, twice (the model and the weights being loaded
    into it), plus one image's activations."""
    with torch.device("meta"):
        generator = Generator(config, clip)  # reads only the CLIP's sizes
        discriminator = Discriminator(clip.width, clip.n_taps, clip.grid_size, clip.embed_dim, config.ndf)
    parameters = {
        "generator": float(sum(p.numel() for p in generator.parameters())),
        "discriminator": float(sum(p.numel() for p in discriminator.parameters())),
        "clip": clip.parameters,
    }
    grid = clip.grid_size[0] * clip.grid_size[1]
    feature_maps = sum((cin + 3 * cout) * size * size for cin, cout, size in config.gblock_schedule())
    feature_maps += config.code_channels * grid * 4 + clip.n_taps * clip.width * grid
    activations = 4.0 * feature_maps + clip.activation_bytes
    return parameters, 8.0 * sum(parameters.values()) + activations  # weights twice while loading, as ClipShape


def check_memory(config: GALIPConfig, clip: ClipConfig | ClipBackbone | ClipShape) -> None:
    """Refuse a GALIP whose estimated memory (:func:`estimate_memory`) is above the limit, before building it."""
    if isinstance(clip, ClipConfig):
        if clip.arch is not None:
            check_arch_size(clip.arch)  # an absurd CLIP says so itself
        shape = clip_shape(clip)
        if shape is None:
            return  # an unknown CLIP name: building it says so
        clip = shape
    elif isinstance(clip, ClipBackbone):
        clip = ClipShape.of(clip)
    parameters, needed = estimate_memory(config, clip)
    detail = ", ".join(f"{name} {n:.3g}" for name, n in parameters.items())
    check_model_memory("this model", needed, f"parameters: {detail}, plus one image's activations")


class GALIP(nn.Module):
    """Container for ``clip`` (frozen), ``generator`` and ``discriminator``.

    Its state dict keys are ``clip.model.*``, ``generator.*`` and ``discriminator.*``.
    """

    def __init__(self, config: GALIPConfig, clip: ClipBackbone):
        super().__init__()
        check_memory(config, clip)  # sizes can each be in bounds and together need tens of GB
        self.config = config
        self.clip = clip
        self.generator = Generator(config, clip)
        self.discriminator = Discriminator(clip.width, clip.n_taps, clip.grid_size, clip.embed_dim, config.ndf)

    @classmethod
    def from_configs(cls, config: GALIPConfig, clip: ClipConfig | ClipBackbone) -> "GALIP":
        if isinstance(clip, ClipConfig):
            check_memory(config, clip)  # before the CLIP is built too
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
