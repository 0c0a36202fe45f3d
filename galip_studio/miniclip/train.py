"""Training the mini-CLIP's image tower (``galip-studio train-clip``).

The recipe (docs/training.md, "A small CLIP for offline models"): caption embeddings precomputed once
with the frozen text tower, the multi-positive InfoNCE of :mod:`.loss` with a learnable logit scale,
AdamW with warm-up and cosine decay, the batched augmentation of :mod:`.augmentation`, mixed precision
chosen exactly as ``galip-studio train`` chooses it (:func:`galip_studio.device.resolve_amp`:
``--amp auto`` is fp16 with a loss scaler on CUDA, bf16 on CPUs with native bf16, else fp32), a budget
in samples (not wall-clock) and periodic evaluation (:mod:`.evaluate`). The training log is written by
the :class:`~galip_studio.runlog.RunLogger` the GAN trainer writes its log with too.

The code has the GAN trainer's shape (``train/setup.py`` builds a run, ``train/trainer.py`` steps
and loops it): :func:`prepare_run` builds a :class:`MiniClipSetup` whose parts all exist (the CLIP,
the data and caption embeddings, the evaluator, the optimizer, the batch stream);
:func:`contrastive_step` is one step on a batch that :func:`draw_batch` draws; :class:`MiniClipLoop`
runs the steps with the training log and the evaluations; :func:`save_clip` writes the CLIP
directory; :func:`train_miniclip` is the entry point that does the four.
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
from typing import Any, Callable, ContextManager, Iterator, NamedTuple

import torch

from ..checkpoint import atomic_directory, portable_path
from ..clip_backbone import ClipBackbone
from ..config import MINICLIP_VISION_CFG
from ..device import AMP_CHOICES, autocast_factory, hardware_info, resolve_amp, resolve_device
from ..runlog import RunLogger, step_bar
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

    @property
    def total_steps(self) -> int:
        return math.ceil(self.samples / self.batch_size)


@dataclass
class MiniClipResult:
    """What :func:`train_miniclip` returns: the trained (frozen) model, final metrics and the loss history."""

    backbone: ClipBackbone
    metrics: dict[str, Any]
    losses: list[float]


# ------------------------------------------------------------------------------------------ setup
def _loadavg() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


@dataclass
class RunStart:
    """When a run started (wall clock, CPU time, load average), for its metrics."""

    wall: float = field(default_factory=time.perf_counter)
    cpu: float = field(default_factory=time.process_time)
    loadavg: list[float] | None = field(default_factory=_loadavg)

    def elapsed(self) -> float:
        return time.perf_counter() - self.wall


@dataclass
class MiniClipData:
    """The training folder and the held-out one in memory, at the image tower's input size."""

    train_dir: str | os.PathLike
    eval_dir: str | os.PathLike | None
    train_set: ImageCaptionSet
    eval_set: ImageCaptionSet | None

    @classmethod
    def load(
        cls, train_dir: str | os.PathLike, eval_dir: str | os.PathLike | None, train_set: ImageCaptionSet, size: int
    ) -> "MiniClipData":
        """``train_set`` (the training folder, already read) at ``size`` px, and the held-out folder."""
        if train_set.images.shape[-1] != size:  # a CLIP of another input size (--init, or one given)
            train_set = load_caption_set(train_dir, size)
        return cls(train_dir, eval_dir, train_set, load_caption_set(eval_dir, size) if eval_dir is not None else None)

    def report(self) -> Iterator[str]:
        """The lines a run starts with: identities in both folders (a warning), then the counts."""
        train, held = self.train_set, self.eval_set
        overlap = set(train.identities) & set(held.identities) if held is not None else set()
        if overlap:
            yield f"warning: {len(overlap)} identities are in both the training and the held-out folder (e.g. {sorted(overlap)[0]})"
        yield (
            f"data: {len(train)} training images, {len(train.identities)} identities, {len(train.captions)} captions, "
            f"{train.flip_ok.float().mean().item():.0%} flippable"
            + (f"; held out: {len(held)} images, {len(held.identities)} identities" if held is not None else "")
        )

    def summary(self) -> dict[str, Any]:
        """The data of the run, for its metrics."""
        train, held = self.train_set, self.eval_set
        return {
            "train_dir": portable_path(str(self.train_dir)),  # no machine paths in a CLIP folder others may get
            "eval_dir": portable_path(str(self.eval_dir)) if self.eval_dir is not None else None,
            "train_images": len(train),
            "train_identities": len(train.identities),
            "train_captions": len(train.captions),
            "flippable": train.flip_ok.float().mean().item(),
            "eval_images": len(held) if held is not None else 0,
            "eval_identities": len(held.identities) if held is not None else 0,
        }


def build_backbone(config: MiniClipTrainConfig, say: Callable[[str], None]) -> ClipBackbone:
    """The CLIP to train: the CLIP directory ``config.init`` (fine-tuning its image tower), else a
    new random image tower (:func:`build_miniclip` with ``config.seed`` and ``vision_cfg``)."""
    if config.init is None:
        return build_miniclip(config.seed, config.vision_cfg)
    backbone = ClipBackbone.from_pretrained(config.init)
    say(f"init: fine-tuning the image tower of {config.init}")
    return backbone


def _param_groups(backbone: ClipBackbone, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in backbone.visual.named_parameters():
        is_matrix = p.ndim >= 2 and "ln_" not in name and not name.endswith("bias")
        (decay if is_matrix else no_decay).append(p)
    no_decay.append(backbone.model.logit_scale)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(backbone: ClipBackbone, config: MiniClipTrainConfig) -> torch.optim.AdamW:
    """AdamW over the image tower and the logit scale (made trainable here; the text tower stays
    frozen), with weight decay on the weight matrices only."""
    groups = _param_groups(backbone, config.weight_decay)
    for group in groups:
        for p in group["params"]:
            p.requires_grad_(True)
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas)


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


@dataclass
class MiniClipSetup:
    """A mini-CLIP run ready for its first step."""

    config: MiniClipTrainConfig
    out_dir: Path
    started: RunStart
    say: Callable[[str], None]
    device: torch.device
    amp: str  # the resolved precision: none, bf16 or fp16
    autocast: Callable[[], ContextManager]
    scaler: torch.amp.GradScaler | None  # fp16 only
    backbone: ClipBackbone
    data: MiniClipData
    caption_emb: torch.Tensor  # the training captions' (fixed) embeddings, on the device
    text_encode_s: float  # seconds to embed them and the evaluation texts
    evaluator: MiniClipEvaluator
    optimizer: torch.optim.Optimizer
    generator: torch.Generator  # the batches' and the augmentation's randomness (seeded)
    stream: _IndexStream


def prepare_run(
    train_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    eval_dir: str | os.PathLike | None,
    config: MiniClipTrainConfig,
    backbone: ClipBackbone | None = None,
    overwrite: bool = False,
    say: Callable[[str], None] = lambda _msg: None,
) -> MiniClipSetup:
    """Build everything a run needs (arguments as :func:`train_miniclip`'s) and make ``out_dir``
    empty. An existing model there is kept unless ``overwrite``; the training folder is read before
    the model is loaded, so a bad folder fails fast."""
    started = RunStart()
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} already exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    device = resolve_device(config.device)
    amp = resolve_amp(config.amp, device)
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    train_set = load_caption_set(train_dir, (config.vision_cfg or MINICLIP_VISION_CFG)["image_size"])
    backbone = (build_backbone(config, say) if backbone is None else backbone).to(device)
    data = MiniClipData.load(train_dir, eval_dir, train_set, backbone.image_size[0])
    for line in data.report():
        say(line)

    t0 = time.perf_counter()
    caption_emb = encode_captions(backbone, data.train_set.captions).to(device)
    evaluator = MiniClipEvaluator(backbone, data.eval_set, data.train_set, seed=config.seed)
    text_s = time.perf_counter() - t0
    say(f"text: {len(data.train_set.captions)} training captions and the evaluation texts encoded in {text_s:.1f} s")
    say(f"precision: {'fp32' if amp == 'none' else amp + ' autocast'}" + (" with a loss scaler" if scaler is not None else ""))

    if out_dir.exists() and overwrite:
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(config.seed)
    return MiniClipSetup(
        config, out_dir, started, say, device, amp, autocast_factory(amp, device), scaler, backbone, data, caption_emb,
        text_s, evaluator, build_optimizer(backbone, config), generator, _IndexStream(len(data.train_set), generator),
    )


# ------------------------------------------------------------------------------------------ the step
class ContrastiveBatch(NamedTuple):
    images: torch.Tensor  # augmented, in [-1, 1], on the device
    text_emb: torch.Tensor  # the embedding of one caption drawn for each image
    positives: torch.Tensor  # [B, B]: image a has caption b (:func:`~.loss.positive_mask`)


def draw_batch(setup: MiniClipSetup) -> ContrastiveBatch:
    """The next ``batch_size`` images of the shuffled stream, one of each image's captions drawn at
    random, the images augmented (:func:`~.augmentation.augment`), all from ``setup.generator``."""
    s, train_set = setup, setup.data.train_set
    idx = s.stream.take(s.config.batch_size)
    pick = (torch.rand(len(idx), generator=s.generator) * train_set.caption_counts[idx]).long()
    table = train_set.caption_table[idx]
    caption_ids = table.gather(1, pick[:, None]).squeeze(1)
    images = augment(train_set.images[idx].to(s.device).float() / 127.5 - 1, train_set.flip_ok[idx], s.config.augment, s.generator)
    return ContrastiveBatch(images, s.caption_emb[caption_ids.to(s.device)], positive_mask(table, caption_ids).to(s.device))


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * base_lr * (1 + math.cos(math.pi * min(1.0, progress)))


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


# ------------------------------------------------------------------------------------------ the loop
class MiniClipLoop:
    """Runs a :class:`MiniClipSetup`: ``config.total_steps`` steps, a training-log row every
    ``log_every`` steps and an evaluation every ``eval_every`` samples, then the final evaluation.
    With ``progress``, the GAN trainer's bar over the steps (:func:`~galip_studio.runlog.step_bar`)."""

    def __init__(self, setup: MiniClipSetup, log: RunLogger, progress: bool = False):
        self.setup, self.config, self.log = setup, setup.config, log
        self.progress = progress
        self.bar: Any = None  # the progress bar while the steps run
        self.total_steps = setup.config.total_steps
        self.step = self.samples = 0
        self.losses: list[float] = []
        self.loss_ema: float | None = None
        self.eval_s = 0.0  # seconds spent evaluating (not training)
        self.last_eval_at = 0  # samples at the last periodic evaluation
        self.history: list[dict[str, Any]] = []  # the periodic evaluations' headline metrics
        self.t_window, self.samples_window = time.perf_counter(), 0  # the throughput since the last row

    def _record(self, row: dict[str, Any], message: str) -> None:
        self.log.log(row)
        if self.bar is None or self.bar.disable:
            self.setup.say(message)
        else:  # the bar steps aside for the line and is drawn again below it
            with self.bar.external_write_mode():
                self.setup.say(message)

    def train_step(self) -> float:
        """This step's learning rate (:func:`lr_at`), the next batch (:func:`draw_batch`) and
        :func:`contrastive_step` on it; returns the loss."""
        s, cfg = self.setup, self.config
        for group in s.optimizer.param_groups:
            group["lr"] = lr_at(self.step, self.total_steps, cfg.warmup_steps, cfg.lr)
        batch = draw_batch(s)
        loss = contrastive_step(s.backbone, s.optimizer, batch.images, batch.text_emb, batch.positives, s.autocast,
                                cfg.max_logit_scale, s.scaler)
        self.step += 1
        self.samples += len(batch.images)
        self.samples_window += len(batch.images)
        self.losses.append(loss)
        self.loss_ema = loss if self.loss_ema is None else 0.98 * self.loss_ema + 0.02 * loss
        return loss

    def log_train(self, loss: float) -> None:
        now = time.perf_counter()
        rate = self.samples_window / max(now - self.t_window, 1e-9)
        self.t_window, self.samples_window = now, 0
        s = self.setup
        scale = s.backbone.model.logit_scale.detach().exp().item()
        row = {
            "kind": "train",
            "step": self.step,
            "samples": self.samples,
            "epoch": self.samples / len(s.data.train_set),
            "loss": loss,
            "loss_ema": self.loss_ema,
            "lr": s.optimizer.param_groups[0]["lr"],
            "logit_scale": scale,
            "img_per_s": rate,
            "elapsed_s": now - s.started.wall,
        }
        self._record(row, f"step {self.step}/{self.total_steps}  samples {self.samples}  loss {loss:.3f} "
                          f"(ema {self.loss_ema:.3f})  scale {scale:.1f}  {rate:.0f} img/s")
        if self.bar is not None:
            self.bar.set_postfix({"img/s": f"{rate:.1f}", "loss": f"{self.loss_ema:.3f}"})

    def evaluate(self) -> dict[str, Any]:
        """The evaluator on the current weights (timed as evaluation, outside the throughput)."""
        t0 = time.perf_counter()
        metrics = self.setup.evaluator(self.setup.backbone)
        spent = time.perf_counter() - t0
        self.eval_s += spent
        self.t_window += spent
        return metrics

    def _due_eval(self) -> bool:
        every = self.config.eval_every
        return bool(every) and self.samples - self.last_eval_at >= every and self.step < self.total_steps

    def periodic_eval(self) -> None:
        self.last_eval_at = self.samples
        metrics = self.evaluate()
        row = {"kind": "eval", "step": self.step, "samples": self.samples, "elapsed_s": self.setup.started.elapsed()}
        self.history.append(row | {k: metrics.get(k) for k in ("heldout", "train", "style")})
        self._record(row | metrics, f"eval at {self.samples} samples:\n{format_metrics(metrics)}")

    def run(self) -> dict[str, Any]:
        """Train every step, then evaluate; returns the final metrics with the run's account
        (:meth:`summary`): the CLIP directory's ``metrics.json``."""
        t_train = self.t_window = time.perf_counter()
        self.bar = step_bar(self.total_steps, enabled=self.progress)
        try:
            while self.step < self.total_steps:
                loss = self.train_step()
                if self.step % self.config.log_every == 0 or self.step == self.total_steps:
                    self.log_train(loss)
                self.bar.update(1)
                if self._due_eval():
                    self.periodic_eval()
        finally:
            self.bar.close()
            self.bar = None
        train_s = time.perf_counter() - t_train - self.eval_s
        metrics = self.evaluate()
        wall_s = self.setup.started.elapsed()
        self._record({"kind": "eval", "step": self.total_steps, "samples": self.samples, "elapsed_s": wall_s} | metrics,
                     f"final evaluation at {self.samples} samples:\n{format_metrics(metrics)}")
        return metrics | self.summary(train_s, wall_s)

    def summary(self, train_s: float, wall_s: float) -> dict[str, Any]:
        """The run beside its final metrics: budget, loss, scale, times, machine, settings, data."""
        s, n = self.setup, self.samples
        return {
            "samples": n,
            "steps": self.total_steps,
            "epochs": n / len(s.data.train_set),
            "final_loss_ema": self.loss_ema,
            "logit_scale": s.backbone.model.logit_scale.detach().exp().item(),
            "wall_s": wall_s,
            "train_s": train_s,
            "eval_s": self.eval_s,
            "text_encode_s": s.text_encode_s,
            "train_img_per_s": n / max(train_s, 1e-9),
            "cpu_s": time.process_time() - s.started.cpu,
            "loadavg_start": s.started.loadavg,
            "loadavg_end": _loadavg(),
            "hardware": hardware_info(s.device, s.amp),
            "config": asdict(s.config),
            "data": s.data.summary(),
            "text_tower": text_tower_provenance(),
            "eval_history": self.history,
        }


# ------------------------------------------------------------------------------------------ entry point
def save_clip(setup: MiniClipSetup, metrics: dict[str, Any]) -> None:
    """Write the CLIP directory at once (:func:`~galip_studio.checkpoint.atomic_directory`): the
    weights (:meth:`ClipBackbone.save_pretrained`, on the CPU), ``metrics.json`` and the training log."""
    setup.backbone.to("cpu")
    with atomic_directory(setup.out_dir) as tmp:
        setup.backbone.save_pretrained(tmp)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
        shutil.copy2(setup.out_dir / LOG_FILE, tmp / LOG_FILE)


def train_miniclip(
    train_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    eval_dir: str | os.PathLike | None = None,
    config: MiniClipTrainConfig | None = None,
    *,
    backbone: ClipBackbone | None = None,
    overwrite: bool = False,
    echo: Callable[[str], None] | None = print,
    progress: bool = False,
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
        progress: draw a progress bar over the steps on stderr, as ``galip-studio train`` does
            (:func:`~galip_studio.runlog.step_bar`; ``train-clip`` draws it unless ``--no-progress``).
    """
    setup = prepare_run(train_dir, out_dir, eval_dir, config or MiniClipTrainConfig(), backbone, overwrite, echo or (lambda _msg: None))
    log = RunLogger(setup.out_dir / LOG_FILE, tensorboard=False, append=False)
    loop = MiniClipLoop(setup, log, progress)
    try:
        metrics = loop.run()
    finally:
        setup.backbone.requires_grad_(False)
        log.close()
    save_clip(setup, metrics)
    setup.say(f"wrote {setup.out_dir} ({loop.samples} samples, {loop.total_steps} steps, {metrics['wall_s'] / 60:.1f} min)")
    return MiniClipResult(setup.backbone, metrics, loop.losses)
