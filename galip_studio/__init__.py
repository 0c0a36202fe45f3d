"""GALIP Studio: GALIP (Generative Adversarial CLIPs, CVPR 2023) text-to-image GAN toolkit."""

__version__ = "0.1.0"

__all__ = ["GALIPPipeline", "ClipBackbone", "GALIPConfig", "ClipConfig", "__version__"]


def __getattr__(name: str):
    # Lazy imports keep `galip-studio --help` and `import galip_studio` light.
    if name == "GALIPPipeline":
        from .pipeline import GALIPPipeline

        return GALIPPipeline
    if name == "ClipBackbone":
        from .clip_backbone import ClipBackbone

        return ClipBackbone
    if name in ("GALIPConfig", "ClipConfig"):
        from . import config

        return getattr(config, name)
    raise AttributeError(f"module 'galip_studio' has no attribute {name!r}")
