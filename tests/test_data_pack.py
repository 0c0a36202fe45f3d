"""``galip-studio data pack``: any training folder -> WebP images + one metadata.jsonl that train reads the same."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from galip_studio.cli import build_parser, main
from galip_studio.datasets import pack
from galip_studio.datasets.pack import PackError, pack_dataset
from galip_studio.datasets import folders
from galip_studio.datasets.folders import detect_layout, load_rgb, scan_dataset

from helpers import make_folder


def pairs(root: Path, **kw) -> set[tuple[str, tuple[str, ...]]]:
    """(relative image path without suffix, captions) of every sample train reads from ``root``."""
    samples, _ = scan_dataset(root, **kw)
    return {(s.image.relative_to(root).with_suffix("").as_posix(), s.captions) for s in samples}


def images(root: Path, **kw) -> dict[str, Path]:
    samples, _ = scan_dataset(root, **kw)
    return {s.image.relative_to(root).with_suffix("").as_posix(): s.image for s in samples}


def run_pack(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["data", "pack", *argv, "--no-progress"])
    out, err = capsys.readouterr()
    return rc, out, err


def test_folder_round_trip_lossy_keeps_samples_sizes_and_licences(tmp_path, capsys):
    src = make_folder(tmp_path / "src", n=8, size=(40, 48))
    y, x = np.mgrid[0:48, 0:40]
    for i, png in enumerate(sorted(src.rglob("img*.png"))):  # smooth art (make_folder's noise is WebP's worst case)
        Image.fromarray(np.stack([x * 6, y * 5, (x + y + 20 * i) % 256], -1).astype(np.uint8)).save(png)
    (src / "broken.png").write_bytes(b"not a png")
    (src / "broken.txt").write_text("a broken image\n")
    Image.new("RGB", (8, 8)).save(src / "nocaption.png")
    licences = {"LICENSES.md": "# art licences\n", "LICENSE": "MIT\n", "README.md": "read me\n", "dataset.json": "{}\n"}
    for name, text in licences.items():
        (src / name).write_text(text)
    dst = tmp_path / "out" / "packed"

    rc, out, err = run_pack(capsys, str(src), str(dst))
    assert rc == 0, err
    assert detect_layout(dst) == "metadata"
    assert pairs(dst) == pairs(src) and len(pairs(src)) == 8
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*.webp")) == sorted(
        f"{k}.webp" for k in images(src))
    for key, image in images(src).items():
        with Image.open(image) as a, Image.open(dst / f"{key}.webp") as b:
            assert (b.format, b.size, b.mode) == ("WEBP", a.size, a.mode)
            diff = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16))
            assert diff.mean() < 4
    for name, text in licences.items():
        assert (dst / name).read_text() == text
    meta = [json.loads(line) for line in (dst / "metadata.jsonl").read_text().splitlines()]
    assert all(set(m) == {"file_name", "text"} and isinstance(m["text"], list) for m in meta)
    assert "skipped 1: missing caption" in out and "skipped 1: unreadable image" in out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("packed 8 images") and re.search(r"B -> [\d.]+ [kM]B \(\d+\.\d\dx (smaller|larger);", summary)


def test_lossless_keeps_every_pixel_and_alpha(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(1)
    rgba = (rng.random((12, 20, 4)) * 255).astype(np.uint8)
    rgba[::3, :, 3] = 0
    rgba[1::3, :, 3] = 128
    Image.fromarray(rgba).save(src / "alpha.png")
    Image.fromarray((rng.random((9, 7, 3)) * 255).astype(np.uint8)).save(src / "rgb.png")
    Image.fromarray((rng.random((10, 6)) * 255).astype(np.uint8)).save(src / "grey.png")
    Image.fromarray((rng.random((8, 8)) * 65535).astype(np.uint16)).save(src / "deep.png")
    pal = Image.new("P", (5, 6))
    pal.putdata([int(v) for v in rng.integers(0, 4, 30)])
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    pal.save(src / "palette.png", transparency=2)
    Image.fromarray((rng.random((5, 5, 3)) * 255).astype(np.uint8)).save(src / "photo.jpg", quality=70)
    for p in src.iterdir():
        p.with_suffix(".txt").write_text(f"a {p.stem} image\n")
    dst = tmp_path / "dst"

    rc, _, err = run_pack(capsys, str(src), str(dst), "--lossless")
    assert rc == 0, err
    assert pairs(dst) == pairs(src)
    for key, image in images(src).items():
        assert np.array_equal(np.asarray(load_rgb(image)), np.asarray(load_rgb(dst / f"{key}.webp"))), key
    with Image.open(dst / "alpha.webp") as im:  # RGBA keeps its alpha, transparent pixels included
        assert im.mode == "RGBA" and np.array_equal(np.asarray(im), rgba)
    with Image.open(dst / "rgb.webp") as im, Image.open(src / "rgb.png") as orig:
        assert im.mode == "RGB" and np.array_equal(np.asarray(im), np.asarray(orig))
    with Image.open(dst / "palette.webp") as im:
        assert im.mode == "RGBA" and im.size == (5, 6)


def test_lossy_keeps_alpha_and_size(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    arr = np.zeros((16, 24, 4), np.uint8)
    arr[..., 0], arr[4:12, 6:18, 3] = 200, 255
    Image.fromarray(arr).save(src / "a.png")
    (src / "a.txt").write_text("a red box\n")
    rc, _, err = run_pack(capsys, str(src), str(tmp_path / "dst"), "--quality", "50")
    assert rc == 0, err
    with Image.open(tmp_path / "dst" / "a.webp") as im:
        assert im.mode == "RGBA" and im.size == (24, 16)
        assert np.array_equal(np.asarray(im)[..., 3], arr[..., 3])


def test_metadata_layout_source_with_nested_files_and_shared_images(tmp_path, capsys):
    src = tmp_path / "src"
    (src / "part" / "imgs").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (10, 12), (i * 80, 20, 0)).save(src / "part" / "imgs" / f"{i}.jpg")
    lines = [
        {"file_name": "imgs/0.jpg", "text": "first image"},
        {"file_name": "imgs/1.jpg", "text": ["one caption", "another\ncaption"]},
        {"file_name": "imgs/1.jpg", "text": "the same image again"},
        {"file_name": "imgs/2.jpg", "text": ""},
        {"file_name": "imgs/missing.jpg", "text": "x"},
    ]
    (src / "part" / "metadata.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    dst = tmp_path / "dst"

    rc, out, err = run_pack(capsys, str(src), str(dst))
    assert rc == 0, err
    before, after = scan_dataset(src)[0], scan_dataset(dst)[0]
    assert [(s.image.relative_to(src).with_suffix("").as_posix(), s.captions) for s in before] == [
        (s.image.relative_to(dst).with_suffix("").as_posix(), s.captions) for s in after]
    assert len(after) == 3 and len(list(dst.rglob("*.webp"))) == 2
    assert "skipped 1: empty caption" in out and "skipped 1: missing image" in out


def test_official_layout_source(tmp_path, capsys):
    src = tmp_path / "birds"
    keys = ["001.Bird/bird_a", "002.Other/bird_b"]
    (src / "train").mkdir(parents=True)
    with open(src / "train" / "filenames.pickle", "wb") as fh:
        pickle.dump(keys, fh, protocol=2)
    for i, key in enumerate(keys):
        img = src / "CUB_200_2011" / "images" / f"{key}.jpg"
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (30, 20), (0, 100, 200)).save(img)
        (src / "text" / key).parent.mkdir(parents=True, exist_ok=True)
        (src / "text" / f"{key}.txt").write_text(f"this bird {i} is blue\nit has wings\n")
    (src / "CUB_200_2011" / "images.txt").write_text("1 001.Bird/bird_a.jpg\n2 002.Other/bird_b.jpg\n")
    (src / "CUB_200_2011" / "bounding_boxes.txt").write_text("1 1 1 10 10\n2 0 0 30 20\n")
    dst = tmp_path / "dst"

    rc, out, err = run_pack(capsys, str(src), str(dst))
    assert rc == 0, err
    assert detect_layout(dst) == "metadata" and pairs(dst) == pairs(src) and len(pairs(src)) == 2
    assert (dst / "CUB_200_2011" / "images" / "001.Bird" / "bird_a.webp").is_file()
    assert "bounding box" in err  # the crop that the metadata layout cannot carry is pointed out


def test_images_that_would_share_a_name_both_travel(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (4, 4), "red").save(src / "a.png")
    Image.new("RGB", (4, 4), "blue").save(src / "a.jpg")
    (src / "a.txt").write_text("a square\n")
    report = pack_dataset(src, tmp_path / "dst", progress=False)
    assert report["images"] == 2 and report["skipped"] == {}
    assert sorted(p.name for p in (tmp_path / "dst").iterdir()) == ["a.png.webp", "a.webp", "metadata.jsonl"]
    assert len(scan_dataset(tmp_path / "dst")[0]) == 2


def _one_line_error(capsys, argv: list[str]) -> str:
    rc, out, err = run_pack(capsys, *argv)
    assert rc == 1 and not out
    assert err.startswith("galip-studio data pack: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_errors_are_one_line_and_exit_1(tmp_path, capsys):
    src = make_folder(tmp_path / "src", n=2)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "orphan.txt").write_text("no image\n")
    full = tmp_path / "full"
    full.mkdir()
    (full / "x.txt").write_text("something\n")

    assert "not found" in _one_line_error(capsys, [str(tmp_path / "nope"), str(tmp_path / "d1")])
    assert "no usable" in _one_line_error(capsys, [str(empty), str(tmp_path / "d2")])
    assert "not empty" in _one_line_error(capsys, [str(src), str(full)])
    assert "inside the source" in _one_line_error(capsys, [str(src), str(src / "packed")])
    assert "is the source" in _one_line_error(capsys, [str(src), str(src)])
    assert "inside the destination" in _one_line_error(capsys, [str(src), str(tmp_path), "--overwrite"])
    for q in ("0", "101", "-5"):
        assert "1 to 100" in _one_line_error(capsys, [str(src), str(tmp_path / "d3"), "--quality", q])
    assert not any((tmp_path / d).exists() for d in ("d1", "d2", "d3")) and not (src / "packed").exists()
    assert (full / "x.txt").read_text() == "something\n"
    with pytest.raises(PackError):
        pack_dataset(src, tmp_path / "d4", quality=True)


def test_overwrite_removes_only_what_it_wrote(tmp_path, capsys):
    src = make_folder(tmp_path / "src", n=6)
    dst = tmp_path / "dst"
    assert run_pack(capsys, str(src), str(dst))[0] == 0
    (dst / "notes.txt").write_text("mine\n")
    (dst / "sub" / "keep.webp").write_bytes(b"not ours")
    (dst / "sub" / "keep.png").write_bytes(b"not ours either")
    for p in src.rglob("img04.*"):
        p.unlink()

    assert run_pack(capsys, str(src), str(dst), "--overwrite")[0] == 0
    assert not (dst / "img04.webp").exists()  # listed by the previous pack, gone from SRC
    assert (dst / "notes.txt").read_text() == "mine\n"
    assert (dst / "sub" / "keep.webp").read_bytes() == b"not ours"
    assert (dst / "sub" / "keep.png").exists()
    assert pairs(dst) == pairs(src) and len(pairs(src)) == 5

    # A file this command did not write stands where a WebP would go: refused, nothing deleted.
    (dst / "metadata.jsonl").write_text((dst / "metadata.jsonl").read_text().replace("img02.webp", "gone.webp"))
    before = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*"))
    assert "img02.webp" in _one_line_error(capsys, [str(src), str(dst), "--overwrite"])
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*")) == before

    # A licence file of DST that differs from SRC's is not replaced either.
    (dst / "metadata.jsonl").write_text((dst / "metadata.jsonl").read_text().replace("gone.webp", "img02.webp"))
    (src / "LICENSES.md").write_text("source licences\n")
    (dst / "LICENSES.md").write_text("someone else's\n")
    assert "LICENSES.md" in _one_line_error(capsys, [str(src), str(dst), "--overwrite"])
    (dst / "LICENSES.md").unlink()
    assert run_pack(capsys, str(src), str(dst), "--overwrite")[0] == 0
    assert (dst / "LICENSES.md").read_text() == "source licences\n"


def test_an_interrupted_pack_leaves_nothing_it_wrote(tmp_path, monkeypatch):
    src = make_folder(tmp_path / "src", n=4)
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "keep.txt").write_text("x")
    real_save, calls = Image.Image.save, []

    def save(self, *a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_save(self, *a, **kw)

    monkeypatch.setattr(Image.Image, "save", save)
    with pytest.raises(KeyboardInterrupt):
        pack_dataset(src, dst, overwrite=True, progress=False)
    assert [p.name for p in dst.rglob("*") if p.is_file()] == ["keep.txt"]


def test_report_and_wiring():
    args = build_parser().parse_args(["data", "pack", "a", "b", "--lossless", "--quality", "70"])
    assert args.builder == "pack" and args.func is pack.run and args.lossless and args.quality == 70
    for layout in folders.LAYOUT_CHOICES:  # every layout train reads, and auto
        assert build_parser().parse_args(["data", "pack", "a", "b", "--layout", layout]).layout == layout
