"""Image–caption folders: the three layouts, the scan report, image loading and the flip rule.

What every reader of training folders shares (the GAN trainer, ``data pack``, the mini-CLIP and
evaluation). Layouts (one :data:`LAYOUTS` table; detected in its order, or forced with ``layout=``):

* ``official``: the GALIP/DF-GAN packages. ``<root>/<split>/filenames.pickle`` lists keys (a pickled
  list of strings, read without executing anything), captions are ``<root>/text/<key>.txt`` (one per
  line) and images ``<key>.jpg`` under ``images/``, ``CUB_200_2011/images/``, ``images/train2014/``,
  ... For CUB, ``CUB_200_2011/bounding_boxes.txt`` crops each bird as the official code does.
* ``metadata``: ``metadata.jsonl`` files (one JSON object a line with ``file_name``, relative to the
  metadata file, and ``text``, a string or a list of strings).
* ``folder``: every image (any depth) with a same-name ``.txt`` beside it, one caption per line.

Samples with an unreadable image or a missing/empty caption are skipped and counted in a
:class:`DataReport`. Images decode through :func:`open_image`, which refuses decompression bombs,
and :func:`load_rgb` composites transparency on white. :func:`flip_allowed` is the one rule of
which images may be mirrored. The training transform, dataset and sampler are
:mod:`galip_studio.train.data`'s.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
# Where the official packages keep images, relative to the data root.
OFFICIAL_IMAGE_DIRS = (
    "images",
    "CUB_200_2011/images",
    "images/train2014",
    "images/val2014",
    "images/train2014/jpg",
    "images/val2014/jpg",
    ".",
)
# Official resize rule: the shorter side goes to int(S * 76 / 64) before a random S crop.
LOAD_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def open_image(path: str | os.PathLike | Any) -> Image.Image:
    """``Image.open`` that refuses any image above Pillow's decompression-bomb limit before decoding it
    (Pillow only warns, and decodes, up to twice the limit): raises ``Image.DecompressionBombError``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused just below instead
        im = Image.open(path)
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and im.width * im.height > limit:
        im.close()
        raise Image.DecompressionBombError(
            f"the image is {im.width}x{im.height} = {im.width * im.height:,} pixels, above the limit of {int(limit):,} "
            f"(Pillow's decompression-bomb limit)"
        )
    return im


class DataError(ValueError):
    """The training data cannot be used; the message names the folder or file and the fix."""


@dataclass(frozen=True)
class Sample:
    """One image and its captions. ``box`` is a CUB bounding box ``(x, y, w, h)`` to crop around."""

    image: Path
    captions: tuple[str, ...]
    box: tuple[float, float, float, float] | None = None


@dataclass
class DataReport:
    """What a scan found: usable samples and, per kind of problem, the files concerned."""

    root: str
    layout: str
    usable: int = 0
    problems: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, detail: str) -> None:
        self.problems.setdefault(kind, []).append(detail)

    @property
    def skipped(self) -> int:
        return sum(len(v) for v in self.problems.values())

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in sorted(self.problems.items())}

    def to_dict(self, max_examples: int = 20) -> dict[str, Any]:
        return {
            "root": self.root,
            "layout": self.layout,
            "usable": self.usable,
            "skipped": self.counts(),
            "examples": {k: v[:max_examples] for k, v in sorted(self.problems.items())},
        }

    def format(self, max_examples: int = 5) -> str:
        lines = [f"data: {self.root} ({self.layout} layout): {self.usable} usable image-caption samples"]
        if not self.problems:
            lines.append("  nothing skipped")
        for kind, items in sorted(self.problems.items()):
            lines.append(f"  skipped {len(items)}: {kind}")
            lines.extend(f"    {item}" for item in items[:max_examples])
            if len(items) > max_examples:
                lines.append(f"    ... and {len(items) - max_examples} more")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------- scanning
def read_captions(text: str) -> tuple[str, ...]:
    """Non-empty, stripped lines of a caption file (DF-GAN's '\\ufffd\\ufffd' artefacts become spaces)."""
    lines = (ln.replace("\ufffd\ufffd", " ").strip() for ln in text.splitlines())
    return tuple(ln for ln in lines if ln)


def _read_caption_file(path: Path, report: DataReport, lenient: bool = False) -> tuple[str, ...] | None:
    """The captions of one file; a file that is not UTF-8 is skipped and named in the report (it would
    train as mojibake), except with ``lenient`` (the official DF-GAN text, whose known artefacts
    :func:`read_captions` cleans)."""
    if not path.is_file():
        report.add("missing caption", str(path))
        return None
    try:
        raw = path.read_bytes()
    except OSError as e:
        report.add("unreadable caption", f"{path}: {e}")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if not lenient:
            report.add("caption not UTF-8", f"{path}: byte 0x{raw[e.start]:02x} at offset {e.start}; save it as UTF-8")
            return None
        text = raw.decode("utf-8", errors="replace")
    captions = read_captions(text)
    if not captions:
        report.add("empty caption", str(path))
        return None
    return captions


def image_readable(path: Path) -> str | None:
    """``None`` when ``path`` opens as an image (header and structure check), else the reason."""
    try:
        with open_image(path) as im:
            im.verify()
    except LOAD_ERRORS as e:
        return f"{type(e).__name__}: {e}"
    return None


class _NoCodeUnpickler(pickle.Unpickler):
    """Unpickles plain containers and strings only: any class or function reference is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: filenames.pickle must be a list of strings")


def load_filenames_pickle(path: str | Path) -> list[str]:
    """Read an official ``filenames.pickle`` (a list of keys) without executing code."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            obj = _NoCodeUnpickler(io.BytesIO(fh.read()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise DataError(f"{path} is not a pickled list of file names: {e}") from e
    if not isinstance(obj, (list, tuple)):
        raise DataError(f"{path} holds a {type(obj).__name__}, expected a list of file names")
    keys = []
    for item in obj:
        if isinstance(item, bytes):
            item = item.decode("utf-8", errors="replace")
        if not isinstance(item, str):
            raise DataError(f"{path} holds a {type(item).__name__} entry, expected strings")
        keys.append(item)
    return keys


def _cub_boxes(root: Path) -> dict[str, tuple[float, float, float, float]]:
    """CUB bounding boxes by key (``001.Black_footed_Albatross/..._0046_18``), if the files exist."""
    base = root / "CUB_200_2011"
    images, boxes = base / "images.txt", base / "bounding_boxes.txt"
    if not (images.is_file() and boxes.is_file()):
        return {}
    names = dict(line.split(maxsplit=1) for line in images.read_text().splitlines() if line.strip())
    out = {}
    for line in boxes.read_text().splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] in names:
            key = names[parts[0]].strip().rsplit(".", 1)[0]
            out[key] = tuple(float(v) for v in parts[1:])  # type: ignore[assignment]
    return out


def _official_pickle(root: Path, split: str) -> Path | None:
    for candidate in (root / split / "filenames.pickle", root / "filenames.pickle"):
        if candidate.is_file():
            return candidate
    return None


def _find_official_image(root: Path, key: str) -> Path | None:
    for folder in OFFICIAL_IMAGE_DIRS:
        for ext in (".jpg", ".jpeg", ".png"):
            path = root / folder / f"{key}{ext}"
            if path.is_file():
                return path
    return None


def _scan_official(root: Path, split: str, report: DataReport) -> list[tuple[Path, tuple[str, ...], Any]]:
    pickle_path = _official_pickle(root, split)
    if pickle_path is None:
        raise DataError(f"{root} has no {split}/filenames.pickle (official GALIP/DF-GAN layout)")
    boxes = _cub_boxes(root)
    found = []
    for key in load_filenames_pickle(pickle_path):
        image = _find_official_image(root, key)
        if image is None:
            report.add("missing image", f"{key} (looked in {', '.join(OFFICIAL_IMAGE_DIRS)} under {root})")
            continue
        captions = _read_caption_file(root / "text" / f"{key}.txt", report, lenient=True)
        if captions is not None:
            found.append((image, captions, boxes.get(key)))
    return found


def _visible_files(root: Path, pattern: str) -> Iterator[Path]:
    for path in sorted(root.rglob(pattern)):
        if not any(part.startswith(".") for part in path.relative_to(root).parts):
            yield path


def _scan_metadata(root: Path, report: DataReport) -> list[tuple[Path, tuple[str, ...], Any]]:
    found = []
    for meta in _visible_files(root, "metadata.jsonl"):
        for n, line in enumerate(meta.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as e:
                report.add("bad metadata line", f"{meta}:{n}: {e}")
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str):
                report.add("bad metadata line", f"{meta}:{n}: no \"file_name\"")
                continue
            image = meta.parent / entry["file_name"]
            if not image.is_file():
                report.add("missing image", f"{image} ({meta}:{n})")
                continue
            text = entry.get("text")
            if text is None:
                report.add("missing caption", f"{image} ({meta}:{n}: no \"text\")")
                continue
            texts = [text] if isinstance(text, str) else text if isinstance(text, list) else []
            captions = tuple(c for t in texts if isinstance(t, str) for c in read_captions(t))
            if not captions:
                report.add("empty caption", f"{image} ({meta}:{n})")
                continue
            found.append((image, captions, None))
    return found


def _scan_folder(root: Path, report: DataReport) -> list[tuple[Path, tuple[str, ...], Any]]:
    found = []
    images = set()
    for path in _visible_files(root, "*"):
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file():
            images.add(path.with_suffix(""))
            captions = _read_caption_file(path.with_suffix(".txt"), report)
            if captions is not None:
                found.append((path, captions, None))
    for txt in _visible_files(root, "*.txt"):
        if txt.with_suffix("") not in images and txt.name.lower() not in ("license.txt", "licenses.txt", "readme.txt"):
            report.add("caption without image", str(txt))
    return found



def _official_caption_files(root: Path, samples: Sequence[Sample]) -> set[Path]:
    """``text/<key>.txt``, the key being the image's path under its image folder."""
    found = set()
    for s in samples:
        for folder in OFFICIAL_IMAGE_DIRS:
            base = root / folder
            if s.image == base or base in s.image.parents:
                txt = root / "text" / s.image.relative_to(base).with_suffix(".txt")
                if txt.is_file():
                    found.add(txt)
                    break
    return found


@dataclass(frozen=True)
class Layout:
    """One folder layout: whether a folder has it, how to scan it, and which files its captions come
    from (for ``data pack``'s size report)."""

    name: str
    detect: Callable[[Path, str], bool]  # (root, split)
    scan: Callable[[Path, str, DataReport], list[tuple[Path, tuple[str, ...], Any]]]  # (root, split, report)
    caption_files: Callable[[Path, Sequence[Sample]], set[Path]]  # (root, samples)


# Every layout, in the order ``auto`` tries them (the folder layout takes whatever is left).
LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    Layout("official", lambda root, split: _official_pickle(root, split) is not None, _scan_official,
           _official_caption_files),
    Layout("metadata",
           lambda root, split: (root / "metadata.jsonl").is_file() or next(_visible_files(root, "metadata.jsonl"), None) is not None,
           lambda root, split, report: _scan_metadata(root, report),
           lambda root, samples: {p for p in _visible_files(root, "metadata.jsonl") if p.is_file()}),
    Layout("folder", lambda root, split: True, lambda root, split, report: _scan_folder(root, report),
           lambda root, samples: {s.image.with_suffix(".txt") for s in samples}),
)}
LAYOUT_CHOICES = ("auto", *LAYOUTS)  # what --layout accepts


def detect_layout(root: str | Path, split: str = "train") -> str:
    root = Path(root)
    return next(name for name, layout in LAYOUTS.items() if layout.detect(root, split))


def scan_dataset(
    root: str | Path, layout: str = "auto", split: str = "train", verify: bool = True
) -> tuple[list[Sample], DataReport]:
    """Find the usable samples under ``root`` and report what was skipped.

    ``verify`` opens every image (header and structure, not a full decode) so that broken files are
    reported before training starts; files that break later are handled at fetch time.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    if layout not in LAYOUT_CHOICES:
        raise DataError(f"unknown data layout {layout!r}; choose one of {', '.join(LAYOUT_CHOICES)}")
    if layout == "auto":
        layout = detect_layout(root, split)
    report = DataReport(root=str(root), layout=layout)
    found = LAYOUTS[layout].scan(root, split, report)
    samples = []
    for image, captions, box in found:
        if verify:
            problem = image_readable(image)
            if problem is not None:
                report.add("unreadable image", f"{image}: {problem}")
                continue
        samples.append(Sample(image=image, captions=captions, box=box))
    report.usable = len(samples)
    return samples, report


def data_digest(root: str | os.PathLike, max_files: int = 10_000_000) -> dict[str, Any]:
    """A fingerprint of a data folder's files, so that a resumed run notices data that changed under
    the same path: a SHA-256 over every visible file's name (relative to ``root``), size and
    modification time, symbolic links followed (a re-pointed link reads as other files). One
    ``stat`` per file and no reading, so it costs a small part of the scan; an image swapped for
    another changes its size or time. ``{"files": N, "sha256": hex}``."""
    import hashlib

    root = Path(root)
    digest = hashlib.sha256()
    count = 0
    visited: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:  # a link back up the tree
            dirs[:] = []
            continue
        visited.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = Path(folder).relative_to(root).as_posix()
        for name in sorted(f for f in files if not f.startswith(".")):
            try:
                st = os.stat(os.path.join(folder, name))
                entry = f"{rel}/{name}\0{st.st_size}\0{st.st_mtime_ns}\n"
            except OSError:  # a broken link
                entry = f"{rel}/{name}\0missing\n"
            digest.update(entry.encode("utf-8", "surrogateescape"))
            count += 1
            if count > max_files:
                raise DataError(f"{root} holds more than {max_files} files; not a training folder")
    return {"files": count, "sha256": digest.hexdigest()}


# ---------------------------------------------------------------------------------------- images
def rgb_or_rgba(im: Image.Image) -> Image.Image:
    """A decoded image as 8-bit RGB, or RGBA when it has transparency (not yet composited): what
    :func:`load_rgb` starts from, and what ``data pack`` stores."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit grey (PNG opens it as I;16 or I): convert("RGB") would clip every value above
        # 255 to white; scale 0-65535 to 0-255 instead.
        grey = np.asarray(im, dtype=np.float64).clip(0, 65535) / 257.0
        im = Image.fromarray(grey.round().astype(np.uint8))
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    return im.convert("RGBA" if has_alpha else "RGB")


def load_rgb(path: Path, box: tuple[float, float, float, float] | None = None) -> Image.Image:
    """Decode an image as RGB; transparency is composited on white. ``box`` crops as DF-GAN does for CUB."""
    with open_image(path) as im:
        im.load()
        rgb = rgb_or_rgba(im)
        if rgb.mode == "RGBA":
            white = Image.new("RGBA", rgb.size, (255, 255, 255, 255))
            rgb = Image.alpha_composite(white, rgb).convert("RGB")
    if box is not None:
        width, height = rgb.size
        r = int(max(box[2], box[3]) * 0.75)
        cx, cy = int((2 * box[0] + box[2]) / 2), int((2 * box[1] + box[3]) / 2)
        rgb = rgb.crop((max(0, cx - r), max(0, cy - r), min(width, cx + r), min(height, cy + r)))
    return rgb



def pad_to_square(image: Image.Image, fill: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Centre an RGB image on a square canvas of its longer side (white by default: the colour
    :func:`load_rgb` puts behind transparency). A square image is returned as it is."""
    if image.width == image.height:
        return image
    side = max(image.size)
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return canvas


def to_uint8_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> ``[3, H, W]`` uint8 (a channels-first view of a copy of the pixels)."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> ``[3, H, W]`` float32 in [-1, 1]."""
    return to_uint8_tensor(image).float().div_(127.5).sub_(1.0)


# ---------------------------------------------------------------------------------------- flips
def flip_exclude_pattern(flip_exclude: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    """``flip_exclude`` (a regular expression, as text or compiled) made case-insensitive; ``None`` or
    ``""``: nothing is excluded."""
    if not flip_exclude:
        return None
    if isinstance(flip_exclude, re.Pattern):
        if flip_exclude.flags & re.IGNORECASE:
            return flip_exclude
        return re.compile(flip_exclude.pattern, flip_exclude.flags | re.IGNORECASE)
    try:
        return re.compile(flip_exclude, re.IGNORECASE)
    except re.error as e:
        raise DataError(f"--flip-exclude {flip_exclude!r} is not a valid regular expression: {e}") from e


def flip_allowed(captions: Sequence[str], flip_exclude: str | re.Pattern[str] | None) -> bool:
    """Whether an image may be mirrored: none of its captions matches ``flip_exclude`` anywhere
    (case-insensitive; e.g. ``left|right|arrow|flag``, or :data:`galip_studio.config.NO_FLIP_PATTERN`).

    The one rule of both trainers: the GAN trainer's ``--flip-exclude`` and the mini-CLIP's flips.
    """
    pattern = flip_exclude_pattern(flip_exclude)
    return pattern is None or not any(pattern.search(c) for c in captions)
