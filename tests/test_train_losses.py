"""The training objective against hand computations on fixed tensors (GALIP paper, Sec. 3.4 "Objective Functions";
docs/training.md, "Objective")."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from galip_studio.nets import Discriminator
from galip_studio.train.losses import (
    LossConfig,
    discriminator_loss,
    generator_loss,
    hinge_fake,
    hinge_real,
    ma_gp,
    mismatched,
)


def test_hinge_terms_by_hand():
    out = torch.tensor([[-2.0], [0.5], [1.5], [0.0]])
    # relu(1 - x): 3, 0.5, 0, 1 -> mean 1.125 ; relu(1 + x): 0, 1.5, 2.5, 1 -> mean 1.25
    assert hinge_real(out).item() == pytest.approx(1.125)
    assert hinge_fake(out).item() == pytest.approx(1.25)


def test_mismatch_gives_each_sample_the_next_sentence():
    s = torch.tensor([[1.0], [2.0], [3.0]], requires_grad=True)
    m = mismatched(s)
    assert m.tolist() == [[2.0], [3.0], [1.0]]
    assert not m.requires_grad


class LinearD(nn.Module):
    """D(f, s) = <w, f> + <v, s>: its gradient is (w, v) for every sample."""

    def __init__(self, w: torch.Tensor, v: torch.Tensor):
        super().__init__()
        self.w, self.v = nn.Parameter(w), nn.Parameter(v)

    def forward(self, f: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return (f * self.w).flatten(1).sum(1, keepdim=True) + (s * self.v).sum(1, keepdim=True)


def test_ma_gp_linear_discriminator_by_hand():
    w = torch.full((3, 2, 2, 2), 0.5)  # 24 entries of 0.5 -> |w|^2 = 6
    v = torch.tensor([1.0, 2.0])  # |v|^2 = 5
    d = LinearD(w, v)
    f = torch.randn(4, 3, 2, 2, 2, requires_grad=True)
    s = torch.randn(4, 2, requires_grad=True)
    gp = ma_gp(d(f, s), f, s)
    # ||g|| = sqrt(11) for every sample: 2 * mean(11^3) = 2662
    assert gp.item() == pytest.approx(2 * 11**3)
    assert ma_gp(d(f, s), f, s, weight=1.0, power=2.0).item() == pytest.approx(11.0)


def test_ma_gp_nonlinear_per_sample_norms_and_scaling():
    # D(f, s) = sum(f^2)/2 + <a, s>: gradient (f, a), ||g||^2 = sum(f^2) + |a|^2 per sample
    a = torch.tensor([0.3, -0.4])
    f = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]], requires_grad=True)
    s = torch.zeros(2, 2, requires_grad=True)
    out = (f**2).sum(1, keepdim=True) / 2 + (s * a).sum(1, keepdim=True)
    sq = torch.tensor([5.0 + 0.25, 1.0 + 0.25])
    expected = 2.0 * (sq.sqrt() ** 6).mean()
    assert ma_gp(out, f, s).item() == pytest.approx(expected.item(), rel=1e-6)
    # fp16 loss scaling: grads of the scaled output, divided back before the norm -> same value
    out = (f**2).sum(1, keepdim=True) / 2 + (s * a).sum(1, keepdim=True)
    assert ma_gp(out, f, s, grad_scale=1024.0).item() == pytest.approx(expected.item(), rel=1e-6)
    # the penalty is differentiable (create_graph): d/df of 2*mean((|f|^2+c)^3) = 2/N * 3 (|f|^2+c)^2 * 2f
    out = (f**2).sum(1, keepdim=True) / 2 + (s * a).sum(1, keepdim=True)
    (grad_f,) = torch.autograd.grad(ma_gp(out, f, s), f)
    manual = 2.0 / 2 * 3 * sq[:, None] ** 2 * 2 * f.detach()
    assert torch.allclose(grad_f, manual, rtol=1e-5)


def _official_d_loss(d: nn.Module, f_real, f_fake, s):
    """The official formulation, written out: three separate D calls and MA_GP_FP32."""
    f_real = f_real.clone().requires_grad_(True)
    s = s.clone().requires_grad_(True)
    out_real = d(f_real, s)
    err_real = torch.mean(torch.relu(1.0 - out_real))
    s_mis = torch.cat((s[1:], s[0:1]), dim=0).detach()
    err_mis = torch.mean(torch.relu(1.0 + d(f_real, s_mis)))
    err_fake = torch.mean(torch.relu(1.0 + d(f_fake.detach(), s)))
    grads = torch.autograd.grad(out_real, (f_real, s), torch.ones_like(out_real), retain_graph=True, create_graph=True)
    grad = torch.cat([grads[0].reshape(grads[0].size(0), -1), grads[1].reshape(grads[1].size(0), -1)], dim=1)
    gp = 2.0 * torch.mean(torch.sqrt(torch.sum(grad**2, dim=1)) ** 6)
    return err_real + (err_fake + err_mis) / 2.0 + gp, (err_real, err_fake, err_mis, gp)


def test_discriminator_loss_matches_official_formulation_and_gradients():
    torch.manual_seed(0)
    d = Discriminator(clip_width=16, n_taps=3, grid=(7, 7), cond_dim=8, ndf=4)
    with torch.no_grad():  # make the residual/CLIP-feature paths active (they start at 0)
        for block in d.feature_extractor.blocks:
            block.gamma.fill_(0.5)
            block.beta.fill_(0.3)
        d.feature_extractor.main.gamma.fill_(0.7)
    f_real, f_fake, s = torch.randn(4, 3, 16, 7, 7), torch.randn(4, 3, 16, 7, 7), torch.randn(4, 8)
    ref_total, (r, fk, mis, gp) = _official_d_loss(d, f_real, f_fake, s)
    ref_grads = torch.autograd.grad(ref_total, list(d.parameters()))
    ours = discriminator_loss(d, f_real, f_fake, s, LossConfig())
    for got, want in ((ours.real, r), (ours.fake, fk), (ours.mismatch, mis), (ours.gp, gp), (ours.total, ref_total)):
        assert got.item() == pytest.approx(want.item(), rel=1e-5, abs=1e-7)
    assert ours.gp.item() > 0
    our_grads = torch.autograd.grad(ours.total, list(d.parameters()))
    for a, b in zip(our_grads, ref_grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


class FixedD(nn.Module):
    def __init__(self, out: torch.Tensor):
        super().__init__()
        self.out = out

    def forward(self, f: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.out + 0 * f.sum()


def test_generator_loss_by_hand():
    emb = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    sent = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # cos: 1 and 1/sqrt(2) -> mean (1 + 0.7071)/2 ; D outputs 0.5 and -1.5 -> -mean = 0.5
    g = generator_loss(FixedD(torch.tensor([[0.5], [-1.5]])), torch.zeros(2, 1), emb, sent, LossConfig())
    sim = (1 + 1 / math.sqrt(2)) / 2
    assert g.clip_similarity.item() == pytest.approx(sim)
    assert g.adversarial.item() == pytest.approx(0.5)
    assert g.total.item() == pytest.approx(0.5 - 4.0 * sim)
    g2 = generator_loss(FixedD(torch.tensor([[0.5], [-1.5]])), torch.zeros(2, 1), emb, sent, LossConfig(sim_weight=1.0))
    assert g2.total.item() == pytest.approx(0.5 - sim)
