"""``galip-studio data pack SRC DST``: re-encode a training folder as WebP images plus one metadata.jsonl.

SRC is any image–caption folder that ``galip-studio train`` reads (every layout of
:func:`galip_studio.datasets.folders.scan_dataset`: images with same-name ``.txt`` captions,
``metadata.jsonl`` files, the official GALIP/DF-GAN layout). DST gets

* one WebP file per image, at the image's path relative to SRC with the suffix ``.webp``
  (``sub/cat.png`` → ``sub/cat.webp``; if two images would get the same name, ignoring case, the
  later one keeps its old suffix too: ``sub/cat.jpg.webp``);
* one ``metadata.jsonl``: a line ``{"file_name": ..., "text": [captions]}`` per sample, the captions
  exactly those ``scan_dataset`` read, so ``train DST`` reads the same samples and captions back
  through its metadata layout;
* SRC's top-level ``LICENSES.md``, ``LICENSE*``/``LICENCE*``, ``README*`` and ``dataset.json``,
  copied as they are (the licences travel with the art).

Pixels: nothing is resized or cropped. An image is converted the way the trainer's ``load_rgb``
reads it, alpha kept: images with transparency (RGBA, LA, P with a transparent colour, ...) are
stored as RGBA, all others as RGB (16-bit grey scaled to 8 bits as ``load_rgb`` scales it). WebP
knows only those two modes, and an RGBA image with no transparent pixel reads back as RGB.
``lossless`` keeps every pixel (transparent ones included), so the trainer sees exactly the same
images; the default lossy quality 90 is visually the same at a third of PNG's size. With
``lossless``, ``quality`` is the compression effort (100: smallest files, slowest).

``overwrite`` only ever deletes what a previous pack wrote: the ``.webp`` files listed in
DST/metadata.jsonl, and that file. Any other file in DST is kept; one that would be overwritten (an
unlisted ``.webp`` at a target path, a licence file with other contents) is an error instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

METADATA = "metadata.jsonl"
DEFAULT_QUALITY = 90
MAX_EXAMPLES = 5


class PackError(ValueError):
    """The pack cannot be made; the message names the folder or file and the fix."""


# ------------------------------------------------------------------------------------------ helpers
def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _travelling_file(path: Path) -> bool:
    """A top-level file of SRC that is copied to DST as it is (licences, read-me, dataset.json)."""
    from .folders import IMAGE_EXTENSIONS

    name = path.name.lower()
    if not path.is_file() or path.suffix.lower() in IMAGE_EXTENSIONS or name == METADATA:
        return False
    return name == "dataset.json" or name.startswith(("license", "licence", "readme"))


def _webp_name(rel: str, taken: set[str]) -> str:
    """``rel`` with the suffix ``.webp``; if that is taken (case-insensitively) the old suffix stays too."""
    stem, suffix = os.path.splitext(rel)
    candidates = [stem + ".webp", rel + ".webp"] if suffix.lower() != ".webp" else [rel]
    candidates += [f"{stem}-{n}.webp" for n in range(2, 10_000)]
    for name in candidates:
        if name.casefold() not in taken:
            taken.add(name.casefold())
            return name
    raise PackError(f"cannot find a free name for {rel}")  # pragma: no cover - 10,000 namesakes


def _size(paths: Any) -> int:
    total = 0
    for p in paths:
        try:
            total += p.stat().st_size
        except OSError:
            pass
    return total


def _json_line(entry: Mapping[str, Any]) -> str:
    line = json.dumps(entry, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (undecodable file names): \u escapes read back the same
        line = json.dumps(entry, ensure_ascii=True)
    return line


def _previous_pack(dst: Path) -> tuple[list[Path], Path | None]:
    """The ``.webp`` files a previous pack listed in DST/metadata.jsonl (existing, inside DST), and that file."""
    meta = dst / METADATA
    if not meta.is_file():
        return [], None
    files = []
    root = dst.resolve()
    for line in meta.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        name = entry.get("file_name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name.lower().endswith(".webp"):
            continue
        path = dst / name
        if path.is_file() and not path.is_symlink() and _is_within(path.resolve(), root) and path.resolve() != root:
            files.append(path)
    return sorted(set(files)), meta


def _check_paths(src: Path, dst: Path) -> None:
    if not src.exists():
        raise PackError(f"source folder not found: {src}")
    if not src.is_dir():
        raise PackError(f"source {src} is not a folder")
    if dst.exists() and not dst.is_dir():
        raise PackError(f"destination {dst} is a file; choose a folder")
    s, d = src.resolve(), dst.resolve()
    if d == s:
        raise PackError(f"destination {dst} is the source folder; choose another folder")
    if _is_within(d, s):
        raise PackError(f"destination {dst} is inside the source folder {src}; choose a folder outside it")
    if _is_within(s, d):
        raise PackError(f"source {src} is inside the destination folder {dst}; choose another destination")


def _check_destination(dst: Path, overwrite: bool, targets: Sequence[Path], copies: Sequence[Path]) -> tuple[list[Path], Path | None]:
    """What ``overwrite`` may delete; raises when DST holds anything that packing would clobber."""
    if not dst.exists() or next(dst.iterdir(), None) is None:
        return [], None
    if not overwrite:
        raise PackError(f"{dst} is not empty; pass --overwrite to replace a previous pack "
                        f"(only the files listed in its {METADATA} are removed)")
    old, meta = _previous_pack(dst)
    ours = {p.resolve() for p in old}
    for path in targets:
        if path.is_dir() or (path.exists() and path.resolve() not in ours) or path.is_symlink():
            raise PackError(f"{path} exists and was not written by data pack (not listed in {dst / METADATA}); "
                            "move it away or choose an empty destination")
    for src_file in copies:
        there = dst / src_file.name
        if there.exists() and not (there.is_file() and there.read_bytes() == src_file.read_bytes()):
            raise PackError(f"{there} exists and differs from {src_file}; move it away so the source's copy "
                            "can take its place")
    others = [p for p in dst.rglob(METADATA) if p != dst / METADATA]
    others += [p for p in (dst / "filenames.pickle", *dst.glob("*/filenames.pickle")) if p.is_file()]
    if others:
        raise PackError(f"{others[0]} would be read by train along with the pack; move it away "
                        "or choose an empty destination")
    return old, meta


# ------------------------------------------------------------------------------------------ packing
def pack_dataset(
    src: str | Path,
    dst: str | Path,
    *,
    quality: int = DEFAULT_QUALITY,
    lossless: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    layout: str = "auto",
    split: str = "train",
) -> dict[str, Any]:
    """Re-encode the training folder ``src`` as WebP images plus one ``metadata.jsonl`` in ``dst``.

    ``layout``/``split`` are those of ``train`` (which layout to read; which official
    ``filenames.pickle``). Returns a report: ``images`` (WebP files written), ``samples``
    (metadata lines), ``skipped`` (count by reason) and ``examples``, ``bytes_before``/``bytes_after``
    (source images / WebP files), ``caption_bytes_before``/``metadata_bytes``, ``copied``,
    ``removed`` (files of a previous pack deleted), ``warnings`` and ``seconds``. Raises
    :class:`PackError` (or ``DataError``) with a one-line message.
    """
    from tqdm.auto import tqdm

    from ..files import write_atomic
    from .folders import LAYOUTS, LOAD_ERRORS, open_image, rgb_or_rgba, scan_dataset

    start = time.perf_counter()
    src, dst = Path(src), Path(dst)
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise PackError(f"quality must be a whole number from 1 to 100, not {quality!r}")
    _check_paths(src, dst)
    samples, report = scan_dataset(src, layout=layout, split=split)
    if not samples:
        counts = ", ".join(f"{n} {kind}" for kind, n in report.counts().items()) or "no image-caption pairs found"
        raise PackError(f"{src} has no usable image-caption samples ({report.layout} layout; skipped: {counts}); "
                        f"check it with: galip-studio train {src} --check")
    problems: dict[str, list[str]] = {k: list(v) for k, v in report.problems.items()}

    # Plan: one WebP per distinct image, named after its path relative to SRC.
    root = src
    plan: dict[str, str] = {}  # normalised relative source path -> relative WebP name
    entries: list[tuple[str, Any]] = []  # (source key, sample) in scan order
    taken: set[str] = set()
    boxes = 0
    for sample in samples:
        try:
            rel = os.path.normpath(sample.image.relative_to(root).as_posix())
        except ValueError:
            rel = os.path.normpath(os.path.relpath(sample.image, root))
        rel = rel.replace(os.sep, "/")
        if rel == ".." or rel.startswith("../") or os.path.isabs(rel):
            problems.setdefault("image outside the data folder", []).append(str(sample.image))
            continue
        if rel not in plan:
            plan[rel] = _webp_name(rel, taken)
        entries.append((rel, sample))
        boxes += sample.box is not None
    copies = sorted((p for p in src.iterdir() if _travelling_file(p)), key=lambda p: p.name)
    targets = [dst / name for name in plan.values()]
    old, old_meta = _check_destination(dst, overwrite, targets, copies)

    # Clear the previous pack (the listing last, so an interrupted clean-up can be run again).
    for path in old:
        path.unlink()
    if old_meta is not None:
        old_meta.unlink()
    dst.mkdir(parents=True, exist_ok=True)

    written: dict[str, str] = {}  # relative source path -> WebP name, of the images written
    done: list[Path] = []
    sources = {rel: s.image for rel, s in reversed(entries)}
    save_args: dict[str, Any] = {"quality": quality, "method": 4}
    if lossless:
        save_args.update(lossless=True, exact=True)
    bytes_before = bytes_after = 0
    try:
        for rel, name in tqdm(plan.items(), desc="packing", unit="img", disable=not progress, file=sys.stderr):
            image, out = sources[rel], dst / name
            try:
                with open_image(image) as im:
                    im.load()
                    ready = rgb_or_rgba(im)
            except LOAD_ERRORS as e:
                problems.setdefault("unreadable image", []).append(f"{image}: {type(e).__name__}: {e}")
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                ready.save(out, format="WEBP", **save_args)
            except (OSError, ValueError) as e:
                out.unlink(missing_ok=True)
                problems.setdefault("not encodable as WebP", []).append(f"{image} ({ready.width}x{ready.height}): {e}")
                continue
            done.append(out)
            written[rel] = name
            bytes_before += image.stat().st_size
            bytes_after += out.stat().st_size
        if not written:
            raise PackError(f"none of the {len(plan)} images of {src} could be packed "
                            f"({', '.join(sorted(problems))})")
        lines = [_json_line({"file_name": written[rel], "text": list(s.captions)}) for rel, s in entries if rel in written]
        write_atomic(dst / METADATA, "\n".join(lines) + "\n")
        done.append(dst / METADATA)
    except BaseException:
        for path in done:  # an interrupted or failed pack leaves nothing behind that it wrote
            path.unlink(missing_ok=True)
        raise

    for path in copies:
        shutil.copyfile(path, dst / path.name)
    warnings = []
    if boxes:
        warnings.append(f"{boxes} samples have a CUB bounding box: the official layout crops around it, the "
                        "packed metadata layout does not (packing never crops), so training on DST sees whole images")
    if not copies:
        beside = sorted(p.name for p in src.resolve().parent.iterdir() if _travelling_file(p))
        if beside:
            warnings.append(f"no licence file in {src}, but its parent folder has {', '.join(beside)}: "
                            f"copy them into {dst} so the licences travel with the art")
    return {
        "src": str(src),
        "dst": str(dst),
        "layout": report.layout,
        "images": len(written),
        "samples": len(lines),
        "skipped": {k: len(v) for k, v in sorted(problems.items())},
        "examples": {k: v[:MAX_EXAMPLES] for k, v in sorted(problems.items())},
        "bytes_before": bytes_before,
        "bytes_after": bytes_after,
        "caption_bytes_before": _size(LAYOUTS[report.layout].caption_files(root, samples)),
        "metadata_bytes": (dst / METADATA).stat().st_size,
        "quality": quality,
        "lossless": lossless,
        "copied": [p.name for p in copies],
        "removed": len(old) + (old_meta is not None),
        "warnings": warnings,
        "seconds": round(time.perf_counter() - start, 1),
    }


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _ratio(before: int, after: int) -> str:
    return f"{before / max(after, 1):.2f}x smaller" if after <= before else f"{after / max(before, 1):.2f}x larger"


def format_report(report: Mapping[str, Any]) -> str:
    """Skipped samples by reason (as ``train --check`` lists them), then a one-line summary."""
    lines = []
    for kind, n in report["skipped"].items():
        lines.append(f"  skipped {n}: {kind}")
        lines.extend(f"    {item}" for item in report["examples"][kind])
        if n > len(report["examples"][kind]):
            lines.append(f"    ... and {n - len(report['examples'][kind])} more")
    before = report["bytes_before"] + report["caption_bytes_before"]
    after = report["bytes_after"] + report["metadata_bytes"]
    how = "lossless" if report["lossless"] else f"quality {report['quality']}"
    lines.append(
        f"packed {report['images']} images ({report['samples']} samples, {report['layout']} layout) into "
        f"{report['dst']} as WebP {how}: {_mb(before)} -> {_mb(after)} ({_ratio(before, after)}; "
        f"images {_mb(report['bytes_before'])} -> {_mb(report['bytes_after'])}, captions "
        f"{_mb(report['caption_bytes_before'])} -> {_mb(report['metadata_bytes'])} {METADATA}) in {report['seconds']} s"
    )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the pack command's arguments to ``parser``."""
    from ..choices import LAYOUT_CHOICES

    parser.add_argument("src", metavar="SRC", help="a training folder that galip-studio train reads (any layout)")
    parser.add_argument("dst", metavar="DST", help=f"output folder: WebP images and one {METADATA}")
    parser.add_argument("--quality", type=int, default=DEFAULT_QUALITY, metavar="Q",
                        help=f"WebP quality 1-100 (default {DEFAULT_QUALITY}); with --lossless the compression effort")
    parser.add_argument("--lossless", action="store_true", help="lossless WebP: exactly the same pixels")
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace a previous pack in DST (removes only the files its {METADATA} lists)")
    parser.add_argument("--layout", choices=LAYOUT_CHOICES, default="auto",
                        help="layout of SRC, as for train (default auto: official, metadata.jsonl, then folder)")
    parser.add_argument("--split", default="train", help="official layout: which filenames.pickle (default train)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    parser.set_defaults(prog=parser.prog)  # errors name the command as it was called


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``pack`` sub-command to an argparse ``subparsers`` object; returns the new parser."""
    parser = subparsers.add_parser(
        "pack",
        help="re-encode a training folder as WebP images plus one metadata.jsonl (to ship it)",
        description="Re-encode any image-caption folder that train reads as WebP images (same paths and sizes, "
        f"nothing resized or cropped) plus one {METADATA} with the same captions, and copy its licence files. train reads the "
        "result with the same samples and captions.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the ``pack`` sub-command; prints the report, or a one-line error and returns 1."""
    from .folders import DataError

    try:
        report = pack_dataset(args.src, args.dst, quality=args.quality, lossless=args.lossless,
                              overwrite=args.overwrite, progress=args.progress, layout=args.layout, split=args.split)
    except (PackError, DataError, OSError) as exc:
        print(f"{args.prog}: error: {exc}", file=sys.stderr)
        return 1
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(format_report(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m galip_studio.datasets.pack SRC DST [options]``."""
    parser = argparse.ArgumentParser(prog="python -m galip_studio.datasets.pack",
                                     description="Re-encode a training folder as WebP plus metadata.jsonl.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
