"""What the Your image tab does, as plain functions (the conventions of :mod:`.handlers`: the
session's model first, then the inputs, then ``outdir``, ``limits`` and, for the long job,
``progress``; user errors as one line).

The upload arrives as a file path (a ``gr.File``, not a ``gr.Image``, so Gradio decodes nothing):
:func:`galip_studio.invert.load_image` checks and converts it. The inversion runs on the loaded
pipeline under its lock (it calls the generator with gradients, not only ``synthesize``); the
image-text offset is computed once per loaded model (and kept in the cache folder). Images shown
are rendered through the session's locked view, so recipes name the model as clients may see it.

The found point (the session's ``found`` slot, what ``[your image]`` stands for in the other tabs)
comes from Invert, or, without inverting, from one of the Variations (:func:`use_variation`); the
send buttons put ``[your image]`` into Style knobs, Blend grid, Interpolate and Noise walk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch

from .. import explore, invert
from ..export import MAX_RECIPE_CHARS, save_png
from ..files import save_safetensors
from ..pipeline import noise_from_seeds, to_pil
from . import handlers as h
from .discover_handlers import _loaded, _remember
from .models import Model, pipeline_of
from .plumbing import YOUR_IMAGE, PNG_LEVEL, new_job_dir, parse_seeds, recipe_text, seed_or_random, shown_recipe, user_error, user_errors

APP_MAX_STEPS = 500  # the app's bound on inversion steps (the library's is invert.MAX_STEPS)
APP_MAX_SECONDS = 300.0  # an inversion in the app ends after this, with the best so far
APP_MAX_STARTS = 8


def _gap(model: Model) -> invert.ImageGap:
    with _loaded(model) as pipe:
        return _remember(pipe, ("image-gap",), lambda: invert.image_gap(pipe))


def _upload(image: Any) -> Any:
    if image is None or image == "":
        raise user_error("Upload an image first (PNG, JPEG, WebP, GIF or BMP).")
    if isinstance(image, dict):  # gradio_client's FileData
        image = image.get("path")
    return Path(str(image))


class VariationsResult(NamedTuple):
    target: str  # PNG: the image as the model sees it
    strip: str  # PNG: the variations, with their recipe
    nearest: str  # markdown: the nearest vocabulary phrases
    recipe: str


@user_errors
def image_variations(model: Model, image: Any, seeds: str, truncation: float, *, outdir: str | Path, limits: explore.Limits = explore.DEFAULT_LIMITS) -> VariationsResult:
    """The image's sentence vector with each seed, and the nearest vocabulary phrases."""
    picture = invert.load_image(_upload(image))
    seed_list = parse_seeds(seeds)
    view = pipeline_of(model)
    found = invert.variations(view, picture, seeds=seed_list, truncation=float(truncation), gap=_gap(model), limits=limits)
    target = to_pil(invert.image_tensor(picture, view.image_size))[0]
    folder = new_job_dir(outdir)
    target_path = save_png(target, folder / "target.png", compress_level=PNG_LEVEL)
    strip = save_png(found.render.grid(captions=False), folder / "variations.png", found.render.recipe, compress_level=PNG_LEVEL)
    near = "**Nearest phrases:** " + " · ".join(f"{p} ({c:.2f})" for p, c in found.nearest)
    return VariationsResult(str(target_path), str(strip), near, recipe_text(found.render.recipe))


class InvertResult(NamedTuple):
    """What Invert and Use variation show: the found point's image and files, and the session's slot."""

    reconstruction: str  # PNG with its ``vectors`` recipe
    summary: str  # markdown: distance, PSNR, steps, time (Invert) or which variation (Use variation)
    recipe: str
    vectors: str  # safetensors: sentence and noise
    found: dict[str, Any]  # the session's slot: {"sentence", "noise", "label"}, what ``[your image]`` stands for in other tabs


def _show_found(model: Model, sentence: torch.Tensor, noise: torch.Tensor, label: str, caption: str, summary: str, outdir: str | Path) -> InvertResult:
    """The found point ``(sentence, noise)`` rendered one image at a time (as Style knobs renders it),
    its PNG with its ``vectors`` recipe, its vectors as safetensors, and the session's slot."""
    shown = invert.vector_grid(pipeline_of(model), [sentence.tolist()], noise=[noise.tolist()], labels=[caption], batch_size=1)
    folder = new_job_dir(outdir)
    png = save_png(shown.pil()[0], folder / "reconstruction.png", shown.recipe, compress_level=PNG_LEVEL)
    vectors = folder / "vectors.safetensors"
    save_safetensors({"sentence": sentence, "noise": noise}, vectors)
    found_point = {"sentence": sentence.tolist(), "noise": noise.tolist(), "label": label}
    return InvertResult(str(png), summary, recipe_text(shown.recipe), str(vectors), found_point)


@user_errors
def invert_image(
    model: Model, image: Any, steps: int | float, seed: int | float | None, starts: int | float, *,
    outdir: str | Path, limits: explore.Limits = explore.DEFAULT_LIMITS, progress: Any = None,
) -> InvertResult:
    """Find the noise and sentence vector of the image (Adam, progress and Stop)."""
    picture = invert.load_image(_upload(image))
    steps = explore.whole_at_least("steps", steps, 1)
    starts = explore.whole_at_least("starts", starts, 1)
    if steps > APP_MAX_STEPS or starts > APP_MAX_STARTS:
        raise user_error(f"The app runs at most {APP_MAX_STEPS} steps and {APP_MAX_STARTS} starts: use fewer (or galip-studio invert).")
    gap = _gap(model)
    with _loaded(model) as pipe:
        found = invert.invert(pipe, picture, steps=steps, seed=seed_or_random(seed), starts=starts, max_seconds=APP_MAX_SECONDS, gap=gap, progress=progress)
    summary = (
        f"**{found.steps} steps** in {found.seconds:.1f} s{' (time limit reached)' if found.stopped else ''} · "
        f"CLIP distance {found.distance:.4f} · PSNR {found.psnr:.2f} dB · started from “{found.start_from}”, seed {found.start_seed}"
    )
    return _show_found(model, found.sentence, found.noise, "your image", "inversion", summary, outdir)


def _variations_recipe(text: str | dict[str, Any] | None) -> dict[str, Any]:
    """The recipe Variations showed (its JSON text), or a one-line error that says to run Variations."""
    if isinstance(text, str) and len(text) > MAX_RECIPE_CHARS:
        raise user_error(f"that recipe is {len(text):,} characters long, not the one Variations showed: run Variations again.")
    recipe = shown_recipe(text)
    if not isinstance(recipe, dict) or recipe.get("kind") != "vectors" or not recipe.get("seeds") or not recipe.get("sentence"):
        raise user_error("Run Variations first, then pick one of its images by number.")
    return recipe


@user_errors
def use_variation(
    model: Model, variations_recipe: str, number: int | float, *, outdir: str | Path, limits: explore.Limits = explore.DEFAULT_LIMITS,
) -> InvertResult:
    """Make variation ``number`` (1: the first seed's) the found point, without inverting: the image's
    sentence vector and that seed's noise as Variations drew it (truncation included), so that
    ``[your image]`` in another tab is that variation (the seed of the tab is then unused)."""
    recipe = _variations_recipe(variations_recipe)
    seeds = explore.check_seeds(recipe["seeds"])
    try:
        n = explore.whole_at_least("variation", number, 1)
    except ValueError:
        n = 0
    if not 1 <= n <= len(seeds):
        raise user_error(f"pick a variation from 1 to {len(seeds)} (the strip's images, left to right), got {number}.")
    truncation = recipe.get("truncation", 1.0)
    explore.check_truncation_and_batch(truncation, 1, limits)
    view = pipeline_of(model)
    sentence = explore.check_vectors("the variations' sentence vector", recipe["sentence"], view.clip.embed_dim, 1)[0]
    noise = noise_from_seeds([seeds[n - 1]], view.z_dim, float(truncation))[0]
    psi = f", truncation ψ {float(truncation):g}" if float(truncation) != 1.0 else ""
    summary = f"**Variation {n}** (seed {seeds[n - 1]}{psi}) is the found point: your image's sentence vector and that seed's noise, no inversion."
    return _show_found(model, sentence, noise, f"your image (seed {seeds[n - 1]})", f"variation {n}", summary, outdir)


# ------------------------------------------------------------------------------------------ send the found point
def _need_found(found: dict[str, Any] | None) -> None:
    if not found:
        raise user_error("Nothing found yet: run Invert first (or use one of the Variations), then send the image.")


def send_found_to_knobs(
    found: dict[str, Any] | None, corner: str, prompt_1: str, prompt_2: str, prompt_3: str, prompt_4: str,
    weight_1: float, weight_2: float, weight_3: float, weight_4: float, seed: int | float | None,
) -> h.KnobSend:
    """Put :data:`YOUR_IMAGE` at one Style-knob corner (the other corners kept); the knobs then use the found noise."""
    _need_found(found)
    item = h.GalleryItem(YOUR_IMAGE, seed_or_random(seed))
    return h.send_to_knobs(item, corner, prompt_1, prompt_2, prompt_3, prompt_4, weight_1, weight_2, weight_3, weight_4)


def send_found_to_blend(found: dict[str, Any] | None, corner: str, top_left: str, top_right: str, bottom_left: str, bottom_right: str) -> tuple[str, ...]:
    """Put :data:`YOUR_IMAGE` at one blend-grid corner (the grid then uses the found noise)."""
    _need_found(found)
    if corner not in h.CORNERS:
        raise user_error(f"pick a corner: {', '.join(h.CORNERS)}.")
    corners = [top_left, top_right, bottom_left, bottom_right]
    corners[h.CORNERS.index(corner)] = YOUR_IMAGE
    return tuple(corners)


def send_found_to_interpolate(found: dict[str, Any] | None, end: str, prompt_a: str, prompt_b: str) -> tuple[str, str]:
    """Make :data:`YOUR_IMAGE` prompt A or B of Interpolate (its noise becomes the first column)."""
    _need_found(found)
    if end not in ("A", "B"):
        raise user_error("send to prompt A or prompt B.")
    return (YOUR_IMAGE, prompt_b) if end == "A" else (prompt_a, YOUR_IMAGE)


def send_found_to_walk(found: dict[str, Any] | None, prompts: str) -> str:
    """Make :data:`YOUR_IMAGE` the Noise walk's first keyframe line, before the lines already there
    (an earlier ``[your image]`` line moves up): its noise is the walk's first noise keyframe, so the
    walk starts at the found image and, with the seeds typed, keeps prompts and noises in step."""
    _need_found(found)
    lines = [line for line in (prompts or "").splitlines() if line.strip() and line.strip().lower() != YOUR_IMAGE]
    return "\n".join([YOUR_IMAGE, *lines])
