"""``galip-studio data emoji | pack``: build a training folder from open-licensed art, or pack one compactly.

Each builder's options and run live with it in :mod:`galip_studio.datasets` (``emoji.add_parser``,
``pack.add_parser``); this module only groups them under ``data``.
"""

from __future__ import annotations

import argparse


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """``galip-studio data BUILDER ...``: one sub-command per dataset builder, and ``data pack``."""
    from ..datasets import emoji, pack

    p = subparsers.add_parser(
        "data",
        help="build a training folder from open-licensed art (data emoji OUT_DIR), or pack one compactly (data pack SRC DST)",
        description="Build image–caption training folders from open-licensed sources, or re-encode one as WebP to ship it.",
    )
    builders = p.add_subparsers(dest="builder", metavar="BUILDER", required=True)
    emoji.add_parser(builders)
    pack.add_parser(builders)
