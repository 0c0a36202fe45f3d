"""Training the mini-CLIP's image tower (``galip-studio train-clip``).

The recipe (docs/training.md, "A small CLIP for offline models"): caption embeddings precomputed once
with the frozen text tower, the multi-positive InfoNCE of :mod:`.loss` with a learnable logit scale,
AdamW with warm-up and cosine decay, the batched augmentation of :mod:`.augmentation`, mixed precision
chosen exactly as ``galip-studio train`` chooses it (:func:`galip_studio.device.resolve_amp`:
``--amp auto`` is fp16 with a loss scaler on CUDA, bf16 on CPUs with native bf16, else fp32), a budget
in samples (not wall-clock) and periodic evaluation (:mod:`.evaluate`). The training log is written by
the :class:`~galip_studio.runlog.RunLogger` the GAN trainer writes its log with too.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager

import torch

from ..checkpoint import atomic_directory, portable_path
from ..clip_backbone import ClipBackbone
from ..config import MINICLIP_VISION_CFG
from ..device import AMP_CHOICES, autocast_factory, hardware_info, resolve_amp, resolve_device
from ..runlog import RunLogger
from .augmentation import AugmentConfig, augment
from .data import ImageCaptionSet, load_caption_set
from .evaluate import MiniClipEvaluator, format_metrics
from .loss import multi_positive_infonce, positive_mask
from .model import build_miniclip, encode_captions, text_tower_provenance

LOG_FILE = "train_log.jsonl"


@dataclass
class MiniClipTrainConfig:
    """Hyper-parameters of :func:`train_miniclip` (defaults: the measured recipe)."""

    samples: int = 300_000  # budget in training samples (steps = ceil(samples / batch_size))
    batch_size: int = 256
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    weight_decay: float = 0.1  # on weight matrices only
    warmup_steps: int = 100
    max_logit_scale: float = 100.0
    eval_every: int = 30_000  # samples between evaluations (0: only at the end)
    log_every: int = 10  # steps between training-log rows
    seed: int = 0
    amp: str = "auto"  # auto | none | bf16 | fp16, as galip-studio train's --amp (device.py resolve_amp)
    device: str = "auto"  # auto: cuda if available, else cpu (device.py resolve_device)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    vision_cfg: dict[str, Any] | None = None  # None: MINICLIP_VISION_CFG
    init: str | None = None  # a CLIP directory to fine-tune instead of a random image tower

    def __post_init__(self) -> None:
        if self.samples < 1 or self.batch_size < 2:
            raise ValueError("samples must be at least 1 and batch_size at least 2")
        if self.lr <= 0 or self.warmup_steps < 0 or self.eval_every < 0 or self.log_every < 1:
            raise ValueError("lr must be positive; warmup_steps and eval_every non-negative; log_every at least 1")
        if self.amp not in AMP_CHOICES:
            raise ValueError(f"--amp must be one of {', '.join(AMP_CHOICES)}, got {self.amp!r}")


@dataclass
class MiniClipResult:
    """What :func:`train_miniclip` returns: the trained (frozen) model, final metrics and the loss history."""

    backbone: ClipBackbone
    metrics: dict[str, Any]
    losses: list[float]


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * base_lr * (1 + math.cos(math.pi * min(1.0, progress)))


class _IndexStream:
    """Endless shuffled passes over ``n`` items (a new permutation each epoch)."""

    def __init__(self, n: int, generator: torch.Generator):
        self.n, self.generator = n, generator
        self.buffer = torch.empty(0, dtype=torch.long)

    def take(self, k: int) -> torch.Tensor:
        while self.buffer.numel() < k:
            self.buffer = torch.cat([self.buffer, torch.randperm(self.n, generator=self.generator)])
        out, self.buffer = self.buffer[:k], self.buffer[k:]
        return out


def contrastive_step(
    backbone: ClipBackbone,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    text_emb: torch.Tensor,
    positives: torch.Tensor,
    autocast: Callable[[], ContextManager] = contextlib.nullcontext,
    max_logit_scale: float = 100.0,
    scaler: torch.amp.GradScaler | None = None,
) -> float:
    """One optimiser step of the image tower (and logit scale) on a batch; returns the loss.

    ``images`` are augmented images in [-1, 1], ``text_emb`` the (fixed) embeddings of the captions
    drawn for them, ``positives`` the :func:`~.loss.positive_mask`. The forward pass runs under
    ``autocast`` (:func:`galip_studio.device.autocast_factory`); the loss is fp32. With fp16,
    ``scaler`` scales the loss and skips steps whose gradients overflow, as in the GAN trainer.
    """
    with autocast():
        image_emb = backbone.visual(backbone.preprocess(images))
    loss = multi_positive_infonce(image_emb, text_emb, positives, backbone.model.logit_scale)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    with torch.no_grad():
        backbone.model.logit_scale.clamp_(0, math.log(max_logit_scale))
    value = loss.detach().item()
    if not math.isfinite(value):
        raise FloatingPointError(f"the contrastive loss became {value}; try a lower learning rate (--lr)")
    return value


def _param_groups(backbone: ClipBackbone, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in backbone.visual.named_parameters():
        is_matrix = p.ndim >= 2 and "ln_" not in name and not name.endswith("bias")
        (decay if is_matrix else no_decay).append(p)
    no_decay.append(backbone.model.logit_scale)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _json_ready(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _loadavg() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def _data_summary(
    train_dir: str | os.PathLike, train_set: ImageCaptionSet, eval_dir: str | os.PathLike | None, eval_set: ImageCaptionSet | None
) -> dict[str, Any]:
    return {
        "train_dir": portable_path(str(train_dir)),  # no machine paths in a CLIP folder others may get
        "eval_dir": portable_path(str(eval_dir)) if eval_dir is not None else None,
        "train_images": len(train_set),
        "train_identities": len(train_set.identities),
        "train_captions": len(train_set.captions),
        "flippable": train_set.flip_ok.float().mean().item(),
        "eval_images": len(eval_set) if eval_set is not None else 0,
        "eval_identities": len(eval_set.identities) if eval_set is not None else 0,
    }


def train_miniclip(
    train_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    eval_dir: str | os.PathLike | None = None,
    config: MiniClipTrainConfig | None = None,
    *,
    backbone: ClipBackbone | None = None,
    overwrite: bool = False,
    echo: Callable[[str], None] | None = print,
) -> MiniClipResult:
    """Train the mini-CLIP image tower contrastively against the frozen text tower.

    Writes ``out_dir/train_log.jsonl`` while training (a :class:`~galip_studio.runlog.RunLogger`
    file: ``kind`` ``train`` rows every ``log_every`` steps, ``eval`` rows every ``eval_every`` samples
    and at the end, each with a ``time``) and, when done, the CLIP directory
    (:meth:`ClipBackbone.save_pretrained`: ``clip_config.json`` + ``clip.safetensors`` without the
    MiniLM weights) plus ``metrics.json``; the final directory appears atomically.

    Args:
        train_dir: image + same-name ``.txt`` folder; every caption line is a caption of its image.
        eval_dir: held-out folder (identities not in ``train_dir``) for the retrieval/style tests.
        backbone: a CLIP to train (default: the CLIP directory ``config.init`` when set, else
            :func:`build_miniclip` with ``config.seed``/``vision_cfg``).
        overwrite: replace an existing model directory at ``out_dir``.
        echo: where progress lines go (None: silent).
    """
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    load_start = _loadavg()
    config = config or MiniClipTrainConfig()
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} already exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    say = echo or (lambda _msg: None)
    device = resolve_device(config.device)
    amp = resolve_amp(config.amp, device)
    autocast = autocast_factory(amp, device)
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None

    train_set = load_caption_set(train_dir, (config.vision_cfg or MINICLIP_VISION_CFG)["image_size"])
    if backbone is None and config.init is not None:
        backbone = ClipBackbone.from_pretrained(config.init)
        say(f"init: fine-tuning the image tower of {config.init}")
    if backbone is None:
        backbone = build_miniclip(config.seed, config.vision_cfg)
    backbone.to(device)
    size = backbone.image_size[0]
    if train_set.images.shape[-1] != size:
        train_set = load_caption_set(train_dir, size)
    eval_set = load_caption_set(eval_dir, size) if eval_dir is not None else None
    if eval_set is not None:
        overlap = set(train_set.identities) & set(eval_set.identities)
        if overlap:
            say(f"warning: {len(overlap)} identities are in both the training and the held-out folder (e.g. {sorted(overlap)[0]})")
    say(
        f"data: {len(train_set)} training images, {len(train_set.identities)} identities, {len(train_set.captions)} captions, "
        f"{train_set.flip_ok.float().mean().item():.0%} flippable"
        + (f"; held out: {len(eval_set)} images, {len(eval_set.identities)} identities" if eval_set is not None else "")
    )

    t0 = time.perf_counter()
    caption_emb = encode_captions(backbone, train_set.captions).to(device)
    evaluator = MiniClipEvaluator(backbone, eval_set, train_set, seed=config.seed)
    text_s = time.perf_counter() - t0
    say(f"text: {len(train_set.captions)} training captions and the evaluation texts encoded in {text_s:.1f} s")
    say(f"precision: {'fp32' if amp == 'none' else amp + ' autocast'}" + (" with a loss scaler" if scaler is not None else ""))

    if out_dir.exists() and overwrite:
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = RunLogger(out_dir / LOG_FILE, tensorboard=False, append=False)

    def record(row: dict[str, Any], message: str) -> None:
        log.log(row)
        say(message)

    total_steps = math.ceil(config.samples / config.batch_size)
    generator = torch.Generator().manual_seed(config.seed)
    stream = _IndexStream(len(train_set), generator)
    params = _param_groups(backbone, config.weight_decay)
    for group in params:
        for p in group["params"]:
            p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=config.lr, betas=config.betas)
    losses: list[float] = []
    loss_ema = None
    samples = 0
    eval_s = 0.0
    last_eval_at = 0
    t_train = time.perf_counter()
    t_window, samples_window = t_train, 0
    history: list[dict[str, Any]] = []
    try:
        for step in range(total_steps):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total_steps, config.warmup_steps, config.lr)
            idx = stream.take(config.batch_size)
            pick = (torch.rand(len(idx), generator=generator) * train_set.caption_counts[idx]).long()
            table = train_set.caption_table[idx]
            caption_ids = table.gather(1, pick[:, None]).squeeze(1)
            images = augment(train_set.images[idx].to(device).float() / 127.5 - 1, train_set.flip_ok[idx], config.augment, generator)
            positives = positive_mask(table, caption_ids).to(device)
            text_emb = caption_emb[caption_ids.to(device)]
            value = contrastive_step(backbone, optimizer, images, text_emb, positives, autocast, config.max_logit_scale, scaler)
            losses.append(value)
            loss_ema = value if loss_ema is None else 0.98 * loss_ema + 0.02 * value
            samples += len(idx)
            samples_window += len(idx)
            if (step + 1) % config.log_every == 0 or step + 1 == total_steps:
                now = time.perf_counter()
                rate = samples_window / max(now - t_window, 1e-9)
                t_window, samples_window = now, 0
                record(
                    {
                        "kind": "train",
                        "step": step + 1,
                        "samples": samples,
                        "epoch": samples / len(train_set),
                        "loss": value,
                        "loss_ema": loss_ema,
                        "lr": optimizer.param_groups[0]["lr"],
                        "logit_scale": backbone.model.logit_scale.detach().exp().item(),
                        "img_per_s": rate,
                        "elapsed_s": now - t_start,
                    },
                    f"step {step + 1}/{total_steps}  samples {samples}  loss {value:.3f} (ema {loss_ema:.3f})  "
                    f"scale {backbone.model.logit_scale.detach().exp().item():.1f}  {rate:.0f} img/s",
                )
            if config.eval_every and samples - last_eval_at >= config.eval_every and step + 1 < total_steps:
                last_eval_at = samples
                t_eval = time.perf_counter()
                metrics = evaluator(backbone)
                eval_s += time.perf_counter() - t_eval
                t_window += time.perf_counter() - t_eval
                row = {"kind": "eval", "step": step + 1, "samples": samples, "elapsed_s": time.perf_counter() - t_start}
                history.append(row | {k: metrics.get(k) for k in ("heldout", "train", "style")})
                record(row | metrics, f"eval at {samples} samples:\n{format_metrics(metrics)}")
        train_s = time.perf_counter() - t_train - eval_s

        t_eval = time.perf_counter()
        metrics = evaluator(backbone)
        eval_s += time.perf_counter() - t_eval
        wall_s = time.perf_counter() - t_start
        record(
            {"kind": "eval", "step": total_steps, "samples": samples, "elapsed_s": wall_s} | metrics,
            f"final evaluation at {samples} samples:\n{format_metrics(metrics)}",
        )
    finally:
        backbone.requires_grad_(False)
        log.close()
    metrics.update(
        {
            "samples": samples,
            "steps": total_steps,
            "epochs": samples / len(train_set),
            "final_loss_ema": loss_ema,
            "logit_scale": backbone.model.logit_scale.detach().exp().item(),
            "wall_s": wall_s,
            "train_s": train_s,
            "eval_s": eval_s,
            "text_encode_s": text_s,
            "train_img_per_s": samples / max(train_s, 1e-9),
            "cpu_s": time.process_time() - cpu_start,
            "loadavg_start": load_start,
            "loadavg_end": _loadavg(),
            "hardware": hardware_info(device, amp),
            "config": asdict(config),
            "data": _data_summary(train_dir, train_set, eval_dir, eval_set),
            "text_tower": text_tower_provenance(),
            "eval_history": history,
        }
    )
    backbone.to("cpu")
    with atomic_directory(out_dir) as tmp:
        backbone.save_pretrained(tmp)
        (tmp / "metrics.json").write_text(json.dumps(_json_ready(metrics), indent=2) + "\n")
        shutil.copy2(out_dir / LOG_FILE, tmp / LOG_FILE)
    say(f"wrote {out_dir} ({samples} samples, {total_steps} steps, {wall_s / 60:.1f} min)")
    return MiniClipResult(backbone, metrics, losses)
