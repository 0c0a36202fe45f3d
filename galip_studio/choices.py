"""The names that command-line options offer as choices, and a default that a help text names, in a
module that imports nothing: building the ``galip-studio`` parsers (and so ``--help``) loads no
torch.

Each is a copy of the names of the table that implements it, which stays in the module that owns
it (named beside each copy); tests/test_cli.py keeps every copy equal to its table.
"""

from __future__ import annotations

AMP_CHOICES: tuple[str, ...] = ("auto", "none", "bf16", "fp16")  # device.AMP_CHOICES (--amp of train, train-clip)
INTERPOLATIONS: tuple[str, ...] = ("lerp", "slerp")  # latent.INTERPOLATIONS
EASINGS: tuple[str, ...] = ("linear", "smoothstep", "cosine")  # latent.EASINGS' names
NOISE_PATHS: tuple[str, ...] = ("keyframes", "spline", "circle", "random")  # explore.NOISE_PATHS' names (walk --path)
LAYOUT_CHOICES: tuple[str, ...] = ("auto", "official", "metadata", "folder")  # datasets.folders.LAYOUT_CHOICES (--layout)
FEATURE_D_CHOICES: tuple[str, ...] = (  # nets.feature_discriminator.FEATURE_D_CHOICES (train --feature-d)
    "none", "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2",
)
BEST_METRICS: tuple[str, ...] = ("clip_fd", "clip_score", "fid")  # train.config.BEST_METRICS' names, sorted
DEFAULT_PRESET = "small-64"  # train.config.DEFAULT_PRESET (named in train --preset's help)
