"""Grids: prompt A to prompt B (:func:`interpolation_grid`), the four-corner blend (the paper's Figure 7,
:func:`blend_grid`) and prompts x seeds (:func:`seed_grid`). Each returns a
:class:`~galip_studio.explore.recipe.Render` whose recipe makes it again."""

from __future__ import annotations

from typing import Sequence

from .. import latent
from ..pipeline import GALIPPipeline, noise_from_seeds
from .images import encode, short, synthesize
from .recipe import (
    DEFAULT_LIMITS, Limits, Progress, Render, check_grid, check_prompts, check_seeds, check_truncation_and_batch, make_recipe, recipe_kind,
    whole_at_least,
)


def _interpolation_arguments(recipe: dict) -> dict:
    pair = recipe.get("prompts") or []
    if len(pair) != 2:
        raise ValueError("an interpolation recipe needs exactly 2 prompts")
    return {"prompt_a": pair[0], "prompt_b": pair[1]}


@recipe_kind("interpolate", arguments=_interpolation_arguments)
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


@recipe_kind("blend")
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
    rows, cols = check_grid(rows, cols, limits)
    sentence = latent.bilinear_blend(encode(pipe, prompts), rows, cols).reshape(rows * cols, -1)
    noise = noise_from_seeds([seed], pipe.z_dim, truncation).repeat(rows * cols, 1)
    images = synthesize(pipe, noise, sentence, batch_size, progress)
    row_labels = [""] * rows
    row_labels[0] = f"{short(prompts[0])}  ->  {short(prompts[1])}"
    row_labels[-1] = f"{short(prompts[2])}  ->  {short(prompts[3])}"
    recipe = make_recipe(pipe, "blend", prompts=prompts, rows=rows, cols=cols, seed=seed, truncation=truncation, batch_size=batch_size)
    return Render(images, recipe, rows, cols, sentence, noise, row_labels, [])


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

