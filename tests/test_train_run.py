"""End-to-end training on CPU with the tiny model: outputs, exact resume, robustness, evaluation."""

from __future__ import annotations

import copy
import json
import math
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from safetensors.torch import load_file

from galip_studio.cli import main
from galip_studio.pipeline import GALIPPipeline
from galip_studio.train import NonFiniteLossError, TrainConfig, Trainer, resolve_train_config
from galip_studio.train import trainer as trainer_module
from galip_studio.train.trainer import build_stepper
from galip_studio.train.config import parse_duration
from galip_studio.train.evaluate import summarize
from galip_studio.checkpoint import TRAINING_STATE_FILE as TRAIN_STATE_FILE
from galip_studio.runlog import read_log

from helpers import make_folder, quick_config

QUICK = ["--preset", "tiny", "--batch-size", "4", "--amp", "none", "--no-progress", "--sample-captions", "2",
         "--sample-noise", "2", "--eval-images", "6", "--threads", "2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("train") / "data", n=12)


def test_cli_run_writes_log_samples_checkpoints_and_evaluates(tmp_path, data, capsys):
    run = tmp_path / "run"
    rc = main(["train", str(data), "--out", str(run), *QUICK, "--steps", "4", "--log-every", "1",
               "--save-every", "2", "--sample-every", "2", "--keep-last", "1"])
    assert rc == 0
    records = read_log(run / "log.jsonl")
    steps = [r for r in records if "event" not in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    for key in ("loss_d", "loss_d_real", "loss_d_fake", "loss_d_mismatch", "loss_gp", "loss_g", "loss_g_adv", "clip_sim", "images_per_s"):
        assert all(math.isfinite(r[key]) for r in steps), key
    evals = [r for r in records if r.get("event") == "eval"]
    assert [r["step"] for r in evals] == [2, 4] and all("clip_fd" in r and "clip_score" in r for r in evals)
    assert records[-1] == {**records[-1], "event": "stop", "status": "finished", "step": 4}
    assert {p.name for p in (run / "samples").iterdir()} >= {"real.png", "captions.txt", "step_000000.png", "step_000002.png", "step_000004.png"}

    ckpts = run / "checkpoints"
    assert (ckpts / "latest").resolve() == (ckpts / "step_000004").resolve()
    best = (ckpts / "best").resolve()
    kept = {p.name for p in ckpts.iterdir() if p.name.startswith("step_")}
    assert kept == {"step_000004", best.name}  # keep-last 1, plus the best
    state = torch.load(ckpts / "latest" / TRAIN_STATE_FILE, weights_only=True)
    assert state["step"] == 4 and set(state) >= {"optimizer_g", "optimizer_d", "epoch", "epoch_step"}
    settings = json.loads((run / "config.json").read_text())
    assert settings["train"]["steps"] == 4 and settings["train"]["lr_d"] == 4e-4 and settings["data"]["usable"] == 12

    pipe = GALIPPipeline.from_pretrained(ckpts / "latest", device="cpu")
    assert pipe.describe()["training"]["step"] == 4
    assert pipe("a red square", num_images=1, seed=0).images[0].size == (32, 32)
    GALIPPipeline.from_pretrained(ckpts / "best", device="cpu")

    capsys.readouterr()
    assert main(["eval", str(ckpts / "latest"), str(data), "--images", "6", "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert result["eval_images"] == 6 and -1 <= result["clip_score"] <= 1 and result["clip_fd"] >= 0
    assert 0 <= result["prompt_r1"] <= result["prompt_r5"] <= 1 and result["eval_captions"] <= 6
    assert 0 <= result["image_r1"] <= result["image_r5"] <= 1

    assert main(["train", str(data), "--out", str(run), *QUICK, "--steps", "2"]) == 1
    assert "already holds checkpoints" in capsys.readouterr().err


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return {**load_file(str(ckpt / "generator.safetensors")), **{"D." + k: v for k, v in load_file(str(ckpt / "discriminator.safetensors")).items()}}


@pytest.mark.parametrize(("ema", "augment"), [(0.0, None), (0.9, None), (0.0, "translation,cutout")])
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, data, ema, augment):
    straight = Trainer(quick_config(data, tmp_path / "a", steps=5, ema=ema, augment=augment)).run()
    assert straight.status == "finished" and straight.steps == 5
    first = Trainer(quick_config(data, tmp_path / "b", steps=2, ema=ema, augment=augment)).run()  # 3 steps per epoch: stops mid-epoch
    assert first.steps == 2
    saved = json.loads((tmp_path / "b" / "config.json").read_text())["train"]
    resumed = Trainer(resolve_train_config({"data_dir": str(data), "out": str(tmp_path / "b"), "resume": "latest", "steps": 5}, saved)).run()
    assert resumed.steps == 5 and resumed.epoch == 1

    a, b = _weights(straight.last_checkpoint), _weights(resumed.last_checkpoint)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:3]
    sa = torch.load(straight.last_checkpoint / TRAIN_STATE_FILE, weights_only=True)
    sb = torch.load(resumed.last_checkpoint / TRAIN_STATE_FILE, weights_only=True)
    for opt in ("optimizer_g", "optimizer_d"):
        for pa, pb in zip(sa[opt]["state"].values(), sb[opt]["state"].values()):
            assert torch.equal(pa["exp_avg"], pb["exp_avg"]) and torch.equal(pa["exp_avg_sq"], pb["exp_avg_sq"])
    assert (sa["epoch"], sa["epoch_step"]) == (sb["epoch"], sb["epoch_step"]) == (1, 2)
    if ema:  # the checkpoint's generator is the average (compared above); the trained weights are in the state
        assert all(torch.equal(sa["generator_train"][k], sb["generator_train"][k]) for k in sa["generator_train"])
        assert not torch.equal(sa["generator_train"]["image_generator.to_rgb.1.weight"], a["image_generator.to_rgb.1.weight"])
    else:
        assert sa["generator_train"] is None
    # a first run's log continues in the same file
    assert [r["step"] for r in read_log(tmp_path / "b" / "log.jsonl") if "event" not in r] == [1, 2, 3, 4, 5]


def _record_trained_generator(history: list) -> Callable[[Any], None]:
    """A training callback that appends G's trained weights after each step to ``history``."""

    def record(info) -> None:
        history.append({k: v.detach().clone() for k, v in info.trainer.model.generator.state_dict().items()})

    return record


def test_ema_generator_is_the_moving_average_and_is_what_checkpoints_sample_and_evaluate(tmp_path, data):
    history = []
    record = _record_trained_generator(history)
    cfg = quick_config(data, tmp_path / "run", steps=3, ema=0.5, eval_every=3, save_every=3)
    fresh = build_stepper(cfg)  # the same seeded initialisation the run starts from
    start = {k: v.detach().clone() for k, v in fresh.model.generator.state_dict().items()}
    result = Trainer(cfg, callbacks=[record]).run()
    expected = start
    for step, weights in enumerate(history):  # decay min(0.5, (1 + step) / (10 + step)): 0.1, 0.18, 0.25
        d = min(0.5, (1 + step) / (10 + step))
        expected = {k: d * expected[k] + (1 - d) * weights[k] for k in weights}
    saved = load_file(str(result.last_checkpoint / "generator.safetensors"))
    assert all(torch.allclose(saved[k], expected[k], atol=1e-6) for k in expected)
    state = torch.load(result.last_checkpoint / TRAIN_STATE_FILE, weights_only=True)
    assert all(torch.equal(state["generator_train"][k], history[-1][k]) for k in history[-1])
    assert state["ema"] == 0.5
    evals = [r for r in read_log(tmp_path / "run" / "log.jsonl") if r.get("event") == "eval"]
    assert {"clip_fd", "raw_clip_fd", "raw_clip_score", "raw_prompt_r5"} <= set(evals[-1])
    pipe = GALIPPipeline.from_pretrained(result.last_checkpoint, device="cpu")
    assert pipe.describe()["training"]["ema"] == 0.5
    assert torch.equal(pipe.generator.state_dict()["image_generator.to_rgb.1.weight"], saved["image_generator.to_rgb.1.weight"])


def test_convert_can_export_the_trained_generator_instead_of_the_average(tmp_path, data, tiny_checkpoint, capsys):
    # after a short fine-tune the average can lag behind the trained weights; convert --generator trained
    # writes those, with the evaluation re-labelled to match
    history = []
    cfg = quick_config(data, tmp_path / "run", steps=3, ema=0.5, eval_every=3, save_every=3)
    result = Trainer(cfg, callbacks=[_record_trained_generator(history)]).run()
    out = tmp_path / "trained"
    assert main(["convert", str(result.last_checkpoint), str(out), "--generator", "trained", "--dtype", "float32"]) == 0
    assert "the trained generator" in capsys.readouterr().out
    saved = load_file(str(out / "generator.safetensors"))
    average = load_file(str(result.last_checkpoint / "generator.safetensors"))
    assert all(torch.equal(saved[k], history[-1][k]) for k in history[-1])
    assert not all(torch.equal(saved[k], average[k]) for k in saved)
    assert load_file(str(out / "discriminator.safetensors")).keys() == load_file(str(result.last_checkpoint / "discriminator.safetensors")).keys()
    before = json.loads((result.last_checkpoint / "config.json").read_text())["training"]["metrics"]
    training = json.loads((out / "config.json").read_text())["training"]
    assert training["generator"] == "trained" and training["converted_from"] == result.last_checkpoint.name
    metrics = training["metrics"]
    assert metrics["clip_fd"] == before["raw_clip_fd"] and metrics["average_clip_fd"] == before["clip_fd"]
    assert metrics["clip_score_real"] == before["clip_score_real"] and not any(k.startswith("raw_") for k in metrics)
    # the run's evaluation line shows both, so the log says when the trained weights are worth exporting
    assert f"trained weights (not the average): CLIP FD {before['raw_clip_fd']:.4f}, prompt R@1" in summarize(before)
    assert "trained weights" not in summarize(metrics)
    pipe = GALIPPipeline.from_pretrained(out, device="cpu", fast=False)
    assert pipe("a red apple", seed=0, num_images=1, output_type="pt").images.shape[0] == 1

    # what has no trained weights apart from its generator is refused with a line, before any writing
    plain = Trainer(quick_config(data, tmp_path / "plain", steps=1, ema=0.0, save_every=1)).run()
    broken = tmp_path / "broken"
    shutil.copytree(result.last_checkpoint, broken)
    (broken / TRAIN_STATE_FILE).write_bytes(b"not a torch file")
    for source, says in [(plain.last_checkpoint, "already is the trained weights"), (tiny_checkpoint, "not a training checkpoint"),
                         (broken, "cannot be read as a training state")]:
        assert main(["convert", str(source), str(tmp_path / "x"), "--generator", "trained"]) == 1
        assert says in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_fine_tune_averages_at_the_full_decay_from_the_start(tmp_path, tiny_checkpoint, data):
    # no StyleGAN2 ramp from trained weights: after one step the average is 0.9 init + 0.1 trained
    history = []
    cfg = quick_config(data, tmp_path / "ft", steps=1, ema=0.9, init=str(tiny_checkpoint), save_every=1)
    result = Trainer(cfg, callbacks=[_record_trained_generator(history)]).run()
    start = _weights(tiny_checkpoint)
    saved = load_file(str(result.last_checkpoint / "generator.safetensors"))
    assert all(torch.allclose(saved[k], 0.9 * start[k] + 0.1 * history[0][k], atol=1e-6) for k in history[0])
    assert not all(torch.equal(start[k], history[0][k]) for k in history[0])  # it did train


def test_ema_can_be_turned_on_when_resuming(tmp_path, data):
    first = Trainer(quick_config(data, tmp_path / "run", steps=2)).run()
    plain = load_file(str(first.last_checkpoint / "generator.safetensors"))
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    cfg = resolve_train_config({"data_dir": str(data), "out": str(tmp_path / "run"), "resume": "latest", "steps": 3, "ema": 0.9}, saved)
    stepper = build_stepper(cfg, first.last_checkpoint)
    assert all(torch.equal(v, plain[k]) for k, v in stepper.ema.state_dict().items())  # the average starts at the checkpoint
    with pytest.raises(ValueError, match="ema is a decay"):
        quick_config(data, tmp_path / "x", ema=1.0)


def test_resume_refuses_settings_that_break_continuation(tmp_path):
    saved = TrainConfig(data_dir="d", out="o").to_dict()
    with pytest.raises(ValueError, match="cannot change lr_g"):
        resolve_train_config({"data_dir": "d", "out": "o", "resume": "latest", "lr_g": 1.0}, saved)
    cfg = resolve_train_config({"data_dir": "d", "out": "o", "resume": "latest", "steps": 9, "save_every": 5}, saved)
    assert cfg.steps == 9 and cfg.save_every == 5


def test_balance_draws_every_folder_equally_and_changes_on_resume_only_with_new_data(tmp_path, data, capsys):
    out = tmp_path / "run"  # `data` has 6 images in its root and 6 in sub/
    run = ["train", str(data), "--out", str(out), *QUICK, "--eval-every", "0"]
    assert main([*run, "--steps", "1", "--balance"]) == 0
    assert "balance 1: 2 folders, each epoch's share per folder (before -> after)" in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["train"]["balance"] == 1.0
    again = [*run, "--resume", "latest", "--steps", "2", "--balance", "0.5"]
    assert main(again) == 1
    err = capsys.readouterr().err
    assert "cannot change balance when resuming (the run was started with balance=1.0)" in err
    assert "or pass --new-data to change balance" in err
    assert main([*again, "--new-data"]) == 0
    assert "balance 0.5: 2 folders" in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["train"]["balance"] == 0.5
    assert main(["train", str(data), "--out", str(tmp_path / "dry"), "--balance", "0.5", "--dry-run"]) == 0
    assert "balance 0.5: 2 folders" in capsys.readouterr().out

    flat = tmp_path / "flat"
    flat.mkdir()
    for path in data.glob("img*"):  # the root's six images only
        (flat / path.name).write_bytes(path.read_bytes())
    assert main(["train", str(flat), "--out", str(tmp_path / "flat-run"), *QUICK, "--balance"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("galip-studio: error: --balance needs images in two or more folders") and "all 6 are in" in err
    with pytest.raises(SystemExit):
        main([*run, "--balance", "x"])
    with pytest.raises(ValueError, match="balance is a strength in"):
        TrainConfig(data_dir="d", out="o", balance=2.0)


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, data):
    def poison(info):
        if info.step == 3:  # after the step-2 checkpoint
            with torch.no_grad():
                next(info.trainer.model.generator.parameters()).fill_(float("nan"))

    with pytest.raises(NonFiniteLossError, match="step 4.*step_000002"):
        Trainer(quick_config(data, tmp_path / "run", steps=6, save_every=2), callbacks=[poison]).run()
    latest = tmp_path / "run" / "checkpoints" / "latest"
    assert latest.resolve().name == "step_000002"
    assert all(torch.isfinite(t).all() for t in _weights(latest).values())
    assert read_log(tmp_path / "run" / "log.jsonl")[-1]["status"] == "non-finite loss"


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "galip_studio.cli", *args]


def test_ctrl_c_saves_a_checkpoint_and_exits(tmp_path, data):
    run = tmp_path / "run"
    args = ["train", str(data), "--out", str(run), *QUICK, "--log-every", "1", "--save-every", "0", "--sample-every", "0", "--eval-every", "0"]
    proc = subprocess.Popen(_cli(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            if (run / "log.jsonl").exists() and any("event" not in r for r in read_log(run / "log.jsonl")):
                break
            if proc.poll() is not None:
                pytest.fail(f"training ended early: {proc.communicate()}")
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "--resume latest" in err and "Traceback" not in err
    last = max(r["step"] for r in read_log(run / "log.jsonl") if "event" not in r)
    latest = run / "checkpoints" / "latest"
    assert json.loads((latest / "config.json").read_text())["training"]["step"] == last
    GALIPPipeline.from_pretrained(latest, device="cpu")


def _a_minute_per_step(monkeypatch) -> None:
    """The clock of --time-limit moves on one minute with each training step (and not otherwise)."""
    done = [0]
    train_step = trainer_module.Stepper.train_step

    def counted(self, images, captions):
        losses = train_step(self, images, captions)
        done[0] += 1
        return losses

    monkeypatch.setattr(trainer_module.Stepper, "train_step", counted)
    monkeypatch.setattr(trainer_module, "wall_clock", lambda: 60.0 * done[0])


def _stop_event(run: Path) -> dict[str, Any]:
    records = read_log(run / "log.jsonl")
    assert records[-1]["event"] == "stop"
    return records[-1]


def test_time_limit_saves_and_stops_with_status_0_and_resume_gets_a_fresh_budget(tmp_path, data, capsys, monkeypatch):
    _a_minute_per_step(monkeypatch)
    run, ckpts = tmp_path / "run", tmp_path / "run" / "checkpoints"
    args = ["train", str(data), "--out", str(run), *QUICK, "--log-every", "1", "--save-every", "0", "--sample-every", "0",
            "--eval-every", "0", "--steps", "5"]
    assert main([*args, "--time-limit", "90s"]) == 0  # a planned stop: 1 min after step 1, 2 min after step 2
    err = capsys.readouterr().err
    assert "time limit of 1.5 min reached at step 2; checkpoint saved in" in err and "continue with --resume latest" in err
    assert _stop_event(run) == {**_stop_event(run), "status": "time limit", "step": 2}
    assert (ckpts / "latest").resolve().name == "step_000002"
    assert json.loads((run / "config.json").read_text())["train"]["time_limit"] == 1.5

    resume = ["train", str(data), "--out", str(run), "--resume", "latest"]
    assert main([*resume, "--time-limit", "1"]) == 0  # the budget counts from this invocation's first step
    assert "time limit of 1 min reached at step 3" in capsys.readouterr().err
    assert _stop_event(run) == {**_stop_event(run), "status": "time limit", "step": 3}
    assert main(resume) == 0  # not inherited (it would stop at step 4): this one runs to --steps
    assert _stop_event(run) == {**_stop_event(run), "status": "finished", "step": 5}
    assert json.loads((run / "config.json").read_text())["train"]["time_limit"] is None
    assert [r["step"] for r in read_log(run / "log.jsonl") if "event" not in r] == [1, 2, 3, 4, 5]

    straight = Trainer(quick_config(data, tmp_path / "straight", steps=5)).run()  # the same weights as never stopped
    a, b = _weights(straight.last_checkpoint), _weights(ckpts / "latest")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_time_limit_combines_with_epochs_whichever_comes_first(tmp_path, data, monkeypatch):
    _a_minute_per_step(monkeypatch)
    # 3 steps per epoch; the limit passes at the last step: the run finishes (final evaluation included)
    cfg = quick_config(data, tmp_path / "run", epochs=1, time_limit="2.5m", eval_every=2, eval_images=4)
    assert cfg.time_limit == 2.5
    result = Trainer(cfg).run()
    assert (result.status, result.steps) == ("finished", 3)
    assert [r["step"] for r in read_log(tmp_path / "run" / "log.jsonl") if r.get("event") == "eval"] == [2, 3]
    longer = Trainer(quick_config(data, tmp_path / "longer", epochs=2, time_limit="2.5m")).run()
    assert (longer.status, longer.steps) == ("time limit", 3)
    assert longer.last_checkpoint.name == "step_000003" and _stop_event(tmp_path / "longer")["status"] == "time limit"


def test_time_limit_durations_and_resume_settings(tmp_path, data, capsys):
    assert [parse_duration(t) for t in ("9", "9.5", "90s", "10m", "1.5h", " 2 M ", ".5")] == [9, 9.5, 1.5, 10, 90, 2, 0.5]
    for bad in ("0", "0s", "-5", "-1m", "", "abc", "10x", "1.5d", "nan", "inf", "m", "1 0m", "10mm"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    out = ["train", str(data), "--out", str(tmp_path / "run"), "--preset", "tiny", "--dry-run"]
    for bad, why in (("0", "more than zero"), ("-3", "more than zero"), ("soon", "not a duration")):
        with pytest.raises(SystemExit) as e:
            main([*out, "--time-limit", bad])
        err = capsys.readouterr().err
        assert e.value.code == 2 and "argument --time-limit" in err and why in err, err
    assert main([*out, "--time-limit", "1.5h"]) == 0
    text = capsys.readouterr().out
    assert json.loads(text[: text.index("\n}") + 2])["time_limit"] == 90
    with pytest.raises(ValueError, match="time_limit"):
        TrainConfig(data_dir="d", out="o", time_limit=0)
    saved = TrainConfig(data_dir="d", out="o", time_limit=30).to_dict()
    assert saved["time_limit"] == 30
    assert resolve_train_config({"data_dir": "d", "out": "o", "resume": "latest"}, saved).time_limit is None
    assert resolve_train_config({"data_dir": "d", "out": "o", "resume": "latest", "time_limit": 5}, saved).time_limit == 5


KILL_WHILE_SAVING = """
import os, signal, sys
import safetensors.torch
from galip_studio.train import Trainer, resolve_train_config

real_save = safetensors.torch.save_file

def save_then_die(tensors, filename, metadata=None):
    if ".step_000004" in str(filename):
        with open(filename, "wb") as fh:
            fh.write(b"half a file")
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(tensors, filename, metadata)

safetensors.torch.save_file = save_then_die
cfg = resolve_train_config(dict(data_dir=sys.argv[1], out=sys.argv[2], preset="tiny", batch_size=4, amp="none", progress=False,
                                sample_every=0, eval_every=0, save_every=2, steps=4, threads=2))
Trainer(cfg).run()
"""


def test_process_killed_while_saving_leaves_previous_checkpoint(tmp_path, data):
    run = tmp_path / "run"
    script = tmp_path / "kill.py"
    script.write_text(textwrap.dedent(KILL_WHILE_SAVING))
    proc = subprocess.run([sys.executable, str(script), str(data), str(run)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    ckpts = run / "checkpoints"
    assert any(p.name.startswith(".step_000004.tmp-") for p in ckpts.iterdir())  # the partial write
    assert not (ckpts / "step_000004").exists()
    assert (ckpts / "latest").resolve().name == "step_000002"
    GALIPPipeline.from_pretrained(ckpts / "latest", device="cpu")
    saved = json.loads((run / "config.json").read_text())["train"]
    result = Trainer(resolve_train_config({"data_dir": str(data), "out": str(run), "resume": "latest"}, saved)).run()
    assert result.steps == 4 and result.last_checkpoint.name == "step_000004"
    assert not any(p.name.startswith(".") for p in ckpts.iterdir())


def test_dry_run_prints_settings_without_training(tmp_path, data, capsys):
    assert main(["train", str(data), "--out", str(tmp_path / "run"), "--preset", "tiny", "--lr-g", "2e-4", "--dry-run"]) == 0
    out = capsys.readouterr().out
    settings = json.loads(out[: out.index("\n}") + 2])
    assert settings["lr_g"] == 2e-4 and settings["lr_d"] == 4e-4 and settings["preset"] == "tiny"
    assert "12 usable" in out and "real images at 32 px" in out
    assert not (tmp_path / "run").exists()


def test_a_resumed_start_reads_the_data_digest_once_and_records_it(tmp_path, data, monkeypatch):
    """One plan per start: the folder's digest is taken once, compared with the run's, and recorded."""
    from galip_studio.train import plan

    run = tmp_path / "run"
    quick = ["--preset", "tiny", "--batch-size", "4", "--amp", "none", "--no-progress", "--threads", "2",
             "--sample-every", "0", "--eval-every", "0"]
    assert main(["train", str(data), "--out", str(run), *quick, "--steps", "1"]) == 0
    calls = []
    real = plan.data_digest
    monkeypatch.setattr(plan, "data_digest", lambda root: calls.append(root) or real(root))
    assert main(["train", str(data), "--out", str(run), *quick, "--steps", "2", "--resume", "latest", "--dry-run"]) == 0
    assert main(["train", str(data), "--out", str(run), *quick, "--steps", "2", "--resume", "latest"]) == 0
    assert len(calls) == 2  # one for the dry run, one for the run
    assert json.loads((run / "config.json").read_text())["data"]["digest"] == real(data)


def test_a_wrong_data_folder_fails_before_the_model_is_built(tmp_path, capsys, monkeypatch):
    """The folder is read first: a typo costs a second, not a CLIP download or build first."""
    from galip_studio.train import setup

    monkeypatch.setattr(setup, "build_model", lambda config: pytest.fail("the model was built before the data was read"))
    assert main(["train", str(tmp_path / "no-such-folder"), "--out", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err.strip() == f"galip-studio: error: data folder not found: {tmp_path / 'no-such-folder'}"
    assert not (tmp_path / "run").exists()


def test_the_paper_setup_offline_points_to_the_bundled_model(tmp_path, data, capsys, monkeypatch):
    import open_clip

    from galip_studio.pipeline import default_checkpoint_dir

    def offline(name, pretrained=None, **kwargs):
        raise RuntimeError(f"Failed to download weights for tag {pretrained!r}")

    monkeypatch.setattr(open_clip, "create_model", offline)
    assert main(["train", str(data), "--out", str(tmp_path / "run"), "--preset", "small-64"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("galip-studio: error: could not get CLIP weights 'openai'") and err.count("\n") == 1
    assert f"--clip-weights ViT-B-32.pt); or, with no network, fine-tune the bundled model: --init {default_checkpoint_dir()}" in err


def test_check_needs_no_run_directory(tmp_path, data, capsys, monkeypatch):
    """A data check reads DATA_DIR only: no --out, nothing written; everything else still asks for --out."""
    cwd, empty = tmp_path / "cwd", tmp_path / "empty"
    cwd.mkdir(), empty.mkdir()
    monkeypatch.chdir(cwd)
    assert main(["train", str(data), "--check"]) == 0
    assert "12 usable" in capsys.readouterr().out
    assert main(["train", str(empty), "--check"]) == 1  # nothing usable: the check fails
    capsys.readouterr()
    assert main(["train", str(data), "--preset", "tiny", "--dry-run"]) == 1
    assert "--out DIR (the run directory) is required" in capsys.readouterr().err
    assert list(cwd.iterdir()) == [] and list(empty.iterdir()) == []


def test_eval_judge_scores_with_another_clip(tmp_path, tiny_checkpoint, tiny_model, data, capsys):
    """--judge CLIP_DIR: the model's own CLIP as judge changes nothing; another CLIP gives its own
    scores (the real images' baselines too); a folder that is no CLIP is a one-line error."""
    def run(*extra):
        assert main(["eval", str(tiny_checkpoint), str(data), "--images", "6", "--json", "--device", "cpu", *extra]) == 0
        return json.loads(capsys.readouterr().out)

    own = run()
    tiny_model.clip.save_pretrained(tmp_path / "same")
    same = run("--judge", str(tmp_path / "same"))
    assert same.pop("judge") == str(tmp_path / "same") and same == own
    other = copy.deepcopy(tiny_model.clip)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in other.model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    other.save_pretrained(tmp_path / "other")
    judged = run("--judge", str(tmp_path / "other"))
    assert judged["clip_score"] != own["clip_score"] and judged["clip_score_real"] != own["clip_score_real"]
    assert judged["eval_images"] == own["eval_images"] == 6
    assert main(["eval", str(tiny_checkpoint), str(data), "--images", "6", "--judge", str(tmp_path / "nothing")]) == 1
    assert "not a CLIP directory" in capsys.readouterr().err


def test_eval_truncation_scales_the_noise_and_is_reported(tmp_path, tiny_checkpoint, tiny_model, data, capsys):
    """--truncation PSI scores images made from noise scaled by PSI (0: every image its caption's
    mean-noise image), says so in the JSON and the summary; outside [0, 1] is a one-line error."""
    from galip_studio.datasets.folders import scan_dataset
    from galip_studio.train.data import ImageCaptionDataset, ImageTransform
    from galip_studio.train.evaluate import EvalConfig, Evaluator

    def run(*extra):
        assert main(["eval", str(tiny_checkpoint), str(data), "--images", "6", "--json", "--device", "cpu", *extra]) == 0
        return json.loads(capsys.readouterr().out)

    full, half = run(), run("--truncation", "0.5")
    assert full["truncation"] == 1.0 and half["truncation"] == 0.5
    assert half["clip_score"] != full["clip_score"] and half["clip_score_real"] == full["clip_score_real"]
    assert run("--truncation", "0.5") == half  # same noise, same scores
    dataset = ImageCaptionDataset(scan_dataset(str(data))[0], ImageTransform(32, flip=False))
    z = Evaluator(dataset, tiny_model.clip, EvalConfig(6, truncation=0.25)).noise(8)
    assert torch.allclose(z, Evaluator(dataset, tiny_model.clip, EvalConfig(6)).noise(8) * 0.25)
    assert main(["eval", str(tiny_checkpoint), str(data), "--images", "6", "--device", "cpu"]) == 0
    assert "at truncation" not in capsys.readouterr().out
    assert main(["eval", str(tiny_checkpoint), str(data), "--images", "6", "--device", "cpu", "--truncation", "0.7"]) == 0
    assert "over 6 images at truncation 0.7; real images framed at" in capsys.readouterr().out
    assert main(["eval", str(tiny_checkpoint), str(data), "--truncation", "1.5"]) == 1
    err = capsys.readouterr().err
    assert "truncation must be in [0, 1], got 1.5" in err and "Traceback" not in err


def test_eval_frames_real_images_as_the_checkpoint_was_trained(tmp_path, tiny_model, data, capsys):
    """The real images are framed by the checkpoint's recorded training.recipe.resize_ratio (a model
    trained on whole images is compared with whole images), else the paper's 76/64; --resize-ratio
    overrides; the JSON and the summary say which; a ratio outside [1, 4], given or recorded, is a
    one-line error."""
    from galip_studio.checkpoint import save_checkpoint

    def save(name, training):
        save_checkpoint(tiny_model, tmp_path / name, training=training)
        return str(tmp_path / name)

    def run(ckpt, *extra):
        assert main(["eval", ckpt, str(data), "--images", "6", "--json", "--device", "cpu", *extra]) == 0
        return json.loads(capsys.readouterr().out)

    plain = save("plain", {"note": "no recipe"})
    whole = save("whole", {"recipe": {"resize_ratio": 1.0}})
    paper = run(plain)
    assert paper["resize_ratio"] == pytest.approx(76 / 64) and paper["framing"].startswith("the paper's")
    trained = run(whole)
    assert trained["resize_ratio"] == 1.0 and trained["framing"] == "as the checkpoint was trained"
    # same model and noise, other reals: the real side changes, and --resize-ratio gives either framing back
    assert trained["clip_fd"] != paper["clip_fd"] and trained["clip_score"] == paper["clip_score"]
    assert {k: v for k, v in run(whole, "--resize-ratio", str(76 / 64)).items() if k not in ("checkpoint", "framing")} \
        == {k: v for k, v in paper.items() if k not in ("checkpoint", "framing")}
    assert run(plain, "--resize-ratio", "1")["clip_fd"] == trained["clip_fd"]
    assert main(["eval", whole, str(data), "--images", "6", "--device", "cpu"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("real images framed at resize ratio 1 (as the checkpoint was trained)")
    for ckpt, extra, said in ((plain, ["--resize-ratio", "0.5"], "--resize-ratio must be between 1 and 4, got 0.5"),
                              (plain, ["--resize-ratio", "nan"], "--resize-ratio must be between 1 and 4, got nan"),
                              (save("odd", {"recipe": {"resize_ratio": 1e9}}), [],
                               "the checkpoint's training.recipe.resize_ratio must be between 1 and 4, got 1e+09")):
        assert main(["eval", ckpt, str(data), "--images", "6", "--device", "cpu", *extra]) == 1
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err


@pytest.mark.slow  # builds and runs a full Inception-v3
def test_eval_with_inception_weights_reports_fid(tmp_path, tiny_checkpoint, data, capsys):
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    weights = tmp_path / "inception.pth"
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), weights)
    assert main(["eval", str(tiny_checkpoint), str(data), "--images", "3", "--json", "--inception-weights", str(weights)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert math.isfinite(result["fid"]) and result["fid"] >= 0 and result["eval_images"] == 3
    torch.save({"not": torch.zeros(1)}, weights)
    assert main(["eval", str(tiny_checkpoint), str(data), "--images", "3", "--inception-weights", str(weights)]) == 1


def test_init_fine_tunes_from_a_checkpoint(tmp_path, tiny_checkpoint, data):
    # with zero learning rates the weights must stay exactly those of the checkpoint
    result = Trainer(quick_config(data, tmp_path / "ft", steps=1, init=str(tiny_checkpoint), lr_g=0.0, lr_d=0.0)).run()
    a, b = _weights(tiny_checkpoint), _weights(result.last_checkpoint)
    assert all(torch.equal(a[k], b[k]) for k in a)
    meta = json.loads((result.last_checkpoint / "config.json").read_text())["training"]
    assert meta["init"] == tiny_checkpoint.name and meta["init_kind"] == "checkpoint" and meta["preset"] == "tiny"
    with pytest.raises(ValueError, match="architecture from the checkpoint"):
        Trainer(quick_config(data, tmp_path / "ft2", steps=1, init=str(tiny_checkpoint), ngf=16)).run()


def test_fine_tune_takes_the_training_defaults_of_the_preset_its_checkpoint_was_trained_with(tmp_path, tiny_model, data):
    # `train --init checkpoints/galip-emoji-64` without --preset must fine-tune with the emoji-64 recipe
    # (moving average, crop, no-flip words), not the default preset's
    from galip_studio.checkpoint import save_checkpoint
    from galip_studio.config import get_preset

    emoji = get_preset("emoji-64").training
    ckpt = save_checkpoint(tiny_model, tmp_path / "ckpt", training={"preset": "emoji-64", "step": 8000})
    cfg = resolve_train_config({"data_dir": str(data), "out": str(tmp_path / "ft"), "init": str(ckpt)})
    assert cfg.preset == "emoji-64" and cfg.ema == emoji["ema"] == 0.998
    assert cfg.resize_ratio == emoji["resize_ratio"] and cfg.flip_exclude == emoji["flip_exclude"]
    assert cfg.clip is None  # the CLIP comes from the checkpoint, not the preset's directory
    explicit = resolve_train_config({"data_dir": str(data), "out": str(tmp_path / "ft"), "init": str(ckpt), "preset": "tiny",
                                     "ema": 0.99})
    assert explicit.preset == "tiny" and explicit.ema == 0.99 and explicit.resize_ratio != emoji["resize_ratio"]
    unrecorded = save_checkpoint(tiny_model, tmp_path / "old", training={"note": "no preset"})
    assert resolve_train_config({"data_dir": str(data), "out": str(tmp_path / "ft"), "init": str(unrecorded)}).preset == "small-64"
    pth = tmp_path / "pre_coco.pth"
    pth.write_bytes(b"")
    assert resolve_train_config({"data_dir": str(data), "out": str(tmp_path / "ft"), "init": str(pth)}).preset == "official-224"
    assert main(["train", str(data), "--out", str(tmp_path / "x"), "--init", str(tmp_path / "missing"), "--dry-run"]) == 1
