"""Grids: prompt A to prompt B (:func:`interpolation_grid`), the four-corner blend (the paper's Figure 7,
:func:`blend_grid`) and prompts x seeds (:func:`seed_grid`). Each returns a
:class:`~galip_studio.explore.recipe.Render` whose recipe makes it again."""

from __future__ import annotations

from typing import Sequence

import torch

from .. import latent
from ..pipeline import GALIPPipeline, noise_from_seeds
from .images import encode, short, synthesize
from .recipe import (
    DEFAULT_LIMITS, Limits, Progress, Render, check_grid, check_prompts, check_seeds, check_truncation_and_batch, check_vectors, label_of, make_recipe,
    recipe_kind, whole_at_least,
)


def _interpolation_arguments(recipe: dict) -> dict:
    pair = recipe.get("prompts") or []
    if len(pair) != 2:
        raise ValueError("an interpolation recipe needs exactly 2 prompts")
    return {"prompt_a": pair[0], "prompt_b": pair[1]}


@recipe_kind("interpolate", arguments=_interpolation_arguments)
def interpolation_grid(
    pipe: GALIPPipeline,
    prompt_a: str | dict,
    prompt_b: str | dict,
    *,
    steps: int = 8,
    seeds: Sequence[int] = (0, 1, 2, 3),
    noise: Sequence[Sequence[float]] | None = None,
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
        noise: raw noise vectors (e.g. a found image's) as the first columns, before the seeds'
            (``truncation`` does not apply to them); the recipe stores them.

    Either end may be a point ``{"sentence", "label"}`` (a found image, see
    :func:`~.recipe.check_point`) in place of a prompt.
    """
    a, b = check_prompts([prompt_a, prompt_b], points=True)
    seeds = check_seeds(seeds)
    check_truncation_and_batch(truncation, batch_size, limits)
    latent.check_choice("interpolation", interp, latent.INTERPOLATIONS)
    latent.check_choice("easing", easing, tuple(latent.EASINGS))
    steps = whole_at_least("steps", steps, 2)
    limits.check("steps", steps, "max_steps")
    raw = None if noise is None else check_vectors("noise", noise, pipe.z_dim, limits.max_seeds)
    cols = len(seeds) + (0 if raw is None else raw.shape[0])
    limits.check("the number of seeds", cols, "max_seeds")
    limits.check("the number of images (steps x seeds)", steps * cols, "max_images")
    ends = encode(pipe, [a, b])
    t = latent.ease(latent.grid_positions(steps), easing)
    rows = latent.interpolate(ends[0], ends[1], t.float(), interp)
    sentence = rows.repeat_interleave(cols, dim=0)
    z = noise_from_seeds(seeds, pipe.z_dim, truncation)
    z = z if raw is None else torch.cat([raw, z])
    images = synthesize(pipe, z.repeat(steps, 1), sentence, batch_size, progress)
    labels = [f"{v:.2f}" for v in t.tolist()]
    labels[0], labels[-1] = f"A: {short(label_of(a))}", f"B: {short(label_of(b))}"
    recipe = make_recipe(
        pipe, "interpolate", prompts=[a, b], steps=steps, seeds=seeds, interp=interp, easing=easing,
        truncation=truncation, batch_size=batch_size, **({} if raw is None else {"noise": raw.tolist()}),
    )
    heads = [f"noise {i + 1}" for i in range(cols - len(seeds))] + [f"seed {s}" for s in seeds]
    return Render(images, recipe, steps, cols, sentence, z.repeat(steps, 1), labels, heads)


@recipe_kind("blend")
def blend_grid(
    pipe: GALIPPipeline,
    prompts: Sequence[str | dict],
    *,
    rows: int = 5,
    cols: int | None = None,
    seed: int = 0,
    noise: Sequence[float] | None = None,
    truncation: float = 1.0,
    batch_size: int = 8,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Render:
    """The four-corner blend grid (the paper's Figure 7): four prompts at the corners (top-left,
    top-right, bottom-left, bottom-right), bilinear blends of their sentence vectors in between, one
    seed for all. The corner images are the plain generations of the four prompts with that seed.

    A corner may be a point ``{"sentence", "label"}`` (a found image, see :func:`~.recipe.check_point`);
    ``noise``, a raw noise vector (e.g. that image's), replaces the seed's (``truncation`` does not
    apply to it) and the recipe stores it."""
    prompts = check_prompts(prompts, points=True)
    if len(prompts) != 4:
        raise ValueError(f"a blend grid needs exactly 4 prompts (its corners), got {len(prompts)}")
    (seed,) = check_seeds([seed])
    check_truncation_and_batch(truncation, batch_size, limits)
    rows, cols = check_grid(rows, cols, limits)
    sentence = latent.bilinear_blend(encode(pipe, prompts), rows, cols).reshape(rows * cols, -1)
    z = noise_from_seeds([seed], pipe.z_dim, truncation) if noise is None else check_vectors("noise", [noise], pipe.z_dim, 1)
    images = synthesize(pipe, z.repeat(rows * cols, 1), sentence, batch_size, progress)
    names = [short(label_of(p)) for p in prompts]
    row_labels = [""] * rows
    row_labels[0] = f"{names[0]}  ->  {names[1]}"
    row_labels[-1] = f"{names[2]}  ->  {names[3]}"
    recipe = make_recipe(
        pipe, "blend", prompts=prompts, rows=rows, cols=cols, seed=seed, truncation=truncation, batch_size=batch_size,
        **({} if noise is None else {"noise": z[0].tolist()}),
    )
    return Render(images, recipe, rows, cols, sentence, z.repeat(rows * cols, 1), row_labels, [])


@recipe_kind("seeds")
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

