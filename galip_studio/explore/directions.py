"""Discovered directions: find out what GALIP's space holds without knowing what to type.

Every result is a :class:`~.recipe.Render` with a recipe that :func:`~.recipe.render_recipe` makes
again; every size is bounded by :class:`~.recipe.Limits`::

    from galip_studio import explore

    nd = explore.noise_directions(pipe, "a red heart", components=8, samples=512)   # GANSpace on the noise
    sd = explore.sentence_directions(pipe, components=8)           # PCA of the vocabulary's sentence vectors
    r = explore.strips(pipe, sd, [0, 1, 2], prompt="a red heart", seed=0, steps=7)   # rows: components, -3σ … +3σ

This module also holds what :mod:`~galip_studio.explore.map` (the 2-D map of a vocabulary) shares
with the directions: :func:`pca`, the vocabulary (:func:`load_vocabulary`, :func:`prompt_list`,
:func:`vocab_hash`), :func:`encode_all` and the on-disk cache (:func:`cache_path`,
:func:`cached_result`).

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

**Caching.** Computed directions and maps are saved in a cache folder, never in the checkpoint's
own folder (which may be read-only or shared): ``$GALIP_STUDIO_CACHE``, else
``$XDG_CACHE_HOME/galip-studio``, else ``~/.cache/galip-studio``, in ``discover/``. A file's key
holds the settings that made it and the model's identity (its checkpoint folder, and the size and
time of its generator weights, so retrained weights are never matched with old directions). The
folder is bounded: at most ``$GALIP_STUDIO_CACHE_MB`` megabytes (default 256) of the cache's own
files, the least recently used deleted first (only files this cache wrote, by their names).
``cache=False`` turns it off; a folder given as ``cache`` is used (and bounded) instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .. import latent
from ..files import save_safetensors
from ..pipeline import noise_from_seeds
from .images import encode, synthesize
from .recipe import (
    DEFAULT_LIMITS, Limits, Progress, Render, check_prompts, check_seeds, check_truncation_and_batch, make_recipe, model_info,
    recipe_kind, whole_at_least,
)

SPACES = ("noise", "sentence")
BUNDLED = "bundled"
CACHE_VERSION = 1
MAX_SPAN = 10.0


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


# ------------------------------------------------------------------------------------------ vocabulary
def check_count(what: str, n: int, limit_name: str, limits: Limits, minimum: int = 1) -> int:
    """``n`` as a whole number of at least ``minimum``, within ``limits``' ``limit_name``."""
    n = whole_at_least(what, n, minimum)
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


def vocab_hash(prompts: Sequence[str]) -> str:
    """A short hash of the phrases in order (part of a cached result's settings)."""
    return hashlib.sha256("\n".join(prompts).encode("utf-8")).hexdigest()[:16]


def prompt_list(vocabulary: str | os.PathLike | Sequence[str] | None, limits: Limits) -> tuple[list[str], str]:
    """``(prompts, source)`` of a vocabulary given as :func:`load_vocabulary` takes it, or as a list
    of phrases (source ``"given"``; duplicates dropped, at least 3, bounded by ``max_vocabulary``)."""
    if vocabulary is None or isinstance(vocabulary, (str, os.PathLike)):
        return load_vocabulary(vocabulary, limits)
    prompts = check_prompts(list(dict.fromkeys(vocabulary)), "vocabulary phrases")
    if len(prompts) < 3:
        raise ValueError(f"a vocabulary needs at least 3 distinct phrases, got {len(prompts)}")
    limits.check("the vocabulary", len(prompts), "max_vocabulary")
    return prompts, "given"


def encode_all(pipe, prompts: Sequence[str], progress: Progress | None, chunk: int = 128) -> torch.Tensor:
    """Sentence vectors of many prompts, in chunks (so ``progress`` moves and locks are short)."""
    out = []
    for i in range(0, len(prompts), chunk):
        out.append(encode(pipe, prompts[i : i + chunk]))
        if progress is not None:
            progress(min(i + chunk, len(prompts)), len(prompts))
    return torch.cat(out)


# ------------------------------------------------------------------------------------------ cache
CACHE_MB = 256  # default bound of the cache folder (GALIP_STUDIO_CACHE_MB)
CACHE_KINDS = ("noise-directions", "sentence-directions", "prompt-map", "image-gap")
_CACHE_NAME = re.compile(rf"({'|'.join(CACHE_KINDS)})-[0-9a-f]{{16}}\.safetensors")


def cache_root() -> Path:
    """The cache folder: ``$GALIP_STUDIO_CACHE``, else ``$XDG_CACHE_HOME/galip-studio``, else
    ``~/.cache/galip-studio``."""
    if os.environ.get("GALIP_STUDIO_CACHE"):
        return Path(os.environ["GALIP_STUDIO_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache") / "galip-studio"


def cache_limit() -> int:
    """The most bytes of cached results the folder keeps (``$GALIP_STUDIO_CACHE_MB``, default 256)."""
    text = os.environ.get("GALIP_STUDIO_CACHE_MB", "").strip()
    if not text:
        return CACHE_MB * 1024**2
    try:
        mb = float(text)
    except ValueError:
        mb = math.nan
    if not (math.isfinite(mb) and mb >= 0):
        raise ValueError(f"GALIP_STUDIO_CACHE_MB is {text!r}; set it to a number of megabytes such as {CACHE_MB} (0 keeps nothing)")
    return int(mb * 1024**2)


def _fingerprint(pipe) -> dict[str, Any]:
    """What identifies the weights: the model's sizes, its checkpoint folder (or official file), and
    the size and time of its generator weights."""
    info = model_info(pipe)
    out = {k: info.get(k) for k in ("source", "id", "image_size", "z_dim", "sentence_dim", "seed")}
    out["id"] = str(out["id"]) if out["id"] is not None else None
    path = _checkpoint_dir(pipe)
    weights = path / "generator.safetensors" if path is not None else None
    if info["source"] == "official" and out["id"] and Path(out["id"]).is_file():
        weights = Path(out["id"]).resolve()
        out["folder"] = str(weights)
    elif path is not None:
        out["folder"] = str(path)
    if weights is not None and weights.is_file():
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
    info = model_info(pipe)
    return info["source"] in ("checkpoint", "official", "preset")


def cache_path(pipe, kind: str, settings: dict[str, Any], cache: bool | str | os.PathLike = True) -> Path | None:
    """Where the cached result of ``kind`` with ``settings`` lives (``None``: not cached): in
    ``cache`` if it is a folder, else in :func:`cache_root`'s ``discover/``."""
    if cache is False or not _cacheable(pipe):
        return None
    if kind not in CACHE_KINDS:
        raise ValueError(f"unknown cache kind {kind!r}")
    key = hashlib.sha256(json.dumps({"v": CACHE_VERSION, "kind": kind, "model": _fingerprint(pipe), **settings}, sort_keys=True).encode()).hexdigest()[:16]
    name = f"{kind}-{key}.safetensors"
    folder = Path(cache) if cache is not True else cache_root() / "discover"
    return folder / name


def _load_cached(path: Path | None) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    if path is None or not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("galip-discover", "{}"))
            found = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, ValueError, RuntimeError):
        return None  # a broken cache file is recomputed
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: evicted last
    return found, meta


def cache_files(folder: Path) -> list[Path]:
    """The files the cache wrote in ``folder`` (by their names), least recently used first."""
    try:
        entries = [p for p in folder.iterdir() if _CACHE_NAME.fullmatch(p.name) and p.is_file() and not p.is_symlink()]
    except OSError:
        return []
    stamped = []
    for p in entries:
        with contextlib.suppress(OSError):
            stamped.append((p.stat().st_mtime_ns, p.name, p))
    return [p for *_, p in sorted(stamped)]


def _evict(folder: Path, limit: int, keep: Path | None = None) -> None:
    """Delete the least recently used of the cache's own files in ``folder`` until they take at
    most ``limit`` bytes (``keep``, the file just written, goes last)."""
    files = [p for p in cache_files(folder) if p != keep] + ([keep] if keep is not None and keep.is_file() else [])
    sizes = {}
    for p in files:
        with contextlib.suppress(OSError):
            sizes[p] = p.stat().st_size
    total = sum(sizes.values())
    for p in files:
        if total <= limit:
            break
        with contextlib.suppress(OSError):
            p.unlink()
        total -= sizes.get(p, 0)


def _save_cached(path: Path | None, tensors: dict[str, torch.Tensor], meta: dict[str, Any], limit: int) -> Path | None:
    """Save a result (if it fits in ``limit`` bytes) and evict what no longer fits; the path written."""
    if path is None:
        return None
    if sum(t.numel() * t.element_size() for t in tensors.values()) > limit:
        _evict(path.parent, limit)  # a lowered bound applies to what is there
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_safetensors(tensors, path, metadata={"galip-discover": json.dumps(meta)})
    except OSError:
        return None  # a cache that cannot be written is only slower next time
    _evict(path.parent, limit, keep=path)
    return path if path.is_file() else None


def cached_result(pipe, kind: str, settings: dict[str, Any], cache, compute):
    """``((tensors, meta), how)``: the cached result of ``kind`` with ``settings`` if there is one
    (``how`` ``"hit"``), else ``compute()`` (``(tensors, extra meta)``), saved when ``cache`` allows
    (``how``: the path written, or ``None``)."""
    path = cache_path(pipe, kind, settings, cache)
    limit = cache_limit() if path is not None else 0  # a wrong GALIP_STUDIO_CACHE_MB fails before the work
    hit = _load_cached(path)
    if hit is not None and hit[1].get("settings") == settings:
        return hit, "hit"
    tensors, extra = compute()
    written = _save_cached(path, tensors, {"settings": settings, **extra}, limit)
    return (tensors, {"settings": settings, **extra}), (str(written) if written is not None else None)


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
    (prompt,) = check_prompts([prompt])
    components = check_count("components", components, "max_components", limits)
    samples = check_count("samples", samples, "max_samples", limits, minimum=max(2, components + 1))
    (seed,) = check_seeds([seed])
    batch_size = whole_at_least("batch_size", batch_size, 1)
    limits.check("batch_size", batch_size, "max_batch_size")
    settings = {"space": "noise", "prompt": prompt, "samples": samples, "seed": seed, "components": components, "activation": "bridge"}

    def compute():
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(samples, pipe.z_dim, generator=gen)
        sentence = encode(pipe, [prompt])
        feats = bridge_features(pipe, z, sentence.expand(samples, -1), batch_size, progress)
        res = pca(feats, components)
        u = regress_directions(res.coords, z)
        u = u / u.norm(dim=1, keepdim=True).clamp_min(1e-12)
        sigma = ((z.double() - z.double().mean(0)) @ u.T).std(0)
        return {"vectors": u.float(), "sigma": sigma, "ratio": res.ratio}, {}

    (t, meta), how = cached_result(pipe, "noise-directions", settings, cache, compute)
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
    prompts, source = prompt_list(vocabulary, limits)
    components = check_count("components", components, "max_components", limits)
    settings = {"space": "sentence", "vocabulary": source, "vocabulary_size": len(prompts), "vocabulary_hash": vocab_hash(prompts), "components": components}

    def compute():
        res = pca(encode_all(pipe, prompts, progress), components)
        order = res.coords.argsort(dim=0)
        ends = [[[prompts[i] for i in order[:3, k].tolist()], [prompts[i] for i in order[-3:, k].flip(0).tolist()]] for k in range(res.coords.shape[1])]
        return {"vectors": res.components.float(), "sigma": res.sigma, "ratio": res.ratio}, {"ends": ends}

    (t, meta), how = cached_result(pipe, "sentence-directions", settings, cache, compute)
    return Directions("sentence", t["vectors"], t["sigma"], t["ratio"], settings, ends=meta.get("ends", []), cached=how)


@recipe_kind("direction_strip")
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
    (prompt,) = check_prompts([prompt])
    (seed,) = check_seeds([seed])
    check_truncation_and_batch(truncation, batch_size, limits)
    steps = check_count("strip steps", steps, "max_strip", limits, minimum=2)
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
    sentence = encode(pipe, [prompt])
    n = offsets.shape[0]
    if space == "noise":
        noise, sentence = noise + offsets, sentence.expand(n, -1)
    else:
        noise, sentence = noise.expand(n, -1), sentence + offsets
    images = synthesize(pipe, noise, sentence, batch_size, progress)
    labels = list(labels) if labels is not None else [f"{space} direction {k + 1}" for k in range(dirs.shape[0])]
    if len(labels) != dirs.shape[0]:
        raise ValueError(f"{dirs.shape[0]} directions need {dirs.shape[0]} labels, got {len(labels)}")
    recipe = make_recipe(
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
