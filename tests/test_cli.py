"""The galip-studio command: generate, info, init; --help everywhere; one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from galip_studio.cli import build_parser, main
from galip_studio.export import RECIPE_KEY


def test_generate_grid_with_recipe(tmp_path, tiny_checkpoint, capsys):
    out = tmp_path / "grid.png"
    rc = main(["generate", "a red apple", "-n", "3", "--seed", "5", "--checkpoint", str(tiny_checkpoint), "--out", str(out)])
    assert rc == 0
    im = Image.open(out)
    assert im.size == (3 * 32 + 4 * 2, 32 + 2 * 2)
    recipe = json.loads(im.text[RECIPE_KEY])
    assert recipe["prompts"] == ["a red apple"] and recipe["seeds"] == [5, 6, 7]
    assert "wrote" in capsys.readouterr().out


def test_generate_separate_files_and_info(tmp_path, tiny_checkpoint, capsys):
    rc = main(["generate", "a", "b", "-n", "2", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "imgs")])
    assert rc == 0
    assert len(list((tmp_path / "imgs").glob("*.png"))) == 4
    assert main(["info", str(tiny_checkpoint), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert info["image_size"] == 32 and info["training"] == {"note": "test"}


def test_generate_writes_explores_seed_grid_and_its_recipe(tmp_path, tiny_checkpoint, capsys):
    """One recipe schema: generate's files hold what explore.seed_grid makes, with seed_grid's recipe."""
    from galip_studio import explore
    from galip_studio.pipeline import GALIPPipeline

    out = tmp_path / "grid.png"
    assert main(["generate", "a", "b", "--seeds", "4", "9", "--truncation", "0.7", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]) == 0
    assert "seeds 4..9" in capsys.readouterr().out
    pipe = GALIPPipeline.from_pretrained(tiny_checkpoint, device="cpu")
    grid = explore.seed_grid(pipe, ["a", "b"], [4, 9], truncation=0.7)
    assert json.loads(Image.open(out).text[RECIPE_KEY]) == json.loads(json.dumps(grid.recipe))
    assert grid.recipe["kind"] == "seeds" and grid.recipe["model"]["id"] == str(tiny_checkpoint)
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), np.asarray(grid.grid(captions=False)))
    assert main(["generate", "a", "-n", "0", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]) == 1
    assert "num_images must be at least 1" in capsys.readouterr().err


def test_render_makes_generates_files_again_and_warns_about_another_model(tmp_path, tiny_checkpoint, capsys):
    folder, again = tmp_path / "imgs", tmp_path / "again.png"
    assert main(["generate", "a red apple", "-n", "2", "--seed", "3", "--checkpoint", str(tiny_checkpoint), "--out", str(folder)]) == 0
    first = folder / "001_seed4.png"
    assert main(["render", str(first), "--out", str(again)]) == 0  # with the model the recipe names
    assert np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(again)))  # the bare image again, no grid border
    assert "warning" not in capsys.readouterr().err
    assert main(["render", str(first), "--preset", "tiny", "--out", str(again)]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"galip-studio: warning: This recipe was made with checkpoint “{tiny_checkpoint}”") and "differs" in err


def test_init_writes_loadable_checkpoint(tmp_path, capsys):
    assert main(["init", str(tmp_path / "new"), "--preset", "tiny"]) == 0
    assert main(["info", str(tmp_path / "new")]) == 0
    assert "generator" in capsys.readouterr().out


def test_errors_are_one_line_and_nonzero(tmp_path, capsys):
    assert main(["generate", "x", "--checkpoint", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("galip-studio: error:") and "\n" not in err
    assert main(["info", str(tmp_path)]) == 1
    assert "config.json" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["generate", "info", "init", "convert"])
def test_help_for_each_command(command):
    parser = build_parser()
    with pytest.raises(SystemExit) as e:
        parser.parse_args([command, "--help"])
    assert e.value.code == 0


def test_latent_commands_offer_the_choices_latent_defines():
    import argparse

    from galip_studio import latent
    from galip_studio.explore import NOISE_PATHS

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    choices = {name: {a.dest: a.choices for a in p._actions} for name, p in sub.choices.items()}
    assert tuple(choices["walk"]["path"]) == tuple(NOISE_PATHS)
    assert tuple(choices["walk"]["easing"]) == tuple(choices["map"]["easing"]) == tuple(latent.EASINGS)
    assert tuple(choices["interpolate"]["interp"]) == latent.INTERPOLATIONS


def test_the_light_copies_of_the_choices_equal_their_tables():
    """choices.py copies the names the parsers offer so that building them imports no torch; each
    copy must stay equal to the table that implements it."""
    from galip_studio import choices, device, latent
    from galip_studio.datasets.folders import LAYOUT_CHOICES
    from galip_studio.explore import NOISE_PATHS
    from galip_studio.nets.feature_discriminator import FEATURE_D_CHOICES
    from galip_studio.train.config import BEST_METRICS, DEFAULT_PRESET

    assert choices.AMP_CHOICES == device.AMP_CHOICES
    assert choices.INTERPOLATIONS == latent.INTERPOLATIONS
    assert choices.EASINGS == tuple(latent.EASINGS)
    assert choices.NOISE_PATHS == tuple(NOISE_PATHS)
    assert choices.LAYOUT_CHOICES == LAYOUT_CHOICES
    assert choices.FEATURE_D_CHOICES == FEATURE_D_CHOICES
    assert choices.BEST_METRICS == tuple(sorted(BEST_METRICS))
    assert choices.DEFAULT_PRESET == DEFAULT_PRESET


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "galip_studio.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "generate" in r.stdout


# Run in a fresh interpreter: galip-studio's own main, as the console script calls it, with --help
# at the root and at every command (nested ones too: data emoji, data pack). Prints each help's exit
# code and text, and which heavy libraries got imported.
HELP_PROBE = r"""
import argparse, contextlib, io, json, sys

from galip_studio.cli import build_parser, main

def commands(parser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from commands(sub, (*prefix, name))

def help_of(argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main([*argv, "--help"])
        except SystemExit as e:
            return e.code, out.getvalue()
    return None, out.getvalue()

helps = {" ".join(argv): help_of(list(argv)) for argv in [(), *commands(build_parser())]}
heavy = sorted(m for m in ("torch", "open_clip", "gradio", "transformers") if m in sys.modules)
print(json.dumps({"helps": helps, "heavy": heavy}))
"""


def test_help_imports_no_torch():
    """`galip-studio --help` and every `galip-studio COMMAND --help` print their help without importing
    torch, open_clip, gradio or transformers (seconds of start-up): the parsers import only light modules."""
    import argparse

    r = subprocess.run([sys.executable, "-c", HELP_PROBE], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    probe = json.loads(r.stdout)
    assert probe["heavy"] == [], f"building the parsers imported {probe['heavy']}"
    helps = probe["helps"]
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) <= set(helps) and {"train", "train-clip", "serve", "data emoji", "data pack"} <= set(helps)
    code, root = helps[""]
    assert code == 0 and root.startswith("usage: galip-studio")
    for name in sub.choices:  # the root's help lists every command
        assert f"\n    {name} " in root or f"\n    {name}\n" in root, name
    for command, (code, text) in helps.items():
        assert code == 0 and text.startswith(f"usage: galip-studio {command}".rstrip()), command


def test_data_emoji_is_wired():
    parser = build_parser()
    args = parser.parse_args(["data", "emoji", "/tmp/out", "--limit", "3"])
    assert args.builder == "emoji" and callable(args.func)


def test_convert_to_fp16_release_keeps_images(tmp_path, tiny_checkpoint, capsys):
    """A release copy (fp16, no discriminator) is smaller and generates what the original does, to fp16 accuracy."""
    import math

    import torch

    from galip_studio.checkpoint import read_config
    from galip_studio.pipeline import GALIPPipeline

    out = tmp_path / "release"
    assert main(["convert", str(tiny_checkpoint), str(out), "--no-discriminator"]) == 0
    assert "float16" in capsys.readouterr().out
    config = read_config(out)
    assert config["weights_dtype"] == "float16" and config["files"]["discriminator"] is None
    assert not (out / "discriminator.safetensors").exists()
    assert config["training"]["note"] == "test" and config["training"]["converted_from"] == tiny_checkpoint.name  # no machine paths
    size = lambda d: sum(f.stat().st_size for f in d.iterdir() if f.suffix == ".safetensors")  # noqa: E731
    assert size(out) < 0.6 * size(tiny_checkpoint)

    kwargs = dict(seed=3, num_images=4, output_type="pt")
    ref = GALIPPipeline.from_pretrained(tiny_checkpoint, fast=False)("a red apple", **kwargs).images
    half = GALIPPipeline.from_pretrained(out, fast=False)("a red apple", **kwargs).images
    mse = (ref.clamp(-1, 1) - half.clamp(-1, 1)).pow(2).mean().item()
    assert mse > 0 and 10 * math.log10(4 / mse) > 35
    assert torch.equal(half, GALIPPipeline.from_pretrained(out, fast=False)("a red apple", **kwargs).images)

    # refuses to overwrite unless asked; a full-precision copy keeps the discriminator, and the
    # folder's own files (a model card, figures) survive while stale weights do not
    assert main(["convert", str(tiny_checkpoint), str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    (out / "MODEL_CARD.md").write_text("# card\n")
    (out / "samples.png").write_bytes(b"png")
    (out / "samples.png.json").write_text("{}")
    (out / "training_state.pt").write_bytes(b"stale")
    assert main(["convert", str(tiny_checkpoint), str(out), "--dtype", "float32", "--overwrite"]) == 0
    assert "kept the folder's other files: MODEL_CARD.md, samples.png, samples.png.json" in capsys.readouterr().out
    assert read_config(out)["files"]["discriminator"] == "discriminator.safetensors"
    assert (out / "MODEL_CARD.md").read_text() == "# card\n" and (out / "samples.png").read_bytes() == b"png"
    assert (out / "samples.png.json").is_file() and not (out / "training_state.pt").exists()
