"""Latent-space exploration with a :class:`~galip_studio.GALIPPipeline`: grids, blends, style knobs,
walks, discovered directions and the prompt map, each with the recipe that makes it again.

API overview — each function returns a :class:`Render` (the images as a tensor ``[N, 3, S, S]`` in
[-1, 1], grid layout and captions, the latents behind every image, and the ``recipe`` dict that
reproduces them)::

    from galip_studio import explore

    r = explore.interpolation_grid(pipe, "a cat", "a dog", steps=8, seeds=[0, 1, 2])  # rows = steps, cols = seeds
    r = explore.blend_grid(pipe, ["A", "B", "C", "D"], rows=5, seed=0)   # bilinear four-corner blend (Figure 7)
    r = explore.seed_grid(pipe, ["A", "B"], seeds=[0, 1, 2, 3])          # rows = prompts, cols = seeds
    r = explore.style_knob(pipe, ["A", "B", "C", "D"], weights=[1, .5, 0, 0], seed=0)  # or position=(x, y)
    r = explore.walk(pipe, ["A", "B"], frames=60, seeds=[0, 1], loop=True, easing="cosine", fps=24)
    d = explore.sentence_directions(pipe, components=8)                 # or noise_directions(pipe, "A")
    r = explore.strips(pipe, d, [0, 1, 2], prompt="a red heart")        # rows: components, -3σ … +3σ
    m = explore.prompt_map(pipe)                                         # then map_point / map_walk / map_grid
    explore.save_render(r, "walk.mp4")      # or .gif; grids (and walks as contact sheets) to .png
    r.pil(), r.grid()                       # PIL images, a captioned grid image
    again = explore.render_recipe(export.load_recipe("walk.mp4"), pipe)   # the same frames again, any kind

The modules say what they hold:

* :mod:`.recipe` — the recipe schema, the :class:`Limits` on every size a user can set, the input
  validators, :class:`Render`, the table of recipe kinds (:data:`KINDS`) and the one
  :func:`render_recipe`;
* :mod:`.images` — sentence vectors, batched synthesis, and saving a render with its recipe;
* :mod:`.grids` (interpolation, blend, seed grids), :mod:`.knobs` (the style knob), :mod:`.walks`
  (walks and their :data:`NOISE_PATHS`);
* :mod:`.directions` (GANSpace noise directions, sentence directions, strips; the PCA, vocabulary
  and cache they share with the map) and :mod:`.map` (the prompt map).

Importing this package registers every recipe kind, those of :mod:`galip_studio.invert` (``vectors``,
raw vectors from an inverted image) too.
"""

from __future__ import annotations

from .recipe import (
    DEFAULT_LIMITS, KINDS, LEGACY_KINDS, NO_LIMITS, RECIPE_FORMAT, ExportSettings, Limits, Progress, RecipeKind, Render,
    check_grid, check_prompts, check_seeds, check_truncation_and_batch, export_settings, is_animation, make_recipe, model_info,
    other_model_warning, recipe_kind, recipe_model, render_recipe, whole_at_least,
)
from .images import check_output, check_size, encode, save_again, save_render, short, synthesize  # noqa: E402 (after recipe)
from .grids import blend_grid, interpolation_grid, seed_grid
from .knobs import style_knob
from .walks import NOISE_PATHS, NoisePath, walk
from .directions import SPACES, Directions, direction_strip, load_vocabulary, noise_directions, pca, sentence_directions, strips
from .map import VIEWS, PromptMap, map_grid, map_point, map_sentence, map_walk, map_weights, parse_points, prompt_map
from .. import invert as _invert  # noqa: F401  registers the ``vectors`` kind (the lead moves invert into this package)
from ..pipeline import to_pil  # noqa: F401  (explore.to_pil, as before)

__all__ = [
    "DEFAULT_LIMITS", "KINDS", "LEGACY_KINDS", "NO_LIMITS", "RECIPE_FORMAT", "ExportSettings", "Limits", "Progress", "RecipeKind",
    "Render", "check_grid", "check_prompts", "check_seeds", "check_truncation_and_batch", "export_settings", "is_animation", "make_recipe",
    "model_info", "other_model_warning", "recipe_kind", "recipe_model", "render_recipe", "whole_at_least",
    "check_output", "check_size", "encode", "save_again", "save_render", "short", "synthesize",
    "blend_grid", "interpolation_grid", "seed_grid", "style_knob", "NOISE_PATHS", "NoisePath", "walk",
    "SPACES", "Directions", "direction_strip", "load_vocabulary", "noise_directions", "pca", "sentence_directions", "strips",
    "VIEWS", "PromptMap", "map_grid", "map_point", "map_sentence", "map_walk", "map_weights", "parse_points", "prompt_map",
]
