"""Safe by default: no code from weights files, no deleted user files, bounded inputs, clear errors.

Each test is one probe of a hostile but fair user; the app's probes (confined loaders, sessions,
server log, SIGTERM) are at the end.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import struct
import warnings
import zlib
from pathlib import Path
from typing import Tuple

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_tiny_model
from galip_studio.checkpoint import CheckpointError, load_checkpoint, read_config, save_checkpoint
from galip_studio.cli import main
from galip_studio.clip_backbone import ClipError, _load_weights_file
from galip_studio.torchscript import TorchScriptError, read_torchscript_tensors
from galip_studio.config import TINY_CLIP_ARCH


# ------------------------------------------------------------------------------------------ TorchScript files
class EvilModule(torch.nn.Module):
    """A scripted module whose ``__setstate__`` (run by ``torch.jit.load``) creates a file."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker
        self.w = torch.nn.Parameter(torch.ones(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.w

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, torch.Tensor, bool]:
        return (self.marker, self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, torch.Tensor, bool]) -> None:
        self.marker = state[0]
        self.training = state[2]
        written = torch.from_file(self.marker, True, 2)  # creates the file: code ran
        self.w = state[1] + written * 0.0


def _script(module: torch.nn.Module) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated, but it is what such files are made with
        return torch.jit.script(module)


@pytest.fixture(scope="module")
def evil(tmp_path_factory) -> tuple[Path, Path]:
    """``(evil.pt, marker)``: loading evil.pt with torch.jit.load writes marker."""
    folder = tmp_path_factory.mktemp("evil")
    path, marker = folder / "evil.pt", folder / "MARKER"
    _script(EvilModule(str(marker))).save(str(path))
    assert not marker.exists()
    return path, marker


def test_the_evil_file_really_runs_code_under_torch_jit_load(evil, tmp_path):
    path, _ = evil
    marker = tmp_path / "jit-load-marker"
    other = tmp_path / "other.pt"
    _script(EvilModule(str(marker))).save(str(other))
    torch.jit.load(str(other))
    assert marker.exists()  # what the loader must never do
    with pytest.raises(RuntimeError, match="weights_only"):
        torch.load(str(other), weights_only=True)  # torch refuses TorchScript with weights_only, so read data.pkl ourselves


def _tiny_open_clip(seed: int):
    from open_clip.model import CLIP

    torch.manual_seed(seed)
    return CLIP(**copy.deepcopy(TINY_CLIP_ARCH)).eval()


def test_genuine_torchscript_clip_archive_loads_the_same_weights(tmp_path):
    source = _tiny_open_clip(0)
    path = tmp_path / "ViT-tiny.pt"
    _script(source).save(str(path))  # laid out as OpenAI's archives: <name>/data.pkl, data/N, code/
    tensors = read_torchscript_tensors(path)
    assert "visual.conv1.weight" in tensors and "transformer.resblocks.0.attn.in_proj_weight" in tensors
    target = _tiny_open_clip(1)
    _load_weights_file(target, str(path))
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        assert torch.equal(a, b), name


def test_evil_torchscript_refused_by_the_reader(evil):
    path, marker = evil
    with pytest.raises(ClipError, match="custom state"):
        _load_weights_file(_tiny_open_clip(0), str(path))
    assert not marker.exists()


def test_evil_torchscript_as_generate_clip_weights(evil, tiny_checkpoint, tmp_path, capsys):
    path, marker = evil
    rc = main(["generate", "a cat", "-n", "1", "--checkpoint", str(tiny_checkpoint), "--clip-weights", str(path), "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert rc == 1 and not marker.exists() and not (tmp_path / "x.png").exists()
    assert err.startswith("galip-studio: error:") and "custom state" in err and err.count("\n") == 1


def test_evil_torchscript_named_by_a_checkpoint_config(evil, tiny_checkpoint, tmp_path):
    path, marker = evil
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    config = json.loads((folder / "config.json").read_text())
    config["clip"]["pretrained"] = str(path)
    config["files"]["clip"] = None
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="a file outside the folder"):  # a config names no file elsewhere
        load_checkpoint(folder)
    shutil.copy(path, folder / "evil.pt")  # named from inside the folder, it is read, and runs nothing
    config["clip"]["pretrained"] = "evil.pt"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="custom state"):
        load_checkpoint(folder)
    assert not marker.exists()


def test_torchscript_with_foreign_globals_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "globals.pt"
    payload = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x/data.pkl", payload)
        zf.writestr("x/constants.pkl", b"\x80\x02).")
    with pytest.raises(TorchScriptError, match="os.system"):
        read_torchscript_tensors(path)


# ------------------------------------------------------------------------------------------ checkpoint files
def _edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        config[key] = value
    (folder / "config.json").write_text(json.dumps(config))


@pytest.fixture
def ckpt_copy(tiny_checkpoint, tmp_path) -> Path:
    folder = tmp_path / "copy"
    shutil.copytree(tiny_checkpoint, folder)
    return folder


@pytest.mark.parametrize("entry", ["/etc/passwd", "../generator.safetensors", "sub/generator.safetensors", "..", 7])
def test_files_entry_outside_the_checkpoint_is_refused(ckpt_copy, entry):
    config = json.loads((ckpt_copy / "config.json").read_text())
    _edit_config(ckpt_copy, files=dict(config["files"], generator=entry))
    with pytest.raises(CheckpointError, match="must be the name of a file inside the checkpoint folder"):
        load_checkpoint(ckpt_copy)


def test_format_version_not_a_number(ckpt_copy):
    _edit_config(ckpt_copy, format_version="99")
    with pytest.raises(CheckpointError, match="format_version '99'"):
        read_config(ckpt_copy)


def test_deeply_nested_config_json(ckpt_copy):
    (ckpt_copy / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="nested too deeply"):
        read_config(ckpt_copy)


def test_absurd_sizes_in_config_fail_before_allocating(ckpt_copy, monkeypatch):
    config = json.loads((ckpt_copy / "config.json").read_text())
    _edit_config(ckpt_copy, galip=dict(config["galip"], ngf=1_000_000))

    def no_build(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr("galip_studio.checkpoint.GALIP", no_build)
    with pytest.raises(CheckpointError, match="ngf is 1000000"):
        load_checkpoint(ckpt_copy)
    _edit_config(ckpt_copy, galip=dict(config["galip"], ngf="64"))
    with pytest.raises(CheckpointError, match="ngf must be a whole number"):
        load_checkpoint(ckpt_copy)
    clip = copy.deepcopy(config["clip"])
    clip["arch"]["vision_cfg"]["width"] = 1_000_000
    _edit_config(ckpt_copy, galip=config["galip"], clip=clip)
    with pytest.raises(CheckpointError, match="too large"):
        load_checkpoint(ckpt_copy)


def test_init_refuses_a_non_empty_folder_that_is_not_a_checkpoint(tmp_path, capsys):
    folder = tmp_path / "mine"
    (folder / "photos").mkdir(parents=True)
    (folder / "notes.txt").write_text("keep me")
    assert main(["init", str(folder), "--preset", "tiny"]) == 1
    assert "not empty and not a GALIP Studio checkpoint" in capsys.readouterr().err
    assert (folder / "notes.txt").read_text() == "keep me" and (folder / "photos").is_dir()
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "photos"]
    (tmp_path / "empty").mkdir()
    assert main(["init", str(tmp_path / "empty"), "--preset", "tiny"]) == 0  # an empty folder is fine


def test_convert_overwrite_replaces_only_the_checkpoint_files(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "release"
    shutil.copytree(tiny_checkpoint, out)
    (out / "figures").mkdir()
    (out / "figures" / "a.png").write_bytes(b"png")
    (out / ".git-keep").write_text("x")
    (out / "MODEL_CARD.md").write_text("card")
    (out / "training_state.pt").write_bytes(b"stale")
    assert main(["convert", str(tiny_checkpoint), str(out), "--overwrite", "--no-discriminator"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [".git-keep", "MODEL_CARD.md", "clip.safetensors", "config.json", "figures", "generator.safetensors"]
    assert (out / "figures" / "a.png").read_bytes() == b"png" and (out / "MODEL_CARD.md").read_text() == "card"
    assert not list(tmp_path.glob(".release*")) and not (tmp_path / "release.old").exists()


def test_a_crash_between_the_renames_loses_no_user_file(tiny_model, tmp_path, monkeypatch):
    out = tmp_path / "ck"
    save_checkpoint(tiny_model, out)
    (out / "MODEL_CARD.md").write_text("card")
    real_replace = os.replace
    calls = []

    def crash_on_second(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed after moving the old checkpoint aside
        return real_replace(src, dst)

    monkeypatch.setattr("galip_studio.checkpoint.os.replace", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tiny_model, out)
    monkeypatch.setattr("galip_studio.checkpoint.os.replace", real_replace)
    assert (tmp_path / "ck.old" / "MODEL_CARD.md").is_file()
    save_checkpoint(tiny_model, out)  # the next save carries the card over
    assert (out / "MODEL_CARD.md").read_text() == "card" and not (tmp_path / "ck.old").exists()


def test_checkpoint_save_fsyncs_files_and_folder_before_the_rename(tiny_model, tmp_path, monkeypatch):
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(src)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr("galip_studio.checkpoint.os.replace", replace)
    save_checkpoint(tiny_model, tmp_path / "ck")
    rename = next(i for i, (kind, path) in enumerate(events) if kind == "replace" and Path(path).name.startswith(".ck.tmp-"))
    synced = {Path(path).name for kind, path in events[:rename] if kind == "fsync"}
    tmp_name = Path(events[rename][1]).name
    assert {"generator.safetensors", "discriminator.safetensors", "config.json", tmp_name} <= synced
    assert any(kind == "fsync" and path == str(tmp_path) for kind, path in events[rename:])  # the parent, after


# ------------------------------------------------------------------------------------------ bounded inputs
def test_generate_refuses_an_empty_prompt_like_the_other_commands(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(["generate", "", "-n", "1", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]) == 1
    assert "prompt 1 is empty" in capsys.readouterr().err and not out.exists()
    assert main(["blend", "", "b", "c", "d", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "b.png")]) == 1
    assert "prompt 1 is empty" in capsys.readouterr().err


def test_generate_is_bounded_by_the_app_limits(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("galip_studio.cli.generate.load_pipeline", lambda args: pytest.fail("the model was loaded"))
    base = ["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "x.png")]
    assert main(["generate", "a cat", "-n", "1000000", *base]) == 1
    assert "images per prompt (-n or --seeds) is 1e+06, above the limit of 16" in capsys.readouterr().err
    assert main(["generate", "a cat", "-n", "2", "--batch-size", "4000", *base]) == 1
    assert "--batch-size is 4000, above the limit of 64" in capsys.readouterr().err


def test_overlong_prompts_are_refused_everywhere(tiny_pipeline, tiny_checkpoint, tmp_path, capsys):
    from galip_studio import explore
    from galip_studio.pipeline import MAX_PROMPT_CHARS

    long = "a cat " * 2_000
    assert main(["generate", long, "-n", "1", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "x.png")]) == 1
    assert f"above the limit of {MAX_PROMPT_CHARS:,}" in capsys.readouterr().err
    with pytest.raises(ValueError, match="shorten it"):
        tiny_pipeline(long, seeds=[0])
    with pytest.raises(ValueError, match="shorten it"):
        explore.style_knob(tiny_pipeline, ["a dog", long])
    assert len(tiny_pipeline("x" * MAX_PROMPT_CHARS, seeds=[0]).images) == 1  # at the limit: fine


@pytest.mark.parametrize("name", ["grid.jpg", "grid.webp"])
def test_generate_out_jpg_writes_an_image_file(tiny_checkpoint, tmp_path, name):
    out = tmp_path / name
    assert main(["generate", "a cat", "-n", "2", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]) == 0
    assert out.is_file()
    with Image.open(out) as im:
        assert im.format in ("JPEG", "WEBP") and im.width > 64
    assert json.loads((tmp_path / f"{name}.json").read_text())["prompts"] == ["a cat"]


def test_generate_out_with_an_unknown_suffix_is_a_clear_error(tiny_checkpoint, tmp_path, capsys):
    assert main(["generate", "a cat", "-n", "1", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "x.tiff")]) == 1
    assert "not an image type GALIP Studio writes" in capsys.readouterr().err and not (tmp_path / "x.tiff").exists()


def _recipe_file(tmp_path, text: str) -> Path:
    path = tmp_path / "recipe.json"
    path.write_text(text)
    return path


def test_render_of_a_recipe_with_infinity(tiny_checkpoint, tmp_path, capsys):
    text = '{"format": "galip-recipe/1", "kind": "interpolate", "prompts": ["a", "b"], "steps": Infinity, "seeds": [0]}'
    path = _recipe_file(tmp_path, text)
    assert main(["render", str(path), "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "a.png")]) == 1
    err = capsys.readouterr().err
    assert "Infinity is not a number a recipe can hold" in err and err.count("\n") == 1
    from galip_studio import explore

    with pytest.raises(ValueError, match="steps must be a whole number"):
        explore.render_recipe(dict(json.loads(text.replace("Infinity", "1")), steps=float("inf")), None)  # type: ignore[arg-type]


def test_render_of_a_deeply_nested_recipe(tiny_checkpoint, tmp_path, capsys):
    path = _recipe_file(tmp_path, '{"kind": "seeds", "prompts": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert main(["render", str(path), "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "a.png")]) == 1
    assert "nested too deeply" in capsys.readouterr().err


def _bomb_png(path: Path, side: int = 40_000) -> Path:
    """A few-hundred-byte PNG that claims ``side`` x ``side`` pixels (1-bit grey, all zero)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (side + 7) // 8)
    stream = zlib.compressobj(9)
    data = b"".join(stream.compress(row) for _ in range(64)) + stream.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def test_render_of_a_decompression_bomb_png(tiny_checkpoint, tmp_path, capsys):
    bomb = _bomb_png(tmp_path / "bomb.png")
    assert main(["render", str(bomb), "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "a.png")]) == 1
    err = capsys.readouterr().err
    assert "too large an image to open safely" in err and err.count("\n") == 1


def test_a_recipe_batch_size_is_clamped_to_the_limits(tiny_pipeline):
    from galip_studio import explore

    sizes = []
    real = tiny_pipeline.synthesize

    def spy(noise, sentence, batch_size=8):
        sizes.append(noise.shape[0])
        return real(noise, sentence, batch_size=batch_size)

    tiny_pipeline.synthesize = spy
    recipe = {"format": explore.RECIPE_FORMAT, "kind": "seeds", "prompts": ["a cat"], "seeds": list(range(3)), "truncation": 1.0, "batch_size": 4000}
    limits = explore.Limits(max_batch_size=2)
    render = explore.render_recipe(recipe, tiny_pipeline, limits=limits)
    assert render.recipe["batch_size"] == 2 and max(sizes) <= 2 and render.images.shape[0] == 3
    assert explore.render_recipe(recipe, tiny_pipeline).recipe["batch_size"] == explore.DEFAULT_LIMITS.max_batch_size
    with pytest.raises(ValueError, match="batch_size is 4000, above the limit"):
        explore.seed_grid(tiny_pipeline, ["a cat"], [0], batch_size=4000)


# ------------------------------------------------------------------------------------------ training data
def test_a_16_bit_grey_png_loads_as_its_greys_not_white(tmp_path):
    from galip_studio.datasets.folders import load_rgb

    ramp = np.linspace(0, 65535, 64, dtype=np.uint16)[None].repeat(8, axis=0)
    path = tmp_path / "grey16.png"
    Image.fromarray(ramp).save(path)
    with Image.open(path) as im:
        assert im.mode in ("I;16", "I")  # what a 16-bit grey PNG opens as
    rgb = np.asarray(load_rgb(path)).astype(int)
    assert rgb.shape == (8, 64, 3) and (rgb[..., 0] == rgb[..., 1]).all()
    assert abs(rgb[0, 0, 0] - 0) <= 1 and abs(rgb[0, -1, 0] - 255) <= 1 and abs(rgb[0, 32, 0] - 130) <= 2


def test_a_caption_that_is_not_utf8_is_named_not_trained_as_mojibake(tmp_path):
    from galip_studio.datasets.folders import scan_dataset

    for name in ("good", "latin1"):
        Image.new("RGB", (8, 8), "red").save(tmp_path / f"{name}.png")
    (tmp_path / "good.txt").write_text("a café sign\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("a café sign\n".encode("latin-1"))
    samples, report = scan_dataset(tmp_path)
    assert [s.captions for s in samples] == [("a café sign",)]
    (detail,) = report.problems["caption not UTF-8"]
    assert "latin1.txt" in detail and "save it as UTF-8" in detail
    assert "caption not UTF-8" in report.format()


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    from galip_studio.files import write_atomic

    target = tmp_path / "run" / "config.json"
    write_atomic(target, "old\n")  # makes the folder too
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "new \udcff", encoding="ascii")  # fails half-way through writing
    assert target.read_text() == "old\n" and [p.name for p in target.parent.iterdir()] == ["config.json"]
    write_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n" and [p.name for p in target.parent.iterdir()] == ["config.json"]


def test_resume_with_another_data_dir_refuses(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "data_a").mkdir()
    (tmp_path / "data_b").mkdir()
    (run / "config.json").write_text(json.dumps({"train": {"data_dir": str(tmp_path / "data_a"), "preset": "tiny"}}))
    assert main(["train", str(tmp_path / "data_b"), "--out", str(run), "--resume", "latest"]) == 1
    err = capsys.readouterr().err
    assert "this run was trained on" in err and "--new-data" in err and err.count("\n") == 1

    class Resolved(Exception):
        pass

    def resolved(explicit, saved, new_data=False):
        raise Resolved(explicit["data_dir"], new_data)

    monkeypatch.setattr("galip_studio.train.config.resolve_train_config", resolved)
    with pytest.raises(Resolved):  # the same data (another spelling of the path), or --new-data: on to training
        main(["train", str(tmp_path / "data_a" / ".." / "data_a"), "--out", str(run), "--resume", "latest"])
    with pytest.raises(Resolved) as info:
        main(["train", str(tmp_path / "data_b"), "--out", str(run), "--resume", "latest", "--new-data"])
    assert info.value.args[1] is True  # --new-data also lets --balance change


def test_resume_notices_images_swapped_under_the_same_path(tmp_path, capsys):
    from helpers import make_folder

    data = make_folder(tmp_path / "data", n=8)
    run = tmp_path / "run"
    quick = ["--preset", "tiny", "--batch-size", "4", "--amp", "none", "--no-progress", "--threads", "2",
             "--sample-every", "0", "--eval-every", "0"]
    assert main(["train", str(data), "--out", str(run), *quick, "--steps", "1"]) == 0
    assert json.loads((run / "config.json").read_text())["data"]["digest"]["files"] == 16
    first, second = sorted(data.rglob("*.png"))[:2]
    first.write_bytes(second.read_bytes())  # the same name, another picture
    capsys.readouterr()
    assert main(["train", str(data), "--out", str(run), *quick, "--steps", "2", "--resume", "latest"]) == 1
    err = capsys.readouterr().err
    assert "changed since this run last started" in err and "--new-data" in err and err.count("\n") == 1
    assert not (run / "checkpoints" / "step_000002").exists()
    assert main(["train", str(data), "--out", str(run), *quick, "--steps", "2", "--resume", "latest", "--new-data"]) == 0
    assert (run / "checkpoints" / "step_000002").is_dir()
    # the digest recorded at this start is the changed data's: resuming on it again needs no --new-data
    assert main(["train", str(data), "--out", str(run), *quick, "--steps", "3", "--resume", "latest"]) == 0


def test_resume_notices_a_re_pointed_data_link(tmp_path, capsys, monkeypatch):
    from helpers import make_folder

    from galip_studio.datasets.folders import data_digest

    make_folder(tmp_path / "data_a", n=4)
    shutil.copytree(tmp_path / "data_a", tmp_path / "data_b")  # copy2: the same names, sizes and times
    link = tmp_path / "data"
    link.symlink_to("data_a")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"train": {"data_dir": str(link), "preset": "tiny"}, "data": {"digest": data_digest(link)}}))

    class Resolved(Exception):
        pass

    def resolved(explicit, saved, new_data=False):
        raise Resolved

    monkeypatch.setattr("galip_studio.train.config.resolve_train_config", resolved)
    link.unlink()
    link.symlink_to("data_b")
    with pytest.raises(Resolved):  # an exact copy is the same data
        main(["train", str(link), "--out", str(run), "--resume", "latest"])
    (tmp_path / "data_b" / "img00.txt").write_text("a caption of another picture\n")
    assert main(["train", str(link), "--out", str(run), "--resume", "latest"]) == 1
    err = capsys.readouterr().err
    assert "changed since this run last started" in err and "--new-data" in err
    with pytest.raises(Resolved):
        main(["train", str(link), "--out", str(run), "--resume", "latest", "--new-data"])


# ------------------------------------------------------------------------------------------ the app
def test_a_load_in_one_session_does_not_stall_generation_in_another(tiny_pipeline):
    import threading

    from galip_studio.ui.models import DEFAULT_SPEC, ModelHandle, ModelSpec, ModelStore

    store = ModelStore(tiny_pipeline)
    started, release = threading.Event(), threading.Event()
    real_load = store._load

    def slow_load(spec):
        started.set()
        assert release.wait(120), "the test never released the load"
        return real_load(DEFAULT_SPEC) if spec.kind == "default" else tiny_pipeline

    store._load = slow_load  # a load that takes as long as the test wants
    loader = threading.Thread(target=lambda: store.entry(ModelSpec("preset", "tiny")), daemon=True)
    loader.start()
    assert started.wait(60)
    done = threading.Event()
    results = []

    def generate_elsewhere():
        results.append(ModelHandle(store, DEFAULT_SPEC).pipeline.generate("a cat", seeds=[0]).images)
        done.set()

    worker = threading.Thread(target=generate_elsewhere, daemon=True)
    worker.start()
    finished = done.wait(120)  # generous for a slow machine; the load is still blocked meanwhile
    still_loading = loader.is_alive()
    release.set()
    loader.join(120)
    assert finished and still_loading and len(results[0]) == 1
    assert ModelSpec("preset", "tiny") in store.loaded()


def test_serving_to_others_turns_model_loading_off_unless_allowed():
    from galip_studio.cli import build_parser
    from galip_studio.cli.serve import model_loading_allowed, parse_auth

    def allowed(*argv):
        return model_loading_allowed(build_parser().parse_args(["serve", *argv]))

    assert allowed() and allowed("--host", "localhost") and allowed("--host", "::1")
    assert not allowed("--host", "0.0.0.0") and not allowed("--share") and not allowed("--lock-model")
    assert allowed("--host", "0.0.0.0", "--allow-model-loading") and not allowed("--lock-model", "--allow-model-loading")
    assert parse_auth("alice:pass:word") == ("alice", "pass:word") and parse_auth(None) is None
    with pytest.raises(ValueError, match="USER:PASSWORD"):
        parse_auth("alice")


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_model):
    """The app on a checkpoint whose metadata names machine paths, with one allowed checkpoint in
    runs/ and one --model-dir, uploads capped at 1 MB."""
    from galip_studio.pipeline import GALIPPipeline
    from galip_studio.ui.app import build_app
    from galip_studio.ui.launch import launch_app

    base = tmp_path_factory.mktemp("app")
    default = base / "private" / "default-model"
    save_checkpoint(tiny_model, default, training={"data": "/secret/datasets/faces", "run": "/home/someone/run", "init": str(base / "private" / "init")})
    save_checkpoint(make_tiny_model(1), base / "root" / "runs" / "exp" / "step_5")
    save_checkpoint(make_tiny_model(2), base / "shared-models" / "two")
    (base / "root" / "runs" / "notes").mkdir()
    pipe = GALIPPipeline.from_pretrained(default, device="cpu")
    demo = build_app(pipe, checkpoint_roots=[base / "root"], model_dirs=[base / "shared-models"], outdir=base / "out")
    demo, url = launch_app(demo, block=False, quiet=True, max_upload_mb=1)
    yield url, base
    demo.close()


def _client(url):
    from gradio_client import Client

    return Client(url, verbose=False)


def test_app_lists_and_describes_models_without_machine_paths(app):
    url, base = app
    client = _client(url)
    listing = json.dumps(client.predict(api_name="/list_checkpoints"))
    assert "runs/exp/step_5" in listing and "shared-models/two" in listing and str(base) not in listing
    banner, card, info = client.predict(api_name="/model_info")
    everything = banner + card + info
    assert str(base) not in everything and "/secret" not in everything and "/home/someone" not in everything
    info = json.loads(info)
    assert info["path"] == "default-model" and "data" not in info["training"] and "run" not in info["training"]
    _, _, recipe = client.predict("a cat", 1, 0, 1.0, api_name="/generate")
    assert str(base) not in recipe  # recipes name the model as clients see it


def test_app_checkpoint_loader_is_confined_with_one_message(app):
    from gradio_client.exceptions import AppError

    from galip_studio.ui.models import NOT_ALLOWED

    url, base = app
    client = _client(url)
    outside = [
        str(base / "nothing-here"),  # missing
        "/etc/passwd",  # a file
        str(base / "root" / "runs" / "notes"),  # an allowed folder without config.json
        "runs/notes",
        str(base / "private" / "default-model"),  # a real checkpoint, outside the allowed folders
        "runs/../../private/default-model",  # out through ..
        "checkpoints/../../../etc",
    ]
    for path in outside:
        with pytest.raises(AppError) as e:
            client.predict(path, api_name="/load_checkpoint")
        assert str(e.value) == NOT_ALLOWED, path
    banner, _, info = client.predict("runs/exp/step_5", api_name="/load_checkpoint")
    assert json.loads(info)["path"] == "runs/exp/step_5" and "step_5" in banner
    assert json.loads(client.predict("shared-models/two", api_name="/load_checkpoint")[2])["path"] == "shared-models/two"


def test_app_official_loader_never_runs_an_uploaded_torchscript_file(app, evil, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from galip_studio.ui.models import NOT_ALLOWED

    url, base = app
    path, marker = evil
    pth = tmp_path / "pre_coco.pth"
    torch.save({"model": {"netG": {}}}, pth)  # reaches the CLIP load (the trunk check comes after it)
    client, other = _client(url), _client(url)
    with pytest.raises(AppError) as e:  # a server path typed in: refused before anything is read
        client.predict(str(pth), str(path), api_name="/load_official")
    assert str(e.value) == NOT_ALLOWED
    note = client.predict([handle_file(str(pth)), handle_file(str(path))], api_name="/upload_weights")
    assert "pre_coco.pth" in note and "evil.pt" in note
    with pytest.raises(AppError) as e:
        client.predict("pre_coco.pth", "evil.pt", api_name="/load_official")
    message = str(e.value)
    assert "its CLIP weights could not be read" in message and "the server log has the details" in message
    assert str(base) not in message and str(tmp_path) not in message and "/tmp" not in message
    assert not marker.exists()
    with pytest.raises(AppError) as e:  # another session cannot use this session's uploads
        other.predict("pre_coco.pth", "evil.pt", api_name="/load_official")
    assert str(e.value) == NOT_ALLOWED


def test_app_uploads_are_capped(app, tmp_path):
    from gradio_client import handle_file

    url, _ = app
    big = tmp_path / "big.pth"
    big.write_bytes(b"\0" * (2 * 2**20))
    with pytest.raises(Exception, match="(?i)size|large|413"):
        _client(url).predict([handle_file(str(big))], api_name="/upload_weights")


def test_app_user_errors_log_one_line_without_traceback(app, capfd):
    from gradio_client.exceptions import AppError

    url, _ = app
    client = _client(url)
    capfd.readouterr()
    with pytest.raises(AppError, match="Type a prompt first"):
        client.predict("   ", 1, 0, 1.0, api_name="/generate")
    with pytest.raises(AppError, match="shorten it"):
        client.predict("x" * 5000, 1, 0, 1.0, api_name="/generate")
    with pytest.raises(AppError, match="no such model here"):
        client.predict("/etc", api_name="/load_checkpoint")
    out, err = capfd.readouterr()
    log = out + err
    assert "Traceback" not in log
    lines = [line for line in log.splitlines() if line.startswith("galip-studio: user error:")]
    assert len(lines) == 3 and "Type a prompt first" in lines[0] and "x" * 3000 not in log


def test_app_asks_for_the_password_given_with_auth(tiny_pipeline):
    from galip_studio.ui.app import build_app
    from galip_studio.ui.launch import launch_app

    demo, url = launch_app(build_app(tiny_pipeline, checkpoint_roots=[]), block=False, quiet=True, auth=("alice", "s3cret-pass"))
    try:
        with pytest.raises(Exception):
            _client(url).predict(api_name="/random_seed")
        from gradio_client import Client

        assert isinstance(Client(url, auth=("alice", "s3cret-pass"), verbose=False).predict(api_name="/random_seed"), int)
    finally:
        demo.close()


def test_app_temp_folder_is_removed_on_sigterm(tiny_checkpoint, tmp_path):
    """The server's exports and Gradio's copies of them (its cache) live in one folder of the
    server process, removed when SIGTERM stops it, and the process exits cleanly."""
    import re
    import signal
    import subprocess
    import sys
    import time

    from gradio_client import Client

    env = dict(os.environ, TMPDIR=str(tmp_path), GRADIO_ANALYTICS_ENABLED="False")
    env.pop("GRADIO_TEMP_DIR", None)
    app_py = Path(__file__).resolve().parent.parent / "app.py"
    proc = subprocess.Popen(
        [sys.executable, str(app_py), "--checkpoint", str(tiny_checkpoint), "--device", "cpu"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.time() + 600  # a loaded 2-core machine takes minutes to import torch and Gradio
        lines = []
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Running on" in line:
                break
        url = re.search(r"Running on local URL:\s*(\S+)", "".join(lines))
        assert url, "".join(lines)
        (folder,) = tmp_path.glob("galip-studio-*")
        client = Client(url.group(1), verbose=False, httpx_kwargs={"timeout": 120})
        client.predict("a red apple", 2, 0, 1.0, api_name="/generate")  # a grid PNG, copied into Gradio's cache
        written = [p for p in tmp_path.rglob("*.png")]
        assert written and all(folder in p.parents for p in written), written  # Gradio's copies too
        assert (folder / "gradio").is_dir()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(300) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not folder.exists() and not list(tmp_path.rglob("*.png")) and not (tmp_path / "gradio").exists()
