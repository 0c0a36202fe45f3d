"""Training data: the three layouts, the skip report, transforms, robust fetching, the sharded sampler."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from galip_studio.cli import main
from galip_studio.datasets.folders import DataError, Sample, load_filenames_pickle, load_rgb, scan_dataset
from galip_studio.train.data import ImageCaptionDataset, ImageTransform, ShardedBatchSampler, balance_weights, collate

from helpers import make_folder


def test_folder_layout_report_skips_bad_files(tmp_path, capsys):
    root = make_folder(tmp_path / "data", n=6)
    (root / "broken.png").write_bytes(b"this is not a png")
    (root / "broken.txt").write_text("a broken image\n")
    Image.new("RGB", (8, 8)).save(root / "empty.png")
    (root / "empty.txt").write_text("\n   \n")
    Image.new("RGB", (8, 8)).save(root / "nocaption.png")
    (root / "orphan.txt").write_text("no image for me\n")
    (root / ".hidden").mkdir()
    Image.new("RGB", (8, 8)).save(root / ".hidden" / "x.png")

    samples, report = scan_dataset(root)
    assert report.layout == "folder" and report.usable == 6 == len(samples)
    assert report.counts() == {"caption without image": 1, "empty caption": 1, "missing caption": 1, "unreadable image": 1}
    assert {s.image.name for s in samples} == {f"img{i:02d}.png" for i in range(6)}
    assert samples[0].captions == ("a red square", "a picture of red number 0")
    assert "broken.png" in report.problems["unreadable image"][0]

    assert main(["train", str(root), "--out", str(tmp_path / "run"), "--check"]) == 0
    out = capsys.readouterr().out
    assert "6 usable" in out and "skipped 1: empty caption" in out and "skipped 1: unreadable image" in out
    assert not (tmp_path / "run").exists()


def test_metadata_jsonl_layout(tmp_path):
    root = tmp_path / "meta"
    (root / "imgs").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (10, 10), (i * 80, 0, 0)).save(root / "imgs" / f"{i}.jpg")
    lines = [
        {"file_name": "imgs/0.jpg", "text": "first image"},
        {"file_name": "imgs/1.jpg", "text": ["one caption", "another caption"]},
        {"file_name": "imgs/2.jpg", "text": ""},
        {"file_name": "imgs/missing.jpg", "text": "x"},
    ]
    (root / "metadata.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    samples, report = scan_dataset(root)
    assert report.layout == "metadata"
    assert [s.captions for s in samples] == [("first image",), ("one caption", "another caption")]
    assert report.counts() == {"bad metadata line": 1, "empty caption": 1, "missing image": 1}


def _official_tree(root: Path) -> None:
    keys = ["001.Bird/bird_a", "001.Bird/bird_b", "002.Other/bird_c"]
    (root / "train").mkdir(parents=True)
    with open(root / "train" / "filenames.pickle", "wb") as fh:
        pickle.dump(keys, fh, protocol=2)
    for i, key in enumerate(keys):
        img = root / "CUB_200_2011" / "images" / f"{key}.jpg"
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (100, 80), (0, 100, 200)).save(img)
        txt = root / "text" / f"{key}.txt"
        txt.parent.mkdir(parents=True, exist_ok=True)
        txt.write_text("" if i == 2 else f"this bird {i} is blue\nit has wings\n")
    (root / "CUB_200_2011" / "images.txt").write_text("1 001.Bird/bird_a.jpg\n2 001.Bird/bird_b.jpg\n3 002.Other/bird_c.jpg\n")
    (root / "CUB_200_2011" / "bounding_boxes.txt").write_text("1 10.0 10.0 20.0 40.0\n2 0 0 100 80\n3 0 0 5 5\n")


def test_official_layout_with_cub_boxes(tmp_path):
    root = tmp_path / "birds"
    _official_tree(root)
    samples, report = scan_dataset(root)
    assert report.layout == "official" and report.usable == 2
    assert report.counts() == {"empty caption": 1}
    assert samples[0].captions == ("this bird 0 is blue", "it has wings")
    assert samples[0].box == (10.0, 10.0, 20.0, 40.0)
    # DF-GAN crop: r = int(0.75 * max(w, h)) = 30 around the centre (20, 30) -> x 0..50, y 0..60
    assert load_rgb(samples[0].image, samples[0].box).size == (50, 60)


def test_filenames_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "filenames.pickle"
    path.write_bytes(pickle.dumps(["ok", Evil()]))
    with pytest.raises(DataError, match="refusing"):
        load_filenames_pickle(path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps({"not": "a list"}))
    with pytest.raises(DataError, match="expected a list"):
        load_filenames_pickle(path)


def test_alpha_is_composited_on_white_and_resize_rule(tmp_path):
    rgba = Image.new("RGBA", (40, 30), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    rgba.save(tmp_path / "a.png")
    im = load_rgb(tmp_path / "a.png")
    assert im.mode == "RGB" and im.getpixel((5, 5)) == (255, 255, 255) and im.getpixel((0, 0)) == (0, 0, 255)
    t = ImageTransform(size=16)  # shorter side -> int(16 * 76 / 64) = 19, then a 16 crop
    x = t(im, np.random.default_rng(0))
    assert x.shape == (3, 16, 16) and x.min() >= -1 and x.max() <= 1
    centre = t(im, None)
    assert torch.equal(centre, t(im, None))


def test_fetch_is_seeded_per_epoch_and_index(tmp_path):
    samples, _ = scan_dataset(make_folder(tmp_path / "d", n=4))
    ds = ImageCaptionDataset(samples, ImageTransform(size=32), seed=3)
    a, b = ds[(1, 0)], ds[(1, 0)]
    assert torch.equal(a["image"], b["image"]) and a["caption"] == b["caption"]
    draws = {(ds[(1, e)]["caption"], ds[(1, e)]["image"].sum().item()) for e in range(12)}
    assert len(draws) > 2  # captions, crops and flips change between epochs
    assert ds[1]["caption"] == samples[1].captions[0]  # evaluation view: first caption


def test_image_broken_mid_run_is_replaced_and_reported(tmp_path):
    samples, _ = scan_dataset(make_folder(tmp_path / "d", n=4))
    ds = ImageCaptionDataset(samples, ImageTransform(size=32))
    samples[2].image.write_bytes(b"garbage")
    batch = collate([ds[(i, 0)] for i in range(4)])
    assert batch.images.shape == (4, 3, 32, 32)
    assert len(batch.failed) >= 1 and str(samples[2].image) in batch.failed[0]
    assert 2 not in batch.indices
    for s in samples:
        s.image.write_bytes(b"garbage")
    with pytest.raises(DataError, match="failed to load"):
        ds[(0, 0)]


@pytest.mark.parametrize("weighted", [False, True])
def test_sharded_sampler_splits_global_batches_between_ranks(weighted):
    n, b = 23, 3
    weights = [1.0 + i % 3 for i in range(n)] if weighted else None
    single = ShardedBatchSampler(n, 2 * b, world_size=1, rank=0, seed=5, weights=weights)
    ranks = [ShardedBatchSampler(n, b, world_size=2, rank=r, seed=5, weights=weights) for r in range(2)]
    assert single.steps_per_epoch == ranks[0].steps_per_epoch == 3  # 23 // 6, the rest dropped
    for epoch in (0, 1):
        for s in (single, *ranks):
            s.set_position(epoch)
        for whole, r0, r1 in zip(single, *ranks):
            assert [i for i, _ in whole] == [i for i, _ in r0] + [i for i, _ in r1]
            assert (weighted or not set(r0) & set(r1)) and {e for _, e in whole} == {epoch}
    ranks[0].set_position(1, 2)
    assert len(ranks[0]) == 1 and list(ranks[0])[0] == [(i, 1) for i in ranks[0].global_batch(1, 2)[:b]]
    assert ranks[0].epoch_order(0) != ranks[0].epoch_order(1)
    with pytest.raises(DataError, match="fewer than one global batch"):
        ShardedBatchSampler(5, 3, world_size=2)


def test_balance_gives_every_folder_its_share_of_an_epoch():
    big = [Sample(Path(f"/d/food/{i}.png"), ("an apple",)) for i in range(30)]
    small = [Sample(Path(f"/d/flags/{i}.png"), ("a flag",)) for i in range(6)]
    even = balance_weights(big + small, 1.0)
    assert even.groups == {"/d/food": 30, "/d/flags": 6}
    assert even.shares == pytest.approx({"/d/food": 0.5, "/d/flags": 0.5})
    assert sum(even.weights) == pytest.approx(1.0)
    root = balance_weights(big + small, 0.5)  # square-root sampling
    assert root.shares["/d/flags"] == pytest.approx(6**0.5 / (6**0.5 + 30**0.5))
    assert "flags: 6 images, 16.7% -> 50.0%" in even.format("/d")

    sampler = ShardedBatchSampler(36, 4, seed=3, weights=even.weights)
    assert sampler.steps_per_epoch == 9  # an epoch keeps its length
    drawn = [i for epoch in range(200) for i in sampler.epoch_order(epoch)]
    assert sum(i >= 30 for i in drawn) / len(drawn) == pytest.approx(0.5, abs=0.02)
    assert sampler.epoch_order(7) == ShardedBatchSampler(36, 4, seed=3, weights=even.weights).epoch_order(7)
    assert sampler.epoch_order(7) != sampler.epoch_order(8)

    with pytest.raises(DataError, match=r"--balance needs images in two or more folders .* all 30 are in /d/food"):
        balance_weights(big, 1.0)
    for bad in (0.0, 1.5, -1.0):
        with pytest.raises(ValueError, match="balance strength"):
            balance_weights(big + small, bad)
    with pytest.raises(ValueError, match="3 weights for 36 samples"):
        ShardedBatchSampler(36, 4, weights=[1.0, 1.0, 1.0])


def test_flip_exclude_never_flips_matching_captions(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    arr = np.zeros((16, 16, 3), dtype="uint8")
    arr[:, :8] = 255  # left half white: a flip moves it to the right
    for name, caption in (("arrow", "arrow pointing left"), ("ball", "a ball")):
        Image.fromarray(arr).save(root / f"{name}.png")
        (root / f"{name}.txt").write_text(caption + "\n")
    samples, _ = scan_dataset(root)
    ds = ImageCaptionDataset(samples, ImageTransform(size=16, resize_ratio=1.0), flip_exclude="left|right")
    assert ds.no_flip == {i for i, s in enumerate(samples) if "arrow" in s.captions[0]}
    flipped = {s.captions[0]: 0 for s in samples}
    for epoch in range(16):
        for i, s in enumerate(samples):
            flipped[s.captions[0]] += int(ds[(i, epoch)]["image"][0, 0, 0] < 0)  # top-left pixel no longer white
    assert flipped["arrow pointing left"] == 0 and 0 < flipped["a ball"] < 16
    with pytest.raises(DataError, match="regular expression"):
        ImageCaptionDataset(samples, ImageTransform(size=16), flip_exclude="(")
