"""The GALIP training loop: one process or many (``torchrun``), CPU or GPU, exact resume.

One step follows the GALIP paper, Sec. 3.4 (docs/training.md, "Objective"): encode the captions
(cached: the CLIP is frozen), CLIP features of the reals (no gradient), fakes from fresh noise with their CLIP features and embedding (computed once,
with a graph back to the generator), a discriminator step (hinge real, (fake + mismatch) / 2, MA-GP),
then a generator step through the updated discriminator (adversarial term and CLIP similarity).

Everything random in a step is derived from ``(seed, step, rank)`` (noise) and ``(seed, epoch,
index)`` (data), so a resumed run repeats an uninterrupted one bit for bit on the same machine and
settings; checkpoints hold the weights, both optimizers, the loss scalers and the data position.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import math
import os
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..checkpoint import load_model, read_config, save_checkpoint
from ..clip_backbone import ClipBackbone
from ..config import ClipConfig, GALIPConfig, get_preset
from ..export import make_grid, save_png
from ..nets import GALIP
from ..pipeline import to_pil
from .augment import diff_augment, parse_policy
from .config import BEST_METRICS, TrainConfig
from .data import DataReport, ImageCaptionDataset, ImageTransform, ShardedBatchSampler, collate, fixed_captions, scan_dataset
from .evaluate import EvalConfig, Evaluator, load_inception, summarize
from .losses import discriminator_loss, generator_loss
from .rundir import TRAIN_STATE_FILE, RunDirectory, RunLogger, resolve_resume
from .runtime import DistContext, StopSignal, autocast_factory, resolve_amp, setup_distributed

TRAIN_STATE_FORMAT = "galip-studio-train-state"
FP16_NONFINITE_PATIENCE = 25  # fp16: consecutive overflowing steps tolerated (the loss scaler skips them)


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the run stops without writing a checkpoint."""


@dataclass
class StepInfo:
    """What a callback sees after each step (on every rank)."""

    step: int
    epoch: int
    rank: int
    indices: list[int]
    captions: list[str]
    losses: dict[str, float]
    trainer: "Trainer"


@dataclass
class TrainResult:
    steps: int
    epoch: int
    status: str  # "finished" or "interrupted"
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    metrics: dict[str, float] = field(default_factory=dict)


class SentenceCache:
    """Sentence vectors of the frozen CLIP, cached per caption string (least recently used dropped).

    Captions not yet cached are encoded in chunks of exactly ``chunk`` rows (padded with empty
    captions), so a caption's vector never depends on which other captions were encoded with it:
    this keeps resumed runs bit-identical.
    """

    def __init__(self, clip: ClipBackbone, max_entries: int = 200_000, chunk: int = 32):
        self.clip = clip
        self.max_entries = max_entries
        self.chunk = chunk
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    def __len__(self) -> int:
        return len(self._cache)

    def __call__(self, captions: Sequence[str]) -> torch.Tensor:
        captions = list(captions)
        todo = [c for c in dict.fromkeys(captions) if c not in self._cache]
        for i in range(0, len(todo), self.chunk):
            part = todo[i : i + self.chunk]
            vectors = self.clip.encode_text(part + [""] * (self.chunk - len(part)))
            for caption, vector in zip(part, vectors):
                self._cache[caption] = vector.float()
        for c in captions:
            self._cache.move_to_end(c)
        out = torch.stack([self._cache[c] for c in captions])
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return out


# ------------------------------------------------------------------------------------------ model
def build_model(config: TrainConfig) -> tuple[GALIP, dict[str, Any]]:
    """A fresh model (preset + overrides, CLIP from a directory, an open_clip name or the preset),
    or one to fine-tune (``config.init``: our checkpoint directory or an official ``.pth``)."""
    overrides = {k: getattr(config, k) for k in ("img_size", "ngf", "ndf", "z_dim") if getattr(config, k) is not None}
    clip_weights = None if config.clip_weights == "random" else config.clip_weights
    torch.manual_seed(config.seed)
    if config.init:
        if overrides:
            raise ValueError(f"--init takes the architecture from the checkpoint; drop {', '.join(sorted(overrides))}")
        model, info = load_model(config.init, config.clip_weights)
        if "training" in info:
            info["init_step"] = info.pop("training").get("step")
        return model, {**info, "preset": config.preset}  # the recipe, so a fine-tune of this run inherits it too
    preset = get_preset(config.preset)
    galip_cfg = GALIPConfig.from_dict({**preset.galip.to_dict(), **overrides})
    if config.clip:
        clip = ClipBackbone.from_pretrained(config.clip, weights=clip_weights)
        source = {"clip_dir": config.clip}
    else:
        if config.clip_model:
            clip_cfg = ClipConfig(name=config.clip_model, preprocess=config.clip_preprocess or "standard")
        else:
            clip_cfg = preset.clip
            if config.clip_preprocess:
                clip_cfg.preprocess = config.clip_preprocess
        if config.clip_weights is not None:
            clip_cfg.pretrained = clip_weights
        clip = ClipBackbone.from_config(clip_cfg)
        source = {"clip": clip_cfg.name or "custom", "clip_weights": clip_cfg.pretrained or "random"}
    return GALIP(galip_cfg, clip), {"init": "scratch", "preset": config.preset, **source}


def default_real_size(img_size: int) -> int:
    """Side of real training images: 256 for the official 224 px generator (docs/training.md, "Data"), else the output size."""
    return 256 if img_size == 224 else img_size


def _step_generator(seed: int, step: int, rank: int, *stream: int) -> torch.Generator:
    """A generator that depends only on (seed, step, rank[, stream]): resumes draw the same numbers."""
    state = np.random.SeedSequence([seed, step, rank, *stream]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def _noise(seed: int, step: int, rank: int, batch: int, z_dim: int) -> torch.Tensor:
    return torch.randn(batch, z_dim, generator=_step_generator(seed, step, rank))


AUGMENT_STREAM = 1  # the augmentation draws of a step use their own stream, apart from the noise


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


# ------------------------------------------------------------------------------------------ trainer
class Trainer:
    """Train GALIP as :class:`TrainConfig` says. ``callbacks`` run after every step on every rank."""

    def __init__(self, config: TrainConfig, callbacks: Sequence[Callable[[StepInfo], None]] = ()):
        self.config = config
        self.callbacks = list(callbacks)
        self.run_dir = RunDirectory(config.out)
        self.ctx: DistContext | None = None
        self.model: GALIP | None = None
        self.ema: nn.Module | None = None  # the moving average of G (--ema), set up with the model
        self.report: DataReport | None = None
        self.step = 0
        self.epoch = 0
        self.epoch_step = 0
        self.best: dict[str, Any] | None = None
        self.last_saved_step: int | None = None
        self.last_metrics: dict[str, float] = {}
        self.done = {"samples": -1, "eval": -1}
        self.nonfinite_streak = 0

    # ---------------------------------------------------------------- setup
    def _print(self, *args: Any) -> None:
        if self.ctx is None or self.ctx.is_main:
            print(*args, file=sys.stderr, flush=True)

    def _setup_data(self) -> None:
        cfg, ctx = self.config, self.ctx
        assert ctx is not None and self.model is not None
        samples, self.report = scan_dataset(cfg.data_dir, cfg.layout, cfg.split, verify=cfg.verify_images)
        self.samples = samples
        self.real_size = cfg.real_size or default_real_size(self.model.config.img_size)
        self.transform = ImageTransform(self.real_size, cfg.resize_ratio, cfg.flip)
        self.dataset = ImageCaptionDataset(samples, self.transform, seed=cfg.seed, flip_exclude=cfg.flip_exclude)
        self.sampler = ShardedBatchSampler(len(samples), cfg.batch_size, ctx.world_size, ctx.rank, cfg.seed)
        workers = cfg.workers
        if workers is None:
            workers = 0 if ctx.device.type == "cpu" else min(4, max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
        self.workers = workers
        self.loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_sampler=self.sampler,
            num_workers=workers,
            collate_fn=collate,
            pin_memory=ctx.device.type == "cuda",
            persistent_workers=workers > 0,
        )
        steps_per_epoch = self.sampler.steps_per_epoch
        if cfg.steps is not None:
            self.total_steps: int | None = cfg.steps
        elif cfg.epochs is not None:
            self.total_steps = max(1, math.ceil(cfg.epochs * steps_per_epoch))
        else:
            self.total_steps = None

    def setup_model(self, resume_from: Path | None = None) -> dict[str, Any] | None:
        """Build (or load, to resume) the model, optimizers and loss scalers on this process's device,
        wrapped for DDP under torchrun. Returns the saved training state when resuming. :meth:`run`
        calls it; benchmarks call it and then :meth:`train_step` directly."""
        if self.ctx is None:
            self.ctx = setup_distributed(self.config.device)
        cfg, ctx = self.config, self.ctx
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        state = None
        if resume_from is not None:
            model, info = load_model(resume_from, cfg.clip_weights)
            kept = ("init", "init_kind", "init_step", "preset", "clip", "clip_weights", "clip_dir")
            self.source = {k: v for k, v in info["training"].items() if k in kept}
            self.source["resumed_from"] = str(resume_from)
            state = torch.load(resume_from / TRAIN_STATE_FILE, map_location="cpu", weights_only=True)
            if state.get("format") != TRAIN_STATE_FORMAT:
                raise ValueError(f"{resume_from / TRAIN_STATE_FILE} is not a GALIP Studio training state")
        else:
            model, self.source = build_model(cfg)
        model.to(ctx.device)
        if cfg.channels_last:
            model.generator.to(memory_format=torch.channels_last)
        self.model = model
        self._setup_ema(state)
        self.amp = resolve_amp(cfg.amp, ctx.device)
        self.autocast = autocast_factory(self.amp, ctx.device)
        # fused Adam (one kernel over all parameters, CPU and CUDA): same update, less per-tensor overhead
        adam = {"betas": (float(cfg.beta1), float(cfg.beta2)), "fused": ctx.device.type in ("cpu", "cuda")}
        self.opt_g = torch.optim.Adam(model.generator.parameters(), lr=cfg.lr_g, **adam)
        self.opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=cfg.lr_d, **adam)
        self.scalers: dict[str, torch.amp.GradScaler] | None = None
        if self.amp == "fp16":
            self.scalers = {n: torch.amp.GradScaler(ctx.device.type, growth_interval=2000) for n in ("g", "d")}
        if ctx.distributed:
            ids = [ctx.device.index] if ctx.device.type == "cuda" else None
            self.generator = nn.parallel.DistributedDataParallel(model.generator, device_ids=ids, broadcast_buffers=False)
            self.discriminator = nn.parallel.DistributedDataParallel(model.discriminator, device_ids=ids, broadcast_buffers=False)
        else:
            self.generator, self.discriminator = model.generator, model.discriminator
        self.sentences = SentenceCache(model.clip, cfg.text_cache_size)
        return state

    def _setup_ema(self, state: dict[str, Any] | None) -> None:
        """The moving average of G (``--ema``). A checkpoint of a run with one stores the average as its
        generator (what inference, ``convert`` and fine-tuning load) and the trained weights in its
        training state; resuming puts each back in its place. Turned on when resuming a run without
        one, it starts from the checkpoint's generator."""
        assert self.model is not None
        gen = self.model.generator
        self.ema = None
        if self.config.ema > 0:
            # the CLIP is shared and frozen, not part of the copy
            self.ema = copy.deepcopy(gen, memo={id(self.model.clip): self.model.clip}).requires_grad_(False).eval()
            self._ema_pairs = (list(self.ema.parameters()), list(gen.parameters()))
        trained = state.get("generator_train") if state else None
        if trained is not None:
            gen.load_state_dict(trained)
            if self.ema is None:
                self._print("note: this run kept a moving average of G; training goes on without one (--ema 0)")

    @torch.no_grad()
    def _update_ema(self) -> None:
        """ema <- decay * ema + (1 - decay) * G, the decay ramping up over the first steps of a run from
        scratch as in StyleGAN2 (``min(ema, (1 + step) / (10 + step))``) so the random start is soon
        forgotten. A fine-tune (``--init``) starts from trained weights and averages at the full decay:
        with the ramp its average would follow the trained weights for the first thousand steps."""
        decay = self.config.ema if self.config.init else min(self.config.ema, (1 + self.step) / (10 + self.step))
        torch._foreach_lerp_(self._ema_pairs[0], self._ema_pairs[1], 1.0 - decay)

    @property
    def sampling_generator(self) -> nn.Module:
        """The generator that samples, evaluations and checkpoints use: the moving average when there is one."""
        assert self.model is not None
        return self.ema if self.ema is not None else self.model.generator

    def _load_state(self, state: dict[str, Any]) -> None:
        assert self.ctx is not None
        self.opt_g.load_state_dict(state["optimizer_g"])
        self.opt_d.load_state_dict(state["optimizer_d"])
        if self.scalers is not None and state.get("scaler_g") is not None:
            self.scalers["g"].load_state_dict(state["scaler_g"])
            self.scalers["d"].load_state_dict(state["scaler_d"])
        self.step = int(state["step"])
        self.epoch, self.epoch_step = int(state["epoch"]), int(state["epoch_step"])
        if int(state.get("world_size", 1)) != self.ctx.world_size or int(state.get("batch_size", 0)) != self.config.batch_size:
            old = int(state.get("world_size", 1)) * int(state.get("batch_size", self.config.batch_size))
            self.epoch_step = min(self.sampler.steps_per_epoch, self.epoch_step * old // (self.config.batch_size * self.ctx.world_size))
            self._print("note: the global batch changed since the checkpoint; the data order continues approximately")
        if self.epoch_step >= self.sampler.steps_per_epoch:
            self.epoch, self.epoch_step = self.epoch + 1, 0
        self.best = state.get("best")
        self.last_saved_step = self.step

    def _training_state(self) -> dict[str, Any]:
        assert self.ctx is not None and self.model is not None
        return {
            "format": TRAIN_STATE_FORMAT,
            "version": 1,
            "step": self.step,
            "epoch": self.epoch,
            "epoch_step": self.epoch_step,
            "world_size": self.ctx.world_size,
            "batch_size": self.config.batch_size,
            "optimizer_g": self.opt_g.state_dict(),
            "optimizer_d": self.opt_d.state_dict(),
            "scaler_g": self.scalers["g"].state_dict() if self.scalers else None,
            "scaler_d": self.scalers["d"].state_dict() if self.scalers else None,
            "best": self.best,
            "ema": self.config.ema,
            # with a moving average, the checkpoint's generator is the average; these are the trained weights
            "generator_train": self.model.generator.state_dict() if self.ema is not None else None,
        }

    def _write_run_config(self) -> None:
        assert self.model is not None and self.report is not None and self.ctx is not None
        info = {
            "train": self.config.to_dict(),
            "galip": self.model.config.to_dict(),
            "clip": self.model.clip.to_config_dict(),
            "source": self.source,
            "data": self.report.to_dict(),
            "runtime": {
                "device": str(self.ctx.device),
                "world_size": self.ctx.world_size,
                "amp": self.amp,
                "threads": torch.get_num_threads(),
                "workers": self.workers,
                "real_size": self.real_size,
                "steps_per_epoch": self.sampler.steps_per_epoch,
                "total_steps": self.total_steps,
            },
            "parameters": self.model.parameter_counts(),
            "versions": {"galip_studio": __version__, "torch": torch.__version__},
        }
        self.run_dir.root.mkdir(parents=True, exist_ok=True)
        tmp = self.run_dir.config_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(info, indent=2, default=str) + "\n")
        os.replace(tmp, self.run_dir.config_path)

    # ---------------------------------------------------------------- one step
    def _check_finite(self, loss: torch.Tensor, name: str) -> bool:
        """All ranks agree whether ``loss`` is finite. fp16 tolerates a few overflowing steps (the
        scaler skips them); otherwise a non-finite loss stops the run before any update."""
        assert self.ctx is not None
        bad = self.ctx.all_reduce_sum([0.0 if bool(torch.isfinite(loss)) else 1.0])[0] > 0
        if not bad:
            return True
        self.nonfinite_streak += 1
        if self.scalers is None or self.nonfinite_streak > FP16_NONFINITE_PATIENCE:
            latest = self.run_dir.latest()
            raise NonFiniteLossError(
                f"the {name} loss became {float(loss.detach())} at step {self.step + 1}; training stopped without saving. "
                f"The last good checkpoint is {latest or '(none yet)'}. Try lower learning rates (--lr-g/--lr-d), "
                f"--amp none, then --resume latest (or restart)."
            )
        return False

    def _update(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, name: str) -> None:
        if self.scalers is None:
            loss.backward()
            optimizer.step()
            return
        scaler = self.scalers[name]
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if scaler.get_scale() < self.config.scaler_min:
            scaler.update(16384.0)

    def train_step(self, images: torch.Tensor, captions: Sequence[str]) -> dict[str, float]:
        """One D step and one G step on a batch; returns the losses (this rank's values)."""
        assert self.model is not None and self.ctx is not None
        cfg, device, clip = self.config, self.ctx.device, self.model.clip
        real = images.to(device, non_blocking=True)
        sentence = self.sentences(captions)
        z = _noise(cfg.seed, self.step, self.ctx.rank, real.shape[0], self.model.config.z_dim).to(device)
        policy = parse_policy(cfg.augment)
        aug = _step_generator(cfg.seed, self.step, self.ctx.rank, AUGMENT_STREAM) if policy else None
        with self.autocast():
            with torch.no_grad():
                real_features, _ = clip.image_features(diff_augment(real, policy, aug), with_embedding=False)
            fake = self.generator(z, sentence)
            # float32 pixels into CLIP's preprocessing (CPU has no bf16 antialiased resize); its
            # blocks still run in the autocast dtype. --augment: D (and so G) sees augmented fakes.
            fake_features, fake_embedding = clip.image_features(diff_augment(fake.float(), policy, aug),
                                                                with_embedding=True)

        # discriminator step
        self.opt_d.zero_grad(set_to_none=True)
        scale = self.scalers["d"].get_scale() if self.scalers else None
        d = discriminator_loss(self.discriminator, real_features, fake_features, sentence, cfg.loss, self.autocast, scale)
        d_ok = self._check_finite(d.total, "discriminator")
        if d_ok or self.scalers is not None:
            self._update(d.total, self.opt_d, "d")

        # generator step, through the updated discriminator (its weights need no gradient here)
        self.opt_g.zero_grad(set_to_none=True)
        disc = _unwrap(self.discriminator)
        disc.requires_grad_(False)
        try:
            g = generator_loss(disc, fake_features, fake_embedding, sentence, cfg.loss, self.autocast)
            g_ok = self._check_finite(g.total, "generator")
            if g_ok or self.scalers is not None:
                self._update(g.total, self.opt_g, "g")
        finally:
            disc.requires_grad_(True)
        if self.ema is not None:
            self._update_ema()
        if d_ok and g_ok:
            self.nonfinite_streak = 0
        losses = {**d.items(), **g.items()}
        if self.scalers is not None:
            losses["scale_d"], losses["scale_g"] = self.scalers["d"].get_scale(), self.scalers["g"].get_scale()
        return losses

    # ---------------------------------------------------------------- outputs
    @torch.no_grad()
    def _generate(self, noise: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        assert self.model is not None and self.ctx is not None
        gen = self.sampling_generator
        out = []
        for i in range(0, len(captions), 16):
            s = self.sentences(captions[i : i + 16])
            out.append(gen(noise[i : i + 16].to(self.ctx.device), s).float().cpu())
        return torch.cat(out)

    def _setup_samples(self) -> None:
        cfg = self.config
        assert self.model is not None
        self.sample_captions = fixed_captions(self.samples, cfg.sample_captions)
        g = torch.Generator().manual_seed(cfg.seed)
        noise = torch.randn(cfg.sample_noise, self.model.config.z_dim, generator=g)
        self.sample_noise = noise.repeat(len(self.sample_captions), 1)
        self.run_dir.samples.mkdir(parents=True, exist_ok=True)
        (self.run_dir.samples / "captions.txt").write_text("\n".join(self.sample_captions) + "\n")
        real_path = self.run_dir.samples / "real.png"
        if not real_path.exists():
            reals = torch.stack([self.dataset[i]["image"] for i in range(min(len(self.dataset), cfg.sample_noise * 2))])
            save_png(make_grid(to_pil(reals), nrow=cfg.sample_noise), real_path)

    def save_samples(self) -> Path:
        captions = [c for c in self.sample_captions for _ in range(self.config.sample_noise)]
        images = self._generate(self.sample_noise, captions)
        path = self.run_dir.samples / f"step_{self.step:06d}.png"
        recipe = {"kind": "training samples", "step": self.step, "captions": self.sample_captions, "noise_seed": self.config.seed}
        save_png(make_grid(to_pil(images), nrow=self.config.sample_noise), path, recipe)
        return path

    def evaluate(self) -> dict[str, float]:
        cfg = self.config
        assert self.model is not None and self.ctx is not None
        if getattr(self, "evaluator", None) is None:
            if cfg.eval_data:
                samples, report = scan_dataset(cfg.eval_data, cfg.layout, "test", verify=cfg.verify_images)
                self._print(report.format())
            else:
                samples = self.samples
            dataset = ImageCaptionDataset(samples, dataclasses.replace(self.transform, flip=False), seed=cfg.seed)
            inception = load_inception(cfg.inception_weights, self.ctx.device) if cfg.inception_weights else None
            eval_cfg = EvalConfig(images=cfg.eval_images, batch_size=cfg.eval_batch_size or cfg.batch_size, seed=cfg.seed)
            self.evaluator = Evaluator(dataset, self.model.clip, eval_cfg, inception)
        metrics = self.evaluator(self.sampling_generator, self.sentences, self.model.config.z_dim)
        if self.ema is not None:  # the trained weights too, on the same noise and captions: what the average gains
            raw = self.evaluator(self.model.generator, self.sentences, self.model.config.z_dim)
            metrics.update({f"raw_{k}": v for k, v in raw.items() if k in ("clip_score", "clip_fd", "prompt_r1", "prompt_r5", "image_r1", "image_r5", "fid")})
        return metrics

    def _is_better(self, metrics: dict[str, float]) -> bool:
        name = self.config.best_metric
        if name not in metrics:
            return False
        if self.best is None:
            return True
        lower = BEST_METRICS[name] == "min"
        return metrics[name] < self.best["value"] if lower else metrics[name] > self.best["value"]

    def save(self, metrics: dict[str, float] | None = None) -> Path:
        """Write a checkpoint of the current step (main process only) and update the pointers."""
        assert self.model is not None
        path = self.run_dir.step_dir(self.step)
        buf = io.BytesIO()
        better = metrics is not None and self._is_better(metrics)
        if better:
            assert metrics is not None
            self.best = {"metric": self.config.best_metric, "value": metrics[self.config.best_metric], "step": self.step}
        torch.save(self._training_state(), buf)
        training = {
            "step": self.step,
            "epoch": self.epoch,
            "images_seen": self.step * self.config.batch_size * (self.ctx.world_size if self.ctx else 1),
            "data": str(self.config.data_dir),
            "run": str(self.run_dir.root),
            **{k: v for k, v in self.source.items() if k != "resumed_from"},
            "metrics": metrics or self.last_metrics,
            "amp": self.amp,
            "real_size": self.real_size,
            "ema": self.config.ema,
        }
        save_checkpoint(self.model, path, training=training, extra_files={TRAIN_STATE_FILE: buf.getvalue()}, generator=self.ema)
        self.run_dir.point("latest", path)
        if better:
            self.run_dir.point("best", path)
        self.run_dir.prune(self.config.keep_last)
        self.last_saved_step = self.step
        return path

    # ---------------------------------------------------------------- loop
    def _due(self, every: int | None) -> bool:
        return bool(every) and self.step % every == 0  # type: ignore[operator]

    def _after_step(self, logger: RunLogger | None, final: bool) -> None:
        """Samples, evaluation and checkpoints that fall on this step (main process); ``final`` does
        each one that is enabled and not yet done at this step."""
        cfg = self.config
        if logger is None:
            return
        if (self._due(cfg.sample_every) or (final and cfg.sample_every)) and self.done["samples"] != self.step:
            path = self.save_samples()
            self.done["samples"] = self.step
            logger.log({"event": "samples", "step": self.step, "path": str(path)})
        metrics = None
        eval_every = cfg.effective_eval_every
        if (self._due(eval_every) or (final and eval_every)) and self.done["eval"] != self.step:
            t0 = time.perf_counter()
            metrics = self.evaluate()
            self.done["eval"] = self.step
            self.last_metrics = metrics
            logger.log({"event": "eval", "step": self.step, **metrics, "seconds": round(time.perf_counter() - t0, 2)})
            self._print(f"step {self.step}: {summarize(metrics)}")
        better = metrics is not None and self._is_better(metrics)
        if self._due(cfg.save_every) or final or better:
            if self.last_saved_step != self.step or better:
                path = self.save(metrics)
                logger.log({"event": "checkpoint", "step": self.step, "path": str(path), "best": better})

    def run(self) -> TrainResult:
        """Train until ``steps``/``epochs`` are done or a stop signal arrives; returns a summary."""
        cfg = self.config
        self.ctx = ctx = setup_distributed(cfg.device)
        logger: RunLogger | None = None
        try:
            resume_from = resolve_resume(self.run_dir, cfg.resume) if cfg.resume else None
            if resume_from is None and self.run_dir.latest() is not None:
                raise ValueError(
                    f"{self.run_dir.root} already holds checkpoints; continue it with --resume latest, or choose a new --out"
                )
            state = self.setup_model(resume_from)
            self._setup_data()
            if state is not None:
                self._load_state(state)
            assert self.model is not None and self.report is not None
            self._print(self.report.format())
            if ctx.is_main:
                self.run_dir.clean_partial()
                self._write_run_config()
                self._setup_samples()
                logger = RunLogger(self.run_dir, cfg.tensorboard, append=resume_from is not None)
                counts = self.model.parameter_counts()
                self._print(
                    f"{'resuming at step ' + str(self.step) if resume_from else 'training from ' + str(self.source.get('init'))}: "
                    f"{self.model.config.img_size} px GALIP, generator {counts['generator']:,} / discriminator "
                    f"{counts['discriminator'] + counts['quality_assessor']:,} trainable parameters; device {ctx.device} "
                    f"x{ctx.world_size}, amp {self.amp}, {torch.get_num_threads()} threads, batch {cfg.batch_size}"
                    f"{' per process' if ctx.distributed else ''}, {self.sampler.steps_per_epoch} steps/epoch, "
                    f"{self.total_steps if self.total_steps is not None else 'unlimited (Ctrl-C saves and stops)'} steps"
                )
                logger.log({"event": "start" if resume_from is None else "resume", "step": self.step, "data": self.report.counts(),
                            "usable": self.report.usable, "world_size": ctx.world_size, "amp": self.amp})
                if self.step == 0 and cfg.sample_every:
                    self.save_samples()
                    self.done["samples"] = 0
            try:
                status = self._loop(logger)
            except NonFiniteLossError as e:
                if logger is not None:
                    logger.log({"event": "stop", "step": self.step, "status": "non-finite loss", "error": str(e)})
                raise
            return TrainResult(
                steps=self.step,
                epoch=self.epoch,
                status=status,
                last_checkpoint=self.run_dir.latest() if ctx.is_main else None,
                best_checkpoint=self.run_dir.pointer_target("best") if ctx.is_main else None,
                metrics=self.last_metrics,
            )
        finally:
            if logger is not None:
                logger.close()
            ctx.close()

    def _loop(self, logger: RunLogger | None) -> str:
        cfg, ctx = self.config, self.ctx
        assert ctx is not None
        from tqdm.auto import tqdm

        bar = tqdm(total=self.total_steps, initial=self.step, unit="step", dynamic_ncols=True,
                   disable=not (ctx.is_main and cfg.progress), file=sys.stderr)
        sums: dict[str, float] = {}
        count, t_last, failed_total = 0, time.perf_counter(), 0
        stopper = StopSignal()
        status = "finished"
        with stopper.installed():
            while self.total_steps is None or self.step < self.total_steps:
                self.sampler.set_position(self.epoch, self.epoch_step)
                iterator = iter(self.loader)
                while self.total_steps is None or self.step < self.total_steps:
                    try:
                        batch = next(iterator)
                    except StopIteration:
                        break
                    except RuntimeError:
                        if stopper.requested:  # loader workers got the Ctrl-C too
                            break
                        raise
                    losses = self.train_step(batch.images, batch.captions)
                    self.step += 1
                    self.epoch_step += 1
                    stop, n_failed = ctx.all_reduce_sum([float(stopper.requested), float(len(batch.failed))])
                    for cb in self.callbacks:
                        cb(StepInfo(self.step, self.epoch, ctx.rank, list(batch.indices), list(batch.captions), losses, self))
                    if n_failed and logger is not None:
                        failed_total += int(n_failed)
                        logger.log({"event": "bad files", "step": self.step, "replaced": int(n_failed),
                                    "total": failed_total, "files": batch.failed})
                        self._print(f"warning: {int(n_failed)} image(s) failed to load and were replaced: {batch.failed}")
                    for k, v in losses.items():
                        sums[k] = sums.get(k, 0.0) + v
                    count += 1
                    if self.step % cfg.log_every == 0 and logger is not None:
                        now = time.perf_counter()
                        avg = {k: round(v / count, 6) for k, v in sums.items()}
                        ips = count * cfg.batch_size * ctx.world_size / max(now - t_last, 1e-9)
                        logger.log({"step": self.step, "epoch": self.epoch, "images_per_s": round(ips, 3), **avg})
                        bar.set_postfix({"img/s": f"{ips:.1f}", "D": f"{avg['loss_d']:.3f}", "G": f"{avg['loss_g']:.3f}"})
                        sums, count, t_last = {}, 0, now
                    bar.update(1)
                    if stop:
                        status = "interrupted"
                        break
                    self._after_step(logger, final=False)
                if self.epoch_step >= self.sampler.steps_per_epoch:
                    self.epoch, self.epoch_step = self.epoch + 1, 0
                if status == "interrupted" or stopper.requested:
                    status = "interrupted"
                    break
            bar.close()
            if ctx.is_main:
                if status == "interrupted":
                    if self.last_saved_step != self.step:
                        path = self.save()
                        assert logger is not None
                        logger.log({"event": "checkpoint", "step": self.step, "path": str(path)})
                    self._print(f"stopped at step {self.step} ({stopper.signal_name or 'signal'}); checkpoint saved in "
                                f"{self.run_dir.checkpoints}; continue with --resume latest")
                else:
                    self._after_step(logger, final=True)
                if logger is not None:
                    logger.log({"event": "stop", "step": self.step, "status": status})
            ctx.barrier()
        return status
