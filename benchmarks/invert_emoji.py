"""GALIP inversion on real emoji against the best of random seeds at the prompt's own sentence vector.

For each emoji of the memorisation check (images from an emoji data folder: train/ and test/, the
first style found in --styles order), on a model (default: the bundled one):

* the image-text gap study (:func:`gap_study`; --gap-only stops after it, --gap-fit 0 skips it): cosine
  of each image's corrected CLIP embedding to its caption's sentence vector and caption R@1 among the
  set's names, for no correction, the shipped one (``invert.image_gap``), the mean offset of real
  train images and a linear map fit on train images; on the 20 emoji in 3 styles and on every test
  image (names never trained on);
* the baseline: the caption's sentence vector (``a red apple``) with seeds 0..N-1 (default 64), the
  seed closest to the target by the CLIP patch-token distance (``invert.clip_distance``) and the one
  with the best pixel PSNR;
* the inversion (``invert.invert``, --steps, --starts, seed 0): the same two measures and its time.

Prints tables and writes a figure (target / best seed / inversion per emoji) and a JSON file, both
rewritten after every emoji.

    python benchmarks/invert_emoji.py --data DATA --out /tmp/invert-emoji            # all 20
    python benchmarks/invert_emoji.py --data DATA --emoji red-apple banana --steps 20  # a check
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from PIL import Image

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


def split_images(data: Path, split: str, skip: set[str] = frozenset(), limit: int | None = None) -> list[Path]:
    """The images of ``split`` (sorted; names in ``skip`` left out), ``limit`` of them spread evenly."""
    paths = [p for p in sorted((data / split).glob("*__*.png")) if p.name.split("__")[0] not in skip]
    if limit is not None and len(paths) > limit:
        paths = [paths[i * len(paths) // limit] for i in range(limit)]
    return paths


def tensors(pipe: GALIPPipeline, paths: list[Path]) -> torch.Tensor:
    return torch.cat([invert.image_tensor(invert.load_image(p), pipe.image_size) for p in paths])


def gap_study(pipe: GALIPPipeline, gap: invert.ImageGap, data: Path, emoji: list[str], fit: int) -> dict:
    """The image-text gap on many images, for four corrections: none, the shipped offset (measured on
    the generator's own images), the mean offset of real training images, and a least-squares linear
    map (ridge) fit on training images. The fit uses ``fit`` train images whose names are not among
    ``emoji``; it is measured on the emoji in every style (train split, left out of the fit) and on
    every test image (names never seen in training)."""
    t0 = time.perf_counter()
    train = split_images(data, "train", set(emoji), fit)
    emb = invert._embed(pipe, tensors(pipe, train))
    caps = [caption(p) for p in train]
    text = torch.cat([explore.encode(pipe, caps[i : i + 128]) for i in range(0, len(caps), 128)])
    data_gap = invert.ImageGap(emb.mean(0), text.mean(0), float(text.norm(dim=-1).mean()), source="data")
    x = torch.cat([emb, torch.ones(len(emb), 1)], 1).double()
    gram = x.T @ x
    ridge = 0.01 * gram.diagonal().mean()  # a small ridge: 385 unknowns per output from a few thousand pairs
    w = torch.linalg.solve(gram + ridge * torch.eye(len(gram), dtype=gram.dtype), x.T @ text.double()).float()

    def linear(e: torch.Tensor) -> torch.Tensor:
        return torch.cat([e.float(), torch.ones(len(e), 1)], 1) @ w

    others = {"data_offset": data_gap.apply, "linear": linear}
    sets = {
        f"{len(emoji)} emoji x 3 styles": [data / "train" / f"{n}__{st}.png" for n in emoji for st in ("3d", "google", "twitter") if (data / "train" / f"{n}__{st}.png").is_file()],
        "e3 test (unseen names)": split_images(data, "test"),
    }
    out: dict = {"fit_images": len(train)}
    for label, paths in sets.items():
        out[label] = invert.gap_report(pipe, tensors(pipe, paths), [caption(p) for p in paths], gap, others)
    names = {"raw": "none", "corrected": "offset from generated images (shipped)", "data_offset": "offset from train images", "linear": "linear map fit on train images"}
    print(f"\nimage-text gap: cosine image-to-caption and caption R@1 among the set's names ({len(train)} train images to fit; {time.perf_counter() - t0:.0f} s)")
    print(f"{'correction':<42}" + "".join(f"{label[:26]:>28}" for label in sets))
    print(f"{'':<42}" + "".join(f"{'cos':>14}{'R@1':>14}" for _ in sets))
    for key, name in names.items():
        print(f"{name:<42}" + "".join(f"{out[label]['cos_' + key]:>14.3f}{out[label]['r1_' + key]:>14.3f}" for label in sets))
    for label in sets:
        r = out[label]
        print(f"{label}: {int(r['images'])} images, {int(r['captions'])} names, image norm {r['image_norm']:.1f}, sentence norm {r['text_norm']:.1f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="an emoji data folder (galip-studio data emoji DIR --styles 3d,google,twitter)")
    ap.add_argument("--checkpoint", "-c", default=None)
    ap.add_argument("--emoji", nargs="+", default=EMOJI)
    ap.add_argument("--styles", default="twitter,google,3d")
    ap.add_argument("--seeds", type=int, default=64, help="random seeds of the baseline (default 64)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--starts", type=int, default=4)
    ap.add_argument("--candidates", type=int, default=16, help="seeds scored at each starting sentence vector before the best --starts are optimised (default 16)")
    ap.add_argument("--phrases", type=int, default=5, help="nearest vocabulary phrases whose vectors are starting sentence vectors too (default 5)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--gap-fit", type=int, default=2000, help="train images to fit the data-based corrections of the gap study (default 2000; 0: no study)")
    ap.add_argument("--gap-only", action="store_true", help="print the image-text gap study and stop")
    ap.add_argument("--out", default="invert-emoji")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pipe = GALIPPipeline.from_pretrained(args.checkpoint)
    styles = args.styles.split(",")
    t0 = time.perf_counter()
    gap = invert.image_gap(pipe)  # cached per model (the discover cache): computed once
    gap_seconds = time.perf_counter() - t0

    study = gap_study(pipe, gap, Path(args.data), args.emoji, args.gap_fit) if args.gap_fit else {}
    if args.gap_only:
        (out / "invert_gap.json").write_text(json.dumps(study, indent=1) + "\n")
        print(f"wrote {out / 'invert_gap.json'}")
        return
    found = [find_image(Path(args.data), name, styles) for name in args.emoji]
    captions = [caption(p) for p, _ in found]
    targets = torch.cat([invert.image_tensor(invert.load_image(p), pipe.image_size) for p, _ in found])
    report = invert.gap_report(pipe, targets, captions, gap)
    print(f"image-text gap on {len(found)} emoji (offset from {len(invert.discover.load_vocabulary(None)[0][:invert.GAP_PHRASES])} generated images, {gap_seconds:.1f} s):")
    print(json.dumps(report, indent=1), flush=True)

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
        r = invert.invert(pipe, target, steps=args.steps, seed=0, starts=args.starts, candidates=args.candidates, phrases=args.phrases, gap=gap)
        row = {
            "emoji": name, "split": split, "prompt": text, "seeds_clip": float(dist.min()), "seeds_psnr": float(p.max()),
            "inv_clip": r.distance, "inv_psnr": r.psnr, "seeds_seconds": seed_s, "inv_seconds": r.seconds, "best_seed": best,
            "inv_start": r.start_from, "inv_start_seed": r.start_seed,
        }
        rows.append(row)
        print(f"{name:<16}{split:<6}{row['seeds_clip']:>11.4f}{row['inv_clip']:>10.4f}{row['seeds_psnr']:>11.2f}{row['inv_psnr']:>10.2f}{seed_s:>9.1f}{r.seconds:>8.1f}", flush=True)
        tiles += [to_pil(target)[0], to_pil(images[best : best + 1])[0], r.pil()]
        write(out, args, report, study, rows, tiles)  # after every emoji: a stopped run keeps what it measured
    wins_clip = sum(r["inv_clip"] < r["seeds_clip"] for r in rows)
    wins_psnr = sum(r["inv_psnr"] > r["seeds_psnr"] for r in rows)
    print(f"\ninversion closer than the best of {args.seeds} seeds: {wins_clip}/{len(rows)} by CLIP distance, {wins_psnr}/{len(rows)} by PSNR")
    print(f"wrote {out / 'invert_emoji.png'} and {out / 'invert_emoji.json'}")


def figure(tiles: list[Image.Image], names: list[str], seeds: int, steps: int, scale: int = 2) -> Image.Image:
    """Two emoji per row, each as target / best seed / inversion, every 64 px image enlarged ``scale``
    times pixel for pixel; the row's caption names its left and right emoji."""
    tiles = [im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST) for im in tiles]
    if len(names) % 2:
        tiles += [Image.new("RGB", tiles[0].size, "white")] * 3
    labels = [f"{names[i]}  ·  {names[i + 1]}" if i + 1 < len(names) else names[i] for i in range(0, len(names), 2)]
    return grid_image(tiles, 6, row_labels=labels, col_labels=["target", f"best of {seeds}", f"inv. {steps} st."] * 2)


def write(out: Path, args: argparse.Namespace, report: dict, study: dict, rows: list[dict], tiles: list) -> None:
    """The figure (:func:`figure`) and the JSON."""
    figure(tiles, [r["emoji"] for r in rows], args.seeds, args.steps).save(out / "invert_emoji.png", optimize=True)
    (out / "invert_emoji.json").write_text(json.dumps({"gap": report, "gap_study": study, "rows": rows, "steps": args.steps, "starts": args.starts, "seeds": args.seeds}, indent=1) + "\n")


if __name__ == "__main__":
    main()
