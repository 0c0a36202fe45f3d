"""Measures: CLIP score and Fréchet distance in CLIP image-feature space, and path smoothness.

The CLIP measures take a :class:`ClipBackbone` so that official models are scored with the official
preprocessing and new models with theirs.

Path measures (for frames of a walk or the rows of an interpolation): per-frame CLIP score against
the prompt(s) (:func:`measure_path`), the distance between consecutive frames in CLIP image-embedding
space (:func:`clip_steps`) and in pixels (:func:`pixel_steps`), a smoothness summary
(:class:`StepSummary`), arc-length re-timing of a path (:func:`retime_progress`) and a PIL plot
(:func:`plot_path`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from .clip_backbone import ClipBackbone


@torch.no_grad()
def clip_image_embeddings(clip: ClipBackbone, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """L2-normalised CLIP image embeddings ``[N, D]`` of images in [-1, 1] (float32, CPU)."""
    out = []
    for i in range(0, images.shape[0], batch_size):
        batch = images[i : i + batch_size].to(clip.device, clip.dtype)
        out.append(F.normalize(clip.encode_image(batch).float(), dim=-1).cpu())
    return torch.cat(out) if out else torch.empty(0, clip.embed_dim)


@torch.no_grad()
def clip_score(
    clip: ClipBackbone, images: torch.Tensor, texts: Sequence[str] | torch.Tensor, batch_size: int = 64
) -> torch.Tensor:
    """Per-image cosine similarity ``[N]`` between CLIP image and text embeddings.

    ``texts`` is one prompt per image (or one prompt for all), or sentence vectors ``[N, D]``.
    GALIP reports the mean of this (the paper's "CS", e.g. 0.3338 on COCO).
    """
    img = clip_image_embeddings(clip, images, batch_size)
    if isinstance(texts, torch.Tensor):
        txt = texts.float().cpu()
    else:
        texts = list(texts)
        if len(texts) == 1 and img.shape[0] > 1:
            texts = texts * img.shape[0]
        txt = torch.cat([clip.encode_text(texts[i : i + batch_size]).cpu() for i in range(0, len(texts), batch_size)])
    if txt.shape[0] != img.shape[0]:
        raise ValueError(f"{img.shape[0]} images but {txt.shape[0]} texts")
    return (img * F.normalize(txt, dim=-1)).sum(-1)


def recall_at_k(
    similarity: torch.Tensor, query_labels: torch.Tensor, gallery_labels: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """Fraction of queries with a same-label gallery item among their ``k`` most similar, per k.
    ``gallery_labels`` is ``[M]``, or ``[N, M]`` when each query has its own gallery row."""
    if similarity.shape[0] == 0 or similarity.shape[1] == 0:
        return {k: float("nan") for k in ks}
    top = similarity.topk(min(max(ks), similarity.shape[1]), dim=1).indices
    hits = (gallery_labels[top] if gallery_labels.dim() == 1 else gallery_labels.gather(1, top)) == query_labels[:, None]
    return {k: hits[:, :k].any(1).float().mean().item() for k in ks}


def prompt_retrieval(
    image_embeddings: torch.Tensor, captions: Sequence[str], caption_vectors: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """How often an image's own caption is among the ``k`` captions (of all distinct ``captions``)
    closest to it in CLIP space: text-to-image faithfulness, R@k.

    ``image_embeddings`` are L2-normalised ``[N, D]``; ``caption_vectors`` are the sentence vectors
    ``[N, D]`` of ``captions`` (one per image; repeated captions count once as candidates).
    """
    first: dict[str, int] = {}
    for i, caption in enumerate(captions):
        first.setdefault(caption, i)
    label = {caption: k for k, caption in enumerate(first)}
    gallery = F.normalize(caption_vectors[list(first.values())].float(), dim=-1)
    labels = torch.tensor([label[c] for c in captions])
    return recall_at_k(image_embeddings.float() @ gallery.T, labels, torch.arange(len(first)), ks)


def image_retrieval(
    query_embeddings: torch.Tensor,
    query_labels: Sequence[str],
    gallery_embeddings: torch.Tensor,
    gallery_labels: Sequence[str],
    ks: Sequence[int] = (1, 5),
    leave_one_out: bool = False,
) -> dict[int, float]:
    """How often one of the ``k`` gallery images nearest a query image (cosine, CLIP image space) has
    the query's label, R@k: for generated images against the real images of an evaluation set, whether
    an image looks like the real art of its own prompt more than like that of the others.

    Embeddings are L2-normalised ``[N, D]`` / ``[M, D]``, labels one per row (captions). With
    ``leave_one_out`` the queries are the gallery itself (the real-image baseline): each image's own
    row is left out and only images whose label has another image are counted.
    """
    if len(query_labels) != query_embeddings.shape[0] or len(gallery_labels) != gallery_embeddings.shape[0]:
        raise ValueError("one label per embedding")
    index = {label: k for k, label in enumerate(dict.fromkeys([*gallery_labels, *query_labels]))}
    queries = torch.tensor([index[c] for c in query_labels], dtype=torch.long)
    gallery = torch.tensor([index[c] for c in gallery_labels], dtype=torch.long)
    similarity = query_embeddings.float() @ gallery_embeddings.float().T
    if not leave_one_out:
        return recall_at_k(similarity, queries, gallery, ks)
    n = similarity.shape[0]
    if similarity.shape[1] != n:
        raise ValueError("leave_one_out needs the queries to be the gallery")
    others = ~torch.eye(n, dtype=torch.bool)  # row i's gallery: every image but i
    similarity, rows = similarity[others].view(n, n - 1), gallery.expand(n, n)[others].view(n, n - 1)
    keep = torch.bincount(gallery, minlength=len(index))[queries] > 1
    return recall_at_k(similarity[keep], queries[keep], rows[keep], ks)


def feature_statistics(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of ``[N, D]`` features (float64)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors [N, D], got shape {x.shape}")
    return x.mean(0), np.cov(x, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between two Gaussians (the FID formula), via scipy's sqrtm with an eps fallback."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    with warnings.catch_warnings():  # singular when there are fewer images than dimensions: handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def clip_frechet_distance(features_a: torch.Tensor | np.ndarray, features_b: torch.Tensor | np.ndarray) -> float:
    """Fréchet distance between two sets of CLIP image embeddings ``[N, D]``."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


# ------------------------------------------------------------------------------------------ path measures
def consecutive_distances(points: torch.Tensor, closed: bool = False) -> torch.Tensor:
    """Euclidean distance ``[N - 1]`` between consecutive items of ``points`` ``[N, ...]`` (float64).

    ``closed`` appends the distance from the last item back to the first (``[N]`` values).
    """
    x = points.detach().reshape(points.shape[0], -1).double().cpu()
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 frames to measure steps, got {x.shape[0]}")
    nxt = torch.roll(x, -1, dims=0) if closed else x[1:]
    return (nxt - x[: nxt.shape[0]]).norm(dim=-1)


def pixel_steps(images: torch.Tensor, closed: bool = False) -> torch.Tensor:
    """RMS pixel difference between consecutive images ``[N, 3, H, W]`` in [-1, 1], on a 0-1 scale.

    0 means identical frames, 1 means every channel jumped across the whole range.
    """
    return consecutive_distances(images, closed) / (2 * math.sqrt(images[0].numel()))


def clip_steps(clip: ClipBackbone, images: torch.Tensor, closed: bool = False, batch_size: int = 64) -> torch.Tensor:
    """Distance between consecutive images in CLIP image-embedding space (chord between unit embeddings, 0-2)."""
    return consecutive_distances(clip_image_embeddings(clip, images, batch_size), closed)


@dataclass
class StepSummary:
    """How even the steps of a path are. ``max_over_mean`` is 1 and ``cv`` (std / mean) is 0 for a
    perfectly even path; a jump shows as a large ``max_over_mean``."""

    count: int
    mean: float
    max: float
    min: float
    std: float
    max_over_mean: float
    cv: float

    @classmethod
    def of(cls, steps: torch.Tensor | Sequence[float]) -> "StepSummary":
        x = np.asarray(steps, dtype=np.float64).reshape(-1)
        if x.size == 0:
            raise ValueError("no steps to summarise")
        mean, std, top = float(x.mean()), float(x.std()), float(x.max())
        scale = 1.0 / mean if mean > 0 else 0.0
        return cls(int(x.size), mean, top, float(x.min()), std, top * scale, std * scale)


@dataclass
class PathMeasures:
    """Everything measured along a path; ``to_dict()`` is JSON-ready data for a plot or a table.

    Attributes:
        clip_scores: ``[frames][prompts]`` cosine similarity of each frame to each prompt.
        prompts: the prompts scored against (labels of the columns of ``clip_scores``).
        clip_steps: distance between consecutive frames in CLIP image-embedding space.
        pixel_steps: RMS pixel distance between consecutive frames (0-1 scale).
        clip_smoothness, pixel_smoothness: summaries of the two step series.
        closed: whether the steps include the one from the last frame back to the first.
    """

    clip_scores: list[list[float]]
    prompts: list[str]
    clip_steps: list[float]
    pixel_steps: list[float]
    clip_smoothness: StepSummary
    pixel_smoothness: StepSummary
    closed: bool

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@torch.no_grad()
def measure_path(
    clip: ClipBackbone,
    images: torch.Tensor,
    prompts: Sequence[str] = (),
    *,
    closed: bool = False,
    batch_size: int = 64,
) -> PathMeasures:
    """Measure frames ``[N, 3, H, W]`` (in [-1, 1]) of a path: CLIP score of every frame against each
    prompt, and consecutive-frame distances in CLIP space and in pixels. ``closed`` counts the step
    from the last frame back to the first (loops)."""
    prompts = list(prompts)
    emb = clip_image_embeddings(clip, images, batch_size)
    if prompts:
        txt = F.normalize(clip.encode_text(prompts).float().cpu(), dim=-1)
        scores = (emb @ txt.T).tolist()
    else:
        scores = [[] for _ in range(emb.shape[0])]
    c_steps = consecutive_distances(emb, closed)
    p_steps = pixel_steps(images, closed)
    return PathMeasures(
        clip_scores=scores,
        prompts=prompts,
        clip_steps=c_steps.tolist(),
        pixel_steps=p_steps.tolist(),
        clip_smoothness=StepSummary.of(c_steps),
        pixel_smoothness=StepSummary.of(p_steps),
        closed=closed,
    )


def retime_progress(
    progress: Sequence[float] | torch.Tensor, steps: Sequence[float] | torch.Tensor, frames: int, closed: bool = False
) -> list[float]:
    """Re-time a path so that ``frames`` frames are evenly spaced by a distance.

    ``progress`` ``[M]`` are increasing path parameters of a dense sampling of the path (in [0, 1])
    and ``steps`` the measured distances between consecutive samples (``M - 1`` values; ``M`` for a
    closed path, the last being the step from the last sample back to the first, which sits at
    progress ``progress[0] + 1``). The cumulative distance is an arc length; this returns the
    ``frames`` progress values at equal arc-length spacing (linear in between samples). Open paths
    keep both ends exactly; closed ones start at ``progress[0]`` and leave out the end (= start).
    """
    p = np.asarray(progress, dtype=np.float64).reshape(-1)
    d = np.asarray(steps, dtype=np.float64).reshape(-1)
    if p.size < 2:
        raise ValueError("re-timing needs a path measured at 2 or more points")
    if d.size != (p.size if closed else p.size - 1):
        raise ValueError(f"{p.size} samples of a {'closed' if closed else 'open'} path need {p.size if closed else p.size - 1} steps, got {d.size}")
    if frames < 2:
        raise ValueError(f"re-timing needs at least 2 frames, got {frames}")
    if not (np.isfinite(d).all() and (d >= 0).all()) or not (np.diff(p) > 0).all():
        raise ValueError("re-timing needs finite, non-negative steps and increasing progress")
    total = d.sum()
    # A tiny floor keeps the arc length strictly increasing where frames did not change at all.
    d = d + max(total, 1.0) * 1e-9
    arc = np.concatenate([[0.0], np.cumsum(d)])
    params = np.concatenate([p, [p[0] + 1.0]]) if closed else p
    targets = arc[-1] * np.arange(frames) / (frames if closed else frames - 1)
    out = np.interp(targets, arc, params)
    if closed:
        out = np.mod(out, 1.0)
    else:
        out[0], out[-1] = p[0], p[-1]
    return [float(v) for v in out]


# ------------------------------------------------------------------------------------------ plot
_PLOT_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def _draw_panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str, series: dict[str, Sequence[float]], font) -> None:
    """One line-chart panel in ``box`` (left, top, right, bottom): title, y range labels, legend."""
    left, top, right, bottom = box
    draw.text((left, top), title, fill=(0, 0, 0), font=font)
    values = [v for ys in series.values() for v in ys if math.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    plot = (left + 48, top + 16, right - 8, bottom - 4)
    draw.rectangle(plot, outline=(160, 160, 160))
    draw.text((left, plot[1]), f"{hi:.3g}", fill=(80, 80, 80), font=font)
    draw.text((left, plot[3] - 12), f"{lo:.3g}", fill=(80, 80, 80), font=font)
    legend_x = plot[0] + 4
    for k, (name, ys) in enumerate(series.items()):
        color = _PLOT_COLORS[k % len(_PLOT_COLORS)]
        n = len(ys)
        if n:
            xs = [plot[0] + (plot[2] - plot[0]) * (i / (n - 1) if n > 1 else 0.5) for i in range(n)]
            pts = [(x, plot[3] - (plot[3] - plot[1]) * (y - lo) / (hi - lo)) for x, y in zip(xs, ys)]
            if n > 1:
                draw.line(pts, fill=color, width=2)
            for x, y in pts if n <= 64 else []:
                draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=color)
        draw.text((legend_x, plot[1] + 2), name, fill=color, font=font)
        legend_x += int(draw.textlength(name, font=font)) + 12


def plot_path(measures: PathMeasures, size: tuple[int, int] = (720, 480)) -> Image.Image:
    """A PNG-ready chart of :class:`PathMeasures`: CLIP score per frame and both step-distance series."""
    width, height = size
    if width < 200 or height < 150:
        raise ValueError("a path plot needs at least 200 x 150 pixels")
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=11)
    scores = {p[:30]: [row[j] for row in measures.clip_scores] for j, p in enumerate(measures.prompts)}
    panels = [
        ("CLIP score per frame", scores),
        (f"CLIP step (max/mean {measures.clip_smoothness.max_over_mean:.2f})", {"clip": measures.clip_steps}),
        (f"pixel step (max/mean {measures.pixel_smoothness.max_over_mean:.2f})", {"pixel": measures.pixel_steps}),
    ]
    panels = [(t, s) for t, s in panels if s]
    h = (height - 14) // len(panels)
    for k, (title, series) in enumerate(panels):
        _draw_panel(draw, (8, k * h + 4, width - 4, (k + 1) * h - 4), title, series, font)
    last = len(measures.clip_scores) - 1
    draw.text((56, height - 14), "frame 0", fill=(80, 80, 80), font=font)
    right = f"frame {last}" + (" (steps: to the next frame, the last one back to frame 0)" if measures.closed else "")
    draw.text((width - 12 - draw.textlength(right, font=font), height - 14), right, fill=(80, 80, 80), font=font)
    return image
