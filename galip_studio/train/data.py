"""Training data: the official image transform, the dataset, folder balance and the sharded sampler.

The folders themselves (layouts, scan report, image loading, the flip rule) are
:mod:`galip_studio.datasets.folders`'. Each fetch draws one caption at random, a random crop of the
image resized so its shorter side is ``int(S * 76 / 64)`` (as the official code does;
docs/training.md, "Data"), and an optional horizontal flip. All of this randomness comes from
``(seed, epoch, index)``, so the data of a step does not depend on the number of loader workers or
on whether the run was resumed. An image that fails to load mid-run is replaced by another sample
(chosen from the same seed) and reported with the batch.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from ..datasets.folders import LOAD_ERRORS, DataError, Sample, flip_allowed, flip_exclude_pattern, load_rgb, to_tensor

# Official resize rule: the shorter side goes to int(S * 76 / 64) before a random S crop.
OFFICIAL_RESIZE_RATIO = 76 / 64


def resize_shorter(image: Image.Image, side: int) -> Image.Image:
    """Resize so the shorter side is ``side`` (bilinear with antialiasing, like torchvision's Resize)."""
    w, h = image.size
    if min(w, h) == side:
        return image
    if w <= h:
        size = (side, max(side, int(side * h / w)))
    else:
        size = (max(side, int(side * w / h)), side)
    return image.resize(size, Image.BILINEAR)


@dataclass(frozen=True)
class ImageTransform:
    """The official transform (docs/training.md, "Data"): shorter side to
    ``int(size * resize_ratio)``, crop ``size`` (random when training, centred otherwise), optional
    horizontal flip."""

    size: int
    resize_ratio: float = OFFICIAL_RESIZE_RATIO
    flip: bool = True

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ValueError(f"image size must be at least 8, got {self.size}")
        if self.resize_ratio < 1.0:
            raise ValueError(f"resize_ratio must be at least 1, got {self.resize_ratio}")

    def __call__(self, image: Image.Image, rng: np.random.Generator | None, allow_flip: bool = True) -> torch.Tensor:
        s = self.size
        image = resize_shorter(image, int(s * self.resize_ratio))
        w, h = image.size
        if rng is None:
            left, top = (w - s) // 2, (h - s) // 2
        else:
            top, left = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        image = image.crop((left, top, left + s, top + s))
        if rng is not None and rng.random() < 0.5 and self.flip and allow_flip:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        return to_tensor(image)


# ---------------------------------------------------------------------------------------- dataset
@dataclass
class Batch:
    """A collated batch: images ``[B, 3, S, S]`` in [-1, 1], one caption each, dataset indices of the
    samples used, and files that failed to load and were replaced."""

    images: torch.Tensor
    captions: list[str]
    indices: list[int]
    failed: list[str]

    def pin_memory(self) -> "Batch":
        self.images = self.images.pin_memory()
        return self


def collate(items: Sequence[dict[str, Any]]) -> Batch:
    return Batch(
        images=torch.stack([it["image"] for it in items]),
        captions=[it["caption"] for it in items],
        indices=[it["index"] for it in items],
        failed=[path for it in items for path in it["failed"]],
    )


class ImageCaptionDataset(Dataset):
    """Samples as tensors with one caption each.

    Training keys are ``(index, epoch)``: the caption, crop and flip are drawn from
    ``(seed, epoch, index)``. An integer key gives the deterministic evaluation view (centre crop, no
    flip, first caption). ``flip_exclude`` is a regular expression: samples with a caption that
    matches it (case-insensitive; e.g. ``left|right|arrow|flag``) are never flipped.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        transform: ImageTransform,
        seed: int = 0,
        max_retries: int = 10,
        flip_exclude: str | None = None,
    ):
        if not samples:
            raise DataError("no usable image-caption samples")
        self.samples = list(samples)
        self.transform = transform
        self.seed = seed
        self.max_retries = max_retries
        pattern = flip_exclude_pattern(flip_exclude)
        self.no_flip = frozenset(i for i, smp in enumerate(self.samples) if not flip_allowed(smp.captions, pattern))

    def __len__(self) -> int:
        return len(self.samples)

    def sample_rng(self, index: int, epoch: int, attempt: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, epoch, index, attempt])

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, epoch = (key, None) if isinstance(key, (int, np.integer)) else key
        index = int(index)
        failed: list[str] = []
        for attempt in range(self.max_retries + 1):
            sample = self.samples[index]
            rng = None if epoch is None else self.sample_rng(index, epoch, attempt)
            try:
                image = load_rgb(sample.image, sample.box)
            except LOAD_ERRORS as e:
                failed.append(f"{sample.image}: {type(e).__name__}: {e}")
                index = (index + 1) % len(self.samples) if rng is None else int(rng.integers(len(self.samples)))
                continue
            caption = sample.captions[0] if rng is None else sample.captions[int(rng.integers(len(sample.captions)))]
            image_tensor = self.transform(image, rng, allow_flip=index not in self.no_flip)
            return {"image": image_tensor, "caption": caption, "index": index, "failed": failed}
        raise DataError(f"{len(failed)} images in a row failed to load; last: {failed[-1]}")


# ---------------------------------------------------------------------------------------- balance
def sample_groups(samples: Sequence[Sample]) -> list[str]:
    """The group of each sample for :func:`balance_weights`: the folder its image is in (a class
    folder such as ``train/food-drink/`` or CUB's ``001.Black_footed_Albatross/``)."""
    return [str(smp.image.parent) for smp in samples]


@dataclass(frozen=True)
class Balance:
    """Per-sample draw weights that give every group (folder) of ``n`` images a share of each epoch
    proportional to ``n ** (1 - strength)``: 0 keeps the data's own proportions, 1 gives every
    folder the same share, 0.5 is in between (square-root sampling). ``groups`` maps each folder to
    its image count and ``shares`` to the fraction of an epoch it now gets."""

    strength: float
    weights: tuple[float, ...]
    groups: dict[str, int]
    shares: dict[str, float]

    def format(self, root: str | Path, limit: int = 12) -> str:
        """One line per folder (the largest changes first): images, share before -> after."""
        total = sum(self.groups.values())
        lines = [f"balance {self.strength:g}: {len(self.groups)} folders, each epoch's share per folder (before -> after)"]
        order = sorted(self.groups, key=lambda g: -abs(self.shares[g] - self.groups[g] / total))
        for group in order[:limit]:
            name = os.path.relpath(group, root)
            lines.append(f"  {name}: {self.groups[group]} images, {self.groups[group] / total:.1%} -> {self.shares[group]:.1%}")
        if len(order) > limit:
            lines.append(f"  ... and {len(order) - limit} more folders")
        return "\n".join(lines)


def balance_weights(samples: Sequence[Sample], strength: float) -> Balance:
    """Draw weights for :class:`ShardedBatchSampler` that re-balance the groups of
    :func:`sample_groups` (see :class:`Balance`). Raises :class:`DataError` when there is nothing to
    balance: every image is in one folder."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"balance strength must be in (0, 1], got {strength}")
    groups = sample_groups(samples)
    counts = Counter(groups)
    if len(counts) < 2:
        where = next(iter(counts), "one folder")
        raise DataError(
            f"--balance needs images in two or more folders (one folder per class, e.g. train/food/, train/flags/); "
            f"all {len(samples)} are in {where}"
        )
    mass = {g: n ** (1.0 - strength) for g, n in counts.items()}
    total_mass = sum(mass.values())
    shares = {g: m / total_mass for g, m in mass.items()}
    weights = tuple(shares[g] / counts[g] for g in groups)
    return Balance(strength=strength, weights=weights, groups=dict(counts), shares=shares)


class ShardedBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of ``(index, epoch)`` keys for one rank of ``world_size``.

    Each epoch is a permutation drawn from ``seed + epoch``; step k of the epoch uses the global batch
    ``perm[k*B*W : (k+1)*B*W]`` and rank r takes its slice ``[r*B : (r+1)*B]``, so together the ranks
    see exactly what one process with batch ``B*W`` would, and samples left over at the end of an
    epoch are dropped. :meth:`set_position` chooses the epoch and the first step (for resuming).

    With ``weights`` (one per sample, e.g. :func:`balance_weights`) an epoch is instead
    ``num_samples`` indices drawn with replacement in proportion to them, from the same seed: the
    epoch keeps its length, and a sample drawn twice in an epoch gets the same caption and crop.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        world_size: int = 1,
        rank: int = 0,
        seed: int = 0,
        weights: Sequence[float] | None = None,
    ):
        if batch_size < 1:
            raise ValueError("batch size must be at least 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        if weights is not None and len(weights) != num_samples:
            raise ValueError(f"{len(weights)} weights for {num_samples} samples")
        self.weights = None if weights is None else torch.tensor(weights, dtype=torch.float64)
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.world_size = world_size
        self.rank = rank
        self.seed = seed
        self.epoch = 0
        self.start_step = 0
        if self.steps_per_epoch < 1:
            raise DataError(
                f"{num_samples} usable samples are fewer than one global batch ({batch_size} x {world_size} "
                f"processes); lower --batch-size or add data"
            )

    @property
    def steps_per_epoch(self) -> int:
        return self.num_samples // (self.batch_size * self.world_size)

    def set_position(self, epoch: int, start_step: int = 0) -> None:
        if not 0 <= start_step <= self.steps_per_epoch:
            raise ValueError(f"start step {start_step} outside the epoch (0..{self.steps_per_epoch})")
        self.epoch, self.start_step = epoch, start_step

    def epoch_order(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed + epoch)
        if self.weights is not None:
            return torch.multinomial(self.weights, self.num_samples, replacement=True, generator=generator).tolist()
        return torch.randperm(self.num_samples, generator=generator).tolist()

    def global_batch(self, epoch: int, step: int) -> list[int]:
        """Dataset indices of all ranks' samples at ``step`` of ``epoch``, rank 0 first."""
        n = self.batch_size * self.world_size
        return self.epoch_order(epoch)[step * n : (step + 1) * n]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = self.epoch_order(self.epoch)
        n, b = self.batch_size * self.world_size, self.batch_size
        for step in range(self.start_step, self.steps_per_epoch):
            chunk = order[step * n : (step + 1) * n][self.rank * b : (self.rank + 1) * b]
            yield [(i, self.epoch) for i in chunk]

    def __len__(self) -> int:
        return self.steps_per_epoch - self.start_step


def fixed_captions(samples: Sequence[Sample], count: int) -> list[str]:
    """``count`` captions spread evenly over the dataset (first caption of each), for sample grids."""
    if not samples:
        return []
    count = min(count, len(samples))
    step = len(samples) / count
    return [samples[int(math.floor(i * step))].captions[0] for i in range(count)]
