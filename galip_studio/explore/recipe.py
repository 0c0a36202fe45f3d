"""The recipe: what makes a render again. Its schema, the limits on every size a user can set, the
validators, the table of recipe kinds and the one :func:`render_recipe`.

Every exploration call returns a :class:`Render`: the images and the recipe dict that reproduces
them. A recipe records the model (:func:`model_info`), the package version, the ``kind`` (the
function that renders it) and that function's arguments. Each module of :mod:`galip_studio.explore`
registers its kinds with :func:`recipe_kind` (grids, knobs, walks, directions, the prompt map) and
:mod:`galip_studio.invert` adds ``vectors`` (raw sentence vectors and noise); importing
:mod:`galip_studio.explore` registers them all, so :func:`render_recipe` renders any recipe::

    from galip_studio.explore import render_recipe, export_settings, save_again
    from galip_studio.export import load_recipe

    recipe = load_recipe("map-walk.gif")                          # any kind
    again = render_recipe(recipe, pipe)                           # the same frames, bit for bit
    save_again(again, export_settings(recipe), "again.gif")       # as map-walk.gif was exported

**Limits.** Sizes a user can type (interpolation steps, seeds, grid sides, images per grid, prompts,
frames, fps, export size) are bounded by a :class:`Limits`; :data:`DEFAULT_LIMITS` is what the app
and the CLI use, :data:`NO_LIMITS` (``--no-limits``) drops the bounds. Breaking one raises a
ValueError that names the value, the limit and the fix.

**Reproducibility.** :func:`render_recipe` calls the same function with the same arguments and gets
the same tensors, bit for bit, on the same model, device, dtype and batch size. (CPU matrix kernels
round the last bit differently for different batch sizes, so a grid rendered in batches of 8 can
differ from one-at-a-time generation by ~1e-7; the latents themselves — sentence vectors and noise
— are always bit-equal to those of ``pipe(prompt, seeds=[s])``.)

**Making a file again.** ``galip-studio render`` and the app's Recipe tab share one policy: the
model a recipe names (:func:`recipe_model`) renders it unless the user chose another, and then
:func:`other_model_warning` says the images will differ; the file is written as it was exported
(:func:`export_settings`, :func:`~galip_studio.explore.images.save_again`).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from PIL import Image

from .. import __version__
from ..export import ANIMATION_SUFFIXES, RESAMPLERS, grid_image, resize_images
from ..pipeline import MAX_SEED, check_prompt, to_pil

RECIPE_FORMAT = "galip-recipe/1"
Progress = Callable[[int, int], None]

# ------------------------------------------------------------------------------------------ limits
@dataclass(frozen=True)
class Limits:
    """Upper bounds on what one call may make; ``None`` means unbounded.

    The defaults keep a CPU user within about a minute at 224 px and a browser responsive.
    """

    max_steps: int | None = 32  # interpolation steps (grid rows)
    max_seeds: int | None = 16  # seeds in one grid (columns) or walk
    max_grid: int | None = 12  # side of a four-corner blend grid
    max_images: int | None = 256  # images in one grid
    max_prompts: int | None = 16  # prompts in a walk or style knob
    max_frames: int | None = 480  # frames of one walk (20 s at 24 fps)
    max_fps: float | None = 60.0  # animation frame rate
    max_size: int | None = 1024  # side in pixels of exported images / frames
    max_animation_pixels: int | None = 480 * 512 * 512  # frames x side² of one exported animation (its time and file size)
    max_retime_density: int | None = 8  # dense samples per frame when re-timing a walk
    max_batch_size: int | None = 64  # images per forward pass (memory: one batch's activations)
    max_components: int | None = 32  # discovered directions computed, or shown as strip rows
    max_samples: int | None = 2048  # random noises behind noise directions
    max_vocabulary: int | None = 2048  # phrases of a direction / prompt-map vocabulary
    max_strip: int | None = 15  # images along one direction strip
    max_path_points: int | None = 64  # points of a path drawn on the prompt map

    def check_animation(self, frames: int, side: int) -> None:
        """Raise a ValueError if ``frames`` frames of ``side`` x ``side`` pixels are more than one
        animation may hold (:attr:`max_animation_pixels`)."""
        limit = self.max_animation_pixels
        if limit is not None and frames * side * side > limit:
            most = int(limit // (side * side))
            raise ValueError(
                f"{frames} frames of {side}x{side} px are {frames * side * side:,} pixels, above the limit of {limit:,} for one animation: "
                f"use at most {most} frames at this size, or a smaller frame size "
                f"(or lift the limits: --no-limits on the command line, limits=NO_LIMITS in Python)"
            )

    def check(self, what: str, value: float, limit_name: str) -> None:
        """Raise a ValueError if ``value`` is above the limit ``limit_name``."""
        limit = getattr(self, limit_name)
        if limit is not None and value > limit:
            raise ValueError(
                f"{what} is {value:g}, above the limit of {limit:g}: use a smaller value "
                f"(or lift the limits: --no-limits on the command line, limits=NO_LIMITS in Python)"
            )


DEFAULT_LIMITS = Limits()
NO_LIMITS = Limits(**{f.name: None for f in dataclasses.fields(Limits)})

# ------------------------------------------------------------------------------------------ result
@dataclass
class Render:
    """The images of one exploration call and the recipe that makes them again.

    Attributes:
        images: ``[N, 3, S, S]`` float32 in [-1, 1]: a grid in row-major order, or a walk's frames in
            playback order (ping-pong included).
        recipe: JSON-ready dict; ``render_recipe(recipe, pipe)`` reproduces ``images``.
        rows, cols: the grid layout (for a walk: a near-square contact sheet).
        row_labels, col_labels: captions for :meth:`grid` (may be empty).
        sentence, noise: the sentence vector ``[N, D]`` and noise ``[N, Z]`` behind each image.
        progress: a walk's path progress (0-1) per frame; ``None`` for grids.
        fps: a walk's frame rate; ``None`` for grids.
    """

    images: torch.Tensor
    recipe: dict[str, Any]
    rows: int
    cols: int
    sentence: torch.Tensor
    noise: torch.Tensor
    row_labels: list[str] = field(default_factory=list)
    col_labels: list[str] = field(default_factory=list)
    progress: list[float] | None = None
    fps: float | None = None

    @property
    def is_animation(self) -> bool:
        return self.fps is not None

    def pil(self, size: int | None = None, resample: str = "lanczos") -> list[Image.Image]:
        """The images as PIL RGB images (scaled to ``size`` px when given, with ``resample``)."""
        return resize_images(to_pil(self.images), size, resample)

    def grid(self, captions: bool = True, size: int | None = None, padding: int = 2, resample: str = "lanczos") -> Image.Image:
        """All images tiled ``rows`` x ``cols``, with row/column captions when ``captions``."""
        return grid_image(
            self.pil(size, resample),
            self.cols,
            row_labels=self.row_labels if captions else None,
            col_labels=self.col_labels if captions else None,
            padding=padding,
        )


# ------------------------------------------------------------------------------------------ validation
def check_prompts(prompts: str | Sequence[str], what: str = "prompts") -> list[str]:
    """One prompt or several, as a non-empty list of prompts that :func:`~.pipeline.check_prompt` accepts."""
    items = [prompts] if isinstance(prompts, str) else list(prompts)
    if not items:
        raise ValueError(f"no {what} given: type at least one prompt")
    for i, p in enumerate(items):
        check_prompt(p, i + 1)
    return items


def check_seeds(seeds: int | Sequence[int]) -> list[int]:
    """One seed or several, as a non-empty list of integers in [0, 2**63-1]."""
    items = [seeds] if isinstance(seeds, int) else list(seeds)
    if not items:
        raise ValueError("no seeds given: give at least one seed (an integer such as 0)")
    out = []
    for s in items:
        whole = isinstance(s, numbers.Integral) or (isinstance(s, float) and s.is_integer())
        if isinstance(s, bool) or not whole:
            raise ValueError(f"seeds must be whole numbers, got {s!r}")
        if not 0 <= int(s) <= MAX_SEED:
            raise ValueError(f"seed {int(s)} is out of range: seeds are integers from 0 to 2**63-1")
        out.append(int(s))
    return out


def whole_at_least(what: str, value: int, minimum: int) -> int:
    """``value`` as an int, if it is a whole number of at least ``minimum`` (``what`` names it in the error)."""
    whole = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and int(value) == value
    if not whole or value < minimum:
        raise ValueError(f"{what} must be a whole number of at least {minimum}, got {value!r}")
    return int(value)


def check_truncation_and_batch(truncation: float, batch_size: int, limits: Limits = DEFAULT_LIMITS) -> None:
    """Truncation in [0, 1]; a batch size of at least 1, within the limit."""
    if isinstance(truncation, bool) or not isinstance(truncation, numbers.Real) or not 0.0 <= float(truncation) <= 1.0:
        raise ValueError(f"truncation must be in [0, 1] (1 = none), got {truncation!r}")
    whole_at_least("batch_size", batch_size, 1)
    limits.check("batch_size", batch_size, "max_batch_size")



def check_grid(rows: int, cols: int | None, limits: Limits = DEFAULT_LIMITS) -> tuple[int, int]:
    """A grid's ``rows`` x ``cols`` (``cols`` None: square), each a whole number of at least 2, within
    the limits on a grid's side and on its images."""
    cols = rows if cols is None else cols
    rows, cols = whole_at_least("grid rows", rows, 2), whole_at_least("grid columns", cols, 2)
    limits.check("grid rows", rows, "max_grid")
    limits.check("grid columns", cols, "max_grid")
    limits.check("the number of images (rows x columns)", rows * cols, "max_images")
    return rows, cols

# ------------------------------------------------------------------------------------------ schema
def model_info(pipe: Any) -> dict[str, Any]:
    """What a recipe records about the model: where it came from and the sizes that must match."""
    meta = pipe.metadata or {}
    training = meta.get("training") or {}
    source = meta.get("source")  # set by the GALIPPipeline constructors: "checkpoint", "official" or "preset"
    if source == "preset":
        ident = training.get("preset")
    elif source in ("checkpoint", "official"):
        ident = meta.get("path")
    else:
        source, ident = None, None
    info: dict[str, Any] = {
        "source": source,
        "id": ident,
        "image_size": pipe.image_size,
        "z_dim": pipe.z_dim,
        "sentence_dim": pipe.clip.embed_dim,
        "dtype": str(pipe.dtype).replace("torch.", ""),
        "device": pipe.device.type,
    }
    if source == "preset":
        info["seed"] = training.get("random_init_seed", 0)
    return info


def make_recipe(pipe: Any, kind: str, **params: Any) -> dict[str, Any]:
    """The one recipe schema: format, ``kind`` (the name of the function that renders it, see
    :data:`KINDS`), the model (:func:`model_info`), the package version, then that function's
    arguments."""
    return {"format": RECIPE_FORMAT, "kind": kind, "model": model_info(pipe), "galip_studio": __version__, **params}


LEGACY_KINDS: dict[str, str] = {"generate": "seeds"}
"""Kinds earlier versions wrote: ``galip-studio generate`` recorded ``"generate"`` (a seed grid) with
the model as a bare path or preset name; such files render as the kind they are now."""


def recipe_model(recipe: dict[str, Any]) -> dict[str, Any]:
    """The model a recipe names, as :func:`model_info` records it (``source``, ``id``, the sizes);
    ``{}`` when it names none. A bare string (``generate`` recipes of earlier versions) is a preset
    name when it is one and no such path exists, else a checkpoint folder."""
    model = recipe.get("model")
    if isinstance(model, dict):
        return model
    if isinstance(model, str) and model:
        from ..config import preset_names

        preset = model in preset_names() and not Path(model).exists()
        return {"source": "preset" if preset else "checkpoint", "id": model}
    return {}




# ------------------------------------------------------------------------------------------ kinds
@dataclass(frozen=True)
class RecipeKind:
    """One kind of recipe: the function that renders it, whether its render is an animation (saved
    as GIF, MP4 or a PNG contact sheet), and, where the recipe's names differ from the function's
    arguments, how they map (``arguments(recipe) -> {argument: value}``)."""

    name: str
    render: Callable[..., Render]
    animation: bool = False
    arguments: Callable[[dict[str, Any]], dict[str, Any]] | None = None


KINDS: dict[str, RecipeKind] = {}
"""Every recipe kind, by name; filled by :func:`recipe_kind` as the modules that render them are
imported (importing :mod:`galip_studio.explore` imports them all)."""


def recipe_kind(
    name: str, *, animation: bool = False, arguments: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> Callable[[Callable[..., Render]], Callable[..., Render]]:
    """Register the decorated function as the renderer of recipes of kind ``name``."""

    def register(fn: Callable[..., Render]) -> Callable[..., Render]:
        if name in KINDS and KINDS[name].render is not fn:
            raise ValueError(f"recipe kind {name!r} is registered twice")
        KINDS[name] = RecipeKind(name, fn, animation, arguments)
        return fn

    return register


def is_animation(recipe: dict[str, Any]) -> bool:
    """Whether ``recipe`` renders an animation (known before rendering, to check an output name)."""
    kind = KINDS.get(LEGACY_KINDS.get(recipe.get("kind"), recipe.get("kind")))  # type: ignore[arg-type]
    return kind is not None and kind.animation


def render_recipe(
    recipe: dict[str, Any],
    pipe: Any,
    *,
    limits: Limits = DEFAULT_LIMITS,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> Render:
    """Make the images of ``recipe`` of any kind again (from :attr:`Render.recipe` or ``export.load_recipe``).

    The same function runs with the recorded arguments; on the same model, device, dtype and batch
    size (recorded; ``batch_size`` overrides it) the result is bit-identical. A model whose sizes
    differ from the recorded ones is refused.
    """
    if not isinstance(recipe, dict) or "kind" not in recipe:
        raise ValueError("not a GALIP Studio recipe: expected a dict with a 'kind'")
    name = LEGACY_KINDS.get(recipe["kind"], recipe["kind"])
    fmt = recipe.get("format", RECIPE_FORMAT)
    if fmt != RECIPE_FORMAT:
        raise ValueError(f"recipe format {fmt!r} is not supported by this version ({RECIPE_FORMAT}); update galip-studio")
    if not isinstance(name, str) or name not in KINDS:
        raise ValueError(f"unknown recipe kind {name!r}: this version renders {', '.join(sorted(KINDS))}")
    kind = KINDS[name]
    model = recipe_model(recipe)
    if model:
        have = model_info(pipe)
        for key in ("image_size", "z_dim", "sentence_dim"):
            if key in model and model[key] != have[key]:
                raise ValueError(
                    f"the recipe was made with a model of {key} {model[key]}, but this model has {have[key]}: "
                    f"load the model it names ({model.get('source')}: {model.get('id')})"
                )
    params = dict(recipe, limits=limits, progress=progress)
    if kind.arguments is not None:
        params.update(kind.arguments(recipe))
    if batch_size is not None:
        params["batch_size"] = batch_size
    recorded = params.get("batch_size")
    if limits.max_batch_size is not None and isinstance(recorded, numbers.Real) and not isinstance(recorded, bool) and recorded > limits.max_batch_size:
        # A recipe is user input: its batch size only sets memory use (and the last bits of CPU
        # rounding), so a huge one is clamped to the limit rather than refused.
        params["batch_size"] = limits.max_batch_size
    accepted = [arg for arg in inspect.signature(kind.render).parameters if arg != "pipe"]
    return kind.render(pipe, **{arg: params[arg] for arg in accepted if arg in params})



# ------------------------------------------------------------------------------------------ making a file again
# The policy ``galip-studio render`` and the app's Recipe tab share: which model a recipe names
# (and what to say when another one renders it), and how the file was exported.
def other_model_warning(recipe: dict[str, Any], pipe: Any) -> str | None:
    """What to tell the user when ``recipe`` names another model than ``pipe`` (the images will
    differ); ``None`` when it names this one, or none."""
    made_with = recipe_model(recipe)
    if made_with.get("id") is None or made_with.get("id") == model_info(pipe).get("id"):
        return None
    return f"This recipe was made with {made_with.get('source')} “{made_with.get('id')}”; the loaded model differs, so the images will too."


@dataclass(frozen=True)
class ExportSettings:
    """How a recipe's file was exported (the ``export`` entry :func:`~.images.save_render` records),
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
