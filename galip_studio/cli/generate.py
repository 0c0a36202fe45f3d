"""``galip-studio generate | info | init | convert``: images from prompts, and the model's files."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from .common import CLIError, add_command, add_model_args, add_truncation_arg, limits_of, load_pipeline


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


# ------------------------------------------------------------------------------------------ commands
GRID_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def _generate_target(out: str) -> tuple[Path, bool]:
    """``(path, is_grid)`` for ``generate --out``: an image file for one grid, else a folder."""
    target = Path(out)
    suffix = target.suffix.lower()
    if out.endswith(("/", os.sep)) or target.is_dir():
        return target, False
    if suffix in GRID_SUFFIXES:
        return target, True
    if suffix:
        raise CLIError(
            f"--out {out}: {suffix} is not an image type GALIP Studio writes; use a {', '.join(GRID_SUFFIXES)} file for one grid "
            f"or a folder name (no suffix, or ending in /) for separate PNGs"
        )
    if target.exists():
        raise CLIError(f"--out {out} is an existing file, not a folder; choose a folder name or a .png file")
    return target, False


def _check_generate_limits(args: argparse.Namespace, limits) -> None:
    """``generate`` is bounded as the app and the other commands are (``--no-limits`` lifts it);
    checked before the (slow) model load."""
    from ..pipeline import check_prompt

    for number, prompt in enumerate(args.prompts, 1):
        check_prompt(prompt, number)
    if not args.seeds and args.num_images < 1:
        raise CLIError("num_images must be at least 1")
    per_prompt = len(args.seeds) if args.seeds else args.num_images
    limits.check("images per prompt (-n or --seeds)", per_prompt, "max_seeds")
    limits.check("the number of prompts", len(args.prompts), "max_prompts")
    limits.check("images in all", per_prompt * len(args.prompts), "max_images")
    limits.check("--batch-size", args.batch_size, "max_batch_size")


def cmd_generate(args: argparse.Namespace) -> int:
    """Prompts x seeds through :func:`explore.seed_grid`, so the files carry explore's recipe (kind
    ``seeds``) and ``galip-studio render`` or the app's Recipe tab makes them again."""
    from ..explore import seed_grid
    from ..export import make_grid, save_png, write_sidecar

    target, is_grid = _generate_target(args.out)
    limits = limits_of(args)
    _check_generate_limits(args, limits)
    pipe = load_pipeline(args)
    seeds = list(args.seeds) if args.seeds else [args.seed + k for k in range(args.num_images)]
    t0 = time.perf_counter()
    render = seed_grid(pipe, args.prompts, seeds, truncation=args.truncation, batch_size=args.batch_size, limits=limits)
    images = render.pil()
    elapsed = time.perf_counter() - t0
    recipe = render.recipe
    if is_grid:
        grid = make_grid(images, nrow=args.nrow or len(seeds))
        if target.suffix.lower() == ".png":
            save_png(grid, target, recipe)
        else:  # JPEG/WebP hold no text chunk: the recipe goes into the NAME.EXT.json sidecar
            target.parent.mkdir(parents=True, exist_ok=True)
            grid.save(target, quality=95)
            write_sidecar(target, recipe)
        written = str(target)
    else:
        target.mkdir(parents=True, exist_ok=True)
        for i, im in enumerate(images):
            prompt, seed = args.prompts[i // len(seeds)], seeds[i % len(seeds)]
            save_png(im, target / f"{i:03d}_seed{seed}.png", dict(recipe, seeds=[seed], prompts=[prompt]))
        written = f"{len(images)} images in {target}/"
    per = elapsed / max(1, len(images))
    print(f"wrote {written} ({len(images)} images, {per * 1000:.0f} ms/image, seeds {seeds[0]}..{seeds[-1]})")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    target = Path(args.checkpoint)
    if target.suffix in (".pth", ".pt") and target.is_file():
        args.official, args.checkpoint = str(target), None
    else:
        args.official = None
    args.preset = None
    pipe = load_pipeline(args)
    info = pipe.describe()
    if args.speed:
        info["speed"] = [{"setting": k, "value": v, "why": why} for k, v, why in pipe.speed_report()]
    if args.json:
        _print_json(info)
        return 0
    clip = info["clip"]
    print(f"GALIP model: {info['path']}")
    print(f"  output        {info['image_size']}x{info['image_size']} px, noise {info['z_dim']}-d")
    print(
        f"  CLIP          {clip['name']}: ViT width {clip['width']}, {clip['depth']} blocks, grid {clip['grid'][0]}x{clip['grid'][1]}, "
        f"{clip['image_size'][0]} px, sentence {clip['sentence_dim']}-d; weights: {clip['weights']}"
    )
    print(f"                taps after blocks {clip['tap_layers']}, prompts in blocks {clip['prompt_layers']}, {clip['preprocess']} preprocessing")
    print("  parameters")
    for name, n in info["parameters"].items():
        print(f"    {name:<18}{n:>14,}")
    training = info["training"]
    if training:
        print("  training")
        for k, v in training.items():
            text = json.dumps(v, default=str) if isinstance(v, (dict, list)) else str(v)
            print(f"    {k:<18}{text[:100]}")
    if args.speed:
        print("  speed (inference path on this machine)")
        for row in info["speed"]:
            print(f"    {row['setting']:<18}{row['value']:<12}{row['why']}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from ..checkpoint import check_replaceable, save_checkpoint
    from ..pipeline import GALIPPipeline

    out = Path(args.out)
    check_replaceable(out)  # a folder of other things is never taken over, --overwrite or not
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise CLIError(
            f"{args.out} already holds a checkpoint; pass --overwrite to replace it with random weights "
            f"(the folder's other files are kept), or choose a new folder"
        )
    pipe = GALIPPipeline.from_preset(args.preset, seed=args.seed, device="cpu")
    save_checkpoint(pipe.model, args.out, training={"preset": args.preset, "random_init_seed": args.seed, "steps": 0})
    print(f"wrote a randomly initialised '{args.preset}' checkpoint to {args.out} (untrained: images are noise)")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from ..checkpoint import check_replaceable, is_own_file, save_checkpoint
    from ..official import load_model

    source = Path(args.source)
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise CLIError(f"{args.out} exists; pass --overwrite to replace its checkpoint (other files in it are kept)")
    check_replaceable(out)  # before the (slow) load: never write a checkpoint into a folder of other things
    trained = None
    if args.generator == "trained":  # read (and refused) before the slow load
        from ..checkpoint import trained_generator, trained_metrics

        if not source.is_dir():
            raise CLIError(f"--generator trained needs a run's checkpoint directory (checkpoints/step_NNNNNN), not {source}")
        trained = trained_generator(source)
    model, info = load_model(source, args.clip_weights)
    training = dict(info.get("training", {}))
    training["converted_from"] = str(source)  # stored relative to the working directory, or by name
    if trained is not None:
        try:
            model.generator.load_state_dict(trained)
        except RuntimeError as e:
            raise CLIError(f"{source}: the trained generator in its training state does not fit its model: {e}") from None
        training["generator"] = "trained"
        training["metrics"] = trained_metrics(training.get("metrics") or {})
    if args.dtype != "float32":
        training["converted_dtype"] = args.dtype
    include_d = info["has_discriminator"] and not args.no_discriminator
    # save_checkpoint replaces only the checkpoint's own files; the folder's others stay where they are.
    save_checkpoint(model, out, training=training, dtype=args.dtype, include_discriminator=include_d)
    entries = sorted(out.iterdir())
    files = [p for p in entries if p.is_file() and is_own_file(p.name)]
    kept = [p.name for p in entries if p not in files]
    size = sum(p.stat().st_size for p in files) / 2**20
    which = "the trained generator, " if args.generator == "trained" else ""
    print(f"wrote {args.out} ({which}{args.dtype} weights, {'with' if include_d else 'without'} discriminator, "
          f"{size:.1f} MB: {', '.join(p.name for p in files)})")
    if kept:
        print(f"kept the folder's other files: {', '.join(kept)}")
    return 0


# ------------------------------------------------------------------------------------------ parsers
def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``generate``, ``info``, ``init`` and ``convert`` to the ``galip-studio`` command."""
    from ..config import preset_names

    p = add_command(sub, "generate", cmd_generate, help="generate images from prompts", description="Generate images from one or more prompts.")
    p.add_argument("prompts", nargs="+", metavar="PROMPT", help="text prompt(s); each gets -n images")
    p.add_argument("-n", "--num-images", type=int, default=8, help="images per prompt (default 8)")
    p.add_argument("--seed", type=int, default=0, help="first seed; image k uses seed+k (default 0)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="explicit seeds (overrides --seed and -n)")
    add_truncation_arg(p)
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    p.add_argument("--out", "-o", default="galip.png", help="a .png (or .jpg/.webp) file for one grid, or a folder for separate images")
    p.add_argument("--nrow", type=int, default=None, help="images per grid row (default: -n)")
    p.add_argument("--no-limits", action="store_true", help="lift the bounds on images, prompts and batch size (the app's limits)")
    add_model_args(p)

    p = add_command(
        sub, "info", cmd_info, help="show a model's architecture, parameter counts and training metadata", description="Describe a checkpoint."
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint directory or an official .pth")
    p.add_argument("--clip-weights", metavar="PATH|TAG", help="CLIP weights for checkpoints that reference pretrained CLIP weights")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"])
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--speed", action="store_true", help="also list how images are computed here: fast-path choices, dtype, threads")

    p = add_command(
        sub, "init", cmd_init,
        help="write a randomly initialised checkpoint of a preset",
        description="Write an untrained checkpoint (random weights, CLIP included) of a preset: a starting point for "
        "training from scratch, and a model for smoke tests.",
    )
    p.add_argument("out", metavar="DIR")
    p.add_argument("--preset", default="tiny", choices=preset_names())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--overwrite", action="store_true", help="replace the checkpoint in DIR if there is one (its other files are kept)"
    )

    p = add_command(
        sub, "convert", cmd_convert,
        help="re-save a checkpoint (e.g. in fp16 without the discriminator, for release) or import an official .pth",
        description="Load a GALIP Studio checkpoint directory or an official GALIP .pth and write it as a checkpoint "
        "directory: optionally with fp16/bf16 weights (half the size; loading gives fp32 modules) and without the "
        "discriminator (generation only; keep it to fine-tune); of a run checkpoint, the trained generator instead of its "
        "moving average (--generator trained). Training metadata is kept.",
    )
    p.add_argument("source", metavar="SOURCE", help="a checkpoint directory or an official .pth")
    p.add_argument("out", metavar="OUT_DIR")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float16", help="stored weight dtype (default float16)")
    p.add_argument("--no-discriminator", action="store_true", help="leave out the discriminator (generation only)")
    p.add_argument(
        "--generator", choices=["average", "trained"], default="average",
        help="of a run checkpoint with a moving average of G (--ema): its average (default; what it loads as) or the "
        "trained weights from its training_state.pt (better after a short fine-tune: the run's evaluation lines show both)",
    )
    p.add_argument("--clip-weights", metavar="PATH|TAG", help="CLIP weights for sources that reference pretrained CLIP weights")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the checkpoint in OUT_DIR if there is one (its other files, e.g. MODEL_CARD.md, are kept)"
    )
