"""The run directory: its layout, logs, checkpoint pointers and retention.

    runs/NAME/
      config.json                 every setting of the run, the model configs, the data report
      log.jsonl                   one JSON object a line: training averages, evaluations, events
      tensorboard/                TensorBoard events (when tensorboard is installed)
      samples/real.png            a grid of training images as the model sees them
      samples/captions.txt        the fixed captions of the sample grids (one row each)
      samples/step_000500.png     generated grids, fixed noise (columns) x fixed captions (rows)
      checkpoints/step_000500/    our checkpoint format + training_state.pt (optimizers, position)
      checkpoints/latest          -> step_NNNNNN (a relative symlink; a copy where symlinks fail)
      checkpoints/best            -> the checkpoint with the best evaluation metric

Both pointers load directly: ``GALIPPipeline.from_pretrained("runs/NAME/checkpoints/latest")``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from ..checkpoint import CONFIG_FILE, TRAINING_STATE_FILE, atomic_directory

STEP_DIR = re.compile(r"step_(\d+)")
POINTERS = ("latest", "best")


class RunDirectory:
    """Paths and checkpoint bookkeeping of one run; only the main process writes."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.checkpoints = self.root / "checkpoints"
        self.samples = self.root / "samples"
        self.config_path = self.root / "config.json"
        self.log_path = self.root / "log.jsonl"

    def step_dir(self, step: int) -> Path:
        return self.checkpoints / f"step_{step:06d}"

    @staticmethod
    def is_complete(path: Path) -> bool:
        return (path / CONFIG_FILE).is_file() and (path / TRAINING_STATE_FILE).is_file()

    def list_checkpoints(self) -> list[tuple[int, Path]]:
        """Complete step checkpoints, oldest first (partial writes and pointers are ignored)."""
        if not self.checkpoints.is_dir():
            return []
        found = []
        for path in self.checkpoints.iterdir():
            m = STEP_DIR.fullmatch(path.name)
            if m and not path.is_symlink() and self.is_complete(path):
                found.append((int(m.group(1)), path))
        return sorted(found)

    def latest(self) -> Path | None:
        """The newest complete checkpoint (the ``latest`` pointer can lag if a save was interrupted)."""
        found = self.list_checkpoints()
        return found[-1][1] if found else None

    def pointer_target(self, name: str) -> Path | None:
        """Where a pointer leads: the step directory for a symlink, the copy itself otherwise."""
        path = self.checkpoints / name
        if path.is_symlink():
            target = path.resolve()
            return target if target.is_dir() else None
        if path.is_dir():
            step = _read_step(path)
            return self.step_dir(step) if step is not None and self.step_dir(step).is_dir() else path
        return None

    def point(self, name: str, target: Path) -> None:
        """Make ``checkpoints/<name>`` lead to ``target`` atomically: a relative symlink, or (where
        the file system has no symlinks) a copy written with :func:`atomic_directory`."""
        link = self.checkpoints / name
        tmp = self.checkpoints / f".{name}.link-{os.getpid()}"
        try:
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            os.symlink(target.name, tmp, target_is_directory=True)
            if link.is_dir() and not link.is_symlink():
                shutil.rmtree(link)
            os.replace(tmp, link)
        except OSError:
            if tmp.is_symlink():
                tmp.unlink()
            if link.is_symlink():
                link.unlink()
            with atomic_directory(link) as out:
                shutil.copytree(target, out, dirs_exist_ok=True)

    def clean_partial(self) -> list[Path]:
        """Remove temporary directories left by a process killed while saving."""
        removed = []
        if self.checkpoints.is_dir():
            for path in self.checkpoints.iterdir():
                if path.name.startswith(".") and (".tmp-" in path.name or ".link-" in path.name):
                    if path.is_symlink() or path.is_file():
                        path.unlink()
                    else:
                        shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
        return removed

    def prune(self, keep_last: int) -> list[Path]:
        """Delete step checkpoints except the newest ``keep_last`` and the pointers' targets."""
        if keep_last < 1:
            return []
        protected = {p.resolve() for p in (self.pointer_target(n) for n in POINTERS) if p is not None}
        removed = []
        for _, path in self.list_checkpoints()[:-keep_last]:
            if path.resolve() not in protected:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        return removed


def _read_step(checkpoint: Path) -> int | None:
    try:
        return int(json.loads((checkpoint / CONFIG_FILE).read_text())["training"]["step"])
    except (OSError, KeyError, TypeError, ValueError):
        return None


def resolve_resume(run: RunDirectory, resume: str) -> Path | None:
    """The checkpoint to resume from: ``latest`` (error if none), ``auto`` (``None`` if none) or a path."""
    if resume in ("latest", "auto"):
        found = run.latest()
        if found is None and resume == "latest":
            raise FileNotFoundError(
                f"--resume latest: {run.checkpoints} has no complete checkpoint; start without --resume"
            )
        return found
    path = Path(resume)
    if not RunDirectory.is_complete(path):
        raise FileNotFoundError(f"--resume {resume}: not a training checkpoint (needs {CONFIG_FILE} and {TRAINING_STATE_FILE})")
    return path
