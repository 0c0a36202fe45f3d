"""The build: the identity split, the plan of images and captions, and writing the dataset folder."""

from __future__ import annotations

import datetime as _dt
import json
import os
import random
import shutil
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .art import ART_FRACTION, IconRef, art_path, iconify_index, index_fluent, load_iconify, open_art, render_emoji
from .captions import DEFAULT_TAG_CAPTIONS, assign_slugs, choose_keywords, clean_name, make_captions
from .errors import DatasetError
from .metadata import Annotation, EmojiEntry, Key, load_annotations, load_entries, region_code
from .npm import default_packages_dir, fetch_packages, find_unpacked_packages, package_version
from .sources import DEFAULT_STYLES, FLUENT, METADATA_PACKAGE, NAMES_PACKAGE, PACKAGES, STYLES, licenses_markdown


def split_identities(keys: Sequence[Key], holdout: float, seed: int) -> set[Key]:
    """Held-out identities: the first ``round(holdout * n)`` of a ``seed``-ed shuffle of ``keys``.

    With ``0 < holdout`` and at least two identities, both sides get at least one.
    """
    order = list(keys)
    random.Random(seed).shuffle(order)
    n_test = round(holdout * len(order))
    if holdout > 0 and len(order) > 1:
        n_test = min(max(n_test, 1), len(order) - 1)
    return set(order[:n_test])


def category_folder(category: str) -> str:
    """The folder name of an ``emoji.json`` category: ``"Food & Drink"`` → ``"food-drink"``."""
    words = "".join(c if c.isalnum() else " " for c in category.lower()).split()
    return "-".join(words) or "uncategorised"


@dataclass(frozen=True)
class _Job:
    entry: EmojiEntry
    style: str
    source: Path | IconRef
    split: str
    stem: str
    captions: tuple[str, ...]
    folder: str = ""  # below the split folder: the category's with category_folders, else none

    @property
    def path(self) -> Path:
        """The image's path below the output folder, without the suffix."""
        return Path(self.split, self.folder, self.stem)


def _validate(size: int, styles: Sequence[str], holdout: float, limit: int | None) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(s.strip().lower() for s in styles if s.strip()))
    unknown = [s for s in chosen if s not in STYLES]
    if unknown or not chosen:
        raise DatasetError(f"unknown or empty styles {list(unknown) or list(styles)}; "
                           f"choose from {','.join(STYLES)}")
    if size < 8:
        raise DatasetError(f"size {size} is too small; use at least 8 px")
    if not 0 <= holdout < 1:
        raise DatasetError(f"holdout {holdout} must be in [0, 1)")
    if limit is not None and limit < 1:
        raise DatasetError(f"limit {limit} must be a positive number of identities")
    return chosen


def select_categories(entries: Sequence[EmojiEntry], categories: Sequence[str] | None) -> frozenset[str] | None:
    """The ``emoji.json`` categories named by ``categories`` (case-insensitive), or None for all.

    Raises :class:`DatasetError` naming the available categories when one is unknown.
    """
    if categories is None:
        return None
    known = {e.category.lower(): e.category for e in entries}
    wanted = [c.strip() for c in categories if c.strip()]
    unknown = [c for c in wanted if c.lower() not in known]
    if unknown or not wanted:
        raise DatasetError(f"unknown or empty categories {unknown or list(categories)}; choose from "
                           + ", ".join(sorted(known.values())))
    return frozenset(known[c.lower()] for c in wanted)


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    managed = [out / "train", out / "test", out / "LICENSES.md", out / "dataset.json"]
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out} exists and is not a directory; choose another output path")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise DatasetError(f"{out} is not empty; pass --overwrite to replace a previous build or choose "
                               "an empty dir")
        for path in managed:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    for split in ("train", "test"):
        (out / split).mkdir(parents=True, exist_ok=True)


def _locate(
    styles: Sequence[str], packages_dir: Path | None, from_dir: Path | None
) -> tuple[dict[str, Path], dict[str, str]]:
    """Package dirs and their versions for the chosen styles plus the metadata and name sources."""
    names = dict.fromkeys([METADATA_PACKAGE, NAMES_PACKAGE] + [STYLES[s].package for s in styles])
    specs = [PACKAGES[n] for n in names]
    if from_dir is not None:
        dirs = find_unpacked_packages(Path(from_dir).expanduser(), specs)
    else:
        cache = Path(packages_dir).expanduser() if packages_dir else default_packages_dir()
        dirs = fetch_packages(specs, cache)
    versions = {n: package_version(d, n) or "unknown" for n, d in dirs.items()}
    return dirs, versions


def read_identities(value: str) -> list[str]:
    """The identity names of ``--identities``: ``everyday`` (the bundled model's vocabulary,
    ``galip_studio/data/everyday_emoji.txt``), ``@FILE`` (names separated by spaces or lines, ``#``
    comments), or a comma-separated list. A name is an image's file name without ``__style``.
    """
    from importlib import resources

    if value == "everyday":
        text = resources.files("galip_studio").joinpath("data/everyday_emoji.txt").read_text(encoding="utf-8")
    elif value.startswith("@"):
        path = Path(value[1:]).expanduser()
        try:
            with path.open(encoding="utf-8") as handle:
                text = handle.read(1 << 20)
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"cannot read the identity list {path} ({exc.__class__.__name__}); "
                               "give a UTF-8 text file of emoji names") from exc
    else:
        text = value.replace(",", " ")
    names = [word for line in text.splitlines() for word in line.split("#", 1)[0].split()]
    if not names:
        raise DatasetError(f"no identity names in {value!r}; give names such as red-apple,cat-face")
    return list(dict.fromkeys(names))


def _plan(
    entries: Sequence[EmojiEntry],
    annotations: Mapping[Key, Annotation],
    styles: Sequence[str],
    dirs: Mapping[str, Path],
    *,
    holdout: float,
    seed: int,
    limit: int | None,
    tag_captions: int,
    categories: frozenset[str] | None = None,
    category_folders: bool = False,
    identities: Sequence[str] | None = None,
) -> tuple[list[_Job], dict[str, int]]:
    """Every (entry, style) image to write, and per-style counts of entries without art."""
    texts = [_annotation_for(e, annotations) for e in entries]
    slugs = assign_slugs([clean_name(t) for t in texts], [e.unified.lower() for e in entries])
    bases = [e for e in entries if e.variant_index == 0]
    base_text = {e.key: _annotation_for(e, annotations) for e in bases}
    tag_src = [_tags_without_region_code(e.key, annotations) for e in bases]
    keywords = dict(zip(
        (e.key for e in bases),
        choose_keywords([clean_name(base_text[e.key]) for e in bases], tag_src,
                        [e.short_names for e in bases], count=tag_captions),
        strict=True,
    ))
    test_keys = split_identities([e.key for e in bases], holdout, seed)
    wanted = [e for e in bases if categories is None or e.category in categories]
    if identities is not None:
        slug_of = {e.key: slug for e, slug in zip(entries, slugs, strict=True) if e.variant_index == 0}
        known = {slug_of[e.key]: e for e in wanted}
        unknown = [name for name in identities if name not in known]
        if unknown:
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise DatasetError(f"unknown emoji {', '.join(unknown[:5])}{more}: give names as in the full build's "
                               "file names (red-apple for red-apple__3d.png)"
                               + (" within the chosen categories" if categories is not None else ""))
        chosen_keys = {known[name].key for name in identities}
        wanted = [e for e in wanted if e.key in chosen_keys]
    kept = {e.key for e in wanted[:limit]}
    fluent = index_fluent(dirs[FLUENT]) if "3d" in styles else {}
    icons = {style: iconify_index(load_iconify(dirs[STYLES[style].package]), entries, annotations)
             for style in styles if STYLES[style].kind == "iconify"}
    jobs: list[_Job] = []
    missing = dict.fromkeys(styles, 0)
    for entry, text, slug in zip(entries, texts, slugs, strict=True):
        if entry.base_key not in kept:
            continue
        for style in styles:
            source = art_path(entry, style, dirs[STYLES[style].package], fluent, icons.get(style))
            if source is None:
                missing[style] += 1
                continue
            captions = make_captions(text, STYLES[style].word, keywords[entry.base_key])
            split = "test" if entry.base_key in test_keys else "train"
            folder = category_folder(entry.category) if category_folders else ""
            jobs.append(_Job(entry, style, source, split, f"{slug}__{style}", tuple(captions), folder))
    return jobs, missing


def _tags_without_region_code(key: Key, annotations: Mapping[Key, Annotation]) -> tuple[str, ...]:
    """CLDR tags of ``key`` minus the flag's region code (``'gbeng'`` is no caption)."""
    ann = annotations.get(key)
    code = region_code(key)
    return tuple(t for t in ann.tags if not code or t.strip().lower() != code) if ann else ()


def _annotation_for(entry: EmojiEntry, annotations: Mapping[Key, Annotation]) -> str:
    """CLDR short name of an entry; falls back to the emoji.json Unicode name, lowercased."""
    ann = annotations.get(entry.key)
    return ann.name if ann else entry.unicode_name.lower()


def _write_images(jobs: Sequence[_Job], out: Path, size: int, progress: bool) -> None:
    from tqdm.auto import tqdm

    for job in tqdm(jobs, desc="emoji images", unit="img", disable=not progress):
        try:
            image = render_emoji(open_art(job.source, size), size, art_inset=STYLES[job.style].art_inset)
        except OSError as exc:
            raise DatasetError(f"cannot read {job.source} ({exc}); delete the unpacked package and retry") \
                from exc
        path = out / job.path
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path.with_suffix(".png"), format="PNG")
        path.with_suffix(".txt").write_text("\n".join(job.captions) + "\n", encoding="utf-8")


def _counts(jobs: Sequence[_Job], styles: Sequence[str]) -> dict[str, dict[str, Any]]:
    counts: dict[str, dict[str, Any]] = {}
    for split in ("train", "test"):
        mine = [j for j in jobs if j.split == split]
        counts[split] = {
            "identities": len({j.entry.base_key for j in mine}),
            "images": {s: sum(1 for j in mine if j.style == s) for s in styles},
            "total": len(mine),
        }
    return counts


def build_emoji_dataset(
    out_dir: str | os.PathLike[str],
    *,
    packages_dir: str | os.PathLike[str] | None = None,
    from_dir: str | os.PathLike[str] | None = None,
    size: int = 64,
    styles: Sequence[str] = DEFAULT_STYLES,
    holdout: float = 0.1,
    seed: int = 0,
    skin_tones: bool = False,
    limit: int | None = None,
    categories: Sequence[str] | None = None,
    progress: bool = True,
    tag_captions: int = DEFAULT_TAG_CAPTIONS,
    overwrite: bool = False,
    category_folders: bool = False,
    identities: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Build the emoji image–caption folder in ``out_dir`` and return the report (also ``dataset.json``).

    ``packages_dir`` is the npm tarball cache (default ``~/.cache/galip-studio/npm``); ``from_dir``
    instead points at already unpacked packages (no npm needed). ``limit`` keeps the first N identities
    in emoji-picker order (a subset of the full build); ``categories`` keeps only those ``emoji.json``
    categories (``["Food & Drink"]``, case-insensitive; same split as the full build); ``identities``
    keeps only the emoji of those names (``["red-apple", "cat-face"]``, see :func:`read_identities`;
    same split as the full build, so a held-out name lands in ``test/``).
    ``tag_captions`` is the number of keyword captions per image (0–2). ``category_folders`` puts each
    image in a folder of its category (``train/food-drink/``), for ``train --balance``. A non-empty ``out_dir`` needs
    ``overwrite=True``. Raises :class:`DatasetError` with a one-line fix for every expected failure.
    """
    started = time.monotonic()
    chosen = _validate(size, styles, holdout, limit)
    if size > round(64 / ART_FRACTION) and any(STYLES[s].kind == "datasource" for s in chosen):
        warnings.warn(f"size {size}: the google and twitter sources are 64 px, so they will be upscaled",
                      stacklevel=2)
    out = Path(out_dir).expanduser()
    dirs, versions = _locate(chosen, packages_dir, from_dir)
    entries = load_entries(dirs[METADATA_PACKAGE] / "emoji.json", skin_tones=skin_tones)
    annotations = load_annotations(dirs[NAMES_PACKAGE] / "data" / "openmoji.json")
    chosen_categories = select_categories(entries, categories)
    jobs, missing = _plan(entries, annotations, chosen, dirs, holdout=holdout, seed=seed, limit=limit,
                          tag_captions=tag_captions, categories=chosen_categories, category_folders=category_folders,
                          identities=identities)
    if not jobs:
        raise DatasetError("no images to write: the chosen styles have no art for the chosen identities")
    _prepare_out_dir(out, overwrite)
    _write_images(jobs, out, size, progress)
    report: dict[str, Any] = {
        "name": "galip-studio emoji",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "packages": versions,
        "styles": list(chosen),
        "size": size,
        "seed": seed,
        "holdout": holdout,
        "skin_tones": skin_tones,
        "limit": limit,
        "categories": sorted(chosen_categories) if chosen_categories else None,
        "identities": len(identities) if identities is not None else None,
        "tag_captions": tag_captions,
        "counts": _counts(jobs, chosen),
        "missing_art": missing,
        "named_from_unicode": sum(1 for e in entries if e.key not in annotations),
        "category_folders": category_folders,
        "layout": ("<split>/<category>/" if category_folders else "<split>/")
        + "<slug>__<style>.png with captions, one per line, in <slug>__<style>.txt",
    }
    (out / "LICENSES.md").write_text(licenses_markdown(versions, chosen), encoding="utf-8")
    manifest = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    (out / "dataset.json").write_text(manifest, encoding="utf-8")
    report["out_dir"] = str(out)
    report["seconds"] = round(time.monotonic() - started, 1)
    return report
