"""Recipes of every kind: render any saved recipe again.

:mod:`galip_studio.explore` owns the recipe format (:func:`~.explore.make_recipe`,
:func:`~.explore.model_info`, :func:`~.explore.render_recipe`) and renders its own kinds;
:mod:`galip_studio.discover` (``direction_strip``) and :mod:`galip_studio.prompt_map` (``map_walk``,
``map_grid``) build on explore and add three kinds, and :mod:`galip_studio.invert` adds
``vectors`` (raw sentence vectors and noise: an inverted image, image variations). This module stands above them, so explore
never imports them back: :data:`RENDERERS` is the table of every kind and
:func:`render_recipe` renders any recipe.

The front ends (``galip-studio render`` and the app's Recipe tab) make a saved file again through
here, with one policy: the model a recipe names (:func:`~.explore.recipe_model`) renders it unless
the user chose another, and then :func:`other_model_warning` says the images will differ; the file
is written as it was exported (:func:`export_settings`, :func:`save_again`)::

    from galip_studio import recipes
    from galip_studio.export import load_recipe

    recipe = load_recipe("map-walk.gif")                          # a prompt-map kind, or any other
    again = recipes.render_recipe(recipe, pipe)
    recipes.save_again(again, recipes.export_settings(recipe), "again.gif")   # as map-walk.gif was exported
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import discover, explore, invert, prompt_map
from .explore import DEFAULT_LIMITS, Limits, Render
from .export import ANIMATION_SUFFIXES, RESAMPLERS, save_png

RENDERERS: dict[str, Callable[..., Render]] = {
    **explore.RENDERERS,
    "direction_strip": discover.direction_strip,
    "map_walk": prompt_map.map_walk,
    "map_grid": prompt_map.map_grid,
    "vectors": invert.vector_grid,
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


# ------------------------------------------------------------------------------------------ making a file again
# The policy ``galip-studio render`` and the app's Recipe tab share: which model a recipe names
# (and what to say when another one renders it), and how the file was exported.
def other_model_warning(recipe: dict[str, Any], pipe: Any) -> str | None:
    """What to tell the user when ``recipe`` names another model than ``pipe`` (the images will
    differ); ``None`` when it names this one, or none."""
    made_with = explore.recipe_model(recipe)
    if made_with.get("id") is None or made_with.get("id") == explore.model_info(pipe).get("id"):
        return None
    return f"This recipe was made with {made_with.get('source')} “{made_with.get('id')}”; the loaded model differs, so the images will too."


@dataclass(frozen=True)
class ExportSettings:
    """How a recipe's file was exported (the ``export`` entry :func:`~.explore.save_render` records),
    or, for a file saved without one (``recorded`` False: an app gallery image, a style-knob or
    map-click image, ``generate``'s grids and images), the plain image or grid it is."""

    recorded: bool
    format: str | None = None
    size: int | None = None
    captions: bool = False
    fps: float | None = None
    quality: float = 8.0
    loop: bool = True
    resample: str = "lanczos"

    def suffix(self, animation: bool) -> str:
        """The exported file type: ``.gif`` or ``.mp4`` for an animation (GIF when not recorded),
        ``.png`` for the rest (a walk exported as a contact sheet too)."""
        fmt = f".{str(self.format or ('gif' if animation else 'png')).lower()}"
        return fmt if animation and fmt in ANIMATION_SUFFIXES else ".png"


def export_settings(recipe: dict[str, Any]) -> ExportSettings:
    """The export settings a recipe records, checked (a scaling this version does not know is refused)."""
    export = recipe.get("export")
    settings = export if isinstance(export, dict) else {}
    resample = settings.get("resample", "lanczos")
    if resample not in RESAMPLERS:
        raise ValueError(f"the recipe's export scaling {resample!r} is not one of {', '.join(RESAMPLERS)}.")
    return ExportSettings(
        recorded=isinstance(export, dict), format=settings.get("format"), size=settings.get("size"),
        captions=bool(settings.get("captions", False)), fps=settings.get("fps"), quality=float(settings.get("quality", 8.0)),
        loop=bool(settings.get("loop", True)), resample=resample,
    )


def save_again(
    render: Render,
    settings: ExportSettings,
    path: str | Path,
    *,
    size: int | None = None,
    captions: bool | None = None,
    quality: float | None = None,
    resample: str | None = None,
    compress_level: int = 6,
    limits: Limits = DEFAULT_LIMITS,
) -> Path:
    """Save a re-rendered recipe as its file was exported (``settings`` from :func:`export_settings`),
    with its recipe. ``size``, ``captions``, ``quality`` and ``resample`` replace the recorded ones when given.

    A single image saved without export settings is written bare again (no grid border); the rest
    goes through :func:`~.explore.save_render` with the recorded size, captions, fps, quality, loop
    and scaling.
    """
    size = settings.size if size is None else size
    captions = settings.captions if captions is None else captions
    quality = settings.quality if quality is None else quality
    resample = settings.resample if resample is None else resample
    path = Path(path)
    if not settings.recorded and render.images.shape[0] == 1 and path.suffix.lower() == ".png":
        image = render.pil(explore.check_size(size, limits), resample)[0]
        return save_png(image, path, render.recipe, sidecar=True, compress_level=compress_level)
    return explore.save_render(
        render, path, size=size, captions=captions, fps=settings.fps, quality=quality, loop=settings.loop,
        resample=resample, compress_level=compress_level, limits=limits,
    )
