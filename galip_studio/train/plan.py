"""What a start of ``galip-studio train`` decides before anything is built: :func:`plan_run`.

One place says whether the run resumes (and from which checkpoint), with which settings and on which
data: the settings a resumed run was started with, the data folder's digest (computed once per start,
compared with the one the run recorded unless ``--new-data``), the scan of the folder and its balance,
and the image sizes. ``--dry-run`` prints a plan; a run is built from one
(:func:`~galip_studio.train.setup.prepare_run`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..datasets.folders import DataReport, Sample, data_digest, scan_dataset
from .config import TrainConfig
from .data import Balance, balance_weights
from .rundir import RunDirectory, resolve_resume


def default_real_size(img_size: int) -> int:
    """Side of real training images: 256 for the official 224 px generator (docs/training.md, "Data"), else the output size."""
    return 256 if img_size == 224 else img_size


def model_img_size(config: TrainConfig, resume_from: Path | None = None) -> int:
    """The output size of the generator a run of ``config`` trains: the checkpoint's it resumes, an
    official ``.pth``'s 224 px, the ``--init`` checkpoint's, else ``--img-size`` or the preset's."""
    from ..checkpoint import read_config
    from ..config import get_preset

    if resume_from is not None:
        return int(read_config(resume_from)["galip"]["img_size"])
    if config.init:
        return 224 if Path(config.init).is_file() else int(read_config(config.init)["galip"]["img_size"])
    return config.img_size or get_preset(config.preset).galip.img_size


@dataclass
class RunPlan:
    """A start of a run, decided: the settings, the checkpoint it continues and the data it trains on."""

    config: TrainConfig
    run_dir: RunDirectory
    resume_from: Path | None  # the checkpoint this run continues; None for a new run
    digest: dict[str, Any] | None  # the data folder's data_digest at this start (recorded in config.json)
    samples: list[Sample]
    report: DataReport
    balance: Balance | None  # --balance's draw weights, or None
    img_size: int  # the generator's output size
    real_size: int  # side of the real training images

    def format(self) -> str:
        """The data report, the balance and the image sizes, as ``--dry-run`` prints them."""
        lines = [self.report.format()]
        if self.balance is not None:
            lines.append(self.balance.format(self.config.data_dir))
        lines.append(f"images: {self.img_size} px generator output, real images at {self.real_size} px")
        return "\n".join(lines)


def _recorded_run(run_dir: RunDirectory, resume: str | None) -> dict[str, Any] | None:
    """The ``config.json`` of the run that ``resume`` continues (``None`` when starting fresh)."""
    if not resume or (resume == "auto" and run_dir.latest() is None) or not run_dir.config_path.is_file():
        return None
    return json.loads(run_dir.config_path.read_text())


def _same_path(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def _check_same_data(recorded: dict[str, Any], data_dir: str, digest: dict[str, Any] | None) -> None:
    """A resumed run continues on the data it was started with: the same folder, holding the same
    files (names, sizes and times: the digest recorded when it started or last resumed)."""
    before = recorded.get("train", {}).get("data_dir")
    if not before:
        return
    if not _same_path(str(before), data_dir):
        raise ValueError(
            f"this run was trained on {before}, not {data_dir}; resume it with the same DATA_DIR, "
            f"or pass --new-data to continue it on other data"
        )
    then = recorded.get("data", {}).get("digest")
    if not isinstance(then, dict) or digest is None:
        return  # a run from before the digest was recorded, or no folder (the scan names it)
    if digest["sha256"] != then.get("sha256"):
        raise ValueError(
            f"the files in {data_dir} changed since this run last started ({then.get('files')} files then, "
            f"{digest['files']} now, or other sizes or times: swapped images or a re-pointed link); resume it on the data "
            f"it was trained on, or pass --new-data to continue it on the changed data"
        )


def plan_run(settings: dict[str, Any] | TrainConfig, new_data: bool = False) -> RunPlan:
    """Decide a start of a run: what it resumes, its settings, and its data.

    ``settings`` are a start's explicit settings (the command line's: options left out come from the
    resumed run's saved settings, then the preset's, by :func:`~.config.resolve_train_config`), or a
    resolved :class:`TrainConfig` (the Python API). ``new_data`` (``--new-data``) lets a resumed run
    continue on another folder, or on changed files. Raises ``ValueError``, ``FileNotFoundError`` or
    ``DataError`` with a one-line message.
    """
    explicit = settings.to_dict() if isinstance(settings, TrainConfig) else settings
    run_dir = RunDirectory(explicit["out"])
    recorded = _recorded_run(run_dir, explicit.get("resume"))
    data_dir = str(explicit["data_dir"])
    digest = data_digest(data_dir) if os.path.isdir(data_dir) else None  # once per start
    if recorded is not None and not new_data:
        _check_same_data(recorded, data_dir, digest)
    if isinstance(settings, TrainConfig):
        config = settings
    else:
        from .config import resolve_train_config  # looked up at the call (tests replace it)

        config = resolve_train_config(settings, None if recorded is None else recorded["train"], new_data=new_data)
    resume_from = resolve_resume(run_dir, config.resume) if config.resume else None
    if resume_from is None and run_dir.latest() is not None:
        raise ValueError(f"{run_dir.root} already holds checkpoints; continue it with --resume latest, or choose a new --out")
    # the folder before the model, so a wrong folder fails in a second, not after the CLIP loads
    samples, report = scan_dataset(config.data_dir, config.layout, config.split, verify=config.verify_images)
    balance = balance_weights(samples, config.balance) if config.balance else None
    img_size = model_img_size(config, resume_from)
    real_size = config.real_size or default_real_size(img_size)
    return RunPlan(config, run_dir, resume_from, digest, samples, report, balance, img_size, real_size)
