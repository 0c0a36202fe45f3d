"""The GALIP training loop: one process or many (``torchrun``), CPU or GPU, exact resume.

One step follows the GALIP paper, Sec. 3.4 "Objective Functions" (docs/training.md, "Objective"): encode the captions
(cached: the CLIP is frozen), CLIP features of the reals (no gradient), fakes from fresh noise with their CLIP features and embedding (computed once,
with a graph back to the generator), a discriminator step (hinge real, (fake + mismatch) / 2, MA-GP),
then a generator step through the updated discriminator (adversarial term and CLIP similarity).

Everything random in a step is derived from ``(seed, step, rank)`` (noise) and ``(seed, epoch,
index)`` (data), so a resumed run repeats an uninterrupted one bit for bit on the same machine and
settings; checkpoints hold the weights, both optimizers, the loss scalers and the data position.

What a run is built from is :mod:`.setup`'s: :class:`Stepper` trains steps on its
:class:`~.setup.TrainParts`, :class:`TrainLoop` runs a whole :class:`~.setup.RunSetup` (data,
samples, evaluations, checkpoints) and :class:`Trainer` is the entry point that plans one
(:func:`~.plan.plan_run`) and builds it. :func:`build_stepper` builds bare steps.
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..checkpoint import FEATURE_D_FILE, TRAIN_STATE_FORMAT, TRAINING_STATE_FILE, save_checkpoint
from ..export import make_grid, save_png, to_pil
from ..runlog import RunLogger, step_bar
from .augment import diff_augment, parse_policy
from .config import BEST_METRICS, TrainConfig, format_minutes
from .evaluate import summarize
from .losses import (discriminator_loss, feature_discriminator_loss, feature_generator_loss, generator_loss,
                     reconstruction_distances, reconstruction_loss)
from .rundir import RunDirectory
from .runtime import StopSignal, setup_distributed
from .plan import RunPlan, plan_run
from .setup import RunSetup, TrainParts, build_evaluator, build_parts, prepare_run, say

FP16_NONFINITE_PATIENCE = 25  # fp16: consecutive overflowing steps tolerated (the loss scaler skips them)
wall_clock = time.monotonic  # the clock of --time-limit (tests replace it)


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
    trainer: "TrainLoop"


@dataclass
class TrainResult:
    steps: int
    epoch: int
    status: str  # "finished", "interrupted" (a stop signal) or "time limit" (--time-limit)
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    metrics: dict[str, float] = field(default_factory=dict)


def _step_generator(seed: int, step: int, rank: int, *stream: int) -> torch.Generator:
    """A generator that depends only on (seed, step, rank[, stream]): resumes draw the same numbers."""
    state = np.random.SeedSequence([seed, step, rank, *stream]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def _noise(seed: int, step: int, rank: int, batch: int, z_dim: int) -> torch.Tensor:
    return torch.randn(batch, z_dim, generator=_step_generator(seed, step, rank))


AUGMENT_STREAM = 1  # the augmentation draws of a step use their own stream, apart from the noise
FEATURE_AUGMENT_STREAM = 2  # --feature-d: what its network sees is augmented with draws of its own
FEATURE_AUGMENT = ("translation", "cutout")  # Projected GAN's DiffAugment, without colour (see augment.py)
RECON_STREAM = 3  # --recon-samples: the step's extra noise candidates


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


@contextlib.contextmanager
def _weights_frozen(*modules: nn.Module) -> Iterator[None]:
    """The trainable weights of ``modules`` need no gradient inside (G's step through the updated
    discriminators); those that did get it back after, the frozen ones stay frozen."""
    params = [q for m in modules for q in _unwrap(m).parameters() if q.requires_grad]
    for q in params:
        q.requires_grad_(False)
    try:
        yield
    finally:
        for q in params:
            q.requires_grad_(True)


# ------------------------------------------------------------------------------------------ one step
class Stepper:
    """Training steps on built :class:`~.setup.TrainParts`; ``step`` counts them (it seeds the noise)."""

    def __init__(self, config: TrainConfig, parts: TrainParts, run_dir: RunDirectory, step: int = 0):
        self.config = config
        self.parts = parts
        self.ctx, self.model, self.amp = parts.ctx, parts.model, parts.amp
        self.ema = parts.ema  # the moving average of G (--ema), or None when the run keeps none
        self.run_dir = run_dir  # named in the error when a loss turns non-finite
        self.step = step
        self.nonfinite_streak = 0
        # the moving average and the weights it follows, as parameter lists for one fused lerp
        gen = parts.model.generator
        self._ema_pairs = (list(self.ema.parameters()), list(gen.parameters())) if self.ema is not None else ([], [])

    @property
    def sampling_generator(self) -> nn.Module:
        """The generator that samples, evaluations and checkpoints use: the moving average when there is one."""
        return self.ema if self.ema is not None else self.model.generator

    @torch.no_grad()
    def _update_ema(self) -> None:
        """ema <- decay * ema + (1 - decay) * G, the decay ramping up over the first steps of a run from
        scratch as in StyleGAN2 (``min(ema, (1 + step) / (10 + step))``) so the random start is soon
        forgotten. A fine-tune (``--init``) starts from trained weights and averages at the full decay:
        with the ramp its average would follow the trained weights for the first thousand steps."""
        decay = self.config.ema if self.config.init else min(self.config.ema, (1 + self.step) / (10 + self.step))
        torch._foreach_lerp_(self._ema_pairs[0], self._ema_pairs[1], 1.0 - decay)

    def _check_finite(self, loss: torch.Tensor, name: str) -> bool:
        """All ranks agree whether ``loss`` is finite. fp16 tolerates a few overflowing steps (the
        scaler skips them); otherwise a non-finite loss stops the run before any update."""
        bad = self.ctx.all_reduce_sum([0.0 if bool(torch.isfinite(loss)) else 1.0])[0] > 0
        if not bad:
            return True
        self.nonfinite_streak += 1
        if self.parts.scalers is None or self.nonfinite_streak > FP16_NONFINITE_PATIENCE:
            latest = self.run_dir.latest()
            raise NonFiniteLossError(
                f"the {name} loss became {float(loss.detach())} at step {self.step + 1}; training stopped without saving. "
                f"The last good checkpoint is {latest or '(none yet)'}. Try lower learning rates (--lr-g/--lr-d), "
                f"--amp none, then --resume latest (or restart)."
            )
        return False

    def _update(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, name: str) -> None:
        scalers = self.parts.scalers
        if scalers is None:
            loss.backward()
            optimizer.step()
            return
        scaler = scalers[name]
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if scaler.get_scale() < self.config.scaler_min:
            scaler.update(16384.0)

    def _nearest_noise(self, z: torch.Tensor, sentence: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """``--recon-samples K`` (conditional IMLE): of K noise vectors per caption (the step's own and
        K - 1 more of a stream of their own), the one whose image is nearest the caption's real image,
        chosen without gradient. The step then trains on it: the term pulls the nearest drawing, not
        every noise's, towards the real image, so the noise is free to keep choosing among drawings."""
        cfg, p = self.config, self.parts
        gen = _step_generator(cfg.seed, self.step, p.ctx.rank, RECON_STREAM)
        candidates = torch.cat([z[None], torch.randn(cfg.recon_samples - 1, *z.shape, generator=gen).to(z.device)])
        with torch.no_grad(), p.autocast():
            distances = torch.stack([reconstruction_distances(p.generator(c, sentence), real, cfg.recon_size)
                                     for c in candidates])
        return candidates[distances.argmin(0), torch.arange(z.shape[0], device=z.device)]

    def train_step(self, images: torch.Tensor, captions: Sequence[str]) -> dict[str, float]:
        """One D step and one G step on a batch; returns the losses (this rank's values)."""
        cfg, p = self.config, self.parts
        device, clip = p.ctx.device, p.model.clip
        real = images.to(device, non_blocking=True)
        sentence = p.sentences(captions)
        z = _noise(cfg.seed, self.step, p.ctx.rank, real.shape[0], p.model.config.z_dim).to(device)
        if cfg.recon_weight > 0 and cfg.recon_samples > 1:
            z = self._nearest_noise(z, sentence, real)
        policy = parse_policy(cfg.augment)
        aug = _step_generator(cfg.seed, self.step, p.ctx.rank, AUGMENT_STREAM) if policy else None
        with p.autocast():
            with torch.no_grad():
                real_features, _ = clip.image_features(diff_augment(real, policy, aug), with_embedding=False)
            fake = p.generator(z, sentence)
            # float32 pixels into CLIP's preprocessing (CPU has no bf16 antialiased resize); its
            # blocks still run in the autocast dtype. --augment: D (and so G) sees augmented fakes.
            fake_features, fake_embedding = clip.image_features(diff_augment(fake.float(), policy, aug),
                                                                with_embedding=True)
            if p.feature_d is not None:  # --feature-d: the pretrained network's maps, computed once too
                faug = _step_generator(cfg.seed, self.step, p.ctx.rank, FEATURE_AUGMENT_STREAM)
                with torch.no_grad():
                    real_maps = p.feature_network(diff_augment(real, FEATURE_AUGMENT, faug))
                fake_maps = p.feature_network(diff_augment(fake.float(), FEATURE_AUGMENT, faug))

        # discriminator step (with --feature-d, D_F's heads learn in the same step: disjoint parameters)
        p.opt_d.zero_grad(set_to_none=True)
        scale = p.scalers["d"].get_scale() if p.scalers else None
        d = discriminator_loss(p.discriminator, real_features, fake_features, sentence, cfg.loss, p.autocast, scale)
        d_total, fd = d.total, None
        if p.feature_d is not None:
            fd = feature_discriminator_loss(p.feature_d, real_maps, fake_maps, sentence, p.autocast)
            d_total = d_total + fd.total
        d_ok = self._check_finite(d_total, "discriminator")
        if d_ok or p.scalers is not None:
            self._update(d_total, p.opt_d, "d")

        # generator step, through the updated discriminator(s) (their weights need no gradient here)
        p.opt_g.zero_grad(set_to_none=True)
        g_extra: dict[str, float] = {}
        with _weights_frozen(p.discriminator, *([p.feature_d] if p.feature_d is not None else [])):
            g = generator_loss(_unwrap(p.discriminator), fake_features, fake_embedding, sentence, cfg.loss, p.autocast)
            g_total = g.total
            if p.feature_d is not None:
                g_fd = feature_generator_loss(_unwrap(p.feature_d), fake_maps, sentence, p.autocast)
                weight = cfg.feature_d_weight_at(self.step)
                g_total = g_total + weight * g_fd
                g_extra = {"loss_g_fd": float(g_fd.detach()), "fd_weight": weight}
            if cfg.recon_weight > 0:
                recon = reconstruction_loss(fake, real, cfg.recon_size)
                g_total = g_total + cfg.recon_weight * recon
                g_extra["loss_recon"] = float(recon.detach())
            g_ok = self._check_finite(g_total, "generator")
            if g_ok or p.scalers is not None:
                self._update(g_total, p.opt_g, "g")
        if p.ema is not None:
            self._update_ema()
        if d_ok and g_ok:
            self.nonfinite_streak = 0
        # loss_d and loss_g stay GALIP's own terms; D_F's are loss_fd* and loss_g_fd (times fd_weight in L_G)
        losses = {**d.items(), **g.items(), **(fd.items() if fd is not None else {}), **g_extra}
        if p.scalers is not None:
            losses["scale_d"], losses["scale_g"] = p.scalers["d"].get_scale(), p.scalers["g"].get_scale()
        return losses


# ------------------------------------------------------------------------------------------ the loop
class TrainLoop(Stepper):
    """Runs a :class:`~.setup.RunSetup`: steps until ``steps``/``epochs`` are done, the time limit
    is reached or a stop signal arrives, with sample grids, evaluations and checkpoints on the main
    process. ``callbacks`` run after every step on every rank."""

    def __init__(self, setup: RunSetup, callbacks: Sequence[Callable[[StepInfo], None]] = ()):
        super().__init__(setup.config, setup.parts, setup.run_dir, setup.position.step)
        self.setup = setup
        self.data = setup.data
        self.callbacks = list(callbacks)
        self.epoch, self.epoch_step = setup.position.epoch, setup.position.epoch_step
        self.best = setup.position.best
        self.last_saved_step = setup.position.last_saved_step
        self.evaluator = setup.evaluator
        self.last_metrics: dict[str, float] = {}
        self.done = {"samples": -1, "eval": -1}

    def _print(self, *args: Any) -> None:
        say(self.ctx, *args)

    # ---------------------------------------------------------------- outputs
    @torch.no_grad()
    def _generate(self, noise: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        gen = self.sampling_generator
        out = []
        for i in range(0, len(captions), 16):
            s = self.parts.sentences(captions[i : i + 16])
            out.append(gen(noise[i : i + 16].to(self.ctx.device), s).float().cpu())
        return torch.cat(out)

    def save_samples(self) -> Path:
        inputs, columns = self.setup.samples, self.config.sample_noise
        images = self._generate(inputs.noise, [c for c in inputs.captions for _ in range(columns)])
        path = self.run_dir.samples / f"step_{self.step:06d}.png"
        recipe = {"kind": "training samples", "step": self.step, "captions": inputs.captions, "noise_seed": self.config.seed}
        save_png(make_grid(to_pil(images), nrow=columns), path, recipe)
        return path

    def evaluate(self) -> dict[str, float]:
        if self.evaluator is None:  # a process that was not set up to evaluate (a callback asks)
            self.evaluator = build_evaluator(self.config, self.ctx, self.data, self.model.clip)
        z_dim, sentences = self.model.config.z_dim, self.parts.sentences
        metrics = self.evaluator(self.sampling_generator, sentences, z_dim)
        if self.ema is not None:  # the trained weights too, on the same noise and captions: what the average gains
            raw = self.evaluator(self.model.generator, sentences, z_dim)
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

    def _training_state(self) -> dict[str, Any]:
        p = self.parts
        return {
            "format": TRAIN_STATE_FORMAT,
            "version": 1,
            "step": self.step,
            "epoch": self.epoch,
            "epoch_step": self.epoch_step,
            "world_size": p.ctx.world_size,
            "batch_size": self.config.batch_size,
            "optimizer_g": p.opt_g.state_dict(),
            "optimizer_d": p.opt_d.state_dict(),
            "scaler_g": p.scalers["g"].state_dict() if p.scalers else None,
            "scaler_d": p.scalers["d"].state_dict() if p.scalers else None,
            "best": self.best,
            "ema": self.config.ema,
            # with a moving average, the checkpoint's generator is the average; these are the trained weights
            "generator_train": p.model.generator.state_dict() if p.ema is not None else None,
        }

    def save(self, metrics: dict[str, float] | None = None) -> Path:
        """Write a checkpoint of the current step (main process only) and update the pointers."""
        path = self.run_dir.step_dir(self.step)
        buf = io.BytesIO()
        better = metrics is not None and self._is_better(metrics)
        if metrics is not None and better:
            self.best = {"metric": self.config.best_metric, "value": metrics[self.config.best_metric], "step": self.step}
        torch.save(self._training_state(), buf)
        training = {
            "step": self.step,
            "epoch": self.epoch,
            "images_seen": self.step * self.config.batch_size * self.ctx.world_size,
            "data": str(self.config.data_dir),
            "run": str(self.run_dir.root),
            **{k: v for k, v in self.parts.source.items() if k != "resumed_from"},
            "metrics": metrics or self.last_metrics,
            "amp": self.amp,
            "real_size": self.data.real_size,
            "ema": self.config.ema,
            "recipe": self.config.recipe(),
        }
        extra_files = {TRAINING_STATE_FILE: buf.getvalue()}
        if self.parts.feature_d is not None:  # its heads (and fixed projection), so --resume and --init continue them
            from safetensors.torch import save as safetensors_bytes

            fd = _unwrap(self.parts.feature_d)
            training["feature_d"] = fd.config.to_dict()
            extra_files[FEATURE_D_FILE] = safetensors_bytes({k: v.detach().cpu().contiguous() for k, v in fd.state_dict().items()})
        save_checkpoint(self.model, path, training=training, extra_files=extra_files, generator=self.ema)
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

    def begin(self, logger: RunLogger) -> None:
        """Main process, before the first step: say what is trained how, log the start, sample step 0."""
        cfg, ctx, model, data = self.config, self.ctx, self.model, self.data
        resumed = self.setup.resume_from is not None
        counts = model.parameter_counts()
        self._print(
            f"{'resuming at step ' + str(self.step) if resumed else 'training from ' + str(self.parts.source.get('init'))}: "
            f"{model.config.img_size} px GALIP, generator {counts['generator']:,} / discriminator "
            f"{counts['discriminator'] + counts['quality_assessor']:,} trainable parameters; device {ctx.device} "
            f"x{ctx.world_size}, amp {self.amp}, {torch.get_num_threads()} threads, batch {cfg.batch_size}"
            f"{' per process' if ctx.distributed else ''}, {data.sampler.steps_per_epoch} steps/epoch, "
            f"{data.total_steps if data.total_steps is not None else 'unlimited (Ctrl-C saves and stops)'} steps"
            f"{', time limit ' + format_minutes(cfg.time_limit) if cfg.time_limit else ''}"
        )
        logger.log({"event": "resume" if resumed else "start", "step": self.step, "data": data.report.counts(),
                    "usable": data.report.usable, "world_size": ctx.world_size, "amp": self.amp, "recipe": cfg.recipe()})
        if self.step == 0 and cfg.sample_every:
            self.save_samples()
            self.done["samples"] = 0

    def run(self, logger: RunLogger | None) -> str:
        """Train to the end, the time limit or a stop signal; ``logger`` is the main process's (None
        elsewhere). Returns ``"finished"``, ``"time limit"`` or ``"interrupted"`` (in both of the
        latter a checkpoint of the last step is saved). The time limit counts from here, after the
        setup; all ranks stop at the same step when any rank's clock has passed it."""
        cfg, ctx, data = self.config, self.ctx, self.data
        total = data.total_steps
        bar = step_bar(total, initial=self.step, enabled=ctx.is_main and cfg.progress)
        sums: dict[str, float] = {}
        count, t_last, failed_total = 0, time.perf_counter(), 0
        stopper = StopSignal()
        status = "finished"
        limit_s = cfg.time_limit * 60.0 if cfg.time_limit else None
        started = wall_clock()
        with stopper.installed():
            while total is None or self.step < total:
                data.sampler.set_position(self.epoch, self.epoch_step)
                iterator = iter(data.loader)
                while total is None or self.step < total:
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
                    # past the time limit with steps still to go (reaching the last step just finishes)
                    late = (limit_s is not None and wall_clock() - started >= limit_s
                            and (total is None or self.step < total))
                    stop, n_failed, out_of_time = ctx.all_reduce_sum(
                        [float(stopper.requested), float(len(batch.failed)), float(late)])
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
                    if stop or out_of_time:
                        status = "interrupted" if stop else "time limit"
                        break
                    self._after_step(logger, final=False)
                if self.epoch_step >= data.sampler.steps_per_epoch:
                    self.epoch, self.epoch_step = self.epoch + 1, 0
                if status == "finished" and stopper.requested:
                    status = "interrupted"
                if status != "finished":
                    break
            bar.close()
            if logger is not None:  # the main process
                if status != "finished":  # a stop signal or the time limit: save the last step
                    if self.last_saved_step != self.step:
                        path = self.save()
                        logger.log({"event": "checkpoint", "step": self.step, "path": str(path)})
                    if status == "time limit":
                        why = f"time limit of {format_minutes(cfg.time_limit)} reached at step {self.step}"
                    else:
                        why = f"stopped at step {self.step} ({stopper.signal_name or 'signal'})"
                    self._print(f"{why}; checkpoint saved in {self.run_dir.checkpoints}; continue with --resume latest")
                else:
                    self._after_step(logger, final=True)
                stop_event = {"event": "stop", "step": self.step, "status": status}
                if status == "time limit":
                    stop_event["time_limit_min"] = cfg.time_limit
                logger.log(stop_event)
            ctx.barrier()
        return status


# ------------------------------------------------------------------------------------------ entry point
def build_stepper(config: TrainConfig, resume_from: Path | None = None) -> Stepper:
    """The model, optimizers and loss scalers of ``config`` (or of the checkpoint ``resume_from``) on
    this process's device, for training steps by hand (benchmarks and tests): ``stepper.train_step``."""
    parts, _ = build_parts(config, setup_distributed(config.device), resume_from)
    return Stepper(config, parts, RunDirectory(config.out))


class Trainer:
    """Train GALIP: ``Trainer(config).run()``. ``config`` is a :class:`TrainConfig` (planned by
    :meth:`run` with :func:`~.plan.plan_run`) or a :class:`~.plan.RunPlan` (the command line's, which
    ``--dry-run`` printed). ``callbacks`` run after every step on every rank and get a
    :class:`StepInfo`. After :meth:`run`, ``loop`` is the :class:`TrainLoop` that ran (model, step,
    position)."""

    def __init__(self, config: TrainConfig | RunPlan, callbacks: Sequence[Callable[[StepInfo], None]] = ()):
        self.plan = config if isinstance(config, RunPlan) else None
        self.config = config.config if isinstance(config, RunPlan) else config
        self.callbacks = list(callbacks)
        self.loop: TrainLoop | None = None

    def run(self) -> TrainResult:
        """Train until ``steps``/``epochs`` are done, the time limit is reached or a stop signal
        arrives; returns a summary."""
        plan = self.plan or plan_run(self.config)
        run_dir = plan.run_dir
        ctx = setup_distributed(self.config.device)
        logger: RunLogger | None = None
        try:
            loop = self.loop = TrainLoop(prepare_run(plan, ctx), self.callbacks)
            if ctx.is_main:
                logger = RunLogger(run_dir.log_path, self.config.tensorboard, append=plan.resume_from is not None)
                loop.begin(logger)
            try:
                status = loop.run(logger)
            except NonFiniteLossError as e:
                if logger is not None:
                    logger.log({"event": "stop", "step": loop.step, "status": "non-finite loss", "error": str(e)})
                raise
            return TrainResult(
                steps=loop.step,
                epoch=loop.epoch,
                status=status,
                last_checkpoint=run_dir.latest() if ctx.is_main else None,
                best_checkpoint=run_dir.pointer_target("best") if ctx.is_main else None,
                metrics=loop.last_metrics,
            )
        finally:
            if logger is not None:
                logger.close()
            ctx.close()
