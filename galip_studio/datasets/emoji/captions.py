"""Caption text: CLDR names in caption form, articles, keyword choice, caption lines and file-name slugs."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence


MAX_TAG_DF = 25  # keywords used by more identities than this are too generic for a caption
STOP_TAGS = frozenset({"not", "no", "yes", "the", "and", "with", "ily", "xox", "xoxo"})  # not captions
DEFAULT_TAG_CAPTIONS = 2


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
    """Pick up to ``count`` caption keywords per identity (see the package docstring for the scheme).

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
