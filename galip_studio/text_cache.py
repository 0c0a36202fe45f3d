"""Sentence vectors of the frozen CLIP, cached per text: the one cache the pipeline and the trainer share.

The CLIP never changes while a pipeline or a training run holds it, so a text's vector is computed
once and kept until it is the least recently used of more than ``max_entries``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch

from .clip_backbone import ClipBackbone


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

    def __len__(self) -> int:
        return len(self._vectors)

    def __contains__(self, text: object) -> bool:
        return text in self._vectors

    def clear(self) -> None:
        """Forget every vector (the CLIP moved to another device or dtype)."""
        self._vectors.clear()

    def _encode_missing(self, texts: list[str]) -> None:
        size = self.chunk or max(len(texts), 1)
        for i in range(0, len(texts), size):
            part = texts[i : i + size]
            padding = [""] * (size - len(part)) if self.chunk else []
            for text, vector in zip(part, self.clip.encode_text(part + padding)):
                self._vectors[text] = vector.float()

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        texts = list(texts)
        self._encode_missing([t for t in dict.fromkeys(texts) if t not in self._vectors])
        for t in texts:
            self._vectors.move_to_end(t)
        out = [self._vectors[t] for t in texts]
        while len(self._vectors) > self.max_entries:
            self._vectors.popitem(last=False)
        return torch.stack(out) if out else torch.empty(0, self.clip.embed_dim, device=self.clip.device)
