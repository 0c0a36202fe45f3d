"""The fast inference path of GALIP's generator: same weights, nearly the same images, less time.

:class:`FastGenerator` is an inference-time transformation of a :class:`Generator`. It reads the
generator's (and the CLIP's) parameters, never renames or replaces them, and derives the tensors
it needs (fused affine weights, sub-pixel and Winograd kernels, low-precision copies) on first
use. The derived tensors are rebuilt whenever a source parameter changes (a training step,
``load_state_dict``, ``.to()``), so training and checkpoints are untouched.
``GALIPPipeline(..., fast=False)`` runs the plain fp32 reference path instead.

What it does (each one a field of :class:`FastOptions`, listed by ``galip-studio info --speed``):

* ``fused_affine``: every gamma/beta of every Affine depends only on c = [noise, sentence], so the
  first Linear layers of all of them are one matmul and the second layers one batched matmul per
  width, instead of ~200 small matmuls.
* ``low_res``: the first DF-block of a G-block (per-channel affines and LeakyReLU) and the 1x1
  shortcut commute with nearest upsampling, so they run on the small map (4x fewer pixels), and
  the shortcut is added as a broadcast instead of an upsampled copy.
* ``subpixel``: a 3x3 conv after a nearest 2x upsampling is, per output phase, a 2x2 conv on the
  small map: four 2x2 convs instead of one 3x3 conv on four times the pixels (2.25x fewer
  multiply-adds, and the upsampled map is never built). Exact up to float rounding.
* ``winograd``: F(4x4, 3x3) Winograd convolution written as three GEMMs (4x fewer multiply-adds)
  for the wide (512-channel) 3x3 convolutions, which run on small maps.
* ``subpixel_winograd``: the same for the sub-pixel conv of the 512 -> 256 channel G-block, seen
  as one 3x3 conv with 4x the output channels (pixel-shuffled in the output transform).
* ``nnpack``: NNPACK's Winograd convolution for the 3x3 convolutions on large maps (>= 64x64).
* ``gemm``: the 5x5 convolutions on the 7x7 CLIP grid as one unfold + matmul.
* ``sdpa``: CLIP attention as fused ``scaled_dot_product_attention`` with the same weights.
* ``channels_last`` memory format (on CUDA, where tensor cores want it).
* ``reuse_memory``: on Linux/glibc CPUs, large freed blocks stay in the process heap (``mallopt``)
  instead of going back to the OS, so the 100+ MB activations of a batch do not page-fault afresh
  on every allocation (the reference path gains from it too; it is process-wide and only grows
  the resident memory to the peak of one forward).
* ``dtype``: bf16 (CPUs with native bf16 instructions; CUDA) or fp16 (CUDA without bf16) for the
  convolutions and CLIP matmuls, while the affine MLPs, LayerNorms, CLIP residual stream and
  ``to_rgb`` stay fp32. CPUs without native bf16 run it far slower than fp32, so "auto" keeps fp32
  there, and the Winograd/NNPACK convolutions (fp32 algorithms) are used only with fp32. "auto"
  also keeps fp32 for models of up to ``CPU_BF16_MAX_FP32_SIZE`` px (the bundled 64 px one): their
  fp32 forward takes 12-30 ms per image even on 2 AVX2 cores, so bf16 has little to save there (not
  measured on a native-bf16 CPU), and in fp32 they keep the batch promise below to ~1e-6.
* ``per_image``: one forward per image (opt-in): the same image bit for bit whatever the batch,
  with any dtype on any CPU, at the price of batching (bundled model, batch 8, 2-core AVX2: 2x the
  time per image in fp32).
* ``compile``: ``torch.compile`` of the whole fast forward (opt-in: compiling takes minutes).

Batch size: an image should not depend on the batch it is computed in. Matrix kernels are chosen
by shape (and memory format), so a batch of 4 rounds the last fp32 bit of some values differently
from a batch of 1. In fp32 that stays there: bundled model, batch 8 vs 1 and 3, max 3.5e-6. With a
reduced dtype every value is rounded to bf16 after each layer, where such a difference now and then
flips a rounding (one bf16 step is 0.4%), and the flips grow through the network: the bundled
model's bf16 images differed by up to 0.014 between batch 8 and batch 1. Three places made them
differ (found by comparing every op of a batch-8 and a batch-1 forward on a 2-core AVX2 CPU, bf16
emulated); with a reduced dtype the fast path now avoids them:

* the fp32 matmuls of the conditioning (affine MLPs, ``fc_code``, prompt predictor), whose M is the
  batch: computed one image at a time (:meth:`FastGenerator.condition`; bundled model 3-4 ms per
  image on 2 busy cores, as its 484 x 6272 affine matrix is read once per image);
* the 5x5 GEMM convolutions on the CLIP grid (M = batch x grid): one image at a time, and the last
  fp32 ``to_rgb`` conv likewise (:meth:`FastGenerator._per_image`);
* the CLIP grid's memory format, NHWC at batch 4 but NCHW at batch 1, so that the next convolution
  took another kernel: every map that enters a convolution is made contiguous (:meth:`_format`).

With them bf16 images were the same bit for bit at batch 1, 2, 3, 5 and 8 on that CPU (bundled and
tiny models); the bf16 convolutions, CLIP matmuls and attention themselves were batch-independent
there. A native-bf16 CPU runs other kernels (oneDNN may, for one, split a small matmul's reduction
over threads), so bf16 promises bit-identical images for the same batch size and, across batch
sizes, the bf16 tolerance: within 35 dB PSNR of each other, as of fp32. ``per_image`` makes them
identical on any CPU.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import device as device_info
from .clip_backbone import ClipBackbone
from .nets.blocks import Affine, DFBlock, FusionBlock, GBlock
from .nets.generator import Generator

LRELU = 0.2
# Algorithm choices, measured per layer of the official generator on a 2-core AVX2 (Zen 3) CPU,
# fp32, batch 1 and 8, alternating candidates in one process:
WINOGRAD_MIN_CHANNELS = 512  # GEMM Winograd when both channel counts (Cin, Cout or 4*Cout) are this wide
NNPACK_MIN_PIXELS = 64 * 64  # NNPACK beats oneDNN's direct 3x3 conv from 64x64 maps up
NNPACK_SUBPIXEL_MAX_WORK = 64 * 64  # batch * small-map pixels up to which NNPACK on the upsampled map
#                                     beats the direct sub-pixel conv (256 -> 128 channels at batch 1)
GEMM_MAX_PIXELS = 8 * 8  # 5x5 convs on maps this small run as unfold + matmul
CPU_BF16_MAX_FP32_SIZE = 64  # "auto" keeps fp32 on native-bf16 CPUs for images up to this size (px)


# ------------------------------------------------------------------------------------ kernels
@torch.library.custom_op("galip_studio::nnpack_conv3x3", mutates_args=())
def nnpack_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """NNPACK Winograd 3x3 conv, stride 1, padding 1 (fp32, CPU, NCHW); an opaque op for torch.compile."""
    return torch._nnpack_spatial_convolution(x.contiguous(), weight, bias, [1, 1])


@nnpack_conv3x3.register_fake
def _(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return x.new_empty(x.shape[0], weight.shape[0], x.shape[2], x.shape[3])


# ------------------------------------------------------------------------------------ options
@dataclass(frozen=True)
class FastOptions:
    """Which optimisations the fast path uses; :func:`auto_options` picks them for a device."""

    fused_affine: bool = True
    low_res: bool = True
    subpixel: bool = True
    winograd: bool = True
    subpixel_winograd: bool = True
    nnpack: bool = False
    gemm: bool = True
    sdpa: bool = True
    channels_last: bool = False
    reuse_memory: bool = False
    dtype: torch.dtype = torch.float32
    per_image: bool = False
    compile: bool = False

    def replace(self, **changes: Any) -> "FastOptions":
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["dtype"] = str(self.dtype).replace("torch.", "")
        return d


def auto_options(
    device: torch.device | str, compile: bool = False, dtype: torch.dtype | None = None, image_size: int | None = None
) -> FastOptions:
    """The options that are safe and pay off on ``device``.

    ``dtype``: a compute dtype the caller asked for (e.g. a pipeline built with ``dtype=bfloat16``);
    ``None`` or float32 lets this function choose. ``image_size``: the generator's output size; on
    a CPU, models up to ``CPU_BF16_MAX_FP32_SIZE`` px stay fp32 (``None``: not known, bf16 allowed).
    """
    device = torch.device(device)
    cpu = device.type == "cpu"
    if dtype is None or dtype == torch.float32:
        if device.type == "cuda":
            dtype = device_info.cuda_amp_dtype()
        else:
            dtype = torch.bfloat16 if cpu and cpu_bf16_pays_off(image_size) else torch.float32
    fp32_cpu = cpu and dtype == torch.float32  # the Winograd kernels are fp32 CPU algorithms
    return FastOptions(
        winograd=fp32_cpu,
        subpixel_winograd=fp32_cpu,
        nnpack=fp32_cpu and device_info.nnpack_available(),
        gemm=cpu,
        channels_last=device.type == "cuda",
        reuse_memory=cpu and device_info.allocator_tunable(),
        dtype=dtype,
        compile=compile,
    )


def cpu_bf16_pays_off(image_size: int | None) -> bool:
    """bf16 on this CPU for a model of ``image_size`` px: native bf16 and a model over 64 px."""
    return device_info.cpu_has_native_bf16() and (image_size is None or image_size > CPU_BF16_MAX_FP32_SIZE)


def resolve_fast(
    fast: bool | str | FastOptions | None,
    device: torch.device | str,
    dtype: torch.dtype | None = None,
    image_size: int | None = None,
) -> FastOptions | None:
    """Map the pipeline's ``fast`` argument to options (``None``: the reference path).

    ``"auto"``/``True``: :func:`auto_options`; ``"compile"``: the same plus ``torch.compile``;
    ``False``/``None``/``"off"``: reference; a :class:`FastOptions`: used as given.
    """
    if isinstance(fast, FastOptions):
        return fast
    if fast is None or fast is False or fast == "off":
        return None
    if fast is True or fast == "auto":
        return auto_options(device, dtype=dtype, image_size=image_size)
    if fast == "compile":
        return auto_options(device, compile=True, dtype=dtype, image_size=image_size)
    raise ValueError(f"fast must be True, False, 'auto', 'compile', 'off' or a FastOptions, got {fast!r}")


def speed_report(
    options: FastOptions | None, device: torch.device | str, image_size: int | None = None
) -> list[tuple[str, str, str]]:
    """(setting, value, why) rows describing the inference path, for ``info --speed``."""
    device = torch.device(device)
    rows = [
        ("device", str(device), f"CPU capability {torch.backends.cpu.get_cpu_capability()}" if device.type == "cpu" else ""),
        ("threads", str(torch.get_num_threads()), "torch.get_num_threads()"),
        ("text cache", "on", "sentence vectors cached per prompt"),
    ]
    if options is None:
        return [("path", "reference", "plain fp32 generator forward (fast=False)")] + rows
    if device.type == "cuda":
        why_dtype = "mixed precision on CUDA; affine MLPs, LayerNorms and to_rgb stay fp32"
    elif options.dtype != torch.float32:
        why_dtype = "native bf16 on this CPU; affine MLPs, LayerNorms and to_rgb stay fp32"
    elif device.type == "cpu" and not device_info.cpu_has_native_bf16():
        why_dtype = "no native bf16 on this CPU (avx512_bf16/amx_bf16), where bf16 is slower than fp32"
    elif device.type == "cpu" and not cpu_bf16_pays_off(image_size):
        why_dtype = (f"a {image_size} px model: its fp32 forward is already fast, and fp32 images do not "
                     "depend on the batch size (bf16 ones can)")
    else:
        why_dtype = "fp32 as asked"
    on = lambda b: "on" if b else "off"  # noqa: E731
    side = int(NNPACK_MIN_PIXELS**0.5)
    return [
        ("path", "fast", "galip_studio.fast.FastGenerator (GALIPPipeline(fast=False): fp32 reference)"),
        *rows,
        ("dtype", str(options.dtype).replace("torch.", ""), why_dtype),
        ("fused_affine", on(options.fused_affine), "all gamma/beta MLPs: one matmul + one bmm per width"),
        ("low_res", on(options.low_res), "first DF-block and 1x1 shortcut before the nearest upsampling"),
        ("subpixel", on(options.subpixel), "2x upsample + 3x3 conv as 2x2 phase convs on the small map"),
        ("winograd", on(options.winograd), f"F(4x4,3x3) GEMM Winograd for {WINOGRAD_MIN_CHANNELS}-channel 3x3 convs (fp32)"),
        ("subpixel_winograd", on(options.subpixel_winograd), "the same for the 512->256 sub-pixel conv"),
        ("nnpack", on(options.nnpack), f"NNPACK Winograd for 3x3 convs on maps >= {side}x{side} (CPU fp32)"),
        ("gemm", on(options.gemm), "5x5 convs on the CLIP grid as unfold + matmul"),
        ("sdpa", on(options.sdpa), "CLIP attention via scaled_dot_product_attention"),
        ("channels_last", on(options.channels_last), "NHWC activations"),
        ("reuse_memory", on(options.reuse_memory), "glibc keeps large freed blocks: no page faults on big activations"),
        ("per_image", on(options.per_image), "one forward per image: the same bf16 image bit for bit whatever the batch (opt-in)"),
        ("compile", on(options.compile), "torch.compile (opt-in: fast='compile')"),
    ]


# ------------------------------------------------------------------------------------ convolution kernels
def subpixel_kernel(weight: torch.Tensor) -> torch.Tensor:
    """``[Cout, Cin, 3, 3]`` -> ``[2, 2, Cout, Cin, 2, 2]``: the 3x3 kernel seen through a nearest 2x
    upsampling, one 2x2 kernel per output phase (py, px).

    Output row 2i+0 reads upsampled rows 2i-1, 2i, 2i+1 = source rows i-1, i, i: kernel rows
    [k0, k1+k2] over source rows (i-1, i). Row 2i+1 reads source rows i, i, i+1: [k0+k1, k2] over
    (i, i+1). The same holds for columns.
    """
    k0, k1, k2 = weight.unbind(2)
    rows = (torch.stack([k0, k1 + k2], 2), torch.stack([k0 + k1, k2], 2))
    out = []
    for r in rows:
        c0, c1, c2 = r.unbind(3)
        out.append(torch.stack([torch.stack([c0, c1 + c2], 3), torch.stack([c0 + c1, c2], 3)]))
    return torch.stack(out)


def subpixel_kernel_3x3(weight: torch.Tensor) -> torch.Tensor:
    """The sub-pixel kernels as one 3x3 conv with ``4*Cout`` outputs in pixel-shuffle order
    ``(cout, py, px)``: phase py=0 reads source rows (i-1, i), i.e. kernel rows (0, 1); py=1 reads
    (i, i+1), i.e. rows (1, 2)."""
    k = subpixel_kernel(weight)  # [2, 2, Cout, Cin, 2, 2]
    cout, cin = weight.shape[:2]
    out = weight.new_zeros(cout, 2, 2, cin, 3, 3)
    for py in (0, 1):
        for px in (0, 1):
            out[:, py, px, :, py : py + 2, px : px + 2] = k[py, px]
    return out.reshape(4 * cout, cin, 3, 3)


def interleave_phases(y: torch.Tensor, cout: int, h: int, w: int) -> torch.Tensor:
    """Assemble the 2x-upsampled map from the padded 2x2 phase conv output ``y`` [B, 4*Cout, h+1, w+1].

    Phase (py, px) of source pixel (i, j) sits at ``y[:, (2*py+px)*Cout + c, i+py, j+px]`` and goes
    to output pixel (2i+py, 2j+px).
    """
    b = y.shape[0]
    if y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous():
        src = y.permute(0, 2, 3, 1)  # NHWC view
        out = torch.empty(b, h, 2, w, 2, cout, dtype=y.dtype, device=y.device)
        for k, (py, px) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            out[:, :, py, :, px, :] = src[:, py : py + h, px : px + w, k * cout : (k + 1) * cout]
        return out.view(b, 2 * h, 2 * w, cout).permute(0, 3, 1, 2)
    src = y.view(b, 2, 2, cout, h + 1, w + 1)
    out = torch.empty(b, cout, h, 2, w, 2, dtype=y.dtype, device=y.device)
    for py in (0, 1):
        for px in (0, 1):
            out[:, :, :, py, :, px] = src[:, py, px, :, py : py + h, px : px + w]
    return out.view(b, cout, 2 * h, 2 * w)


class Winograd43:
    """F(4x4, 3x3) Winograd convolution (stride 1, padding 1) as three GEMMs.

    Tiles of 6x6 input pixels (stride 4) are transformed to 36 points (``kron(Bt, Bt)``), each point
    is one ``[tiles, Cin] x [Cin, Cout]`` GEMM (a single ``bmm``), and the 36 results are transformed
    back to 4x4 output pixels (``kron(At, At)``): 36 instead of 144 multiply-adds per 16 outputs.
    fp32 error ~1e-5 relative (Lavin & Gray, points 0, +-1, +-2, inf).
    """

    BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0), (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
    G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6), (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
    AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))

    def __init__(self) -> None:
        self._consts: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    @classmethod
    def kernel(cls, weight: torch.Tensor) -> torch.Tensor:
        """``[Cout, Cin, 3, 3]`` -> the transformed kernel ``[36, Cin, Cout]`` (computed in fp64)."""
        g = torch.tensor(cls.G, dtype=torch.float64, device=weight.device)
        u = torch.einsum("ij,kcjl,ml->imck", g, weight.double(), g)  # [6, 6, Cin, Cout]
        return u.reshape(36, weight.shape[1], weight.shape[0]).to(weight.dtype).contiguous()

    def _transforms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (x.device, x.dtype)
        if key not in self._consts:
            bt = torch.tensor(self.BT, dtype=torch.float64)
            at = torch.tensor(self.AT, dtype=torch.float64)
            self._consts[key] = (torch.kron(bt, bt).to(x), torch.kron(at, at).to(x))
        return self._consts[key]

    def __call__(self, x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None, shuffle: bool = False) -> torch.Tensor:
        """``conv2d(x, w, bias, padding=1)`` for ``u = kernel(w)``; with ``shuffle`` the ``4*C`` output
        channels are pixel-shuffled (by 2) into ``C`` channels on a 2x larger map, in the same copy
        (``bias`` then has ``C`` entries)."""
        kb, ka = self._transforms(x)
        b, cin, h, w = x.shape
        cout = u.shape[2]
        th, tw = -(-h // 4), -(-w // 4)
        xp = F.pad(x, (1, 4 * tw + 1 - w, 1, 4 * th + 1 - h))
        tiles = b * th * tw
        d = xp.unfold(2, 6, 4).unfold(3, 6, 4).permute(4, 5, 0, 2, 3, 1).reshape(36, tiles * cin)
        v = torch.mm(kb, d).view(36, tiles, cin)
        m = torch.bmm(v, u)  # [36, tiles, Cout]
        y = torch.mm(ka, m.view(36, tiles * cout)).view(4, 4, b, th, tw, cout)
        if shuffle:
            c = cout // 4
            y = y.view(4, 4, b, th, tw, c, 2, 2).permute(2, 5, 3, 0, 6, 4, 1, 7)  # b, c, th, a, py, tw, a', px
            bias_view = None if bias is None else bias.view(c, 1, 1, 1, 1, 1, 1)
            out_h, out_w, out_c = 8 * th, 8 * tw, c
        else:
            y = y.permute(2, 5, 3, 0, 4, 1)  # b, c, th, a, tw, a'
            bias_view = None if bias is None else bias.view(cout, 1, 1, 1, 1)
            out_h, out_w, out_c = 4 * th, 4 * tw, cout
        if torch.compiler.is_compiling():  # inductor: functional ops only
            out = (y if bias_view is None else y + bias_view).contiguous()
        else:  # eager: the layout change and the bias in one pass
            out = torch.empty(y.shape, dtype=x.dtype, device=x.device)
            out.copy_(y) if bias_view is None else torch.add(y, bias_view, out=out)
        out = out.view(b, out_c, out_h, out_w)
        scale = 2 if shuffle else 1
        if out_h != scale * h or out_w != scale * w:
            out = out[:, :, : scale * h, : scale * w]
        return out


def add_upsampled_(out: torch.Tensor, small: torch.Tensor) -> torch.Tensor:
    """``out += nearest_upsample(small)`` in place; an exact 2x upsample is a broadcast, not a copy."""
    b, c, hh, ww = out.shape
    h, w = small.shape[-2:]
    if (hh, ww) == (h, w):
        return out.add_(small)
    if hh == 2 * h and ww == 2 * w:
        if out.is_contiguous():
            out.view(b, c, h, 2, w, 2).add_(small[:, :, :, None, :, None])
            return out
        if out.is_contiguous(memory_format=torch.channels_last):
            out.permute(0, 2, 3, 1).view(b, h, 2, w, 2, c).add_(small.permute(0, 2, 3, 1)[:, :, None, :, None, :])
            return out
    return out.add_(F.interpolate(small, size=(hh, ww)))


def modulate_(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, inplace: bool) -> torch.Tensor:
    """LeakyReLU(gamma * x + beta) with per-sample, per-channel gamma/beta ``[B, C]``."""
    g = gamma.to(x.dtype)[:, :, None, None]
    bt = beta.to(x.dtype)[:, :, None, None]
    x = torch.addcmul(bt, x, g, out=x) if inplace else torch.addcmul(bt, x, g)
    return F.leaky_relu_(x, LRELU)


def _signature(tensors: list[torch.Tensor]) -> tuple:
    """Changes whenever one of ``tensors`` is modified in place, replaced, moved or cast."""
    return tuple((t._version, t.data_ptr(), t.dtype, t.device) for t in tensors)


# ------------------------------------------------------------------------------------ affines
class AffineBank:
    """gamma/beta of many :class:`Affine` modules from one condition c, fused and in fp32.

    The first Linear layers of all gamma and beta MLPs become one ``[cond, sum C]`` matmul; the
    second layers are grouped by width C and run as one ``baddbmm`` per width.
    """

    def __init__(self, affines: list[Affine]):
        self.affines = affines
        self.heads: list[nn.Sequential] = [h for a in affines for h in (a.fc_gamma, a.fc_beta)]
        self.widths = sorted({h.linear2.out_features for h in self.heads})
        self.groups = [[i for i, h in enumerate(self.heads) if h.linear2.out_features == c] for c in self.widths]
        self.w1: torch.Tensor | None = None

    @torch.no_grad()
    def build(self) -> None:
        order = [i for g in self.groups for i in g]
        self.w1 = torch.cat([self.heads[i].linear1.weight.float() for i in order]).t().contiguous()
        self.b1 = torch.cat([self.heads[i].linear1.bias.float() for i in order])
        self.w2 = [torch.stack([self.heads[i].linear2.weight.float().t() for i in g]).contiguous() for g in self.groups]
        self.b2 = [torch.stack([self.heads[i].linear2.bias.float() for i in g])[:, None, :] for g in self.groups]

    def __call__(self, c: torch.Tensor) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        """``{id(affine): (gamma [B, C], beta [B, C])}``."""
        if self.w1 is None:
            self.build()
        hidden = torch.addmm(self.b1, c.float(), self.w1).relu_()
        outs: list[torch.Tensor] = [hidden] * len(self.heads)
        offset = 0
        for g, width, w2, b2 in zip(self.groups, self.widths, self.w2, self.b2):
            n = len(g)
            hg = hidden[:, offset : offset + n * width].view(-1, n, width).transpose(0, 1)
            y = torch.baddbmm(b2, hg, w2)  # [n, B, C]
            for k, i in enumerate(g):
                outs[i] = y[k]
            offset += n * width
        return {id(a): (outs[2 * j], outs[2 * j + 1]) for j, a in enumerate(self.affines)}


def reference_affines(affines: list[Affine], c: torch.Tensor) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """The same mapping, one small MLP at a time (fp32): what ``fused_affine=False`` runs."""
    c = c.float()

    def mlp(head: nn.Sequential) -> torch.Tensor:
        return F.linear(F.relu(F.linear(c, *_lin(head.linear1))), *_lin(head.linear2))

    return {id(a): (mlp(a.fc_gamma), mlp(a.fc_beta)) for a in affines}


def _lin(layer: nn.Linear | nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor | None]:
    return layer.weight.float(), None if layer.bias is None else layer.bias.float()


# ------------------------------------------------------------------------------------ generator
class FastGenerator:
    """Inference-only fast forward of a :class:`Generator` (call it like the generator).

    Args:
        generator: the generator whose weights are used (not copied, not modified).
        options: which optimisations to use (default: :func:`auto_options` for its device).
    """

    def __init__(self, generator: Generator, options: FastOptions | None = None):
        self.generator = generator
        self.clip: ClipBackbone = generator.clip
        device = next(generator.parameters()).device
        self.options = options if options is not None else auto_options(device, image_size=generator.config.img_size)
        self.affines = [m for m in generator.modules() if isinstance(m, Affine)]
        self.bank = AffineBank(self.affines)
        self.winograd = Winograd43()
        self._sources = list(generator.parameters()) + list(self.clip.visual.parameters())
        self._sig: tuple | None = None
        self._derived: dict[tuple[int, str], torch.Tensor] = {}
        self._compiled: Callable | None = None
        self._compile_failed = False
        self._nnpack = self.options.nnpack and device_info.nnpack_available()

    # -------------------------------------------------------------- derived weights
    def refresh(self) -> None:
        """Drop the derived weights if any source parameter changed since the last call."""
        sig = _signature(self._sources)
        if sig != self._sig:
            self._derived.clear()
            self.bank.w1 = None
            self._sig = sig

    def derived_bytes(self) -> int:
        """Memory held by the derived weights (fused affines, sub-pixel/Winograd kernels, copies)."""
        tensors = list(self._derived.values())
        if self.bank.w1 is not None:
            tensors += [self.bank.w1, self.bank.b1, *self.bank.w2, *self.bank.b2]
        return sum(t.numel() * t.element_size() for t in tensors)

    def _derive(self, module: nn.Module, kind: str, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        key = (id(module), kind)
        t = self._derived.get(key)
        if t is None:
            with torch.no_grad():
                t = make()
            self._derived[key] = t
        return t

    @property
    def dtype(self) -> torch.dtype:
        return self.options.dtype

    def _format(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the one memory format the convolutions get. Left alone, a map's strides can follow
        the batch size (the CLIP grid is NHWC at batch 4 but NCHW at batch 1), the convolutions pick
        their kernel by format, and a bf16 image then depends on its batch."""
        return x.contiguous(memory_format=torch.channels_last if self.options.channels_last else torch.contiguous_format)

    def _direct_weights(self, conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor | None]:
        fmt = torch.channels_last if self.options.channels_last else torch.contiguous_format
        w = self._derive(conv, "w", lambda: conv.weight.to(self.dtype).contiguous(memory_format=fmt))
        b = None if conv.bias is None else self._derive(conv, "b", lambda: conv.bias.to(self.dtype))
        return w, b

    def _fp32_cpu(self, x: torch.Tensor) -> bool:
        return x.dtype == torch.float32 and x.device.type == "cpu"

    def _conv(self, conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        """``conv(x)`` with the fastest algorithm for its shape."""
        b, cin, h, w = x.shape
        k = conv.kernel_size
        plain = conv.stride == (1, 1) and conv.groups == 1 and conv.dilation == (1, 1) and conv.padding == (k[0] // 2, k[1] // 2)
        if plain and k == (3, 3):
            if self.options.winograd and self._wide(cin, conv.out_channels) and self._fp32_cpu(x):
                u = self._derive(conv, "winograd", lambda: Winograd43.kernel(conv.weight.float()))
                return self.winograd(x, u, _lin(conv)[1])
            if self._nnpack and h * w >= NNPACK_MIN_PIXELS and self._fp32_cpu(x):
                weight, bias = _lin(conv)
                return nnpack_conv3x3(x, weight, bias if bias is not None else weight.new_zeros(weight.shape[0]))
        if plain and self.options.gemm and k[0] == k[1] and k[0] > 3 and h * w <= GEMM_MAX_PIXELS:
            wt, bias = self._direct_weights(conv)
            wt = wt.reshape(conv.out_channels, -1)  # a view: no second copy

            def gemm(x: torch.Tensor) -> torch.Tensor:
                n = x.shape[0]
                cols = F.unfold(x, k, padding=conv.padding).transpose(1, 2).reshape(n * h * w, -1)
                return torch.addmm(bias, cols, wt.t()).view(n, h * w, -1).transpose(1, 2).reshape(n, -1, h, w)

            return self._format(self._per_image(gemm, x))
        wt, bias = self._direct_weights(conv)
        return F.conv2d(x, wt, bias, conv.stride, conv.padding, conv.dilation, conv.groups)

    def _wide(self, cin: int, cout: int) -> bool:
        return min(cin, cout) >= WINOGRAD_MIN_CHANNELS

    def _upsample_algorithm(self, conv: nn.Conv2d, x: torch.Tensor, size: tuple[int, int]) -> str:
        """How to run ``conv(nearest_upsample(x, size))`` (measured choices, see the module constants)."""
        b, cin, h, w = x.shape
        cout = conv.out_channels
        if not (self.options.subpixel and size == (2 * h, 2 * w) and conv.kernel_size == (3, 3) and conv.padding == (1, 1)):
            return "upsample"
        if self._fp32_cpu(x):
            if self.options.winograd and self._wide(cin, cout):
                return "upsample"  # Winograd on the big map: as few multiply-adds, 4x smaller kernels
            if self.options.subpixel_winograd and self._wide(cin, 4 * cout):
                return "subpixel_winograd"
            if self._nnpack and b * h * w <= NNPACK_SUBPIXEL_MAX_WORK:
                return "upsample"  # NNPACK on the big map
        return "subpixel"

    def _upsample_conv(self, conv: nn.Conv2d, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """``conv(nearest_upsample(x, size))``; sub-pixel ones never build the upsampled map."""
        algorithm = self._upsample_algorithm(conv, x, size)
        if algorithm == "upsample":
            return self._conv(conv, F.interpolate(x, size=size))
        if algorithm == "subpixel_winograd":
            u = self._derive(conv, "subpixel_winograd", lambda: Winograd43.kernel(subpixel_kernel_3x3(conv.weight.float())))
            return self.winograd(x, u, _lin(conv)[1], shuffle=True)
        fmt = torch.channels_last if self.options.channels_last else torch.contiguous_format
        wt = self._derive(
            conv, "subpixel", lambda: subpixel_kernel(conv.weight.float()).flatten(0, 2).to(self.dtype).contiguous(memory_format=fmt)
        )
        bias = None if conv.bias is None else self._derive(conv, "subpixel_b", lambda: conv.bias.to(self.dtype).repeat(4))
        return interleave_phases(F.conv2d(x, wt, bias, 1, 1), conv.out_channels, x.shape[-2], x.shape[-1])

    # -------------------------------------------------------------- blocks
    def _dfblock(self, block: DFBlock, x: torch.Tensor, ab: dict, inplace: bool) -> torch.Tensor:
        x = modulate_(x, *ab[id(block.affine0)], inplace=inplace)
        return modulate_(x, *ab[id(block.affine1)], inplace=True)

    def _fusion_block(self, block: FusionBlock, x: torch.Tensor, ab: dict) -> torch.Tensor:
        h = self._dfblock(block.fuse1, self._conv(block.conv1, x), ab, inplace=True)
        h = self._dfblock(block.fuse2, self._conv(block.conv2, h), ab, inplace=True)
        return h.add_(x if block.c_sc is None else self._conv(block.c_sc, x))

    def _gblock(self, block: GBlock, x: torch.Tensor, ab: dict) -> torch.Tensor:
        size = (block.size, block.size)
        if tuple(x.shape[-2:]) != size and self.options.low_res:
            # per-channel affines, LeakyReLU and the 1x1 shortcut commute with nearest upsampling
            h = self._upsample_conv(block.c1, self._dfblock(block.fuse1, x, ab, inplace=False), size)
        else:
            if tuple(x.shape[-2:]) != size:
                x = F.interpolate(x, size=size)
            h = self._conv(block.c1, self._dfblock(block.fuse1, x, ab, inplace=False))
        shortcut = x if block.c_sc is None else self._conv(block.c_sc, x)
        h = self._conv(block.c2, self._dfblock(block.fuse2, h, ab, inplace=True))
        return add_upsampled_(h, shortcut)

    def _to_rgb(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.generator.image_generator.to_rgb[1]
        x = F.leaky_relu_(x.float(), LRELU)  # x is the last G-block's output: ours to overwrite
        return self._per_image(lambda x: F.conv2d(x, *_lin(conv), 1, 1), x)

    # -------------------------------------------------------------- CLIP
    def _vit_block(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """One open_clip ResidualAttentionBlock, batch-first; residual stream and LayerNorms in fp32."""
        blk = self.clip.blocks[i]
        attn, mlp = blk.attn, blk.mlp
        dt = self.dtype
        b, n, width = x.shape
        heads = attn.num_heads
        h = F.layer_norm(x, blk.ln_1.normalized_shape, blk.ln_1.weight, blk.ln_1.bias, blk.ln_1.eps).to(dt)
        qkv = self._linear(h, attn, "in_proj_weight", "in_proj_bias")
        q, k, v = qkv.view(b, n, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, width)
        x = x + blk.ls_1(self._linear(a, attn.out_proj)).float()
        h = F.layer_norm(x, blk.ln_2.normalized_shape, blk.ln_2.weight, blk.ln_2.bias, blk.ln_2.eps).to(dt)
        h = mlp.gelu(self._linear(h, mlp.c_fc))
        return x + blk.ls_2(self._linear(h, mlp.c_proj)).float()

    def _linear(self, x: torch.Tensor, module: nn.Module, weight: str = "weight", bias: str = "bias") -> torch.Tensor:
        """``F.linear`` with ``module``'s named weight and bias in the compute dtype (cast once, kept)."""
        dt = self.dtype

        def get(name: str) -> torch.Tensor:
            p = getattr(module, name)
            return p if p.dtype == dt else self._derive(module, name, lambda: p.to(dt))

        return F.linear(x, get(weight), get(bias))

    def _per_image(self, fn: Callable[..., torch.Tensor], *xs: torch.Tensor) -> torch.Tensor:
        """``fn(*xs)`` for a matmul whose M would grow with the batch: with a reduced compute dtype,
        one image at a time, each from a fresh copy of its rows, so that the matrix kernel (chosen by
        shape, and by alignment) is the same whatever the batch (module docstring, "Batch size").
        Used where a batched kernel was measured to differ; the CLIP's bf16 linears (M = batch x
        tokens) were batch-independent and stay batched."""
        if self.dtype == torch.float32 or xs[0].shape[0] == 0:
            return fn(*xs)
        return torch.cat([fn(*(x[i : i + 1].clone() for x in xs)) for i in range(xs[0].shape[0])])

    def _sdpa_supported(self) -> bool:
        from open_clip.transformer import ResidualAttentionBlock

        return self.clip.dtype == torch.float32 and all(
            type(b) is ResidualAttentionBlock
            and not hasattr(b, "ln_1_kv")
            and isinstance(b.attn, nn.MultiheadAttention)
            and b.attn._qkv_same_embed_dim
            and b.attn.in_proj_bias is not None
            for b in self.clip.blocks
        )

    def _clip(self, feature: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        clip = self.clip
        if not (self.options.sdpa and self._sdpa_supported()):
            if self.dtype != torch.float32 and feature.device.type == "cuda":
                with torch.autocast("cuda", dtype=self.dtype):
                    return clip.forward_with_prompts(feature.float(), prompts).float()
            return clip.forward_with_prompts(feature.float(), prompts).float()
        return clip.forward_with_prompts(feature.float(), prompts, block=self._vit_block)

    # -------------------------------------------------------------- forward
    def condition(self, noise: torch.Tensor, sentence: torch.Tensor) -> tuple[dict, torch.Tensor, torch.Tensor]:
        """What the condition c = [noise, sentence] sets, in fp32: ``({id(affine): (gamma, beta)},
        the bridge's first map [B, C, h, w], the CLIP prompts [B, n, width])``.

        With a reduced compute dtype each image's are computed alone, from a fresh copy of its row,
        so that they are the same bit for bit whatever the batch: rounded to bf16 downstream, a
        last-bit difference would grow to ~0.01 in the image (module docstring, "Batch size").
        """
        if self.dtype == torch.float32 or noise.shape[0] == 0:
            return self._condition(noise, sentence)
        rows = [self._condition(noise[i : i + 1].clone(), sentence[i : i + 1].clone()) for i in range(noise.shape[0])]
        ab = {k: (torch.cat([r[0][k][0] for r in rows]), torch.cat([r[0][k][1] for r in rows])) for k in rows[0][0]}
        return ab, torch.cat([r[1] for r in rows]), torch.cat([r[2] for r in rows])

    def _condition(self, noise: torch.Tensor, sentence: torch.Tensor) -> tuple[dict, torch.Tensor, torch.Tensor]:
        bridge, pp = self.generator.bridge, self.generator.prompt_predictor
        noise = noise.float()
        c = torch.cat([noise, sentence.float()], dim=1)
        ab = self.bank(c) if self.options.fused_affine else reference_affines(self.affines, c)
        code = F.linear(noise, *_lin(bridge.fc_code)).view(noise.shape[0], bridge.code_channels, *bridge.grid)
        prompts = F.linear(c, *_lin(pp.fc)).view(c.shape[0], pp.n_prompts, pp.clip_width)
        return ab, code, prompts

    def forward(self, noise: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        """The eager fast forward (no checks, no derived-weight refresh: use ``__call__``)."""
        g = self.generator
        bridge = g.bridge
        ab, code, prompts = self.condition(noise, sentence)
        x = self._format(code.to(self.dtype))
        for block in bridge.fusion_blocks:
            x = self._fusion_block(block, x, ab)
        feature = self._conv(bridge.conv_fuse, x)
        clip_out = self._clip(feature, prompts)
        x = self._format((feature.float() + g.clip_residual * clip_out).to(self.dtype))
        x = self._conv(bridge.conv_out, x)
        for block in g.image_generator.blocks:
            x = self._gblock(block, x, ab)
        return self._to_rgb(x)

    def __call__(self, noise: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        """Images ``[B, 3, S, S]`` float32, like ``generator(noise, sentence)``."""
        if noise.shape[0] != sentence.shape[0]:
            raise ValueError(f"noise batch {noise.shape[0]} != sentence batch {sentence.shape[0]}")
        self.refresh()
        if self.options.reuse_memory and noise.device.type == "cpu":
            device_info.tune_cpu_allocator()
        run = self._run_compiled if self.options.compile and not self._compile_failed else self.forward
        with torch.no_grad():
            if not self.options.per_image or noise.shape[0] == 0:
                return run(noise, sentence)
            # each image alone, from its own fresh copy of its row (a kernel may follow the alignment
            # of its input): the same computation whatever the batch, and in a batch of one
            return torch.cat([run(noise[i : i + 1].clone(), sentence[i : i + 1].clone()) for i in range(noise.shape[0])])

    def _run_compiled(self, noise: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        if self._compile_failed:  # an earlier image of this batch found that it does not compile
            return self.forward(noise, sentence)
        if self._compiled is None:
            if self.bank.w1 is None and self.options.fused_affine:
                self.bank.build()
            self._compiled = torch.compile(self.forward, dynamic=False)
        try:
            return self._compiled(noise, sentence)
        except Exception as e:  # no compiler toolchain, unsupported op or backend, ...
            warnings.warn(f"torch.compile failed ({type(e).__name__}: {e}); using the eager fast path", stacklevel=3)
            self._compile_failed = True
            return self.forward(noise, sentence)
