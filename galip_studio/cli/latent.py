"""``galip-studio interpolate | blend | walk | render``: the latent-space tools on the command line.

Each command renders through :mod:`galip_studio.explore` and saves with its recipe (embedded and in
a ``NAME.EXT.json`` sidecar); ``render`` makes a saved result again from its file or recipe.
Sizes are bounded by ``explore.DEFAULT_LIMITS``; ``--no-limits`` lifts the bounds.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import add_command, add_output_args, add_truncation_arg, load_pipeline, run_render

# ------------------------------------------------------------------------------------------ commands
def cmd_interpolate(args: argparse.Namespace) -> int:
    from ..explore import interpolation_grid

    return run_render(
        args,
        lambda pipe, limits: interpolation_grid(
            pipe, args.prompt_a, args.prompt_b, steps=args.steps, seeds=args.seeds, interp=args.interp,
            easing=args.easing, truncation=args.truncation, batch_size=args.batch_size, limits=limits,
        ),
        animation=False,
    )


def cmd_blend(args: argparse.Namespace) -> int:
    from ..explore import blend_grid

    return run_render(
        args,
        lambda pipe, limits: blend_grid(
            pipe, args.prompts, rows=args.grid, cols=args.cols, seed=args.seed, truncation=args.truncation,
            batch_size=args.batch_size, limits=limits,
        ),
        animation=False,
    )


def cmd_walk(args: argparse.Namespace) -> int:
    from ..explore import walk

    path = args.path
    if path is None:
        # One prompt and one seed give nothing to move between: loop around a circle, or wander.
        still = len(args.prompts) == 1 and len(args.seeds) == 1
        path = ("circle" if args.loop else "random") if still else "keyframes"

    def make(pipe, limits):
        return walk(
            pipe, args.prompts, frames=args.frames, seeds=args.seeds, path=path, loop=args.loop,
            pingpong=args.pingpong, easing=args.easing, sentence_interp=args.sentence_interp,
            noise_interp=args.noise_interp, step_size=args.step_size, truncation=args.truncation, fps=args.fps,
            retime=args.retime, retime_density=args.retime_density, batch_size=args.batch_size, limits=limits,
        )

    return run_render(args, make, animation=True)


def _pipeline_for_recipe(args: argparse.Namespace, recipe: dict[str, Any]):
    """The model named on the command line, else the one the recipe names."""
    from ..explore import recipe_model

    if not (args.checkpoint or args.official or args.preset):
        model = recipe_model(recipe)
        source, ident = model.get("source"), model.get("id")
        if not (ident and source in ("checkpoint", "official", "preset")):
            raise ValueError("the recipe does not say which model made it: choose one with --checkpoint, --official or --preset")
        setattr(args, source, ident)
        args.preset_seed = int(model.get("seed", 0))
    return load_pipeline(args)


def cmd_render(args: argparse.Namespace) -> int:
    from ..export import load_recipe
    from ..explore import export_settings, is_animation, other_model_warning, render_recipe, save_again

    recipe = load_recipe(args.source)
    settings = export_settings(recipe)
    pipe = _pipeline_for_recipe(args, recipe)
    warning = other_model_warning(recipe, pipe)
    if warning:
        print(f"galip-studio: warning: {warning}", file=sys.stderr)
    batch = args.batch_size
    return run_render(
        args,
        lambda pipe, limits: render_recipe(recipe, pipe, limits=limits, batch_size=batch),
        animation=is_animation(recipe),
        pipe=pipe,
        save=lambda render, out, limits: save_again(
            render, settings, out, size=args.size, captions=False if args.no_captions else None, quality=args.quality,
            resample=args.resample, limits=limits,
        ),
    )


# ------------------------------------------------------------------------------------------ parsers
def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``interpolate``, ``blend``, ``walk`` and ``render`` to the ``galip-studio`` command."""
    from ..choices import EASINGS, INTERPOLATIONS, NOISE_PATHS

    p = add_command(
        sub, "interpolate", cmd_interpolate,
        help="a prompt A -> B interpolation grid (rows = steps, columns = seeds)",
        description="Interpolate between the sentence vectors of two prompts. Rows are interpolation steps "
        "(first row A, last row B), columns are seeds.",
    )
    p.add_argument("prompt_a", metavar="A")
    p.add_argument("prompt_b", metavar="B")
    p.add_argument("--steps", type=int, default=8, help="interpolation steps, i.e. rows (default 8)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3], help="one column per seed (default 0 1 2 3)")
    p.add_argument("--interp", choices=INTERPOLATIONS, default="lerp", help="interpolation of the sentence vectors (default lerp)")
    p.add_argument("--easing", choices=tuple(EASINGS), default="linear", help="spacing of the steps (default linear)")
    add_truncation_arg(p)
    add_output_args(p, ".png", "interpolation.png", grid=True, animation=False)

    p = add_command(
        sub, "blend", cmd_blend,
        help="the four-corner blend grid of four prompts (the paper's Figure 7)",
        description="Blend four prompts bilinearly over a grid: A top-left, B top-right, C bottom-left, "
        "D bottom-right; one seed for the whole grid.",
    )
    p.add_argument("prompts", nargs=4, metavar="PROMPT", help="A B C D")
    p.add_argument("--grid", type=int, default=5, help="rows of the grid (default 5)")
    p.add_argument("--cols", type=int, default=None, help="columns (default: as many as rows)")
    p.add_argument("--seed", type=int, default=0, help="the noise seed (default 0)")
    add_truncation_arg(p)
    add_output_args(p, ".png", "blend.png", grid=True, animation=False)

    p = add_command(
        sub, "walk", cmd_walk,
        help="a walk through the latent space, as MP4, GIF or a PNG contact sheet",
        description="Walk through the prompts' sentence vectors and the seeds' noise. Paths: keyframes "
        "(seed to seed, slerp), spline (smooth through the seeds), circle (a great-circle loop from the first "
        "seed), random (a random walk from the first seed).",
    )
    p.add_argument("prompts", nargs="+", metavar="PROMPT", help="one or more prompts (keyframes of the sentence path)")
    p.add_argument("--frames", type=int, default=60, help="frames to render (default 60)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="noise keyframes (default 0)")
    p.add_argument(
        "--path", choices=NOISE_PATHS, default=None,
        help="noise path (default: keyframes; with one prompt and one seed: circle with --loop, else random)",
    )
    p.add_argument("--loop", action="store_true", help="close the path so the animation loops seamlessly")
    p.add_argument("--pingpong", action="store_true", help="play forward then back")
    p.add_argument("--easing", choices=tuple(EASINGS), default="linear", help="time within each segment (default linear)")
    p.add_argument("--sentence-interp", choices=INTERPOLATIONS, default="lerp", help="between prompts (default lerp)")
    p.add_argument("--noise-interp", choices=INTERPOLATIONS, default="slerp", help="between seeds on keyframe paths (default slerp)")
    p.add_argument("--step-size", type=float, default=0.2, help="random walk: share of fresh noise per frame, (0, 1] (default 0.2)")
    add_truncation_arg(p)
    p.add_argument("--fps", type=float, default=24.0, help="frames per second (default 24; GIF at most 50)")
    p.add_argument("--retime", choices=["clip", "pixel"], default=None, help="space frames evenly by CLIP or pixel distance")
    p.add_argument("--retime-density", type=int, default=4, help="dense samples per frame when re-timing (default 4)")
    add_output_args(p, ".mp4, .gif or .png (a contact sheet)", "walk.mp4", grid=False, animation=True)

    p = add_command(
        sub, "render", cmd_render,
        help="render a saved result again from its PNG/GIF/MP4 or recipe JSON",
        description="Read the recipe of a file exported by GALIP Studio (PNG text chunk, GIF comment, MP4 tag or "
        "NAME.EXT.json sidecar, or a recipe .json) and make the same images again. The model is the one the "
        "recipe names unless --checkpoint/--official/--preset is given (with a warning when that is another model: "
        "the images will differ).",
    )
    p.add_argument("source", metavar="FILE", help="recipe.json, or a .png/.gif/.mp4 exported by GALIP Studio")
    add_output_args(p, ".png for grids; .png, .gif or .mp4 for walks", None, grid=True, animation=True, recorded=True)
