"""What the Your image tab does, as plain functions (the conventions of :mod:`.handlers`: the
session's model first, then the inputs, then ``outdir``, ``limits`` and, for the long job,
``progress``; user errors as one line).

The upload arrives as a file path (a ``gr.File``, not a ``gr.Image``, so Gradio decodes nothing):
:func:`galip_studio.invert.load_image` checks and converts it. The inversion runs on the loaded
pipeline under its lock (it calls the generator with gradients, not only ``synthesize``); the
image-text offset is computed once per loaded model (and kept in the cache folder). Images shown
are rendered through the session's locked view, so recipes name the model as clients may see it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from .. import explore, invert
from ..export import save_png
from ..files import save_safetensors
from ..pipeline import to_pil
from . import handlers as h
from .discover_handlers import _loaded, _remember
from .models import Model, pipeline_of
from .plumbing import YOUR_IMAGE, PNG_LEVEL, new_job_dir, parse_seeds, recipe_text, seed_or_random, user_error, user_errors

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
    reconstruction: str  # PNG with its ``vectors`` recipe
    summary: str  # markdown: distance, PSNR, steps, time
    recipe: str
    vectors: str  # safetensors: sentence and noise
    found: dict[str, Any]  # the session's slot: {"sentence", "noise", "label"}, what ``[your image]`` stands for in other tabs


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
    shown = invert.vector_grid(pipeline_of(model), [found.sentence.tolist()], noise=[found.noise.tolist()], labels=["inversion"], batch_size=1)
    folder = new_job_dir(outdir)
    png = save_png(shown.pil()[0], folder / "reconstruction.png", shown.recipe, compress_level=PNG_LEVEL)
    vectors = folder / "vectors.safetensors"
    save_safetensors({"sentence": found.sentence, "noise": found.noise}, vectors)
    summary = (
        f"**{found.steps} steps** in {found.seconds:.1f} s{' (time limit reached)' if found.stopped else ''} · "
        f"CLIP distance {found.distance:.4f} · PSNR {found.psnr:.2f} dB · best start: seed {found.start_seed}"
    )
    found_point = {"sentence": found.sentence.tolist(), "noise": found.noise.tolist(), "label": "your image"}
    return InvertResult(str(png), summary, recipe_text(shown.recipe), str(vectors), found_point)


# ------------------------------------------------------------------------------------------ send the found point
def _need_found(found: dict[str, Any] | None) -> None:
    if not found:
        raise user_error("Nothing found yet: run Invert first, then send the image.")


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
