"""``galip-studio directions | map``: discovered directions as strips, and the prompt map, on the command line.

They render through :mod:`galip_studio.explore` (directions, the prompt map) and save with
recipes like every explore command (``galip-studio render FILE`` makes a strip, an atlas or a map
walk again). Sizes are bounded by ``explore.DEFAULT_LIMITS``; ``--no-limits`` lifts the bounds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import add_command, add_output_args, add_truncation_arg, progress_bar, run_render


def _cache(args: argparse.Namespace):
    return False if args.no_cache else True


def cmd_directions(args: argparse.Namespace) -> int:
    from ..explore import directions as discover

    def make(pipe, limits):
        if args.space == "noise":
            found = discover.noise_directions(
                pipe, args.at or args.prompt, components=args.components, samples=args.samples, seed=args.direction_seed,
                cache=_cache(args), limits=limits, progress=progress_bar("bridge features"),
            )
        else:
            found = discover.sentence_directions(
                pipe, args.vocabulary, components=args.components, cache=_cache(args), limits=limits, progress=progress_bar("sentence vectors"),
            )
        print(f"{found.space} directions ({found.cached and ('from the cache' if found.cached == 'hit' else 'cached in ' + found.cached) or 'not cached'}):")
        for row in found.describe():
            ends = f"   {' / '.join(row['low_end'])}  <->  {' / '.join(row['high_end'])}" if "low_end" in row else ""
            print(f"  PC{row['component']:<3} sigma {row['sigma']:.3f}  variance {100 * row['variance_share']:5.1f}%{ends}")
        if args.json:
            Path(args.json).write_text(json.dumps({"settings": found.settings, "components": found.describe()}, indent=2) + "\n")
        return discover.strips(
            pipe, found, [k - 1 for k in args.show], prompt=args.prompt, seed=args.seed, steps=args.steps, span=args.span,
            truncation=args.truncation, batch_size=args.batch_size, limits=limits,
        )

    return run_render(args, make, animation=False)


def _path_points(args: argparse.Namespace, m) -> list[tuple[float, float]] | None:
    from ..explore import map as prompt_map

    if args.through:
        return [m.point_of(p) for p in args.through]
    if args.path:
        return prompt_map.parse_points(" ".join(args.path))
    return None


def cmd_map(args: argparse.Namespace) -> int:
    from ..explore import map as prompt_map
    from ..explore import check_output, check_size, save_render

    out = check_output(args.out, animation=False)
    walk_out = check_output(args.walk, animation=True) if args.walk else None

    def make(pipe, limits):
        check_size(args.size, limits)  # save_render checks it again, after the points files are written
        m = prompt_map.prompt_map(
            pipe, args.vocabulary, view=args.view, seed=args.map_seed, cache=_cache(args), limits=limits, progress=progress_bar("sentence vectors")
        )
        path = _path_points(args, m)
        if path is not None and walk_out is None:
            raise ValueError("a path (--through or --path) becomes an animation: give --walk FILE.gif or FILE.mp4")
        if walk_out is not None and path is None:
            raise ValueError("--walk needs a path on the map: --through PROMPT PROMPT ... or --path X,Y X,Y ...")
        # Every render (and so every argument check) comes before the first file is written: a bad
        # --grid or --frames leaves no points files behind.
        walk = None
        if path is not None:
            walk = prompt_map.map_walk(
                pipe, m.prompts, m.coords.tolist(), path, frames=args.frames, loop=args.loop, easing=args.easing, seed=args.seed,
                truncation=args.truncation, neighbors=args.neighbors, fps=args.fps, view=args.view, batch_size=args.batch_size,
                limits=limits, progress=progress_bar("walk frames"),
            )
        atlas = prompt_map.map_grid(
            pipe, m.prompts, m.coords.tolist(), rows=args.grid, bounds=m.bounds, seed=args.seed, truncation=args.truncation,
            neighbors=args.neighbors, view=args.view, batch_size=args.batch_size, limits=limits, progress=progress_bar("atlas"),
        )
        points = out.with_name(out.name[: -len(out.suffix)] + "-points.png")
        m.image(path=path).save(points)
        positions = points.with_suffix(".json")  # not NAME.png.json: that name is for recipes
        positions.write_text(json.dumps(m.to_json(), indent=1) + "\n")
        print(f"wrote {points} (the {args.view} map of {len(m.prompts)} prompts; positions in {positions.name})")
        if walk is not None:
            save_render(walk, walk_out, size=args.size, quality=args.quality, resample=args.resample, limits=limits)
            print(f"wrote {walk_out} ({walk.images.shape[0]} frames; recipe in {walk_out.name}.json)")
        return atlas

    return run_render(args, make, animation=False)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``directions`` and ``map`` to the ``galip-studio`` command."""
    from ..choices import EASINGS

    p = add_command(
        sub, "directions", cmd_directions,
        help="discovered directions (PCA of noise or sentence space) as strips around an image",
        description="Find the main directions of the generator's noise space (GANSpace: PCA of the bridge feature over "
        "random noises at a fixed prompt, regressed back to noise) or of sentence space (PCA of a vocabulary's sentence "
        "vectors), print them, and draw strips: one row per component, -span..+span sigma around PROMPT with --seed. "
        "Directions are cached in $GALIP_STUDIO_CACHE (default ~/.cache/galip-studio; at most "
        "$GALIP_STUDIO_CACHE_MB megabytes, default 256), never in the checkpoint's folder.",
    )
    p.add_argument("prompt", metavar="PROMPT", help="the image the strips move around")
    p.add_argument("--space", choices=["noise", "sentence"], default="noise", help="noise directions at a prompt, or sentence directions (default noise)")
    p.add_argument("--at", metavar="PROMPT", default=None, help="noise directions: the prompt to find them at (default: PROMPT)")
    p.add_argument("--vocabulary", metavar="FILE|DIR", default=None, help="sentence directions: a phrase list or a data folder of caption .txt files (default: the bundled phrases)")
    p.add_argument("--components", type=int, default=8, help="components to compute (default 8)")
    p.add_argument("--show", type=int, nargs="+", default=[1, 2, 3], help="components to draw, from 1 (default 1 2 3)")
    p.add_argument("--samples", type=int, default=512, help="noise directions: random noises (default 512)")
    p.add_argument("--direction-seed", type=int, default=0, help="noise directions: seed of the random noises (default 0)")
    p.add_argument("--seed", type=int, default=0, help="the seed of the image the strips move around (default 0)")
    p.add_argument("--steps", type=int, default=7, help="images per strip (default 7; odd keeps the image itself in the middle)")
    p.add_argument("--span", type=float, default=3.0, help="strips run from -SPAN to +SPAN sigma (default 3)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the components (sigma, variance share, end prompts) as JSON")
    p.add_argument("--no-cache", action="store_true", help="compute the directions afresh and do not save them")
    add_truncation_arg(p)
    add_output_args(p, ".png", "directions.png", grid=True, animation=False)

    p = add_command(
        sub, "map", cmd_map,
        help="a 2-D map of sentence space (PCA or t-SNE of a vocabulary), an atlas of images over it, and walks along paths",
        description="Lay a vocabulary's sentence vectors out in 2-D (PCA or t-SNE). Writes NAME-points.png (the labelled "
        "map; positions in NAME-points.json) and NAME.png: an atlas, the image at each point of a lattice over the "
        "map (a distance-weighted blend of the nearest prompts), with its recipe. With --through or --path and --walk, "
        "a path on the map becomes an animation.",
    )
    p.add_argument("--vocabulary", metavar="FILE|DIR", default=None, help="a phrase list or a data folder of caption .txt files (default: the bundled phrases)")
    p.add_argument("--view", choices=["pca", "tsne"], default="pca", help="the layout (default pca)")
    p.add_argument("--map-seed", type=int, default=0, help="t-SNE's seed (default 0)")
    p.add_argument("--grid", type=int, default=6, help="atlas rows and columns (default 6)")
    p.add_argument("--seed", type=int, default=0, help="the noise seed of every image (default 0)")
    p.add_argument("--neighbors", type=int, default=4, help="prompts blended at a map point (default 4)")
    p.add_argument("--through", nargs="+", metavar="PROMPT", default=None, help="a path through these vocabulary phrases' map points")
    p.add_argument("--path", nargs="+", metavar="X,Y", default=None, help="a path through these map points")
    p.add_argument("--walk", metavar="FILE", default=None, help="write the path's animation here (.gif, .mp4 or .png contact sheet)")
    p.add_argument("--frames", type=int, default=48, help="walk frames (default 48)")
    p.add_argument("--fps", type=float, default=24.0, help="walk frames per second (default 24)")
    p.add_argument("--loop", action="store_true", help="close the path (back to its first point)")
    p.add_argument("--easing", choices=tuple(EASINGS), default="linear", help="time along the path (default linear)")
    p.add_argument("--no-cache", action="store_true", help="compute the map afresh and do not save it")
    add_truncation_arg(p)
    add_output_args(p, ".png (the atlas)", "map.png", grid=True, animation=True)
