"""GALIP networks, named after the paper."""

from .blocks import Affine, DBlock, DFBlock, FusionBlock, GBlock
from .discriminator import ClipFeatureExtractor, Discriminator, QualityAssessor
from .galip import GALIP
from .generator import BridgeFeaturePredictor, Generator, ImageGenerator, PromptPredictor

__all__ = [
    "GALIP",
    "Affine",
    "DBlock",
    "DFBlock",
    "FusionBlock",
    "GBlock",
    "BridgeFeaturePredictor",
    "PromptPredictor",
    "ImageGenerator",
    "Generator",
    "ClipFeatureExtractor",
    "QualityAssessor",
    "Discriminator",
]
