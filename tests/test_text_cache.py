"""Sentence vectors written to a file and read back (``galip-studio text-cache``, ``train --text-cache``)."""

from __future__ import annotations

import copy

import pytest
import torch
from safetensors.torch import save_file

from galip_studio.text_cache import SentenceCache, TextCacheError, read_text_cache, text_fingerprint


def test_saved_vectors_come_back_bit_identical_and_are_never_evicted(tiny_model, tmp_path, monkeypatch):
    clip = tiny_model.clip
    texts = ["a red square", "a blue circle", "", "a picture of green number 3"]
    cache = SentenceCache(clip, max_entries=10, chunk=4)
    expected = cache(texts)
    assert cache.save(tmp_path / "v.safetensors") == 4
    names, vectors, info = read_text_cache(tmp_path / "v.safetensors")
    assert names == texts and vectors.dtype == torch.float32 and info["chunk"] == 4

    loaded = SentenceCache(clip, max_entries=1, chunk=4)
    assert loaded.load(tmp_path / "v.safetensors") == 4 and len(loaded) == 4
    monkeypatch.setattr(clip, "encode_text", lambda p: pytest.fail("a loaded text was encoded again"))
    for _ in range(2):  # max_entries=1 evicts encoded vectors only
        assert torch.equal(loaded(texts[::-1]), expected.flip(0))
    assert all(t in loaded for t in texts)
    loaded.save(tmp_path / "again.safetensors")  # what was loaded is saved again
    assert torch.equal(read_text_cache(tmp_path / "again.safetensors")[1], vectors)


def test_texts_missing_from_the_file_are_encoded_as_before(tiny_model, tmp_path):
    clip = tiny_model.clip
    SentenceCache(clip, 10, chunk=4)(["a", "b"])
    full = SentenceCache(clip, 10, chunk=4)
    full(["a", "b"])
    full.save(tmp_path / "v.safetensors")
    loaded = SentenceCache(clip, 10, chunk=4)
    loaded.load(tmp_path / "v.safetensors")
    assert torch.equal(loaded(["c", "a", "d"]), SentenceCache(clip, 10, chunk=4)(["c", "a", "d"]))
    assert len(loaded) == 4


def test_a_file_made_with_another_clip_or_chunk_is_refused(tiny_model, tmp_path):
    clip = tiny_model.clip
    cache = SentenceCache(clip, 10, chunk=4)
    cache(["a"])
    cache.save(tmp_path / "v.safetensors")
    other = copy.deepcopy(clip)
    with torch.no_grad():
        next(p for n, p in other.model.named_parameters() if not n.startswith("visual.")).add_(1e-3)
    assert text_fingerprint(other) != text_fingerprint(clip)
    with pytest.raises(TextCacheError, match="another CLIP text tower"):
        SentenceCache(other, 10, chunk=4).load(tmp_path / "v.safetensors")
    with pytest.raises(TextCacheError, match="chunks of 4"):
        SentenceCache(clip, 10, chunk=32).load(tmp_path / "v.safetensors")
    image_side = copy.deepcopy(clip)  # the image tower does not change a sentence vector
    with torch.no_grad():
        image_side.visual.conv1.weight.add_(1.0)
    assert text_fingerprint(image_side) == text_fingerprint(clip)


def test_a_file_that_is_not_a_sentence_cache_gives_a_clear_error(tiny_model, tmp_path):
    cache = SentenceCache(tiny_model.clip, 10, chunk=4)
    with pytest.raises(TextCacheError, match="not found"):
        cache.load(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(TextCacheError, match="not a sentence-vector file"):
        cache.load(tmp_path / "junk.safetensors")
    save_file({"vectors": torch.zeros(2, 4)}, str(tmp_path / "weights.safetensors"))
    with pytest.raises(TextCacheError, match="not a sentence-vector file"):
        cache.load(tmp_path / "weights.safetensors")
    save_file({"vectors": torch.zeros(2, 4)}, str(tmp_path / "bad.safetensors"),
              metadata={"format": "galip-studio-text-cache", "info": '{"texts": ["a"], "fingerprint": "x"}'})
    with pytest.raises(TextCacheError, match="damaged"):
        cache.load(tmp_path / "bad.safetensors")
