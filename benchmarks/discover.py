"""Measure discovered directions and the prompt map on a model (default: the bundled one).

For the top components of noise space (GANSpace at --prompt) and sentence space (the bundled
vocabulary): strips (-3σ … +3σ, --seeds) saved as PNG; the change per σ in CLIP image space (chord
between unit embeddings) and in pixels (RMS, 0-255); and the pairwise cosine of the components'
image changes (img(+1σ) − img(−1σ), flattened), averaged over seeds: near 0 means distinct
components. Then the prompt map: open time (vectors + layout + drawing), cold and from the cache,
and click → image time. Caches go to a temporary folder (never into checkpoints/).

    python benchmarks/discover.py --out figs/discover
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from galip_studio import explore
from galip_studio.metrics import clip_image_embeddings
from galip_studio.pipeline import GALIPPipeline


def measure(pipe, found: explore.Directions, prompt: str, seeds: list[int], top: int, out: Path) -> list[dict]:
    rows = []
    deltas = []
    for k in range(top):
        per_seed = []
        for s in seeds:
            r = explore.strips(pipe, found, [k], prompt=prompt, seed=s, steps=7, span=3.0)
            per_seed.append(r.images)
            if s == seeds[0]:
                explore.save_render(r, out / f"{found.space}-pc{k + 1}-seed{s}.png", size=128)
        imgs = torch.stack(per_seed)  # [S, 7, 3, H, W], 1σ apart
        emb = torch.nn.functional.normalize(clip_image_embeddings(pipe.clip, imgs.flatten(0, 1)).float(), dim=-1).view(len(seeds), 7, -1)
        clip_step = (emb[:, 1:] - emb[:, :-1]).norm(dim=-1).mean()
        pix = ((imgs[:, 1:] - imgs[:, :-1]) * 127.5).pow(2).mean(dim=(2, 3, 4)).sqrt().mean()
        deltas.append((imgs[:, 4] - imgs[:, 2]).flatten(1))  # +1σ minus -1σ, per seed
        rows.append({"component": k + 1, "sigma": float(found.sigma[k]), "variance_share": float(found.ratio[k]),
                     "clip_change_per_sigma": float(clip_step), "pixel_rms_change_per_sigma": float(pix)})
        if found.ends:
            rows[-1]["ends"] = found.ends[k]
        # A grid over all seeds for looking at: rows = seeds.
        grid = explore.Render(imgs.flatten(0, 1), {}, len(seeds), 7, torch.empty(0), torch.empty(0))
        grid.grid(captions=False, size=96).save(out / f"{found.space}-pc{k + 1}-seeds.png")
    cos = torch.zeros(top, top)
    for i in range(top):
        for j in range(top):
            cos[i, j] = torch.nn.functional.cosine_similarity(deltas[i], deltas[j], dim=1).mean()
    for i, row in enumerate(rows):
        row["cosine_with"] = {f"pc{j + 1}": round(float(cos[i, j]), 3) for j in range(top) if j != i}
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--prompt", default="a red heart")
    p.add_argument("--sentence-prompt", default="a 3d emoji of a smiling face")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    p.add_argument("--top", type=int, default=3)
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="figs/discover")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(tempfile.mkdtemp(prefix="galip-discover-"))
    pipe = GALIPPipeline.from_pretrained(args.checkpoint, device="cpu")
    report: dict = {}

    t = time.perf_counter()
    nd = explore.noise_directions(pipe, args.prompt, components=8, samples=args.samples, cache=cache)
    report["noise_directions_s"] = time.perf_counter() - t
    t = time.perf_counter()
    sd = explore.sentence_directions(pipe, components=8, cache=cache)
    report["sentence_directions_s"] = time.perf_counter() - t
    report["noise"] = measure(pipe, nd, args.prompt, args.seeds, args.top, out)
    report["sentence"] = measure(pipe, sd, args.sentence_prompt, args.seeds, args.top, out)

    pipe2 = GALIPPipeline.from_pretrained(args.checkpoint, device="cpu")  # an empty prompt cache: a cold open
    for view in ("pca", "tsne"):
        t = time.perf_counter()
        m = explore.prompt_map(pipe2, view=view, cache=cache)
        m.image().save(out / f"map-{view}.png")
        report[f"map_{view}_open_cold_s"] = time.perf_counter() - t
        times = []
        for _ in range(3):
            t = time.perf_counter()
            m = explore.prompt_map(pipe2, view=view, cache=cache)
            m.image()
            times.append(time.perf_counter() - t)
        report[f"map_{view}_open_cached_s"] = min(times)
    m = explore.prompt_map(pipe2, view="pca", cache=cache)
    x0, x1, y0, y1 = m.bounds
    clicks = []
    for i in range(5):
        point = (x0 + (x1 - x0) * (0.2 + 0.15 * i), y0 + (y1 - y0) * (0.7 - 0.1 * i))
        t = time.perf_counter()
        r = explore.map_point(pipe2, m.prompts, m.coords.tolist(), point, seed=0)
        r.pil(256)[0].save(out / f"click-{i}.png")
        clicks.append(time.perf_counter() - t)
    report["click_s"] = sorted(clicks)[len(clicks) // 2]
    path = [m.point_of("a red heart"), m.point_of("a smiling face"), m.point_of("a globe")]
    w = explore.map_walk(pipe2, m.prompts, m.coords.tolist(), path, frames=36, loop=True)
    explore.save_render(w, out / "map-walk.gif", size=128)
    m.image(path=path).save(out / "map-pca-path.png")
    (out / "measurements.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
