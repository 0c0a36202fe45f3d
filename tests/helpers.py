"""Helpers the training tests share (imported as ``from helpers import ...``, like ``official_layout``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from galip_studio.train import TrainConfig, resolve_train_config

COLORS = ["red", "green", "blue", "yellow", "purple", "orange"]


def make_folder(root: Path, n: int = 12, size: tuple[int, int] = (40, 48), seed: int = 0) -> Path:
    """``n`` random images with two captions each, half of them in a subfolder."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / ("sub" if i % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        arr = (rng.random((size[1], size[0], 3)) * 255).astype("uint8")
        Image.fromarray(arr).save(folder / f"img{i:02d}.png")
        c = COLORS[i % len(COLORS)]
        (folder / f"img{i:02d}.txt").write_text(f"a {c} square\n\n  a picture of {c} number {i}  \n")
    return root


def quick_config(data: Path, out: Path, **kw: Any) -> TrainConfig:
    """A tiny CPU run on ``data`` writing to ``out``: batch 4, fp32, no bar, samples, evaluations or
    checkpoints until the end, a log line per step; ``kw`` overrides any setting."""
    settings = dict(preset="tiny", batch_size=4, amp="none", progress=False, sample_every=0, eval_every=0, save_every=0,
                    log_every=1, threads=2)
    settings.update(kw)
    return resolve_train_config({"data_dir": str(data), "out": str(out), **settings})
