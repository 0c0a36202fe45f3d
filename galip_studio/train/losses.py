"""GALIP's training objective (GALIP paper, Sec. 3.4 "Objective Functions"; docs/training.md, "Objective"), as pure
functions of the networks' outputs.

Discriminator step, with D(f, s) = QualityAssessor(ClipFeatureExtractor(f), s) over CLIP features f:

    L_D = mean(relu(1 - D(f_real, s)))                              real, matched
        + ( mean(relu(1 + D(f_fake, s)))                            fake (features detached)
          + mean(relu(1 + D(f_real, roll(s))) ) / 2                 real, mismatched: sample i gets s_{i+1}
        + k * mean(||grad_(f_real, s) D(f_real, s)||^p)             MA-GP, k = 2, p = 6, real matched pairs

Generator step, with the just-updated D and the CLIP image embedding e_fake of the same fakes:

    L_G = -mean(D(f_fake, s)) - lambda * mean(cos(e_fake, s))       lambda = 4

With a second discriminator over frozen pretrained features (``train --feature-d``; D_F of
``nets/feature_discriminator.py``, Projected GAN), over the feature network's maps F of the same
(separately augmented) images and a weight w that may ramp up over the first steps:

    L_DF = mean(relu(1 - D_F(F_real, s))) + ( mean(relu(1 + D_F(F_fake, s)))
                                             + mean(relu(1 + D_F(F_real, roll(s)))) ) / 2
    L_D += L_DF                                                     D_F's heads are D's parameters too
    L_G += -w * mean(D_F(F_fake, s))

GALIP's terms are unchanged by it. With ``train --recon-weight r`` (not in the paper), each fake G(z_i, s_i) is
also pulled towards the real image x_i whose caption gave s_i:

    L_G += r * mean(|G(z_i, s_i) - x_i|)                            pixels in [-1, 1], before any augmentation

The mismatched and fake terms share one batched forward (D has no cross-sample operations, so
this equals separate calls); the matched reals get their own, so that MA-GP differentiates only them. Losses are accumulated in float32 whatever the
autocast dtype of the forward.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, ContextManager

import torch
import torch.nn.functional as F
from torch import nn

AutocastFactory = Callable[[], ContextManager]


@dataclass
class LossConfig:
    """Hyper-parameters of the objective; defaults are the paper's."""

    sim_weight: float = 4.0  # lambda: weight of the CLIP text-image similarity in L_G
    gp_weight: float = 2.0  # k of MA-GP
    gp_power: float = 6.0  # p of MA-GP


@dataclass
class DiscriminatorLosses:
    total: torch.Tensor
    real: torch.Tensor
    fake: torch.Tensor
    mismatch: torch.Tensor
    gp: torch.Tensor

    def items(self) -> dict[str, float]:
        return {
            "loss_d": float(self.total.detach()),
            "loss_d_real": float(self.real.detach()),
            "loss_d_fake": float(self.fake.detach()),
            "loss_d_mismatch": float(self.mismatch.detach()),
            "loss_gp": float(self.gp.detach()),
        }


@dataclass
class GeneratorLosses:
    total: torch.Tensor
    adversarial: torch.Tensor
    clip_similarity: torch.Tensor

    def items(self) -> dict[str, float]:
        return {"loss_g": float(self.total.detach()), "loss_g_adv": float(self.adversarial.detach()), "clip_sim": float(self.clip_similarity.detach())}


@dataclass
class FeatureDiscriminatorLosses:
    total: torch.Tensor
    real: torch.Tensor
    fake: torch.Tensor
    mismatch: torch.Tensor

    def items(self) -> dict[str, float]:
        return {
            "loss_fd": float(self.total.detach()),
            "loss_fd_real": float(self.real.detach()),
            "loss_fd_fake": float(self.fake.detach()),
            "loss_fd_mismatch": float(self.mismatch.detach()),
        }


def hinge_real(out: torch.Tensor) -> torch.Tensor:
    """``mean(relu(1 - out))``: the hinge loss on pairs D should call real."""
    return F.relu(1.0 - out.float()).mean()


def hinge_fake(out: torch.Tensor) -> torch.Tensor:
    """``mean(relu(1 + out))``: the hinge loss on pairs D should call fake."""
    return F.relu(1.0 + out.float()).mean()


def mismatched(sentence: torch.Tensor) -> torch.Tensor:
    """Sentences rolled by one along the batch (sample i gets sentence i+1, the last the first), detached."""
    return torch.roll(sentence, shifts=-1, dims=0).detach()


def ma_gp(
    out: torch.Tensor,
    features: torch.Tensor,
    sentence: torch.Tensor,
    weight: float = 2.0,
    power: float = 6.0,
    grad_scale: float | None = None,
) -> torch.Tensor:
    """Matching-aware gradient penalty ``weight * mean(||(dD/df, dD/ds)||^power)``.

    ``out`` is D on real matched pairs; ``features`` and ``sentence`` are the leaves it was computed
    from (``requires_grad=True``). Gradients are flattened per sample and concatenated before the
    norm. With fp16 loss scaling, pass the scaler's scale: the gradients are taken of the scaled output
    (so they do not underflow) and divided by ``scale + 1e-8`` before the norm, as the official code.
    The power is applied to the squared norm (``(sum g^2)^(power/2)``), which equals ``||g||^power``
    and stays differentiable where a gradient is zero.
    """
    target = out if grad_scale is None else out * grad_scale
    grads = torch.autograd.grad(
        outputs=target, inputs=(features, sentence), grad_outputs=torch.ones_like(target), create_graph=True
    )
    flat = torch.cat([g.reshape(g.shape[0], -1).float() for g in grads], dim=1)
    if grad_scale is not None:
        flat = flat * (1.0 / (grad_scale + 1e-8))
    squared_norm = flat.pow(2).sum(dim=1)
    return weight * squared_norm.pow(power / 2).mean()


def discriminator_loss(
    discriminator: nn.Module,
    real_features: torch.Tensor,
    fake_features: torch.Tensor,
    sentence: torch.Tensor,
    config: LossConfig,
    autocast: AutocastFactory = contextlib.nullcontext,
    grad_scale: float | None = None,
) -> DiscriminatorLosses:
    """L_D for one batch (the discriminator step of docs/training.md, "Objective"). Fake features are
    detached here; real features and the sentence become fresh leaves so MA-GP can differentiate D
    with respect to them."""
    real = real_features.detach().requires_grad_(True)
    sent = sentence.detach().float().requires_grad_(True)
    b = real.shape[0]
    with autocast():
        # Matched reals alone: MA-GP's double backward then runs over B samples, not 3B.
        out_real = discriminator(real, sent)
        out_mismatch, out_fake = discriminator(
            torch.cat([real, fake_features.detach().to(real.dtype)]), torch.cat([mismatched(sent), sent])
        ).split(b)
    loss_real = hinge_real(out_real)
    loss_mismatch = hinge_fake(out_mismatch)
    loss_fake = hinge_fake(out_fake)
    gp = ma_gp(out_real, real, sent, config.gp_weight, config.gp_power, grad_scale)
    total = loss_real + (loss_fake + loss_mismatch) / 2 + gp
    return DiscriminatorLosses(total=total, real=loss_real, fake=loss_fake, mismatch=loss_mismatch, gp=gp)


def generator_loss(
    discriminator: nn.Module,
    fake_features: torch.Tensor,
    fake_embedding: torch.Tensor,
    sentence: torch.Tensor,
    config: LossConfig,
    autocast: AutocastFactory = contextlib.nullcontext,
) -> GeneratorLosses:
    """L_G for one batch (the generator step of docs/training.md, "Objective"):
    ``-mean(D(f_fake, s)) - lambda * mean(cos(e_fake, s))``."""
    with autocast():
        out = discriminator(fake_features, sentence)
    adversarial = -out.float().mean()
    similarity = F.cosine_similarity(fake_embedding.float(), sentence.float(), dim=-1).mean()
    total = adversarial - config.sim_weight * similarity
    return GeneratorLosses(total=total, adversarial=adversarial, clip_similarity=similarity)


def feature_discriminator_loss(
    discriminator: nn.Module,
    real_features: list[torch.Tensor],
    fake_features: list[torch.Tensor],
    sentence: torch.Tensor,
    autocast: AutocastFactory = contextlib.nullcontext,
) -> FeatureDiscriminatorLosses:
    """L_DF for one batch: GALIP's hinge terms (real, (fake + mismatch) / 2) over the feature
    network's maps, without MA-GP. Real, mismatched and fake pairs share one forward (D_F's heads
    have no cross-sample operation); fake features are detached here."""
    sent = sentence.detach().float()
    b = sent.shape[0]
    with autocast():
        out = discriminator([torch.cat([r, r, f.detach().to(r.dtype)]) for r, f in zip(real_features, fake_features)],
                            torch.cat([sent, mismatched(sent), sent]))
    out_real, out_mismatch, out_fake = out.split(b)
    real, mismatch, fake = hinge_real(out_real), hinge_fake(out_mismatch), hinge_fake(out_fake)
    return FeatureDiscriminatorLosses(total=real + (fake + mismatch) / 2, real=real, fake=fake, mismatch=mismatch)


def feature_generator_loss(
    discriminator: nn.Module,
    fake_features: list[torch.Tensor],
    sentence: torch.Tensor,
    autocast: AutocastFactory = contextlib.nullcontext,
) -> torch.Tensor:
    """The feature discriminator's adversarial term of L_G, before its weight: ``-mean(D_F(F_fake, s))``."""
    with autocast():
        out = discriminator(fake_features, sentence)
    return -out.float().mean()


def reconstruction_loss(fake: torch.Tensor, real: torch.Tensor, size: int = 0) -> torch.Tensor:
    """The paired reconstruction term of L_G, before its weight: ``mean(|fake - real|)`` over pixels,
    in float32; ``fake[i]`` was generated for the caption of ``real[i]``. Reals of another side (256 px
    for a 224 px model) are resized to the fakes' side first. ``size`` > 0 and under the fakes' side
    compares both at ``size`` x ``size`` (antialiased): only layout and colour are pulled, the detail
    is left to the discriminators."""
    return reconstruction_distances(fake, real, size).mean()


def reconstruction_distances(fake: torch.Tensor, real: torch.Tensor, size: int = 0) -> torch.Tensor:
    """:func:`reconstruction_loss` of each pair: ``(batch,)`` mean absolute pixel differences."""
    if fake.shape[:2] != real.shape[:2]:
        raise ValueError(f"fake images {tuple(fake.shape)} and real images {tuple(real.shape)} do not pair up")
    fake, real = fake.float(), real.float()
    side = fake.shape[-2:]
    if 0 < size < min(side):
        side = (size, size)
        fake = _resize(fake, side)
    if real.shape[-2:] != side:
        real = _resize(real, side)
    return (fake - real).abs().flatten(1).mean(1)


def _resize(images: torch.Tensor, side: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(images, size=side, mode="bilinear", antialias=True, align_corners=False)
