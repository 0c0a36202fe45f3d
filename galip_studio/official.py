"""The official GALIP checkpoints (``pre_coco.pth``, ``pre_cc12m.pth``) imported into our modules, and
:func:`load_model`, which loads a checkpoint of either kind.

An official file is ``{'model': {'netG', 'netD', 'netC'}}``, keys possibly prefixed ``module.``, CLIP
tensors possibly fp16. It loads through :data:`OFFICIAL_KEY_TABLE` by :mod:`galip_studio.torchscript`'s
restricted reader (plain tensors and containers only; every tensor's size checked against the bytes
the file stores and its shape against the architecture before it is read): every key is mapped or
listed in :data:`OFFICIAL_IGNORED_KEYS`. No code from a checkpoint is ever executed. Our own
directory format is :mod:`galip_studio.checkpoint`'s (as StyleGAN3 keeps its old formats in
``legacy.py``, beside its own).
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from .checkpoint import CheckpointError, load_checkpoint, read_config
from .clip_backbone import ClipBackbone
from .config import ClipConfig, GALIPConfig
from .nets import GALIP
from .torchscript import TensorRef, TorchScriptError, read_tensors, refuse_legacy, scan_archive

# One explicit table from the official state-dict keys (networks netG/netD/netC, ``module.``
# stripped) to ours. Sub-module names inside the blocks are the official ones, so most rules are
# prefix renames. A key must match exactly one rule or one ignored pattern, or the import fails.
OFFICIAL_KEY_TABLE: list[tuple[str, str]] = [
    (r"netG\.fc_code\.(weight|bias)", r"generator.bridge.fc_code.\1"),
    (r"netG\.mapping\.fc_prompt\.(weight|bias)", r"generator.prompt_predictor.fc.\1"),
    (r"netG\.mapping\.FBlocks\.(\d+)\.(.+)", r"generator.bridge.fusion_blocks.\1.\2"),
    (r"netG\.mapping\.conv_fuse\.(weight|bias)", r"generator.bridge.conv_fuse.\1"),
    (r"netG\.mapping\.conv\.(weight|bias)", r"generator.bridge.conv_out.\1"),
    (
        r"netG\.mapping\.CLIP_ViT\.(class_embedding|positional_embedding|ln_pre\..+|transformer\.resblocks\..+)",
        r"clip.model.visual.\1",
    ),
    (r"netG\.GBlocks\.(\d+)\.(.+)", r"generator.image_generator.blocks.\1.\2"),
    (r"netG\.to_rgb\.1\.(weight|bias)", r"generator.image_generator.to_rgb.1.\1"),
    (r"netD\.DBlocks\.(\d+)\.(gamma|beta|conv_r\.[02]\.weight)", r"discriminator.feature_extractor.blocks.\1.\2"),
    (r"netD\.main\.(.+)", r"discriminator.feature_extractor.main.\1"),
    (r"netC\.joint_conv\.([02])\.weight", r"discriminator.quality_assessor.joint_conv.\1.weight"),
]

# Official keys we deliberately do not load, and why.
OFFICIAL_IGNORED_KEYS: list[tuple[str, str]] = [
    (r"netG\.mapping\.CLIP_ViT\.conv1\.weight", "the generator never calls CLIP's patch embedding"),
    (r"netD\.DBlocks\.\d+\.conv_s\.(weight|bias)", "registered but unused by the official D_Block (768 -> 768)"),
]


def map_official_key(key: str) -> str | None:
    """Our key for an official ``net.key`` name; ``None`` if deliberately ignored.

    Raises :class:`CheckpointError` for a key the table does not know.
    """
    for pattern, _why in OFFICIAL_IGNORED_KEYS:
        if re.fullmatch(pattern, key):
            return None
    for pattern, template in OFFICIAL_KEY_TABLE:
        m = re.fullmatch(pattern, key)
        if m:
            return m.expand(template)
    raise CheckpointError(f"unknown key {key!r} in the official checkpoint (not in the import table)")


def _read_official(path: Path) -> dict[str, dict[str, TensorRef]]:
    """The networks of an official file, each a state dict of :class:`TensorRef` (nothing of the
    tensors read yet: see :mod:`galip_studio.torchscript`)."""
    if not path.is_file():
        raise CheckpointError(f"official checkpoint not found: {path}")
    try:
        refuse_legacy(path)
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"{path} is not a readable PyTorch checkpoint (not a torch zip archive)")
        obj = scan_archive(path)
    except TorchScriptError as e:
        raise CheckpointError(str(e)) from e
    nets = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(nets, dict) or "netG" not in nets:
        keys = list(obj)[:6] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(
            f"{path} is not an official GALIP checkpoint: expected {{'model': {{'netG', 'netD', 'netC'}}}}, found {keys}"
        )
    out = {}
    for net in ("netG", "netD", "netC"):
        state = nets.get(net)
        if state is None:
            continue
        if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, TensorRef) for k, v in state.items()):
            raise CheckpointError(f"{path}: {net} is not a state dict of tensors")
        if state and next(iter(state)).startswith("module."):
            state = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}
        out[net] = state
    return out


def _official_refs(path: Path) -> tuple[dict[str, TensorRef], list[str], list[str]]:
    """``(our_key -> tensor record, ignored_keys, networks_present)`` of an official file."""
    nets = _read_official(path)
    ours: dict[str, TensorRef] = {}
    ignored: list[str] = []
    for net, state in nets.items():
        for key, value in state.items():
            target = map_official_key(f"{net}.{key}")
            if target is None:
                ignored.append(f"{net}.{key}")
            else:
                ours[target] = value
    return ours, ignored, list(nets)


def _read_official_tensors(path: Path, refs: dict[str, TensorRef]) -> dict[str, torch.Tensor]:
    try:
        return read_tensors(path, refs)
    except TorchScriptError as e:
        raise CheckpointError(str(e)) from e


def official_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """Read an official file and translate it: ``(our_state, ignored_keys, networks_present)``
    (ignored keys are not read)."""
    refs, ignored, present = _official_refs(Path(path))
    return _read_official_tensors(Path(path), refs), ignored, present


def load_official(
    path: str | os.PathLike, clip: ClipBackbone | ClipConfig, galip_config: GALIPConfig | None = None
) -> tuple[GALIP, dict[str, Any]]:
    """Import an official GALIP ``.pth`` into our modules, strictly.

    ``clip`` provides the text tower and the parts of the image tower the file does not carry
    (patch embedding, ln_post, proj); the generator's frozen ViT trunk is taken from the file.
    Every tensor's name and shape is checked against the architecture before any tensor data is
    read, so a file can make the process allocate no more than the model it fits.
    Returns ``(model, report)``; the report lists ignored keys and which networks were present.
    """
    path = Path(path)
    refs, ignored, present = _official_refs(path)
    if isinstance(clip, ClipConfig):
        clip = ClipBackbone.from_config(clip)
    model = GALIP(galip_config or GALIPConfig(), clip)
    expected = model.state_dict()
    required = {k for k in expected if k.startswith("generator.")}
    required |= {k for k in expected if k.startswith("clip.model.visual.") and re.match(
        r"clip\.model\.visual\.(class_embedding|positional_embedding|ln_pre\.|transformer\.resblocks\.)", k)}
    if "netD" in present:
        required |= {k for k in expected if k.startswith("discriminator.feature_extractor.")}
    if "netC" in present:
        required |= {k for k in expected if k.startswith("discriminator.quality_assessor.")}
    missing = sorted(required - set(refs))
    unexpected = sorted(set(refs) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not match the GALIP architecture: missing {missing[:4]}"
            f"{' ...' if len(missing) > 4 else ''} ({len(missing)} in all), unexpected {unexpected[:4]}"
        )
    for key, ref in refs.items():
        if ref.shape != expected[key].shape:
            raise CheckpointError(
                f"{path}: shape of {key} is {tuple(ref.shape)} but this architecture needs "
                f"{tuple(expected[key].shape)} (wrong CLIP or GALIP config for this file?)"
            )
    state = _read_official_tensors(path, refs)
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=False)
    del state
    model.eval()
    report = {"source": str(path), "networks": present, "ignored_keys": ignored}
    return model, report


def load_model(path: str | os.PathLike, clip_weights: str | None = None) -> tuple[GALIP, dict[str, Any]]:
    """Load our checkpoint directory or an official ``.pth`` (paired with CLIP ViT-B/32 weights
    ``clip_weights``, default ``"openai"``; ``"random"`` for tests). For our checkpoints
    ``clip_weights`` only matters when the checkpoint stores no CLIP weights.
    Returns ``(model, info)``; ``info`` says what was loaded (``has_discriminator``: whether the
    discriminator weights came from the file rather than a fresh initialisation)."""
    path = Path(path)
    weights = None if clip_weights == "random" else clip_weights
    if path.is_file():
        clip_cfg = ClipConfig(name="ViT-B-32-quickgelu", pretrained=weights if clip_weights else "openai", preprocess="official")
        model, report = load_official(path, clip_cfg)
        has_d = {"netD", "netC"} <= set(report["networks"])
        return model, {"init": str(path), "init_kind": "official", "networks": report["networks"], "has_discriminator": has_d}
    files = read_config(path).get("files", {})
    model, saved = load_checkpoint(path, clip_weights=None if files.get("clip") else weights)
    return model, {"init": str(path), "init_kind": "checkpoint", "training": saved.get("training", {}),
                   "has_discriminator": bool(files.get("discriminator"))}
