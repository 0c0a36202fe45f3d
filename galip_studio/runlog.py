"""The run log both trainers write: JSON lines, and TensorBoard scalars when it is installed; and
the progress bar both draw over their steps (:func:`step_bar`).

The GAN trainer writes ``runs/NAME/log.jsonl``, the mini-CLIP ``train_log.jsonl`` beside its
weights; TensorBoard events go to ``tensorboard/`` beside the log file either way.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


class RunLogger:
    """Writes JSON lines to ``path`` (appending when resuming, else starting it afresh) and, when
    tensorboard is installed, scalars to TensorBoard in ``tensorboard/`` beside it.

    Every record gets a ``time`` (Unix seconds) first; records with a ``step`` become TensorBoard
    scalars named ``<event or "train">/<key>``.
    """

    def __init__(self, path: str | os.PathLike, tensorboard: bool = True, append: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a" if append else "w", encoding="utf-8")
        self._tb: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self._tb = None
            else:
                self._tb = SummaryWriter(str(self.path.parent / "tensorboard"))

    @property
    def tensorboard(self) -> bool:
        return self._tb is not None

    def log(self, record: dict[str, Any]) -> None:
        record = {"time": round(time.time(), 3), **record}
        self._file.write(json.dumps(record, default=str) + "\n")
        self._file.flush()
        if self._tb is not None and "step" in record:
            prefix = record.get("event", "train")
            for key, value in record.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in ("step", "time"):
                    self._tb.add_scalar(f"{prefix}/{key}", value, record["step"])
            self._tb.flush()

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def step_bar(total: int | None, *, initial: int = 0, enabled: bool = True) -> Any:
    """The tqdm bar both trainers draw over their steps, on stderr: ``total`` steps (None: no end),
    starting at ``initial`` (a resumed run), as wide as the terminal. ``enabled`` False (``--no-progress``)
    draws nothing; enabled, it is drawn whether or not stderr is a terminal."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, disable=not enabled, file=sys.stderr)


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All records of a JSON-lines log (for tests, plots and notebooks)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
