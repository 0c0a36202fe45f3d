"""Our checkpoint format: exact round trip, fp16 storage, atomic writes, and every bad-checkpoint error."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from galip_studio.checkpoint import CheckpointError, atomic_directory, load_checkpoint, save_checkpoint
from galip_studio.pipeline import GALIPPipeline
from conftest import make_tiny_model


def _images(pipe, seeds=(0, 1, 2)):
    return pipe("a red apple", seeds=list(seeds), output_type="pt").images


def test_round_trip_is_exact(tiny_model, tiny_checkpoint):
    loaded, config = load_checkpoint(tiny_checkpoint)
    for a, b in ((tiny_model.generator, loaded.generator), (tiny_model.discriminator, loaded.discriminator), (tiny_model.clip, loaded.clip)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert config["training"] == {"note": "test"}
    assert torch.equal(_images(GALIPPipeline(tiny_model)), _images(GALIPPipeline.from_pretrained(tiny_checkpoint)))


def test_config_json_describes_model_and_clip(tiny_checkpoint):
    cfg = json.loads((tiny_checkpoint / "config.json").read_text())
    assert cfg["format"] == "galip-studio"
    assert cfg["galip"]["img_size"] == 32
    assert cfg["clip"]["arch"]["vision_cfg"]["width"] == 32
    assert cfg["clip"]["tap_layers"] == [0, 1, 2]
    assert cfg["files"]["clip"] == "clip.safetensors"


def test_fp16_storage_loads_as_float32_and_close(tmp_path, tiny_model):
    save_checkpoint(tiny_model, tmp_path / "half", dtype="float16")
    loaded, _ = load_checkpoint(tmp_path / "half")
    assert next(loaded.generator.parameters()).dtype == torch.float32
    a, b = _images(GALIPPipeline(tiny_model)), _images(GALIPPipeline(loaded))
    assert (a - b).abs().max() < 0.05


def test_atomic_save_keeps_previous_checkpoint_on_failure(tmp_path, tiny_model):
    target = tmp_path / "ck"
    save_checkpoint(tiny_model, target)
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "config.json").write_text("{}")
            raise RuntimeError("killed while saving")
    load_checkpoint(target)  # the old one is intact
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_saved_checkpoints_are_readable_by_others_as_the_umask_allows(tmp_path, tiny_model):
    """A shared model folder must not come out private (mkdtemp's 0700, safetensors' 0600)."""
    import os

    old = os.umask(0o022)
    try:
        target = save_checkpoint(tiny_model, tmp_path / "ck")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o755
    assert {f.name: f.stat().st_mode & 0o777 for f in target.iterdir()} == {f.name: 0o644 for f in target.iterdir()}


def test_bad_checkpoints_give_clear_errors(tmp_path, tiny_checkpoint):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing")
    f = tmp_path / "pre_coco.pth"
    f.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="from_official"):
        load_checkpoint(f)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_checkpoint(tmp_path / "empty")

    def variant(name):
        d = tmp_path / name
        shutil.copytree(tiny_checkpoint, d)
        return d

    d = variant("badjson")
    (d / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(d)
    d = variant("badformat")
    (d / "config.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CheckpointError, match="not a GALIP Studio config"):
        load_checkpoint(d)
    d = variant("noweights")
    (d / "generator.safetensors").unlink()
    with pytest.raises(CheckpointError, match="generator weights missing"):
        load_checkpoint(d)
    d = variant("corrupt")
    (d / "generator.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(d)
    d = variant("wrongarch")
    cfg = json.loads((d / "config.json").read_text())
    cfg["galip"]["ngf"] = 16
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="do not match the architecture"):
        load_checkpoint(d)
    d = variant("newer")
    cfg = json.loads((d / "config.json").read_text())
    cfg["format_version"] = 99
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="upgrade"):
        load_checkpoint(d)


def test_another_model_gives_other_images(tmp_path, tiny_model):
    other = make_tiny_model(1)
    a, b = _images(GALIPPipeline(tiny_model)), _images(GALIPPipeline(other))
    assert not np.allclose(a.numpy(), b.numpy())
