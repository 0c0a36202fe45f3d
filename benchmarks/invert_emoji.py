"""GALIP inversion on real emoji against the best of random seeds at the prompt's own sentence vector.

For each emoji of the memorisation check (images from an emoji data folder: train/ and test/, the
first style found in --styles order), on a model (default: the bundled one):

* the image-text gap: cosine of the CLIP image embedding to the caption's sentence vector, and the
  caption R@1 among the emoji names, before and after ``invert.image_sentence``'s correction;
* the baseline: the caption's sentence vector (``a red apple``) with seeds 0..N-1 (default 64), the
  seed closest to the target by the CLIP patch-token distance (``invert.clip_distance``) and the one
  with the best pixel PSNR;
* the inversion (``invert.invert``, --steps, --starts, seed 0): the same two measures and its time.

Prints a table and writes a figure (target / best seed / inversion per emoji) and a JSON file.

    python benchmarks/invert_emoji.py --data /work/data/e3 --out /tmp/invert-emoji            # all 20
    python benchmarks/invert_emoji.py --data /work/data/e3 --emoji red-apple banana --steps 20  # a check
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from galip_studio import explore, invert
from galip_studio.export import grid_image
from galip_studio.pipeline import GALIPPipeline, noise_from_seeds, to_pil

EMOJI = (
    "red-apple banana pizza cat-face dog-face sun crescent-moon automobile house rocket teapot red-heart "
    "grinning-face star tulip fish soccer-ball snowman umbrella watermelon"
).split()


def find_image(data: Path, name: str, styles: list[str]) -> tuple[Path, str]:
    for style in styles:
        for split in ("test", "train"):
            path = data / split / f"{name}__{style}.png"
            if path.is_file():
                return path, split
    raise SystemExit(f"no image of {name} in {data}/train or {data}/test (styles {', '.join(styles)})")


def caption(path: Path) -> str:
    """The emoji's own name as an everyday prompt: ``red apple`` -> ``a red apple``."""
    name = path.with_suffix(".txt").read_text(encoding="utf-8").splitlines()[0].strip()
    return name if name.split()[0] in ("a", "an", "the") else f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="an emoji data folder (galip-studio data emoji DIR --styles 3d,google,twitter)")
    ap.add_argument("--checkpoint", "-c", default=None)
    ap.add_argument("--emoji", nargs="+", default=EMOJI)
    ap.add_argument("--styles", default="twitter,google,3d")
    ap.add_argument("--seeds", type=int, default=64, help="random seeds of the baseline (default 64)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--starts", type=int, default=4)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="invert-emoji")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pipe = GALIPPipeline.from_pretrained(args.checkpoint)
    styles = args.styles.split(",")
    t0 = time.perf_counter()
    gap = invert.image_gap(pipe, cache=False)
    gap_seconds = time.perf_counter() - t0

    found = [find_image(Path(args.data), name, styles) for name in args.emoji]
    captions = [caption(p) for p, _ in found]
    targets = torch.cat([invert.image_tensor(invert.load_image(p), pipe.image_size) for p, _ in found])
    report = invert.gap_report(pipe, targets, captions, gap)
    print(f"image-text gap on {len(found)} emoji (offset from {len(invert.discover.load_vocabulary(None)[0][:invert.GAP_PHRASES])} generated images, {gap_seconds:.1f} s):")
    print(json.dumps(report, indent=1))

    rows, tiles = [], []
    noise = noise_from_seeds(range(args.seeds), pipe.z_dim)
    print(f"\n{'emoji':<16}{'split':<6}{'seeds CLIP':>11}{'inv CLIP':>10}{'seeds PSNR':>11}{'inv PSNR':>10}{'seeds s':>9}{'inv s':>8}")
    for (path, split), name, text, target in zip(found, args.emoji, captions, targets):
        target = target[None]
        feats = pipe.clip.image_features(target.to(pipe.device, pipe.dtype), with_embedding=False)[0]
        t = time.perf_counter()
        s = explore.encode(pipe, [text]).repeat(args.seeds, 1)
        images = explore.synthesize(pipe, noise, s, 16, None)
        with torch.no_grad():
            dist = torch.cat([invert.clip_distance(pipe.clip, images[i : i + 16].to(pipe.device, pipe.dtype), feats.expand(min(16, args.seeds - i), -1, -1, -1, -1)) for i in range(0, args.seeds, 16)])
        p = invert.psnr(images, target.expand_as(images))
        seed_s = time.perf_counter() - t
        best = int(dist.argmin())
        r = invert.invert(pipe, target, steps=args.steps, seed=0, starts=args.starts, gap=gap)
        row = {
            "emoji": name, "split": split, "prompt": text, "seeds_clip": float(dist.min()), "seeds_psnr": float(p.max()),
            "inv_clip": r.distance, "inv_psnr": r.psnr, "seeds_seconds": seed_s, "inv_seconds": r.seconds, "best_seed": best,
        }
        rows.append(row)
        print(f"{name:<16}{split:<6}{row['seeds_clip']:>11.4f}{row['inv_clip']:>10.4f}{row['seeds_psnr']:>11.2f}{row['inv_psnr']:>10.2f}{seed_s:>9.1f}{r.seconds:>8.1f}")
        tiles += [to_pil(target)[0], to_pil(images[best : best + 1])[0], r.pil()]
    wins_clip = sum(r["inv_clip"] < r["seeds_clip"] for r in rows)
    wins_psnr = sum(r["inv_psnr"] > r["seeds_psnr"] for r in rows)
    print(f"\ninversion closer than the best of {args.seeds} seeds: {wins_clip}/{len(rows)} by CLIP distance, {wins_psnr}/{len(rows)} by PSNR")
    labels = [f"{r['emoji']} ({r['split']})" for r in rows]
    grid = grid_image(
        [im.resize((128, 128)) for im in tiles], 3, row_labels=labels,
        col_labels=["target", f"best of {args.seeds} seeds", f"inversion ({args.steps} steps)"],
    )
    grid.save(out / "invert_emoji.png")
    (out / "invert_emoji.json").write_text(json.dumps({"gap": report, "rows": rows, "steps": args.steps, "starts": args.starts, "seeds": args.seeds}, indent=1) + "\n")
    print(f"wrote {out / 'invert_emoji.png'} and {out / 'invert_emoji.json'}")


if __name__ == "__main__":
    main()
