"""Which model the app serves: checkpoint discovery, model specs and the app-level model store.

Design (several users on one server, each free to swap the model in the Model tab):

* Each browser session keeps only a small, immutable :class:`ModelSpec` in its ``gr.State``
  ("which model am I using"); swapping the model changes that session's spec and nobody else's.
* One :class:`ModelStore` per app (created by ``build_app``, never at module level) owns the loaded
  pipelines: the default model is pinned, other specs are kept in a small LRU cache (loading one
  more evicts the least recently used; a session whose model was evicted reloads it on its next
  request), so ten users opening the same checkpoint share one copy of its weights.
* Every loaded model has its own lock: a pipeline is not thread-safe (its prompt cache is a plain
  ``OrderedDict``) and two CPU-bound forwards at once only slow each other down. Sessions get a
  :class:`LockedPipeline` that takes the lock per model call (one prompt encoding, one batch of
  images), so a long export from one user interleaves with another user's style-knob updates
  instead of blocking them for its whole run.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

from ..pipeline import GALIPPipeline, default_checkpoint_dir

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
INIT_HINT = "galip-studio init checkpoints/demo --preset tiny"

ModelKind = Literal["default", "checkpoint", "official", "preset"]


class ModelLoadError(ValueError):
    """A model could not be found or loaded; the message says why and what to do."""


def _is_checkpoint_dir(directory: Path) -> bool:
    """True when ``directory/config.json`` is a GALIP Studio config (cheap: reads one small JSON)."""
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("format") == "galip-studio"


def find_checkpoints(roots: Sequence[str | os.PathLike]) -> list[Path]:
    """Every checkpoint directory under ``ROOT/checkpoints`` and ``ROOT/runs``, newest first.

    A checkpoint is any directory whose ``config.json`` is a GALIP Studio config, at any depth
    (so training runs' ``runs/NAME/checkpoints/step_N`` count too). Half-written temporaries
    (``.name.tmp-*``) and the ``*.old`` copies of an atomic save are skipped.
    """
    found: dict[Path, float] = {}
    for root in roots:
        for sub in ("checkpoints", "runs"):
            base = Path(root) / sub
            if not base.is_dir():
                continue
            for config in base.rglob("config.json"):
                directory = config.parent
                parts = directory.relative_to(base).parts
                if any(p.startswith(".") or p.endswith(".old") for p in parts):
                    continue
                if _is_checkpoint_dir(directory):
                    found[directory.resolve()] = config.stat().st_mtime
    return sorted(found, key=lambda d: found[d], reverse=True)


def resolve_checkpoint(checkpoint: str | os.PathLike | None = None, roots: Sequence[str | os.PathLike] | None = None) -> Path:
    """The checkpoint directory the app opens.

    ``checkpoint`` when given; else the bundled default model (``default_checkpoint_dir()``) when it
    exists; else the newest checkpoint under ``checkpoints/`` or ``runs/`` of the current directory
    or the repository. Raises :class:`ModelLoadError` with a one-line fix when there is none.
    """
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.exists():
            raise ModelLoadError(f"checkpoint not found: {path}")
        return path
    default = default_checkpoint_dir()
    if _is_checkpoint_dir(default):
        return default
    roots = list(roots) if roots is not None else list(dict.fromkeys([Path.cwd().resolve(), REPO_ROOT]))
    found = find_checkpoints(roots)
    if found:
        return found[0]
    raise ModelLoadError(
        f"no model found (the bundled {default} is not installed and checkpoints/ has none): "
        f"make one with `{INIT_HINT}`, or pass --checkpoint DIR"
    )


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from; hashable, so it keys the store and lives in a session's state.

    ``kind`` is ``"default"`` (the model the app was started with), ``"checkpoint"`` (a directory
    of ours), ``"official"`` (an official ``.pth`` plus CLIP weights) or ``"preset"`` (random weights).
    """

    kind: ModelKind = "default"
    path: str | None = None
    clip_weights: str | None = None

    def label(self) -> str:
        """A short human-readable name."""
        if self.kind == "default":
            return "default model"
        if self.kind == "official":
            return f"official {self.path} + CLIP {self.clip_weights}"
        return f"{self.kind} {self.path}"


DEFAULT_SPEC = ModelSpec()


@dataclass
class _Entry:
    pipeline: GALIPPipeline
    lock: threading.Lock


class ModelStore:
    """Loaded pipelines shared by all sessions of one app (see the module docstring).

    Args:
        default: the app's default model: a pipeline, or a zero-argument loader called on first use.
        device: device for models loaded later from the Model tab (default: the default model's).
        max_extra: how many non-default models stay loaded at once.
        allow_loading: whether sessions may load other models (off for public servers).
    """

    def __init__(
        self,
        default: GALIPPipeline | Callable[[], GALIPPipeline],
        *,
        device: str | None = None,
        max_extra: int = 2,
        allow_loading: bool = True,
    ):
        self._default_loader = default if callable(default) and not isinstance(default, GALIPPipeline) else None
        self._entries: OrderedDict[ModelSpec, _Entry] = OrderedDict()
        if isinstance(default, GALIPPipeline):
            self._entries[DEFAULT_SPEC] = _Entry(default, threading.Lock())
        self._load_lock = threading.Lock()
        self.device = device
        self.max_extra = max_extra
        self.allow_loading = allow_loading

    def _load(self, spec: ModelSpec) -> GALIPPipeline:
        if spec.kind == "default":
            assert self._default_loader is not None
            return self._default_loader()
        device = self.device or (str(self._entries[DEFAULT_SPEC].pipeline.device) if DEFAULT_SPEC in self._entries else None)
        try:
            if spec.kind == "checkpoint":
                return GALIPPipeline.from_pretrained(spec.path, clip_weights=spec.clip_weights, device=device)
            if spec.kind == "official":
                return GALIPPipeline.from_official(spec.path, clip=spec.clip_weights or "openai", device=device)
            if spec.kind == "preset":
                return GALIPPipeline.from_preset(spec.path, device=device)
        except (ValueError, OSError, RuntimeError) as e:  # CheckpointError and ClipError are ValueErrors
            raise ModelLoadError(f"could not load {spec.label()}: {e}") from e
        raise ModelLoadError(f"unknown model kind {spec.kind!r}")

    def entry(self, spec: ModelSpec) -> _Entry:
        """The loaded model for ``spec``, loading it (and evicting the least recently used) if needed."""
        with self._load_lock:
            if spec in self._entries:
                self._entries.move_to_end(spec)
                return self._entries[spec]
            if spec.kind != "default" and not self.allow_loading:
                raise ModelLoadError("this server does not allow loading other models")
            entry = _Entry(self._load(spec), threading.Lock())
            self._entries[spec] = entry
            extra = [s for s in self._entries if s != DEFAULT_SPEC]
            while len(extra) > self.max_extra:
                del self._entries[extra.pop(0)]
            return entry

    def loaded(self) -> list[ModelSpec]:
        """Specs of the models in memory, least recently used first."""
        with self._load_lock:
            return list(self._entries)


class LockedPipeline:
    """A view of a shared pipeline whose model calls take the model's lock.

    ``encode``, ``synthesize`` and ``generate`` (the calls that run the networks or touch the prompt
    cache) hold the lock for their duration; everything else (sizes, ``clip``, ``metadata``) reads
    through. Long jobs make many such calls (one per batch), so users interleave between batches.
    """

    def __init__(self, pipeline: GALIPPipeline, lock: threading.Lock):
        self._pipeline = pipeline
        self._lock = lock

    def encode(self, *args, **kwargs):
        with self._lock:
            return self._pipeline.encode(*args, **kwargs)

    def synthesize(self, *args, **kwargs):
        with self._lock:
            return self._pipeline.synthesize(*args, **kwargs)

    def generate(self, *args, **kwargs):
        with self._lock:
            return self._pipeline.generate(*args, **kwargs)

    __call__ = generate

    def __getattr__(self, name: str):
        return getattr(self._pipeline, name)


@dataclass(frozen=True)
class ModelHandle:
    """A session's model: its spec plus the app's store that holds the weights."""

    store: ModelStore
    spec: ModelSpec = DEFAULT_SPEC

    @property
    def pipeline(self) -> LockedPipeline:
        """The pipeline (loaded on demand), as a :class:`LockedPipeline`."""
        entry = self.store.entry(self.spec)
        return LockedPipeline(entry.pipeline, entry.lock)


Model = GALIPPipeline | ModelHandle
"""What handlers take: a pipeline (tests, scripts) or a session's :class:`ModelHandle` (the app)."""


def pipeline_of(model: Model) -> GALIPPipeline | LockedPipeline:
    """The pipeline to run for ``model`` (a locked view in the app, the pipeline itself otherwise)."""
    return model if isinstance(model, GALIPPipeline) else model.pipeline
