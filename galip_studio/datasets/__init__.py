"""Dataset builders that turn open-licensed art into image–caption folders for training."""

from __future__ import annotations

import argparse


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """``galip-studio data BUILDER ...``: one sub-command per dataset builder."""
    from . import emoji

    p = subparsers.add_parser(
        "data",
        help="build a training folder from open-licensed art (galip-studio data emoji OUT_DIR)",
        description="Build image–caption training folders from open-licensed sources.",
    )
    builders = p.add_subparsers(dest="builder", metavar="BUILDER", required=True)
    emoji.add_parser(builders)
