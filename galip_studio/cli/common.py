"""The plumbing that the ``galip-studio`` command modules share: model options and loading, output
options, rendering with a recipe, progress bars, and the errors reported as one line.

Every command module imports from here and nothing else of the command line, so no module imports
the root dispatcher (:mod:`.root`). Heavy imports happen inside the functions so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable


class CLIError(Exception):
    """An error to report as one line, with exit status 1."""


# ------------------------------------------------------------------------------------------ helpers
def add_model_args(parser: argparse.ArgumentParser) -> None:
    """Options that choose which model to load (shared by every command that generates)."""
    g = parser.add_argument_group("model")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", "-c", metavar="DIR", help="a GALIP Studio checkpoint directory (default: the bundled model)")
    src.add_argument("--official", metavar="PTH", help="an official GALIP checkpoint (pre_coco.pth / pre_cc12m.pth)")
    src.add_argument("--preset", metavar="NAME", help="a randomly initialised model of a preset (for smoke tests and benchmarks)")
    g.add_argument(
        "--clip-weights",
        metavar="PATH|TAG",
        help="CLIP weights: a local file (e.g. OpenAI's ViT-B-32.pt) or an open_clip tag such as 'openai' (needs a network)",
    )
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available, else cpu)")
    g.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None, help="compute dtype (default float32)")


def load_pipeline(args: argparse.Namespace):
    """Build a :class:`GALIPPipeline` from :func:`add_model_args` options."""
    import torch

    from ..pipeline import GALIPPipeline

    dtype = getattr(torch, args.dtype) if getattr(args, "dtype", None) else None
    if args.official:
        return GALIPPipeline.from_official(args.official, clip=args.clip_weights or "openai", device=args.device, dtype=dtype)
    if args.preset:
        return GALIPPipeline.from_preset(args.preset, seed=getattr(args, "preset_seed", 0), device=args.device, dtype=dtype)
    return GALIPPipeline.from_pretrained(args.checkpoint, clip_weights=args.clip_weights, device=args.device, dtype=dtype)


def add_command(sub: argparse._SubParsersAction, name: str, func: Callable[[argparse.Namespace], int], *, help: str,
                description: str) -> argparse.ArgumentParser:
    """Add the sub-command ``name``, run by ``func(args)``; returns its parser for the options."""
    p = sub.add_parser(name, help=help, description=description)
    p.set_defaults(func=func)
    return p


def add_truncation_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--truncation", type=float, default=1.0, help="noise truncation psi in [0, 1] (default 1: none)")


# export.RESAMPLERS' names, here so that parsing the command line imports no image library
# (tests/test_explore.py keeps the two equal).
RESAMPLE_NAMES = ("lanczos", "nearest")


def add_output_args(
    p: argparse.ArgumentParser, kinds: str, default_out: str | None, *, grid: bool, animation: bool, recorded: bool = False
) -> None:
    """Output, batching, limits and model options of the commands that save a render with its
    recipe (:func:`run_render`). ``recorded``: defaults come from the recipe (``render``)."""
    g = p.add_argument_group("output")
    if default_out is None:
        g.add_argument("--out", "-o", required=True, help=f"output file: {kinds}")
    else:
        g.add_argument("--out", "-o", default=default_out, help=f"output file: {kinds} (default {default_out}); the recipe goes into NAME.EXT.json too")
    default = "as exported" if recorded else "the model's size"
    g.add_argument("--size", type=int, default=None, metavar="PX", help=f"scale every image to PX x PX pixels (default: {default})")
    default = "as exported" if recorded else "lanczos"
    g.add_argument(
        "--resample", choices=RESAMPLE_NAMES, default=None if recorded else "lanczos",
        help=f"how --size scales: lanczos (smooth) or nearest (crisp pixels, as the app's Small images setting: enlarged a whole "
        f"number of times, so PX becomes the nearest whole multiple of the model's size) (default {default}); kept in the recipe",
    )
    if animation:
        default = "as exported, else 8" if recorded else "8"
        g.add_argument("--quality", type=float, default=None if recorded else 8.0, help=f"MP4 quality, 1 (small) to 10 (best) (default {default})")
    if grid:
        g.add_argument("--no-captions", action="store_true", help="leave out the row/column captions")
    default = "as recorded; another size can change the last bits" if recorded else "8"
    g.add_argument("--batch-size", type=int, default=None if recorded else 8, help=f"images per forward pass (default {default})")
    g.add_argument("--no-limits", action="store_true", help="lift the bounds on steps, grid size, frames, fps and size")
    add_model_args(p)


def limits_of(args: argparse.Namespace):
    """The bounds of one call: ``explore.DEFAULT_LIMITS``, or none with ``--no-limits``."""
    from ..explore import DEFAULT_LIMITS, NO_LIMITS

    return NO_LIMITS if args.no_limits else DEFAULT_LIMITS


def run_render(args: argparse.Namespace, make: Callable[[Any, Any], Any], animation: bool, pipe=None, save=None) -> int:
    """Check the output name, load the model, render with ``make(pipe, limits)``, save (with
    ``save(render, out, limits)`` when given, else with :func:`add_output_args`' options), report."""
    from ..explore import check_output, save_render

    out = check_output(args.out, animation)
    limits = limits_of(args)
    pipe = pipe or load_pipeline(args)
    t0 = time.perf_counter()
    render = make(pipe, limits)
    elapsed = time.perf_counter() - t0
    if save is not None:
        save(render, out, limits)
    elif render.is_animation:
        save_render(render, out, size=args.size, quality=getattr(args, "quality", 8.0), resample=args.resample, limits=limits)
    else:
        save_render(render, out, size=args.size, captions=not getattr(args, "no_captions", False), resample=args.resample, limits=limits)
    n = render.images.shape[0]
    print(f"wrote {out} ({n} images, {elapsed / max(1, n) * 1000:.0f} ms/image; recipe in {out.name}.json)")
    return 0


def progress_bar(label: str) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` that draws a tqdm bar on stderr."""
    from tqdm import tqdm

    bar = None

    def report(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=label, unit="it", file=sys.stderr, leave=False, disable=None)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
            bar = None

    return report


def known_errors() -> tuple[type[BaseException], ...]:
    """The errors a user can cause, which the commands report as one line."""
    from ..checkpoint import CheckpointError
    from ..clip_backbone import ClipError

    return (CLIError, CheckpointError, ClipError, ValueError, FileNotFoundError, PermissionError, OSError)
