"""Walks through the latent space, for a GIF or MP4: the sentence vector moves through keyframe
prompts (or points, such as a found image's) while the noise follows a :class:`NoisePath`
(keyframes, spline, circle or random) through the seeds' noise, after any raw noise given."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from .. import latent
from ..pipeline import MAX_SEED, GALIPPipeline, noise_from_seeds
from .images import encode, synthesize
from .recipe import (
    DEFAULT_LIMITS, Limits, Progress, Render, check_prompts, check_seeds, check_truncation_and_batch, check_vectors, make_recipe,
    recipe_kind, whole_at_least,
)


# ------------------------------------------------------------------------------------------ noise paths
@dataclass(frozen=True)
class NoisePath:
    """How a walk's noise moves, and what that allows.

    Attributes:
        name: the ``path`` a walk and its recipe name it by.
        noise: ``noise(spec, progress) -> [frames, z]`` (before truncation).
        start_and_direction: the path takes one or two noise keyframes (start, second): raw noise
            first, then seeds; one seed alone gets ``start + 1`` as its second. Otherwise it moves
            between all its noise keyframes.
        always_closed: the path is a loop whatever ``loop`` says.
        continuous: a continuous path through its progress values, so it can loop, be re-timed and
            take explicit ``times``; a random walk is a chain of frames and can do none of these
            (its ``step_size`` is the share of fresh noise per frame).
        spline: the sentence vector follows a Catmull-Rom spline through the prompts too.
    """

    name: str
    noise: Callable[["_WalkSpec", torch.Tensor], torch.Tensor]
    start_and_direction: bool = False
    always_closed: bool = False
    continuous: bool = True
    spline: bool = False


def _keyframe_noise(spec: "_WalkSpec", progress: torch.Tensor) -> torch.Tensor:
    return latent.keyframe_path(spec.noises, progress, spec.noise_interp, spec.easing, spec.closed)


def _spline_noise(spec: "_WalkSpec", progress: torch.Tensor) -> torch.Tensor:
    return latent.spline_path(spec.noises, progress, spec.easing, spec.closed)


def _circle_noise(spec: "_WalkSpec", progress: torch.Tensor) -> torch.Tensor:
    return latent.great_circle(spec.noises[0], spec.noises[1], latent.ease(torch.remainder(progress, 1.0), spec.easing))


def _random_noise(spec: "_WalkSpec", progress: torch.Tensor) -> torch.Tensor:
    gen = torch.Generator().manual_seed(spec.seeds[-1])  # the second seed, or the only one after a raw start
    return latent.random_walk(spec.noises[0], progress.shape[0], spec.step_size, gen)


NOISE_PATHS: dict[str, NoisePath] = {
    p.name: p
    for p in (
        NoisePath("keyframes", _keyframe_noise),  # from seed to seed, each segment interpolated with noise_interp
        NoisePath("spline", _spline_noise, spline=True),  # Catmull-Rom through the seeds' noise, smooth at every keyframe
        NoisePath("circle", _circle_noise, start_and_direction=True, always_closed=True),  # a great-circle loop
        NoisePath("random", _random_noise, start_and_direction=True, continuous=False),  # a random walk (steps from the last seed)
    )
}
"""The noise paths a walk can take, by name (``walk(path=...)``, ``galip-studio walk --path``)."""


# ------------------------------------------------------------------------------------------ walks
@dataclass(frozen=True)
class _WalkSpec:
    """A walk's resolved path: maps progress values to (sentence, noise) latents."""

    sentences: torch.Tensor
    noises: torch.Tensor
    seeds: tuple[int, ...]
    path: NoisePath
    closed: bool
    easing: str
    sentence_interp: str
    noise_interp: str
    step_size: float
    truncation: float

    def latents(self, progress: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.path.spline:
            sentence = latent.spline_path(self.sentences, progress, self.easing, self.closed)
        else:
            sentence = latent.keyframe_path(self.sentences, progress, self.sentence_interp, self.easing, self.closed)
        return sentence, latent.truncate(self.path.noise(self, progress), self.truncation)


@recipe_kind("walk", animation=True)
def walk(
    pipe: GALIPPipeline,
    prompts: str | dict | Sequence[str | dict],
    *,
    frames: int = 60,
    seeds: Sequence[int] = (0,),
    noise: Sequence[Sequence[float]] | None = None,
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

    The sentence vector moves through ``prompts`` (keyframes, interpolated with ``sentence_interp``;
    a point ``{"sentence", "label"}``, e.g. a found image, see :func:`~.recipe.check_point`, may stand
    in for any prompt) while the noise follows ``path`` through its noise keyframes: the raw
    ``noise`` vectors first (e.g. that image's; the recipe stores them), then the seeds' noise:

    * ``"keyframes"``: from seed to seed, each segment interpolated with ``noise_interp`` (slerp);
    * ``"spline"``: a Catmull-Rom spline through the seeds' noise (and the prompts' sentence
      vectors), smooth at every keyframe, norm preserved;
    * ``"circle"``: a great-circle loop from the first noise keyframe in the direction of the second
      (one seed alone: ``seeds[0]`` toward ``seeds[0] + 1``); always a loop, the noise keeps its norm;
    * ``"random"``: a random walk from the first noise keyframe whose steps are drawn from the last
      seed (one seed alone: from ``seeds[0]``, steps from ``seeds[0] + 1``), ``step_size`` in (0, 1]
      the share of fresh noise per frame.

    So a point first among ``prompts`` with its noise as ``noise`` starts the walk at that point's
    image (at ``truncation`` 1: truncation scales the whole noise path, raw noise included).

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
    prompts = check_prompts(prompts, points=True)
    seeds = check_seeds(seeds)
    raw = None if noise is None else check_vectors("noise", noise, pipe.z_dim, limits.max_seeds)
    check_truncation_and_batch(truncation, batch_size, limits)
    latent.check_choice("path", path, tuple(NOISE_PATHS))
    noise_path = NOISE_PATHS[path]
    latent.check_choice("easing", easing, tuple(latent.EASINGS))
    latent.check_choice("sentence interpolation", sentence_interp, latent.INTERPOLATIONS)
    latent.check_choice("noise interpolation", noise_interp, latent.INTERPOLATIONS)
    frames = whole_at_least("frames", frames, 2)
    limits.check("frames", frames, "max_frames")
    limits.check("the number of prompts", len(prompts), "max_prompts")
    limits.check("the number of seeds", len(seeds) + (0 if raw is None else raw.shape[0]), "max_seeds")
    if not (math.isfinite(float(fps)) and float(fps) > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    limits.check("fps", float(fps), "max_fps")
    closed = bool(loop) or noise_path.always_closed
    if not noise_path.continuous and loop:
        raise ValueError(f"a {path} walk cannot loop (it never comes back): use pingpong=True, or path='circle'")
    if closed and pingpong:
        raise ValueError("choose loop or pingpong, not both: a loop already returns to its start")
    if not noise_path.continuous and not 0.0 < float(step_size) <= 1.0:
        raise ValueError(f"step_size must be in (0, 1] (the share of fresh noise per frame), got {step_size}")
    seeds = _walk_seeds(noise_path, len(prompts), seeds, 0 if raw is None else raw.shape[0])
    if retime is not None:
        latent.check_choice("retime space", retime, ("clip", "pixel"))
        if not noise_path.continuous:
            raise ValueError(f"a {path} walk cannot be re-timed (its frames are not points of a continuous path)")
        retime_density = whole_at_least("retime_density", retime_density, 2)
        limits.check("retime_density", retime_density, "max_retime_density")
    if times is not None:
        times = [float(v) for v in times]
        if len(times) != frames:
            raise ValueError(f"{len(times)} times given for {frames} frames: give one progress value per frame")
        if not noise_path.continuous or not all(0.0 <= v <= 1.0 for v in times):
            raise ValueError("times are progress values in [0, 1] of a keyframe, spline or circle path")

    keyframe_noise = noise_from_seeds(seeds, pipe.z_dim)
    keyframe_noise = keyframe_noise if raw is None else torch.cat([raw, keyframe_noise])
    spec = _WalkSpec(
        encode(pipe, prompts), keyframe_noise, tuple(seeds), noise_path, closed, easing, sentence_interp, noise_interp,
        float(step_size), float(truncation),
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
        batch_size=batch_size, **({} if raw is None else {"noise": raw.tolist()}),
    )
    cols = math.ceil(math.sqrt(len(order)))
    return Render(
        images[order], recipe, math.ceil(len(order) / cols), cols, sentence[order], noise[order],
        progress=[float(where[i]) for i in order], fps=float(fps),
    )


def _walk_seeds(path: NoisePath, n_prompts: int, seeds: list[int], n_raw: int = 0) -> list[int]:
    """The seeds a walk uses after ``n_raw`` raw noise keyframes: circles and random walks take
    (start, second), the second defaulting to ``start + 1``; keyframe and spline paths need
    something to move between."""
    if path.start_and_direction:
        if n_raw + len(seeds) > 2:
            given = f"{n_raw} raw noise{'s' if n_raw > 1 else ''} and {len(seeds)} seeds" if n_raw else f"{len(seeds)} seeds"
            fix = "give one seed (the direction) after the raw noise" if n_raw == 1 else "give at most two"
            raise ValueError(f"path={path.name!r} takes one or two noise keyframes (start, direction), got {given}: {fix}")
        if n_raw + len(seeds) == 1:
            seeds = [seeds[0], seeds[0] + 1 if seeds[0] < MAX_SEED else seeds[0] - 1]
    elif n_prompts == 1 and n_raw + len(seeds) == 1:
        raise ValueError(
            "a walk through one prompt and one seed stands still: add a prompt or a seed, or use path='circle' or 'random'"
        )
    return seeds


def _retimed_progress(
    pipe: GALIPPipeline, spec: _WalkSpec, frames: int, space: str, density: int, batch_size: int, progress: Progress | None
) -> list[float]:
    """Progress values that space ``frames`` frames evenly along the path, measured in ``space``."""
    from ..metrics import clip_steps, pixel_steps, retime_progress

    dense = latent.frame_progress(frames * density, spec.closed)
    sentence, noise = spec.latents(dense)
    images = synthesize(pipe, noise, sentence, batch_size, progress, 0, frames * density + frames)
    steps = clip_steps(pipe.clip, images, spec.closed) if space == "clip" else pixel_steps(images, spec.closed)
    return retime_progress(dense, steps, frames, spec.closed)
