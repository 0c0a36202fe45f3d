"""Frames per second of a latent walk exported to GIF and MP4.

    python benchmarks/export.py                                  # tiny + official 224 px presets (random weights), CPU
    python benchmarks/export.py --presets tiny --frames 120
    python benchmarks/export.py --checkpoint DIR                 # a trained model

For each model: renders one ``--frames`` walk (a great-circle loop through two prompts, batches of
``--batch-size``) and writes it as GIF and MP4. Prints frames/s of the render alone, of each
encoder alone (with the recipe and sidecar), and end to end (render + encode), plus the file sizes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from galip_studio import explore
from galip_studio.pipeline import GALIPPipeline


def bench(pipe: GALIPPipeline, name: str, frames: int, batch_size: int, out_dir: Path, size: int | None) -> None:
    prompts = ["a photo of a small bird with a red head", "a watercolor painting of a mountain lake"]
    explore.walk(pipe, prompts, frames=2, path="circle", loop=True, batch_size=batch_size)  # warm-up
    t0 = time.perf_counter()
    render = explore.walk(pipe, prompts, frames=frames, path="circle", loop=True, fps=24, batch_size=batch_size)
    t_render = time.perf_counter() - t0
    side = size or pipe.image_size
    print(f"\n{name}: {frames} frames at {pipe.image_size} px (exported at {side} px), batch {batch_size}")
    print(f"  {'render':<6} {frames / t_render:8.2f} frames/s  ({t_render:.2f} s)")
    for fmt in ("gif", "mp4"):
        path = out_dir / f"{name}.{fmt}"
        t0 = time.perf_counter()
        explore.save_render(render, path, size=size)
        t_enc = time.perf_counter() - t0
        kb = path.stat().st_size / 1024
        print(
            f"  {fmt:<6} {frames / t_enc:8.1f} frames/s encode ({t_enc:.2f} s), "
            f"{frames / (t_render + t_enc):6.2f} frames/s end to end, {kb:8.1f} KiB"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["tiny", "official-224"])
    ap.add_argument("--checkpoint", default=None, help="benchmark this checkpoint instead of the presets")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--size", type=int, default=None, help="export size in px (default: the model's)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out-dir", default=None, help="keep the files here (default: a temporary folder)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device {args.device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(args.out_dir or tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        if args.checkpoint:
            models = [(Path(args.checkpoint).name, lambda: GALIPPipeline.from_pretrained(args.checkpoint, device=args.device))]
        else:
            models = [(p, lambda p=p: GALIPPipeline.from_preset(p, device=args.device)) for p in args.presets]
        for name, load in models:
            bench(load(), name, args.frames, args.batch_size, out_dir, args.size)


if __name__ == "__main__":
    main()
