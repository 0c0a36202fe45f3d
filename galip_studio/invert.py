"""Bring your own image into the space: image variations and GALIP inversion.

GALIP's generator takes a sentence vector that lives in CLIP's joint image–text space, so the CLIP
image embedding of a picture is already a sensible sentence vector. Two tools build on that::

    from galip_studio import invert

    image = invert.load_image("apple.png")                   # checked and converted (see below)
    v = invert.variations(pipe, image, seeds=[0, 1, 2, 3])   # one forward pass; v.nearest: closest phrases
    r = invert.invert(pipe, image, steps=100, seed=0)        # Adam over (z, s): r.image, r.noise, r.sentence
    again = invert.vector_grid(pipe, r.sentence[None].tolist(), noise=r.noise[None].tolist())  # the recipe kind

**Image → sentence vector** (:func:`image_sentence`). CLIP's image and text embeddings of the same
thing sit apart (the "modality gap"): a constant offset plus a different length. The image
embedding is moved by the offset between the mean sentence vector of a vocabulary (the bundled
everyday phrases) and the mean image embedding of the *generator's own images* of those phrases
(one seed each; no data needed, so it works for any model, offline), then scaled to the mean
length of the vocabulary's sentence vectors. docs/app.md ("Your image") gives the gap measured on
the bundled model and the emoji data (:func:`gap_report`).

**Inversion** (:func:`invert`): Adam over the noise ``z`` and the sentence vector ``s``. The starts:
``candidates`` seeds (``seed``, ``seed + 1``, ...) are rendered at the variation's ``s`` and at the
sentence vectors of its ``phrases`` nearest vocabulary phrases, scored by the loss, and the
``starts`` best (vector, seed) pairs are optimised side by side in one batch; the lowest loss any
start reached is kept. The loss is the distance between the CLIP patch tokens that GALIP's
discriminator reads (:func:`clip_distance`) plus a pixel term, with ``z`` kept on the shell where
the prior's samples lie. Steps and time are bounded; ``progress(step, steps)`` reports, ``stop()``
ends it early with the best so far; the result depends only on the image, the settings and the
seed (on the same model, device and dtype).

**Input** (:func:`load_image`): a file, bytes or a PIL image. Files must be at most
:data:`MAX_FILE_BYTES` and :data:`MAX_PIXELS` pixels (checked before decoding); anything Pillow cannot
read is refused with one line. An animated image (GIF, APNG, WebP) gives its first frame.
Transparency is composited on white (as the training data is), grey, palette, CMYK and 16-bit
images are converted to 8-bit RGB (16-bit scaled, not clipped), and a non-square image is centred on
a white square before it is scaled to the model's size. Nothing in the file is executed.
"""

from __future__ import annotations

import io
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from .explore import directions as discover
from .explore.images import encode, synthesize
from .explore.recipe import (
    DEFAULT_LIMITS, MAX_VECTOR_VALUE, Limits, Progress, Render, check_seeds, check_vectors, check_truncation_and_batch, make_recipe, recipe_kind, whole_at_least,
)
from .pipeline import GALIPPipeline, noise_from_seeds, to_pil
from .datasets.folders import open_image, pad_to_square, rgb_or_rgba, to_tensor

MAX_FILE_BYTES = 50 * 1024**2
MAX_PIXELS = 40_000_000  # 40 megapixels: a large photo; more is refused before decoding
MAX_STEPS = 2000
MAX_STARTS = 16
MAX_CANDIDATES = 256
MAX_SECONDS = 3600.0
MAX_NEAREST = 20
GAP_PHRASES = 128  # vocabulary phrases behind the image-text offset
Stop = Callable[[], bool]


class ImageInputError(ValueError):
    """The image cannot be used; the message says why and what to do."""


# ------------------------------------------------------------------------------------------ input
def _decoded(im: Image.Image, name: str) -> Image.Image:
    if im.width * im.height > MAX_PIXELS:
        raise ImageInputError(
            f"{name} is {im.width}x{im.height} = {im.width * im.height:,} pixels, above the limit of {MAX_PIXELS:,}: "
            "scale it down first (the model sees it at its own size anyway)"
        )
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)  # animated: the first frame (documented)
    try:
        im.load()
        rgb = rgb_or_rgba(im)
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageInputError(f"cannot decode {name} ({e}): save it again as a PNG or JPEG") from e
    if rgb.mode == "RGBA":
        white = Image.new("RGBA", rgb.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(white, rgb).convert("RGB")
    return rgb


def load_image(source: str | os.PathLike | bytes | Image.Image, name: str | None = None) -> Image.Image:
    """An 8-bit RGB image from a file path, the bytes of a file or a PIL image, checked and converted
    as the module doc says (first frame of an animation, transparency on white, 16-bit scaled)."""
    if isinstance(source, Image.Image):
        return _decoded(source, name or "the image")
    if isinstance(source, (bytes, bytearray)):
        label, size = name or "the upload", len(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageInputError(f"no such image file: {path}")
        label, size = name or path.name, path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ImageInputError(f"{label} is {size / 1024**2:.0f} MB, above the limit of {MAX_FILE_BYTES // 1024**2} MB: use a smaller file")
    stream: Any = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray)) else path
    try:
        im = open_image(stream)  # Pillow only reads pixel formats; its size is checked before decoding
    except Image.DecompressionBombError as e:
        raise ImageInputError(f"{label} is too large an image to open safely ({e}): scale it down first") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageInputError(f"{label} is not an image this tool can read: use a PNG, JPEG, WebP, GIF or BMP file") from e
    with im:
        return _decoded(im, label)


def image_tensor(image: Image.Image, size: int) -> torch.Tensor:
    """``[1, 3, size, size]`` in [-1, 1]: centred on a white square, scaled with Lanczos."""
    square = pad_to_square(image.convert("RGB"))
    if square.size != (size, size):
        square = square.resize((size, size), Image.Resampling.LANCZOS)
    return to_tensor(square)[None]


def _as_image(image: Any) -> Image.Image:
    return image if isinstance(image, Image.Image) and image.mode == "RGB" else load_image(image)


# ------------------------------------------------------------------------------------------ image -> sentence
@dataclass
class ImageGap:
    """How an image embedding becomes a sentence vector: ``s = norm * unit(e - image_mean + text_mean)``."""

    image_mean: torch.Tensor
    text_mean: torch.Tensor
    norm: float
    source: str = "generated"

    def apply(self, embedding: torch.Tensor) -> torch.Tensor:
        moved = embedding.float() - self.image_mean + self.text_mean
        return F.normalize(moved, dim=-1) * self.norm


def image_gap(pipe: GALIPPipeline, phrases: int = GAP_PHRASES, cache: bool | str | os.PathLike = True) -> ImageGap:
    """The image-text offset of ``pipe``'s CLIP, measured on the generator's own images of the first
    ``phrases`` bundled vocabulary phrases (seed 0 each); cached per model with the discover cache."""
    prompts, _ = discover.load_vocabulary(None)
    prompts = prompts[:phrases]
    settings = {"phrases": len(prompts), "vocabulary_hash": discover.vocab_hash(prompts)}

    def compute():
        text = encode(pipe, prompts)
        noise = noise_from_seeds([0] * len(prompts), pipe.z_dim)
        images = synthesize(pipe, noise, text, 32, None)
        emb = _embed(pipe, images)
        tensors = {"image_mean": emb.mean(0), "text_mean": text.mean(0), "norm": text.norm(dim=-1).mean()[None]}
        return tensors, {}

    (tensors, _), _ = discover.cached_result(pipe, "image-gap", settings, cache, compute)
    return ImageGap(tensors["image_mean"].float(), tensors["text_mean"].float(), float(tensors["norm"][0]))


@torch.no_grad()
def _embed(pipe: GALIPPipeline, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """CLIP image embeddings (not normalised) ``[N, D]``, float32 on the CPU."""
    clip = pipe.clip
    out = [clip.encode_image(images[i : i + batch_size].to(clip.device, clip.dtype)).float().cpu() for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out)


def target_tensor(pipe: GALIPPipeline, image: Any) -> torch.Tensor:
    """``image`` (a path, bytes, PIL image, or a ``[1, 3, S, S]`` tensor in [-1, 1] at the model's size)
    as that tensor, float32 on the CPU."""
    size = pipe.image_size
    if not isinstance(image, torch.Tensor):
        return image_tensor(_as_image(image), size)
    if image.shape != (1, 3, size, size):
        raise ValueError(f"a target tensor must be [1, 3, {size}, {size}], got {list(image.shape)}")
    return image.detach().float().cpu()


def image_sentence(pipe: GALIPPipeline, image: Any, gap: ImageGap | None = None) -> torch.Tensor:
    """The sentence vector ``[D]`` (float32, CPU) that an image (as :func:`target_tensor` takes it) stands for (:class:`ImageGap`)."""
    gap = gap if gap is not None else image_gap(pipe)
    return gap.apply(_embed(pipe, target_tensor(pipe, image)))[0]


def nearest_phrases(pipe: GALIPPipeline, sentence: torch.Tensor, k: int = 5, vocabulary: Any = None, limits: Limits = DEFAULT_LIMITS) -> list[tuple[str, float]]:
    """The ``k`` vocabulary phrases (bundled by default) whose sentence vectors are nearest ``sentence``, with cosines."""
    k = whole_at_least("k", k, 1)
    if k > MAX_NEAREST:
        raise ValueError(f"k is {k}, above the limit of {MAX_NEAREST} nearest phrases: ask for fewer")
    prompts, _ = discover.prompt_list(vocabulary, limits)
    vectors = discover.encode_all(pipe, prompts, None)
    cos = F.normalize(vectors, dim=-1) @ F.normalize(sentence.float().cpu(), dim=-1)
    top = cos.topk(min(k, len(prompts)))
    return [(prompts[i], float(c)) for c, i in zip(top.values.tolist(), top.indices.tolist())]


# ------------------------------------------------------------------------------------------ the recipe kind
@recipe_kind("vectors")
def vector_grid(
    pipe: GALIPPipeline,
    sentence: Sequence[Sequence[float]],
    *,
    noise: Sequence[Sequence[float]] | None = None,
    seeds: Sequence[int] | None = None,
    truncation: float = 1.0,
    labels: Sequence[str] | None = None,
    batch_size: int = 8,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Render:
    """Images from raw vectors: rows are sentence vectors, columns are noises (given raw, or drawn
    from ``seeds`` with ``truncation``). The recipe (kind ``"vectors"``) stores the vectors, so a found
    point renders again bit for bit; every size is checked as a recipe is user input."""
    limit = limits.max_images
    s = check_vectors("sentence", sentence, pipe.clip.embed_dim, limits.max_prompts)
    check_truncation_and_batch(truncation, batch_size, limits)
    if (noise is None) == (seeds is None):
        raise ValueError("give the noise as vectors or as seeds (one of the two)")
    if noise is not None:
        z = check_vectors("noise", noise, pipe.z_dim, limits.max_seeds)
        cols = [f"noise {i + 1}" for i in range(z.shape[0])]
    else:
        seeds = check_seeds(seeds)
        limits.check("the number of seeds", len(seeds), "max_seeds")
        z = noise_from_seeds(seeds, pipe.z_dim, truncation)
        cols = [f"seed {v}" for v in seeds]
    n = s.shape[0] * z.shape[0]
    if limit is not None and n > limit:
        raise ValueError(f"{n} images (sentence vectors x noises) are above the limit of {limit}: use fewer")
    rows = [str(t)[:80] for t in labels] if labels is not None else []
    if labels is not None and len(rows) != s.shape[0]:
        raise ValueError(f"{len(rows)} labels for {s.shape[0]} sentence vectors: give one label per vector")
    sent = s.repeat_interleave(z.shape[0], dim=0)
    noises = z.repeat(s.shape[0], 1)
    images = synthesize(pipe, noises, sent, batch_size, progress)
    recipe = make_recipe(
        pipe, "vectors", sentence=s.tolist(), noise=None if noise is None else z.tolist(), seeds=seeds,
        truncation=truncation, labels=rows or None, batch_size=batch_size,
    )
    return Render(images, recipe, s.shape[0], z.shape[0], sent, noises, rows, cols)


# ------------------------------------------------------------------------------------------ variations
@dataclass
class Variations:
    """What :func:`variations` returns: ``render`` (one row, a column per seed; its recipe is a
    ``"vectors"`` recipe), the sentence vector and the nearest vocabulary phrases with cosines."""

    render: Render
    sentence: torch.Tensor
    nearest: list[tuple[str, float]]


def variations(
    pipe: GALIPPipeline,
    image: Any,
    seeds: Sequence[int] = (0, 1, 2, 3),
    *,
    truncation: float = 1.0,
    nearest: int = 5,
    gap: ImageGap | None = None,
    batch_size: int = 8,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Variations:
    """Images like ``image`` (a path, bytes or PIL image): its sentence vector
    (:func:`image_sentence`) with each seed's noise, and the ``nearest`` vocabulary phrases."""
    s = image_sentence(pipe, image, gap)
    render = vector_grid(pipe, [s.tolist()], seeds=seeds, truncation=truncation, labels=["your image"], batch_size=batch_size, limits=limits, progress=progress)
    return Variations(render, render.sentence[0].clone(), nearest_phrases(pipe, s, nearest, limits=limits) if nearest else [])


# ------------------------------------------------------------------------------------------ inversion
def clip_distance(clip: Any, images: torch.Tensor, target_features: torch.Tensor) -> torch.Tensor:
    """Per-image perceptual distance ``[B]``: 1 - cosine between the CLIP patch tokens that GALIP's
    discriminator reads (every tapped block, every position), averaged; 0 = the same features.
    ``target_features`` from ``clip.image_features(target, with_embedding=False)[0]``."""
    features, _ = clip.image_features(images, with_embedding=False)
    cos = F.cosine_similarity(features.float(), target_features.float(), dim=2)  # [B, taps, g, g]
    return 1.0 - cos.flatten(1).mean(1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pixel PSNR in dB ``[B]`` of images in [-1, 1] (clamped), peak 2."""
    mse = (a.float().clamp(-1, 1) - b.float().clamp(-1, 1)).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-12))


@dataclass
class Inversion:
    """What :func:`invert` found: ``image`` ``[1, 3, S, S]`` in [-1, 1] (rendered as the recipe
    renders it), ``noise`` ``[Z]`` and ``sentence`` ``[D]``, the best start's loss per step, the
    final CLIP distance and PSNR to the target, the steps run, the seconds taken, whether Stop or the
    time bound ended it, and the ``"vectors"`` recipe that makes ``image`` again."""

    image: torch.Tensor
    noise: torch.Tensor
    sentence: torch.Tensor
    losses: list[float]
    distance: float
    psnr: float
    steps: int
    seconds: float
    stopped: bool
    recipe: dict[str, Any]
    start_seed: int
    start_losses: list[float] = field(default_factory=list)
    best_step: int = 0
    start_from: str = "your image"

    def pil(self) -> Image.Image:
        return to_pil(self.image)[0]


def check_invert_settings(steps: int, starts: int, max_seconds: float, lr: float, candidates: int = 0, phrases: int = 0) -> None:
    counts = (  # name, value, least, most, what to use fewer of
        ("steps", steps, 0, MAX_STEPS, "steps"), ("starts", starts, 1, MAX_STARTS, "starts"),
        ("candidates", candidates, 0, MAX_CANDIDATES, "candidate seeds"), ("phrases", phrases, 0, MAX_NEAREST, "starting phrases"),
    )
    for name, value, least, most, what in counts:
        whole_at_least(name, value, least)
        if value > most:
            raise ValueError(f"{name} is {value}, above the limit of {most}: use fewer {what}")
    if not (isinstance(max_seconds, (int, float)) and math.isfinite(max_seconds) and 0 < max_seconds <= MAX_SECONDS):
        raise ValueError(f"max_seconds must be a number of seconds in (0, {MAX_SECONDS:g}], got {max_seconds!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and 0 < lr <= 1):
        raise ValueError(f"lr must be in (0, 1], got {lr!r}")


def invert(
    pipe: GALIPPipeline,
    image: Any,
    steps: int = 100,
    seed: int = 0,
    *,
    starts: int = 4,
    candidates: int = 16,
    phrases: int = 5,
    lr: float = 0.05,
    sentence_lr: float = 0.01,
    pixel_weight: float = 1.0,
    prior_weight: float = 0.1,
    max_seconds: float = 600.0,
    gap: ImageGap | None = None,
    progress: Progress | None = None,
    stop: Stop | None = None,
) -> Inversion:
    """Find ``(z, s)`` whose image matches ``image`` (a path, bytes, PIL image, or a ``[1, 3, S, S]``
    tensor in [-1, 1] at the model's size).

    ``candidates`` seeds (``seed`` ...; at least ``starts``) are rendered at the image's sentence
    vector and at the sentence vectors of its ``phrases`` nearest vocabulary phrases
    (:func:`nearest_phrases`), and the ``starts`` (vector, seed) pairs with the lowest loss are
    optimised together with Adam (``lr`` for the noise, ``sentence_lr`` times the sentence vector's length for it) for ``steps`` steps or
    ``max_seconds``; the point with the lowest loss any start reached is kept (so more steps never
    give a worse result than the best candidate).
    Loss = :func:`clip_distance` + ``pixel_weight`` x pixel MSE + ``prior_weight`` x
    (|z|/sqrt(Z) - 1)², the last keeping the noise where the prior's samples lie.
    """
    check_invert_settings(steps, starts, max_seconds, lr, candidates, phrases)
    tried = max(candidates, starts)
    check_seeds([seed, seed + tried - 1])
    started = time.monotonic()
    target = target_tensor(pipe, image)
    s0 = image_sentence(pipe, target, gap)
    device, dtype = pipe.device, pipe.dtype
    gen, clip = pipe.generator, pipe.clip
    tgt = target.to(device, dtype)
    with torch.no_grad():
        tgt_features = clip.image_features(tgt, with_embedding=False)[0].expand(max(starts, 16), -1, -1, -1, -1)  # a view
    root = math.sqrt(pipe.z_dim)

    def loss(images: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Per image ``[B]``: the CLIP patch-token distance + pixel MSE + the noise prior's term."""
        per = clip_distance(clip, images, tgt_features[: images.shape[0]]) + pixel_weight * (images.float() - tgt.float()).pow(2).flatten(1).mean(1)
        return per + prior_weight * (noise.float().norm(dim=1) / root - 1).pow(2)

    labels = ["your image"] + [p for p, _ in (nearest_phrases(pipe, s0, phrases) if phrases else [])]
    vectors = torch.cat([s0[None], encode(pipe, labels[1:]).float().cpu()]) if phrases else s0[None]
    chosen = _best_starts(pipe, vectors, list(range(seed, seed + tried)), starts, loss)
    seeds = [seed for _, seed in chosen]
    z = noise_from_seeds(seeds, pipe.z_dim).to(device, dtype).requires_grad_(True)
    s = vectors[[v for v, _ in chosen]].to(device, dtype).requires_grad_(True)
    scale = float(s0.norm())
    opt = torch.optim.Adam([{"params": [z], "lr": lr}, {"params": [s], "lr": sentence_lr * scale / math.sqrt(s0.numel())}])
    best_loss = torch.full((starts,), math.inf)
    best_z, best_s = z.detach().float().cpu().clone(), s.detach().float().cpu().clone()
    best_at = [0] * starts

    def keep_best(per: torch.Tensor, step: int) -> None:
        values = per.detach().float().cpu()
        for i in (values < best_loss).nonzero().flatten().tolist():
            best_loss[i], best_at[i] = float(values[i]), step
            best_z[i], best_s[i] = z[i].detach().float().cpu(), s[i].detach().float().cpu()

    history: list[list[float]] = []
    stopped = False
    done = 0
    for step in range(steps):
        if (stop is not None and stop()) or time.monotonic() - started > max_seconds:
            stopped = True
            break
        with torch.enable_grad():
            per = loss(gen(z, s), z)
            (gz, gs) = torch.autograd.grad(per.sum(), [z, s])
        keep_best(per, step)  # the loss of the point before this step's update
        z.grad, s.grad = gz, gs
        opt.step()
        history.append(per.detach().float().cpu().tolist())
        done = step + 1
        if progress is not None:
            progress(done, steps)
    with torch.no_grad():
        last = loss(gen(z, s), z)
    keep_best(last, done)
    best = int(best_loss.argmin())
    z_best, s_best = best_z[best].clone(), best_s[best].clone()
    render = vector_grid(pipe, [s_best.tolist()], noise=[z_best.tolist()], labels=["inversion"], batch_size=1)
    with torch.no_grad():
        distance = float(clip_distance(clip, render.images.to(device, dtype), tgt_features[:1])[0])
    return Inversion(
        image=render.images, noise=z_best, sentence=s_best, losses=[row[best] for row in history] + [float(last[best])],
        distance=distance, psnr=float(psnr(render.images, target)[0]), steps=done, seconds=time.monotonic() - started,
        stopped=stopped, recipe=render.recipe, start_seed=seeds[best], start_from=labels[chosen[best][0]], start_losses=best_loss.tolist(), best_step=best_at[best],
    )


@torch.no_grad()
def _best_starts(
    pipe: GALIPPipeline, vectors: torch.Tensor, seeds: list[int], k: int, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], batch_size: int = 16,
) -> list[tuple[int, int]]:
    """The ``k`` pairs (row of ``vectors``, seed) whose images have the lowest ``loss`` (ties: the earlier pair)."""
    pairs = [(v, seed) for v in range(vectors.shape[0]) for seed in seeds]
    if len(pairs) <= k:
        return pairs
    scores = []
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i : i + batch_size]
        z = noise_from_seeds([seed for _, seed in chunk], pipe.z_dim).to(pipe.device, pipe.dtype)
        s = vectors[[v for v, _ in chunk]].to(pipe.device, pipe.dtype)
        scores.append(loss(pipe.generator(z, s), z).float().cpu())
    score = torch.cat(scores).tolist()
    return [pairs[j] for j in sorted(range(len(pairs)), key=lambda j: (score[j], j))[:k]]


# ------------------------------------------------------------------------------------------ measuring the gap
def gap_report(
    pipe: GALIPPipeline,
    images: torch.Tensor,
    captions: Sequence[str],
    gap: ImageGap | None = None,
    others: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
) -> dict[str, float]:
    """How far image embeddings of ``images`` are from their ``captions``' sentence vectors, before and
    after the correction: mean cosine and norms, and caption R@1 among the distinct captions.
    ``others`` maps a name to another correction (embeddings ``[N, D]`` -> vectors ``[N, D]``),
    reported as ``cos_<name>`` and ``r1_<name>`` beside ``raw`` and ``corrected``."""
    gap = gap if gap is not None else image_gap(pipe)
    emb = _embed(pipe, images)
    text = torch.cat([encode(pipe, list(captions[i : i + 128])) for i in range(0, len(captions), 128)])
    distinct = list(dict.fromkeys(captions))
    index = {c: i for i, c in enumerate(distinct)}
    gallery = F.normalize(torch.cat([encode(pipe, distinct[i : i + 128]) for i in range(0, len(distinct), 128)]), dim=-1)
    labels = torch.tensor([index[c] for c in captions])

    def stats(x: torch.Tensor) -> tuple[float, float]:
        cos = F.cosine_similarity(x, text, dim=-1).mean()
        r1 = ((F.normalize(x, dim=-1) @ gallery.T).argmax(1) == labels).float().mean()
        return float(cos), float(r1)

    report = {
        "images": float(len(captions)), "captions": float(len(distinct)), "image_norm": float(emb.norm(dim=-1).mean()),
        "text_norm": float(text.norm(dim=-1).mean()), "offset_norm": float((gap.text_mean - gap.image_mean).norm()),
    }
    for name, correct in {"raw": lambda e: e, "corrected": gap.apply, **(others or {})}.items():
        report[f"cos_{name}"], report[f"r1_{name}"] = stats(correct(emb).float())
    return report
