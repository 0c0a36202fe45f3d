"""Generation speed and peak memory on this machine.

    python benchmarks/generate.py                       # official 224 px preset (random weights), CPU
    python benchmarks/generate.py --preset tiny --batch-sizes 1 8 32
    python benchmarks/generate.py --checkpoint DIR      # a trained model

Prints, per batch size, the median and min latency per image over ``--repeats`` timed runs (after
``--warmup`` runs), images/s, and the peak resident memory of the process (CPU) or peak CUDA memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

from galip_studio.pipeline import GALIPPipeline, noise_from_seeds


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_batch(pipe: GALIPPipeline, batch: int, repeats: int, warmup: int) -> list[float]:
    sentence = pipe.encode(["a photo of a small bird with a red head"]).repeat(batch, 1)
    noise = noise_from_seeds(range(batch), pipe.z_dim)
    times = []
    for i in range(warmup + repeats):
        if pipe.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        pipe.synthesize(noise, sentence, batch_size=batch)
        if pipe.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="official-224")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.checkpoint:
        pipe = GALIPPipeline.from_pretrained(args.checkpoint, device=args.device)
        name = args.checkpoint
    else:
        pipe = GALIPPipeline.from_preset(args.preset, device=args.device)
        name = f"preset {args.preset} (random weights)"
    print(f"model: {name}, {pipe.image_size} px, device {pipe.device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'batch':>5} {'median ms/img':>14} {'min ms/img':>11} {'images/s':>9} {'peak MB':>9}")
    for b in args.batch_sizes:
        times = time_batch(pipe, b, args.repeats, args.warmup)
        med, best = statistics.median(times) / b, min(times) / b
        print(f"{b:>5} {med * 1000:>14.1f} {best * 1000:>11.1f} {1 / med:>9.2f} {peak_memory_mb(pipe.device):>9.0f}")


if __name__ == "__main__":
    main()
