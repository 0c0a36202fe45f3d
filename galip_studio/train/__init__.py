"""Training GALIP on your own image-caption folders (``galip-studio train``).

    from galip_studio.train import TrainConfig, Trainer
    result = Trainer(TrainConfig(data_dir="data/emoji/train", out="runs/emoji", steps=2000)).run()

Modules: :mod:`.data` (the official transform, dataset, folder balance, sharded sampler; the folders
themselves are :mod:`galip_studio.datasets.folders`'), :mod:`.losses` (the objective), :mod:`.augment`
(DiffAugment), :mod:`.plan` (decides a start: what it resumes, its settings and data), :mod:`.setup`
(builds the run: model, optimisers, data, resume position), :mod:`.trainer` (runs it: the step and
the loop), :mod:`.evaluate` (CLIP score, CLIP Fréchet distance, Inception FID), :mod:`.rundir` (run
directory), :mod:`.runtime` (torchrun, stop signals), :mod:`.config` (settings), :mod:`.cli` (the
commands). Imports are lazy so the CLI stays fast.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "TrainConfig": ".config",
    "resolve_train_config": ".config",
    "Trainer": ".trainer",
    "TrainResult": ".trainer",
    "StepInfo": ".trainer",
    "NonFiniteLossError": ".trainer",
    "LossConfig": ".losses",
    "ImageCaptionDataset": ".data",
    "Evaluator": ".evaluate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module 'galip_studio.train' has no attribute {name!r}")
