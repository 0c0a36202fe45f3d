"""``galip-studio invert IMAGE --out DIR``: bring your own image into the latent space.

Runs :func:`galip_studio.invert.variations` and :func:`galip_studio.invert.invert` and writes, in DIR
only (files of these names are replaced):

* ``target.png``: the image as the model sees it (converted, centred on white, at the model's size);
* ``reconstruction.png``: the inversion, with its ``vectors`` recipe (embedded and in the sidecar);
* ``vectors.safetensors``: the found ``sentence`` ``[D]`` and ``noise`` ``[Z]`` (and the variations'
  ``image_sentence``), float32;
* ``variations.png``: the image's sentence vector with ``--variations`` seeds, with its recipe;
* ``recipe.json``: the reconstruction's recipe (``galip-studio render DIR/recipe.json`` makes it again).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import CLIError, add_command, add_model_args, limits_of, load_pipeline, progress_bar

OUTPUT_NAMES = ("target.png", "reconstruction.png", "vectors.safetensors", "variations.png", "recipe.json")


def cmd_invert(args: argparse.Namespace) -> int:
    from .. import invert
    from ..explore import check_seeds, save_render, to_pil
    from ..export import save_png, write_sidecar
    from ..files import save_safetensors

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {args.out} is an existing file, not a folder: choose a folder name")
    image = invert.load_image(args.image)  # a bad file fails before the slow model load
    invert.check_invert_settings(args.steps, args.starts, args.max_seconds, 0.05, args.candidates, args.phrases)
    seeds = check_seeds(args.variations)
    limits = limits_of(args)
    pipe = load_pipeline(args)
    gap = invert.image_gap(pipe)
    var = invert.variations(pipe, image, seeds=seeds, gap=gap, limits=limits)
    print("nearest phrases: " + ", ".join(f"{p} ({c:.2f})" for p, c in var.nearest))
    found = invert.invert(
        pipe, image, steps=args.steps, seed=args.seed, starts=args.starts, candidates=args.candidates, phrases=args.phrases,
        max_seconds=args.max_seconds, gap=gap, progress=progress_bar("inverting"),
    )
    out.mkdir(parents=True, exist_ok=True)
    to_pil(invert.image_tensor(image, pipe.image_size))[0].save(out / "target.png")
    save_png(found.pil(), out / "reconstruction.png", found.recipe, sidecar=True)
    save_safetensors(
        {"sentence": found.sentence, "noise": found.noise, "image_sentence": var.sentence},
        out / "vectors.safetensors", metadata={"galip-invert": json.dumps({"model": found.recipe["model"], "steps": found.steps, "seed": args.seed})},
    )
    save_render(var.render, out / "variations.png", limits=limits)
    write_sidecar(out / "recipe", found.recipe)  # the sidecar of "recipe" is recipe.json
    print(
        f"wrote {out}/ (reconstruction, vectors, variations, recipe): {found.steps} steps in {found.seconds:.1f} s"
        f"{' (stopped at the time limit)' if found.stopped else ''}; started from {found.start_from!r} with seed {found.start_seed}; "
        f"CLIP distance {found.distance:.4f}, PSNR {found.psnr:.2f} dB",
        file=sys.stdout,
    )
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``invert`` to the ``galip-studio`` command."""
    p = add_command(
        sub, "invert", cmd_invert,
        help="find the noise and sentence vector of your own image (GALIP inversion) and its variations",
        description="Encode IMAGE with the model's CLIP image tower (its sentence vector: variations and the nearest "
        "vocabulary phrases), then optimise a noise and a sentence vector whose image matches it. Writes target.png, "
        "reconstruction.png, vectors.safetensors, variations.png and recipe.json in DIR (replacing files of those names). "
        "Animated images give their first frame; transparency is put on white.",
    )
    p.add_argument("image", metavar="IMAGE", help="a PNG, JPEG, WebP, GIF or BMP file")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    p.add_argument("--steps", type=int, default=100, help="optimisation steps (default 100, at most 2000)")
    p.add_argument("--seed", type=int, default=0, help="first seed of the starting noises (default 0)")
    p.add_argument("--starts", type=int, default=4, help="starting points optimised side by side, the best kept (default 4)")
    p.add_argument("--candidates", type=int, default=16, help="seeds scored at each starting sentence vector; the best --starts (vector, seed) pairs are optimised (default 16, at most 256)")
    p.add_argument("--phrases", type=int, default=5, help="nearest vocabulary phrases whose sentence vectors are tried as starts beside the image's own (default 5, at most 20; 0: only the image's)")
    p.add_argument("--max-seconds", type=float, default=600.0, help="stop after this many seconds with the best so far (default 600)")
    p.add_argument("--variations", type=int, nargs="+", default=[0, 1, 2, 3], metavar="SEED", help="seeds of the variations strip (default 0 1 2 3)")
    p.add_argument("--no-limits", action="store_true", help="lift the bounds on the variations strip")
    add_model_args(p)
