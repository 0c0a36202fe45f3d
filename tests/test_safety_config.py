"""Safe by default, part 2 (issue 31): a checkpoint's config runs no code and asks for no absurd
memory, init keeps the user's files, clear errors, nothing read from outside a checkpoint, no
machine paths in the bundled model.

Each test is a probe of a hostile but fair user, and fails on the code before the fix.
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import make_tiny_model
from galip_studio.cli import main

# ------------------------------------------------------------------------------------------ 1: no code from a config
EVIL_TOKENIZER = """open({marker!r}, "w").write("code from the checkpoint ran")
from transformers import PreTrainedTokenizer


class EvilTokenizer(PreTrainedTokenizer):
    pass
"""


def make_evil_tokenizer(folder: Path, marker: Path) -> Path:
    """A Hugging Face tokenizer folder whose ``auto_map`` names ``evil_tokenizer.py``: transformers imports
    it (and so writes ``marker``) when told to trust the folder's code."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "evil_tokenizer.py").write_text(EVIL_TOKENIZER.format(marker=str(marker)))
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"auto_map": {"AutoTokenizer": ["evil_tokenizer.EvilTokenizer", None]}, "tokenizer_class": "EvilTokenizer"})
    )
    return folder


def poison_text_cfg(text_cfg: dict, tokenizer: Path) -> None:
    """What the attack writes into a config: the folder as the tokenizer's "name", and trust in its code."""
    text_cfg["hf_tokenizer_name"] = str(tokenizer)
    text_cfg["tokenizer_kwargs"] = {"trust_remote_code": True}


@pytest.fixture
def evil_checkpoint(tiny_checkpoint, tmp_path) -> tuple[Path, Path]:
    """``(checkpoint, marker)``: a copy of the tiny checkpoint whose config makes transformers import a
    ``.py`` shipped beside it, which writes ``marker``."""
    folder = tmp_path / "evil-ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    marker = tmp_path / "MARKER"
    config = json.loads((folder / "config.json").read_text())
    poison_text_cfg(config["clip"]["arch"]["text_cfg"], make_evil_tokenizer(folder / "tokenizer", marker))
    (folder / "config.json").write_text(json.dumps(config))
    return folder, marker


@pytest.fixture
def evil_clip_dir(tiny_model, tmp_path) -> tuple[Path, Path]:
    """``(CLIP folder, marker)``: a CLIP directory (clip_config.json) with the same attack."""
    folder = tmp_path / "evil-clip"
    tiny_model.clip.save_pretrained(folder)
    marker = tmp_path / "MARKER-clip"
    config = json.loads((folder / "clip_config.json").read_text())
    poison_text_cfg(config["arch"]["text_cfg"], make_evil_tokenizer(folder / "tokenizer", marker))
    (folder / "clip_config.json").write_text(json.dumps(config))
    return folder, marker


@pytest.fixture(autouse=True)
def _private_hf_modules(tmp_path, monkeypatch):
    """transformers copies trusted remote code into HF_MODULES_CACHE; keep any copy out of the home folder."""
    try:
        import transformers.dynamic_module_utils as dmu
    except ImportError:
        return
    monkeypatch.setattr(dmu, "HF_MODULES_CACHE", str(tmp_path / "hf-modules"), raising=False)


REFUSED = "text_cfg.hf_tokenizer_name is"


def test_the_evil_tokenizer_really_runs_code_when_trusted(tmp_path):
    from transformers import AutoTokenizer

    marker = tmp_path / "ran"
    folder = make_evil_tokenizer(tmp_path / "tok", marker)
    with pytest.raises(Exception):  # the class is a stub; its module was imported all the same
        AutoTokenizer.from_pretrained(str(folder), trust_remote_code=True)
    assert marker.exists()  # what no command may ever do


@pytest.mark.parametrize("command", ["generate", "info", "convert"])
def test_a_checkpoint_config_runs_no_code_from_the_cli(evil_checkpoint, tmp_path, capsys, command):
    folder, marker = evil_checkpoint
    argv = {
        "generate": ["generate", "a cat", "-n", "1", "-c", str(folder), "--out", str(tmp_path / "x.png")],
        "info": ["info", str(folder)],
        "convert": ["convert", str(folder), str(tmp_path / "converted")],
    }[command]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert REFUSED in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()


def test_render_of_a_png_whose_recipe_names_the_evil_checkpoint(tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(tiny_checkpoint, folder)
    png = tmp_path / "made.png"
    assert main(["generate", "a cat", "-n", "1", "-c", str(folder), "--out", str(png)]) == 0
    marker = tmp_path / "MARKER"
    config = json.loads((folder / "config.json").read_text())
    poison_text_cfg(config["clip"]["arch"]["text_cfg"], make_evil_tokenizer(folder / "tokenizer", marker))
    (folder / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["render", str(png), "--out", str(tmp_path / "again.png")]) == 1  # the model comes from the recipe
    assert REFUSED in capsys.readouterr().err and not marker.exists()


def test_text_cache_runs_no_code_from_a_clip_folder_or_a_checkpoint(evil_clip_dir, evil_checkpoint, tmp_path, capsys):
    from helpers import make_folder

    data = make_folder(tmp_path / "data", n=2)
    clip_dir, clip_marker = evil_clip_dir
    assert main(["text-cache", str(data), "--out", str(tmp_path / "v.safetensors"), "--clip", str(clip_dir), "--no-progress"]) == 1
    assert REFUSED in capsys.readouterr().err and not clip_marker.exists()
    folder, marker = evil_checkpoint
    assert main(["text-cache", str(data), "--out", str(tmp_path / "v.safetensors"), "--init", str(folder), "--no-progress"]) == 1
    assert REFUSED in capsys.readouterr().err and not marker.exists()
    assert not (tmp_path / "v.safetensors").exists()


def test_eval_clip_runs_no_code_from_a_clip_folder(evil_clip_dir, tmp_path, capsys):
    from helpers import make_folder

    clip_dir, marker = evil_clip_dir
    assert main(["eval-clip", str(clip_dir), str(make_folder(tmp_path / "data", n=2)), "--device", "cpu"]) == 1
    assert REFUSED in capsys.readouterr().err and not marker.exists()


def test_the_app_load_checkpoint_handler_runs_no_code(evil_checkpoint, tiny_pipeline):
    import gradio as gr

    from galip_studio.ui import model_handlers as mh
    from galip_studio.ui.models import ModelLibrary, ModelStore

    folder, marker = evil_checkpoint
    library = ModelLibrary(model_dirs=[folder.parent])
    store = ModelStore(tiny_pipeline, library=library)
    with pytest.raises(gr.Error) as e:
        mh.switch_model(store, mh.checkpoint_spec(library, f"{folder.parent.name}/{folder.name}"))
    assert "not a checkpoint this version can read" in str(e.value) and str(folder) not in str(e.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "where, value, field",
    [
        ("text_cfg", {"tokenizer_kwargs": {"trust_remote_code": True}}, "text_cfg.tokenizer_kwargs.trust_remote_code is not allowed"),
        ("text_cfg", {"tokenizer_kwargs": {"clean": "whitespace", "use_fast": False}}, "tokenizer_kwargs.use_fast is not allowed"),
        ("text_cfg", {"trust_remote_code": True}, "text_cfg.trust_remote_code is not allowed"),
        ("text_cfg", {"hf_model_name": "./my-model"}, "text_cfg.hf_model_name is './my-model'"),
        ("text_cfg", {"hf_tokenizer_name": "/abs/tok"}, "text_cfg.hf_tokenizer_name is '/abs/tok'"),
        ("text_cfg", {"tokenizer_mode": "clips"}, "text_cfg.tokenizer_mode is not allowed"),
        ("text_cfg", {"act_kwargs": {"approximate": "tanh", "inplace": True}}, "act_kwargs.inplace is not allowed"),
        ("vision_cfg", {"timm_model_name": "vit_base_patch16_224"}, "vision_cfg.timm_model_name is not allowed"),
        ("vision_cfg", {"width": "32"}, "vision_cfg.width is '32'; it must be a whole number"),
        ("vision_cfg", {"layers": True}, "vision_cfg.layers is True"),
        (None, {"multimodal_cfg": {}}, "clip.arch.multimodal_cfg is not allowed"),
    ],
)
def test_the_clip_arch_allow_list_names_the_refused_field(where, value, field):
    from galip_studio.config import TINY_CLIP_ARCH, ClipConfig

    arch = copy.deepcopy(TINY_CLIP_ARCH)
    (arch[where] if where else arch).update(value)
    with pytest.raises(ValueError, match=field.replace(".", r"\.").replace("(", r"\(")):
        ClipConfig(name=None, arch=arch)


@pytest.mark.parametrize("name", ["hf-hub:evil/clip", "local-dir:/tmp/x", "../ViT-B-32", "/abs/ViT-B-32"])
def test_a_clip_name_with_a_schema_or_a_path_is_refused(name):
    from galip_studio.config import ClipConfig

    with pytest.raises(ValueError, match="clip.name is"):
        ClipConfig(name=name)


def test_a_hub_name_shadowed_by_a_local_folder_runs_no_code(tmp_path, monkeypatch):
    """An allowed tokenizer name that a folder in the working directory shadows: transformers reads the
    folder, and is always told not to trust its code."""
    from galip_studio.clip_backbone import ClipBackbone, ClipError
    from galip_studio.config import TINY_CLIP_ARCH, ClipConfig

    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "MARKER"
    make_evil_tokenizer(tmp_path / "roberta-base", marker)
    arch = copy.deepcopy(TINY_CLIP_ARCH)
    arch["text_cfg"]["hf_tokenizer_name"] = "roberta-base"
    with pytest.raises(ClipError, match="could not load the CLIP tokenizer 'roberta-base'"):
        ClipBackbone.from_config(ClipConfig(name=None, arch=arch))
    assert not marker.exists()


def test_open_clips_own_vit_configs_pass_the_allow_list():
    """Every open_clip ViT config (the arch a name-based checkpoint saves in full) is allowed."""
    import open_clip

    from galip_studio.config import ClipConfig

    checked = 0
    for name in open_clip.list_models():
        arch = open_clip.get_model_config(name)
        vision = arch["vision_cfg"]
        if "timm_model_name" in vision or isinstance(vision.get("layers"), list) or "multimodal_cfg" in arch:
            continue  # not a ViT GALIP can use (timm towers, ResNets, CoCa)
        ClipConfig(name=None, arch=arch)
        checked += 1
    assert checked > 30


# ------------------------------------------------------------------------------------------ 3: memory before allocation
RSS_BOUND_MB = 300  # the interpreter's own peak growth while refusing; building ngf 1024 needs > 4 GB


def _refusal_in_a_subprocess(folder: Path) -> dict:
    """Load ``folder`` in a fresh interpreter; report the error, the seconds and the peak RSS growth."""
    import subprocess

    script = f"""
import json, resource, time
from galip_studio.checkpoint import load_checkpoint
from galip_studio.config import get_preset
get_preset("tiny")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.monotonic()
try:
    load_checkpoint({str(folder)!r})
    error = None
except Exception as e:
    error = f"{{type(e).__name__}}: {{e}}"
print(json.dumps({{"error": error, "seconds": time.monotonic() - start,
                   "growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}}))
"""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=root,
                          env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("sizes", [{"ngf": 1024}, "all maximums"])
def test_configs_too_big_together_are_refused_before_allocating(tiny_checkpoint, tmp_path, sizes):
    from galip_studio.config import GALIP_SIZE_LIMITS

    folder = tmp_path / "big"
    shutil.copytree(tiny_checkpoint, folder)
    config = json.loads((folder / "config.json").read_text())
    config["galip"].update(GALIP_SIZE_LIMITS if sizes == "all maximums" else sizes)
    (folder / "config.json").write_text(json.dumps(config))
    result = _refusal_in_a_subprocess(folder)
    assert result["error"] and result["error"].startswith("ModelTooLarge: this model would need about"), result
    assert "GALIP_STUDIO_MAX_MODEL_GB" in result["error"] and "generator" in result["error"]
    assert result["growth_mb"] < RSS_BOUND_MB and result["seconds"] < 30, result


def test_the_official_model_is_within_the_default_limit(monkeypatch):
    from galip_studio.config import MAX_MODEL_GB_ENV, get_preset
    from galip_studio.nets.galip import check_memory

    monkeypatch.delenv(MAX_MODEL_GB_ENV, raising=False)
    preset = get_preset("official-224")
    check_memory(preset.galip, preset.clip)  # ViT-B/32 at 224 px: about 1.9 GB, allowed


def test_the_memory_limit_can_be_set(tiny_checkpoint, capsys, monkeypatch):
    from galip_studio.config import MAX_MODEL_GB_ENV

    monkeypatch.setenv(MAX_MODEL_GB_ENV, "8")  # recorded, so the flag's change is undone after the test
    assert main(["--max-model-gb", "0.001", "info", str(tiny_checkpoint)]) == 1
    err = capsys.readouterr().err
    assert "this model would need about 0.0 GB" in err and "above the limit of 0.0 GB" in err
    monkeypatch.setenv(MAX_MODEL_GB_ENV, "lots")
    assert main(["info", str(tiny_checkpoint)]) == 1
    assert "GALIP_STUDIO_MAX_MODEL_GB is 'lots'" in capsys.readouterr().err
    monkeypatch.setenv(MAX_MODEL_GB_ENV, "1")
    assert main(["info", str(tiny_checkpoint)]) == 0


# ------------------------------------------------------------------------------------------ 7: init keeps what it did not write
USER_FILES = {"mine.bin": b"user bin", "ViT-B-32.pt": b"user pt", "pre_coco.pth": b"user pth",
              "other.safetensors": b"user safetensors", "MODEL_CARD.md": b"card"}


def test_init_on_an_existing_checkpoint_refuses_without_overwrite_and_keeps_user_files(tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "ck"
    shutil.copytree(tiny_checkpoint, folder)
    for name, data in USER_FILES.items():
        (folder / name).write_bytes(data)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert main(["init", str(folder), "--preset", "tiny", "--seed", "3"]) == 1
    assert "already holds a checkpoint; pass --overwrite" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing touched
    assert main(["init", str(folder), "--preset", "tiny", "--seed", "3", "--overwrite"]) == 0
    assert {name: (folder / name).read_bytes() for name in USER_FILES} == USER_FILES  # the user's weights files too
    assert json.loads((folder / "config.json").read_text())["training"]["random_init_seed"] == 3
    assert (folder / "config.json").read_bytes() != before["config.json"]


def test_convert_overwrite_keeps_the_users_weights_files(tiny_checkpoint, tmp_path):
    out = tmp_path / "release"
    shutil.copytree(tiny_checkpoint, out)
    for name, data in USER_FILES.items():
        (out / name).write_bytes(data)
    (out / "training_state.pt").write_bytes(b"stale")  # a run's own file: replaced with the checkpoint
    assert main(["convert", str(tiny_checkpoint), str(out), "--overwrite", "--no-discriminator"]) == 0
    assert {name: (out / name).read_bytes() for name in USER_FILES} == USER_FILES
    assert not (out / "training_state.pt").exists() and not (out / "discriminator.safetensors").exists()


# ------------------------------------------------------------------------------------------ 8: clear errors, no tracebacks
def test_info_with_training_metadata_that_is_not_an_object(tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "ck"
    shutil.copytree(tiny_checkpoint, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(config, training="x")))
    assert main(["info", str(folder)]) == 1
    err = capsys.readouterr().err
    assert '"training" is "x"; it must be an object' in err and len(err.strip().splitlines()) == 1


def test_convert_trained_generator_that_is_not_a_state_dict(tiny_checkpoint, tmp_path, capsys):
    import torch

    from galip_studio.checkpoint import TRAIN_STATE_FORMAT, TRAINING_STATE_FILE as TRAIN_STATE_FILE

    folder = tmp_path / "step_000010"
    shutil.copytree(tiny_checkpoint, folder)
    torch.save({"format": TRAIN_STATE_FORMAT, "generator_train": [1, 2, 3]}, folder / TRAIN_STATE_FILE)
    out = tmp_path / "out"
    assert main(["convert", str(folder), str(out), "--generator", "trained"]) == 1
    assert "generator_train in its training_state.pt is not a state dict of tensors" in capsys.readouterr().err
    assert not out.exists()


def test_map_checks_its_arguments_before_writing_points_files(tiny_checkpoint, tmp_path, capsys):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a red apple\na house\na cat\na tree\n")
    out = tmp_path / "map.png"
    base = ["map", "--vocabulary", str(vocab), "--no-cache", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]
    for extra, message in ((["--grid", "1000"], "grid rows"), (["--size", "100000"], "size"),
                           (["--through", "a cat", "a house", "--walk", str(tmp_path / "w.gif"), "--frames", "100000"], "frames")):
        assert main([*base, *extra]) == 1
        assert message in capsys.readouterr().err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["vocab.txt"], extra  # no map-points.png/.json


def test_malformed_api_input_logs_one_line_and_no_traceback(tiny_pipeline, tmp_path, capfd):
    import urllib.request

    from galip_studio.ui.app import build_app
    from galip_studio.ui.launch import launch_app

    demo, url = launch_app(build_app(tiny_pipeline, checkpoint_roots=[], outdir=tmp_path / "out"), block=False, quiet=True)

    def call(api: str, body: str) -> str:
        request = urllib.request.Request(f"{url.rstrip('/')}/gradio_api/call/{api}", data=body.encode(),
                                         headers={"Content-Type": "application/json"})
        event = json.loads(urllib.request.urlopen(request, timeout=60).read())["event_id"]
        return urllib.request.urlopen(f"{url.rstrip('/')}/gradio_api/call/{api}/{event}", timeout=120).read().decode()

    try:
        capfd.readouterr()
        probes = {
            "NaN seed": ("generate", '{"data": ["a cat", 1, NaN, 1.0, 0, "nearest"]}'),
            "Infinity seed": ("generate", '{"data": ["a cat", 1, Infinity, 1.0, 0, "nearest"]}'),
            "string seed": ("generate", '{"data": ["a cat", 1, "abc", 1.0, 0, "nearest"]}'),
            "map click at 1e300": ("map_click", '{"data": [1e300, 1e300, 0, 1.0]}'),
            "a path that was never uploaded": ("read_recipe", '{"data": [{"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}]}'),
            "a bare path": ("read_recipe", '{"data": ["/etc/hostname"]}'),
        }
        for name, (api, body) in probes.items():
            answer = call(api, body)
            assert "event: error" in answer and '"error": null' not in answer, (name, answer)
    finally:
        demo.close()
    out, err = capfd.readouterr()
    log = out + err
    assert "Traceback" not in log
    assert len([line for line in log.splitlines() if line.startswith("galip-studio: user error:")]) == len(probes)


# ------------------------------------------------------------------------------------------ 9: nothing from outside the folder
def test_a_symlinked_weights_file_outside_the_checkpoint_is_refused(tiny_checkpoint, tmp_path):
    from galip_studio.checkpoint import CheckpointError, load_checkpoint

    folder = tmp_path / "ck"
    shutil.copytree(tiny_checkpoint, folder)
    outside = tmp_path / "elsewhere.safetensors"
    (folder / "generator.safetensors").rename(outside)
    (folder / "generator.safetensors").symlink_to(outside)
    with pytest.raises(CheckpointError, match="symbolic link to a file outside the checkpoint folder"):
        load_checkpoint(folder)
    (folder / "generator.safetensors").unlink()
    (folder / "inner.safetensors").write_bytes(outside.read_bytes())
    (folder / "generator.safetensors").symlink_to("inner.safetensors")  # a link inside the folder is fine
    load_checkpoint(folder)


def test_a_symlinked_clip_weights_file_of_a_clip_folder_is_refused(tiny_model, tmp_path):
    from galip_studio.clip_backbone import ClipBackbone, ClipError

    folder = tmp_path / "clip"
    tiny_model.clip.save_pretrained(folder)
    outside = tmp_path / "clip-elsewhere.safetensors"
    (folder / "clip.safetensors").rename(outside)
    (folder / "clip.safetensors").symlink_to(outside)
    with pytest.raises(ClipError, match="symbolic link to a file outside"):
        ClipBackbone.from_pretrained(folder)


@pytest.mark.parametrize("where", ["absolute", "relative", "cwd"])
def test_clip_pretrained_in_a_config_never_reads_outside_the_folder(tiny_model, tiny_checkpoint, tmp_path, monkeypatch, capsys, where):
    from galip_studio.checkpoint import save_checkpoint

    weights = tmp_path / "secret" / "ViT-tiny.safetensors"
    weights.parent.mkdir()
    from safetensors.torch import save_file

    save_file(tiny_model.clip.weights_to_save(), str(weights))
    folder = tmp_path / "models" / "ck"
    save_checkpoint(tiny_model, folder, include_clip_weights=False)
    monkeypatch.chdir(weights.parent)
    name = {"absolute": str(weights), "relative": "../../secret/ViT-tiny.safetensors", "cwd": "ViT-tiny.safetensors"}[where]
    config = json.loads((folder / "config.json").read_text())
    config["clip"]["pretrained"] = name
    (folder / "config.json").write_text(json.dumps(config))
    assert main(["info", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "clip.pretrained is" in err and "--clip-weights PATH" in err
    assert main(["info", str(folder), "--clip-weights", str(weights)]) == 0  # the user's own choice, on the command line
    shutil.copy(weights, folder / "ViT-tiny.safetensors")
    config["clip"]["pretrained"] = "ViT-tiny.safetensors"  # a file inside the checkpoint folder is fine
    (folder / "config.json").write_text(json.dumps(config))
    assert main(["info", str(folder)]) == 0


def test_images_between_one_and_two_times_the_pixel_limit_are_refused(tmp_path, monkeypatch):
    from PIL import Image

    from galip_studio.export import load_recipe
    from galip_studio.datasets.folders import image_readable

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    path = tmp_path / "big.png"
    Image.new("RGB", (150, 100)).save(path)  # 15,000 pixels: 1.5 times the limit (Pillow only warns)
    assert "DecompressionBombError" in (image_readable(path) or "")
    with pytest.raises(ValueError, match="too large an image"):
        load_recipe(path)
    Image.new("RGB", (100, 100)).save(tmp_path / "ok.png")
    assert image_readable(tmp_path / "ok.png") is None


def test_a_text_cache_file_with_a_repeated_text_is_refused(tiny_model, tmp_path):
    import torch
    from safetensors.torch import load_file

    from galip_studio.files import save_safetensors
    from galip_studio.text_cache import SentenceCache, TextCacheError, read_text_cache

    cache = SentenceCache(tiny_model.clip, max_entries=10)
    cache(["a cat", "a dog"])
    path = tmp_path / "v.safetensors"
    assert cache.save(path) == 2
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    info = json.loads(meta["info"])
    info["texts"] = ["a cat", "a cat"]
    save_safetensors({"vectors": load_file(str(path))["vectors"]}, path, metadata={**meta, "info": json.dumps(info)})
    with pytest.raises(TextCacheError, match="lists the text 'a cat' more than once"):
        read_text_cache(path)
    assert torch.is_tensor(cache(["a cat"]))


# ------------------------------------------------------------------------------------------ 10: no machine paths
def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_the_bundled_models_carry_no_machine_paths(capsys):
    import os

    from galip_studio.config import CHECKPOINTS_DIR

    for name in ("galip-emoji-64/config.json", "miniclip-emoji-64/clip_config.json", "miniclip-emoji-64/metrics.json"):
        config = json.loads((CHECKPOINTS_DIR / name).read_text())
        assert not [s for s in _strings(config) if os.path.isabs(s)], name
    assert main(["info", str(CHECKPOINTS_DIR / "galip-emoji-64")]) == 0
    out = capsys.readouterr().out
    assert "everyday/train" in out and "/work/data" not in out and "/work/runs" not in out  # (the header shows the path given)


def test_saved_checkpoints_store_names_not_machine_paths(tiny_model, tiny_checkpoint, tmp_path, capsys):
    from galip_studio.checkpoint import save_checkpoint

    out = tmp_path / "converted"
    assert main(["convert", str(tiny_checkpoint.resolve()), str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["training"]["converted_from"] == tiny_checkpoint.name
    weights = tmp_path / "weights" / "ViT-tiny.pt"
    model = copy.deepcopy(tiny_model)
    model.clip.config.pretrained = str(weights)  # trained with --clip-weights /abs/ViT-tiny.pt
    folder = save_checkpoint(model, tmp_path / "ck", training={"data": "/home/someone/datasets/faces", "steps": 5},
                             include_clip_weights=False)
    config = json.loads((folder / "config.json").read_text())
    assert config["clip"]["pretrained"] == "ViT-tiny.pt" and config["training"] == {"data": "faces", "steps": 5}
