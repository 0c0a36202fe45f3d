"""Latent-space exploration with a :class:`GALIPPipeline`: grids, blends, style knobs, walks, recipes.

API overview — each function returns a :class:`Render` (the images as a tensor ``[N, 3, S, S]`` in
[-1, 1], grid layout and captions, the latents behind every image, and the ``recipe`` dict that
reproduces them)::

    from galip_studio import explore

    r = explore.interpolation_grid(pipe, "a cat", "a dog", steps=8, seeds=[0, 1, 2])  # rows = steps, cols = seeds
    r = explore.blend_grid(pipe, ["A", "B", "C", "D"], rows=5, seed=0)   # bilinear four-corner blend (Figure 7)
    r = explore.seed_grid(pipe, ["A", "B"], seeds=[0, 1, 2, 3])          # rows = prompts, cols = seeds
    r = explore.style_knob(pipe, ["A", "B", "C", "D"], weights=[1, .5, 0, 0], seed=0)  # or position=(x, y)
    r = explore.walk(pipe, ["A", "B"], frames=60, seeds=[0, 1], loop=True, easing="cosine", fps=24)
    explore.save_render(r, "walk.mp4")      # or .gif; grids (and walks as contact sheets) to .png
    r.pil(), r.grid()                       # PIL images, a captioned grid image
    again = explore.render_recipe(export.load_recipe("walk.mp4"), pipe)   # the same frames again

Everything is generated in batches through ``pipe.synthesize`` (``batch_size`` images per forward
pass); long jobs report ``progress(done, total)`` after each batch.

**Limits.** Sizes a user can type (interpolation steps, seeds, grid sides, images per grid, prompts,
frames, fps, export size) are bounded by a :class:`Limits`; :data:`DEFAULT_LIMITS` is what the app
and the CLI use, :data:`NO_LIMITS` (``--no-limits``) drops the bounds. Breaking one raises a
ValueError that names the value, the limit and the fix.

**Reproducibility.** A recipe records the model, prompts, seeds, weights, path, steps, frames, fps,
truncation, batch size and package version: :func:`render_recipe` calls the same function with the
same arguments and gets the same tensors, bit for bit, on the same model, device, dtype and batch
size. (CPU matrix kernels round the last bit differently for different batch sizes, so a grid
rendered in batches of 8 can differ from one-at-a-time generation by ~1e-7; the latents themselves
— sentence vectors and noise — are always bit-equal to those of ``pipe(prompt, seeds=[s])``.)
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy
import torch
from PIL import Image

from . import __version__
from . import latent
from .export import ANIMATION_SUFFIXES, crisp_size, grid_image, resize_images, save_animation, save_png
from .pipeline import MAX_SEED, GALIPPipeline, check_prompt, noise_from_seeds, to_pil

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
# Public because discover.py and prompt_map.py, which build on this module, check their inputs the same way.
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


# ------------------------------------------------------------------------------------------ helpers
def model_info(pipe: GALIPPipeline) -> dict[str, Any]:
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


def make_recipe(pipe: GALIPPipeline, kind: str, **params: Any) -> dict[str, Any]:
    """The one recipe schema: format, ``kind`` (the name of the function that renders it, see
    :data:`RENDERERS`), the model (:func:`model_info`), the package version, then that function's
    arguments."""
    return {"format": RECIPE_FORMAT, "kind": kind, "model": model_info(pipe), "galip_studio": __version__, **params}


def encode(pipe: GALIPPipeline, prompts: Sequence[str]) -> torch.Tensor:
    """Sentence vectors on the CPU (float32), exactly as ``pipe.generate`` passes them on."""
    return pipe.encode(list(prompts)).float().cpu()


def synthesize(
    pipe: GALIPPipeline,
    noise: torch.Tensor,
    sentence: torch.Tensor,
    batch_size: int,
    progress: Progress | None,
    done: int = 0,
    total: int | None = None,
) -> torch.Tensor:
    """All images, ``batch_size`` per forward pass, clamped to [-1, 1] (as ``pipe.generate`` does).

    ``progress(done + k, total)`` is called after each batch (``done``/``total`` let several passes
    share one progress bar).
    """
    n = noise.shape[0]
    total = done + n if total is None else total
    chunks = []
    for i in range(0, n, batch_size):
        chunks.append(pipe.synthesize(noise[i : i + batch_size], sentence[i : i + batch_size], batch_size=batch_size))
        if progress is not None:
            progress(done + min(i + batch_size, n), total)
    return torch.cat(chunks).clamp(-1, 1)


def short(text: str, n: int = 40) -> str:
    """``text`` cut to ``n`` characters with an ellipsis (for captions)."""
    return text if len(text) <= n else text[: n - 1] + "…"


# ------------------------------------------------------------------------------------------ grids
def interpolation_grid(
    pipe: GALIPPipeline,
    prompt_a: str,
    prompt_b: str,
    *,
    steps: int = 8,
    seeds: Sequence[int] = (0, 1, 2, 3),
    interp: str = "lerp",
    easing: str = "linear",
    truncation: float = 1.0,
    batch_size: int = 8,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Render:
    """Prompt A → prompt B: rows are ``steps`` interpolation steps between the two sentence vectors
    (first row = A, last row = B, exactly), columns are seeds (the same noise down a column).

    Args:
        interp: ``"lerp"`` (the paper's linear blend) or ``"slerp"`` between the sentence vectors.
        easing: spacing of the steps (``linear``, ``smoothstep``, ``cosine``).
        truncation: psi in [0, 1] applied to every seed's noise.
    """
    a, b = check_prompts([prompt_a, prompt_b])
    seeds = check_seeds(seeds)
    check_truncation_and_batch(truncation, batch_size, limits)
    latent.check_choice("interpolation", interp, latent.INTERPOLATIONS)
    latent.check_choice("easing", easing, tuple(latent.EASINGS))
    steps = whole_at_least("steps", steps, 2)
    limits.check("steps", steps, "max_steps")
    limits.check("the number of seeds", len(seeds), "max_seeds")
    limits.check("the number of images (steps x seeds)", steps * len(seeds), "max_images")
    ends = encode(pipe, [a, b])
    t = latent.ease(latent.grid_positions(steps), easing)
    rows = latent.interpolate(ends[0], ends[1], t.float(), interp)
    sentence = rows.repeat_interleave(len(seeds), dim=0)
    noise = noise_from_seeds(seeds, pipe.z_dim, truncation).repeat(steps, 1)
    images = synthesize(pipe, noise, sentence, batch_size, progress)
    labels = [f"{v:.2f}" for v in t.tolist()]
    labels[0], labels[-1] = f"A: {short(a)}", f"B: {short(b)}"
    recipe = make_recipe(
        pipe, "interpolate", prompts=[a, b], steps=steps, seeds=seeds, interp=interp, easing=easing,
        truncation=truncation, batch_size=batch_size,
    )
    return Render(images, recipe, steps, len(seeds), sentence, noise, labels, [f"seed {s}" for s in seeds])


def blend_grid(
    pipe: GALIPPipeline,
    prompts: Sequence[str],
    *,
    rows: int = 5,
    cols: int | None = None,
    seed: int = 0,
    truncation: float = 1.0,
    batch_size: int = 8,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Render:
    """The four-corner blend grid (the paper's Figure 7): four prompts at the corners (top-left,
    top-right, bottom-left, bottom-right), bilinear blends of their sentence vectors in between, one
    seed for all. The corner images are the plain generations of the four prompts with that seed."""
    prompts = check_prompts(prompts)
    if len(prompts) != 4:
        raise ValueError(f"a blend grid needs exactly 4 prompts (its corners), got {len(prompts)}")
    (seed,) = check_seeds([seed])
    check_truncation_and_batch(truncation, batch_size, limits)
    cols = rows if cols is None else cols
    rows, cols = whole_at_least("grid rows", rows, 2), whole_at_least("grid columns", cols, 2)
    limits.check("grid rows", rows, "max_grid")
    limits.check("grid columns", cols, "max_grid")
    limits.check("the number of images (rows x columns)", rows * cols, "max_images")
    sentence = latent.bilinear_blend(encode(pipe, prompts), rows, cols).reshape(rows * cols, -1)
    noise = noise_from_seeds([seed], pipe.z_dim, truncation).repeat(rows * cols, 1)
    images = synthesize(pipe, noise, sentence, batch_size, progress)
    row_labels = [""] * rows
    row_labels[0] = f"{short(prompts[0])}  ->  {short(prompts[1])}"
    row_labels[-1] = f"{short(prompts[2])}  ->  {short(prompts[3])}"
    recipe = make_recipe(pipe, "blend", prompts=prompts, rows=rows, cols=cols, seed=seed, truncation=truncation, batch_size=batch_size)
    return Render(images, recipe, rows, cols, sentence, noise, row_labels, [])


def seed_grid(
    pipe: GALIPPipeline,
    prompts: str | Sequence[str],
    seeds: Sequence[int] = (0, 1, 2, 3, 4, 5, 6, 7),
    *,
    truncation: float = 1.0,
    batch_size: int = 8,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Render:
    """Prompts × seeds: one row per prompt, one column per seed (the same noise down a column).
    With the same batch size this equals ``pipe(prompts, seeds=seeds)``."""
    prompts = check_prompts(prompts)
    seeds = check_seeds(seeds)
    check_truncation_and_batch(truncation, batch_size, limits)
    limits.check("the number of prompts", len(prompts), "max_prompts")
    limits.check("the number of seeds", len(seeds), "max_seeds")
    limits.check("the number of images (prompts x seeds)", len(prompts) * len(seeds), "max_images")
    sentence = encode(pipe, prompts).repeat_interleave(len(seeds), dim=0)
    noise = noise_from_seeds(seeds, pipe.z_dim, truncation).repeat(len(prompts), 1)
    images = synthesize(pipe, noise, sentence, batch_size, progress)
    recipe = make_recipe(pipe, "seeds", prompts=prompts, seeds=seeds, truncation=truncation, batch_size=batch_size)
    return Render(images, recipe, len(prompts), len(seeds), sentence, noise, [short(p, 80) for p in prompts], [f"seed {s}" for s in seeds])


def style_knob(
    pipe: GALIPPipeline,
    prompts: Sequence[str],
    weights: Sequence[float] | None = None,
    *,
    position: Sequence[float] | None = None,
    seed: int = 0,
    normalize: bool = True,
    truncation: float = 1.0,
    limits: Limits = DEFAULT_LIMITS,
) -> Render:
    """One image from a weighted blend of several prompts' sentence vectors (the style knob).

    Args:
        prompts: the prompts to mix (typically four).
        weights: one weight per prompt (default: equal). With ``normalize`` they are divided by their
            sum; without it they are used as they are, so a total above 1 exaggerates the mix.
        position: instead of weights, an ``(x, y)`` point in [0, 1]² of the four-corner square
            (exactly 4 prompts: top-left, top-right, bottom-left, bottom-right); the weights are the
            bilinear ones, so this is the blend grid's image at that point.
        seed: the noise seed.
    """
    prompts = check_prompts(prompts)
    (seed,) = check_seeds([seed])
    check_truncation_and_batch(truncation, 1, limits)
    limits.check("the number of prompts", len(prompts), "max_prompts")
    if position is not None:
        if weights is not None:
            raise ValueError("give either weights or a position, not both")
        if len(prompts) != 4:
            raise ValueError(f"a blend position needs exactly 4 prompts (the corners), got {len(prompts)}")
        if len(position) != 2:
            raise ValueError(f"position is an (x, y) pair, got {list(position)}")
        x, y = (float(v) for v in position)
        mix = latent.corner_weights(x, y).float()
        position = [x, y]
    else:
        w = [1.0] * len(prompts) if weights is None else [float(v) for v in weights]
        if len(w) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts need {len(prompts)} weights, got {len(w)}")
        mix = torch.tensor(w, dtype=torch.float32)
        weights = w
    sentence = latent.blend(encode(pipe, prompts), mix, normalize=normalize and position is None)[None]
    noise = noise_from_seeds([seed], pipe.z_dim, truncation)
    images = synthesize(pipe, noise, sentence, 1, None)
    recipe = make_recipe(
        pipe, "style", prompts=prompts, weights=weights, position=position, seed=seed, normalize=normalize,
        truncation=truncation, blend_weights=[float(str(numpy.float32(v))) for v in mix.tolist()],  # 0.525, not 0.5249999761581421
    )
    return Render(images, recipe, 1, 1, sentence, noise)


# ------------------------------------------------------------------------------------------ walks
@dataclass(frozen=True)
class _WalkSpec:
    """A walk's resolved path: maps progress values to (sentence, noise) latents."""

    sentences: torch.Tensor
    noises: torch.Tensor
    path: str
    closed: bool
    easing: str
    sentence_interp: str
    noise_interp: str
    step_size: float
    truncation: float
    walk_seed: int

    def latents(self, progress: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.path == "spline":
            sentence = latent.spline_path(self.sentences, progress, self.easing, self.closed)
            noise = latent.spline_path(self.noises, progress, self.easing, self.closed)
        else:
            sentence = latent.keyframe_path(self.sentences, progress, self.sentence_interp, self.easing, self.closed)
            if self.path == "keyframes":
                noise = latent.keyframe_path(self.noises, progress, self.noise_interp, self.easing, self.closed)
            elif self.path == "circle":
                noise = latent.great_circle(self.noises[0], self.noises[1], latent.ease(torch.remainder(progress, 1.0), self.easing))
            else:
                gen = torch.Generator().manual_seed(self.walk_seed)
                noise = latent.random_walk(self.noises[0], progress.shape[0], self.step_size, gen)
        return sentence, latent.truncate(noise, self.truncation)


def walk(
    pipe: GALIPPipeline,
    prompts: str | Sequence[str],
    *,
    frames: int = 60,
    seeds: Sequence[int] = (0,),
    path: str = "keyframes",
    loop: bool = False,
    pingpong: bool = False,
    easing: str = "linear",
    sentence_interp: str = "lerp",
    noise_interp: str = "slerp",
    step_size: float = 0.2,
    truncation: float = 1.0,
    fps: float = 24.0,
    retime: str | None = None,
    retime_density: int = 4,
    times: Sequence[float] | None = None,
    batch_size: int = 8,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Render:
    """Frames of a walk through the latent space, for a GIF or MP4.

    The sentence vector moves through ``prompts`` (keyframes, interpolated with ``sentence_interp``)
    while the noise follows ``path``:

    * ``"keyframes"``: from seed to seed, each segment interpolated with ``noise_interp`` (slerp);
    * ``"spline"``: a Catmull-Rom spline through the seeds' noise (and the prompts' sentence
      vectors), smooth at every keyframe, norm preserved;
    * ``"circle"``: a great-circle loop from ``seeds[0]`` in the direction of ``seeds[1]`` (default
      ``seeds[0] + 1``); always a loop, the noise keeps its norm;
    * ``"random"``: a random walk from ``seeds[0]`` whose steps are drawn from seed ``seeds[1]``
      (default ``seeds[0] + 1``), ``step_size`` in (0, 1] the share of fresh noise per frame.

    Args:
        frames: frames to render (playback has ``2 * frames - 2`` with ``pingpong``).
        loop: close the path (last keyframe back to the first); the frame after the last equals the
            first, so the animation loops seamlessly. Not for random walks.
        pingpong: play forward then back instead (not together with ``loop``).
        easing: time within each segment between keyframes (``linear``, ``smoothstep``, ``cosine``;
            the latter two pause at keyframes). A circle is one segment.
        fps: playback rate, stored with the render for export.
        retime: ``"clip"`` or ``"pixel"``: render the path densely (``retime_density`` samples per
            frame), measure the distance between neighbours in that space and place the frames at
            equal distances, so the animation moves at an even perceived speed. The chosen progress
            values are stored in the recipe (``times``), so re-rendering needs no measuring.
        times: explicit progress (0-1) of each frame instead of even spacing (what ``retime``
            records); ``frames`` must equal ``len(times)``.
    """
    prompts = check_prompts(prompts)
    seeds = check_seeds(seeds)
    check_truncation_and_batch(truncation, batch_size, limits)
    latent.check_choice("path", path, latent.NOISE_PATHS)
    latent.check_choice("easing", easing, tuple(latent.EASINGS))
    latent.check_choice("sentence interpolation", sentence_interp, latent.INTERPOLATIONS)
    latent.check_choice("noise interpolation", noise_interp, latent.INTERPOLATIONS)
    frames = whole_at_least("frames", frames, 2)
    limits.check("frames", frames, "max_frames")
    limits.check("the number of prompts", len(prompts), "max_prompts")
    limits.check("the number of seeds", len(seeds), "max_seeds")
    if not (math.isfinite(float(fps)) and float(fps) > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    limits.check("fps", float(fps), "max_fps")
    closed = bool(loop) or path == "circle"
    if path == "random" and loop:
        raise ValueError("a random walk cannot loop (it never comes back): use pingpong=True, or path='circle'")
    if closed and pingpong:
        raise ValueError("choose loop or pingpong, not both: a loop already returns to its start")
    if path == "random" and not 0.0 < float(step_size) <= 1.0:
        raise ValueError(f"step_size must be in (0, 1] (the share of fresh noise per frame), got {step_size}")
    seeds = _walk_seeds(path, len(prompts), seeds)
    if retime is not None:
        latent.check_choice("retime space", retime, ("clip", "pixel"))
        if path == "random":
            raise ValueError("a random walk cannot be re-timed (its frames are not points of a continuous path)")
        retime_density = whole_at_least("retime_density", retime_density, 2)
        limits.check("retime_density", retime_density, "max_retime_density")
    if times is not None:
        times = [float(v) for v in times]
        if len(times) != frames:
            raise ValueError(f"{len(times)} times given for {frames} frames: give one progress value per frame")
        if path == "random" or not all(0.0 <= v <= 1.0 for v in times):
            raise ValueError("times are progress values in [0, 1] of a keyframe, spline or circle path")

    keyframe_noise = noise_from_seeds(seeds, pipe.z_dim)
    spec = _WalkSpec(
        encode(pipe, prompts), keyframe_noise, path, closed, easing, sentence_interp, noise_interp,
        float(step_size), float(truncation), seeds[1] if path == "random" else 0,
    )
    done = 0
    if times is None and retime is not None:
        done = frames * retime_density
        times = _retimed_progress(pipe, spec, frames, retime, retime_density, batch_size, progress)
    where = torch.tensor(times, dtype=torch.float64) if times is not None else latent.frame_progress(frames, closed)
    sentence, noise = spec.latents(where)
    images = synthesize(pipe, noise, sentence, batch_size, progress, done, done + frames)
    order = latent.pingpong_order(frames) if pingpong else list(range(frames))
    recipe = make_recipe(
        pipe, "walk", prompts=prompts, seeds=seeds, frames=frames, path=path, loop=closed, pingpong=bool(pingpong),
        easing=easing, sentence_interp=sentence_interp, noise_interp=noise_interp, step_size=float(step_size),
        truncation=truncation, fps=float(fps), retime=retime, retime_density=retime_density, times=times,
        batch_size=batch_size,
    )
    cols = math.ceil(math.sqrt(len(order)))
    return Render(
        images[order], recipe, math.ceil(len(order) / cols), cols, sentence[order], noise[order],
        progress=[float(where[i]) for i in order], fps=float(fps),
    )


def _walk_seeds(path: str, n_prompts: int, seeds: list[int]) -> list[int]:
    """The seeds a walk uses: circles and random walks take (start, second), the second defaulting
    to ``start + 1``; keyframe and spline paths need something to move between."""
    if path in ("circle", "random"):
        if len(seeds) > 2:
            raise ValueError(f"path={path!r} takes one or two seeds (start, direction), got {len(seeds)}")
        if len(seeds) == 1:
            seeds = [seeds[0], seeds[0] + 1 if seeds[0] < MAX_SEED else seeds[0] - 1]
    elif n_prompts == 1 and len(seeds) == 1:
        raise ValueError(
            "a walk through one prompt and one seed stands still: add a prompt or a seed, or use path='circle' or 'random'"
        )
    return seeds


def _retimed_progress(
    pipe: GALIPPipeline, spec: _WalkSpec, frames: int, space: str, density: int, batch_size: int, progress: Progress | None
) -> list[float]:
    """Progress values that space ``frames`` frames evenly along the path, measured in ``space``."""
    from .metrics import clip_steps, pixel_steps, retime_progress

    dense = latent.frame_progress(frames * density, spec.closed)
    sentence, noise = spec.latents(dense)
    images = synthesize(pipe, noise, sentence, batch_size, progress, 0, frames * density + frames)
    steps = clip_steps(pipe.clip, images, spec.closed) if space == "clip" else pixel_steps(images, spec.closed)
    return retime_progress(dense, steps, frames, spec.closed)


# ------------------------------------------------------------------------------------------ recipes and files
RENDERERS: dict[str, Callable[..., Render]] = {
    "interpolate": interpolation_grid,
    "blend": blend_grid,
    "seeds": seed_grid,
    "style": style_knob,
    "walk": walk,
}
"""This module's recipe kinds and the function behind each. :mod:`galip_studio.discover` and
:mod:`galip_studio.prompt_map` build on this module and add their own; :data:`galip_studio.recipes.RENDERERS` holds them all."""
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
        from .config import preset_names

        preset = model in preset_names() and not Path(model).exists()
        return {"source": "preset" if preset else "checkpoint", "id": model}
    return {}


def render_recipe(
    recipe: dict[str, Any],
    pipe: GALIPPipeline,
    *,
    limits: Limits = DEFAULT_LIMITS,
    batch_size: int | None = None,
    progress: Progress | None = None,
    renderers: dict[str, Callable[..., Render]] | None = None,
) -> Render:
    """Make the images of ``recipe`` again (from :attr:`Render.recipe` or ``export.load_recipe``).

    The same function runs with the recorded arguments; on the same model, device, dtype and batch
    size (recorded; ``batch_size`` overrides it) the result is bit-identical. A model whose sizes
    differ from the recorded ones is refused. ``renderers`` is the table of kinds (default: this
    module's, :data:`RENDERERS`; :func:`galip_studio.recipes.render_recipe` passes every kind's).
    """
    if not isinstance(recipe, dict) or "kind" not in recipe:
        raise ValueError("not a GALIP Studio recipe: expected a dict with a 'kind'")
    table = RENDERERS if renderers is None else renderers
    kind = LEGACY_KINDS.get(recipe["kind"], recipe["kind"])
    fmt = recipe.get("format", RECIPE_FORMAT)
    if fmt != RECIPE_FORMAT:
        raise ValueError(f"recipe format {fmt!r} is not supported by this version ({RECIPE_FORMAT}); update galip-studio")
    if kind not in table:
        where = "" if renderers is not None else " (galip_studio.recipes.render_recipe renders the kinds of galip_studio.discover and galip_studio.prompt_map too)"
        raise ValueError(f"unknown recipe kind {kind!r}: this version renders {', '.join(sorted(table))}{where}")
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
    if kind == "interpolate":
        pair = recipe.get("prompts") or []
        if len(pair) != 2:
            raise ValueError("an interpolation recipe needs exactly 2 prompts")
        params["prompt_a"], params["prompt_b"] = pair
    if batch_size is not None:
        params["batch_size"] = batch_size
    recorded = params.get("batch_size")
    if limits.max_batch_size is not None and isinstance(recorded, numbers.Real) and not isinstance(recorded, bool) and recorded > limits.max_batch_size:
        # A recipe is user input: its batch size only sets memory use (and the last bits of CPU
        # rounding), so a huge one is clamped to the limit rather than refused.
        params["batch_size"] = limits.max_batch_size
    fn = table[kind]
    accepted = [name for name in inspect.signature(fn).parameters if name != "pipe"]
    return fn(pipe, **{name: params[name] for name in accepted if name in params})


def check_output(path: str | Path, animation: bool) -> Path:
    """Check an output file name before rendering: ``.png`` for grids, ``.gif``/``.mp4``/``.png``
    (a contact sheet) for walks."""
    path = Path(path)
    suffix = path.suffix.lower()
    allowed = (".png",) + (ANIMATION_SUFFIXES if animation else ())
    if suffix not in allowed:
        what = "an animation" if animation else "a grid"
        raise ValueError(f"cannot save {what} as {str(path)!r}: use a file name ending in {', '.join(allowed)}")
    return path


def check_size(size: int | None, limits: Limits = DEFAULT_LIMITS) -> int | None:
    """An export size in pixels (``None``: the model's own), checked: at least 8, at most the limit."""
    if size is None:
        return None
    size = whole_at_least("size", size, 8)
    limits.check("size (pixels)", size, "max_size")
    return size


def save_render(
    render: Render,
    path: str | Path,
    *,
    fps: float | None = None,
    size: int | None = None,
    captions: bool = True,
    quality: float = 8.0,
    loop: bool = True,
    compress_level: int = 6,
    resample: str = "lanczos",
    limits: Limits = DEFAULT_LIMITS,
) -> Path:
    """Save a render with its recipe (embedded and in the ``NAME.EXT.json`` sidecar).

    ``.png``: the grid (with captions) or a walk's contact sheet; ``.gif``/``.mp4``: a walk's frames
    at ``fps`` (default: the walk's). ``size`` scales every image to ``size`` px with ``resample``
    (``lanczos``, or ``nearest`` for crisp pixels; recorded in the export settings when not Lanczos).
    Crisp pixels enlarge by a whole number of times, so ``size`` becomes the nearest whole multiple
    of the images' own size (:func:`~galip_studio.export.crisp_size`; 256 for 64 px images, 224 for
    224 px ones), and the recipe records the size made. An animation's frames are made, scaled and
    written one at a time (nothing holds them all), and ``frames x size²`` is bounded
    (:meth:`Limits.check_animation`). ``compress_level`` is the PNG's zlib level (see
    :func:`~galip_studio.export.save_png`). The export settings are added to the recipe under ``"export"``.
    """
    path = check_output(path, render.is_animation)
    size = check_size(size, limits)
    native = int(render.images.shape[-1])
    if resample == "nearest" and size is not None:
        size = crisp_size(native, size)
        size = None if size == native else size
    recipe = dict(render.recipe)
    extra = {"resample": resample} if resample != "lanczos" else {}
    if path.suffix.lower() == ".png":
        recipe["export"] = {"format": "png", "size": size, "captions": bool(captions), **extra}
        grid = render.grid(captions=captions, size=size, resample=resample)
        return save_png(grid, path, recipe, sidecar=True, compress_level=compress_level)
    fps = float(fps if fps is not None else render.fps)
    limits.check("fps", fps, "max_fps")
    limits.check_animation(int(render.images.shape[0]), size or native)
    recipe["export"] = {"format": path.suffix.lower()[1:], "size": size, "fps": fps, "quality": quality, "loop": bool(loop), **extra}
    crisp = resample == "nearest" and size is not None
    frames = (
        resize_images(to_pil(render.images[i : i + 1]), None if crisp else size, resample)[0] for i in range(render.images.shape[0])
    )
    return save_animation(frames, path, fps, quality=quality, loop=loop, recipe=recipe, upscale=size // native if crisp else 1)
