"""The fast inference path: same images as the fp32 reference (PSNR), same gamma/beta, determinism,
device-dependent choices, weights that change under it, and ``info --speed``."""

from __future__ import annotations

import copy
import json
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from galip_studio import device as device_mod
from galip_studio import fast as fast_mod
from galip_studio.cli import main
from galip_studio.fast import (
    AffineBank,
    FastGenerator,
    FastOptions,
    Winograd43,
    auto_options,
    interleave_phases,
    resolve_fast,
    subpixel_kernel,
    subpixel_kernel_3x3,
)
from galip_studio.nets import Affine
from galip_studio.pipeline import GALIPPipeline, noise_from_seeds


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.clamp(-1, 1) - b.clamp(-1, 1)).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(4 / mse)


@pytest.fixture
def inputs(tiny_model):
    torch.manual_seed(1)
    return torch.randn(6, tiny_model.config.z_dim), torch.randn(6, tiny_model.clip.embed_dim)


@pytest.fixture
def every_kernel(monkeypatch):
    """Lower the size thresholds so the tiny model runs Winograd, NNPACK and the GEMM 5x5 path too."""
    monkeypatch.setattr(fast_mod, "WINOGRAD_MIN_CHANNELS", 16)
    monkeypatch.setattr(fast_mod, "NNPACK_MIN_PIXELS", 32 * 32)
    monkeypatch.setattr(fast_mod, "NNPACK_SUBPIXEL_MAX_WORK", 6 * 16 * 16)


ALL_OFF = FastOptions(fused_affine=False, low_res=False, subpixel=False, winograd=False, subpixel_winograd=False, gemm=False, sdpa=False)


@pytest.mark.parametrize(
    "options",
    [
        FastOptions(),
        FastOptions(winograd=False, subpixel_winograd=False, nnpack=True),
        FastOptions(winograd=False, subpixel_winograd=False),
        FastOptions(winograd=False, subpixel_winograd=False, channels_last=True),
        FastOptions(reuse_memory=True),
        ALL_OFF,
    ],
    ids=["default", "nnpack", "direct", "channels-last", "reuse-memory", "all-off"],
)
def test_fast_matches_reference(tiny_model, inputs, every_kernel, options):
    z, s = inputs
    with torch.inference_mode():
        ref = tiny_model.generator(z, s)
        out = FastGenerator(tiny_model.generator, options)(z, s)
    assert out.shape == ref.shape and out.dtype == torch.float32
    assert psnr(out, ref) >= 35
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)  # fp32: far tighter than 35 dB


def test_bf16_mixed_precision_stays_above_35db(tiny_model, inputs):
    """The reduced-precision path (native-bf16 CPUs; CUDA AMP uses the same code) keeps PSNR >= 35 dB."""
    z, s = inputs
    with torch.inference_mode():
        ref = tiny_model.generator(z, s)
        out = FastGenerator(tiny_model.generator, auto_options("cpu", dtype=torch.bfloat16))(z, s)
    assert out.dtype == torch.float32
    assert 35 <= psnr(out, ref) < 200  # really ran in bf16: close, but not bit-identical


@pytest.fixture
def bf16_chosen(monkeypatch):
    """What "auto" picks on a CPU with native bf16 for a model over 64 px, on any CPU and for the
    32 px tiny model: the detection says yes and the fp32-only size is lowered below 32 px."""
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(fast_mod, "CPU_BF16_MAX_FP32_SIZE", 16)


def test_bf16_images_keep_the_batch_promise(tiny_model, bf16_chosen):
    """bf16 as "auto" chooses it: bit-identical images for the same seeds and batch size; across
    batch sizes within the bf16 tolerance (35 dB PSNR), as against fp32; bit-identical with per_image."""
    pipe = GALIPPipeline(copy.deepcopy(tiny_model), device="cpu")
    assert pipe.fast_options.dtype == torch.bfloat16 and not pipe.fast_options.per_image
    seeds = list(range(6))
    a = pipe("a red apple", seeds=seeds, batch_size=6, output_type="pt").images
    assert torch.equal(a, pipe("a red apple", seeds=seeds, batch_size=6, output_type="pt").images)
    for batch_size in (1, 4):
        assert psnr(pipe("a red apple", seeds=seeds, batch_size=batch_size, output_type="pt").images, a) >= 35
    reference = GALIPPipeline(copy.deepcopy(tiny_model), device="cpu", fast=False)
    assert 35 <= psnr(a, reference("a red apple", seeds=seeds, output_type="pt").images) < 200  # really bf16

    per_image = GALIPPipeline(copy.deepcopy(tiny_model), device="cpu", fast=pipe.fast_options.replace(per_image=True))
    b = per_image("a red apple", seeds=seeds, batch_size=6, output_type="pt").images
    for batch_size in (1, 4):
        assert torch.equal(per_image("a red apple", seeds=seeds, batch_size=batch_size, output_type="pt").images, b)
    assert psnr(b, a) >= 35


def test_bf16_batch_dependent_kernels_run_one_image_at_a_time(tiny_model, inputs):
    """The three places where a batched kernel made bf16 images depend on their batch (fast.py,
    "Batch size"): each must give an image's values bit for bit as in a batch of one, on any CPU."""
    fg = FastGenerator(tiny_model.generator, auto_options("cpu", dtype=torch.bfloat16))
    z, s = inputs
    with torch.no_grad():
        ab, code, prompts = fg.condition(z, s)  # fp32 matmuls with M = batch, rounded to bf16 later
        for i in range(z.shape[0]):
            ab1, code1, prompts1 = fg.condition(z[i : i + 1], s[i : i + 1])
            assert torch.equal(code[i : i + 1], code1) and torch.equal(prompts[i : i + 1], prompts1)
            assert all(torch.equal(ab[k][j][i : i + 1], ab1[k][j]) for k in ab for j in (0, 1))
        conv = tiny_model.generator.bridge.conv_fuse  # 5x5 on the CLIP grid: unfold + matmul, M = batch x grid
        assert conv.kernel_size == (5, 5) and fg.options.gemm
        x = torch.randn(z.shape[0], conv.in_channels, *tiny_model.clip.grid_size).to(torch.bfloat16)
        y = fg._conv(conv, x)
        assert all(torch.equal(y[i : i + 1], fg._conv(conv, x[i : i + 1])) for i in range(x.shape[0]))
    for n in (1, 4):  # an NHWC-strided map (the CLIP grid at batch 4) enters the convs as NCHW
        nhwc = torch.randn(n, 7, 7, 8).permute(0, 3, 1, 2)
        assert fg._format(nhwc).is_contiguous() and torch.equal(fg._format(nhwc), nhwc)


def test_fused_affine_bank_equals_modules(tiny_model):
    affines = [m for m in tiny_model.generator.modules() if isinstance(m, Affine)]
    assert len(affines) > 8 and len({a.fc_gamma.linear2.out_features for a in affines}) > 1  # several widths
    c = torch.randn(5, tiny_model.generator.cond_dim)
    with torch.no_grad():
        fused = AffineBank(affines)(c)
        for a in affines:
            gamma, beta = fused[id(a)]
            torch.testing.assert_close(gamma, a.fc_gamma(c), rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(beta, a.fc_beta(c), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 5, 7, 9, 6), (1, 8, 8, 4, 4), (3, 4, 6, 13, 13)])
def test_conv_kernels_equal_conv2d(shape):
    b, cin, cout, h, w = shape
    torch.manual_seed(0)
    x, weight, bias = torch.randn(b, cin, h, w), torch.randn(cout, cin, 3, 3), torch.randn(cout)
    up = F.conv2d(F.interpolate(x, size=(2 * h, 2 * w)), weight, bias, padding=1)
    wg = Winograd43()
    torch.testing.assert_close(wg(x, Winograd43.kernel(weight), bias), F.conv2d(x, weight, bias, padding=1), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(wg(x, Winograd43.kernel(subpixel_kernel_3x3(weight)), bias, shuffle=True), up, rtol=1e-4, atol=1e-4)
    phases = F.conv2d(x, subpixel_kernel(weight).flatten(0, 2), bias.repeat(4), padding=1)
    torch.testing.assert_close(interleave_phases(phases, cout, h, w), up, rtol=1e-5, atol=1e-5)
    nhwc = phases.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(interleave_phases(nhwc, cout, h, w), up, rtol=1e-5, atol=1e-5)


def test_pipeline_fast_is_deterministic_by_seed(tiny_pipeline):
    assert tiny_pipeline.fast_options is not None  # "auto" is the default
    a = tiny_pipeline("a red apple", num_images=4, seed=3, batch_size=4, output_type="pt").images
    b = tiny_pipeline("a red apple", num_images=4, seed=3, batch_size=4, output_type="pt").images
    c = tiny_pipeline("a red apple", seeds=[5], batch_size=1, output_type="pt").images
    assert torch.equal(a, b)
    torch.testing.assert_close(a[2:3], c, rtol=0, atol=1e-5)
    assert not torch.equal(a[0], a[1])


def test_fast_false_is_the_reference(tiny_model):
    pipe = GALIPPipeline(copy.deepcopy(tiny_model), device="cpu", fast=False)
    assert pipe.fast_options is None and pipe.forward_fn is pipe.generator
    z, s = noise_from_seeds([0, 1], pipe.z_dim), pipe.encode(["a", "b"])
    with torch.inference_mode():
        assert torch.equal(pipe.synthesize(z, s), pipe.generator(z, s))
    fast = GALIPPipeline(copy.deepcopy(tiny_model), device="cpu")
    assert psnr(fast.synthesize(z, s), pipe.synthesize(z, s)) >= 35


def test_derived_weights_follow_weight_changes(tiny_model, inputs):
    """A training step or a checkpoint load changes the weights: the fast path must follow."""
    gen = copy.deepcopy(tiny_model.generator)
    fg = FastGenerator(gen, FastOptions())
    z, s = inputs
    with torch.inference_mode():
        before = fg(z, s)
    other = copy.deepcopy(tiny_model.generator)
    with torch.no_grad():
        for name, p in other.named_parameters():
            if "linear2" in name or name.endswith("c2.weight"):
                p.add_(torch.randn_like(p) * 0.1)
    gen.load_state_dict(other.state_dict())
    with torch.inference_mode():
        after, ref = fg(z, s), gen(z, s)
    assert psnr(after, before) < 60
    torch.testing.assert_close(after, ref, rtol=1e-4, atol=1e-4)


def test_fast_path_leaves_the_training_path_alone(tiny_model, inputs):
    gen = copy.deepcopy(tiny_model.generator)
    state = {k: v.clone() for k, v in gen.state_dict().items()}
    grads = {k: p.requires_grad for k, p in gen.named_parameters()}
    FastGenerator(gen, FastOptions(channels_last=True))(*inputs)
    assert gen.state_dict().keys() == state.keys()
    assert all(torch.equal(v, state[k]) for k, v in gen.state_dict().items())
    assert {k: p.requires_grad for k, p in gen.named_parameters()} == grads
    z, s = inputs
    gen(z, s).square().mean().backward()  # still trainable, gradients flow as before
    assert all(p.grad is not None for p in gen.image_generator.parameters())


def test_auto_falls_back_to_fp32_without_native_bf16(monkeypatch):
    monkeypatch.setattr(device_mod, "_cpu_flags", lambda: {"avx2", "fma"})
    opts = auto_options("cpu")
    assert opts.dtype == torch.float32 and opts.winograd
    monkeypatch.setattr(device_mod, "_cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    monkeypatch.setattr(device_mod, "_onednn_bf16", lambda: True)
    opts = auto_options("cpu")
    assert opts.dtype == torch.bfloat16 and not (opts.winograd or opts.subpixel_winograd or opts.nnpack)
    assert resolve_fast("auto", "cpu").dtype == torch.bfloat16
    # models up to 64 px (the bundled one) stay fp32 there: little to gain, and the batch promise holds
    assert auto_options("cpu", image_size=64).dtype == torch.float32 and auto_options("cpu", image_size=64).winograd
    assert resolve_fast("auto", "cpu", image_size=64).dtype == torch.float32
    assert auto_options("cpu", image_size=224).dtype == torch.bfloat16 == resolve_fast("auto", "cpu", image_size=128).dtype
    assert auto_options("cpu", image_size=64, dtype=torch.bfloat16).dtype == torch.bfloat16  # asked for: given
    assert not auto_options("cpu", image_size=224).per_image  # opt-in
    assert resolve_fast(False, "cpu") is None and resolve_fast("off", "cpu") is None
    assert resolve_fast("compile", "cpu").compile
    with pytest.raises(ValueError, match="fast must be"):
        resolve_fast("turbo", "cpu")


def test_pipeline_follows_the_detection(tiny_model, monkeypatch):
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: False)
    pipe = GALIPPipeline(copy.deepcopy(tiny_model), device="cpu")
    assert pipe.fast_options.dtype == torch.float32
    rows = {k: (v, why) for k, v, why in pipe.speed_report()}
    assert rows["dtype"][0] == "float32" and "no native bf16" in rows["dtype"][1]
    assert pipe.describe()["inference"]["dtype"] == "float32"
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: True)
    pipe = GALIPPipeline(copy.deepcopy(tiny_model), device="cpu")  # 32 px: fp32 even with native bf16
    rows = {k: (v, why) for k, v, why in pipe.speed_report()}
    assert rows["dtype"][0] == "float32" and "32 px model" in rows["dtype"][1] and rows["per_image"][0] == "off"


def test_compile_failure_falls_back_to_eager(tiny_model, inputs, monkeypatch):
    def broken(*args, **kwargs):
        def run(*a, **k):
            raise RuntimeError("no compiler here")

        return run

    monkeypatch.setattr(torch, "compile", broken)
    fg = FastGenerator(tiny_model.generator, FastOptions(compile=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fg(*inputs)
    assert any("torch.compile failed" in str(w.message) for w in caught)
    with torch.inference_mode():
        torch.testing.assert_close(out, tiny_model.generator(*inputs), rtol=1e-4, atol=1e-4)


def test_info_speed_lists_the_choices(tiny_checkpoint, capsys):
    assert main(["info", str(tiny_checkpoint), "--speed"]) == 0
    out = capsys.readouterr().out
    for setting in ("path", "dtype", "threads", "fused_affine", "subpixel", "winograd", "sdpa", "compile"):
        assert f"    {setting} " in out
    assert main(["info", str(tiny_checkpoint), "--speed", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    speed = {row["setting"]: row["value"] for row in info["speed"]}
    assert speed["path"] == "fast" and speed["fused_affine"] == "on"
    assert main(["info", str(tiny_checkpoint)]) == 0
    assert "speed" not in capsys.readouterr().out


def test_pipeline_images_match_reference_as_uint8(tiny_model):
    """What users see: the fast path's PNG pixels are the reference's (off by one at most)."""
    ref = GALIPPipeline(copy.deepcopy(tiny_model), device="cpu", fast=False)("a cat", seeds=[0, 1, 2]).images
    fast = GALIPPipeline(copy.deepcopy(tiny_model), device="cpu")("a cat", seeds=[0, 1, 2]).images
    diff = np.abs(np.stack([np.asarray(i, dtype=int) for i in ref]) - np.stack([np.asarray(i, dtype=int) for i in fast]))
    assert diff.max() <= 1


def test_auto_on_cuda_is_mixed_precision(monkeypatch):
    """Checked here without a GPU: CUDA gets AMP (bf16 where supported, else fp16), NHWC, no CPU kernels."""
    for dtype in (torch.bfloat16, torch.float16):
        monkeypatch.setattr(device_mod, "cuda_amp_dtype", lambda dtype=dtype: dtype)
        opts = auto_options("cuda")
        assert opts.dtype == dtype and opts.channels_last
        assert not (opts.winograd or opts.subpixel_winograd or opts.nnpack or opts.gemm or opts.reuse_memory)
    assert auto_options("cuda", dtype=torch.float16).dtype == torch.float16
