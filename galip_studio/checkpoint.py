"""Checkpoints in our directory format (JSON config + safetensors), and a run checkpoint's training state.

Our format is a directory::

    config.json                 format tag, GALIP config, CLIP config (architecture and where its
                                weights come from), training metadata, package version
    generator.safetensors       generator weights
    discriminator.safetensors   feature extractor + quality assessor (optional for inference)
    clip.safetensors            CLIP weights, only when they do not come from a pretrained source

Directories are written atomically: into a temporary sibling, then renamed into place, so a
process killed while saving leaves the previous checkpoint intact.

The official GALIP ``.pth`` files, and :func:`~galip_studio.official.load_model` (either kind), are
:mod:`galip_studio.official`'s. No code from a checkpoint is ever executed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import torch

from . import __version__
from .clip_backbone import (
    CLIP_CONFIG_FILE, CLIP_WEIGHTS_FILE, ClipBackbone, ClipError, file_in_folder, portable_weights_name, saved_clip_weights,
)
from .config import ClipConfig, GALIPConfig
from .nets import GALIP
from .nets.galip import check_memory
from .torchscript import TorchScriptError

FORMAT = "galip-studio"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
GENERATOR_FILE = "generator.safetensors"
DISCRIMINATOR_FILE = "discriminator.safetensors"
TRAINING_STATE_FILE = "training_state.pt"  # written beside a run's checkpoint by the trainer
FEATURE_D_FILE = "feature_discriminator.safetensors"  # likewise, with train --feature-d: its projection and heads
# The files a checkpoint (or a CLIP directory) writes, by name: anything else in its folder (a model
# card, figures and their recipe sidecars, the user's own *.bin/*.pt/*.pth/*.safetensors files) is the
# user's, and a save that replaces the checkpoint (convert --overwrite, init --overwrite, training) keeps it.
OWN_FILES = frozenset({CONFIG_FILE, CLIP_CONFIG_FILE, GENERATOR_FILE, DISCRIMINATOR_FILE, CLIP_WEIGHTS_FILE, TRAINING_STATE_FILE,
                       FEATURE_D_FILE})


class CheckpointError(ValueError):
    """A checkpoint could not be read; the message names the file, the problem and the fix."""


# ---------------------------------------------------------------------------------------- atomic I/O
def is_own_file(name: str) -> bool:
    """True for a file a checkpoint (or a CLIP directory) writes itself (:data:`OWN_FILES`): its config
    and its weight and training-state files. Everything else in the folder (a model card, figures,
    sub-folders, dot-files, other weights files) belongs to the user and is never replaced or deleted
    by a save."""
    return name in OWN_FILES


def _carry_over(source: Path, target: Path) -> None:
    """Move every entry of ``source`` that a checkpoint does not own into ``target`` (unless
    ``target`` already has one of that name): what the user put in a checkpoint folder survives
    its replacement."""
    for entry in sorted(source.iterdir()):
        if is_own_file(entry.name) and entry.is_file():
            continue
        if not (target / entry.name).exists() and not (target / entry.name).is_symlink():
            os.replace(entry, target / entry.name)


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a directory
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``target`` only if the block finishes.

    The files are flushed to the disk (fsync, then the folder), the old ``target`` (if any) is
    moved aside, the new one renamed in, the user's own entries of the old one (anything that is not
    a config or weight file: a model card, figures, sub-folders, dot-files) moved into the new one,
    then the rest of the old one removed. A crash at any point leaves a complete checkpoint at
    ``target`` or at ``target.old``, and never loses the user's files (a later save carries them
    over from a left-behind ``target.old``).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        _default_permissions(tmp)
        for path in sorted(tmp.rglob("*"), reverse=True):
            if path.is_file() and not path.is_symlink():
                _fsync(path)
            elif path.is_dir():
                _fsync(path)
        _fsync(tmp)
        old = target.with_name(target.name + ".old")
        if old.exists():  # left by a save killed half-way
            if target.is_dir():
                _carry_over(old, target)
                shutil.rmtree(old)
            else:
                os.replace(old, target)  # killed between the two renames: old is the checkpoint
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        if old.exists():
            _carry_over(old, target)
            shutil.rmtree(old)
        _fsync(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _default_permissions(directory: Path) -> None:
    """Give a finished directory the modes a plain ``mkdir``/``open`` would (under the umask):
    ``mkdtemp`` makes it 0700 and safetensors writes 0600 files, which others could not read."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [directory, *directory.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def other_files(directory: str | os.PathLike) -> dict[str, bytes]:
    """The top-level files of ``directory`` other than its config and weights (see
    :data:`OWN_FILES`), name -> bytes: what to carry over when a checkpoint is replaced."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}
    return {
        p.name: p.read_bytes()
        for p in sorted(directory.iterdir())
        if p.is_file() and not p.name.startswith(".") and not is_own_file(p.name)
    }


def _dtype_from_name(name: str | None) -> torch.dtype | None:
    if name is None:
        return None
    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if name not in table:
        raise CheckpointError(f"unsupported weight dtype {name!r}; use one of {sorted(table)}")
    return table[name]


def _tensors(module: torch.nn.Module, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in module.state_dict().items():
        v = v.detach().cpu().contiguous()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v
    return out


# ---------------------------------------------------------------------------------------- our format
def save_checkpoint(
    model: GALIP,
    directory: str | os.PathLike,
    *,
    training: dict[str, Any] | None = None,
    dtype: str | None = None,
    include_discriminator: bool = True,
    include_clip_weights: bool | None = None,
    extra_files: dict[str, bytes] | None = None,
    generator: torch.nn.Module | None = None,
) -> Path:
    """Save ``model`` as a checkpoint directory (atomically).

    Args:
        training: metadata stored under ``"training"`` in config.json (data, steps, metrics, ...).
        dtype: store floating weights as ``"float16"``/``"bfloat16"`` (e.g. for a small bundled
            model); loading always gives float32 modules.
        include_discriminator: also store the discriminator (needed to resume or fine-tune).
        include_clip_weights: store the CLIP weights; by default only when the CLIP config names no
            pretrained source (random or in-house CLIPs). Towers that an installed package
            provides (MiniLM) are never copied.
        extra_files: more files to write into the directory (name -> bytes).
        generator: weights to store as the generator instead of ``model.generator`` (a generator of
            the same architecture, e.g. the moving average of training).
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    check_replaceable(directory)
    torch_dtype = _dtype_from_name(dtype)
    clip = model.clip
    if include_clip_weights is None:
        include_clip_weights = clip.config.pretrained is None
    clip_cfg = clip.to_config_dict()
    clip_cfg["pretrained"] = portable_weights_name(clip_cfg["pretrained"])
    if include_clip_weights:
        clip_cfg["pretrained"] = None
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "galip": model.config.to_dict(),
        "clip": clip_cfg,
        "weights_dtype": dtype or "float32",
        "files": {
            "generator": GENERATOR_FILE,
            "discriminator": DISCRIMINATOR_FILE if include_discriminator else None,
            "clip": CLIP_WEIGHTS_FILE if include_clip_weights else None,
        },
        "training": {key: portable_path(value) for key, value in (training or {}).items()},
    }
    with atomic_directory(directory) as tmp:
        save_file(_tensors(generator if generator is not None else model.generator, torch_dtype), str(tmp / GENERATOR_FILE))
        if include_discriminator:
            save_file(_tensors(model.discriminator, torch_dtype), str(tmp / DISCRIMINATOR_FILE))
        if include_clip_weights:
            save_file(clip.weights_to_save(torch_dtype), str(tmp / CLIP_WEIGHTS_FILE))
        for name, data in (extra_files or {}).items():
            (tmp / name).write_bytes(data)
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return directory


def portable_path(value: Any) -> Any:
    """A training-metadata value as a checkpoint stores it: an absolute path (the data, the run, the
    source of a conversion) becomes relative to the working directory when it lies inside it, else
    its name, so a shared checkpoint carries no machine paths; other values stay as they are."""
    if not (isinstance(value, str) and os.path.isabs(value)):
        return value
    cwd = os.getcwd()
    inside = os.path.commonpath([cwd, os.path.abspath(value)]) == cwd
    return os.path.relpath(value, cwd) if inside else Path(value).name


def check_replaceable(directory: str | os.PathLike) -> None:
    """Refuse to write a checkpoint over anything but nothing, an empty folder or a checkpoint.

    A save replaces only a checkpoint's own files (see :func:`is_own_file`); a folder of other
    things (a dataset, a home directory) is never taken over.
    """
    directory = Path(directory)
    if directory.is_symlink() and not directory.exists():
        raise CheckpointError(f"{directory} is a broken symbolic link; remove it or choose another folder")
    if not directory.exists():
        return
    if not directory.is_dir():
        raise CheckpointError(f"{directory} is a file; choose a folder name for the checkpoint")
    if not any(directory.iterdir()):
        return
    try:
        config = _load_json((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        config = None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(
            f"{directory} is not empty and not a GALIP Studio checkpoint; refusing to write a checkpoint into it "
            f"(its files would be mixed with or replaced by the checkpoint's): choose a new or empty folder"
        )


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid JSON number")


def _load_json(text: str) -> Any:
    """``json.loads`` that refuses NaN/Infinity and turns too deep nesting into a ValueError."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError as e:
        raise ValueError("the JSON is nested too deeply") from e


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """Read and validate ``config.json`` of a checkpoint directory."""
    directory = Path(directory)
    if not directory.exists():
        raise CheckpointError(f"checkpoint not found: {directory}")
    if directory.is_file():
        hint = " (an official GALIP .pth? use --official / GALIPPipeline.from_official)" if directory.suffix in (".pth", ".pt") else ""
        raise CheckpointError(f"{directory} is a file; a GALIP Studio checkpoint is a directory with {CONFIG_FILE}{hint}")
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory} has no {CONFIG_FILE}; it is not a GALIP Studio checkpoint directory")
    try:
        config = _load_json(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a GALIP Studio config (missing \"format\": \"{FORMAT}\")")
    version = config.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{path} has format_version {version!r}; it must be a whole number such as {FORMAT_VERSION}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {config['format_version']}, newer than this galip-studio "
            f"({FORMAT_VERSION}); upgrade galip-studio"
        )
    for key in ("galip", "clip", "training", "files"):
        if key in config and not isinstance(config[key], dict) and not (key == "training" and config[key] is None):
            raise CheckpointError(f"{path}: \"{key}\" is {json.dumps(config[key])[:60]}; it must be an object ({{...}})")
    return config


def _checked_files(files: Any, directory: Path) -> dict[str, str | None]:
    """The ``files`` table of a config, each entry a plain file name inside the checkpoint folder
    (a path such as ``/etc/passwd`` or ``../x`` is refused, so loading never reads outside it)."""
    if not isinstance(files, dict):
        raise CheckpointError(f"{directory / CONFIG_FILE}: \"files\" must be an object of file names")
    for key, name in files.items():
        if name is None:
            continue
        plain = isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name and Path(name).name == name
        if not plain:
            raise CheckpointError(
                f"{directory / CONFIG_FILE}: files.{key} is {name!r}; it must be the name of a file inside the checkpoint folder"
            )
        if file_in_folder(directory, name) is None:  # a symbolic link out of the folder
            raise CheckpointError(
                f"{directory / name} is a symbolic link to a file outside the checkpoint folder; copy the file into the folder"
            )
    return files


def load_into(module: torch.nn.Module, path: Path, what: str) -> None:
    """Load the safetensors file ``path`` into ``module``: every key, with the right shapes, or a
    :class:`CheckpointError` that names the difference (``what`` names the weights in it)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"{what} weights missing: {path}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file: {e}") from e
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        detail = []
        if missing:
            detail.append(f"missing keys {missing[:4]}{' ...' if len(missing) > 4 else ''}")
        if unexpected:
            detail.append(f"unexpected keys {unexpected[:4]}{' ...' if len(unexpected) > 4 else ''}")
        if wrong:
            k = wrong[0]
            detail.append(f"shape mismatch at {k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}")
        raise CheckpointError(f"{what} weights in {path} do not match the architecture in {CONFIG_FILE}: " + "; ".join(detail))
    ref = next(iter(expected.values()), None)
    dtype = ref.dtype if ref is not None else torch.float32
    module.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=True)


def load_checkpoint(
    directory: str | os.PathLike, *, clip_weights: str | None = None, load_discriminator: bool = True
) -> tuple[GALIP, dict[str, Any]]:
    """Load a checkpoint directory; returns ``(model, config_dict)`` with float32 modules on the CPU.

    ``clip_weights`` overrides where the CLIP weights come from (a local file or an open_clip tag),
    for checkpoints that reference a pretrained CLIP, e.g. ``"openai"`` on a machine without network.
    """
    directory = Path(directory)
    config = read_config(directory)
    try:
        galip_cfg = GALIPConfig.from_dict(config["galip"])
        clip_cfg = ClipConfig.from_dict(config["clip"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{directory / CONFIG_FILE} has an invalid model config: {e}") from e
    files = _checked_files(config.get("files", {}), directory)
    clip_file = files.get("clip")
    if clip_weights is not None:
        clip_cfg.pretrained = clip_weights
        clip_file = None
    elif clip_file is None and clip_cfg.pretrained is None:
        raise CheckpointError(f"{directory} stores no CLIP weights and names no source; pass clip_weights=PATH")
    elif clip_file is None:
        try:  # a tag, or a file inside the checkpoint folder: never a path elsewhere from the config
            clip_cfg.pretrained = saved_clip_weights(clip_cfg, directory)
        except ClipError as e:
            raise CheckpointError(f"{directory / CONFIG_FILE}: {e}") from None
    try:
        check_memory(galip_cfg, clip_cfg)  # the whole model's estimate, before anything is built
        clip = ClipBackbone.from_config(clip_cfg)
    except ClipError as e:
        raise CheckpointError(f"cannot build the CLIP of {directory}: {e}") from e
    model = GALIP(galip_cfg, clip)
    if clip_file is not None:
        _load_clip(clip, directory / clip_file)
    load_into(model.generator, directory / files.get("generator", GENERATOR_FILE), "generator")
    if load_discriminator and files.get("discriminator"):
        load_into(model.discriminator, directory / files["discriminator"], "discriminator")
    model.eval()
    return model, config


def _load_clip(clip: ClipBackbone, path: Path) -> None:
    from safetensors.torch import load_file

    try:
        clip.load_saved_weights(load_file(str(path)), str(path))
    except ClipError as e:
        raise CheckpointError(str(e)) from e
    except Exception as e:  # missing or unreadable file
        raise CheckpointError(f"CLIP weights {path} could not be read: {e}") from e


# ---------------------------------------------------------------------------------------- training state
TRAIN_STATE_FORMAT = "galip-studio-train-state"  # the "format" of a run checkpoint's training_state.pt


def read_train_state(checkpoint: str | os.PathLike) -> dict[str, Any]:
    """The training state of a run checkpoint (optimizers, position, G's trained weights), read by
    :func:`galip_studio.torchscript.load_archive`: tensors and plain containers, never code, and
    never more memory than the file stores (a deflated or stride-0 tensor is refused before any
    tensor is read)."""
    from .torchscript import load_archive

    path = Path(checkpoint) / TRAINING_STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{checkpoint} is not a training checkpoint (no {TRAINING_STATE_FILE}): use one of a run's checkpoints/step_NNNNNN")
    try:
        state = load_archive(path)
    except TorchScriptError as e:  # a truncated, foreign or crafted file
        raise ValueError(f"{e} ({path.name} cannot be read as a training state)") from None
    if not isinstance(state, dict) or state.get("format") != TRAIN_STATE_FORMAT:
        raise ValueError(f"{path} is not a GALIP Studio training state")
    return state


def trained_generator(checkpoint: str | os.PathLike) -> dict[str, Any]:
    """G's trained weights in a checkpoint of a run with a moving average (``--ema``), whose
    ``generator.safetensors`` holds the average."""
    trained = read_train_state(checkpoint).get("generator_train")
    if trained is None:
        raise ValueError(f"{checkpoint}: its run kept no moving average of G, so its generator already is the trained weights")
    if not isinstance(trained, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in trained.items()):
        raise ValueError(f"{checkpoint}: generator_train in its {TRAINING_STATE_FILE} is not a state dict of tensors; "
                         f"the file is damaged or not from GALIP Studio")
    return trained


def trained_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """A run checkpoint's evaluation as it reads for G's trained weights: each ``raw_<name>`` becomes
    ``<name>`` and the average's score moves to ``average_<name>``; the real images' baselines stay."""
    out = {k: v for k, v in metrics.items() if not k.startswith("raw_")}
    for key, value in metrics.items():
        if key.startswith("raw_"):
            name = key[len("raw_"):]
            if name in out:
                out[f"average_{name}"] = out[name]
            out[name] = value
    return out
