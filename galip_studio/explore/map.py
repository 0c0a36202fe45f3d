"""The prompt map: a vocabulary's sentence vectors laid out in 2-D, and the images at its points.

Builds on :mod:`~galip_studio.explore.directions` (its PCA, vocabulary, encoding and on-disk cache);
every result is a :class:`~.recipe.Render` with a recipe that :func:`~.recipe.render_recipe` makes
again, and every size is bounded by :class:`~.recipe.Limits`::

    from galip_studio import explore

    m = explore.prompt_map(pipe, view="pca")                        # or view="tsne"
    m.image().save("map.png")                                       # labelled scatter, m.to_pixel / m.from_pixel
    r = explore.map_point(pipe, m.prompts, m.coords, (0.1, -0.2), seed=0)   # the image at a map point
    r = explore.map_walk(pipe, m.prompts, m.coords, [(x0, y0), (x1, y1), (x2, y2)], frames=48)  # a path → frames
    r = explore.map_grid(pipe, m.prompts, m.coords, rows=6)         # an atlas: images over a lattice of the map

**Prompt map.** The vocabulary's sentence vectors in 2-D: PCA (linear; axes are the first two
sentence directions) or t-SNE (scikit-learn; neighbourhoods kept, distances not). A point of the
map becomes a sentence vector by a **distance-weighted blend of the nearest prompts** (modified
Shepard interpolation, Franke & Nielson 1980: the ``neighbors`` nearest prompts weighted by
``((R - d) / (R d)) ** power``, ``R`` the distance of the next-nearest prompt). Chosen over inverse
PCA because (1) it is exact at every vocabulary point (weight one-hot, the prompt's own vector bit
for bit), while inverse PCA from two coordinates drops every other component (on the bundled model
the first two keep only a small share of the variance, so a prompt's own point would not give its
image); (2) it works for t-SNE, which has no inverse; (3) every result is a convex blend of real
prompts, which GALIP's generator handles well (the paper's Figure 7), rather than a vector that may
lie where no sentence does; (4) it is continuous: a prompt leaves the blend with weight 0 when
another becomes nearer. A path drawn on the map is sampled at even arc length and walked frame by
frame, with one fixed noise.

**Caching.** A map is cached like directions (see :mod:`galip_studio.explore.directions`): in the bounded
cache folder, ``~/.cache/galip-studio/discover/prompt-map-*.safetensors`` by default, never in the
checkpoint's folder; ``cache=False`` turns it off.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .. import latent
from ..pipeline import noise_from_seeds
from .directions import cached_result, check_count, encode_all, pca, prompt_list, vocab_hash
from .images import encode, short, synthesize
from .knobs import style_knob
from .recipe import (
    DEFAULT_LIMITS, Limits, Progress, Render, check_grid, check_prompts, check_seeds, check_truncation_and_batch, make_recipe,
    recipe_kind, whole_at_least,
)

VIEWS = ("pca", "tsne")
DEFAULT_NEIGHBORS = 4
TSNE_ITERATIONS = 500  # half scikit-learn's default: the layout has settled by then, in half the time


# ------------------------------------------------------------------------------------------ maths
def _distances(points: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Euclidean distances ``[P, V]`` between map points, from direct differences, not cdist's
    matrix-product form: a vocabulary point must be at distance exactly 0 from itself (the product
    form leaves ~1e-8 on some CPUs, and its blend would not be one-hot there), and every caller must
    rank the neighbours alike."""
    return torch.cdist(points, coords, compute_mode="donot_use_mm_for_euclid_dist")


def map_weights(coords: torch.Tensor, point: Sequence[float] | torch.Tensor, neighbors: int = DEFAULT_NEIGHBORS, power: float = 2.0) -> torch.Tensor:
    """Blend weights ``[V]`` (sum 1, at most ``neighbors`` non-zero) of the map's points ``coords``
    ``[V, 2]`` for ``point`` (see the module docstring: modified Shepard interpolation).

    At a vocabulary point the weight is one-hot on it (the first such point if several coincide).
    ``point`` may also be ``[P, 2]``, giving ``[P, V]``.
    """
    c = torch.as_tensor(coords, dtype=torch.float64)
    p = torch.as_tensor(point, dtype=torch.float64)
    single = p.ndim == 1
    p = p.reshape(-1, 2)
    if not torch.isfinite(p).all():
        raise ValueError("map points must be finite numbers")
    v = c.shape[0]
    if v == 0:
        raise ValueError("the map has no points")
    k = max(1, min(int(neighbors), v))
    d = _distances(p, c)  # [P, V]
    dist, idx = d.sort(dim=1, stable=True)
    near, near_idx = dist[:, :k], idx[:, :k]
    radius = dist[:, k] if k < v else dist[:, -1] * 1.5 + 1e-12
    w = ((radius[:, None] - near).clamp_min(0) / (radius[:, None] * near.clamp_min(1e-300))) ** float(power)
    w = torch.where(torch.isfinite(w), w, torch.zeros_like(w))
    hit = near[:, 0] <= 0
    w[hit] = 0.0
    w[hit, 0] = 1.0
    flat = w.sum(1) <= 0  # all k tie with the next one: equal weights
    w[flat] = 1.0
    w = w / w.sum(1, keepdim=True)
    out = torch.zeros(p.shape[0], v, dtype=torch.float64)
    out.scatter_(1, near_idx, w)
    return out[0] if single else out


def map_sentence(vectors: torch.Tensor, coords: torch.Tensor, point: Sequence[float] | torch.Tensor, neighbors: int = DEFAULT_NEIGHBORS, power: float = 2.0) -> torch.Tensor:
    """The sentence vector at a map point: :func:`map_weights` blend of the vocabulary's ``vectors``
    (exact at a vocabulary point)."""
    w = map_weights(coords, point, neighbors, power).to(vectors.dtype)
    return latent.blend(vectors, w, normalize=False)


def _anchors(coords: torch.Tensor, points: torch.Tensor, neighbors: int) -> list[int]:
    """Indices of the vocabulary points that the blends at ``points`` depend on (the ``neighbors + 1``
    nearest of each), in vocabulary order: a recipe keeps only these, and gives the same weights."""
    d = _distances(torch.as_tensor(points, dtype=torch.float64).reshape(-1, 2), torch.as_tensor(coords, dtype=torch.float64))
    k = min(int(neighbors) + 1, d.shape[1])
    used = d.sort(dim=1, stable=True).indices[:, :k].unique()
    return sorted(int(i) for i in used)


# ------------------------------------------------------------------------------------------ the map
@dataclass
class PromptMap:
    """The vocabulary's sentence vectors laid out in 2-D.

    Attributes:
        prompts, vectors: the vocabulary ``[V]`` and its sentence vectors ``[V, D]``.
        coords: ``[V, 2]`` float64 map positions (``view`` ``pca``: coordinates along the first two
            sentence components; ``tsne``: a t-SNE embedding).
        settings: what made it (vocabulary, view, seed, perplexity).
        ratio: PCA view: the share of the variance each axis explains.
    """

    prompts: list[str]
    vectors: torch.Tensor
    coords: torch.Tensor
    view: str
    settings: dict[str, Any]
    ratio: list[float] = field(default_factory=list)
    size: int = 640
    margin: int = 24

    @functools.cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, xmax, ymin, ymax)`` of the points, padded by 5 % (computed once: ``coords`` is fixed)."""
        lo, hi = self.coords.min(0).values, self.coords.max(0).values
        pad = (hi - lo).clamp_min(1e-9) * 0.05
        return float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """Map coordinates → pixel of :meth:`image` (y grows upward on the map, downward in pixels)."""
        x0, x1, y0, y1 = self.bounds
        span = self.size - 2 * self.margin
        return self.margin + (x - x0) / (x1 - x0) * span, self.margin + (y1 - y) / (y1 - y0) * span

    def from_pixel(self, px: float, py: float) -> tuple[float, float]:
        """Pixel of :meth:`image` → map coordinates."""
        x0, x1, y0, y1 = self.bounds
        span = self.size - 2 * self.margin
        return x0 + (px - self.margin) / span * (x1 - x0), y1 - (py - self.margin) / span * (y1 - y0)

    def point_of(self, prompt: str) -> tuple[float, float]:
        """The map position of one of its prompts."""
        try:
            i = self.prompts.index(prompt)
        except ValueError:
            raise ValueError(f"“{prompt}” is not on this map: pick one of its vocabulary phrases") from None
        return float(self.coords[i, 0]), float(self.coords[i, 1])

    def nearest(self, point: Sequence[float], n: int = 3) -> list[str]:
        d = _distances(torch.as_tensor([list(point)], dtype=torch.float64), self.coords)[0]
        return [self.prompts[i] for i in d.argsort()[:n].tolist()]

    def image(self, path: Sequence[Sequence[float]] | None = None, marker: Sequence[float] | None = None, labels: int = 80) -> Image.Image:
        """The map as a ``size`` px square: a dot per prompt, up to ``labels`` non-overlapping labels
        (spread over the map), an optional drawn ``path`` and a ``marker`` (a clicked point)."""
        im = Image.new("RGB", (self.size, self.size), (250, 250, 252))
        draw = ImageDraw.Draw(im)
        font = ImageFont.load_default(size=11)
        draw.rectangle([self.margin, self.margin, self.size - self.margin, self.size - self.margin], outline=(215, 215, 225))
        pts = [self.to_pixel(float(x), float(y)) for x, y in self.coords.tolist()]
        for px, py in pts:
            draw.ellipse([px - 2.5, py - 2.5, px + 2.5, py + 2.5], fill=(120, 90, 200))
        taken: list[tuple[float, float, float, float]] = []
        for i in _spread_order(self.coords)[: max(0, labels) * 4]:
            if len(taken) >= labels:
                break
            px, py = pts[i]
            text = self.prompts[i][:28]
            w = draw.textlength(text, font=font)
            box = (px + 4, py - 6, px + 4 + w, py + 7)
            if box[2] > self.size - 2:
                box = (px - 4 - w, py - 6, px - 4, py + 7)
            if any(not (box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3]) for b in taken):
                continue
            taken.append(box)
            draw.text((box[0], box[1]), text, fill=(40, 40, 60), font=font)
        if path is not None and len(path) >= 1:
            line = [self.to_pixel(float(x), float(y)) for x, y in path]
            if len(line) > 1:
                draw.line(line, fill=(230, 80, 40), width=3)
            for px, py in line:
                draw.ellipse([px - 4, py - 4, px + 4, py + 4], outline=(230, 80, 40), width=2)
        if marker is not None:
            px, py = self.to_pixel(float(marker[0]), float(marker[1]))
            draw.line([px - 9, py, px + 9, py], fill=(220, 30, 60), width=2)
            draw.line([px, py - 9, px, py + 9], fill=(220, 30, 60), width=2)
        axes = "x: PC1, y: PC2" if self.view == "pca" else "t-SNE"
        draw.text((self.margin, self.size - self.margin + 5), f"{axes} · {len(self.prompts)} prompts", fill=(110, 110, 130), font=font)
        return im

    def to_json(self) -> dict[str, Any]:
        """Prompts and positions (for the map PNG's sidecar, so points can be picked by hand)."""
        return {
            "format": "galip-prompt-map/1", "view": self.view, "settings": self.settings, "bounds": list(self.bounds),
            "points": [[p, float(x), float(y)] for p, (x, y) in zip(self.prompts, self.coords.tolist())],
        }


def _spread_order(coords: torch.Tensor) -> list[int]:
    """Farthest-point order (from the point nearest the centre), so early labels cover the map."""
    c = coords.double()
    n = c.shape[0]
    first = int((c - c.mean(0)).norm(dim=1).argmin())
    order, dist = [first], (c - c[first]).norm(dim=1)
    for _ in range(n - 1):
        i = int(dist.argmax())
        if dist[i] <= 0:
            break
        order.append(i)
        dist = torch.minimum(dist, (c - c[i]).norm(dim=1))
    seen = set(order)
    return order + [i for i in range(n) if i not in seen]


def prompt_map(
    pipe,
    vocabulary: str | os.PathLike | Sequence[str] | None = None,
    *,
    view: str = "pca",
    seed: int = 0,
    perplexity: float = 30.0,
    cache: bool | str | os.PathLike = True,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> PromptMap:
    """A 2-D map of the vocabulary's sentence vectors: ``view`` ``"pca"`` or ``"tsne"`` (seeded;
    ``perplexity`` is capped below a third of the vocabulary size)."""
    latent.check_choice("map view", view, VIEWS)
    prompts, source = prompt_list(vocabulary, limits)
    (seed,) = check_seeds([seed])
    perplexity = float(perplexity)
    if not (math.isfinite(perplexity) and perplexity > 0):
        raise ValueError(f"perplexity must be a positive number, got {perplexity}")
    perplexity = min(perplexity, max(1.0, (len(prompts) - 1) / 3))
    settings = {"view": view, "vocabulary": source, "vocabulary_size": len(prompts), "vocabulary_hash": vocab_hash(prompts)}
    if view == "tsne":
        settings.update(seed=seed, perplexity=perplexity)

    def compute():
        vectors = encode_all(pipe, prompts, progress)
        if view == "pca":
            res = pca(vectors, 2)
            return {"vectors": vectors, "coords": res.coords, "ratio": res.ratio}, {}
        from sklearn.manifold import TSNE

        coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, learning_rate="auto", max_iter=TSNE_ITERATIONS).fit_transform(vectors.double().numpy())
        return {"vectors": vectors, "coords": torch.from_numpy(np.ascontiguousarray(coords, dtype=np.float64))}, {}

    (t, _), _how = cached_result(pipe, "prompt-map", settings, cache, compute)
    ratio = t["ratio"].tolist() if "ratio" in t else []
    return PromptMap(prompts, t["vectors"].float(), t["coords"].double(), view, settings, ratio)


def _check_point(point: Sequence[float]) -> list[float]:
    xy = [float(v) for v in point]
    if len(xy) != 2 or not all(math.isfinite(v) for v in xy):
        raise ValueError(f"a map point is a finite (x, y) pair, got {list(point)}")
    return xy


def _map_inputs(prompts: Sequence[str], coords: Sequence[Sequence[float]], neighbors: int, power: float, limits: Limits) -> tuple[list[str], torch.Tensor, int]:
    prompts = check_prompts(prompts, "map prompts")
    limits.check("the vocabulary", len(prompts), "max_vocabulary")
    c = torch.as_tensor(coords, dtype=torch.float64)
    if c.shape != (len(prompts), 2) or not torch.isfinite(c).all():
        raise ValueError(f"{len(prompts)} map prompts need {len(prompts)} finite (x, y) positions, got shape {tuple(c.shape)}")
    neighbors = whole_at_least("neighbors", neighbors, 1)
    limits.check("neighbors", neighbors, "max_prompts")
    if isinstance(power, bool) or not (math.isfinite(float(power)) and float(power) > 0):
        raise ValueError(f"power must be a positive number, got {power!r}")
    return prompts, c, neighbors


def map_point(
    pipe,
    prompts: Sequence[str],
    coords: Sequence[Sequence[float]],
    point: Sequence[float],
    *,
    seed: int = 0,
    truncation: float = 1.0,
    neighbors: int = DEFAULT_NEIGHBORS,
    power: float = 2.0,
    view: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Render:
    """The image at ``point`` of a map (``prompts`` at ``coords``): the distance-weighted blend of the
    nearest prompts, rendered as a style-knob blend (recipe kind ``style``, with the map point under
    ``map``), so any style-knob tool can open it and :func:`~.recipe.render_recipe` makes it again."""
    prompts, c, neighbors = _map_inputs(prompts, coords, neighbors, power, limits)
    xy = _check_point(point)
    w = map_weights(c, xy, neighbors, power)
    used = [i for i in range(len(prompts)) if w[i] > 0]
    r = style_knob(
        pipe, [prompts[i] for i in used], [float(w[i]) for i in used], seed=seed, normalize=True, truncation=truncation, limits=limits
    )
    r.recipe["map"] = {"point": xy, "view": view, "neighbors": neighbors, "power": float(power)}
    return r


def _render_points(
    pipe, prompts: list[str], coords: torch.Tensor, points: torch.Tensor, neighbors: int, power: float, seed: int,
    truncation: float, batch_size: int, progress: Progress | None,
) -> tuple[list[str], torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The images at map ``points`` ``[P, 2]`` with one seed: ``(anchor prompts, their positions,
    sentence [P, D], noise [P, Z], images)``; the anchors are the prompts the blends use (a recipe keeps only them)."""
    keep = _anchors(coords, points, neighbors)
    anchors, anchor_xy = [prompts[i] for i in keep], coords[keep]
    weights = map_weights(anchor_xy, points, neighbors, power)  # [P, A]
    sentence = latent.blend(encode(pipe, anchors), weights.float(), normalize=False)
    noise = noise_from_seeds([seed], pipe.z_dim, truncation).expand(points.shape[0], -1).contiguous()
    return anchors, anchor_xy, sentence, noise, synthesize(pipe, noise, sentence, batch_size, progress)


def parse_points(text: str) -> list[tuple[float, float]]:
    """Map points typed as ``x,y`` pairs separated by ``;``, new lines or spaces (``0.1,0.5; 1.2,-0.3``)."""
    points = []
    for item in text.replace(";", " ").split():
        try:
            x, y = (float(v) for v in item.split(","))
        except ValueError:
            raise ValueError(f"“{item}” is not a map point: write x,y pairs separated by ; (e.g. 0.1,0.5; 1.2,-0.3)") from None
        points.append(_check_point((x, y)))
    return [(x, y) for x, y in points]


def _polyline(path: torch.Tensor, progress: torch.Tensor, closed: bool) -> torch.Tensor:
    """Points at ``progress`` (0-1) of the polyline through ``path`` ``[P, 2]``, by arc length."""
    pts = torch.cat([path, path[:1]]) if closed else path
    seg = (pts[1:] - pts[:-1]).norm(dim=1)
    total = float(seg.sum())
    if total <= 0:
        return path[:1].expand(progress.shape[0], -1).clone()
    cum = torch.cat([torch.zeros(1, dtype=torch.float64), seg.cumsum(0)]) / total
    p = torch.remainder(progress, 1.0) if closed else progress.clamp(0, 1)
    xs = np.interp(p.numpy(), cum.numpy(), pts[:, 0].numpy())
    ys = np.interp(p.numpy(), cum.numpy(), pts[:, 1].numpy())
    out = torch.from_numpy(np.stack([xs, ys], axis=1))
    # Exact vertices (np.interp at a knot returns it, but keep the ends bit-exact regardless).
    out[p <= 0] = pts[0]
    return out


@recipe_kind("map_walk", animation=True)
def map_walk(
    pipe,
    prompts: Sequence[str],
    coords: Sequence[Sequence[float]],
    path: Sequence[Sequence[float]],
    *,
    frames: int = 48,
    loop: bool = False,
    pingpong: bool = False,
    easing: str = "linear",
    seed: int = 0,
    truncation: float = 1.0,
    neighbors: int = DEFAULT_NEIGHBORS,
    power: float = 2.0,
    fps: float = 24.0,
    view: str | None = None,
    batch_size: int = 8,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Render:
    """A path drawn on the map as an animation: ``frames`` points at even arc length along the
    polyline through ``path`` (closed with ``loop``; ``easing`` shapes time over the whole path),
    each the map's blend at that point, all with the noise of ``seed``. Save it with
    :func:`~.images.save_render` as GIF or MP4; the recipe keeps only the prompts the frames use."""
    prompts, c, neighbors = _map_inputs(prompts, coords, neighbors, power, limits)
    latent.check_choice("easing", easing, tuple(latent.EASINGS))
    (seed,) = check_seeds([seed])
    check_truncation_and_batch(truncation, batch_size, limits)
    frames = check_count("frames", frames, "max_frames", limits, minimum=2)
    if not (math.isfinite(float(fps)) and float(fps) > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    limits.check("fps", float(fps), "max_fps")
    if loop and pingpong:
        raise ValueError("choose loop or pingpong, not both: a loop already returns to its start")
    pts = torch.as_tensor([_check_point(p) for p in path], dtype=torch.float64).reshape(-1, 2)
    if pts.shape[0] < 2:
        raise ValueError("a map path needs at least 2 points")
    limits.check("path points", pts.shape[0], "max_path_points")
    where = latent.ease(latent.frame_progress(frames, bool(loop)), easing)
    points = _polyline(pts, where, bool(loop))
    anchors, anchor_xy, sentence, noise, images = _render_points(pipe, prompts, c, points, neighbors, power, seed, truncation, batch_size, progress)
    order = latent.pingpong_order(frames) if pingpong else list(range(frames))
    recipe = make_recipe(
        pipe, "map_walk", prompts=anchors, coords=anchor_xy.tolist(), path=pts.tolist(), frames=frames, loop=bool(loop),
        pingpong=bool(pingpong), easing=easing, seed=seed, truncation=truncation, neighbors=neighbors, power=float(power),
        fps=float(fps), view=view, batch_size=batch_size,
    )
    cols = math.ceil(math.sqrt(len(order)))
    return Render(
        images[order], recipe, math.ceil(len(order) / cols), cols, sentence[order], noise[order],
        progress=[float(where[i]) for i in order], fps=float(fps),
    )


@recipe_kind("map_grid")
def map_grid(
    pipe,
    prompts: Sequence[str],
    coords: Sequence[Sequence[float]],
    *,
    rows: int = 6,
    cols: int | None = None,
    bounds: Sequence[float] | None = None,
    seed: int = 0,
    truncation: float = 1.0,
    neighbors: int = DEFAULT_NEIGHBORS,
    power: float = 2.0,
    view: str | None = None,
    batch_size: int = 8,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Render:
    """An atlas of the map: ``rows`` x ``cols`` images at an even lattice over ``bounds``
    (``xmin, xmax, ymin, ymax``; default: the points' extent), top row = highest y, each the map's
    blend there with one seed; a caption names each row's nearest prompt at its left end."""
    prompts, c, neighbors = _map_inputs(prompts, coords, neighbors, power, limits)
    (seed,) = check_seeds([seed])
    check_truncation_and_batch(truncation, batch_size, limits)
    rows, cols = check_grid(rows, cols, limits)
    if bounds is None:
        lo, hi = c.min(0).values, c.max(0).values
        bounds = [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])]
    b = [float(v) for v in bounds]
    if len(b) != 4 or not all(math.isfinite(v) for v in b):
        raise ValueError(f"bounds are four finite numbers (xmin, xmax, ymin, ymax), got {list(bounds)}")
    xs = b[0] + latent.grid_positions(cols) * (b[1] - b[0])
    ys = b[3] - latent.grid_positions(rows) * (b[3] - b[2])
    points = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1).reshape(-1, 2)
    anchors, anchor_xy, sentence, noise, images = _render_points(pipe, prompts, c, points, neighbors, power, seed, truncation, batch_size, progress)
    nearest = _distances(points, anchor_xy).argmin(dim=1).tolist()
    row_labels = [f"y {float(ys[r]):.2f}: {short(anchors[nearest[r * cols]], 30)} …" for r in range(rows)]
    recipe = make_recipe(
        pipe, "map_grid", prompts=anchors, coords=anchor_xy.tolist(), rows=rows, cols=cols, bounds=b, seed=seed,
        truncation=truncation, neighbors=neighbors, power=float(power), view=view, batch_size=batch_size,
    )
    return Render(images, recipe, rows, cols, sentence, noise, row_labels, [f"x {v:.2f}" for v in xs.tolist()])
