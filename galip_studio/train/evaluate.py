"""Evaluation: CLIP score, Fréchet distance in CLIP image-feature space, prompt and image
retrieval and (with user-supplied Inception weights) Inception FID, between real images of a
dataset and images generated from their captions.

The real images (centre crop, first caption) and the noise are fixed by a seed, so evaluations during
a run compare like with like; real-image features are computed once. CLIP measures use the model's
own CLIP and preprocessing (:mod:`galip_studio.metrics`).

Inception FID follows the official evaluation's recipe (docs/training.md, "Evaluation"): images
mapped to [0, 1], bilinearly resized to 299, scaled to [-1, 1], 2048-d pool features of torchvision's
``inception_v3`` with the weights you give (a state dict file). Absolute values match published
FIDs only with the same weights, reference statistics and image counts.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..metrics import (
    clip_frechet_distance,
    clip_image_embeddings,
    clip_score,
    feature_statistics,
    frechet_distance,
    image_retrieval,
    prompt_retrieval,
)
from ..nets import GALIP
from .data import OFFICIAL_RESIZE_RATIO, ImageCaptionDataset, ImageTransform
from .plan import default_real_size

EncodeFn = Callable[[Sequence[str]], torch.Tensor]


def load_inception(path: str | os.PathLike, device: torch.device | str = "cpu") -> nn.Module:
    """torchvision ``inception_v3`` with a local state dict (``.safetensors``, or a ``torch.save``
    ``.pth`` read by :mod:`galip_studio.torchscript`: never code, and every tensor's name and shape
    checked against the architecture before its data is read), returning 2048-d pool features."""
    from torchvision.models import inception_v3

    from ..torchscript import TorchScriptError, read_tensors, scan_archive, select_refs, state_dict_refs

    def build() -> nn.Module:
        return inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Inception weights not found: {path}")
    with torch.device("meta"):  # the shapes to check against, allocating nothing
        expected = build().state_dict()
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        try:
            refs = state_dict_refs(scan_archive(path), str(path))
            unexpected = sorted(k for k in refs if k not in expected)
            if unexpected:
                raise TorchScriptError(f"{path} does not fit torchvision's inception_v3: unexpected {unexpected[:4]}")
            state = read_tensors(path, select_refs(refs, expected, str(path), optional=("AuxLogits.",)))
        except TorchScriptError as e:
            raise ValueError(str(e)) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a state dict of tensors (torchvision inception_v3 weights)")
    model = build()
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("AuxLogits.")]
    if missing or unexpected:
        raise ValueError(
            f"{path} does not fit torchvision's inception_v3: missing {missing[:4]}, unexpected {unexpected[:4]}"
        )
    model.fc = nn.Identity()
    model.AuxLogits = None
    model.aux_logits = False
    return model.eval().requires_grad_(False).to(device)


@torch.no_grad()
def inception_features(model: nn.Module, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """2048-d pool features ``[N, 2048]`` of images in [-1, 1]."""
    device = next(model.parameters()).device
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = images[i : i + batch_size].to(device, torch.float32).clamp(-1, 1) * 0.5 + 0.5
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
        out.append(model(x).float().cpu())
    return torch.cat(out)


@dataclass
class EvalConfig:
    images: int = 256
    batch_size: int = 32
    seed: int = 0
    truncation: float = 1.0  # psi: the noise is scaled toward its mean (1 = none), as in generate

    def __post_init__(self) -> None:
        if not 0.0 <= self.truncation <= 1.0:
            raise ValueError(f"truncation must be in [0, 1], got {self.truncation}")


class Evaluator:
    """Scores a generator against a fixed set of real images and their captions."""

    def __init__(
        self,
        dataset: ImageCaptionDataset,
        clip: Any,
        config: EvalConfig,
        inception: nn.Module | None = None,
        judge_encode: EncodeFn | None = None,
    ):
        """``clip`` scores the images. By default it is the generator's own CLIP and the captions'
        sentence vectors are those the generator is given; with ``judge_encode`` (the text side of
        another CLIP, ``clip`` being that CLIP) the scores are that judge's, so a generator cannot
        score well only by pleasing the CLIP it was trained against."""
        if config.images < 2:
            raise ValueError("evaluation needs at least 2 images")
        n = min(config.images, len(dataset))
        if n < 2:
            raise ValueError("evaluation needs at least 2 usable images")
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(config.seed))[:n].tolist()
        items = [dataset[i] for i in order]
        self.config = config
        self.clip = clip
        self.judge_encode = judge_encode
        self.inception = inception
        self.reals = torch.stack([it["image"] for it in items])
        self.captions = [it["caption"] for it in items]
        self.real_embeddings = clip_image_embeddings(clip, self.reals, config.batch_size)
        self.real_inception = inception_features(inception, self.reals, config.batch_size) if inception is not None else None
        self._real: tuple[torch.Tensor, dict[str, float]] | None = None  # sentence vectors and real-image scores

    def _real_side(self, encode: EncodeFn) -> tuple[torch.Tensor, dict[str, float]]:
        """The captions' sentence vectors and the real images' scores: fixed for a run (the CLIP is
        frozen), so computed at the first evaluation only."""
        encode = self.judge_encode or encode
        if self._real is None:
            sentences = torch.cat([encode(self.captions[i : i + 256]).cpu() for i in range(0, len(self.captions), 256)])
            real_r = prompt_retrieval(self.real_embeddings, self.captions, sentences)
            real_i = image_retrieval(self.real_embeddings, self.captions, self.real_embeddings, self.captions, leave_one_out=True)
            scores = {
                "clip_score_real": float(clip_score(self.clip, self.reals, sentences, self.config.batch_size).mean()),
                "prompt_r1_real": real_r[1],
                "prompt_r5_real": real_r[5],
            }
            if not math.isnan(real_i[1]):  # no caption with two real images: no baseline
                scores.update(image_r1_real=real_i[1], image_r5_real=real_i[5])
            self._real = sentences, scores
        return self._real

    def noise(self, z_dim: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.config.seed + 1)
        return torch.randn(len(self.captions), z_dim, generator=g) * self.config.truncation

    @torch.no_grad()
    def generate(self, generator: nn.Module, encode: EncodeFn, z_dim: int, autocast=contextlib.nullcontext) -> torch.Tensor:
        """Fakes ``[N, 3, S, S]`` in [-1, 1] for the fixed captions and noise (float32, CPU)."""
        device = next(generator.parameters()).device
        z = self.noise(z_dim)
        chunks = []
        bs = self.config.batch_size
        for i in range(0, len(self.captions), bs):
            s = encode(self.captions[i : i + bs]).to(device)
            with autocast():
                fake = generator(z[i : i + bs].to(device), s)
            chunks.append(torch.nan_to_num(fake.float().clamp(-1, 1)).cpu())
        return torch.cat(chunks)

    def __call__(self, generator: nn.Module, encode: EncodeFn, z_dim: int, autocast=contextlib.nullcontext) -> dict[str, float]:
        fakes = self.generate(generator, encode, z_dim, autocast)
        sentences, real = self._real_side(encode)
        fake_embeddings = clip_image_embeddings(self.clip, fakes, self.config.batch_size)
        fake_r = prompt_retrieval(fake_embeddings, self.captions, sentences)
        fake_i = image_retrieval(fake_embeddings, self.captions, self.real_embeddings, self.captions)
        result = {
            "clip_score": float(clip_score(self.clip, fakes, sentences, self.config.batch_size).mean()),
            "clip_fd": clip_frechet_distance(self.real_embeddings, fake_embeddings),
            "prompt_r1": fake_r[1],
            "prompt_r5": fake_r[5],
            "image_r1": fake_i[1],
            "image_r5": fake_i[5],
            **real,  # the real images' baselines (*_real)
            "eval_images": len(self.captions),
            "eval_captions": len(set(self.captions)),
        }
        if self.inception is not None and self.real_inception is not None:
            fake_inception = inception_features(self.inception, fakes, self.config.batch_size)
            result["fid"] = frechet_distance(*feature_statistics(self.real_inception), *feature_statistics(fake_inception))
        return result


def evaluate_checkpoint(
    model: GALIP,
    dataset: ImageCaptionDataset,
    config: EvalConfig,
    device: torch.device | str = "cpu",
    inception_weights: str | None = None,
    judge: Any = None,
) -> dict[str, float]:
    """Evaluate a loaded model on a dataset (the ``galip-studio eval`` command); ``judge``: another
    CLIP (a :class:`~galip_studio.clip_backbone.ClipBackbone`) that scores instead of the model's own."""
    device = torch.device(device)
    model = model.to(device).eval()
    inception = load_inception(inception_weights, device) if inception_weights else None
    if judge is not None:
        judge = judge.to(device).eval()
        judge_encode = judge.encode_text
        evaluator = Evaluator(dataset, judge, config, inception, lambda caps: judge_encode(list(caps)))
    else:
        evaluator = Evaluator(dataset, model.clip, config, inception)
    encode = model.clip.encode_text
    return evaluator(model.generator, lambda caps: encode(list(caps)), model.config.z_dim)


# eval's real-image framing: at most this many times the image side before the centre crop
MAX_EVAL_RESIZE_RATIO = 4.0


def check_resize_ratio(ratio: float, source: str) -> float:
    """``ratio`` if it is a framing ``eval`` takes (1 to :data:`MAX_EVAL_RESIZE_RATIO`), else a
    ``ValueError`` that names ``source``."""
    if not 1.0 <= ratio <= MAX_EVAL_RESIZE_RATIO:  # also refuses nan
        raise ValueError(f"{source} must be between 1 and {MAX_EVAL_RESIZE_RATIO:g}, got {ratio:g}")
    return ratio


def eval_framing(info: dict[str, Any], resize_ratio: float | None = None) -> tuple[float, str]:
    """How ``eval`` frames the real images, and why: ``resize_ratio`` when given, else the one the
    checkpoint's last training stage used (``training.recipe.resize_ratio``, so a model trained on
    whole images is compared with whole images), else the paper's 76/64 (official checkpoints and
    ones written before the recipe was recorded)."""
    if resize_ratio is not None:
        return check_resize_ratio(float(resize_ratio), "--resize-ratio"), "--resize-ratio"
    training = info.get("training")
    recipe = training.get("recipe") if isinstance(training, dict) else None
    recorded = recipe.get("resize_ratio") if isinstance(recipe, dict) else None
    if isinstance(recorded, (int, float)) and not isinstance(recorded, bool):
        return check_resize_ratio(float(recorded), "the checkpoint's training.recipe.resize_ratio"), "as the checkpoint was trained"
    return OFFICIAL_RESIZE_RATIO, "the paper's; the checkpoint records no training framing"


def eval_transform(
    info: dict[str, Any], img_size: int, real_size: int | None = None, resize_ratio: float | None = None,
) -> tuple[ImageTransform, str]:
    """The transform ``eval`` loads a checkpoint's real images with (centre crop, no flip): side
    ``real_size``, else the one the checkpoint was trained at, else the default for ``img_size``;
    framing by :func:`eval_framing`, whose reason comes back with it."""
    training = info.get("training")
    trained_size = training.get("real_size") if isinstance(training, dict) else None
    size = real_size or trained_size or default_real_size(img_size)
    ratio, framing = eval_framing(info, resize_ratio)
    return ImageTransform(size, ratio, flip=False), framing


# what an evaluation line also says of the trained weights when a run keeps a moving average of G
_RAW = (("clip_fd", "CLIP FD", ".4f"), ("prompt_r1", "prompt R@1", ".3f"), ("image_r1", "image R@1", ".3f"), ("fid", "FID", ".2f"))


def summarize(result: dict[str, Any]) -> str:
    parts = [f"CLIP score {result['clip_score']:.4f} (real images {result['clip_score_real']:.4f})",
             f"CLIP FD {result['clip_fd']:.4f}"]
    if "prompt_r1" in result:
        parts.append(f"prompt retrieval R@1 {result['prompt_r1']:.3f} / R@5 {result['prompt_r5']:.3f} "
                     f"(real images {result['prompt_r1_real']:.3f} / {result['prompt_r5_real']:.3f}, "
                     f"among {result['eval_captions']} captions)")
    if "image_r1" in result:
        real = (f" (real images, another of the same caption: {result['image_r1_real']:.3f} / {result['image_r5_real']:.3f})"
                if "image_r1_real" in result else "")
        parts.append(f"nearest real image of the prompt R@1 {result['image_r1']:.3f} / R@5 {result['image_r5']:.3f}{real}")
    if "fid" in result:
        parts.append(f"FID {result['fid']:.2f}")
    line = ", ".join(parts) + f" over {result['eval_images']} images"
    raw = [(name, result[f"raw_{key}"], fmt) for key, name, fmt in _RAW if f"raw_{key}" in result]
    if raw:  # a run with a moving average: the trained weights too (convert --generator trained writes them)
        line += "; trained weights (not the average): " + ", ".join(f"{name} {value:{fmt}}" for name, value, fmt in raw)
    return line
