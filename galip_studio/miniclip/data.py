"""Image–caption folders as the mini-CLIP trains on them: identities, styles, caption tables, flips.

Scanning and image loading are :mod:`galip_studio.datasets.folders`', as for the GAN trainer: any layout
``galip-studio train`` reads works here, and the flip rule is the same function. What this module adds
is the mini-CLIP's view of a folder: ``<identity>__<style>`` file names group the styles of one
identity, and the whole folder sits in memory as ``uint8`` squares with an index of its captions.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ..config import NO_FLIP_PATTERN
from ..datasets.folders import LOAD_ERRORS, flip_allowed, load_rgb, pad_to_square, scan_dataset, to_uint8_tensor


def split_stem(stem: str) -> tuple[str, str | None]:
    """``<identity>__<style>`` → (identity, style); a stem without ``__`` is its own identity."""
    identity, sep, style = stem.rpartition("__")
    if sep and identity and style:
        return identity, style
    return stem, None


@dataclass(frozen=True)
class CaptionedImage:
    """One image file with its caption lines and its identity (the same emoji in every style)."""

    path: Path
    identity: str
    style: str | None
    captions: tuple[str, ...]


def read_caption_folder(folder: str | os.PathLike) -> list[CaptionedImage]:
    """The usable images of an image–caption folder, with their identity and style.

    Any layout the GALIP trainer reads works (:func:`galip_studio.datasets.folders.scan_dataset`): images with
    a same-name ``.txt`` (one caption per line), ``metadata.jsonl``, or the official GALIP layout.
    Images without captions and unreadable images are skipped; duplicate caption lines are dropped.
    """
    samples, report = scan_dataset(folder, layout="auto")
    items = []
    for sample in samples:
        identity, style = split_stem(sample.image.stem)
        items.append(CaptionedImage(sample.image, identity, style, tuple(dict.fromkeys(sample.captions))))
    if not items:
        raise ValueError(
            f"{folder} has no images with captions: expected <name>.png next to <name>.txt (one caption per line)\n"
            + report.format()
        )
    return items


def load_image_tensor(path: str | os.PathLike, size: int) -> torch.Tensor:
    """An image as ``uint8 [3, size, size]``: transparency on white, padded to a square with white, resized."""
    try:
        im = load_rgb(Path(path))
    except LOAD_ERRORS as e:
        raise ValueError(f"cannot read image {path}: {e}") from e
    im = pad_to_square(im)
    if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.LANCZOS)
    return to_uint8_tensor(im).contiguous()


def words(text: str) -> list[str]:
    """Lower-case word tokens of a caption."""
    return re.findall(r"[a-z0-9']+", text.lower())


@dataclass
class ImageCaptionSet:
    """An image–caption folder in memory, indexed for contrastive training and evaluation.

    Attributes:
        items: the files, one per image.
        images: ``uint8 [N, 3, S, S]``.
        identities: the distinct identities, sorted; ``identity_index[i]`` points into it.
        names: one canonical caption per identity (the most common first caption line of its images).
        captions: the distinct caption strings; ``caption_table[i]`` holds image i's caption ids,
            padded with -1.
        flip_ok: whether image i may be mirrored (none of its captions matches
            :data:`~galip_studio.config.NO_FLIP_PATTERN`).
    """

    root: Path
    items: list[CaptionedImage]
    images: torch.Tensor
    identities: list[str]
    identity_index: torch.Tensor
    names: list[str]
    captions: list[str]
    caption_table: torch.Tensor
    caption_counts: torch.Tensor
    flip_ok: torch.Tensor

    def __len__(self) -> int:
        return len(self.items)

    @property
    def styles(self) -> list[str | None]:
        return [item.style for item in self.items]

    def indices_of(self, identity: int) -> list[int]:
        """Image indices of one identity (by its index in :attr:`identities`)."""
        return torch.nonzero(self.identity_index == identity).flatten().tolist()

    def caption_words(self, identity: int) -> set[str]:
        """All words used in the captions of one identity's images."""
        return {w for i in self.indices_of(identity) for c in self.items[i].captions for w in words(c)}


def load_caption_set(folder: str | os.PathLike, image_size: int = 64) -> ImageCaptionSet:
    """Read an image–caption folder (:func:`read_caption_folder`) into an :class:`ImageCaptionSet`."""
    items = read_caption_folder(folder)
    images = torch.stack([load_image_tensor(item.path, image_size) for item in items])
    identities = sorted({item.identity for item in items})
    ident_of = {name: k for k, name in enumerate(identities)}
    first_lines: dict[str, Counter] = {name: Counter() for name in identities}
    for item in items:
        first_lines[item.identity][item.captions[0]] += 1
    names = [first_lines[name].most_common(1)[0][0] for name in identities]
    caption_id: dict[str, int] = {}
    for item in items:
        for c in item.captions:
            caption_id.setdefault(c, len(caption_id))
    width = max(len(item.captions) for item in items)
    table = torch.full((len(items), width), -1, dtype=torch.long)
    for i, item in enumerate(items):
        table[i, : len(item.captions)] = torch.tensor([caption_id[c] for c in item.captions])
    return ImageCaptionSet(
        root=Path(folder),
        items=items,
        images=images,
        identities=identities,
        identity_index=torch.tensor([ident_of[item.identity] for item in items], dtype=torch.long),
        names=names,
        captions=list(caption_id),
        caption_table=table,
        caption_counts=torch.tensor([len(item.captions) for item in items], dtype=torch.long),
        flip_ok=torch.tensor([flip_allowed(item.captions, NO_FLIP_PATTERN) for item in items], dtype=torch.bool),
    )


def resolve_data_dirs(data_dir: str | os.PathLike, eval_dir: str | os.PathLike | None = None) -> tuple[Path, Path | None]:
    """(train folder, held-out folder): a dataset root with ``train/`` (and ``test/``) uses those."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder not found: {data_dir}")
    if (data_dir / "train").is_dir():
        test = data_dir / "test"
        return data_dir / "train", Path(eval_dir) if eval_dir is not None else (test if test.is_dir() else None)
    return data_dir, Path(eval_dir) if eval_dir is not None else None
