"""What CLIP FD do real images reach? The Fréchet distance between two disjoint random sets of N real
images of one folder, in a checkpoint's CLIP space, over several draws: the floor that a generator
scored by `galip-studio eval --images N` on that kind of image cannot be expected to beat.

FD depends on N (its estimate of the covariance is biased at small N), so a figure is only comparable
with figures at the same N. On the bundled model's CLIP, with the paper's framing: two sets of 153
everyday training emoji read 0.171 ± 0.012 (20 draws), two sets of the three-style training images
0.203 at 153, 0.079 at 411, 0.055 at 569; the 153 held-out everyday emoji against 153 training ones
0.233 (docs/training.md, "Evaluation").

    python benchmarks/fd_floor.py DATA/everyday/train --images 153 --draws 20
    python benchmarks/fd_floor.py DATA/e3/train --images 153 411 569 --limit 4000
    python benchmarks/fd_floor.py DATA/everyday/test --against DATA/everyday/train --images 153
"""

from __future__ import annotations

import argparse
import statistics

import torch

from galip_studio.datasets.folders import scan_dataset
from galip_studio.metrics import clip_frechet_distance, clip_image_embeddings
from galip_studio.official import load_model
from galip_studio.train.data import ImageCaptionDataset, ImageTransform
from galip_studio.train.evaluate import eval_transform


def embed_folder(clip, data_dir: str, transform: ImageTransform, limit: int | None, seed: int) -> torch.Tensor:
    """CLIP image embeddings of (a random ``limit`` of) a folder's images, framed as ``eval`` frames them."""
    samples, _ = scan_dataset(data_dir)
    dataset = ImageCaptionDataset(samples, transform)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).tolist()[:limit]
    with torch.inference_mode():
        return clip_image_embeddings(clip, torch.stack([dataset[i]["image"] for i in order]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data_dir", help="an image-caption folder")
    p.add_argument("--checkpoint", default="checkpoints/galip-emoji-64", help="whose CLIP (default: the bundled model)")
    p.add_argument("--images", type=int, nargs="+", default=[153], help="set sizes N (default 153)")
    p.add_argument("--draws", type=int, default=10, help="random pairs of sets per N (default 10)")
    p.add_argument("--against", metavar="DIR", help="draw the second set from this folder instead (e.g. other emoji)")
    p.add_argument("--limit", type=int, default=None, help="embed at most this many images of each folder")
    p.add_argument("--resize-ratio", type=float, default=None, help="framing, as in eval (default: the checkpoint's)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, info = load_model(args.checkpoint)
    clip = model.clip.eval()
    transform, framing = eval_transform(info, model.config.img_size, resize_ratio=args.resize_ratio)
    ratio = transform.resize_ratio
    first = embed_folder(clip, args.data_dir, transform, args.limit, seed=0)
    second = embed_folder(clip, args.against, transform, args.limit, seed=1) if args.against else None
    print(f"{args.data_dir}{' vs ' + args.against if args.against else ''}: resize ratio {ratio:.4g} ({framing}), "
          f"{len(first)}{f' and {len(second)}' if second is not None else ''} images")
    for n in args.images:
        need = n if second is not None else 2 * n
        if len(first) < need or (second is not None and len(second) < n):
            print(f"N={n}: too few images (need {need}{f' and {n}' if second is not None else ''})")
            continue
        values = []
        for draw in range(args.draws):
            g = torch.Generator().manual_seed(100 + draw)
            a = torch.randperm(len(first), generator=g)
            other = second[torch.randperm(len(second), generator=g)[:n]] if second is not None else first[a[n : 2 * n]]
            values.append(clip_frechet_distance(first[a[:n]], other))
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"N={n}: CLIP FD {statistics.mean(values):.3f} ± {sd:.3f} (min {min(values):.3f}, {args.draws} draws)", flush=True)


if __name__ == "__main__":
    main()
