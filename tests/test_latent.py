"""latent.py (pure tensor math) and metrics.retime_progress: exact endpoints, norms, fallbacks, loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from galip_studio import latent
from galip_studio.metrics import StepSummary, consecutive_distances, retime_progress
from galip_studio.pipeline import noise_from_seeds


def _unit(*shape: int, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


# ------------------------------------------------------------------------------------------ lerp / slerp
def test_slerp_keeps_unit_norm_and_exact_endpoints():
    a, b = _unit(64, seed=1), _unit(64, seed=2)
    t = torch.linspace(0, 1, 11)
    out = latent.slerp(a, b, t)
    assert out.shape == (11, 64)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(11), atol=1e-5, rtol=0)
    assert torch.equal(out[0], a) and torch.equal(out[-1], b)
    # The midpoint halves the angle: equal cosine to both ends.
    mid = latent.slerp(a, b, 0.5)
    assert float(mid @ a) == pytest.approx(float(mid @ b), abs=1e-5)
    # Plain lerp shrinks the norm in the middle; slerp does not.
    assert latent.lerp(a, b, 0.5).norm() < 0.9 < mid.norm()


def test_slerp_one_t_per_row_and_equal_norms_kept():
    a, b = 3 * _unit(5, 16, seed=3), 3 * _unit(5, 16, seed=4)
    t = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    out = latent.slerp(a, b, t)
    assert out.shape == (5, 16)
    torch.testing.assert_close(out.norm(dim=-1), torch.full((5,), 3.0), atol=1e-5, rtol=0)
    assert torch.equal(out[0], a[0]) and torch.equal(out[-1], b[-1])


def test_slerp_falls_back_to_lerp_for_parallel_antiparallel_and_zero():
    a = _unit(32, seed=5)
    t = torch.linspace(0, 1, 7)
    for b in (a.clone(), a * (1 + 1e-6), -a, torch.zeros(32)):
        out = latent.slerp(a, b, t)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, latent.lerp(a, b, t))
    # Row by row: only the parallel row falls back.
    other = _unit(32, seed=6)
    rows_a, rows_b = torch.stack([a, a]), torch.stack([a, other])
    out = latent.slerp(rows_a, rows_b, torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(out[0], a)
    assert out[1].norm() == pytest.approx(1.0, abs=1e-5)


def test_lerp_and_interpolate_by_name():
    a, b = torch.randn(8), torch.randn(8)
    out = latent.lerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.equal(out[0], a) and torch.equal(out[2], b)
    torch.testing.assert_close(out[1], (a + b) / 2)
    assert torch.equal(latent.interpolate(a, b, 0.3, "slerp"), latent.slerp(a, b, 0.3))
    with pytest.raises(ValueError, match="unknown interpolation 'cubic': choose one of lerp, slerp"):
        latent.interpolate(a, b, 0.3, "cubic")


# ------------------------------------------------------------------------------------------ blends
def test_blend_normalised_raw_and_one_hot_exact():
    v = torch.randn(4, 10)
    torch.testing.assert_close(latent.blend(v, [1, 1, 0, 0]), (v[0] + v[1]) / 2)
    torch.testing.assert_close(latent.blend(v, [1, 1, 0, 0], normalize=False), v[0] + v[1])
    for k in range(4):
        assert torch.equal(latent.blend(v, [float(i == k) for i in range(4)]), v[k])
    many = latent.blend(v, torch.eye(4))
    assert torch.equal(many, v)


@pytest.mark.parametrize(
    "weights, normalize, message",
    [([1, -1, 0, 0], True, "sum to 0"), ([1, 2], True, "4 vectors need 4 weights"), ([1, float("nan"), 0, 0], False, "finite")],
)
def test_blend_errors(weights, normalize, message):
    with pytest.raises(ValueError, match=message):
        latent.blend(torch.randn(4, 3), weights, normalize=normalize)


def test_bilinear_blend_corners_bit_equal_and_centre_is_mean():
    corners = torch.randn(4, 12)
    grid = latent.bilinear_blend(corners, 5, 3)
    assert grid.shape == (5, 3, 12)
    assert torch.equal(grid[0, 0], corners[0]) and torch.equal(grid[0, -1], corners[1])
    assert torch.equal(grid[-1, 0], corners[2]) and torch.equal(grid[-1, -1], corners[3])
    torch.testing.assert_close(grid[2, 1], corners.mean(0))
    # Edges are plain A->B interpolations.
    torch.testing.assert_close(grid[0, 1], (corners[0] + corners[1]) / 2)
    with pytest.raises(ValueError, match="at least 2 cells"):
        latent.bilinear_blend(corners, 1, 3)
    with pytest.raises(ValueError, match="4 corner vectors"):
        latent.bilinear_blend(corners[:3], 3, 3)


def test_corner_weights():
    w = latent.corner_weights(0.25, 0.5)
    torch.testing.assert_close(w, torch.tensor([0.375, 0.125, 0.375, 0.125], dtype=torch.float64))
    assert latent.corner_weights(1.0, 0.0).tolist() == [0.0, 1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        latent.corner_weights(1.5, 0.0)


@pytest.mark.parametrize("x, y", [(0.0, 0.0), (1.0, 0.0), (0.3, 0.25), (0.5, 0.5), (0.01, 0.99), (1.0, 1.0)])
def test_corner_position_inverts_corner_weights(x, y):
    """The knobs' position sliders follow the weights: the weights of a point give that point back,
    also scaled (unnormalised knobs); negative weights count as 0; all zero is the centre."""
    w = latent.corner_weights(x, y).tolist()
    assert latent.corner_position(w) == pytest.approx((x, y), abs=1e-12)
    assert latent.corner_position([2.5 * v for v in w]) == pytest.approx((x, y), abs=1e-12)


def test_corner_position_edge_cases():
    assert latent.corner_position([0, 0, 0, 0]) == (0.5, 0.5)
    assert latent.corner_position([-1, 0, 0, 2]) == (1.0, 1.0)  # the negative top-left weight counts as 0
    with pytest.raises(ValueError, match="4 weights"):
        latent.corner_position([1, 0, 0])


# ------------------------------------------------------------------------------------------ noise
def test_truncation_matches_pipeline_noise_bit_for_bit():
    z = noise_from_seeds([3, 4], 16)
    assert torch.equal(latent.truncate(z, 0.7), noise_from_seeds([3, 4], 16, truncation=0.7))
    assert torch.equal(latent.truncate(z, 1.0), z)
    mean = torch.full((16,), 2.0)
    assert torch.equal(latent.truncate(z, 0.0, mean).expand(2, -1), mean.expand(2, -1))
    torch.testing.assert_close(latent.truncate(z, 0.5, mean), mean + 0.5 * (z - mean))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        latent.truncate(z, 1.5)


def test_easing_curves():
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    for name in latent.EASINGS:
        e = latent.ease(t, name)
        assert e[0] == 0 and e[-1] == 1
        assert (e.diff() >= 0).all()
    # Smooth curves start slowly: the first step is much shorter than linear's.
    assert latent.ease(0.01, "smoothstep") < 0.001 and latent.ease(0.01, "cosine") < 0.001
    assert float(latent.ease(0.5, "cosine")) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown easing 'bounce': choose one of linear, smoothstep, cosine"):
        latent.ease(0.5, "bounce")


def test_great_circle_closes_exactly_and_keeps_norm():
    a, b = noise_from_seeds([0, 1], 100)
    p = latent.frame_progress(24, closed=True)
    loop = latent.great_circle(a, b, p)
    torch.testing.assert_close(loop.norm(dim=-1), a.norm().expand(24), atol=1e-4, rtol=0)
    assert torch.equal(loop[0], a)
    # The frame after the last is the first, bit for bit.
    assert torch.equal(latent.great_circle(a, b, [1.0])[0], a)
    torch.testing.assert_close(latent.great_circle(a, b, [0.5])[0], -a, atol=1e-4, rtol=0)
    steps = consecutive_distances(loop, closed=True)
    assert float(steps.max() / steps.min()) < 1.001  # evenly spaced, including last -> first
    with pytest.raises(ValueError, match="parallel"):
        latent.great_circle(a, 2 * a, p)


def test_random_walk_is_seeded_and_stays_on_the_noise_shell():
    start = noise_from_seeds([0], 512)[0]
    walk = latent.random_walk(start, 200, 0.1, torch.Generator().manual_seed(1))
    again = latent.random_walk(start, 200, 0.1, torch.Generator().manual_seed(1))
    assert walk.shape == (200, 512) and torch.equal(walk, again) and torch.equal(walk[0], start)
    norms = walk.norm(dim=-1) / math.sqrt(512)
    assert 0.9 < float(norms.min()) and float(norms.max()) < 1.1
    small = consecutive_distances(walk).mean()
    big = consecutive_distances(latent.random_walk(start, 200, 0.4, torch.Generator().manual_seed(1))).mean()
    assert 3 < float(big / small) < 5  # step length ~ proportional to step_size
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        latent.random_walk(start, 5, 0.0, torch.Generator())


# ------------------------------------------------------------------------------------------ paths
def test_frame_progress_open_and_closed():
    assert latent.frame_progress(5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert latent.frame_progress(4, closed=True).tolist() == [0.0, 0.25, 0.5, 0.75]
    with pytest.raises(ValueError, match="at least 2 frames"):
        latent.frame_progress(1)


def test_keyframe_path_hits_keyframes_and_closed_path_wraps():
    keys = noise_from_seeds([0, 1, 2], 32)
    out = latent.keyframe_path(keys, [0.0, 0.5, 1.0], "slerp")
    assert torch.equal(out, keys)
    loop = latent.keyframe_path(keys, torch.tensor([0.0, 1 / 3, 2 / 3, 1.0], dtype=torch.float64), "slerp", closed=True)
    assert torch.equal(loop[3], loop[0]) and torch.equal(loop[0], keys[0])
    torch.testing.assert_close(loop[1], keys[1])
    const = latent.keyframe_path(keys[:1], [0.0, 0.7])
    assert const.shape == (2, 32) and torch.equal(const[1], keys[0])


def test_easing_slows_down_at_keyframes():
    keys = torch.tensor([[0.0], [1.0], [3.0]])
    p = latent.frame_progress(41)
    lin = consecutive_distances(latent.keyframe_path(keys, p))
    cos = consecutive_distances(latent.keyframe_path(keys, p, easing="cosine"))
    assert float(cos[0]) < 0.2 * float(lin[0])  # eases out of the first keyframe
    assert float(cos[19] + cos[20]) < 0.2 * float(lin[19] + lin[20])  # and pauses at the middle one


def test_spline_path_is_smooth_through_exact_keyframes():
    keys = noise_from_seeds([0, 1, 2, 3], 64)
    p = torch.tensor([0.0, 1 / 3, 2 / 3, 1.0], dtype=torch.float64)
    assert torch.equal(latent.spline_path(keys, p), keys)
    dense = latent.spline_path(keys, latent.frame_progress(301))
    torch.testing.assert_close(dense.norm(dim=-1).min(), keys.norm(dim=-1).min(), atol=0.15 * float(keys.norm(dim=-1).min()), rtol=0)

    def turn(path: torch.Tensor, i: int) -> float:  # angle between the steps into and out of frame i
        d_in, d_out = path[i] - path[i - 1], path[i + 1] - path[i]
        return float(torch.arccos(F.cosine_similarity(d_in, d_out, dim=0).clamp(-1, 1)))

    linear = latent.keyframe_path(keys, latent.frame_progress(301), "lerp")
    assert turn(dense, 100) < 0.1 < turn(linear, 100)  # frame 100 is keyframe 1: a corner only for lerp
    closed = latent.spline_path(keys, torch.tensor([0.0, 1.0], dtype=torch.float64), closed=True)
    assert torch.equal(closed[0], closed[1])


def test_pingpong_order():
    assert latent.pingpong_order(4) == [0, 1, 2, 3, 2, 1]
    assert latent.pingpong_order(2) == [0, 1]
    assert latent.pingpong_order(1) == [0]


# ------------------------------------------------------------------------------------------ re-timing
def test_retime_progress_evens_out_a_known_uneven_path():
    # x(p) = p^3 moves slowly at first: equal progress steps give very uneven distances.
    dense = np.linspace(0, 1, 401)
    steps = np.abs(np.diff(dense**3))
    before = StepSummary.of(np.diff(np.linspace(0, 1, 9) ** 3))
    p = retime_progress(dense, steps, 9)
    after = StepSummary.of(np.diff(np.asarray(p) ** 3))
    assert p[0] == 0.0 and p[-1] == 1.0 and all(np.diff(p) > 0)
    assert after.cv < 0.01 < 0.5 < before.cv
    assert after.max_over_mean == pytest.approx(1.0, abs=0.01)


def test_retime_progress_closed_path_and_errors():
    # A closed path whose second half is twice as long (in distance per progress): a third of the
    # arc length lies in the first half, so frames there are twice as far apart in progress.
    dense = np.arange(100) / 100
    steps = np.where(dense < 0.5, 1.0, 2.0)
    p = retime_progress(dense, steps, 6, closed=True)
    np.testing.assert_allclose(p, [0.0, 0.25, 0.5, 0.625, 0.75, 0.875], atol=1e-6)
    with pytest.raises(ValueError, match="need 100 steps"):
        retime_progress(dense, steps[:-1], 6, closed=True)
    with pytest.raises(ValueError, match="increasing progress"):
        retime_progress([0.0, 0.0, 1.0], [1.0, 1.0], 4)
