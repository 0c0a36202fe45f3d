"""Which model the app serves: checkpoint discovery, model specs and the app-level model store.

Design (several users on one server, each free to swap the model in the Model tab):

* Each browser session keeps only a small, immutable :class:`ModelSpec` in its ``gr.State``
  ("which model am I using"); swapping the model changes that session's spec and nobody else's.
* One :class:`ModelStore` per app (created by ``build_app``, never at module level) owns the loaded
  pipelines: the default model is pinned, other specs are kept in a small LRU cache (loading one
  more evicts the least recently used; a session whose model was evicted reloads it on its next
  request), so ten users opening the same checkpoint share one copy of its weights.
* Loading a model holds no lock that other sessions wait on: a session loading a checkpoint never
  stalls another session's generation (two sessions loading the same model wait for one load).
* Which models a session may load is decided by a :class:`ModelLibrary`: checkpoint folders under
  the allowed folders (``checkpoints/``, ``runs/``, ``--model-dir``) and files uploaded in that
  session; clients only ever see paths relative to those folders (:meth:`ModelLibrary.public_name`).
* Every loaded model has its own lock: a pipeline is not thread-safe (its prompt cache is a plain
  ``OrderedDict``) and two CPU-bound forwards at once only slow each other down. Sessions get a
  :class:`LockedPipeline` that takes the lock per model call (one prompt encoding, one batch of
  images), so a long export from one user interleaves with another user's style-knob updates
  instead of blocking them for its whole run.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Sequence

from ..pipeline import GALIPPipeline, default_checkpoint_dir

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
INIT_HINT = "galip-studio init checkpoints/demo --preset tiny"

ModelKind = Literal["default", "checkpoint", "official", "preset"]


log = logging.getLogger("galip_studio.app")


class ModelLoadError(ValueError):
    """A model could not be found or loaded; the message says why and what to do."""


# The one answer for any model a client names that is not an allowed checkpoint or upload: the same
# words whether the path is missing, a file, a folder without config.json or outside the folders,
# so the app tells nobody what exists on the server.
NOT_ALLOWED = (
    "no such model here: pick a checkpoint from the list (folders under checkpoints/, runs/ or a --model-dir "
    "of the server), or upload the files in this session"
)
# Keys of a checkpoint's training metadata that name places on the training machine.
PRIVATE_TRAINING_KEYS = ("data", "run")


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
    return find_checkpoints_in(Path(root) / sub for root in roots for sub in ("checkpoints", "runs"))


def find_checkpoints_in(folders: Iterable[str | os.PathLike]) -> list[Path]:
    """Every checkpoint directory under ``folders`` (at any depth, the folders too), newest first."""
    found: dict[Path, float] = {}
    for folder in folders:
        base = Path(folder)
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


def is_loopback(host: str) -> bool:
    """True when ``host`` is reachable from this machine only (127.0.0.1, ::1, localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ModelFolder:
    """A folder the app may load models from, and the name clients see for it."""

    label: str
    path: Path


class ModelLibrary:
    """The models the app may load: checkpoints under its allowed folders, and per-session uploads.

    Args:
        roots: folders whose ``checkpoints/`` and ``runs/`` are allowed (labelled so).
        model_dirs: more allowed folders (``--model-dir``), labelled by their names.
    """

    def __init__(self, roots: Sequence[str | os.PathLike] = (), model_dirs: Sequence[str | os.PathLike] = ()):
        folders: list[ModelFolder] = []
        seen: set[Path] = set()
        for root in roots:
            for sub in ("checkpoints", "runs"):
                path = (Path(root) / sub).resolve()
                if path not in seen:
                    seen.add(path)
                    folders.append(ModelFolder(sub, path))
        for directory in model_dirs:
            path = Path(directory).expanduser().resolve()
            if path in seen:
                continue
            seen.add(path)
            base = path.name or "models"
            label, n = base, 2
            while label in {f.label for f in folders}:
                label, n = f"{base}-{n}", n + 1
            folders.append(ModelFolder(label, path))
        self.folders = folders

    def public_name(self, path: str | os.PathLike | None) -> str | None:
        """``path`` as clients see it (``checkpoints/galip-emoji-64``), or ``None`` when it is in no allowed folder."""
        if path is None:
            return None
        try:
            resolved = Path(path).resolve()
        except (OSError, RuntimeError):
            return None
        for folder in self.folders:
            try:
                rel = resolved.relative_to(folder.path)
            except ValueError:
                continue
            return folder.label if rel == Path(".") else f"{folder.label}/{rel.as_posix()}"
        return None

    def resolve(self, name: str) -> Path | None:
        """The path behind a name a client typed or picked, if it lies inside an allowed folder
        (after following ``..`` and symbolic links); ``None`` otherwise."""
        name = (name or "").strip()
        if not name or "\x00" in name:
            return None
        given = Path(name).expanduser()
        if given.is_absolute():
            candidates = [(f, given) for f in self.folders]
        else:
            head, _, rest = name.replace("\\", "/").partition("/")
            candidates = [(f, f.path / rest) for f in self.folders if f.label == head]
        for folder, candidate in candidates:
            try:
                resolved = candidate.resolve()
                resolved.relative_to(folder.path)
            except (ValueError, OSError, RuntimeError):
                continue
            if resolved.exists():
                return resolved
        return None

    def checkpoint(self, name: str) -> Path:
        """The allowed checkpoint directory ``name`` names, else :data:`NOT_ALLOWED`."""
        path = self.resolve(name)
        if path is None or not path.is_dir() or not _is_checkpoint_dir(path):
            raise ModelLoadError(NOT_ALLOWED)
        return path

    def weights_file(self, name: str, uploads: dict[str, str] | None = None) -> Path:
        """A weights file: one uploaded in this session (by its name), or one in an allowed folder."""
        name = (name or "").strip()
        if uploads and name in uploads and Path(uploads[name]).is_file():
            return Path(uploads[name])
        path = self.resolve(name)
        if path is None or not path.is_file():
            raise ModelLoadError(NOT_ALLOWED)
        return path

    def checkpoints(self) -> list[str]:
        """The public names of every checkpoint in the allowed folders, newest first."""
        names = (self.public_name(p) for p in find_checkpoints_in(f.path for f in self.folders))
        return list(dict.fromkeys(n for n in names if n))

    def scrub(self, value: Any) -> Any:
        """``value`` (metadata, describe()) with every absolute path replaced by its public name,
        or by its last component when it is in no allowed folder."""
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub(v) for v in value]
        if isinstance(value, str) and (os.path.isabs(value) or value.startswith("~")):
            return self.public_name(value) or Path(value).name
        return value

    def public_metadata(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """A model's metadata as clients may see it: no machine paths, no training-data location."""
        meta = dict(metadata)
        training = dict(meta.get("training") or {})
        for key in PRIVATE_TRAINING_KEYS:
            training.pop(key, None)
        meta["training"] = training
        return self.scrub(meta)


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from; hashable, so it keys the store and lives in a session's state.

    ``kind`` is ``"default"`` (the model the app was started with), ``"checkpoint"`` (a directory
    of ours), ``"official"`` (an official ``.pth`` plus CLIP weights) or ``"preset"`` (random weights).
    """

    kind: ModelKind = "default"
    path: str | None = None
    clip_weights: str | None = None
    name: str | None = field(default=None, compare=False)  # what clients see (never a machine path)

    def label(self) -> str:
        """A short human-readable name."""
        if self.kind == "default":
            return "default model"
        if self.kind == "official":
            return f"official {self.path} + CLIP {self.clip_weights}"
        return f"{self.kind} {self.path}"

    def public_label(self) -> str:
        """The name to show clients: ``name``, else the last component of the path."""
        if self.kind == "default":
            return "the default model"
        return self.name or Path(self.path or "?").name


DEFAULT_SPEC = ModelSpec()


@dataclass
class _Entry:
    pipeline: GALIPPipeline
    lock: threading.Lock
    metadata: dict[str, Any] | None = None  # what clients see (ModelLibrary.public_metadata)


class ModelStore:
    """Loaded pipelines shared by all sessions of one app (see the module docstring).

    Args:
        default: the app's default model: a pipeline, or a zero-argument loader called on first use.
        device: device for models loaded later from the Model tab (default: the default model's).
        max_extra: how many non-default models stay loaded at once.
        allow_loading: whether sessions may load other models (off for public servers).
        library: what clients may see of paths (metadata and errors are scrubbed through it).
    """

    def __init__(
        self,
        default: GALIPPipeline | Callable[[], GALIPPipeline],
        *,
        device: str | None = None,
        max_extra: int = 2,
        allow_loading: bool = True,
        library: ModelLibrary | None = None,
    ):
        self.library = library or ModelLibrary()
        self._default_loader = default if callable(default) and not isinstance(default, GALIPPipeline) else None
        self._entries: OrderedDict[ModelSpec, _Entry] = OrderedDict()
        if isinstance(default, GALIPPipeline):
            self._entries[DEFAULT_SPEC] = self._new_entry(default)
        self._load_lock = threading.Lock()  # guards _entries and _loading only; never held while loading
        self._loading: dict[ModelSpec, threading.Lock] = {}
        self.device = device
        self.max_extra = max_extra
        self.allow_loading = allow_loading

    def _new_entry(self, pipeline: GALIPPipeline) -> _Entry:
        return _Entry(pipeline, threading.Lock(), self.library.public_metadata(pipeline.metadata or {}))

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
            # The details (paths, the library's message) go to the server log, in one line; the
            # client learns what kind of problem it is, never the raw text.
            detail = " ".join(str(e).split())
            log.warning("could not load %s: %s: %s", spec.label(), type(e).__name__, detail)
            raise ModelLoadError(f"could not load {spec.public_label()}: {_load_problem(e)} (the server log has the details)") from e
        raise ModelLoadError(f"unknown model kind {spec.kind!r}")

    def entry(self, spec: ModelSpec) -> _Entry:
        """The loaded model for ``spec``, loading it (and evicting the least recently used) if needed.

        The store's lock is held only to look up and insert; the load itself runs under a lock of
        its own spec, so sessions using other (loaded) models go on meanwhile.
        """
        with self._load_lock:
            if spec in self._entries:
                self._entries.move_to_end(spec)
                return self._entries[spec]
            if spec.kind != "default" and not self.allow_loading:
                raise ModelLoadError("this server does not allow loading other models")
            loading = self._loading.setdefault(spec, threading.Lock())
        with loading:
            with self._load_lock:
                if spec in self._entries:  # loaded by another session while this one waited
                    self._entries.move_to_end(spec)
                    return self._entries[spec]
            try:
                entry = self._new_entry(self._load(spec))
            finally:
                with self._load_lock:
                    self._loading.pop(spec, None)
            with self._load_lock:
                self._entries[spec] = entry
                extra = [s for s in self._entries if s != DEFAULT_SPEC]
                while len(extra) > self.max_extra:
                    del self._entries[extra.pop(0)]
            return entry

    def loaded(self) -> list[ModelSpec]:
        """Specs of the models in memory, least recently used first."""
        with self._load_lock:
            return list(self._entries)


def _load_problem(error: BaseException) -> str:
    """What kind of problem a load failure is, in words safe to show a client."""
    from ..checkpoint import CheckpointError
    from ..clip_backbone import ClipError

    from ..config import ModelTooLarge

    if isinstance(error, ModelTooLarge):
        return "it needs more memory than this server allows"
    if isinstance(error, ClipError):
        return "its CLIP weights could not be read"
    if isinstance(error, CheckpointError):
        return "it is not a checkpoint this version can read"
    return "it could not be read"


class LockedPipeline:
    """A view of a shared pipeline whose model calls take the model's lock.

    ``encode``, ``synthesize`` and ``generate`` (the calls that run the networks or touch the prompt
    cache) hold the lock for their duration; everything else (sizes, ``clip``) reads through.
    Long jobs make many such calls (one per batch), so users interleave between batches.
    ``metadata`` and ``describe()`` give what clients may see (``metadata``: no machine paths).
    """

    def __init__(self, pipeline: GALIPPipeline, lock: threading.Lock, metadata: dict[str, Any] | None = None):
        self._pipeline = pipeline
        self._lock = lock
        self._metadata = metadata

    @property
    def metadata(self) -> dict[str, Any]:
        return self._metadata if self._metadata is not None else self._pipeline.metadata

    def describe(self) -> dict[str, Any]:
        info = self._pipeline.describe()
        if self._metadata is not None:
            info["training"] = self._metadata.get("training", {})
            info["path"] = self._metadata.get("path")
            weights = (self._metadata.get("clip") or {}).get("pretrained")
            info["clip"] = dict(info["clip"], weights=weights or "stored with the checkpoint")
        return info

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
        return LockedPipeline(entry.pipeline, entry.lock, entry.metadata)


Model = GALIPPipeline | ModelHandle
"""What handlers take: a pipeline (tests, scripts) or a session's :class:`ModelHandle` (the app)."""


def pipeline_of(model: Model) -> GALIPPipeline | LockedPipeline:
    """The pipeline to run for ``model`` (a locked view in the app, the pipeline itself otherwise)."""
    return model if isinstance(model, GALIPPipeline) else model.pipeline


def checkpoint_folder(model: Model) -> Path | None:
    """The folder on this machine the model was loaded from (for its model card), or ``None``.
    Server-side only: clients see :meth:`ModelLibrary.public_name` of it, never this path."""
    pipe = model if isinstance(model, GALIPPipeline) else model.store.entry(model.spec).pipeline
    path = (pipe.metadata or {}).get("path")
    if not path:
        return None
    folder = Path(path)
    return folder if folder.is_dir() else None
