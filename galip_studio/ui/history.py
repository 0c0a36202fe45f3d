"""The history strip under the tabs: this session's last results, newest first; a click brings one
back with the settings that made it.

Entries are plain data (:class:`HistoryEntry`), so a session keeps them in its ``gr.State``;
:mod:`.app` records what each tab's settings and results are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from .plumbing import prompt_label, user_error

HISTORY_SIZE = 12


class HistoryEntry(NamedTuple):
    tab: str  # the tab's id (generate, interpolate, blend, knobs, walk, directions, map, recipe)
    image: str  # what the strip shows: an image (the first of a gallery, a grid, a GIF)
    caption: str
    settings: dict[str, Any]  # the tab's input values by name: clicking the entry puts them back
    result: dict[str, Any]  # the tab's outputs by name: clicking the entry shows them again


TAB_NAMES = {
    "generate": "Generate", "interpolate": "Interpolate", "blend": "Blend", "knobs": "Knobs", "walk": "Walk", "directions": "Directions",
    "map": "Prompt map", "recipe": "Recipe",
}


def _first_image(value: Any) -> str | None:
    """The first image path in a result value: a path, a gallery's ``[(path, caption), ...]`` (or
    Gradio's ``GalleryImage`` objects), ``None`` when there is none."""
    if value is None:
        return None
    if isinstance(value, (str, Path)):
        return str(value) if str(value) else None
    if isinstance(value, (list, tuple)) and value:
        return _first_image(value[0])
    for attr in ("image", "path"):
        inner = getattr(value, attr, None)
        if inner is not None:
            return _first_image(inner)
    if isinstance(value, dict):
        return _first_image(value.get("image") or value.get("path"))
    return None


def _recipe_of(result: dict[str, Any]) -> dict[str, Any]:
    """The recipe a result shows (its JSON text), or ``{}``."""
    try:
        recipe = json.loads(result.get("recipe") or "{}")
    except (TypeError, ValueError):
        return {}
    return recipe if isinstance(recipe, dict) else {}


def _what(tab: str, settings: dict[str, Any], result: dict[str, Any]) -> str:
    """What a result is, in a few words: its prompts (A → B for an interpolation), else what its
    recipe made (the Recipe tab), else what the tab made (a map of how many phrases)."""
    prompts = [" ".join(str(v).split()) for k, v in settings.items() if "prompt" in k and isinstance(v, str) and v.strip()]
    if tab == "interpolate" and len(prompts) == 2:
        return f"{prompts[0]} → {prompts[1]}"
    if tab == "walk" and prompts:
        lines = [p for p in str(settings.get("prompts", "")).splitlines() if p.strip()]
        return " → ".join(" ".join(p.split()) for p in lines[:3]) + (" …" if len(lines) > 3 else "")
    if prompts:
        return " / ".join(prompts[:2])
    recipe = _recipe_of(result)
    if recipe:
        made = " / ".join(prompt_label(p) for p in (recipe.get("prompts") or [])[:2])
        return f"{recipe.get('kind', 'render')} of {made}" if made else str(recipe.get("kind", "render"))
    if tab == "map":
        return f"{settings.get('view') or 'map'} of the {'typed' if str(settings.get('vocabulary') or '').strip() else 'bundled'} phrases"
    return TAB_NAMES.get(tab, tab).lower()


def _history_caption(tab: str, settings: dict[str, Any], result: dict[str, Any] | None = None) -> str:
    seed = settings.get("seed")
    if seed is None:
        seed = _recipe_of(result or {}).get("seed")
    text = f"{TAB_NAMES.get(tab, tab)}: {_what(tab, settings, result or {})}" + (
        f" · seed {int(seed)}" if isinstance(seed, (int, float)) and not isinstance(seed, bool) else ""
    )
    return text if len(text) <= 80 else text[:79] + "…"


def add_history(
    history: list[HistoryEntry] | None,
    tab: str,
    settings: dict[str, Any],
    result: dict[str, Any],
    *,
    image_key: str,
    replace_same: bool = False,
    size: int = HISTORY_SIZE,
) -> list[HistoryEntry]:
    """This session's history with one more result first (the newest ``size`` are kept).

    ``image_key`` names the result shown in the strip; ``replace_same``: a result of the same tab
    right after another one replaces it (the style knobs while a slider is dragged: one entry per
    visit, not one per frame). The same thing made again (same tab, caption and settings: a recipe
    rendered six times) moves its entry to the front instead of adding a copy. Entries are plain
    data, so a session keeps them in its ``gr.State``.
    """
    items = [HistoryEntry(*e) for e in (history or [])]
    image = _first_image(result.get(image_key))
    if image is None:
        return items
    entry = HistoryEntry(tab, image, _history_caption(tab, settings, result), dict(settings), dict(result))
    if replace_same and items and items[0].tab == tab:
        items = items[1:]
    items = [e for e in items if (e.tab, e.caption, e.settings) != (entry.tab, entry.caption, entry.settings)]
    return [entry, *items][:size]


def history_gallery(history: list[HistoryEntry] | None) -> list[tuple[str, str]]:
    """The strip: ``(image, caption)``, newest first."""
    return [(HistoryEntry(*e).image, HistoryEntry(*e).caption) for e in (history or [])]


def history_entry(history: list[HistoryEntry] | None, index: int | float | None) -> HistoryEntry:
    """Entry ``index`` of the strip (0 = newest)."""
    items = list(history or [])
    if index is None or not 0 <= int(index) < len(items):
        raise user_error("That result is no longer in this session's history.")
    return HistoryEntry(*items[int(index)])
