"""Can the generator draw these images at all? Fits a checkpoint's generator alone to an image-caption
folder by plain regression (L1 in pixels, each image with its own fixed noise vector, no
discriminator) and prints the median PSNR as it goes; writes a figure with the real images on the
top row and the fitted ones below.

This separates the generator's capacity from the adversarial signal (docs/training.md, "Paired
reconstruction"): if the fit reproduces the images, blobs in GAN training come from what the
discriminators reward, not from what the generator can draw.

    python benchmarks/fit_generator.py DATA --out runs/fit --steps 300 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from galip_studio.datasets.folders import load_rgb, scan_dataset
from galip_studio.export import to_pil
from galip_studio.invert import image_tensor, psnr
from galip_studio.pipeline import GALIPPipeline, default_checkpoint_dir


def _median_psnr(fake: torch.Tensor, real: torch.Tensor) -> float:
    return float(psnr(fake, real).median())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", help="an image-caption folder (image + same-name .txt, first line is the caption)")
    p.add_argument("--checkpoint", default=None, help="checkpoint directory (default: the bundled model)")
    p.add_argument("--out", required=True, help="folder for fit.png and fit.json")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--lr", type=float, default=2e-4, help="Adam (betas 0, 0.9 as GALIP's G) learning rate")
    p.add_argument("--max-images", type=int, default=60)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    checkpoint = Path(args.checkpoint) if args.checkpoint else default_checkpoint_dir()
    pipe = GALIPPipeline.from_pretrained(checkpoint, device="cpu")
    samples = sorted(scan_dataset(args.data)[0], key=lambda s: str(s.image))[: args.max_images]
    if not samples:
        raise SystemExit(f"no image-caption pairs in {args.data}")
    G = pipe.generator.float().train()
    real = torch.cat([image_tensor(load_rgb(s.image), G.config.img_size) for s in samples])
    with torch.no_grad():
        sentence = pipe.encode([s.captions[0] for s in samples]).float()
    noise = torch.randn(len(samples), G.z_dim, generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.0, 0.9))

    def fitted() -> torch.Tensor:
        G.eval()
        with torch.no_grad():
            out = torch.cat([G(noise[i:i + 32], sentence[i:i + 32]) for i in range(0, len(samples), 32)])
        G.train()
        return out

    curve, start = [{"step": 0, "psnr_median": _median_psnr(fitted(), real), "s": 0.0}], time.perf_counter()
    print(f"{len(samples)} images of {args.data}, generator of {checkpoint}; step 0: median PSNR {curve[0]['psnr_median']:.1f} dB")
    for step in range(1, args.steps + 1):
        idx = torch.randperm(len(samples))[: args.batch_size]
        loss = F.l1_loss(G(noise[idx], sentence[idx]), real[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 0 or step == args.steps:
            curve.append({"step": step, "l1": loss.item(), "psnr_median": _median_psnr(fitted(), real),
                          "s": round(time.perf_counter() - start, 1)})
            print(f"step {step}: L1 {curve[-1]['l1']:.3f}, median PSNR {curve[-1]['psnr_median']:.1f} dB, {curve[-1]['s']} s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    show = slice(0, min(len(samples), 20))
    grid = torch.cat([torch.cat(list(real[show]), dim=2), torch.cat(list(fitted()[show].clamp(-1, 1)), dim=2)], dim=1)
    to_pil(grid[None])[0].save(out / "fit.png")
    (out / "fit.json").write_text(json.dumps({"checkpoint": str(checkpoint), "data": args.data, "curve": curve}, indent=1))
    print(f"wrote {out / 'fit.png'} (top: real, bottom: fitted) and {out / 'fit.json'}")


if __name__ == "__main__":
    main()
