"""The ``galip-studio data emoji`` sub-command and ``python -m galip_studio.datasets.emoji``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .build import build_emoji_dataset, read_identities
from .captions import DEFAULT_TAG_CAPTIONS
from .errors import DatasetError
from .npm import default_packages_dir
from .sources import DEFAULT_STYLES, STYLES, V1_STYLES


def format_report(report: Mapping[str, Any]) -> str:
    """A few human-readable lines summarising a build report."""
    lines = [f"emoji dataset -> {report['out_dir']}  ({report['size']} px, seed {report['seed']}, "
             f"holdout {report['holdout']}, {report['seconds']} s)"]
    for split, c in report["counts"].items():
        per_style = ", ".join(f"{s} {n}" for s, n in c["images"].items())
        lines.append(f"  {split:5s}: {c['identities']:5d} identities, {c['total']:5d} images ({per_style})")
    gaps = ", ".join(f"{s} {n}" for s, n in report["missing_art"].items() if n)
    if gaps:
        lines.append(f"  no art (skipped): {gaps}")
    lines.append("  packages: " + ", ".join(f"{n}@{v}" for n, v in report["packages"].items()))
    return "\n".join(lines)


def _styles_arg(text: str) -> tuple[str, ...]:
    styles = tuple(s.strip().lower() for s in text.split(",") if s.strip())
    bad = [s for s in styles if s not in STYLES]
    if bad or not styles:
        raise argparse.ArgumentTypeError(f"unknown style(s) {bad or text!r}; choose from {','.join(STYLES)}")
    return styles


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emoji builder's options to ``parser``."""
    parser.add_argument("out_dir", help="output folder (train/, test/, LICENSES.md, dataset.json)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--packages", dest="packages_dir", metavar="DIR",
                     help=f"npm tarball cache (default {default_packages_dir()})")
    src.add_argument("--from", dest="from_dir", metavar="DIR",
                     help="use already unpacked packages (each a subfolder holding package/); no npm needed")
    parser.add_argument("--size", type=int, default=64, help="image side in px (default 64)")
    parser.add_argument("--styles", type=_styles_arg, default=DEFAULT_STYLES,
                        help=f"comma-separated subset of {','.join(STYLES)} (default all; "
                             f"GALIP-emoji-64 v1 was trained on {','.join(V1_STYLES)})")
    parser.add_argument("--holdout", type=float, default=0.1,
                        help="fraction of identities in test/ (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the identity split (default 0)")
    parser.add_argument("--skin-tones", action="store_true", help="include skin-tone variants")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N identities (quick builds)")
    parser.add_argument("--categories", type=lambda text: text.split(","), metavar="LIST",
                        help='comma-separated emoji.json categories to keep, e.g. "Food & Drink,Animals & Nature" '
                             "(default all; the held-out split stays that of the full build)")
    parser.add_argument("--identities", metavar="NAMES",
                        help="only these emoji: 'everyday' (the bundled model's vocabulary of 188), @FILE (names by "
                             "space or line), or a comma-separated list of file names without __style, e.g. "
                             "red-apple,cat-face (the held-out split stays that of the full build)")
    parser.add_argument("--tag-captions", type=int, choices=(0, 1, 2), default=DEFAULT_TAG_CAPTIONS,
                        help="keyword captions per image (default 2)")
    parser.add_argument("--category-folders", action="store_true",
                        help="put each image in a folder of its emoji.json category (train/food-drink/, ...), "
                             "so that `galip-studio train --balance` can give every category the same share")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous build in OUT_DIR")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    parser.set_defaults(prog=parser.prog)  # errors name the command as it was called


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``emoji`` sub-command to an argparse ``subparsers`` object; returns the new parser."""
    parser = subparsers.add_parser(
        "emoji",
        help=f"build an emoji image-caption dataset ({len(STYLES)} open-licensed styles) via npm",
        description="Build an image-caption emoji dataset from open-licensed art fetched with npm pack.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the ``emoji`` sub-command; prints the report, or a one-line error and returns 1."""
    try:
        identities = read_identities(args.identities) if args.identities else None
        report = build_emoji_dataset(
            args.out_dir, packages_dir=args.packages_dir, from_dir=args.from_dir, size=args.size,
            styles=args.styles, holdout=args.holdout, seed=args.seed, skin_tones=args.skin_tones,
            limit=args.limit, categories=args.categories, progress=args.progress,
            tag_captions=args.tag_captions,
            overwrite=args.overwrite, category_folders=args.category_folders, identities=identities,
        )
    except DatasetError as exc:
        print(f"{args.prog}: error: {exc}", file=sys.stderr)
        return 1
    print(format_report(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m galip_studio.datasets.emoji OUT_DIR [options]``."""
    parser = argparse.ArgumentParser(prog="python -m galip_studio.datasets.emoji",
                                     description="Build an image-caption emoji dataset.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
