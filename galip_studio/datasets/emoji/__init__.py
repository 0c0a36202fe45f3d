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

Output: ``OUT/{train,test}/<slug>__<style>.png`` + ``.txt``, ``OUT/LICENSES.md``, ``OUT/dataset.json``. With
``category_folders`` each image goes to a folder of its ``emoji.json`` category instead
(``OUT/train/food-drink/red-apple__google.png``, :func:`category_folder`), which ``galip-studio train
--balance`` reads as classes; file names and the split are the same.

Modules: :mod:`.sources` (the pinned packages and styles, LICENSES.md), :mod:`.metadata` (emoji.json and
openmoji.json by code-point key), :mod:`.captions` (caption text and slugs), :mod:`.art` (finding,
opening and rendering the art), :mod:`.npm` (fetching and unpacking the packages), :mod:`.build` (split,
plan, writing the folder) and :mod:`.cli` (the ``galip-studio data emoji`` sub-command).
"""

from __future__ import annotations

from .art import (
    ART_FRACTION,
    SVG_RENDER_SCALE,
    IconifySet,
    IconRef,
    art_path,
    iconify_index,
    index_fluent,
    load_iconify,
    open_art,
    render_emoji,
)
from .build import build_emoji_dataset, category_folder, read_identities, select_categories, split_identities
from .captions import (
    DEFAULT_TAG_CAPTIONS,
    MAX_TAG_DF,
    STOP_TAGS,
    assign_slugs,
    cased_name,
    choose_keywords,
    clean_name,
    indefinite_article,
    make_captions,
    noun_phrase,
    slugify,
    usable_tags,
)
from .cli import add_arguments, add_parser, format_report, main, run
from .errors import DatasetError
from .metadata import (
    DROPPED_CODEPOINTS,
    Annotation,
    EmojiEntry,
    Key,
    load_annotations,
    load_entries,
    normalise_key,
    region_code,
)
from .npm import NPM_TIMEOUT_S, default_packages_dir, fetch_packages, find_unpacked_packages, safe_extract
from .sources import (
    DEFAULT_STYLES,
    FLUENT,
    GOOGLE,
    ICONIFY_EMOJIONE,
    ICONIFY_EMOJIONE_V1,
    ICONIFY_FLUENT,
    ICONIFY_FLUENT_FLAT,
    ICONIFY_FXEMOJI,
    ICONIFY_NOTO_V1,
    ICONIFY_OPENMOJI,
    ICONIFY_STREAMLINE,
    METADATA_PACKAGE,
    NAMES_PACKAGE,
    NOTICE_CHANGES,
    OPENMOJI,
    PACKAGES,
    STYLES,
    TWITTER,
    V1_STYLES,
    PackageSpec,
    StyleSpec,
    licenses_markdown,
)

__all__ = [
    "ART_FRACTION",
    "DEFAULT_STYLES",
    "DEFAULT_TAG_CAPTIONS",
    "DROPPED_CODEPOINTS",
    "FLUENT",
    "GOOGLE",
    "ICONIFY_EMOJIONE",
    "ICONIFY_EMOJIONE_V1",
    "ICONIFY_FLUENT",
    "ICONIFY_FLUENT_FLAT",
    "ICONIFY_FXEMOJI",
    "ICONIFY_NOTO_V1",
    "ICONIFY_OPENMOJI",
    "ICONIFY_STREAMLINE",
    "MAX_TAG_DF",
    "METADATA_PACKAGE",
    "NAMES_PACKAGE",
    "NOTICE_CHANGES",
    "NPM_TIMEOUT_S",
    "OPENMOJI",
    "PACKAGES",
    "STOP_TAGS",
    "STYLES",
    "SVG_RENDER_SCALE",
    "TWITTER",
    "V1_STYLES",
    "add_arguments",
    "add_parser",
    "Annotation",
    "art_path",
    "assign_slugs",
    "build_emoji_dataset",
    "read_identities",
    "cased_name",
    "choose_keywords",
    "clean_name",
    "DatasetError",
    "default_packages_dir",
    "EmojiEntry",
    "fetch_packages",
    "find_unpacked_packages",
    "format_report",
    "iconify_index",
    "IconifySet",
    "IconRef",
    "indefinite_article",
    "index_fluent",
    "Key",
    "licenses_markdown",
    "load_annotations",
    "load_entries",
    "load_iconify",
    "main",
    "make_captions",
    "normalise_key",
    "noun_phrase",
    "open_art",
    "PackageSpec",
    "region_code",
    "render_emoji",
    "run",
    "safe_extract",
    "category_folder",
    "select_categories",
    "slugify",
    "split_identities",
    "StyleSpec",
    "usable_tags",
]
