"""App plumbing without a server: checkpoint discovery, the model store and its locks, the serve command."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from galip_studio.cli import build_parser
from galip_studio.pipeline import GALIPPipeline
from galip_studio.cli import serve as ui_cli
from galip_studio.ui.models import (
    DEFAULT_SPEC,
    INIT_HINT,
    LockedPipeline,
    ModelHandle,
    ModelLoadError,
    ModelSpec,
    ModelStore,
    find_checkpoints,
    pipeline_of,
    resolve_checkpoint,
)


def _fake_checkpoint(path, mtime: float) -> None:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"format": "galip-studio"}))
    os.utime(path / "config.json", (mtime, mtime))


def test_find_checkpoints_newest_first_skipping_temporaries(tmp_path):
    now = time.time()
    _fake_checkpoint(tmp_path / "checkpoints" / "old", now - 100)
    _fake_checkpoint(tmp_path / "runs" / "exp" / "checkpoints" / "step_10", now - 10)
    _fake_checkpoint(tmp_path / "checkpoints" / ".new.tmp-abc", now)
    _fake_checkpoint(tmp_path / "checkpoints" / "prev.old", now)
    (tmp_path / "checkpoints" / "other").mkdir()
    (tmp_path / "checkpoints" / "other" / "config.json").write_text('{"not": "ours"}')
    found = find_checkpoints([tmp_path])
    assert [p.name for p in found] == ["step_10", "old"]


def test_resolve_checkpoint_order_and_message(tmp_path, monkeypatch):
    monkeypatch.setenv("GALIP_STUDIO_CHECKPOINT", str(tmp_path / "bundled"))
    with pytest.raises(ModelLoadError) as e:
        resolve_checkpoint(None, roots=[tmp_path])
    assert INIT_HINT in str(e.value) and "\n" not in str(e.value)
    _fake_checkpoint(tmp_path / "checkpoints" / "mine", time.time())
    assert resolve_checkpoint(None, roots=[tmp_path]).name == "mine"
    _fake_checkpoint(tmp_path / "bundled", time.time() - 1000)
    assert resolve_checkpoint(None, roots=[tmp_path]) == tmp_path / "bundled"  # the bundled model wins
    assert resolve_checkpoint(str(tmp_path / "checkpoints" / "mine")).name == "mine"
    with pytest.raises(ModelLoadError, match="not found"):
        resolve_checkpoint(str(tmp_path / "nope"))


def test_store_pins_default_and_evicts_least_recent(tiny_pipeline, tiny_checkpoint, tmp_path):
    from galip_studio.checkpoint import save_checkpoint

    other = tmp_path / "other"
    save_checkpoint(tiny_pipeline.model, other)
    store = ModelStore(tiny_pipeline, max_extra=1)
    a, b = ModelSpec("checkpoint", str(tiny_checkpoint)), ModelSpec("checkpoint", str(other))
    assert store.entry(DEFAULT_SPEC).pipeline is tiny_pipeline
    first = store.entry(a).pipeline
    assert store.entry(a).pipeline is first  # cached
    store.entry(b)
    assert store.loaded() == [DEFAULT_SPEC, b]  # a evicted, the default stays
    assert store.entry(a).pipeline is not first  # reloaded on demand
    with pytest.raises(ModelLoadError, match="could not load missing: it is not a checkpoint") as e:
        store.entry(ModelSpec("checkpoint", str(tmp_path / "missing")))
    assert str(tmp_path) not in str(e.value)  # the details go to the server log, not to clients
    locked = ModelStore(tiny_pipeline, allow_loading=False)
    with pytest.raises(ModelLoadError, match="does not allow"):
        locked.entry(a)


def test_store_loads_default_lazily(tiny_pipeline):
    calls = []
    store = ModelStore(lambda: calls.append(1) or tiny_pipeline)
    assert calls == []
    assert ModelHandle(store).pipeline.image_size == 32
    ModelHandle(store).pipeline.encode("x")
    assert calls == [1]


def test_locked_pipeline_serialises_model_calls(tiny_pipeline):
    lock = threading.Lock()
    view = LockedPipeline(tiny_pipeline, lock)
    assert view.z_dim == tiny_pipeline.z_dim and view.clip is tiny_pipeline.clip
    done = []
    with lock:
        worker = threading.Thread(target=lambda: done.append(view.encode("a red apple").shape))
        worker.start()
        worker.join(0.5)
        assert worker.is_alive() and not done  # waits for the lock
    worker.join(30)
    assert done == [(1, tiny_pipeline.clip.embed_dim)]
    assert pipeline_of(tiny_pipeline) is tiny_pipeline
    assert isinstance(pipeline_of(ModelHandle(ModelStore(tiny_pipeline))), LockedPipeline)


def test_serve_is_registered_and_reuses_model_options():
    args = build_parser().parse_args(["serve", "--checkpoint", "ck", "--port", "8000", "--host", "0.0.0.0", "--share", "--lock-model"])
    assert args.func is ui_cli.cmd_serve
    assert (args.checkpoint, args.port, args.host, args.share, args.lock_model) == ("ck", 8000, "0.0.0.0", True, True)
    args = build_parser().parse_args(["serve", "--official", "pre_coco.pth", "--clip-weights", "ViT-B-32.pt"])
    assert (args.official, args.clip_weights, args.host, args.port) == ("pre_coco.pth", "ViT-B-32.pt", "127.0.0.1", None)


def test_app_py_errors_are_one_line(tmp_path, capsys):
    assert ui_cli.main(["--checkpoint", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("app.py: error:") and "not found" in err and "\n" not in err


def test_load_default_pipeline_finds_newest(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("GALIP_STUDIO_CHECKPOINT", str(tmp_path / "no-bundled-model"))
    monkeypatch.chdir(tmp_path)
    import shutil

    shutil.copytree(tiny_checkpoint, tmp_path / "checkpoints" / "found")
    args = build_parser().parse_args(["serve", "--device", "cpu"])
    monkeypatch.setattr("galip_studio.ui.models.REPO_ROOT", tmp_path)
    pipe = ui_cli.load_default_pipeline(args)
    assert isinstance(pipe, GALIPPipeline) and pipe.metadata["path"].endswith("found")
