"""Generation speed and peak memory on this machine; the fast path against the fp32 reference.

    python benchmarks/generate.py                       # official 224 px preset (random weights), CPU
    python benchmarks/generate.py --preset tiny --batch-sizes 1 8 32
    python benchmarks/generate.py --checkpoint DIR      # a trained model
    python benchmarks/generate.py --compare             # reference vs fast path, one process, alternating
    python benchmarks/generate.py --compare --ablation  # ... and each fast-path option switched off in turn
    python benchmarks/generate.py --compare --device cuda --fast-dtype float16   # AMP on a GPU

Without ``--compare``: per batch size, the median and min latency per image over ``--repeats`` timed
runs (after ``--warmup`` runs) of the pipeline's default path, images/s and peak memory.

``--compare`` times the plain fp32 reference generator and :class:`galip_studio.fast.FastGenerator`
on the same inputs, alternating run by run in one process (so load from other processes hits both
alike), and prints per-image latency at each batch size, the median ratio fast/reference, and the
PSNR of the fast images against the reference ones (clamped to [-1, 1], peak-to-peak 2). It runs in
two phases: first with glibc's default allocator settings (the fast path without ``reuse_memory``),
then after :func:`galip_studio.device.tune_cpu_allocator` (both paths gain from it; it cannot be
undone within a process). Random-weight presets have identity affines at init, so their second
affine layers get noise first (as the tests do) to make the PSNR meaningful.
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import time
from typing import Callable

import torch

from galip_studio.device import tune_cpu_allocator
from galip_studio.fast import FastGenerator, FastOptions, auto_options
from galip_studio.pipeline import GALIPPipeline, noise_from_seeds

PROMPT = "a photo of a small bird with a red head"


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def inputs(pipe: GALIPPipeline, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    sentence = pipe.encode([PROMPT]).repeat(batch, 1)
    return noise_from_seeds(range(batch), pipe.z_dim).to(pipe.device), sentence.to(pipe.device)


def time_batch(pipe: GALIPPipeline, batch: int, repeats: int, warmup: int) -> list[float]:
    noise, sentence = inputs(pipe, batch)
    times = []
    for i in range(warmup + repeats):
        _sync(pipe.device)
        t0 = time.perf_counter()
        pipe.synthesize(noise, sentence, batch_size=batch)
        _sync(pipe.device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def relative_error(images: torch.Tensor, reference: torch.Tensor) -> float:
    """RMS difference over the RMS of the reference (scale-free, unlike PSNR on dim random images)."""
    return ((images.float() - reference.float()).pow(2).mean() / reference.float().pow(2).mean()).sqrt().item()


def psnr(images: torch.Tensor, reference: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1] (clamped) against a reference (peak-to-peak 2)."""
    mse = (images.float().clamp(-1, 1) - reference.float().clamp(-1, 1)).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(4 / mse)


def perturb_affines(pipe: GALIPPipeline, scale: float = 0.02, seed: int = 0) -> None:
    """Random-weight models start with identity affines; give their last layers some noise."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in pipe.generator.named_parameters():
            if "linear2" in name:
                p.add_((torch.randn(p.shape, generator=g) * scale).to(p))


def alternate(
    fns: dict[str, Callable[[], torch.Tensor]], rounds: int, device: torch.device, clock: Callable[[], float] = time.perf_counter
) -> dict[str, list[float]]:
    """Run each function once per round, in turn; seconds of every run on ``clock``."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            _sync(device)
            t0 = clock()
            f()
            _sync(device)
            times[k].append(clock() - t0)
    return times


def compare(
    pipe: GALIPPipeline, options: FastOptions, args: argparse.Namespace, phase: str, extra: dict[str, type[FastGenerator]] | None = None
) -> None:
    """Print the reference against the fast path (and ``extra`` variants: name -> a FastGenerator
    subclass, built with the same options) at each batch size: latency, ratio, PSNR."""
    g = pipe.generator
    fast = FastGenerator(g, options)
    variants: dict[str, FastGenerator] = {"fast": fast}
    variants.update({name: cls(g, options) for name, cls in (extra or {}).items()})
    if args.ablation:
        toggles = ("fused_affine", "low_res", "subpixel", "winograd", "subpixel_winograd", "nnpack", "gemm", "sdpa", "channels_last")
        for name in toggles:
            on = getattr(options, name)
            variants[f"fast, {name} {'off' if on else 'on'}"] = FastGenerator(g, options.replace(**{name: not on}))
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"\n[{phase}] fast options: {options.describe()}")
    print(f"{'batch':>5}  {'path':<26} {'median ms/img':>13} {'min ms/img':>10} {'vs ref':>7} {'PSNR dB':>8} {'rel.err':>8}")
    with torch.inference_mode():
        for b in args.batch_sizes:
            z, s = inputs(pipe, b)
            reference = g(z, s).float()
            fns: dict[str, Callable[[], torch.Tensor]] = {"reference": lambda z=z, s=s: g(z, s)}
            quality = {}
            for name, fg in variants.items():
                out = fg(z, s)  # also the warm-up run
                quality[name] = f"{psnr(out, reference):8.1f} {relative_error(out, reference):8.1e}"
                fns[name] = lambda fg=fg, z=z, s=s: fg(z, s)
            for _ in range(args.warmup):
                g(z, s)
            times = alternate(fns, args.repeats, pipe.device, clock)
            ref_med = statistics.median(times["reference"])
            for name, t in times.items():
                med = statistics.median(t)
                q = "" if name == "reference" else quality[name]
                print(f"{b:>5}  {name:<26} {med / b * 1000:>13.1f} {min(t) / b * 1000:>10.1f} {med / ref_med:>7.3f} {q}")
            print(f"{'':>5}  (reference images: std {reference.clamp(-1, 1).std().item():.3f}; derived weights of the fast path: {fast.derived_bytes() / 2**20:.0f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="official-224")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per path and batch size")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="with --compare: wall-clock time, or this process's CPU time (steadier on a shared machine with --threads 1)",
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--compare", action="store_true", help="reference vs fast path, alternating, with PSNR")
    ap.add_argument("--ablation", action="store_true", help="with --compare: also each fast-path option switched")
    ap.add_argument(
        "--fast-dtype",
        choices=["auto", "float32", "bfloat16", "float16"],
        default="auto",
        help="compute dtype of the fast path (auto: bf16 on CPUs with native bf16, fp32 on other CPUs, bf16/fp16 AMP on CUDA)",
    )
    ap.add_argument("--compile", action="store_true", help="fast path through torch.compile (slow first call)")
    ap.add_argument("--no-reuse-memory", action="store_true", help="with --compare: skip the tuned-allocator phase")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    fast_dtype = None if args.fast_dtype == "auto" else getattr(torch, args.fast_dtype)
    fast: str | FastOptions = "auto" if fast_dtype is None and not args.compile else auto_options(args.device, args.compile, fast_dtype)
    if args.checkpoint:
        pipe = GALIPPipeline.from_pretrained(args.checkpoint, device=args.device, fast=fast)
        name = args.checkpoint
    else:
        pipe = GALIPPipeline.from_preset(args.preset, device=args.device, fast=fast)
        name = f"preset {args.preset} (random weights)"
        if args.compare:
            perturb_affines(pipe)
    print(f"model: {name}, {pipe.image_size} px, device {pipe.device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    if args.compare:
        options = pipe.fast_options or auto_options(pipe.device, args.compile, fast_dtype)
        compare(pipe, options.replace(reuse_memory=False), args, "default allocator")
        if pipe.device.type == "cpu" and not args.no_reuse_memory and tune_cpu_allocator():
            compare(pipe, options.replace(reuse_memory=True), args, "tuned allocator (reuse_memory)")
        return
    print(f"{'batch':>5} {'median ms/img':>14} {'min ms/img':>11} {'images/s':>9} {'peak MB':>9}")
    for b in args.batch_sizes:
        times = time_batch(pipe, b, args.repeats, args.warmup)
        med, best = statistics.median(times) / b, min(times) / b
        print(f"{b:>5} {med * 1000:>14.1f} {best * 1000:>11.1f} {1 / med:>9.2f} {peak_memory_mb(pipe.device):>9.0f}")


if __name__ == "__main__":
    main()
