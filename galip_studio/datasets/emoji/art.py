"""Emoji art: finding an emoji's source image in each style, opening it (SVGs via resvg) and rendering it."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .captions import clean_name, slugify
from .errors import DatasetError
from .metadata import Annotation, EmojiEntry, Key, normalise_key, read_json
from .sources import FLUENT, STYLES, V1_STYLES


ART_FRACTION = 56 / 64  # emoji art box as a fraction of the canvas side
SVG_RENDER_SCALE = 4  # SVGs are rasterised at 4x the art size, then downsampled like the PNG styles


@dataclass(frozen=True)
class IconRef:
    """One icon of an Iconify JSON set: the source of an SVG style's image."""

    package_dir: Path
    name: str

    def __str__(self) -> str:
        return f"{self.package_dir / 'icons.json'}#{self.name}"


def render_emoji(src: Image.Image, size: int, *, art_inset: float = 0.0) -> Image.Image:
    """Square RGB image: the art box scaled to 56/64 of ``size``, centred, composited on white.

    The art box is the centred square with ``art_inset`` of the shorter side cut from each edge,
    grown (still centred) if the alpha channel reaches beyond it.
    """
    rgba = src.convert("RGBA")
    w, h = rgba.size
    cx, cy = w / 2, h / 2
    half = min(w, h) / 2 * (1 - 2 * art_inset)
    bbox = rgba.getchannel("A").getbbox()
    if bbox:
        half = max(half, cx - bbox[0], bbox[2] - cx, cy - bbox[1], bbox[3] - cy)
    side = max(1, round(2 * half))
    left, top = round(cx - side / 2), round(cy - side / 2)
    art_box = rgba.crop((left, top, left + side, top + side))  # pads with transparent pixels
    inner = max(1, round(size * ART_FRACTION))
    art = art_box.resize((inner, inner), Image.Resampling.LANCZOS)  # premultiplied for RGBA
    canvas = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    offset = (size - inner) // 2
    canvas.alpha_composite(art, (offset, offset))
    return canvas.convert("RGB")


def index_fluent(package_dir: Path) -> dict[Key, Path]:
    """Fluent 3D files by normalised key (``00a9-fe0f.webp``, ``1f3f4-e0067_e0062_….webp``)."""
    assets = package_dir / "assets"
    if not assets.is_dir():
        raise DatasetError(f"{assets} is missing; the {FLUENT} package looks incomplete, delete it and retry")
    index: dict[Key, Path] = {}
    for path in sorted(assets.glob("*.webp")):
        try:
            index.setdefault(normalise_key(path.stem), path)
        except ValueError:
            continue
    return index


@dataclass(frozen=True)
class IconifySet:
    """An Iconify JSON icon set (``icons.json`` + optional ``chars.json``) as plain data."""

    icons: Mapping[str, Mapping[str, Any]]  # name -> {"body", optional "left"/"top"/"width"/"height"}
    aliases: Mapping[str, str]  # alias name -> parent icon name (aliases with transforms are left out)
    chars: Mapping[str, str]  # code-point sequence (hex, '-' joined) -> icon or alias name
    width: float
    height: float

    def svg(self, name: str) -> str:
        """A standalone SVG document for icon (or alias) ``name``, its view box the icon's own."""
        icon = self.icons[self.aliases.get(name, name)]
        left, top = icon.get("left", 0), icon.get("top", 0)
        width, height = icon.get("width", self.width), icon.get("height", self.height)
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'viewBox="{left} {top} {width} {height}" width="{width}" height="{height}">{icon["body"]}</svg>'
        )


_iconify_cache: dict[Path, IconifySet] = {}


def load_iconify(package_dir: Path) -> IconifySet:
    """Read an ``@iconify-json/*`` package (cached per folder). Raises :class:`DatasetError` if broken."""
    package_dir = Path(package_dir)
    if package_dir in _iconify_cache:
        return _iconify_cache[package_dir]
    data = read_json(package_dir / "icons.json")
    chars_file = package_dir / "chars.json"
    chars = read_json(chars_file) if chars_file.is_file() else {}
    icons = data.get("icons") if isinstance(data, dict) else None
    if not isinstance(icons, dict) or not isinstance(chars, dict):
        raise DatasetError(f"{package_dir / 'icons.json'} is not an Iconify icon set; delete the unpacked "
                           "package and retry")
    aliases = {
        name: alias["parent"] for name, alias in (data.get("aliases") or {}).items()
        if isinstance(alias, dict) and set(alias) == {"parent"} and alias["parent"] in icons
    }
    result = IconifySet(icons, aliases, {str(k): str(v) for k, v in chars.items()},
                        float(data.get("width", 16)), float(data.get("height", 16)))
    _iconify_cache[package_dir] = result
    return result


def _squash(slug: str) -> str:
    return slug.replace("-", "")


def iconify_index(
    icon_set: IconifySet, entries: Sequence[EmojiEntry], annotations: Mapping[Key, Annotation]
) -> dict[Key, str]:
    """Icon name for each entry key the set has art for.

    A set's ``chars.json`` (code points → name) decides where it has one. Otherwise an icon name is
    matched against the entries' names in three tiers, each as a slug (``red-apple``) and squashed
    (``redapple``, Firefox OS's naming): the CLDR short name (``flag-france``, and the caption form
    ``flag-of-france``), then the Unicode name, then the
    emoji.json short names. A name found in a higher tier is never looked up in a lower one (``cat`` is
    CLDR's cat, not the ``cat`` short name of cat face), and a name two entries share in its tier is
    skipped rather than guessed.
    """
    index: dict[Key, str] = {}
    names = list(icon_set.icons) + list(icon_set.aliases)
    for code, name in icon_set.chars.items():
        try:
            key = normalise_key(code)
        except ValueError:
            continue
        if name in icon_set.icons or name in icon_set.aliases:
            index.setdefault(key, name)
    tiers: list[dict[str, set[Key]]] = [{}, {}, {}]
    for entry in entries:
        ann = annotations.get(entry.key)
        sources = ([ann.name, clean_name(ann.name)] if ann else [], [entry.unicode_name],
                   list(entry.short_names))
        for tier, texts in zip(tiers, sources, strict=True):
            for text in texts:
                slug = slugify(text.replace("_", " "))
                for variant in {slug, _squash(slug)} - {""}:
                    tier.setdefault(variant, set()).add(entry.key)
    matched = set(index.values())
    for name in sorted(names):
        if name in matched:
            continue
        for tier in tiers:
            keys = tier.get(name)
            if keys is None:
                continue
            if len(keys) == 1:
                index.setdefault(next(iter(keys)), name)
            break
    return index


def art_path(
    entry: EmojiEntry, style: str, package_dir: Path, fluent_index: Mapping[Key, Path],
    iconify: Mapping[Key, str] | None = None,
) -> Path | IconRef | None:
    """The source image of ``entry`` in ``style``, or ``None`` when that set lacks it.

    ``iconify`` is the :func:`iconify_index` of the style's set, for SVG styles.
    """
    kind = STYLES[style].kind
    if kind == "fluent3d":
        return fluent_index.get(entry.key)
    if kind == "iconify":
        name = (iconify or {}).get(entry.key)
        return IconRef(package_dir, name) if name is not None else None
    if style not in entry.flat_sets:
        return None
    path = package_dir / "img" / style / "64" / entry.image
    return path if path.is_file() else None


def open_art(source: Path | IconRef, size: int) -> Image.Image:
    """The source art as a PIL image: PNG/WebP files opened, SVG icons rasterised with resvg.

    SVGs are drawn at :data:`SVG_RENDER_SCALE` times ``size`` so that the final downsampling is the same
    LANCZOS step the bitmap styles get. Raises :class:`DatasetError` when resvg is missing or fails.
    """
    if isinstance(source, Path):
        with Image.open(source) as im:
            return im.convert("RGBA")
    try:
        import resvg_py
    except ImportError as exc:
        raise DatasetError("the SVG styles need resvg-py (`pip install resvg-py`), or pick bitmap styles with "
                           f"--styles {','.join(V1_STYLES)}") from exc
    side = max(16, size * SVG_RENDER_SCALE)
    svg = load_iconify(source.package_dir).svg(source.name)
    try:
        png = resvg_py.svg_to_bytes(svg_string=svg, width=side, height=side, skip_system_fonts=True)
    except ValueError as exc:
        raise DatasetError(f"resvg cannot draw {source} ({exc}); delete the unpacked package and retry") from exc
    with Image.open(io.BytesIO(bytes(png))) as im:
        return im.convert("RGBA")
