"""How much does the noise change a checkpoint's images? For each prompt, the per-pixel standard
deviation across seeds (pixels in [0, 1]), averaged over the image and then over the prompts.

A generator that ignores its noise (every seed the same drawing) scores near 0. On the model card's
24 everyday prompts the bundled model scores 0.060, the release before its everyday stage 0.204. Paired reconstruction (`train
--recon-weight`) pulls a caption's images towards its training images whatever the noise, so watch
this figure beside the naming and CLIP FD when using it (docs/training.md).

    python benchmarks/seed_spread.py checkpoints/galip-emoji-64 runs/NAME/checkpoints/step_001000
"""

from __future__ import annotations

import argparse

import torch

from galip_studio.pipeline import GALIPPipeline

# the model card's figure of 24 everyday prompts
EVERYDAY = (
    "a red apple", "a banana", "a slice of pizza", "a cat face", "a dog face", "the sun", "a crescent moon", "a tree",
    "a red car", "a house", "a rocket", "a guitar", "a teapot", "a red heart", "a smiling face", "a globe", "a star",
    "a flower", "a fish", "a birthday cake", "a soccer ball", "a snowman", "an umbrella", "a watermelon",
)


def seed_spread(pipe: GALIPPipeline, prompts: list[str], seeds: int) -> list[float]:
    """One figure per prompt: the mean over pixels of the standard deviation across ``seeds`` images."""
    out = []
    for prompt in prompts:
        images = pipe(prompt, seeds=list(range(seeds)), output_type="pt").images.float()
        out.append(images.std(0).mean().item())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", help="checkpoint directories (converted or a run's step_N)")
    p.add_argument("--prompts", help="a text file with one prompt a line (default: the model card's 24)")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    prompts = list(EVERYDAY)
    if args.prompts:
        with open(args.prompts, encoding="utf-8") as f:
            prompts = [line.strip() for line in f if line.strip()]
    for checkpoint in args.checkpoints:
        spread = seed_spread(GALIPPipeline.from_pretrained(checkpoint, device="cpu"), prompts, args.seeds)
        print(f"{checkpoint}\tspread {sum(spread) / len(spread):.4f}\tmin {min(spread):.4f}\tmax {max(spread):.4f}"
              f"\t({len(prompts)} prompts x {args.seeds} seeds)", flush=True)


if __name__ == "__main__":
    main()
