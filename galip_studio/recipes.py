"""Recipes of every kind: render any saved recipe again.

:mod:`galip_studio.explore` owns the recipe format (:func:`~.explore.make_recipe`,
:func:`~.explore.model_info`, :func:`~.explore.render_recipe`) and renders its own kinds;
:mod:`galip_studio.discover` builds on explore and adds three kinds. This module stands above
both, so neither imports the other's way back: :data:`RENDERERS` is the table of every kind and
:func:`render_recipe` renders any recipe. The front ends (``galip-studio render`` and the app's
Recipe tab) read recipes through here::

    from galip_studio import recipes
    from galip_studio.export import load_recipe

    again = recipes.render_recipe(load_recipe("map-walk.gif"), pipe)   # a discover kind, or any other
"""

from __future__ import annotations

from typing import Any, Callable

from . import discover, explore
from .explore import Render

RENDERERS: dict[str, Callable[..., Render]] = {
    **explore.RENDERERS,
    "direction_strip": discover.direction_strip,
    "map_walk": discover.map_walk,
    "map_grid": discover.map_grid,
}
"""Every recipe kind and the function that renders it."""
ANIMATION_KINDS: tuple[str, ...] = ("walk", "map_walk")
"""Kinds whose render is an animation (saved as GIF, MP4 or a PNG contact sheet)."""


def is_animation(recipe: dict[str, Any]) -> bool:
    """Whether ``recipe`` renders an animation (known before rendering, to check an output name)."""
    return recipe.get("kind") in ANIMATION_KINDS


def render_recipe(recipe: dict[str, Any], pipe: Any, **options: Any) -> Render:
    """Make the images of a recipe of any kind again. ``options`` are those of
    :func:`galip_studio.explore.render_recipe` (``limits``, ``batch_size``, ``progress``)."""
    return explore.render_recipe(recipe, pipe, renderers=RENDERERS, **options)
