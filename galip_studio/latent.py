"""Latent-space math for GALIP: interpolation, blends, grids, truncation, easing and walks.

Pure tensor functions; no model. GALIP has two inputs to move through:

* **sentence vectors** ``[D]`` (CLIP text tower, ``pipe.encode``). Blending them linearly is what the
  paper does (Figure 7), so ``lerp`` is their default;
* **noise** ``[Z]`` (standard normal). Its norm concentrates near ``sqrt(Z)``, and a straight line
  between two draws passes through the low-norm middle the generator rarely saw, so ``slerp`` is its
  default (:data:`DEFAULT_INTERP`).

Conventions:

* ``t`` (and ``progress``) is a float or a tensor whose shape broadcasts against the *leading*
  dimensions of the vectors: vectors ``[D]`` with ``t`` of shape ``[T]`` give ``[T, D]``; vectors
  ``[N, D]`` with ``t`` of shape ``[N]`` give ``[N, D]`` (one ``t`` per row).
* **Exact endpoints.** Interpolations return their endpoints bit for bit (``t = 0`` gives ``a``,
  ``t = 1`` gives ``b``), blends with a one-hot weight return that input bit for bit, and closed
  paths wrap exactly (progress 1 is progress 0). The grids and loops of :mod:`galip_studio.explore` rely on it:
  a blend grid's corners are the plain generations of its prompts, a loop's next frame is its first.
* Progress along a path is a number in ``[0, 1]``; a path through ``K`` keyframes has ``K - 1``
  segments (``K`` when closed), and easing reshapes time inside each segment.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

INTERPOLATIONS: tuple[str, ...] = ("lerp", "slerp")
DEFAULT_INTERP: dict[str, str] = {"sentence": "lerp", "noise": "slerp"}
SLERP_DOT_THRESHOLD = 0.9995


# ------------------------------------------------------------------------------------------ easing
def _linear(t: Tensor) -> Tensor:
    return t


def _smoothstep(t: Tensor) -> Tensor:
    return t * t * (3 - 2 * t)


def _cosine(t: Tensor) -> Tensor:
    return (1 - torch.cos(math.pi * t)) / 2


EASINGS: dict[str, Callable[[Tensor], Tensor]] = {"linear": _linear, "smoothstep": _smoothstep, "cosine": _cosine}


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else a ValueError that lists them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}: choose one of {', '.join(choices)}")
    return value


def ease(t: float | Tensor, curve: str = "linear") -> Tensor:
    """Map time ``t`` in [0, 1] through an easing curve (``linear``, ``smoothstep``, ``cosine``).

    Every curve fixes 0 and 1 exactly and is monotonic; ``smoothstep`` and ``cosine`` start and end
    with zero speed (ease in and out). Values outside [0, 1] are clamped.
    """
    fn = EASINGS[check_choice("easing", curve, tuple(EASINGS))]
    t = torch.as_tensor(t, dtype=torch.float64).clamp(0, 1)
    out = fn(t).clamp(0, 1)
    return torch.where(t <= 0, torch.zeros_like(t), torch.where(t >= 1, torch.ones_like(t), out))


# ------------------------------------------------------------------------------------------ interpolation
def _weight(t: float | Tensor, like: Tensor) -> Tensor:
    """``t`` as a tensor of ``like``'s dtype that broadcasts over the vector (last) dimension."""
    w = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return w[..., None] if w.ndim else w


def lerp(a: Tensor, b: Tensor, t: float | Tensor) -> Tensor:
    """Linear interpolation ``(1 - t) a + t b`` (exact at ``t = 0`` and ``t = 1``)."""
    return torch.lerp(a, b, _weight(t, a))


def slerp(a: Tensor, b: Tensor, t: float | Tensor, dot_threshold: float = SLERP_DOT_THRESHOLD) -> Tensor:
    """Spherical interpolation along the great arc from ``a`` to ``b``.

    With ``theta`` the angle between them, ``sin((1 - t) theta) / sin(theta) a + sin(t theta) /
    sin(theta) b``: unit vectors stay unit vectors, and vectors of equal norm keep it. Where the two
    are nearly parallel or antiparallel (``|cos theta| > dot_threshold``) or one is zero, the arc is
    ill-defined and this falls back to :func:`lerp`, row by row.
    """
    w = _weight(t, a)
    a_unit, b_unit = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    dot = (a_unit * b_unit).sum(-1, keepdim=True).clamp(-1, 1)
    tiny = torch.finfo(a.dtype).tiny
    degenerate = (a.norm(dim=-1, keepdim=True) <= tiny) | (b.norm(dim=-1, keepdim=True) <= tiny)
    fallback = (dot.abs() > dot_threshold) | degenerate
    theta = torch.acos(torch.where(fallback, torch.zeros_like(dot), dot))
    sin_theta = torch.where(fallback, torch.ones_like(theta), torch.sin(theta))
    arc = torch.sin((1 - w) * theta) / sin_theta * a + torch.sin(w * theta) / sin_theta * b
    out = torch.where(fallback, torch.lerp(a, b, w), arc)
    # Exact endpoints whatever rounding sin() does.
    return torch.where(w == 0, a, torch.where(w == 1, b, out))


def interpolate(a: Tensor, b: Tensor, t: float | Tensor, mode: str = "lerp") -> Tensor:
    """:func:`lerp` or :func:`slerp` by name (see :data:`DEFAULT_INTERP` for each space's default)."""
    check_choice("interpolation", mode, INTERPOLATIONS)
    return slerp(a, b, t) if mode == "slerp" else lerp(a, b, t)


# ------------------------------------------------------------------------------------------ blends and grids
def blend(vectors: Tensor, weights: Sequence[float] | Tensor, normalize: bool = True) -> Tensor:
    """Weighted sum of ``N`` vectors ``[N, D]`` with weights ``[N]`` (or ``[..., N]`` for many blends).

    With ``normalize`` the weights are divided by their sum (a convex mix when they are
    non-negative; the sum must not be zero); without it they are used as given, so weights that sum
    to more than 1 push beyond the prompts (the style knob turned past 100 %). A one-hot weight
    returns that vector bit for bit.
    """
    if vectors.ndim != 2:
        raise ValueError(f"blend needs vectors [N, D], got shape {tuple(vectors.shape)}")
    w = torch.as_tensor(weights, dtype=vectors.dtype, device=vectors.device)
    if w.ndim == 0 or w.shape[-1] != vectors.shape[0]:
        raise ValueError(f"{vectors.shape[0]} vectors need {vectors.shape[0]} weights, got shape {tuple(w.shape)}")
    if not torch.isfinite(w).all():
        raise ValueError("blend weights must be finite numbers")
    if normalize:
        total = w.sum(-1, keepdim=True)
        if (total.abs() < 1e-8).any():
            raise ValueError("blend weights sum to 0: give at least one non-zero weight, or turn normalisation off")
        w = w / total
    return (w[..., None] * vectors).sum(-2)


def corner_weights(x: float | Tensor, y: float | Tensor) -> Tensor:
    """Bilinear weights ``[..., 4]`` of the corners (top-left, top-right, bottom-left, bottom-right).

    ``x`` runs left (0) to right (1), ``y`` top (0) to bottom (1). At a corner exactly one weight is 1.
    """
    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    if ((x < 0) | (x > 1) | (y < 0) | (y > 1)).any():
        raise ValueError("blend positions x and y must lie in [0, 1]")
    x, y = torch.broadcast_tensors(x, y)
    return torch.stack([(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y], dim=-1)


def corner_position(weights: Sequence[float]) -> tuple[float, float]:
    """Where four corner weights (top-left, top-right, bottom-left, bottom-right) sit in the unit
    square: the weighted mean of the corners (0, 0), (1, 0), (0, 1), (1, 1), as ``(x, y)``.

    The inverse of :func:`corner_weights`: ``corner_position(corner_weights(x, y)) == (x, y)`` (up to
    rounding), and any positive multiple of those weights gives the same point. Negative weights
    count as 0; all zero is the centre, (0.5, 0.5).
    """
    w = [max(0.0, float(v)) for v in weights]
    if len(w) != 4:
        raise ValueError(f"a corner position needs 4 weights (top-left, top-right, bottom-left, bottom-right), got {len(w)}")
    total = sum(w)
    if total <= 0:
        return 0.5, 0.5
    return (w[1] + w[3]) / total, (w[2] + w[3]) / total

def grid_positions(n: int) -> Tensor:
    """``n`` evenly spaced positions from 0 to 1 inclusive (float64, exact endpoints; ``n >= 2``)."""
    if n < 2:
        raise ValueError(f"a grid side needs at least 2 cells, got {n}")
    return torch.arange(n, dtype=torch.float64) / (n - 1)


def bilinear_blend(corners: Tensor, rows: int, cols: int) -> Tensor:
    """The four-corner blend grid ``[rows, cols, D]`` (the paper's Figure 7).

    ``corners`` is ``[4, D]`` in the order top-left, top-right, bottom-left, bottom-right; the grid's
    corner cells equal them bit for bit.
    """
    if corners.ndim != 2 or corners.shape[0] != 4:
        raise ValueError(f"a four-corner blend needs 4 corner vectors [4, D], got shape {tuple(corners.shape)}")
    y = grid_positions(rows)[:, None]
    x = grid_positions(cols)[None, :]
    return blend(corners, corner_weights(x, y), normalize=False)


# ------------------------------------------------------------------------------------------ noise
def truncate(z: Tensor, psi: float, mean: Tensor | None = None) -> Tensor:
    """Pull noise toward its mean: ``mean + psi (z - mean)`` (``psi`` in [0, 1]; 1 leaves it unchanged).

    The generator's noise is standard normal, so the default mean is 0 and this is ``psi * z`` —
    bit-equal to ``noise_from_seeds(seeds, z_dim, truncation=psi)``.
    """
    if not 0.0 <= psi <= 1.0:
        raise ValueError(f"truncation psi must be in [0, 1], got {psi}")
    if mean is None:
        return z * psi
    return mean + psi * (z - mean)


def great_circle(start: Tensor, toward: Tensor, progress: float | Tensor) -> Tensor:
    """A closed loop: the great circle through ``start`` in the plane of ``start`` and ``toward``.

    ``z(p) = cos(2 pi p) start + sin(2 pi p) u``, where ``u`` is the part of ``toward`` orthogonal to
    ``start``, scaled to ``|start|``: every point keeps the start's norm, progress is taken modulo 1,
    and progress 0 (= 1) is ``start`` exactly. Returns ``[N, D]`` for ``N`` progress values.
    """
    if start.ndim != 1 or toward.shape != start.shape:
        raise ValueError("great_circle needs two vectors of the same size")
    radius = start.norm()
    if radius <= 0:
        raise ValueError("the loop's start vector is zero")
    ortho = toward - (toward @ start) / (radius * radius) * start
    if ortho.norm() <= 1e-6 * toward.norm().clamp_min(1e-12):
        raise ValueError("the loop's direction is parallel to its start: pick another direction seed")
    u = ortho / ortho.norm() * radius
    angle = 2 * math.pi * torch.remainder(torch.as_tensor(progress, dtype=torch.float64).reshape(-1), 1.0)
    cos, sin = torch.cos(angle).to(start.dtype), torch.sin(angle).to(start.dtype)
    return cos[:, None] * start + sin[:, None] * u


def random_walk(start: Tensor, frames: int, step_size: float, generator: torch.Generator) -> Tensor:
    """A seeded random walk ``[frames, D]`` from ``start``: ``z[k] = sqrt(1 - s^2) z[k-1] + s e[k]``.

    ``e[k]`` are fresh standard normal draws from ``generator`` and ``s = step_size`` in (0, 1] is
    the share of new noise per frame. This is a stationary Gaussian (AR(1)) walk: if ``start`` is
    standard normal, so is every frame, so the walk never drifts off the noise the generator knows.
    """
    if not 0.0 < step_size <= 1.0:
        raise ValueError(f"step_size must be in (0, 1], got {step_size}")
    if frames < 1:
        raise ValueError("a random walk needs at least one frame")
    steps = torch.randn(frames - 1, start.shape[-1], generator=generator).to(start.dtype)
    keep = math.sqrt(1.0 - step_size * step_size)
    out = [start]
    for e in steps:
        out.append(keep * out[-1] + step_size * e)
    return torch.stack(out)


# ------------------------------------------------------------------------------------------ paths
def frame_progress(frames: int, closed: bool = False) -> Tensor:
    """Progress of each frame (float64): ``k / (frames - 1)`` for an open path (ends included),
    ``k / frames`` for a closed one (the frame after the last would be progress 1, i.e. the first)."""
    if frames < 1 or (frames < 2 and not closed):
        raise ValueError(f"a path needs at least 2 frames, got {frames}")
    return torch.arange(frames, dtype=torch.float64) / (frames if closed else frames - 1)


def _segments(progress: float | Tensor, n_keyframes: int, closed: bool, easing: str) -> tuple[Tensor, Tensor, Tensor]:
    """For each progress value: start keyframe, end keyframe and eased local time in the segment."""
    p = torch.as_tensor(progress, dtype=torch.float64).reshape(-1)
    if not torch.isfinite(p).all():
        raise ValueError("path progress values must be finite")
    p = torch.remainder(p, 1.0) if closed else p.clamp(0, 1)
    n_seg = n_keyframes if closed else n_keyframes - 1
    u = p * n_seg
    i0 = u.floor().long().clamp(0, n_seg - 1)
    local = u - i0
    i1 = (i0 + 1) % n_keyframes
    return i0, i1, ease(local, easing)


def keyframe_path(
    keyframes: Tensor, progress: float | Tensor, mode: str = "lerp", easing: str = "linear", closed: bool = False
) -> Tensor:
    """Points ``[N, D]`` on the path through keyframes ``[K, D]``, one per progress value.

    Each segment between consecutive keyframes is interpolated with ``mode`` (lerp/slerp) in eased
    time, so the path passes through every keyframe exactly (and, with a non-linear easing, pauses
    there). ``closed`` adds the segment from the last keyframe back to the first and takes progress
    modulo 1. One keyframe gives a constant path.
    """
    check_choice("interpolation", mode, INTERPOLATIONS)
    k = keyframes.shape[0]
    if k == 0:
        raise ValueError("a path needs at least one keyframe")
    if k == 1:
        n = torch.as_tensor(progress).reshape(-1).shape[0]
        return keyframes[:1].expand(n, -1).clone()
    i0, i1, t = _segments(progress, k, closed, easing)
    return interpolate(keyframes[i0], keyframes[i1], t.to(keyframes.dtype), mode)


def _catmull_rom(p0: Tensor, p1: Tensor, p2: Tensor, p3: Tensor, t: Tensor) -> Tensor:
    t2, t3 = t * t, t * t * t
    return 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (3 * p1 - p0 - 3 * p2 + p3) * t3)


def spline_path(
    keyframes: Tensor, progress: float | Tensor, easing: str = "linear", closed: bool = False, preserve_norm: bool = True
) -> Tensor:
    """Points ``[N, D]`` on a uniform Catmull-Rom spline through keyframes ``[K, D]``.

    Unlike :func:`keyframe_path` the direction changes smoothly at the keyframes (no corners). With
    ``preserve_norm`` each point is rescaled to a norm that follows the same spline through the
    keyframes' norms, which keeps Gaussian noise at its usual length between keyframes. Open splines
    repeat their end keyframes as outer control points; closed ones wrap around. Every keyframe is
    hit exactly.
    """
    k = keyframes.shape[0]
    if k < 3:
        # Two or fewer keyframes: Catmull-Rom is the straight segment; keep the norm with slerp.
        return keyframe_path(keyframes, progress, "slerp" if preserve_norm else "lerp", easing, closed)
    i1, i2, t = _segments(progress, k, closed, easing)
    if closed:
        i0, i3 = (i1 - 1) % k, (i2 + 1) % k
    else:
        i0, i3 = (i1 - 1).clamp(min=0), (i2 + 1).clamp(max=k - 1)
    tt = t.to(keyframes.dtype)[:, None]
    p0, p1, p2, p3 = keyframes[i0], keyframes[i1], keyframes[i2], keyframes[i3]
    out = _catmull_rom(p0, p1, p2, p3, tt)
    if preserve_norm:
        norms = keyframes.norm(dim=-1, keepdim=True)
        target = _catmull_rom(norms[i0], norms[i1], norms[i2], norms[i3], tt).clamp_min(1e-12)
        out = out * (target / out.norm(dim=-1, keepdim=True).clamp_min(1e-12))
    return torch.where(tt == 0, p1, torch.where(tt == 1, p2, out))


def pingpong_order(frames: int) -> list[int]:
    """Frame indices that play forward then back without repeating the end frames:
    ``0 .. n-1, n-2 .. 1`` (so the sequence loops seamlessly; ``2n - 2`` frames for ``n >= 2``)."""
    if frames < 1:
        raise ValueError("ping-pong needs at least one frame")
    return list(range(frames)) + list(range(frames - 2, 0, -1))
