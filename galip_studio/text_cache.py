"""Sentence vectors of the frozen CLIP, cached per text: the one cache the pipeline and the trainer share.

The CLIP never changes while a pipeline or a training run holds it, so a text's vector is computed
once and kept until it is the least recently used of more than ``max_entries``.

A cache can be written to a file (:meth:`SentenceCache.save`) and read back (:meth:`SentenceCache.load`,
:func:`read_text_cache`): the captions of a data set are encoded once, by a machine that has the
CLIP's text tower, and a training run elsewhere takes their vectors from the file. The file is a
safetensors file with one tensor ``vectors [N, embed_dim]`` and, in its metadata, the format name
and a JSON string with the N texts (row order), the chunk size they were encoded with and the
fingerprint of the CLIP text tower (:func:`text_fingerprint`); a file made with another CLIP is
refused. The vectors are float32 (bit for bit what the CLIP computed) unless the file was written
with ``dtype=torch.float16`` to halve its size (then read back as float32 within fp16 rounding).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from typing import Any, Sequence

import torch

from .clip_backbone import ClipBackbone
from .files import save_safetensors

TEXT_CACHE_FORMAT = "galip-studio-text-cache"
TEXT_CACHE_VERSION = 1
TEXT_CACHE_DTYPES = {"float32": torch.float32, "float16": torch.float16}


class TextCacheError(ValueError):
    """A sentence-vector file is missing, not one, or was made with another CLIP (message names the fix)."""


def text_fingerprint(clip: ClipBackbone) -> str:
    """A hash of what decides a sentence vector: the CLIP architecture minus its image tower, and the
    values of every text-side weight that our files hold. A text tower that comes from an installed
    package (:meth:`ClipBackbone.external_keys`) counts by its name in the architecture, not by its
    weights, so the fingerprint is the same whether or not those weights are loaded."""
    digest = hashlib.sha256()
    arch = {k: v for k, v in clip.arch.items() if k not in ("vision_cfg", "preprocess_cfg")}
    digest.update(json.dumps(arch, sort_keys=True, default=str).encode())
    skip = clip.external_keys() | {"logit_scale", "logit_bias"}
    for name, tensor in sorted(clip.model.state_dict().items()):
        if name.startswith("visual.") or name in skip:
            continue
        value = tensor.detach().cpu()
        value = value.float() if value.is_floating_point() else value
        digest.update(f"{name}:{tuple(value.shape)}:{value.dtype}".encode())
        digest.update(value.contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def read_text_cache(path: str | os.PathLike) -> tuple[list[str], torch.Tensor, dict[str, Any]]:
    """The texts, their ``[N, embed_dim]`` float32 vectors (CPU; fp16 files are widened) and the
    metadata of a file written by :meth:`SentenceCache.save`; raises :class:`TextCacheError` for
    anything that is not one."""
    from safetensors import SafetensorError
    from safetensors import safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise TextCacheError(f"sentence-vector file not found: {path}")
    try:
        with safe_open(path, framework="pt") as f:  # one read for the metadata and the vectors
            meta = f.metadata() or {}
            vectors = f.get_tensor("vectors") if "vectors" in f.keys() else None
    except (SafetensorError, OSError, ValueError) as e:
        raise TextCacheError(f"{path} is not a sentence-vector file (not safetensors: {e})") from e
    if meta.get("format") != TEXT_CACHE_FORMAT:
        raise TextCacheError(f"{path} is not a sentence-vector file (written by `galip-studio text-cache`)")
    try:
        info = json.loads(meta["info"])
        texts = info["texts"]
        ok = isinstance(texts, list) and all(isinstance(t, str) for t in texts) and isinstance(info["fingerprint"], str)
    except (KeyError, TypeError, json.JSONDecodeError):
        ok = False
    if (not ok or vectors is None or vectors.dim() != 2 or vectors.shape[0] != len(texts)
            or vectors.dtype not in TEXT_CACHE_DTYPES.values()):
        raise TextCacheError(f"{path} is a damaged sentence-vector file (texts and vectors do not match)")
    if len(set(texts)) != len(texts):  # two vectors for one text: which one a run would use is undefined
        counts: dict[str, int] = {}
        for text in texts:
            counts[text] = counts.get(text, 0) + 1
        twice = next(text for text, n in counts.items() if n > 1)
        raise TextCacheError(
            f"{path} lists the text {twice[:80]!r} more than once; a sentence-vector file holds one vector per text: "
            f"write it again with galip-studio text-cache"
        )
    return texts, vectors.float(), info


class SentenceCache:
    """``cache(texts)`` is ``[len(texts), embed_dim]`` float32 sentence vectors on the CLIP's device.

    ``chunk=None`` encodes the texts not yet cached in one call. ``chunk=N`` encodes them in calls of
    exactly ``N`` rows, padded with empty texts, so that a text's vector never depends on which other
    texts were encoded with it: the trainer needs this for resumed runs to repeat uninterrupted ones
    bit for bit.
    """

    def __init__(self, clip: ClipBackbone, max_entries: int, chunk: int | None = None):
        if chunk is not None and chunk < 1:
            raise ValueError(f"chunk must be at least 1, got {chunk}")
        self.clip = clip
        self.max_entries = max_entries
        self.chunk = chunk
        self._vectors: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._loaded: dict[str, int] = {}  # text -> row of self._loaded_vectors (from a file; never evicted)
        self._loaded_vectors: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self._loaded) + len(self._vectors)  # a text is never in both

    def __contains__(self, text: object) -> bool:
        return text in self._loaded or text in self._vectors

    def clear(self) -> None:
        """Forget every vector (the CLIP moved to another device or dtype), those from a file too."""
        self._vectors.clear()
        self._loaded, self._loaded_vectors = {}, None

    def save(self, path: str | os.PathLike, dtype: torch.dtype = torch.float32, texts: Sequence[str] | None = None) -> int:
        """Write every vector held (from a file and encoded), or those of ``texts`` (each must be held),
        to ``path`` (see the module docstring) as ``dtype``: float32 (exact) or float16 (half the size;
        a run that reads it is then no longer bit for bit one that encodes the texts itself). Returns
        how many."""
        if dtype not in TEXT_CACHE_DTYPES.values():
            raise ValueError(f"a sentence-vector file holds float32 or float16, not {dtype}")
        if texts is None:
            texts = list(dict.fromkeys([*self._loaded, *self._vectors]))  # each text once (the reader refuses repeats)
        else:
            texts = list(dict.fromkeys(texts))
            missing = [t for t in texts if t not in self]
            if missing:
                raise KeyError(f"{len(missing)} texts to save are not in the cache, e.g. {missing[0]!r}")
        rows = [self._lookup(t).cpu() for t in texts]
        vectors = torch.stack(rows) if rows else torch.empty(0, self.clip.embed_dim)
        info = {"version": TEXT_CACHE_VERSION, "fingerprint": text_fingerprint(self.clip), "chunk": self.chunk,
                "embed_dim": int(vectors.shape[1]), "texts": texts}
        stored = vectors.to(dtype)
        if not bool(torch.isfinite(stored).all()):
            raise ValueError(f"a sentence vector does not fit in {dtype} (overflow); save as float32")
        save_safetensors({"vectors": stored}, path, metadata={"format": TEXT_CACHE_FORMAT, "info": json.dumps(info)})
        return len(texts)

    def load(self, path: str | os.PathLike) -> int:
        """Take the vectors of a file written by :meth:`save` (kept whatever ``max_entries`` says);
        refused unless it was made with this CLIP and this chunk size. Returns how many."""
        texts, vectors, info = read_text_cache(path)
        if info["fingerprint"] != text_fingerprint(self.clip):
            raise TextCacheError(f"{os.fspath(path)} was made with another CLIP text tower; write it again with this model's CLIP")
        if info.get("chunk") != self.chunk:
            raise TextCacheError(
                f"{os.fspath(path)} was encoded in chunks of {info.get('chunk')}, this cache encodes in chunks of {self.chunk}; "
                f"the vectors would differ in their last bits"
            )
        self._loaded = {t: i for i, t in enumerate(texts)}
        self._loaded_vectors = vectors.to(self.clip.device)
        return len(texts)

    def _lookup(self, text: str) -> torch.Tensor:
        row = self._loaded.get(text)
        if row is not None and self._loaded_vectors is not None:
            return self._loaded_vectors[row]
        return self._vectors[text]

    def _encode_missing(self, texts: list[str]) -> None:
        size = self.chunk or max(len(texts), 1)
        for i in range(0, len(texts), size):
            part = texts[i : i + size]
            padding = [""] * (size - len(part)) if self.chunk else []
            for text, vector in zip(part, self.clip.encode_text(part + padding)):
                self._vectors[text] = vector.float()

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        texts = list(texts)
        self._encode_missing([t for t in dict.fromkeys(texts) if t not in self])
        for t in texts:
            if t not in self._loaded:
                self._vectors.move_to_end(t)
        out = [self._lookup(t) for t in texts]
        while len(self._vectors) > self.max_entries:
            self._vectors.popitem(last=False)
        return torch.stack(out) if out else torch.empty(0, self.clip.embed_dim, device=self.clip.device)
