"""Discovered directions and a prompt map: find out what GALIP's space holds without knowing what to type.

Two views over :mod:`galip_studio.explore`'s machinery (every result is a :class:`~.explore.Render`
with a recipe that :func:`galip_studio.recipes.render_recipe` makes again; every size is bounded by
:class:`~.explore.Limits`)::

    from galip_studio import discover

    nd = discover.noise_directions(pipe, "a red heart", components=8, samples=512)   # GANSpace on the noise
    sd = discover.sentence_directions(pipe, components=8)           # PCA of the vocabulary's sentence vectors
    r = discover.strips(pipe, sd, [0, 1, 2], prompt="a red heart", seed=0, steps=7)   # rows: components, -3σ … +3σ
    m = discover.prompt_map(pipe, view="pca")                       # or view="tsne"
    m.image().save("map.png")                                       # labelled scatter, m.to_pixel / m.from_pixel
    r = discover.map_point(pipe, m.prompts, m.coords, (0.1, -0.2), seed=0)   # the image at a map point
    r = discover.map_walk(pipe, m.prompts, m.coords, [(x0, y0), (x1, y1), (x2, y2)], frames=48)  # a path → frames
    r = discover.map_grid(pipe, m.prompts, m.coords, rows=6)         # an atlas: images over a lattice of the map

**Noise directions** (GANSpace, Härkönen et al. 2020). For ``samples`` random noises at one fixed
sentence, the generator's bridge feature F_b (the first activation that depends on the noise: what
the frozen CLIP-ViT reads in place of patch embeddings, ``[clip_width, grid, grid]``) is collected;
PCA (scikit-learn) finds its main axes of variation, and each component is mapped back to noise by
least squares (the noise ``z ≈ mean + Σ_k x_k u_k`` over the samples' PCA coordinates ``x``), as
GANSpace does for BigGAN. Each direction ``u_k`` is scaled to unit length; its σ is the spread of
the samples' noise along it (about 1 for Gaussian noise), so a strip's ±3σ is a typical range.

**Sentence directions.** PCA over the sentence vectors of a vocabulary (the bundled list of
everyday emoji-style phrases, ``galip_studio/data/vocabulary.txt``, or the caption files of a data
folder); components are unit vectors of sentence space, σ the vocabulary's standard deviation
along each, and the prompts at either end of a component help to name it.

**Prompt map.** The vocabulary's sentence vectors in 2-D: PCA (linear; axes are the first two
sentence directions) or t-SNE (scikit-learn; neighbourhoods kept, distances not). A point of the
map becomes a sentence vector by a **distance-weighted blend of the nearest prompts** (modified
Shepard interpolation, Franke & Nielson 1980: the ``neighbors`` nearest prompts weighted by
``((R - d) / (R d)) ** power``, ``R`` the distance of the next-nearest prompt). Chosen over inverse
PCA because (1) it is exact at every vocabulary point (weight one-hot, the prompt's own vector bit
for bit), while inverse PCA from two coordinates drops every other component (on the bundled model
the first two keep only a small share of the variance, so a prompt's own point would not give its
image); (2) it works for t-SNE, which has no inverse; (3) every result is a convex blend of real
prompts, which GALIP's generator handles well (the paper's Figure 7), rather than a vector that may
lie where no sentence does; (4) it is continuous: a prompt leaves the blend with weight 0 when
another becomes nearer. A path drawn on the map is sampled at even arc length and walked frame by
frame, with one fixed noise.

**Caching.** Computed directions and maps are saved next to the checkpoint that made them
(``CHECKPOINT/discover/*.safetensors``, with the settings that made them and the size and time of
the generator weights, so retrained weights are never matched with old directions); when that
folder is not writable, or the model has no folder, in ``$GALIP_STUDIO_CACHE`` (default
``~/.cache/galip-studio``) under a key of the same settings. ``cache=False`` turns it off.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from . import explore, latent
from .explore import DEFAULT_LIMITS, Limits, Progress, Render
from .pipeline import noise_from_seeds

SPACES = ("noise", "sentence")
VIEWS = ("pca", "tsne")
BUNDLED = "bundled"
CACHE_VERSION = 1
MAX_SPAN = 10.0
DEFAULT_NEIGHBORS = 4
TSNE_ITERATIONS = 500  # half scikit-learn's default: the layout has settled by then, in half the time


# ------------------------------------------------------------------------------------------ maths
@dataclass(frozen=True)
class PCAResult:
    """Principal axes of a data set ``[N, D]``: ``components`` ``[K, D]`` (orthonormal rows), the
    ``mean`` ``[D]``, the standard deviation of the data along each axis (``sigma`` ``[K]``), the
    share of the total variance each explains (``ratio``) and the data's coordinates ``[N, K]``."""

    components: torch.Tensor
    mean: torch.Tensor
    sigma: torch.Tensor
    ratio: torch.Tensor
    coords: torch.Tensor


def pca(x: torch.Tensor | np.ndarray, components: int) -> PCAResult:
    """PCA (scikit-learn, full SVD: deterministic) keeping ``components`` axes (at most ``min(N, D)``)."""
    from sklearn.decomposition import PCA

    data = np.asarray(x.detach().cpu().double() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] < 2:
        raise ValueError(f"PCA needs at least 2 samples [N, D], got shape {tuple(data.shape)}")
    k = min(int(components), data.shape[0], data.shape[1])
    model = PCA(n_components=k, svd_solver="full")
    coords = model.fit_transform(data)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))  # noqa: E731
    return PCAResult(t(model.components_), t(model.mean_), t(np.sqrt(model.explained_variance_)), t(model.explained_variance_ratio_), t(coords))


def regress_directions(coords: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
    """GANSpace's transfer to the input: ``U = argmin || coords @ U - (latents - mean) ||²`` (least
    squares), ``[K, Z]``; row ``k`` is the input direction whose coordinate moves component ``k``."""
    x = coords.double()
    z = latents.double() - latents.double().mean(0, keepdim=True)
    return torch.linalg.lstsq(x, z).solution


def map_weights(coords: torch.Tensor, point: Sequence[float] | torch.Tensor, neighbors: int = DEFAULT_NEIGHBORS, power: float = 2.0) -> torch.Tensor:
    """Blend weights ``[V]`` (sum 1, at most ``neighbors`` non-zero) of the map's points ``coords``
    ``[V, 2]`` for ``point`` (see the module docstring: modified Shepard interpolation).

    At a vocabulary point the weight is one-hot on it (the first such point if several coincide).
    ``point`` may also be ``[P, 2]``, giving ``[P, V]``.
    """
    c = torch.as_tensor(coords, dtype=torch.float64)
    p = torch.as_tensor(point, dtype=torch.float64)
    single = p.ndim == 1
    p = p.reshape(-1, 2)
    if not torch.isfinite(p).all():
        raise ValueError("map points must be finite numbers")
    v = c.shape[0]
    if v == 0:
        raise ValueError("the map has no points")
    k = max(1, min(int(neighbors), v))
    d = torch.cdist(p, c)  # [P, V]
    dist, idx = d.sort(dim=1, stable=True)
    near, near_idx = dist[:, :k], idx[:, :k]
    radius = dist[:, k] if k < v else dist[:, -1] * 1.5 + 1e-12
    w = ((radius[:, None] - near).clamp_min(0) / (radius[:, None] * near.clamp_min(1e-300))) ** float(power)
    w = torch.where(torch.isfinite(w), w, torch.zeros_like(w))
    hit = near[:, 0] <= 0
    w[hit] = 0.0
    w[hit, 0] = 1.0
    flat = w.sum(1) <= 0  # all k tie with the next one: equal weights
    w[flat] = 1.0
    w = w / w.sum(1, keepdim=True)
    out = torch.zeros(p.shape[0], v, dtype=torch.float64)
    out.scatter_(1, near_idx, w)
    return out[0] if single else out


def map_sentence(vectors: torch.Tensor, coords: torch.Tensor, point: Sequence[float] | torch.Tensor, neighbors: int = DEFAULT_NEIGHBORS, power: float = 2.0) -> torch.Tensor:
    """The sentence vector at a map point: :func:`map_weights` blend of the vocabulary's ``vectors``
    (exact at a vocabulary point)."""
    w = map_weights(coords, point, neighbors, power).to(vectors.dtype)
    return latent.blend(vectors, w, normalize=False)


def _anchors(coords: torch.Tensor, points: torch.Tensor, neighbors: int) -> list[int]:
    """Indices of the vocabulary points that the blends at ``points`` depend on (the ``neighbors + 1``
    nearest of each), in vocabulary order: a recipe keeps only these, and gives the same weights."""
    d = torch.cdist(torch.as_tensor(points, dtype=torch.float64).reshape(-1, 2), torch.as_tensor(coords, dtype=torch.float64))
    k = min(int(neighbors) + 1, d.shape[1])
    used = d.sort(dim=1, stable=True).indices[:, :k].unique()
    return sorted(int(i) for i in used)


# ------------------------------------------------------------------------------------------ vocabulary
def _check_count(what: str, n: int, limit_name: str, limits: Limits, minimum: int = 1) -> int:
    n = explore.whole_at_least(what, n, minimum)
    limits.check(what, n, limit_name)
    return n


def load_vocabulary(source: str | os.PathLike | None = None, limits: Limits = DEFAULT_LIMITS) -> tuple[list[str], str]:
    """``(prompts, source)``: the bundled phrases (``None`` or ``"bundled"``), the lines of a text
    file, or every caption of a data folder (``*.txt`` below it, one caption per line); first
    occurrence order, duplicates and blank or ``#`` lines dropped. Bounded by ``max_vocabulary``."""
    if source is None or str(source) == BUNDLED:
        text = resources.files("galip_studio").joinpath("data/vocabulary.txt").read_text(encoding="utf-8")
        files, label = [text], BUNDLED
    else:
        path = Path(source)
        if path.is_dir():
            names = sorted(p for p in path.rglob("*.txt") if p.is_file())
            if not names:
                raise ValueError(f"{source}: no caption files (*.txt) below this folder")
            files = [p.read_text(encoding="utf-8", errors="replace") for p in names]
        elif path.is_file():
            files = [path.read_text(encoding="utf-8", errors="replace")]
        else:
            raise FileNotFoundError(f"no such vocabulary file or data folder: {source}")
        label = str(source)
    prompts = list(dict.fromkeys(line.strip() for text in files for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")))
    if len(prompts) < 3:
        raise ValueError(f"the vocabulary {label} has {len(prompts)} distinct phrases; directions and maps need at least 3")
    limits.check(f"the vocabulary ({label})", len(prompts), "max_vocabulary")
    return prompts, label


def _vocab_hash(prompts: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(prompts).encode("utf-8")).hexdigest()[:16]


def _prompt_list(vocabulary: str | os.PathLike | Sequence[str] | None, limits: Limits) -> tuple[list[str], str]:
    if vocabulary is None or isinstance(vocabulary, (str, os.PathLike)):
        return load_vocabulary(vocabulary, limits)
    prompts = explore.check_prompts(list(dict.fromkeys(vocabulary)), "vocabulary phrases")
    if len(prompts) < 3:
        raise ValueError(f"a vocabulary needs at least 3 distinct phrases, got {len(prompts)}")
    limits.check("the vocabulary", len(prompts), "max_vocabulary")
    return prompts, "given"


def _encode_all(pipe, prompts: Sequence[str], progress: Progress | None, chunk: int = 128) -> torch.Tensor:
    """Sentence vectors of many prompts, in chunks (so ``progress`` moves and locks are short)."""
    out = []
    for i in range(0, len(prompts), chunk):
        out.append(explore.encode(pipe, prompts[i : i + chunk]))
        if progress is not None:
            progress(min(i + chunk, len(prompts)), len(prompts))
    return torch.cat(out)


# ------------------------------------------------------------------------------------------ cache
def cache_root() -> Path:
    return Path(os.environ.get("GALIP_STUDIO_CACHE") or Path.home() / ".cache" / "galip-studio")


def _fingerprint(pipe) -> dict[str, Any]:
    """What identifies the weights: the model's sizes, and its checkpoint file's size and time."""
    info = explore.model_info(pipe)
    out = {k: info.get(k) for k in ("source", "id", "image_size", "z_dim", "sentence_dim", "seed")}
    out["id"] = str(out["id"]) if out["id"] is not None else None
    path = _checkpoint_dir(pipe)
    if path is not None:
        weights = path / "generator.safetensors"
        if weights.is_file():
            st = weights.stat()
            out["weights"] = [st.st_size, st.st_mtime_ns]
    return out


def _checkpoint_dir(pipe) -> Path | None:
    meta = getattr(pipe, "metadata", None) or {}
    path = meta.get("path")
    if path and Path(path).is_dir() and (Path(path) / "config.json").is_file():
        return Path(path).resolve()
    return None


def _cacheable(pipe) -> bool:
    info = explore.model_info(pipe)
    return info["source"] in ("checkpoint", "official", "preset")


def cache_path(pipe, kind: str, settings: dict[str, Any], cache: bool | str | os.PathLike = True) -> Path | None:
    """Where the cached result of ``kind`` with ``settings`` lives (``None``: not cached)."""
    if cache is False or not _cacheable(pipe):
        return None
    key = hashlib.sha256(json.dumps({"v": CACHE_VERSION, "kind": kind, "model": _fingerprint(pipe), **settings}, sort_keys=True).encode()).hexdigest()[:16]
    name = f"{kind}-{key}.safetensors"
    if cache is not True:
        return Path(cache) / name
    folder = _checkpoint_dir(pipe)
    if folder is not None and os.access(folder, os.W_OK):
        return folder / "discover" / name
    return cache_root() / "discover" / name


def _load_cached(path: Path | None) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    if path is None or not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("galip-discover", "{}"))
            return {k: f.get_tensor(k) for k in f.keys()}, meta
    except (OSError, ValueError, RuntimeError):
        return None  # a broken cache file is recomputed


def _save_cached(path: Path | None, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    if path is None:
        return
    from safetensors.torch import save_file

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"galip-discover": json.dumps(meta)})
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written is only slower next time


# ------------------------------------------------------------------------------------------ directions
@dataclass
class Directions:
    """Directions found in one space (``noise`` or ``sentence``).

    Attributes:
        vectors: ``[K, dim]`` unit directions in the generator's input space.
        sigma: ``[K]`` the spread (standard deviation) of the samples along each direction: a strip's unit.
        ratio: ``[K]`` the share of the variance (of the bridge feature, or of the sentence vectors) each
            PCA component explains.
        settings: what made them (space, prompt or vocabulary, samples, seed, components, model).
        ends: sentence directions: for each component, ``[lowest, highest]`` vocabulary prompts along it.
    """

    space: str
    vectors: torch.Tensor
    sigma: torch.Tensor
    ratio: torch.Tensor
    settings: dict[str, Any]
    ends: list[list[list[str]]] = field(default_factory=list)
    cached: str | None = None  # "hit" or the path it was written to, when a cache was used

    def label(self, k: int) -> str:
        return f"{self.space} PC{k + 1} ({100 * float(self.ratio[k]):.1f}% var)"

    def describe(self) -> list[dict[str, Any]]:
        """One dict per component: its number, σ, explained share and (sentence) end prompts."""
        rows = []
        for k in range(self.vectors.shape[0]):
            row: dict[str, Any] = {"component": k + 1, "sigma": float(self.sigma[k]), "variance_share": float(self.ratio[k])}
            if self.ends:
                row["low_end"], row["high_end"] = self.ends[k]
            rows.append(row)
        return rows


def _tensors_of(d: Directions) -> dict[str, torch.Tensor]:
    return {"vectors": d.vectors.float(), "sigma": d.sigma.double(), "ratio": d.ratio.double()}


def _cached(pipe, kind: str, settings: dict[str, Any], cache, compute):
    path = cache_path(pipe, kind, settings, cache)
    hit = _load_cached(path)
    if hit is not None and hit[1].get("settings") == settings:
        return hit, "hit"
    tensors, extra = compute()
    _save_cached(path, tensors, {"settings": settings, **extra})
    return (tensors, {"settings": settings, **extra}), (str(path) if path is not None else None)


def noise_directions(
    pipe,
    prompt: str,
    *,
    components: int = 8,
    samples: int = 512,
    seed: int = 0,
    batch_size: int = 64,
    cache: bool | str | os.PathLike = True,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Directions:
    """GANSpace directions in noise space at ``prompt`` (see the module docstring).

    ``samples`` noises are drawn from ``seed``; the bridge feature of each is computed with the
    reference generator modules (fp32 maths as loaded), PCA keeps ``components`` axes, and least
    squares maps them back to unit noise directions.
    """
    (prompt,) = explore.check_prompts([prompt])
    components = _check_count("components", components, "max_components", limits)
    samples = _check_count("samples", samples, "max_samples", limits, minimum=max(2, components + 1))
    (seed,) = explore.check_seeds([seed])
    batch_size = explore.whole_at_least("batch_size", batch_size, 1)
    limits.check("batch_size", batch_size, "max_batch_size")
    settings = {"space": "noise", "prompt": prompt, "samples": samples, "seed": seed, "components": components, "activation": "bridge"}

    def compute():
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(samples, pipe.z_dim, generator=gen)
        sentence = explore.encode(pipe, [prompt])
        feats = bridge_features(pipe, z, sentence.expand(samples, -1), batch_size, progress)
        res = pca(feats, components)
        u = regress_directions(res.coords, z)
        u = u / u.norm(dim=1, keepdim=True).clamp_min(1e-12)
        sigma = ((z.double() - z.double().mean(0)) @ u.T).std(0)
        return {"vectors": u.float(), "sigma": sigma, "ratio": res.ratio}, {}

    (t, meta), how = _cached(pipe, "noise-directions", settings, cache, compute)
    return Directions("noise", t["vectors"], t["sigma"], t["ratio"], settings, cached=how)


@torch.inference_mode()
def bridge_features(pipe, noise: torch.Tensor, sentence: torch.Tensor, batch_size: int = 64, progress: Progress | None = None) -> torch.Tensor:
    """The generator's bridge feature for each (noise, sentence) pair, flattened: ``[N, C*g*g]`` float32."""
    generator = pipe.generator
    param = next(generator.parameters())
    out = []
    for i in range(0, noise.shape[0], batch_size):
        z = noise[i : i + batch_size].to(param.device, param.dtype)
        s = sentence[i : i + batch_size].to(param.device, param.dtype)
        out.append(generator.bridge(z, torch.cat([z, s], dim=1)).float().flatten(1).cpu())
        if progress is not None:
            progress(min(i + batch_size, noise.shape[0]), noise.shape[0])
    return torch.cat(out)


def sentence_directions(
    pipe,
    vocabulary: str | os.PathLike | Sequence[str] | None = None,
    *,
    components: int = 8,
    cache: bool | str | os.PathLike = True,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Directions:
    """PCA directions of the sentence vectors of ``vocabulary`` (bundled phrases by default; a text
    file, a data folder of caption files, or a list of prompts)."""
    prompts, source = _prompt_list(vocabulary, limits)
    components = _check_count("components", components, "max_components", limits)
    settings = {"space": "sentence", "vocabulary": source, "vocabulary_size": len(prompts), "vocabulary_hash": _vocab_hash(prompts), "components": components}

    def compute():
        res = pca(_encode_all(pipe, prompts, progress), components)
        order = res.coords.argsort(dim=0)
        ends = [[[prompts[i] for i in order[:3, k].tolist()], [prompts[i] for i in order[-3:, k].flip(0).tolist()]] for k in range(res.coords.shape[1])]
        return {"vectors": res.components.float(), "sigma": res.sigma, "ratio": res.ratio}, {"ends": ends}

    (t, meta), how = _cached(pipe, "sentence-directions", settings, cache, compute)
    return Directions("sentence", t["vectors"], t["sigma"], t["ratio"], settings, ends=meta.get("ends", []), cached=how)


def direction_strip(
    pipe,
    space: str,
    vectors: Sequence[Sequence[float]],
    sigmas: Sequence[float],
    *,
    prompt: str,
    seed: int = 0,
    steps: int = 7,
    span: float = 3.0,
    labels: Sequence[str] | None = None,
    truncation: float = 1.0,
    batch_size: int = 8,
    made_by: dict[str, Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Render:
    """Strips around one image (``prompt`` with ``seed``): one row per direction, ``steps`` columns
    from ``-span`` σ to ``+span`` σ along it (the middle column of an odd strip is the image itself).

    ``space`` is ``"noise"`` (the seed's noise moves; ``truncation`` applies to the seed's noise
    before the step) or ``"sentence"`` (the prompt's sentence vector moves). The direction vectors
    are stored in the recipe, so it renders again without recomputing them.
    """
    latent.check_choice("space", space, SPACES)
    (prompt,) = explore.check_prompts([prompt])
    (seed,) = explore.check_seeds([seed])
    explore.check_truncation_and_batch(truncation, batch_size, limits)
    steps = _check_count("strip steps", steps, "max_strip", limits, minimum=2)
    if isinstance(span, bool) or not (math.isfinite(float(span)) and 0 < float(span) <= MAX_SPAN):
        raise ValueError(f"span must be in (0, {MAX_SPAN:g}] (in σ), got {span!r}")
    dirs = torch.as_tensor(vectors, dtype=torch.float32).reshape(len(vectors), -1) if len(vectors) else torch.empty(0)
    if dirs.shape[0] == 0:
        raise ValueError("no directions given: pick at least one component")
    limits.check("the number of directions (strip rows)", dirs.shape[0], "max_components")
    limits.check("the number of images (directions x steps)", dirs.shape[0] * steps, "max_images")
    dim = pipe.z_dim if space == "noise" else pipe.clip.embed_dim
    if dirs.shape[1] != dim:
        raise ValueError(f"{space} directions of this model have {dim} dims, got {dirs.shape[1]}: compute them for this model")
    sig = torch.as_tensor(list(sigmas), dtype=torch.float64)
    if sig.shape[0] != dirs.shape[0] or not torch.isfinite(sig).all():
        raise ValueError(f"give one finite σ per direction ({dirs.shape[0]}), got {list(sigmas)}")
    amounts = torch.linspace(-float(span), float(span), steps, dtype=torch.float64)
    if steps % 2:
        amounts[steps // 2] = 0.0
    offsets = (amounts[None, :, None] * sig[:, None, None] * dirs.double()[:, None, :]).float().reshape(-1, dim)  # [rows*steps, dim]
    noise = noise_from_seeds([seed], pipe.z_dim, truncation)
    sentence = explore.encode(pipe, [prompt])
    n = offsets.shape[0]
    if space == "noise":
        noise, sentence = noise + offsets, sentence.expand(n, -1)
    else:
        noise, sentence = noise.expand(n, -1), sentence + offsets
    images = explore.synthesize(pipe, noise, sentence, batch_size, progress)
    labels = list(labels) if labels is not None else [f"{space} direction {k + 1}" for k in range(dirs.shape[0])]
    if len(labels) != dirs.shape[0]:
        raise ValueError(f"{dirs.shape[0]} directions need {dirs.shape[0]} labels, got {len(labels)}")
    recipe = explore.make_recipe(
        pipe, "direction_strip", space=space, vectors=dirs.double().tolist(), sigmas=sig.tolist(), prompt=prompt, seed=seed,
        steps=steps, span=float(span), labels=labels, truncation=truncation, batch_size=batch_size, made_by=made_by,
    )
    cols = [f"{v:+g}σ" if v else "0" for v in amounts.tolist()]
    return Render(images, recipe, dirs.shape[0], steps, sentence.contiguous(), noise.contiguous(), labels, cols)


def strips(
    pipe,
    directions: Directions,
    components: Sequence[int] = (0, 1, 2),
    *,
    prompt: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    **kwargs: Any,
) -> Render:
    """:func:`direction_strip` for components (0-based) of computed :class:`Directions`; the prompt
    defaults to the one noise directions were found at."""
    picked = [int(k) for k in components]
    bad = [k + 1 for k in picked if not 0 <= k < directions.vectors.shape[0]]
    if bad:
        raise ValueError(f"component {bad[0]} does not exist: these directions have components 1 to {directions.vectors.shape[0]}")
    prompt = prompt if prompt is not None else directions.settings.get("prompt")
    if prompt is None:
        raise ValueError("give the prompt of the image to move along the directions")
    return direction_strip(
        pipe, directions.space, directions.vectors[picked].tolist(), directions.sigma[picked].tolist(), prompt=prompt,
        labels=[directions.label(k) for k in picked], made_by=dict(directions.settings, components_shown=[k + 1 for k in picked]),
        limits=limits, **kwargs,
    )


# ------------------------------------------------------------------------------------------ prompt map
@dataclass
class PromptMap:
    """The vocabulary's sentence vectors laid out in 2-D.

    Attributes:
        prompts, vectors: the vocabulary ``[V]`` and its sentence vectors ``[V, D]``.
        coords: ``[V, 2]`` float64 map positions (``view`` ``pca``: coordinates along the first two
            sentence components; ``tsne``: a t-SNE embedding).
        settings: what made it (vocabulary, view, seed, perplexity).
        ratio: PCA view: the share of the variance each axis explains.
    """

    prompts: list[str]
    vectors: torch.Tensor
    coords: torch.Tensor
    view: str
    settings: dict[str, Any]
    ratio: list[float] = field(default_factory=list)
    size: int = 640
    margin: int = 24

    @functools.cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, xmax, ymin, ymax)`` of the points, padded by 5 % (computed once: ``coords`` is fixed)."""
        lo, hi = self.coords.min(0).values, self.coords.max(0).values
        pad = (hi - lo).clamp_min(1e-9) * 0.05
        return float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """Map coordinates → pixel of :meth:`image` (y grows upward on the map, downward in pixels)."""
        x0, x1, y0, y1 = self.bounds
        span = self.size - 2 * self.margin
        return self.margin + (x - x0) / (x1 - x0) * span, self.margin + (y1 - y) / (y1 - y0) * span

    def from_pixel(self, px: float, py: float) -> tuple[float, float]:
        """Pixel of :meth:`image` → map coordinates."""
        x0, x1, y0, y1 = self.bounds
        span = self.size - 2 * self.margin
        return x0 + (px - self.margin) / span * (x1 - x0), y1 - (py - self.margin) / span * (y1 - y0)

    def point_of(self, prompt: str) -> tuple[float, float]:
        """The map position of one of its prompts."""
        try:
            i = self.prompts.index(prompt)
        except ValueError:
            raise ValueError(f"“{prompt}” is not on this map: pick one of its vocabulary phrases") from None
        return float(self.coords[i, 0]), float(self.coords[i, 1])

    def nearest(self, point: Sequence[float], n: int = 3) -> list[str]:
        d = torch.cdist(torch.as_tensor([list(point)], dtype=torch.float64), self.coords)[0]
        return [self.prompts[i] for i in d.argsort()[:n].tolist()]

    def image(self, path: Sequence[Sequence[float]] | None = None, marker: Sequence[float] | None = None, labels: int = 80) -> Image.Image:
        """The map as a ``size`` px square: a dot per prompt, up to ``labels`` non-overlapping labels
        (spread over the map), an optional drawn ``path`` and a ``marker`` (a clicked point)."""
        im = Image.new("RGB", (self.size, self.size), (250, 250, 252))
        draw = ImageDraw.Draw(im)
        font = ImageFont.load_default(size=11)
        draw.rectangle([self.margin, self.margin, self.size - self.margin, self.size - self.margin], outline=(215, 215, 225))
        pts = [self.to_pixel(float(x), float(y)) for x, y in self.coords.tolist()]
        for px, py in pts:
            draw.ellipse([px - 2.5, py - 2.5, px + 2.5, py + 2.5], fill=(120, 90, 200))
        taken: list[tuple[float, float, float, float]] = []
        for i in _spread_order(self.coords)[: max(0, labels) * 4]:
            if len(taken) >= labels:
                break
            px, py = pts[i]
            text = self.prompts[i][:28]
            w = draw.textlength(text, font=font)
            box = (px + 4, py - 6, px + 4 + w, py + 7)
            if box[2] > self.size - 2:
                box = (px - 4 - w, py - 6, px - 4, py + 7)
            if any(not (box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3]) for b in taken):
                continue
            taken.append(box)
            draw.text((box[0], box[1]), text, fill=(40, 40, 60), font=font)
        if path is not None and len(path) >= 1:
            line = [self.to_pixel(float(x), float(y)) for x, y in path]
            if len(line) > 1:
                draw.line(line, fill=(230, 80, 40), width=3)
            for px, py in line:
                draw.ellipse([px - 4, py - 4, px + 4, py + 4], outline=(230, 80, 40), width=2)
        if marker is not None:
            px, py = self.to_pixel(float(marker[0]), float(marker[1]))
            draw.line([px - 9, py, px + 9, py], fill=(220, 30, 60), width=2)
            draw.line([px, py - 9, px, py + 9], fill=(220, 30, 60), width=2)
        axes = "x: PC1, y: PC2" if self.view == "pca" else "t-SNE"
        draw.text((self.margin, self.size - self.margin + 5), f"{axes} · {len(self.prompts)} prompts", fill=(110, 110, 130), font=font)
        return im

    def to_json(self) -> dict[str, Any]:
        """Prompts and positions (for the map PNG's sidecar, so points can be picked by hand)."""
        return {
            "format": "galip-prompt-map/1", "view": self.view, "settings": self.settings, "bounds": list(self.bounds),
            "points": [[p, float(x), float(y)] for p, (x, y) in zip(self.prompts, self.coords.tolist())],
        }


def _spread_order(coords: torch.Tensor) -> list[int]:
    """Farthest-point order (from the point nearest the centre), so early labels cover the map."""
    c = coords.double()
    n = c.shape[0]
    first = int((c - c.mean(0)).norm(dim=1).argmin())
    order, dist = [first], (c - c[first]).norm(dim=1)
    for _ in range(n - 1):
        i = int(dist.argmax())
        if dist[i] <= 0:
            break
        order.append(i)
        dist = torch.minimum(dist, (c - c[i]).norm(dim=1))
    seen = set(order)
    return order + [i for i in range(n) if i not in seen]


def prompt_map(
    pipe,
    vocabulary: str | os.PathLike | Sequence[str] | None = None,
    *,
    view: str = "pca",
    seed: int = 0,
    perplexity: float = 30.0,
    cache: bool | str | os.PathLike = True,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> PromptMap:
    """A 2-D map of the vocabulary's sentence vectors: ``view`` ``"pca"`` or ``"tsne"`` (seeded;
    ``perplexity`` is capped below a third of the vocabulary size)."""
    latent.check_choice("map view", view, VIEWS)
    prompts, source = _prompt_list(vocabulary, limits)
    (seed,) = explore.check_seeds([seed])
    perplexity = float(perplexity)
    if not (math.isfinite(perplexity) and perplexity > 0):
        raise ValueError(f"perplexity must be a positive number, got {perplexity}")
    perplexity = min(perplexity, max(1.0, (len(prompts) - 1) / 3))
    settings = {"view": view, "vocabulary": source, "vocabulary_size": len(prompts), "vocabulary_hash": _vocab_hash(prompts)}
    if view == "tsne":
        settings.update(seed=seed, perplexity=perplexity)

    def compute():
        vectors = _encode_all(pipe, prompts, progress)
        if view == "pca":
            res = pca(vectors, 2)
            return {"vectors": vectors, "coords": res.coords, "ratio": res.ratio}, {}
        from sklearn.manifold import TSNE

        coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, learning_rate="auto", max_iter=TSNE_ITERATIONS).fit_transform(vectors.double().numpy())
        return {"vectors": vectors, "coords": torch.from_numpy(np.ascontiguousarray(coords, dtype=np.float64))}, {}

    (t, _), _how = _cached(pipe, "prompt-map", settings, cache, compute)
    ratio = t["ratio"].tolist() if "ratio" in t else []
    return PromptMap(prompts, t["vectors"].float(), t["coords"].double(), view, settings, ratio)


def _check_point(point: Sequence[float]) -> list[float]:
    xy = [float(v) for v in point]
    if len(xy) != 2 or not all(math.isfinite(v) for v in xy):
        raise ValueError(f"a map point is a finite (x, y) pair, got {list(point)}")
    return xy


def _map_inputs(prompts: Sequence[str], coords: Sequence[Sequence[float]], neighbors: int, power: float, limits: Limits) -> tuple[list[str], torch.Tensor, int]:
    prompts = explore.check_prompts(prompts, "map prompts")
    limits.check("the vocabulary", len(prompts), "max_vocabulary")
    c = torch.as_tensor(coords, dtype=torch.float64)
    if c.shape != (len(prompts), 2) or not torch.isfinite(c).all():
        raise ValueError(f"{len(prompts)} map prompts need {len(prompts)} finite (x, y) positions, got shape {tuple(c.shape)}")
    neighbors = explore.whole_at_least("neighbors", neighbors, 1)
    limits.check("neighbors", neighbors, "max_prompts")
    if isinstance(power, bool) or not (math.isfinite(float(power)) and float(power) > 0):
        raise ValueError(f"power must be a positive number, got {power!r}")
    return prompts, c, neighbors


def map_point(
    pipe,
    prompts: Sequence[str],
    coords: Sequence[Sequence[float]],
    point: Sequence[float],
    *,
    seed: int = 0,
    truncation: float = 1.0,
    neighbors: int = DEFAULT_NEIGHBORS,
    power: float = 2.0,
    view: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Render:
    """The image at ``point`` of a map (``prompts`` at ``coords``): the distance-weighted blend of the
    nearest prompts, rendered as a style-knob blend (recipe kind ``style``, with the map point under
    ``map``), so any style-knob tool can open it and :func:`~.explore.render_recipe` makes it again."""
    prompts, c, neighbors = _map_inputs(prompts, coords, neighbors, power, limits)
    xy = _check_point(point)
    w = map_weights(c, xy, neighbors, power)
    used = [i for i in range(len(prompts)) if w[i] > 0]
    r = explore.style_knob(
        pipe, [prompts[i] for i in used], [float(w[i]) for i in used], seed=seed, normalize=True, truncation=truncation, limits=limits
    )
    r.recipe["map"] = {"point": xy, "view": view, "neighbors": neighbors, "power": float(power)}
    return r


def _render_points(
    pipe, prompts: list[str], coords: torch.Tensor, points: torch.Tensor, neighbors: int, power: float, seed: int,
    truncation: float, batch_size: int, progress: Progress | None,
) -> tuple[list[str], torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The images at map ``points`` ``[P, 2]`` with one seed: ``(anchor prompts, their positions,
    sentence [P, D], noise [P, Z], images)``; the anchors are the prompts the blends use (a recipe keeps only them)."""
    keep = _anchors(coords, points, neighbors)
    anchors, anchor_xy = [prompts[i] for i in keep], coords[keep]
    weights = map_weights(anchor_xy, points, neighbors, power)  # [P, A]
    sentence = latent.blend(explore.encode(pipe, anchors), weights.float(), normalize=False)
    noise = noise_from_seeds([seed], pipe.z_dim, truncation).expand(points.shape[0], -1).contiguous()
    return anchors, anchor_xy, sentence, noise, explore.synthesize(pipe, noise, sentence, batch_size, progress)


def parse_points(text: str) -> list[tuple[float, float]]:
    """Map points typed as ``x,y`` pairs separated by ``;``, new lines or spaces (``0.1,0.5; 1.2,-0.3``)."""
    points = []
    for item in text.replace(";", " ").split():
        try:
            x, y = (float(v) for v in item.split(","))
        except ValueError:
            raise ValueError(f"“{item}” is not a map point: write x,y pairs separated by ; (e.g. 0.1,0.5; 1.2,-0.3)") from None
        points.append(_check_point((x, y)))
    return [(x, y) for x, y in points]


def _polyline(path: torch.Tensor, progress: torch.Tensor, closed: bool) -> torch.Tensor:
    """Points at ``progress`` (0-1) of the polyline through ``path`` ``[P, 2]``, by arc length."""
    pts = torch.cat([path, path[:1]]) if closed else path
    seg = (pts[1:] - pts[:-1]).norm(dim=1)
    total = float(seg.sum())
    if total <= 0:
        return path[:1].expand(progress.shape[0], -1).clone()
    cum = torch.cat([torch.zeros(1, dtype=torch.float64), seg.cumsum(0)]) / total
    p = torch.remainder(progress, 1.0) if closed else progress.clamp(0, 1)
    xs = np.interp(p.numpy(), cum.numpy(), pts[:, 0].numpy())
    ys = np.interp(p.numpy(), cum.numpy(), pts[:, 1].numpy())
    out = torch.from_numpy(np.stack([xs, ys], axis=1))
    # Exact vertices (np.interp at a knot returns it, but keep the ends bit-exact regardless).
    out[p <= 0] = pts[0]
    return out


def map_walk(
    pipe,
    prompts: Sequence[str],
    coords: Sequence[Sequence[float]],
    path: Sequence[Sequence[float]],
    *,
    frames: int = 48,
    loop: bool = False,
    pingpong: bool = False,
    easing: str = "linear",
    seed: int = 0,
    truncation: float = 1.0,
    neighbors: int = DEFAULT_NEIGHBORS,
    power: float = 2.0,
    fps: float = 24.0,
    view: str | None = None,
    batch_size: int = 8,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Render:
    """A path drawn on the map as an animation: ``frames`` points at even arc length along the
    polyline through ``path`` (closed with ``loop``; ``easing`` shapes time over the whole path),
    each the map's blend at that point, all with the noise of ``seed``. Save it with
    :func:`~.explore.save_render` as GIF or MP4; the recipe keeps only the prompts the frames use."""
    prompts, c, neighbors = _map_inputs(prompts, coords, neighbors, power, limits)
    latent.check_choice("easing", easing, tuple(latent.EASINGS))
    (seed,) = explore.check_seeds([seed])
    explore.check_truncation_and_batch(truncation, batch_size, limits)
    frames = _check_count("frames", frames, "max_frames", limits, minimum=2)
    if not (math.isfinite(float(fps)) and float(fps) > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    limits.check("fps", float(fps), "max_fps")
    if loop and pingpong:
        raise ValueError("choose loop or pingpong, not both: a loop already returns to its start")
    pts = torch.as_tensor([_check_point(p) for p in path], dtype=torch.float64).reshape(-1, 2)
    if pts.shape[0] < 2:
        raise ValueError("a map path needs at least 2 points")
    limits.check("path points", pts.shape[0], "max_path_points")
    where = latent.ease(latent.frame_progress(frames, bool(loop)), easing)
    points = _polyline(pts, where, bool(loop))
    anchors, anchor_xy, sentence, noise, images = _render_points(pipe, prompts, c, points, neighbors, power, seed, truncation, batch_size, progress)
    order = latent.pingpong_order(frames) if pingpong else list(range(frames))
    recipe = explore.make_recipe(
        pipe, "map_walk", prompts=anchors, coords=anchor_xy.tolist(), path=pts.tolist(), frames=frames, loop=bool(loop),
        pingpong=bool(pingpong), easing=easing, seed=seed, truncation=truncation, neighbors=neighbors, power=float(power),
        fps=float(fps), view=view, batch_size=batch_size,
    )
    cols = math.ceil(math.sqrt(len(order)))
    return Render(
        images[order], recipe, math.ceil(len(order) / cols), cols, sentence[order], noise[order],
        progress=[float(where[i]) for i in order], fps=float(fps),
    )


def map_grid(
    pipe,
    prompts: Sequence[str],
    coords: Sequence[Sequence[float]],
    *,
    rows: int = 6,
    cols: int | None = None,
    bounds: Sequence[float] | None = None,
    seed: int = 0,
    truncation: float = 1.0,
    neighbors: int = DEFAULT_NEIGHBORS,
    power: float = 2.0,
    view: str | None = None,
    batch_size: int = 8,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Render:
    """An atlas of the map: ``rows`` x ``cols`` images at an even lattice over ``bounds``
    (``xmin, xmax, ymin, ymax``; default: the points' extent), top row = highest y, each the map's
    blend there with one seed; a caption names each row's nearest prompt at its left end."""
    prompts, c, neighbors = _map_inputs(prompts, coords, neighbors, power, limits)
    (seed,) = explore.check_seeds([seed])
    explore.check_truncation_and_batch(truncation, batch_size, limits)
    cols = rows if cols is None else cols
    rows, cols = explore.whole_at_least("grid rows", rows, 2), explore.whole_at_least("grid columns", cols, 2)
    limits.check("grid rows", rows, "max_grid")
    limits.check("grid columns", cols, "max_grid")
    limits.check("the number of images (rows x columns)", rows * cols, "max_images")
    if bounds is None:
        lo, hi = c.min(0).values, c.max(0).values
        bounds = [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])]
    b = [float(v) for v in bounds]
    if len(b) != 4 or not all(math.isfinite(v) for v in b):
        raise ValueError(f"bounds are four finite numbers (xmin, xmax, ymin, ymax), got {list(bounds)}")
    xs = b[0] + latent.grid_positions(cols) * (b[1] - b[0])
    ys = b[3] - latent.grid_positions(rows) * (b[3] - b[2])
    points = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1).reshape(-1, 2)
    anchors, anchor_xy, sentence, noise, images = _render_points(pipe, prompts, c, points, neighbors, power, seed, truncation, batch_size, progress)
    nearest = torch.cdist(points, anchor_xy).argmin(dim=1).tolist()
    row_labels = [f"y {float(ys[r]):.2f}: {explore.short(anchors[nearest[r * cols]], 30)} …" for r in range(rows)]
    recipe = explore.make_recipe(
        pipe, "map_grid", prompts=anchors, coords=anchor_xy.tolist(), rows=rows, cols=cols, bounds=b, seed=seed,
        truncation=truncation, neighbors=neighbors, power=float(power), view=view, batch_size=batch_size,
    )
    return Render(images, recipe, rows, cols, sentence, noise, row_labels, [f"x {v:.2f}" for v in xs.tolist()])
