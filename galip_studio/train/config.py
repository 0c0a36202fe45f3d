"""Training settings: one dataclass, resolved from defaults, a preset's training defaults, a resumed
run's saved settings and explicit command-line options (in that order of precedence, lowest first)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..config import DictConfig, get_preset, preset_names
from ..datasets.folders import LAYOUT_CHOICES
from ..device import AMP_CHOICES
from ..nets.feature_discriminator import FEATURE_D_CHOICES, FeatureDConfig
from .augment import parse_policy
from .data import OFFICIAL_RESIZE_RATIO
from .losses import LossConfig

DEFAULT_PRESET = "small-64"
BEST_METRICS = {"clip_fd": "min", "clip_score": "max", "fid": "min"}
# Settings that may differ when resuming without breaking an exact continuation.
RESUME_OVERRIDABLE = frozenset(
    {
        "steps", "epochs", "log_every", "sample_every", "save_every", "keep_last", "eval_every", "eval_images",
        "eval_batch_size", "inception_weights", "workers", "threads", "progress", "tensorboard", "resume",
        "clip_weights", "device", "text_cache_size", "text_cache", "ema", "time_limit",
    }
)
# Settings that may also differ when resuming with --new-data (the data and how it is drawn).
RESUME_NEW_DATA = frozenset({"balance"})
# Weights that may change when resuming, from that step on (a schedule by hand: e.g. lower the paired
# term once the shapes have formed); everything else continues exactly, and each start's log line
# records the recipe it ran with.
RESUME_SCHEDULE = frozenset({"recon_weight"})
# The settings that shape the weights (data transform, objective, optimizers, schedule): every step
# checkpoint records them under training.recipe in its config.json, and `convert` keeps them, so a
# released model says how its last stage was trained.
RECIPE_FIELDS = (
    "preset", "resize_ratio", "flip", "flip_exclude", "balance", "lr_g", "lr_d", "beta1", "beta2", "sim_weight",
    "gp_weight", "gp_power", "ema", "augment", "feature_d", "feature_d_size", "feature_d_weight", "feature_d_ramp",
    "recon_weight", "recon_size", "recon_samples", "batch_size", "seed",
)
# Every other setting, and why it is not in the recipe (a test keeps the two lists covering every
# TrainConfig field, so a new setting must be placed in one of them): where the data and the run are
# and how they are read; the network, its CLIP and its start, which the checkpoint's own config and
# training metadata (init, real_size, amp) already record; how long and on what it ran; logging,
# samples, checkpoints and evaluation, which do not change the weights.
NOT_RECIPE_FIELDS = (
    "data_dir", "out", "layout", "split", "verify_images", "workers", "text_cache_size", "text_cache", "resume",
    "clip", "clip_model", "clip_weights", "clip_preprocess", "init", "img_size", "ngf", "ndf", "z_dim", "real_size",
    "steps", "epochs", "time_limit", "device", "amp", "threads", "channels_last", "scaler_min",
    "log_every", "sample_every", "sample_captions", "sample_noise", "save_every", "keep_last", "eval_every",
    "eval_images", "eval_batch_size", "eval_data", "best_metric", "inception_weights", "tensorboard", "progress",
)
_DURATION = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*([smh]?)\s*", re.IGNORECASE)
_MINUTES_PER_UNIT = {"s": 1 / 60, "m": 1.0, "": 1.0, "h": 60.0}


def parse_duration(text: str) -> float:
    """Minutes in a duration: plain minutes (``9``, ``9.5``) or a number with ``s``, ``m`` or ``h``
    (``90s``, ``10m``, ``1.5h``). Zero, negative and anything else raise ``ValueError``."""
    match = _DURATION.fullmatch(str(text))
    if match is None:
        raise ValueError(f"{text!r} is not a duration: give minutes (9, 9.5) or a number with s, m or h (90s, 10m, 1.5h)")
    minutes = float(match.group(1)) * _MINUTES_PER_UNIT[match.group(2).lower()]
    if not minutes > 0:
        raise ValueError(f"a time limit must be more than zero, got {text!r}")
    return minutes


def format_minutes(minutes: float) -> str:
    """``1.5`` -> ``"1.5 min"``, under a minute in seconds (``0.25`` -> ``"15 s"``)."""
    return f"{round(minutes * 60, 3):g} s" if minutes < 1 else f"{round(minutes, 3):g} min"


@dataclass
class TrainConfig(DictConfig):
    """Every setting of a training run (``galip-studio train --help`` documents each)."""

    FIELDS_NAME = "training settings"

    data_dir: str
    out: str
    # data
    layout: str = "auto"
    split: str = "train"
    real_size: int | None = None  # side of real images; None: 256 for a 224 px model (official), else the output size
    resize_ratio: float = OFFICIAL_RESIZE_RATIO
    flip: bool = True
    flip_exclude: str | None = None  # regex: never flip samples with a matching caption
    verify_images: bool = True
    balance: float = 0.0  # re-balance folders: 0 off, 1 every folder the same share of an epoch (data.balance_weights)
    workers: int | None = None  # None: 0 on CPU, up to 4 per process on GPU
    # model
    preset: str = DEFAULT_PRESET
    clip: str | None = None  # a CLIP directory written by ClipBackbone.save_pretrained
    clip_model: str | None = None  # an open_clip model name (replaces the preset's CLIP)
    clip_weights: str | None = None  # open_clip tag, local weights file, or "random"
    clip_preprocess: str | None = None  # "official" or "standard" (default: the preset's / standard)
    init: str | None = None  # fine-tune from our checkpoint directory or an official .pth
    img_size: int | None = None
    ngf: int | None = None
    ndf: int | None = None
    z_dim: int | None = None
    # objective and optimizers (paper defaults)
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.9
    sim_weight: float = 4.0
    gp_weight: float = 2.0
    gp_power: float = 6.0
    ema: float = 0.0  # decay of an exponential moving average of G's weights (0: off, as in the paper)
    augment: str | None = None  # differentiable augmentation of what D sees, e.g. "translation,cutout"
    # a second discriminator over a frozen pretrained network's features (Projected GAN); "none": the paper
    feature_d: str = "none"
    feature_d_size: int = 128  # side the images are resized to for the feature network
    feature_d_weight: float = 1.0  # weight of its term in L_G
    feature_d_ramp: int = 0  # the weight rises linearly from 0 over this many steps of the run (0: at once)
    # paired reconstruction: L1 between each fake and the real image its caption came from; 0: the paper
    recon_weight: float = 0.0
    recon_size: int = 0  # compare at this side (layout and colour only); 0: the model's side
    recon_samples: int = 1  # draw this many noises per caption and train on the nearest (conditional IMLE)
    # schedule
    batch_size: int = 32  # per process
    steps: int | None = None  # total optimizer steps; with neither steps nor epochs: until Ctrl-C
    epochs: float | None = None
    time_limit: float | None = None  # minutes of training steps per invocation (a resumed run does not inherit it)
    seed: int = 100
    # precision and speed
    device: str | None = None
    amp: str = "auto"
    threads: int | None = None
    channels_last: bool = False
    text_cache_size: int = 200_000
    text_cache: str | None = None  # sentence vectors written by `galip-studio text-cache` (same vectors, no text tower run)
    scaler_min: float = 64.0  # fp16: a loss scale below this is reset to 16384 (official)
    # outputs
    log_every: int = 10
    sample_every: int = 500
    sample_captions: int = 8
    sample_noise: int = 8
    save_every: int = 1000
    keep_last: int = 3
    eval_every: int | None = None  # None: at every checkpoint; 0: never
    eval_images: int = 256
    eval_batch_size: int | None = None
    eval_data: str | None = None  # default: the training data
    best_metric: str = "clip_fd"
    inception_weights: str | None = None
    tensorboard: bool = True
    progress: bool = True
    resume: str | None = None  # "latest", "auto" or a checkpoint directory

    def __post_init__(self) -> None:
        if self.layout not in LAYOUT_CHOICES:
            raise ValueError(f"layout must be one of {', '.join(LAYOUT_CHOICES)}, got {self.layout!r}")
        if self.amp not in AMP_CHOICES:
            raise ValueError(f"amp must be one of {', '.join(AMP_CHOICES)}, got {self.amp!r}")
        if self.best_metric not in BEST_METRICS:
            raise ValueError(f"best metric must be one of {', '.join(BEST_METRICS)}, got {self.best_metric!r}")
        if self.clip_preprocess not in (None, "official", "standard"):
            raise ValueError(f"clip preprocess must be 'official' or 'standard', got {self.clip_preprocess!r}")
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give --steps or --epochs, not both")
        if isinstance(self.time_limit, str):
            self.time_limit = parse_duration(self.time_limit)
        elif self.time_limit is not None:
            if not (math.isfinite(self.time_limit) and self.time_limit > 0):
                raise ValueError(f"time_limit is in minutes and must be more than zero, got {self.time_limit}")
            self.time_limit = float(self.time_limit)
        if self.clip is not None and self.clip_model is not None:
            raise ValueError("give --clip DIR or --clip-model NAME, not both")
        positive = {"batch_size": self.batch_size, "log_every": self.log_every, "sample_captions": self.sample_captions,
                    "sample_noise": self.sample_noise, "eval_images": self.eval_images}
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        for name in ("sample_every", "save_every", "keep_last"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (off) or positive")
        if not (math.isfinite(self.balance) and 0.0 <= self.balance <= 1.0):
            raise ValueError(f"balance is a strength in [0, 1] (0: off; 1: every folder the same share), got {self.balance}")
        if self.feature_d not in FEATURE_D_CHOICES:
            raise ValueError(f"feature_d must be one of {', '.join(FEATURE_D_CHOICES)}, got {self.feature_d!r}")
        _ = self.feature_d_config  # FeatureDConfig checks the input size
        if not (math.isfinite(self.feature_d_weight) and self.feature_d_weight >= 0):
            raise ValueError(f"feature_d_weight must be zero or positive, got {self.feature_d_weight}")
        if not (math.isfinite(self.recon_weight) and self.recon_weight >= 0):
            raise ValueError(f"recon_weight must be zero (off) or positive, got {self.recon_weight}")
        if not 0 <= self.recon_size <= 1024:
            raise ValueError(f"recon_size is a side in pixels, 1-1024 (0: the model's side), got {self.recon_size}")
        if not 1 <= self.recon_samples <= 64:
            raise ValueError(f"recon_samples is a number of noise draws per caption, 1-64, got {self.recon_samples}")
        if self.feature_d_ramp < 0:
            raise ValueError(f"feature_d_ramp is a number of steps, zero or more, got {self.feature_d_ramp}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema is a decay in [0, 1) (0: off; e.g. 0.998), got {self.ema}")
        self.augment = ",".join(parse_policy(self.augment)) or None  # validates; one spelling
        if self.best_metric == "fid" and not self.inception_weights:
            raise ValueError("--best-metric fid needs --inception-weights")

    def recipe(self) -> dict[str, Any]:
        """The settings of :data:`RECIPE_FIELDS`, by name."""
        return {name: getattr(self, name) for name in RECIPE_FIELDS}

    @property
    def loss(self) -> LossConfig:
        return LossConfig(sim_weight=self.sim_weight, gp_weight=self.gp_weight, gp_power=self.gp_power)

    @property
    def feature_d_config(self) -> FeatureDConfig | None:
        """The feature discriminator of ``--feature-d``, or None (the paper's objective)."""
        if self.feature_d == "none":
            return None
        return FeatureDConfig(self.feature_d, self.feature_d_size)

    def feature_d_weight_at(self, step: int) -> float:
        """The weight of the feature discriminator's term in L_G at (0-based) ``step`` of the run."""
        if self.feature_d_ramp <= 0:
            return self.feature_d_weight
        return self.feature_d_weight * min(1.0, (step + 1) / self.feature_d_ramp)

    @property
    def effective_eval_every(self) -> int:
        return self.save_every if self.eval_every is None else self.eval_every



def resolve_train_config(
    explicit: dict[str, Any], saved: dict[str, Any] | None = None, new_data: bool = False
) -> TrainConfig:
    """Merge settings: field defaults < the preset's ``training`` dict < ``saved`` (a resumed run's
    config) < ``explicit`` (options given on the command line or by the caller). Without an explicit
    preset, a fine-tune (``init``) takes the preset its checkpoint was trained with.

    When resuming, explicit options that would change the model, the data or the objective are
    refused: an exact continuation needs the same settings; ``new_data`` (``--new-data``) also lets
    the data and how it is drawn (``balance``) change. The saved ``time_limit`` is not inherited (it
    is the budget of one invocation).
    """
    merged: dict[str, Any] = {}
    if saved is not None:
        allowed = RESUME_OVERRIDABLE | RESUME_SCHEDULE | {"data_dir", "out"} | (RESUME_NEW_DATA if new_data else frozenset())
        # a setting newer than the run's config.json was at its default there
        defaults = {f.name: f.default for f in fields(TrainConfig)}
        changed = sorted(k for k, v in explicit.items() if k not in allowed and saved.get(k, defaults.get(k)) != v)
        if changed:
            raise ValueError(
                f"cannot change {', '.join(changed)} when resuming (the run was started with "
                + ", ".join(f"{k}={saved.get(k, defaults.get(k))!r}" for k in changed)
                + "); start a new run with --init CHECKPOINT to fine-tune with new settings"
                + ("" if new_data or not RESUME_NEW_DATA & set(changed) else
                   f", or pass --new-data to change {', '.join(sorted(RESUME_NEW_DATA & set(changed)))}")
            )
        merged.update(saved)
        merged["time_limit"] = None  # a budget of one invocation: given again or none
        if "steps" in explicit or "epochs" in explicit:
            merged["steps"], merged["epochs"] = None, None
    else:
        preset = explicit.get("preset") or (explicit.get("init") and init_preset(explicit["init"])) or DEFAULT_PRESET
        training = dict(get_preset(preset).training)
        if explicit.get("init"):
            training.pop("clip", None)  # a fine-tune's CLIP is the checkpoint's
        merged.update(training, preset=preset)
    merged.update(explicit)
    return TrainConfig.from_dict(merged)


def init_preset(init: str) -> str | None:
    """The preset whose training defaults a fine-tune from ``init`` takes when no ``--preset`` is
    given: ``official-224`` for an official ``.pth``, else the preset our checkpoint directory
    records it was trained with (``None`` when it records none we know)."""
    from ..checkpoint import read_config

    if Path(init).is_file():
        return "official-224"
    preset = read_config(init).get("training", {}).get("preset")
    return preset if preset in preset_names() else None
