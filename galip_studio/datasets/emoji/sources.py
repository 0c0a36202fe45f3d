"""The npm packages and art styles the emoji dataset is built from, and what it owes them (LICENSES.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType


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
METADATA_PACKAGE = GOOGLE
NAMES_PACKAGE = OPENMOJI
NOTICE_CHANGES = "rasterised (the SVG styles), rescaled, alpha-composited onto white and saved as RGB PNG"


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
