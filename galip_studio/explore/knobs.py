"""The style knob: one image from a weighted blend of several prompts' sentence vectors, or from a
point of the four-corner square (the blend grid's image there)."""

from __future__ import annotations

from typing import Sequence

import numpy
import torch

from .. import latent
from ..pipeline import GALIPPipeline, noise_from_seeds
from .images import encode, synthesize
from .recipe import DEFAULT_LIMITS, Limits, Render, check_prompts, check_seeds, check_truncation_and_batch, make_recipe, recipe_kind


@recipe_kind("style")
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

