"""The emoji (``emoji.json``) and their CLDR names and keywords (``openmoji.json``), by code-point key."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DatasetError


Key = tuple[int, ...]
DROPPED_CODEPOINTS = frozenset({0xFE0F, 0xE007F})  # variation selector 16, tag CANCEL


def normalise_key(code: str) -> Key:
    """Code-point key shared by all sources: ``'0023-FE0F-20E3'`` and ``'23_20e3'`` → ``(0x23, 0x20E3)``.

    Splits on ``-`` and ``_``, parses hex, drops FE0F (emoji presentation) and E007F (tag cancel).
    Raises ``ValueError`` for text that is not a code-point sequence.
    """
    parts = [p for p in re.split(r"[-_\s]+", code.strip()) if p]
    if not parts:
        raise ValueError(f"empty code-point sequence: {code!r}")
    return tuple(v for v in (int(p, 16) for p in parts) if v not in DROPPED_CODEPOINTS)


@dataclass(frozen=True)
class EmojiEntry:
    """One emoji (or skin-tone variant) from ``emoji.json``."""

    key: Key
    base_key: Key  # the identity that decides the split (== key unless a skin-tone variant)
    unified: str
    image: str  # file name under img/<set>/64/
    category: str
    sort_order: int
    variant_index: int  # 0 for the base emoji, 1.. for skin-tone variants
    unicode_name: str
    short_names: tuple[str, ...]
    flat_sets: frozenset[str]  # emoji-datasource image sets that have this emoji ("google", "twitter")


def _flat_sets(record: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(s for s in ("google", "twitter") if record.get(f"has_img_{s}"))


def load_entries(emoji_json: Path, *, skin_tones: bool = False) -> list[EmojiEntry]:
    """Entries of an emoji-datasource ``emoji.json``, minus ``Component``, in picker order.

    With ``skin_tones`` each skin-tone variant follows its base emoji as its own entry.
    """
    records = read_json(emoji_json)
    entries: list[EmojiEntry] = []
    seen: set[Key] = set()
    for rec in sorted(records, key=lambda r: (r.get("sort_order", 0), r["unified"])):
        if rec.get("category") == "Component":
            continue
        base = normalise_key(rec["unified"])
        if base in seen:
            continue
        seen.add(base)
        common = dict(
            base_key=base,
            category=rec.get("category", ""),
            sort_order=int(rec.get("sort_order", 0)),
            unicode_name=(rec.get("name") or rec.get("short_name") or rec["unified"]),
            short_names=tuple(rec.get("short_names") or ()),
        )
        entries.append(
            EmojiEntry(key=base, unified=rec["unified"], image=rec["image"], variant_index=0,
                       flat_sets=_flat_sets(rec), **common)
        )
        if not skin_tones:
            continue
        for i, (_tone, var) in enumerate(sorted((rec.get("skin_variations") or {}).items()), start=1):
            key = normalise_key(var["unified"])
            if key in seen:
                continue
            seen.add(key)
            entries.append(
                EmojiEntry(key=key, unified=var["unified"], image=var["image"], variant_index=i,
                           flat_sets=_flat_sets(var), **common)
            )
    return entries


@dataclass(frozen=True)
class Annotation:
    """CLDR text for one emoji from ``openmoji.json``."""

    name: str
    tags: tuple[str, ...]


def load_annotations(openmoji_json: Path) -> dict[Key, Annotation]:
    """``normalise_key(hexcode)`` → CLDR short name and keyword list from OpenMoji's data file."""
    result: dict[Key, Annotation] = {}
    for rec in read_json(openmoji_json):
        try:
            key = normalise_key(rec["hexcode"])
        except (KeyError, ValueError):
            continue
        name = (rec.get("annotation") or "").strip()
        if name and key not in result:
            tags = tuple(t.strip() for t in (rec.get("tags") or "").split(",") if t.strip())
            result[key] = Annotation(name, tags)
    return result


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DatasetError(f"missing {path}; the unpacked package looks incomplete, delete it and retry") \
            from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc}); delete the unpacked package and retry") \
            from exc


def region_code(key: Key) -> str:
    """Letters spelled by regional-indicator or tag code points: France ``'fr'``, England ``'gbeng'``."""
    letters = []
    for cp in key:
        if 0x1F1E6 <= cp <= 0x1F1FF:
            letters.append(chr(ord("a") + cp - 0x1F1E6))
        elif 0xE0061 <= cp <= 0xE007A:
            letters.append(chr(cp - 0xE0000))
    return "".join(letters)
