"""Emoji dataset builder on a tiny fake copy of the npm packages (no network, no real npm)."""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from galip_studio.datasets import emoji as E
from galip_studio.datasets.emoji import npm

WHITE = (255, 255, 255)
STYLE_COLOURS = {"3d": (200, 30, 30), "google": (30, 160, 30), "twitter": (30, 30, 200),
                 "fluent": (200, 120, 0), "fluent-flat": (120, 0, 200), "openmoji": (0, 120, 120),
                 "emojione": (90, 90, 0), "emojione-v1": (0, 90, 160), "fxemoji": (160, 0, 90),
                 "noto-v1": (60, 160, 200), "streamline": (220, 60, 160)}

# (unified, annotation, tags, category, short_names, in fluent?) in emoji.json sort order
EMOJI = [
    ("1F600", "grinning face", "face, grin, happy, smile", "Smileys & Emotion", ["grinning"], True),
    ("1F431", "cat face", "animal, cat, face, kitten, kitty, pet", "Animals & Nature", ["cat"], True),
    ("1F34E", "red apple", "apple, fruit, red, ripe", "Food & Drink", ["apple"], True),
    ("0023-FE0F-20E3", "keycap: #", "keycap", "Symbols", ["hash"], True),
    ("1F1EB-1F1F7", "flag: France", "FR, flag", "Flags", ["flag-fr", "fr"], True),
    ("1F3F4-E0067-E0062-E0065-E006E-E0067-E007F", "flag: England", "flag, gbeng", "Flags", ["flag-england"],
     True),
    ("1F385", "Santa Claus", "christmas, claus, santa, xmas", "People & Body", ["santa"], True),
    ("2764-FE0F", "red heart", "heart, love", "Smileys & Emotion", ["heart"], True),
    ("1FAE8", "shaking face", "earthquake, face, shock", "Smileys & Emotion", ["shaking_face"], False),
]
COMPONENT = ("1F3FB", "light skin tone", "skin tone, type 1–2", "Component", ["skin-tone-2"])
SANTA_TONE = ("1F385-1F3FB", "Santa Claus: light skin tone", "christmas, claus, santa, xmas")
# Fluent file names drop leading zeros and join tag sequences with "_".
FLUENT_NAMES = {
    "0023-FE0F-20E3": "23-fe0f-20e3",
    "1F3F4-E0067-E0062-E0065-E006E-E0067-E007F": "1f3f4-e0067_e0062_e0065_e006e_e0067",
}
N_IDENTITIES = len(EMOJI)
N_FLUENT = sum(1 for e in EMOJI if e[5])
# Iconify sets: how icons are named. "chars" sets name icons arbitrarily and map code points in
# chars.json; "slug" sets use the CLDR name's slug, "squashed" the slug without hyphens (Firefox OS).
ICONIFY_NAMING = {"fluent": "slug", "fluent-flat": "chars", "openmoji": "chars", "emojione": "slug",
                  "emojione-v1": "slug", "fxemoji": "squashed", "noto-v1": "slug", "streamline": "slug"}
STREAMLINE_HAS = ("1F600", "1F431", "1F34E")  # a small set: only these three
SVG_FREE = "1FAE8"  # shaking face: no SVG set has it


def iconify_expected(style: str) -> set[str]:
    """Unified codes that the fake Iconify set of ``style`` has art for."""
    if style == "streamline":
        return set(STREAMLINE_HAS)
    return {e[0] for e in EMOJI if e[0] != SVG_FREE}


def expected_count(style: str) -> int:
    if style == "3d":
        return N_FLUENT
    if style in ("google", "twitter"):
        return N_IDENTITIES
    return len(iconify_expected(style))


def _rgba_art(size: int, border: int, colour: tuple[int, int, int]) -> Image.Image:
    """Transparent square with an opaque ``colour`` square inside a ``border``-px transparent frame."""
    im = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    im.paste(Image.new("RGBA", (size - 2 * border, size - 2 * border), colour + (255,)), (border, border))
    return im


def _write_package(root: Path, name: str) -> Path:
    pkg = root / name.replace("/", "_") / "package"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": name, "version": E.PACKAGES[name].version}))
    return pkg


def _datasource_record(unified: str, category: str, short_names: list[str], order: int) -> dict:
    return {
        "name": short_names[0].upper(), "unified": unified, "non_qualified": None,
        "image": unified.lower() + ".png", "short_name": short_names[0], "short_names": short_names,
        "category": category, "subcategory": "x", "sort_order": order, "added_in": "1.0",
        "has_img_google": True, "has_img_twitter": True,
    }


def make_fake_packages(root: Path) -> Path:
    """The four npm packages, unpacked in the real layouts, with a handful of emoji."""
    records = [_datasource_record(u, cat, sn, i) for i, (u, _a, _t, cat, sn, _f) in enumerate(EMOJI)]
    records.append(_datasource_record(COMPONENT[0], COMPONENT[3], COMPONENT[4], 99))
    santa = next(r for r in records if r["unified"] == "1F385")
    santa["skin_variations"] = {"1F3FB": {"unified": SANTA_TONE[0], "image": SANTA_TONE[0].lower() + ".png",
                                          "has_img_google": True, "has_img_twitter": True}}
    for style, package in (("google", E.GOOGLE), ("twitter", E.TWITTER)):
        pkg = _write_package(root, package)
        (pkg / "emoji.json").write_text(json.dumps(records))
        img_dir = pkg / "img" / style / "64"
        img_dir.mkdir(parents=True)
        for unified in [r["unified"] for r in records] + [SANTA_TONE[0]]:
            _rgba_art(32, 8, STYLE_COLOURS[style]).save(img_dir / (unified.lower() + ".png"))
    fluent = _write_package(root, E.FLUENT) / "assets"
    fluent.mkdir()
    for unified in [e[0] for e in EMOJI if e[5]] + [COMPONENT[0], SANTA_TONE[0]]:
        stem = FLUENT_NAMES.get(unified, unified.lower())
        _rgba_art(64, 16, STYLE_COLOURS["3d"]).save(fluent / f"{stem}.webp", lossless=True)
    for style, naming in ICONIFY_NAMING.items():
        _write_iconify(_write_package(root, E.STYLES[style].package), style, naming)
    openmoji = _write_package(root, E.OPENMOJI) / "data"
    openmoji.mkdir()
    rows = [(u, a, t) for u, a, t, *_ in EMOJI] + [COMPONENT[:3], SANTA_TONE]
    (openmoji / "openmoji.json").write_text(json.dumps(
        [{"hexcode": u, "annotation": a, "tags": t, "openmoji_tags": "", "skintone": ""}
         for u, a, t in rows]))
    return root


def _write_iconify(pkg: Path, style: str, naming: str) -> None:
    """An ``@iconify-json`` package: one square of the style's colour (a 1/4 transparent border) per icon."""
    colour = "#%02x%02x%02x" % STYLE_COLOURS[style]
    body = f'<rect x="16" y="16" width="32" height="32" fill="{colour}"/>'
    icons: dict[str, dict] = {}
    chars: dict[str, str] = {}
    for i, (unified, annotation, *_rest) in enumerate(EMOJI):
        if unified not in iconify_expected(style):
            continue
        slug = E.slugify(E.clean_name(annotation))
        name = {"chars": f"icon-{i}", "slug": slug, "squashed": slug.replace("-", "")}[naming]
        icons[name] = {"body": body}
        if naming == "chars":
            chars[unified.lower().replace("-fe0f", "")] = name
    # Aliases: a plain one is the parent's art under another name; one with a transform is left out.
    aliases = {"flipped-thing": {"parent": next(iter(icons)), "hFlip": True}}
    if style == "emojione":  # the red apple is only an alias here
        icons["apple-art"] = icons.pop("red-apple")
        aliases["red-apple"] = {"parent": "apple-art"}
    (pkg / "icons.json").write_text(json.dumps(
        {"prefix": style, "icons": icons, "aliases": aliases, "width": 64, "height": 64}))
    if chars:
        (pkg / "chars.json").write_text(json.dumps(chars))


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> Path:
    return make_fake_packages(tmp_path_factory.mktemp("npm"))


@pytest.fixture(scope="module")
def built(packages, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("emoji") / "out"
    report = E.build_emoji_dataset(out, from_dir=packages, size=48, holdout=0.34, progress=False)
    return out, report


def _stems(out: Path, split: str) -> set[str]:
    return {p.stem for p in (out / split).glob("*.png")}


def _slug_styles(out: Path) -> dict[str, dict[str, set[str]]]:
    result: dict[str, dict[str, set[str]]] = {}
    for split in ("train", "test"):
        for stem in _stems(out, split):
            slug, style = stem.split("__")
            result.setdefault(slug, {}).setdefault(split, set()).add(style)
    return result


def test_normalise_key_matches_across_sources():
    assert E.normalise_key("0023-FE0F-20E3") == E.normalise_key("23-fe0f-20e3") == (0x23, 0x20E3)
    assert E.normalise_key("1F3F4-E0067-E0062-E0065-E006E-E0067-E007F") == E.normalise_key(
        "1f3f4-e0067_e0062_e0065_e006e_e0067")
    with pytest.raises(ValueError):
        E.normalise_key("not-hex")


def test_identities_styles_and_counts(built):
    out, report = built
    slugs = _slug_styles(out)
    assert len(slugs) == N_IDENTITIES  # Component dropped, no skin-tone variant
    assert "light-skin-tone" not in slugs and "santa-claus-light-skin-tone" not in slugs
    assert {"grinning-face", "cat-face", "keycap-hash", "flag-of-france", "flag-of-england"} <= set(slugs)
    counts = report["counts"]
    assert counts["train"]["identities"] + counts["test"]["identities"] == N_IDENTITIES
    assert report["styles"] == list(E.STYLES) and len(E.STYLES) >= 8
    for style in E.STYLES:
        assert counts["train"]["images"][style] + counts["test"]["images"][style] == expected_count(style)
        assert report["missing_art"][style] == N_IDENTITIES - expected_count(style)
    assert report["missing_art"]["3d"] == 1  # shaking face has no 3D art
    total = counts["train"]["total"] + counts["test"]["total"]
    assert total == sum(map(expected_count, E.STYLES)) == len(_stems(out, "train")) + len(_stems(out, "test"))
    # SVG icons found through chars.json, CLDR slugs, squashed slugs and a plain alias.
    assert {"keycap-hash__openmoji", "flag-of-england__fluent-flat", "flag-of-england__fxemoji",
            "red-apple__emojione"} <= _stems(out, "train") | _stems(out, "test")
    assert all(p.with_suffix(".txt").is_file() for p in out.glob("*/*.png"))
    # Fluent's leading-zero and underscore file names were matched.
    assert {"keycap-hash__3d", "flag-of-england__3d"} <= _stems(out, "train") | _stems(out, "test")
    assert json.loads((out / "dataset.json").read_text())["counts"] == counts


def test_heldout_identity_has_all_styles_in_test_only(built):
    out, report = built
    slugs = _slug_styles(out)
    held = [s for s, sides in slugs.items() if "test" in sides]
    assert len(held) == round(0.34 * N_IDENTITIES) == report["counts"]["test"]["identities"]
    for slug in held:
        assert "train" not in slugs[slug]
        unified = next(e[0] for e in EMOJI if E.slugify(E.clean_name(e[1])) == slug)
        expected = {s for s in E.STYLES if s in ("google", "twitter")
                    or (s == "3d" and slug != "shaking-face")
                    or (E.STYLES[s].kind == "iconify" and unified in iconify_expected(s))}
        assert slugs[slug]["test"] == expected


def test_split_is_seeded():
    keys = [(i,) for i in range(100)]
    assert E.split_identities(keys, 0.1, 0) == E.split_identities(keys, 0.1, 0)
    assert len(E.split_identities(keys, 0.1, 0)) == 10
    assert E.split_identities(keys, 0.1, 0) != E.split_identities(keys, 0.1, 1)
    assert E.split_identities(keys, 0.0, 0) == set()


def test_captions(built):
    out, _ = built
    for txt in out.glob("*/*.txt"):
        lines = txt.read_text().splitlines()
        style = txt.stem.split("__")[1]
        word = E.STYLES[style].word
        assert 2 <= len(lines) <= 4 and len(set(lines)) == len(lines)
        assert all(line == line.lower() and line.strip() == line and line for line in lines)
        assert all(line.startswith(f"{E.indefinite_article(word)} {word} ") for line in lines[1:])
    split = "train" if (out / "train" / "red-apple__openmoji.png").exists() else "test"
    assert (out / split / "red-apple__openmoji.txt").read_text().splitlines()[1] == \
        "an outlined emoji of a red apple"  # the style word is a knob: "an outlined", "a gradient"...
    assert {spec.word for spec in E.STYLES.values()} == {"3d", "flat", "gradient", "outlined"}
    split = "train" if (out / "train" / "red-apple__google.png").exists() else "test"
    apple = (out / split / "red-apple__google.txt").read_text().splitlines()
    assert apple[:2] == ["red apple", "a flat emoji of a red apple"]
    assert apple[2:] == ["a flat fruit emoji", "a flat ripe emoji"]  # all tags equally rare: first and last
    split = "train" if (out / "train" / "cat-face__3d.png").exists() else "test"
    cat = (out / split / "cat-face__3d.txt").read_text().splitlines()
    assert cat[1:] == ["a 3d emoji of a cat face", "a 3d animal emoji", "a 3d pet emoji"]  # "face" in name
    split = "train" if (out / "train" / "flag-of-france__twitter.png").exists() else "test"
    assert (out / split / "flag-of-france__twitter.txt").read_text().splitlines() == [
        "flag of france", "a flat emoji of a flag of france"]  # "FR" and "flag" are not usable tags
    split = "train" if (out / "train" / "flag-of-england__3d.png").exists() else "test"
    assert len((out / split / "flag-of-england__3d.txt").read_text().splitlines()) == 2  # nor is "gbeng"
    assert E.region_code(E.normalise_key("1F3F4-E0067-E0062-E0065-E006E-E0067-E007F")) == "gbeng"


def test_keywords_are_the_rarest_and_commonest_specific_tags():
    names = ["cat face", "dog face", "red apple", "flag of france"] + [f"thing {i}" for i in range(30)]
    tags = [["animal", "cat", "face", "kitten", "kitty", "pet"], ["animal", "dog", "face", "pet", "puppy"],
            ["apple", "fruit", "red", "ripe"], ["FR", "flag"]] + [["face", "not", "animal"]] * 30
    fallbacks = [["cat"], ["dog"], ["apple"], ["flag-fr", "fr"]] + [["x"]] * 30
    chosen = E.choose_keywords(names, tags, fallbacks, max_df=25)
    assert chosen[0] == ["kitten", "pet"]  # animal/face too common, cat in the name
    assert chosen[1] == ["puppy", "pet"]
    assert chosen[3] == [] and chosen[4] == []  # "FR" too short, "not" a stop word
    assert E.choose_keywords(names, tags, fallbacks, count=1)[0] == ["kitten"]
    assert E.choose_keywords(names, tags, fallbacks, count=0)[0] == []


def test_caption_helpers():
    assert E.clean_name("flag: Côte d’Ivoire") == "flag of côte d'ivoire"
    assert E.clean_name("woman: beard") == "woman, beard"
    assert E.clean_name("keycap: *") == "keycap *"
    assert E.noun_phrase("OK hand") == "an ok hand"
    assert E.noun_phrase("ID button") == "an id button"
    assert E.noun_phrase("unicorn") == "a unicorn"
    assert E.noun_phrase("sparkles") == "sparkles"
    assert E.noun_phrase("people holding hands") == "people holding hands"
    assert E.noun_phrase("octopus") == "an octopus"
    assert E.slugify("flag of Côte d’Ivoire") == "flag-of-cote-divoire"
    assert E.slugify("woman's clothes") == "womans-clothes" and E.slugify("keycap *") == "keycap-asterisk"
    assert E.assign_slugs(["a b", "a-b", ""], ["x", "y", "1f600"]) == ["a-b", "a-b-2", "1f600"]
    assert E.make_captions("red apple", "flat", ["red apple", "fruit"]) == [
        "red apple", "a flat emoji of a red apple", "a flat red apple emoji", "a flat fruit emoji"]


def test_images_rgb_white_background_and_centred(built):
    out, _ = built
    images = sorted(out.glob("*/*.png"))
    assert images
    for path in images:
        style = path.stem.split("__")[1]
        with Image.open(path) as im:
            assert im.mode == "RGB" and im.size == (48, 48)
            for corner in ((0, 0), (47, 0), (0, 47), (47, 47), (5, 5), (42, 42)):
                assert im.getpixel(corner) == WHITE, (path.name, corner)
            centre = im.getpixel((24, 24))
            assert max(abs(a - b) for a, b in zip(centre, STYLE_COLOURS[style])) <= 2, path.name


def _dark_bbox(im: Image.Image) -> tuple[int, int, int, int] | None:
    return im.convert("L").point(lambda v: 255 if v < 128 else 0).getbbox()


def _entry(unified: str, name: str, short_names: tuple[str, ...]) -> E.EmojiEntry:
    key = E.normalise_key(unified)
    return E.EmojiEntry(key=key, base_key=key, unified=unified, image="", category="x", sort_order=0,
                        variant_index=0, unicode_name=name.upper(), short_names=short_names,
                        flat_sets=frozenset())


def test_iconify_names_match_by_chars_then_cldr_then_unicode_then_short_names():
    cat = _entry("1F408", "cat", ("cat2",))
    cat_face = _entry("1F431", "cat face", ("cat",))  # its short name "cat" is CLDR's name of 1F408
    grin = _entry("1F601", "beaming face with smiling eyes", ("grin",))
    twins = [_entry("1F46F", "people with bunny ears", ("twins",)), _entry("1F46C", "men holding hands",
                                                                          ("twins",))]
    annotations = {e.key: E.Annotation(e.unicode_name.lower(), ()) for e in [cat, cat_face, grin] + twins}
    icon = {"body": "<rect/>"}
    icon_set = E.IconifySet(
        icons={"cat": icon, "catface": icon, "grin": icon, "twins": icon, "unknown-thing": icon,
               "beaming-art": icon},
        aliases={"beaming": "beaming-art"}, chars={"1f601": "beaming"}, width=16, height=16)
    index = E.iconify_index(icon_set, [cat, cat_face, grin] + twins, annotations)
    assert index[cat.key] == "cat"  # CLDR name beats cat face's short name
    assert index[cat_face.key] == "catface"  # squashed slug
    assert index[grin.key] == "beaming"  # chars.json first, through an alias
    assert all(t.key not in index for t in twins)  # "twins" names two emoji: skipped, not guessed
    assert "viewBox=\"0 0 16 16\"" in icon_set.svg("beaming") and "<rect/>" in icon_set.svg("beaming")


def test_svg_styles_are_rasterised_with_resvg_and_need_it(packages, monkeypatch):
    source = E.IconRef(packages / E.ICONIFY_OPENMOJI.replace("/", "_") / "package", "icon-2")
    image = E.render_emoji(E.open_art(source, 32), 32)
    assert image.getpixel((16, 16)) == STYLE_COLOURS["openmoji"] and image.getpixel((1, 1)) == WHITE
    monkeypatch.setitem(sys.modules, "resvg_py", None)  # as if resvg-py were not installed
    with pytest.raises(E.DatasetError, match="pip install resvg-py.*--styles 3d,google,twitter"):
        E.open_art(source, 32)


def test_render_scales_art_box_to_56_of_64():
    assert _dark_bbox(E.render_emoji(_rgba_art(64, 0, (0, 0, 0)), 64)) == (4, 4, 60, 60)
    fluent = E.render_emoji(_rgba_art(256, 16, (0, 0, 0)), 64, art_inset=16 / 256)
    assert _dark_bbox(fluent) == (4, 4, 60, 60)
    wide = E.render_emoji(_rgba_art(256, 0, (0, 0, 0)), 64, art_inset=16 / 256)  # art beyond the box
    assert _dark_bbox(wide) == (4, 4, 60, 60)
    small = E.render_emoji(_rgba_art(64, 24, (0, 0, 0)), 64)  # small art stays small (no per-image crop)
    assert _dark_bbox(small) == (25, 25, 39, 39)
    assert E.render_emoji(_rgba_art(64, 24, (0, 0, 0)), 128).size == (128, 128)


def test_licenses_list_each_source(built):
    out, _ = built
    text = (out / "LICENSES.md").read_text()
    for spec in E.PACKAGES.values():
        assert f"## {spec.name} {spec.version}" in text
    for needle in ("Copyright 2020 Twitter, Inc and other contributors", "CC-BY 4.0", "Apache License 2.0",
                   "MIT", "Microsoft", "CC BY-SA 4.0", "Unicode"):
        assert needle in text


def test_skin_tones_follow_their_base(packages, tmp_path):
    out = tmp_path / "out"
    report = E.build_emoji_dataset(out, from_dir=packages, size=16, skin_tones=True, holdout=0.5, seed=3,
                                   progress=False)
    slugs = _slug_styles(out)
    assert slugs["santa-claus-light-skin-tone"].keys() == slugs["santa-claus"].keys()  # the same side
    side = next(iter(slugs["santa-claus"]))
    assert slugs["santa-claus-light-skin-tone"][side] == {"3d", "google", "twitter"}  # no SVG art of it
    assert report["counts"]["train"]["identities"] + report["counts"]["test"]["identities"] == N_IDENTITIES


def test_limit_and_styles_give_a_subset_of_the_full_build(packages, built, tmp_path):
    full, _ = built
    out = tmp_path / "small"
    report = E.build_emoji_dataset(out, from_dir=packages, size=48, holdout=0.34, styles=("google",), limit=3,
                                   progress=False)
    assert report["styles"] == ["google"]
    for split in ("train", "test"):
        assert _stems(out, split) <= _stems(full, split)
    assert len(_stems(out, "train") | _stems(out, "test")) == 3
    assert "## @lobehub/fluent-emoji-3d" not in (out / "LICENSES.md").read_text()


def test_categories_keep_their_identities_on_the_full_builds_sides(packages, built, tmp_path, capsys):
    full, _ = built
    out = tmp_path / "food_and_flags"
    assert E.main([str(out), "--from", str(packages), "--size", "48", "--holdout", "0.34",
                   "--categories", "food & drink,Flags", "--no-progress"]) == 0
    assert "train:" in capsys.readouterr().out
    report = json.loads((out / "dataset.json").read_text())
    assert report["categories"] == ["Flags", "Food & Drink"]
    assert set(_slug_styles(out)) == {"red-apple", "flag-of-france", "flag-of-england"}
    for split in ("train", "test"):
        assert _stems(out, split) <= _stems(full, split)
    with pytest.raises(E.DatasetError, match=r"categories \['Fruit'\]; choose from Animals & Nature, Flags, ") as info:
        E.build_emoji_dataset(tmp_path / "x", from_dir=packages, categories=["Fruit"], progress=False)
    assert "Component" not in str(info.value)
    assert not (tmp_path / "x").exists()


def test_category_folders_hold_the_flat_builds_images_by_category(packages, built, tmp_path):
    full, _ = built
    out = tmp_path / "by-category"
    report = E.build_emoji_dataset(out, from_dir=packages, size=48, holdout=0.34, category_folders=True,
                                   progress=False)
    assert report["category_folders"] is True and report["layout"].startswith("<split>/<category>/")
    for split in ("train", "test"):
        placed = {p.relative_to(out / split).with_suffix("") for p in (out / split).rglob("*.png")}
        assert {p.name for p in placed} == _stems(full, split)
        for path in placed:
            assert len(path.parts) == 2 and (out / split / path).with_suffix(".txt").is_file()
            flat = full / split / f"{path.name}.png"
            assert np.array_equal(np.asarray(Image.open(out / split / path.with_suffix(".png"))), np.asarray(Image.open(flat)))
    train = {p.parent.name for p in (out / "train").rglob("red-apple__*.png")}
    flags = {p.parent.name for p in out.rglob("flag-of-*__*.png")}
    assert train <= {"food-drink"} and flags == {"flags"}
    assert E.category_folder("Smileys & Emotion") == "smileys-emotion"


def test_non_empty_output_needs_overwrite(packages, built):
    out, _ = built
    with pytest.raises(E.DatasetError, match="--overwrite"):
        E.build_emoji_dataset(out, from_dir=packages, progress=False)


def test_missing_package_is_a_clear_dataset_error(packages, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    for sub in packages.iterdir():
        if sub.name != E.OPENMOJI:
            os.symlink(sub, partial / sub.name)
    with pytest.raises(E.DatasetError) as info:
        E.build_emoji_dataset(tmp_path / "out", from_dir=partial, progress=False)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert "openmoji" in message and "npm pack openmoji@" in message and "\n" not in message


def test_missing_npm_is_a_clear_dataset_error(monkeypatch, tmp_path):
    monkeypatch.setattr(npm.shutil, "which", lambda name: None)
    with pytest.raises(E.DatasetError, match=r"npm was not found on PATH.*--from DIR"):
        E.build_emoji_dataset(tmp_path / "out", packages_dir=tmp_path / "cache", progress=False)


def _fake_npm(bin_dir: Path, packages: Path, mode: str) -> None:
    """An ``npm`` stand-in: ``npm pack NAME@VERSION`` tars the fake package, or fails like npm does."""
    script = bin_dir / "npm"
    script.write_text(f"""#!{sys.executable}
import json, os, sys, tarfile
spec = sys.argv[2]
name, version = spec.rsplit("@", 1)
if {mode!r} == "404":
    sys.stderr.write("npm error code E404\\nnpm error 404 Not Found - GET https://registry/x - Not found\\n")
    sys.exit(1)
src = os.path.join({str(packages)!r}, name.replace("/", "_"), "package")
stem = name.lstrip("@").replace("/", "-") + "-" + version
with tarfile.open(stem + ".tgz", "w:gz") as tar:
    tar.add(src, arcname="package")
print(json.dumps([{{"filename": stem + ".tgz"}}]))
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.mark.skipif(sys.platform == "win32", reason="shell-script npm stand-in")
def test_fetch_with_npm_pack_and_cache(packages, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_npm(bin_dir, packages, "ok")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cache = tmp_path / "cache"
    report = E.build_emoji_dataset(tmp_path / "out", packages_dir=cache, styles=("3d",), size=16,
                                   progress=False)
    assert report["packages"][E.FLUENT] == E.PACKAGES[E.FLUENT].version
    assert (cache / "lobehub-fluent-emoji-3d-1.1.0.tgz").is_file()
    assert (cache / "lobehub-fluent-emoji-3d-1.1.0" / "package" / "assets").is_dir()
    _fake_npm(bin_dir, packages, "404")  # the cache is reused: npm is not called again
    E.build_emoji_dataset(tmp_path / "out2", packages_dir=cache, styles=("3d",), size=16, progress=False)
    with pytest.raises(E.DatasetError, match="not found in the registry"):
        E.build_emoji_dataset(tmp_path / "out3", packages_dir=tmp_path / "empty", styles=("3d",),
                              progress=False)


def test_safe_extract_refuses_path_traversal(tmp_path):
    tarball = tmp_path / "evil.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        data = b"gotcha"
        info = tarfile.TarInfo("../evil.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(E.DatasetError, match="could not unpack"):
        E.safe_extract(tarball, tmp_path / "x" / "dest")
    assert not (tmp_path / "x" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_cli_subcommand_and_module_main(packages, tmp_path, capsys):
    root = argparse.ArgumentParser(prog="galip-studio data")
    sub = root.add_subparsers(dest="command")
    E.add_parser(sub)
    args = root.parse_args(["emoji", str(tmp_path / "a"), "--from", str(packages),
                            "--styles", "google,twitter", "--size", "16", "--no-progress"])
    assert args.func is E.run and args.styles == ("google", "twitter")
    assert args.func(args) == 0
    assert "train:" in capsys.readouterr().out
    assert E.main([str(tmp_path / "b"), "--from", str(tmp_path / "nowhere"), "--no-progress"]) == 1
    assert capsys.readouterr().err.startswith("python -m galip_studio.datasets.emoji: error: --from")
    with pytest.raises(SystemExit):
        root.parse_args(["emoji", str(tmp_path / "c"), "--styles", "3d,apple"])


def test_identities_keep_the_named_emoji_on_the_full_builds_sides(packages, built, tmp_path, capsys):
    full, _ = built
    names = tmp_path / "names.txt"
    names.write_text("# a vocabulary\nred-apple cat-face  # two of them\n\nred-heart\n", encoding="utf-8")
    out = tmp_path / "three"
    assert E.main([str(out), "--from", str(packages), "--size", "48", "--holdout", "0.34",
                   "--identities", f"@{names}", "--no-progress"]) == 0
    assert "train:" in capsys.readouterr().out
    assert set(_slug_styles(out)) == {"red-apple", "cat-face", "red-heart"}
    for split in ("train", "test"):
        assert _stems(out, split) <= _stems(full, split)
    assert json.loads((out / "dataset.json").read_text())["identities"] == 3
    assert E.read_identities("red-apple,cat-face") == ["red-apple", "cat-face"]
    with pytest.raises(E.DatasetError, match=r"unknown emoji banana, pear: give names as in the full build"):
        E.build_emoji_dataset(tmp_path / "x", from_dir=packages, identities=["red-apple", "banana", "pear"],
                              progress=False)
    assert not (tmp_path / "x").exists()
    assert E.main([str(tmp_path / "y"), "--from", str(packages), "--identities", "@" + str(tmp_path / "none.txt"),
                   "--no-progress"]) == 1
    assert "cannot read the identity list" in capsys.readouterr().err


def test_the_everyday_vocabulary_is_a_list_of_distinct_emoji_names():
    names = E.read_identities("everyday")
    assert len(names) == 188 and {"red-apple", "cat-face", "rocket", "birthday-cake"} <= set(names)
    assert all(n == n.lower() and " " not in n and "__" not in n for n in names)
