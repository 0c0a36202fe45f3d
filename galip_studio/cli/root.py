"""The root ``galip-studio`` command: its parser, built from the command groups, and ``main``.

Every sub-command has ``--help``; errors print one line (``galip-studio: error: ...``) and exit
non-zero. Nothing imports this module but ``galip_studio.cli`` itself: the command groups share
their plumbing through :mod:`.common`. Heavy imports happen inside the commands so ``--help`` stays
fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from .. import __version__
from ..train import cli as train
from . import data, discover, generate, invert, latent, miniclip, serve
from .common import known_errors

# The command groups, in the order ``galip-studio --help`` lists them after generate/info/init/convert:
# each has ``add_parsers(subparsers)`` and keeps its heavy imports inside the command functions.
COMMAND_GROUPS = (generate, data, latent, discover, invert, serve, miniclip, train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="galip-studio",
        description="GALIP (Generative Adversarial CLIPs) text-to-image GAN: generate, explore, train.",
    )
    parser.add_argument("--version", action="version", version=f"galip-studio {__version__}")
    parser.add_argument(
        "--max-model-gb", type=float, metavar="GB", default=None,
        help="the most memory a model may need, estimated from its config before it is built (default 8, or "
        "$GALIP_STUDIO_MAX_MODEL_GB): raise it for a real big model",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    max_model_gb = vars(args).pop("max_model_gb")  # a setting of the process, not of the command
    if max_model_gb is not None:
        from ..config import MAX_MODEL_GB_ENV

        if not 0 < max_model_gb < float("inf"):
            parser.error(f"--max-model-gb must be a positive number of GB, got {max_model_gb}")
        os.environ[MAX_MODEL_GB_ENV] = repr(max_model_gb)
    try:
        return func(args)
    except KeyboardInterrupt:
        print("galip-studio: interrupted", file=sys.stderr)
        return 130
    except known_errors() as e:
        print(f"galip-studio: error: {e}", file=sys.stderr)
        return 1
