"""Model configuration: dataclasses for GALIP and its CLIP, and named presets.

A GALIP model is fully described by a :class:`GALIPConfig` (the trainable networks) and a
:class:`ClipConfig` (which frozen CLIP it is built around). Everything that depends on the CLIP
(sentence width, ViT width, patch grid, number of prompts and feature taps) is read off the CLIP
itself, so one config works over any open_clip ViT.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Official GALIP (ViT-B/32, 12 blocks): discriminator taps after blocks 1, 4, 8 (0-based) and one
# learned prompt appended in each of blocks 1..8.
OFFICIAL_TAP_LAYERS = (1, 4, 8)
OFFICIAL_PROMPT_LAYERS = tuple(range(1, 9))
OFFICIAL_DEPTH = 12


def _scaled_index(official_index: int, depth: int) -> int:
    """Map a 0-based block index of the 12-block official ViT to the same relative depth."""
    return max(0, int((official_index + 1) * depth / OFFICIAL_DEPTH + 0.5) - 1)


def default_tap_layers(depth: int) -> tuple[int, ...]:
    """Discriminator feature taps: the official 1/4/8 of 12, scaled to ``depth`` (distinct, sorted)."""
    if depth == OFFICIAL_DEPTH:
        return OFFICIAL_TAP_LAYERS
    return tuple(sorted({min(_scaled_index(i, depth), depth - 1) for i in OFFICIAL_TAP_LAYERS}))


def default_prompt_layers(depth: int) -> tuple[int, ...]:
    """Blocks that receive a prompt token: the official 1..8 of 12, scaled to ``depth``."""
    if depth == OFFICIAL_DEPTH:
        return OFFICIAL_PROMPT_LAYERS
    first = 1 if depth > 1 else 0
    last = max(first, min(_scaled_index(OFFICIAL_PROMPT_LAYERS[-1], depth), depth - 1))
    return tuple(range(first, last + 1))


class DictConfig:
    """``to_dict``/``from_dict`` for a settings dataclass: plain JSON-ready values out, and in, the
    known fields only (an unknown key is a clear error naming :attr:`FIELDS_NAME`, not a TypeError)."""

    FIELDS_NAME = "config fields"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown {cls.FIELDS_NAME}: {sorted(unknown)}")
        return cls(**copy.deepcopy(d))


# ---------------------------------------------------------------------------------- the CLIP arch allow-list
# A checkpoint's (or CLIP folder's) config is user input, and its ``clip.arch`` reaches open_clip's
# factory and, for Hugging Face text towers, transformers. Free-form settings there can make
# transformers import Python from a folder (``tokenizer_kwargs: {"trust_remote_code": true}`` with a
# tokenizer "name" that is a path), so an arch may hold only the keys below, each of the type given;
# Hugging Face names only from fixed sets (the bundled MiniLM and those open_clip's own model configs
# use), never a path. docs/security.md lists the same table.
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"

HF_TEXT_TOWERS: frozenset[str] = frozenset({
    MINILM_NAME, "roberta-base", "xlm-roberta-base", "xlm-roberta-large", "google/mt5-base", "google/mt5-xl",
    "facebook/nllb-200-distilled-600M", "facebook/nllb-200-distilled-1.3B",
})
HF_TOKENIZERS: frozenset[str] = HF_TEXT_TOWERS | {"bert-base-uncased", "facebook/xlm-v-base"}

# open_clip's own model names are plain names; "hf-hub:org/x" and "local-dir:/path" read a config
# (and a tokenizer) from elsewhere, so a ClipConfig's name may not have a schema or a path.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _whole(low: int) -> Any:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _one_of(*choices: Any) -> Any:
    return lambda v: any(v is c or (type(v) is type(c) and v == c) for c in choices)


def _optional(check: Any) -> Any:
    return lambda v: v is None or check(v)


_POSITIVE = (_whole(1), "a whole number of at least 1")
_INDEX = (_whole(0), "a whole number of at least 0")
_FLAG = (lambda v: isinstance(v, bool), "true or false")
_NUMBER = (_finite, "a finite number")
_OPT_NUMBER = (_optional(_finite), "a finite number or null")
_RATIO = (lambda v: _finite(v) and v > 0, "a positive number")


def _choice(*choices: Any) -> tuple[Any, str]:
    return _one_of(*choices), "one of " + ", ".join(_json_repr(c) for c in choices)


def _json_repr(value: Any) -> str:
    return "null" if value is None else "true" if value is True else "false" if value is False else repr(value)


# act_kwargs/norm_kwargs/tokenizer_kwargs are keyword arguments open_clip passes on: only the settings
# its own configs use are allowed, each checked (nothing reaches transformers through them).
_ACT_KWARGS = {"approximate": _choice("none", "tanh")}
_NORM_KWARGS = {"eps": _RATIO}
_BLOCK_FLAGS = {k: _FLAG for k in ("qk_norm", "scaled_cosine_attn", "scale_heads", "scale_attn_inner", "scale_attn", "scale_fc")}

CLIP_VISION_FIELDS: dict[str, Any] = {
    "image_size": (lambda v: _whole(1)(v) or (isinstance(v, list) and len(v) == 2 and all(_whole(1)(x) for x in v)),
                   "a whole number or [height, width]"),
    "patch_size": _POSITIVE, "width": _POSITIVE, "layers": _POSITIVE, "head_width": _POSITIVE,
    "mlp_ratio": _RATIO, "ls_init_value": _OPT_NUMBER,
    "patch_dropout": (lambda v: _finite(v) and 0 <= v < 1, "a number in [0, 1)"),
    "attentional_pool": _FLAG, "attn_pooler_queries": _POSITIVE, "attn_pooler_heads": _POSITIVE,
    "no_ln_pre": _FLAG, "final_ln_after_pool": _FLAG, "output_tokens": _FLAG,
    "pos_embed_type": _choice("learnable", "sin_cos_2d"), "pool_type": _choice("tok", "avg", "none"),
    "block_type": _choice(None, "default", "custom"),
    "act_kwargs": _ACT_KWARGS, "norm_kwargs": _NORM_KWARGS, **_BLOCK_FLAGS,
}

CLIP_TEXT_FIELDS: dict[str, Any] = {
    "context_length": _POSITIVE, "vocab_size": _POSITIVE, "width": _POSITIVE, "heads": _POSITIVE, "layers": _POSITIVE,
    "mlp_ratio": _RATIO, "ls_init_value": _OPT_NUMBER, "pad_id": _INDEX, "eos_id": _INDEX,
    "embed_cls": _FLAG, "no_causal_mask": _FLAG, "final_ln_after_pool": _FLAG, "proj_bias": _FLAG, "output_tokens": _FLAG,
    "pool_type": _choice("first", "last", "argmax", "eos", "none"), "proj_type": _choice(None, "linear", "none"),
    "block_type": _choice(None, "default", "custom"),
    "act_kwargs": _ACT_KWARGS, "norm_kwargs": _NORM_KWARGS, **_BLOCK_FLAGS,
    "hf_model_name": (lambda v: isinstance(v, str) and v in HF_TEXT_TOWERS, "one of " + ", ".join(sorted(HF_TEXT_TOWERS))),
    "hf_tokenizer_name": (lambda v: isinstance(v, str) and v in HF_TOKENIZERS, "one of " + ", ".join(sorted(HF_TOKENIZERS))),
    "hf_model_pretrained": _FLAG,
    "hf_proj_type": _choice(None, "linear", "mlp"),
    "hf_pooler_type": _choice("mean_pooler", "max_pooler", "cls_pooler", "cls_last_hidden_state_pooler"),
    # open_clip's text cleaning options, read by its HFTokenizer itself (never passed to transformers)
    "tokenizer_kwargs": {"clean": _choice("canonicalize", "lower", "whitespace"), "strip_sep_token": _FLAG},
}

_PLAIN_LIST = (lambda v: isinstance(v, list) and len(v) <= 4 and all(_finite(x) for x in v), "a list of numbers")
CLIP_ARCH_FIELDS: dict[str, Any] = {
    "embed_dim": _POSITIVE, "quick_gelu": _FLAG, "custom_text": _FLAG,
    "init_logit_scale": _NUMBER, "init_logit_bias": _OPT_NUMBER, "nonscalar_logit_scale": _FLAG,
    "vision_cfg": CLIP_VISION_FIELDS, "text_cfg": CLIP_TEXT_FIELDS,
    # never passed to open_clip (the image statistics come from the model): plain data only
    "preprocess_cfg": {"mean": _PLAIN_LIST, "std": _PLAIN_LIST, "size": CLIP_VISION_FIELDS["image_size"],
                       "interpolation": _choice("bicubic", "bilinear", "nearest"), "resize_mode": _choice("shortest", "longest", "squash"),
                       "fill_color": _INDEX},
}
CLIP_ARCH_REQUIRED = ("embed_dim", "vision_cfg", "text_cfg")


def _check_fields(value: Any, fields: dict[str, Any], where: str) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object, got {type(value).__name__}")
    for key, item in value.items():
        rule = fields.get(key)
        if rule is None:
            raise ValueError(
                f"{where}.{key} is not allowed: a CLIP arch may only hold the architecture keys listed in docs/security.md "
                f"(nothing that makes open_clip or transformers load code or files)"
            )
        if isinstance(rule, dict):
            _check_fields(item, rule, f"{where}.{key}")
        elif not rule[0](item):
            shown = repr(item) if len(repr(item)) <= 80 else repr(item)[:77] + "..."
            raise ValueError(f"{where}.{key} is {shown}; it must be {rule[1]}")


def check_clip_arch(arch: Any, where: str = "clip.arch") -> None:
    """Refuse an open_clip ``arch`` with a key or a value outside :data:`CLIP_ARCH_FIELDS` (one line
    naming the field); nothing is built or imported."""
    _check_fields(arch, CLIP_ARCH_FIELDS, where)
    missing = [key for key in CLIP_ARCH_REQUIRED if key not in arch]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)}: a CLIP arch needs embed_dim, vision_cfg and text_cfg")


def check_clip_name(name: Any) -> None:
    """A ClipConfig's ``name`` is one of open_clip's own model names: no ``hf-hub:``/``local-dir:`` schema, no path."""
    if name is not None and not (isinstance(name, str) and _PLAIN_NAME.fullmatch(name)):
        raise ValueError(
            f"clip.name is {name!r:.80}; it must be an open_clip model name such as 'ViT-B-32-quickgelu' "
            f"(no path, no hf-hub: or local-dir:)"
        )


@dataclass
class ClipConfig(DictConfig):
    """Which frozen CLIP the model is built around, and how GALIP uses it.

    Attributes:
        name: an open_clip model name (``"ViT-B-32-quickgelu"``); ignored when ``arch`` is given.
        arch: a full open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``, ...) for
            models open_clip does not know by name (tiny test models, the bundled mini-CLIP).
        pretrained: an open_clip pretrained tag (``"openai"``, needs a network) or a local weights
            file. ``None`` means random initialisation, or weights stored with a checkpoint.
        tap_layers: 0-based ViT blocks whose patch tokens feed the discriminator; ``None`` scales
            the official (1, 4, 8) of 12 to the model's depth.
        prompt_layers: 0-based ViT blocks that get one generator prompt each; ``None`` scales the
            official 1..8 of 12 to the model's depth.
        preprocess: ``"official"`` replicates GALIP's double de-normalisation (pixels squeezed into
            [0.5, 1], nearest resize; needed for the official weights), ``"standard"`` is the usual
            CLIP normalisation with an antialiased bilinear resize (for new models).
    """

    name: str | None = "ViT-B-32-quickgelu"
    arch: dict[str, Any] | None = None
    pretrained: str | None = None
    tap_layers: tuple[int, ...] | None = None
    prompt_layers: tuple[int, ...] | None = None
    preprocess: str = "official"

    def __post_init__(self) -> None:
        if self.preprocess not in ("official", "standard"):
            raise ValueError(f"preprocess must be 'official' or 'standard', got {self.preprocess!r}")
        if self.name is None and self.arch is None:
            raise ValueError("ClipConfig needs an open_clip model name or an arch dict")
        # Checked here, so every way a config arrives (a checkpoint, a CLIP folder, code) is covered.
        check_clip_name(self.name)
        if self.arch is not None:
            check_clip_arch(self.arch)
        if self.pretrained is not None and not (isinstance(self.pretrained, str) and 0 < len(self.pretrained) <= 4096):
            raise ValueError(f"clip.pretrained is {self.pretrained!r:.80}; it must be an open_clip tag or a weights file name")
        if self.tap_layers is not None:
            self.tap_layers = tuple(int(i) for i in self.tap_layers)
        if self.prompt_layers is not None:
            self.prompt_layers = tuple(int(i) for i in self.prompt_layers)

    FIELDS_NAME = "CLIP config fields"

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        for key in ("tap_layers", "prompt_layers"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d


# Upper bounds on GALIPConfig's sizes: far above any real model (the official one is 224 px,
# ngf/ndf/code_channels 64), low enough that a mistyped or hostile config cannot exhaust memory.
GALIP_SIZE_LIMITS: dict[str, int] = {
    "img_size": 2048,
    "z_dim": 4096,
    "ngf": 1024,
    "code_channels": 2048,
    "code_mid": 2048,
    "n_fusion_blocks": 64,
    "ndf": 1024,
}


# The most memory (parameters in float32 plus one image's activations, estimated from the configs) a
# model may ask for before anything is built: each size above can be within its bound while all of
# them together need tens of GB. 8 GB is several times the official 224 px model over ViT-B/32 (about
# 1 GB); raise it for a real big model with the environment variable (any command, the app, the API)
# or `galip-studio --max-model-gb GB COMMAND ...`.
MAX_MODEL_GB_ENV = "GALIP_STUDIO_MAX_MODEL_GB"
DEFAULT_MAX_MODEL_GB = 8.0


class ModelTooLarge(ValueError):
    """A config asks for more memory than the limit (the message has the estimate and the fix)."""


def max_model_bytes() -> float:
    """The memory limit in bytes: ``$GALIP_STUDIO_MAX_MODEL_GB`` GB, else :data:`DEFAULT_MAX_MODEL_GB`."""
    text = os.environ.get(MAX_MODEL_GB_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_MODEL_GB * 2**30
    try:
        gb = float(text)
    except ValueError:
        gb = float("nan")
    if not (math.isfinite(gb) and gb > 0):
        raise ValueError(f"{MAX_MODEL_GB_ENV} is {text!r:.40}; set it to a number of GB such as 24")
    return gb * 2**30


def check_model_memory(what: str, needed_bytes: float, detail: str = "") -> None:
    """Refuse ``what`` when its estimated memory is above :func:`max_model_bytes`."""
    limit = max_model_bytes()
    if needed_bytes > limit:
        raise ModelTooLarge(
            f"{what} would need about {needed_bytes / 2**30:.1f} GB ({detail}), above the limit of {limit / 2**30:.1f} GB: "
            f"check the sizes in its config, or for a real big model raise the limit with {MAX_MODEL_GB_ENV}=GB "
            f"(or galip-studio --max-model-gb GB ...)"
        )


@dataclass
class GALIPConfig(DictConfig):
    """The trainable GALIP networks. Widths tied to the CLIP are derived from it at build time.

    Defaults are the official code's values (docs/architecture.md, "The model").
    """

    FIELDS_NAME = "GALIP config fields"

    img_size: int = 224  # generator output side; 224 (official) or a power of two
    z_dim: int = 100  # noise size
    ngf: int = 64  # generator base width: G-block channels are ngf * min(2**i, 8)
    code_channels: int = 64  # bridge code channels (fc_code output, fusion blocks)
    code_mid: int = 32  # inner width of the fusion blocks
    n_fusion_blocks: int = 4
    clip_residual: float = 0.1  # weight of the CLIP-ViT output added to the bridge feature
    ndf: int = 64  # discriminator: ClipFeatureExtractor ends at ndf*8 channels, QualityAssessor hidden ndf*2

    def __post_init__(self) -> None:
        # Sizes are checked before anything is allocated: a config.json is user input, and an absurd
        # width (ngf: 1000000) must be a clear error, not a machine out of memory.
        for name, limit in GALIP_SIZE_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            if not 1 <= value <= limit:
                raise ValueError(f"{name} is {value}; GALIP Studio builds models with {name} from 1 to {limit}: check the config")
        if isinstance(self.clip_residual, bool) or not isinstance(self.clip_residual, (int, float)) or not math.isfinite(self.clip_residual):
            raise ValueError(f"clip_residual must be a finite number, got {self.clip_residual!r}")
        if self.img_size < 16:
            raise ValueError(f"img_size must be at least 16, got {self.img_size}")
        pow2 = self.img_size & (self.img_size - 1) == 0
        if not pow2 and self.img_size != 224:
            raise ValueError(f"img_size must be 224 or a power of two (64, 128, 256, ...), got {self.img_size}")

    def gblock_schedule(self) -> list[tuple[int, int, int]]:
        """(in_channels, out_channels, target_size) of each G-block, as the official rule gives.

        Channels are ``ngf * min(2**i, 8)`` for i in 0..log2(S)-2, reversed and paired, where S is
        the output side rounded up to a power of two. Target sizes double from 8; the last block
        resizes to ``img_size`` (so 224 gives 8, 16, 32, 64, 128, 224).
        """
        side = 1 << (self.img_size - 1).bit_length()
        n = side.bit_length() - 1  # log2(side)
        chans = [self.ngf * min(2**i, 8) for i in range(n - 1)][::-1]
        pairs = list(zip(chans[:-1], chans[1:]))
        sizes = [8 * 2**i for i in range(len(pairs))]
        sizes[-1] = self.img_size
        return [(cin, cout, s) for (cin, cout), s in zip(pairs, sizes)]



@dataclass
class Preset:
    """A named pair of configs (``--preset NAME`` on the command line)."""

    name: str
    description: str
    galip: GALIPConfig
    clip: ClipConfig
    training: dict[str, Any] = field(default_factory=dict)


# A tiny random CLIP for tests and quick experiments: 56 px, patch 8 (a 7x7 grid like ViT-B/32),
# width 32, 4 blocks; text tower 2 blocks over the usual BPE vocabulary.
TINY_CLIP_ARCH: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 56, "patch_size": 8, "width": 32, "layers": 4, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


# The bundled mini-CLIP (``galip-studio train-clip``, :mod:`galip_studio.miniclip`): a 64 px ViT
# (patch 8 -> 8x8 grid + class token, width 192, 4 blocks, 3 heads, nn.GELU) with a learned 192->384
# projection, trained against the frozen pretrained all-MiniLM-L6-v2 sentence encoder (open_clip's
# HFTextEncoder, attention-masked mean pooling, no projection: its 384-d output is the embedding
# space). Its architecture lives here, below the model code, because the emoji-64 preset is built on it.
MINILM_WIDTH = 384

MINICLIP_VISION_CFG: dict[str, Any] = {
    "image_size": 64,
    "patch_size": 8,
    "width": 192,
    "layers": 4,
    "head_width": 64,  # 3 heads
    "mlp_ratio": 4.0,
}

# context_length: prompts are cut at 64 word pieces (about 45 words; the tokenizer pads to it).
MINICLIP_TEXT_CFG: dict[str, Any] = {
    "hf_model_name": MINILM_NAME,
    "hf_tokenizer_name": MINILM_NAME,
    "hf_pooler_type": "mean_pooler",
    "hf_proj_type": None,  # embed_dim == MiniLM width, so open_clip uses an Identity projection
    "context_length": 64,
}

MINICLIP_ARCH: dict[str, Any] = {
    "embed_dim": MINILM_WIDTH,
    "quick_gelu": False,  # nn.GELU
    "vision_cfg": MINICLIP_VISION_CFG,
    "text_cfg": MINICLIP_TEXT_CFG,
}


def miniclip_arch(vision_cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """A fresh copy of :data:`MINICLIP_ARCH`, optionally with other image-tower settings."""
    arch = copy.deepcopy(MINICLIP_ARCH)
    if vision_cfg is not None:
        arch["vision_cfg"] = copy.deepcopy(dict(vision_cfg))
    return arch


def miniclip_config(vision_cfg: dict[str, Any] | None = None) -> ClipConfig:
    """The :class:`ClipConfig` of the mini-CLIP: standard preprocessing, taps/prompts scaled to its depth."""
    arch = miniclip_arch(vision_cfg)
    depth = int(arch["vision_cfg"]["layers"])
    return ClipConfig(
        name=None,
        arch=arch,
        preprocess="standard",
        tap_layers=default_tap_layers(depth),
        prompt_layers=default_prompt_layers(depth),
    )


# A data fact, not a setting: captions with these word starts describe something a horizontal mirror
# would change or garble (directions, text, digits, flags, clock hands, signs). Their images are never
# flipped, by the mini-CLIP trainer and (through the emoji-64 preset's flip_exclude) the GAN trainer.
NO_FLIP_PATTERN = re.compile(
    r"\b(?:left|right|arrow|point|facing|keycap|clock|flag|sign|button|symbol|letter|input|digit|number|"
    r"latin|mark|zodiac|hundred|copyright|registered|currency|dollar|euro|yen|pound|text|writ|newspaper|calendar)"
)


# Where the bundled checkpoints live (next to the package in a source checkout / editable install).
CHECKPOINTS_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
BUNDLED_CLIP_NAME = "miniclip-emoji-64"


def _presets() -> dict[str, Preset]:
    return {
        "official-224": Preset(
            name="official-224",
            description="The paper's model: OpenAI CLIP ViT-B/32 (QuickGELU), 224 px output.",
            galip=GALIPConfig(),
            clip=ClipConfig(name="ViT-B-32-quickgelu", pretrained="openai", preprocess="official"),
        ),
        "tiny": Preset(
            name="tiny",
            description="A tiny random-initialised model for tests and smoke runs (32 px).",
            galip=GALIPConfig(img_size=32, z_dim=16, ngf=8, code_channels=16, code_mid=8, ndf=8),
            clip=ClipConfig(name=None, arch=copy.deepcopy(TINY_CLIP_ARCH), preprocess="standard"),
        ),
        # 64 px output over OpenAI CLIP ViT-B/32 at 224 px (images are resized for CLIP): the official
        # discriminator and prompt layout, half-width G-blocks (256-256-128-64-32 channels, 8 -> 64 px),
        # standard CLIP preprocessing (the official [0.5, 1] squeeze only matters for the paper's weights).
        # Reals are trained at 64 px. A training image costs about a quarter of official-224 (the frozen
        # ViT-B/32 passes at 224 px then dominate).
        "small-64": Preset(
            name="small-64",
            description="A 64 px GALIP over OpenAI CLIP ViT-B/32 (QuickGELU), half-width generator; for small datasets.",
            galip=GALIPConfig(img_size=64, ngf=32),
            clip=ClipConfig(name="ViT-B-32-quickgelu", pretrained="openai", preprocess="standard"),
            training={"batch_size": 32, "save_every": 1000, "sample_every": 500},
        ),
        # The bundled default model (checkpoints/galip-emoji-64): 64 px emoji over the bundled mini-CLIP
        # (frozen all-MiniLM-L6-v2 text tower, 64 px ViT w192 L4 trained by `galip-studio train-clip`),
        # half-width generator and discriminator. Runs offline; the training defaults are the settings
        # the bundled model was trained with (`galip-studio data emoji` builds the data).
        "emoji-64": Preset(
            name="emoji-64",
            description="The bundled model's architecture: 64 px emoji over the bundled mini-CLIP (offline).",
            galip=GALIPConfig(img_size=64, ngf=32, ndf=32),
            clip=miniclip_config(),
            training={
                "clip": str(CHECKPOINTS_DIR / BUNDLED_CLIP_NAME),
                "batch_size": 32,
                "resize_ratio": 1.0625,  # emoji art fills the frame: crop at most 1/16 away
                "flip_exclude": NO_FLIP_PATTERN.pattern,
                "ema": 0.998,  # StyleGAN2's 10k-image half-life at batch 32: smoother samples early in training
                "save_every": 250,
                "sample_every": 125,
                "eval_images": 256,
                "keep_last": 2,
            },
        ),
    }


PRESETS_REGISTRY = _presets


def get_preset(name: str) -> Preset:
    """Return a fresh copy of the named preset (configs are mutable dataclasses)."""
    presets = PRESETS_REGISTRY()
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(presets))}")
    return presets[name]


def preset_names() -> list[str]:
    return sorted(PRESETS_REGISTRY())
