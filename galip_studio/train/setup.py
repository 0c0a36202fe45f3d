"""Everything a training run needs before its first step, built in one go.

:func:`prepare_run` takes a :class:`~.plan.RunPlan` (what to resume, the settings, the scanned data)
and builds the model with its optimizers, loss scalers, moving average and sentence cache
(:class:`TrainParts`), the data (:class:`TrainData`), the position to continue from
(:class:`Position`), the fixed sample inputs and the evaluator, and writes the run directory's
settings and sample files. It returns a :class:`RunSetup` whose parts
all exist, for :class:`~galip_studio.train.trainer.Trainer` to run. :func:`build_parts` alone is
what a benchmark of bare steps needs.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Sequence

import torch
from torch import nn

from .. import __version__
from ..checkpoint import FEATURE_D_FILE, CheckpointError, load_into, read_config, read_train_state
from ..clip_backbone import ClipBackbone, WeightsUnavailable, file_in_folder
from ..config import ClipConfig, GALIPConfig, get_preset
from ..datasets.folders import DataReport, Sample, scan_dataset
from ..device import autocast_factory, resolve_amp
from ..export import make_grid, save_png, to_pil
from ..files import write_atomic
from ..nets import GALIP
from ..nets.feature_discriminator import FeatureDiscriminator, FeatureNetwork, build_feature_discriminator
from ..official import load_model
from ..text_cache import SentenceCache, TextCacheError
from .config import TrainConfig
from .data import Balance, ImageCaptionDataset, ImageTransform, ShardedBatchSampler, collate, fixed_captions
from .evaluate import EvalConfig, Evaluator, load_inception
from .plan import RunPlan
from .rundir import RunDirectory
from .runtime import DistContext

TEXT_CHUNK = 32  # captions are encoded in padded chunks of this many rows (see SentenceCache)


def say(ctx: DistContext, *args: Any) -> None:
    """Print a line to stderr from the main process only."""
    if ctx.is_main:
        print(*args, file=sys.stderr, flush=True)


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
        try:
            clip = ClipBackbone.from_config(clip_cfg)
        except WeightsUnavailable as e:
            from ..pipeline import default_checkpoint_dir

            raise WeightsUnavailable(f"{e}; or, with no network, fine-tune the bundled model: --init {default_checkpoint_dir()}") from e
        source = {"clip": clip_cfg.name or "custom", "clip_weights": clip_cfg.pretrained or "random"}
    return GALIP(galip_cfg, clip), {"init": "scratch", "preset": config.preset, **source}


@dataclass
class TrainParts:
    """What a training step uses, on this process's device."""

    ctx: DistContext
    model: GALIP
    source: dict[str, Any]  # where the weights came from, recorded in every checkpoint
    generator: nn.Module  # model.generator, wrapped for DDP under torchrun
    discriminator: nn.Module  # model.discriminator, likewise
    ema: nn.Module | None  # the moving average of G (--ema); None when the run keeps none
    amp: str
    autocast: Callable[[], ContextManager]
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scalers: dict[str, torch.amp.GradScaler] | None  # the loss scalers of G and D; fp16 only
    sentences: SentenceCache
    # --feature-d: the frozen pretrained network and the discriminator over its features (wrapped for
    # DDP under torchrun; its heads are trained by opt_d with D); None for the paper's objective
    feature_network: FeatureNetwork | None = None
    feature_d: nn.Module | None = None


def _moving_average(model: GALIP, config: TrainConfig, state: dict[str, Any] | None, ctx: DistContext) -> nn.Module | None:
    """The moving average of G (``--ema``). A checkpoint of a run with one stores the average as its
    generator (what inference, ``convert`` and fine-tuning load) and the trained weights in its
    training state; resuming puts each back in its place. Turned on when resuming a run without
    one, it starts from the checkpoint's generator."""
    gen = model.generator
    ema = None
    if config.ema > 0:  # the CLIP is shared and frozen, not part of the copy
        ema = copy.deepcopy(gen, memo={id(model.clip): model.clip}).requires_grad_(False).eval()
    trained = state.get("generator_train") if state else None
    if trained is not None:
        gen.load_state_dict(trained)
        if ema is None:
            say(ctx, "note: this run kept a moving average of G; training goes on without one (--ema 0)")
    return ema


def _feature_discriminator(
    config: TrainConfig, model: GALIP, resume_from: Path | None, ctx: DistContext
) -> tuple[FeatureNetwork, FeatureDiscriminator] | tuple[None, None]:
    """The feature discriminator of ``--feature-d``: its heads from the checkpoint when resuming,
    from ``--init`` when that checkpoint has heads of the same network and input size, else fresh."""
    fcfg = config.feature_d_config
    if fcfg is None:
        return None, None
    network, fd = build_feature_discriminator(fcfg, model.clip.embed_dim)
    source = resume_from
    if source is None and config.init and Path(config.init).is_dir() and (Path(config.init) / FEATURE_D_FILE).is_file():
        training = read_config(config.init).get("training", {})
        saved = training.get("feature_d") if isinstance(training, dict) else None
        if saved == fcfg.to_dict():
            source = Path(config.init)
        else:
            say(ctx, f"note: {config.init} has a feature discriminator of another kind ({saved}); starting fresh heads")
    if source is not None:
        path = file_in_folder(source, FEATURE_D_FILE)  # not through a symbolic link out of the checkpoint
        if path is None:
            raise CheckpointError(f"{Path(source) / FEATURE_D_FILE} lies outside its checkpoint folder (a symbolic link); copy the file in")
        if resume_from is not None and not path.is_file():
            raise CheckpointError(f"{resume_from} has no {FEATURE_D_FILE}, though its run trains with --feature-d {fcfg.network}")
        load_into(fd, path, "feature discriminator")
    return network, fd


def build_parts(config: TrainConfig, ctx: DistContext, resume_from: Path | None = None) -> tuple[TrainParts, dict[str, Any] | None]:
    """Build (or load, to resume) the model, optimizers and loss scalers on ``ctx``'s device, wrapped
    for DDP under torchrun. Also returns the saved training state when resuming (see :func:`restore`)."""
    if config.threads:
        torch.set_num_threads(config.threads)
    state = None
    if resume_from is not None:
        model, info = load_model(resume_from, config.clip_weights)
        kept = ("init", "init_kind", "init_step", "preset", "clip", "clip_weights", "clip_dir")
        source = {k: v for k, v in info["training"].items() if k in kept}
        source["resumed_from"] = str(resume_from)
        state = read_train_state(resume_from)
    else:
        model, source = build_model(config)
    model.to(ctx.device)
    if config.channels_last:
        model.generator.to(memory_format=torch.channels_last)
    ema = _moving_average(model, config, state, ctx)
    amp = resolve_amp(config.amp, ctx.device)
    # fused Adam (one kernel over all parameters, CPU and CUDA): same update, less per-tensor overhead
    adam = {"betas": (float(config.beta1), float(config.beta2)), "fused": ctx.device.type in ("cpu", "cuda")}
    feature_network, feature_d = _feature_discriminator(config, model, resume_from, ctx)
    d_params = list(model.discriminator.parameters())
    if feature_d is not None:
        feature_network.to(ctx.device)
        feature_d.to(ctx.device)
        d_params += [p for p in feature_d.parameters() if p.requires_grad]  # its heads, after D's own
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=config.lr_g, **adam)
    opt_d = torch.optim.Adam(d_params, lr=config.lr_d, **adam)
    scalers = None
    if amp == "fp16":
        scalers = {n: torch.amp.GradScaler(ctx.device.type, growth_interval=2000) for n in ("g", "d")}
    generator: nn.Module = model.generator
    discriminator: nn.Module = model.discriminator
    if ctx.distributed:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        generator = nn.parallel.DistributedDataParallel(generator, device_ids=ids, broadcast_buffers=False)
        discriminator = nn.parallel.DistributedDataParallel(discriminator, device_ids=ids, broadcast_buffers=False)
        if feature_d is not None:
            feature_d = nn.parallel.DistributedDataParallel(feature_d, device_ids=ids, broadcast_buffers=False)
    sentences = SentenceCache(model.clip, config.text_cache_size, chunk=TEXT_CHUNK)
    if config.text_cache:
        count = sentences.load(config.text_cache)
        say(ctx, f"sentence vectors: {count} captions from {config.text_cache}")
    parts = TrainParts(
        ctx=ctx, model=model, source=source, generator=generator, discriminator=discriminator, ema=ema, amp=amp,
        autocast=autocast_factory(amp, ctx.device), opt_g=opt_g, opt_d=opt_d, scalers=scalers, sentences=sentences,
        feature_network=feature_network, feature_d=feature_d,
    )
    return parts, state


def write_text_cache(
    config: TrainConfig, data_dirs: Sequence[str], out: str | os.PathLike, device: torch.device,
    progress: Callable[[int, int], None] | None = None, dtype: torch.dtype = torch.float32,
    reuse: str | os.PathLike | None = None,
) -> int:
    """Encode every caption of ``data_dirs`` (scanned with ``config``'s layout and split) with the CLIP
    a run of ``config`` would build, in the trainer's padded chunks, so the vectors are bit for bit
    the ones the trainer computes on ``device``; save them to ``out`` (``train --text-cache``) as
    ``dtype`` (float32, or float16 for half the size). ``reuse``: an earlier file of the same CLIP
    whose vectors are taken instead of encoding those captions again (only the data's captions are
    written). ``progress(done, total)`` is called after each group of chunks. Returns the number
    of captions."""
    captions: dict[str, None] = {}
    for folder in data_dirs:
        samples, report = scan_dataset(folder, config.layout, config.split, verify=False)
        if not samples:
            raise TextCacheError(f"{folder}: no usable image-caption samples ({report.layout} layout)")
        for sample in samples:
            captions.update(dict.fromkeys(sample.captions))
    texts = sorted(captions)
    model, _ = build_model(config)
    clip = model.clip.to(device)
    cache = SentenceCache(clip, max_entries=len(texts), chunk=TEXT_CHUNK)
    if reuse is not None:
        cache.load(reuse)
    missing = [t for t in texts if t not in cache]
    step = TEXT_CHUNK * 16
    for start in range(0, len(missing), step):
        cache(missing[start : start + step])
        if progress is not None:
            progress(len(texts) - len(missing) + min(start + step, len(missing)), len(texts))
    return cache.save(out, dtype, texts=texts)


# ------------------------------------------------------------------------------------------ data
@dataclass
class TrainData:
    """The training images of this process: the scan, the dataset and its sharded loader."""

    samples: list[Sample]
    report: DataReport
    real_size: int
    transform: ImageTransform
    dataset: ImageCaptionDataset
    sampler: ShardedBatchSampler
    loader: torch.utils.data.DataLoader
    workers: int
    total_steps: int | None  # None: until a stop signal


def build_data(
    config: TrainConfig, ctx: DistContext, real_size: int, samples: list[Sample], report: DataReport,
    balance: Balance | None = None,
) -> TrainData:
    """The dataset, sampler and loader of a run over the scanned training folder, with real images of
    ``real_size`` px; ``balance``: the draw weights of ``--balance`` (:func:`~.data.balance_weights`
    of these samples)."""
    transform = ImageTransform(real_size, config.resize_ratio, config.flip)
    dataset = ImageCaptionDataset(samples, transform, seed=config.seed, flip_exclude=config.flip_exclude)
    sampler = ShardedBatchSampler(len(samples), config.batch_size, ctx.world_size, ctx.rank, config.seed,
                                  weights=balance.weights if balance else None)
    workers = config.workers
    if workers is None:
        per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        workers = 0 if ctx.device.type == "cpu" else min(4, max(1, (os.cpu_count() or 1) // per_node))
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=ctx.device.type == "cuda",
        persistent_workers=workers > 0,
    )
    if config.steps is not None:
        total_steps: int | None = config.steps
    elif config.epochs is not None:
        total_steps = max(1, math.ceil(config.epochs * sampler.steps_per_epoch))
    else:
        total_steps = None
    return TrainData(list(samples), report, real_size, transform, dataset, sampler, loader, workers, total_steps)


# ------------------------------------------------------------------------------------------ resume
@dataclass
class Position:
    """Where a run stands: a new run starts at zero, a resumed one where its checkpoint stopped."""

    step: int = 0
    epoch: int = 0
    epoch_step: int = 0
    best: dict[str, Any] | None = None  # the best checkpoint's metric, value and step, once there is one
    last_saved_step: int | None = None


def restore(parts: TrainParts, state: dict[str, Any], config: TrainConfig, steps_per_epoch: int) -> Position:
    """Load the optimizers and loss scalers of a saved training state and return its position."""
    ctx = parts.ctx
    parts.opt_g.load_state_dict(state["optimizer_g"])
    parts.opt_d.load_state_dict(state["optimizer_d"])
    if parts.scalers is not None and state.get("scaler_g") is not None:
        parts.scalers["g"].load_state_dict(state["scaler_g"])
        parts.scalers["d"].load_state_dict(state["scaler_d"])
    step = int(state["step"])
    epoch, epoch_step = int(state["epoch"]), int(state["epoch_step"])
    if int(state.get("world_size", 1)) != ctx.world_size or int(state.get("batch_size", 0)) != config.batch_size:
        old = int(state.get("world_size", 1)) * int(state.get("batch_size", config.batch_size))
        epoch_step = min(steps_per_epoch, epoch_step * old // (config.batch_size * ctx.world_size))
        say(ctx, "note: the global batch changed since the checkpoint; the data order continues approximately")
    if epoch_step >= steps_per_epoch:
        epoch, epoch_step = epoch + 1, 0
    return Position(step=step, epoch=epoch, epoch_step=epoch_step, best=state.get("best"), last_saved_step=step)


# ------------------------------------------------------------------------------------------ outputs
@dataclass
class SampleInputs:
    """The fixed captions (grid rows) and noise (grid columns) of every sample grid of a run."""

    captions: list[str]
    noise: torch.Tensor  # [len(captions) * sample_noise, z_dim], row-major like the grid


def sample_inputs(config: TrainConfig, samples: list[Sample], z_dim: int) -> SampleInputs:
    captions = fixed_captions(samples, config.sample_captions)
    noise = torch.randn(config.sample_noise, z_dim, generator=torch.Generator().manual_seed(config.seed))
    return SampleInputs(captions, noise.repeat(len(captions), 1))


def _write_sample_files(run_dir: RunDirectory, inputs: SampleInputs, dataset: ImageCaptionDataset, columns: int) -> None:
    """``samples/captions.txt`` and, once per run, ``samples/real.png``: real images to compare with."""
    run_dir.samples.mkdir(parents=True, exist_ok=True)
    (run_dir.samples / "captions.txt").write_text("\n".join(inputs.captions) + "\n")
    real_path = run_dir.samples / "real.png"
    if not real_path.exists():
        reals = torch.stack([dataset[i]["image"] for i in range(min(len(dataset), columns * 2))])
        save_png(make_grid(to_pil(reals), nrow=columns), real_path)


def build_evaluator(config: TrainConfig, ctx: DistContext, data: TrainData, clip: ClipBackbone) -> Evaluator:
    """The evaluator of ``--eval-data`` (default: the training data), with Inception when its weights are given."""
    if config.eval_data:
        samples, report = scan_dataset(config.eval_data, config.layout, "test", verify=config.verify_images)
        say(ctx, report.format())
    else:
        samples = data.samples
    dataset = ImageCaptionDataset(samples, dataclasses.replace(data.transform, flip=False), seed=config.seed)
    inception = load_inception(config.inception_weights, ctx.device) if config.inception_weights else None
    eval_cfg = EvalConfig(images=config.eval_images, batch_size=config.eval_batch_size or config.batch_size, seed=config.seed)
    return Evaluator(dataset, clip, eval_cfg, inception)


def _write_run_config(run_dir: RunDirectory, config: TrainConfig, parts: TrainParts, data: TrainData,
                      digest: dict[str, Any] | None) -> None:
    model, ctx = parts.model, parts.ctx
    info = {
        "train": config.to_dict(),
        "galip": model.config.to_dict(),
        "clip": model.clip.to_config_dict(),
        "source": parts.source,
        "data": {**data.report.to_dict(), "digest": digest},  # checked on --resume (plan_run)
        "runtime": {
            "device": str(ctx.device),
            "world_size": ctx.world_size,
            "amp": parts.amp,
            "threads": torch.get_num_threads(),
            "workers": data.workers,
            "real_size": data.real_size,
            "steps_per_epoch": data.sampler.steps_per_epoch,
            "total_steps": data.total_steps,
        },
        "parameters": model.parameter_counts(),
        "versions": {"galip_studio": __version__, "torch": torch.__version__},
    }
    run_dir.root.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir.config_path, json.dumps(info, indent=2, default=str) + "\n")


# ------------------------------------------------------------------------------------------ the run
@dataclass
class RunSetup:
    """A training run ready for its first step."""

    config: TrainConfig
    run_dir: RunDirectory
    resume_from: Path | None  # the checkpoint this run continues; None for a new run
    parts: TrainParts
    data: TrainData
    position: Position
    samples: SampleInputs
    evaluator: Evaluator | None  # None where this process never evaluates (evaluation off, or not rank 0)

    @property
    def ctx(self) -> DistContext:
        return self.parts.ctx


def prepare_run(plan: RunPlan, ctx: DistContext) -> RunSetup:
    """Build the parts and the data of a planned run, restore the position, and (main process) clean
    the run directory of partial writes and write its settings and sample files."""
    config, run_dir, resume_from = plan.config, plan.run_dir, plan.resume_from
    parts, state = build_parts(config, ctx, resume_from)
    data = build_data(config, ctx, plan.real_size, plan.samples, plan.report, balance=plan.balance)
    position = Position() if state is None else restore(parts, state, config, data.sampler.steps_per_epoch)
    say(ctx, data.report.format())
    if plan.balance is not None:
        say(ctx, plan.balance.format(config.data_dir))
    samples = sample_inputs(config, data.samples, parts.model.config.z_dim)
    evaluator = None
    if ctx.is_main:
        if config.effective_eval_every:
            evaluator = build_evaluator(config, ctx, data, parts.model.clip)
        run_dir.clean_partial()
        _write_run_config(run_dir, config, parts, data, plan.digest)
        _write_sample_files(run_dir, samples, data.dataset, config.sample_noise)
    return RunSetup(config, run_dir, resume_from, parts, data, position, samples, evaluator)
