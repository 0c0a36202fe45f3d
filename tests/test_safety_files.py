"""Safe by default, part 2: weights files that would expand, the discover cache, a public server.

Each test is one probe of a hostile but fair user. The memory probes build each malicious file
here (kilobytes to two megabytes on the disk) and load it in a fresh process, whose peak resident
memory must grow by less than :data:`MAX_GROWTH` while the load is refused.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import textwrap
import types
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from galip_studio.checkpoint import CheckpointError
from galip_studio.official import load_official, official_state_dict
from galip_studio.torchscript import TorchScriptError, read_tensors, read_torchscript_tensors, scan_archive
from official_layout import write_official

ROOT = Path(__file__).resolve().parents[1]
MAX_GROWTH = 300 * 1024**2  # bytes of peak RSS a refused load may add
BIG = 100_000_000  # elements a malicious file claims (400 MB of float32)


# ------------------------------------------------------------------------------------------ building archives
class _Stored:
    """A storage of a hand-built archive: ``data/<key>`` with ``numel`` float32 elements."""

    def __init__(self, key: str, numel: int):
        self.key, self.numel = key, numel


class _Tensor:
    """Pickles as torch does a tensor: ``_rebuild_tensor_v2(storage, offset, size, stride, ...)``."""

    def __init__(self, storage: _Stored, offset: int, size: tuple, stride: tuple):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args


class _Pickler:
    def __init__(self, fh):
        import pickle

        class P(pickle.Pickler):
            def persistent_id(self, obj):
                if isinstance(obj, _Stored):
                    return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
                return None

        self.pickler = P(fh, protocol=2)


def _script_object(state: dict, monkeypatch) -> object:
    """An object that pickles as a TorchScript module ``__torch__.M`` with ``state``."""
    module = types.ModuleType("__torch__")

    class M:
        pass

    M.__module__, M.__qualname__ = "__torch__", "M"
    module.M = M
    monkeypatch.setitem(sys.modules, "__torch__", module)
    obj = M()
    obj.__dict__.update(state)
    return obj


def write_archive(path: Path, root: object, records: dict[str, int | bytes], *, torchscript: bool = False) -> Path:
    """A PyTorch zip archive as torch lays it out (``archive/data.pkl``, ``archive/data/<key>``);
    a record given as a number is that many zero bytes, deflated (a few KB per 400 MB)."""
    import io

    buf = io.BytesIO()
    _Pickler(buf).pickler.dump(root)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/version", b"3\n")
        zf.writestr("archive/byteorder", sys.byteorder.encode())
        if torchscript:
            zf.writestr("archive/constants.pkl", b"\x80\x02).")
        for key, data in records.items():
            if isinstance(data, bytes):
                zf.writestr(f"archive/data/{key}", data)
                continue
            info = zipfile.ZipInfo(f"archive/data/{key}")
            info.compress_type, info._compresslevel = zipfile.ZIP_DEFLATED, 1
            with zf.open(info, "w", force_zip64=True) as out:
                chunk = bytes(1 << 20)
                for start in range(0, data, len(chunk)):
                    out.write(chunk[: min(len(chunk), data - start)])
    return path


class Expanded(torch.nn.Module):
    """A module whose buffer is one stored zero viewed ``n`` times (``expand``: stride 0)."""

    def __init__(self, n: int):
        super().__init__()
        self.register_buffer("w", torch.zeros(1).expand(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _script_save(module: torch.nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(module).save(str(path))
    return path


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    """The malicious files of the memory probes, each tiny on the disk."""
    folder = tmp_path_factory.mktemp("expanding")
    mp = pytest.MonkeyPatch()
    try:
        files = {
            "torchscript-stride-0": _script_save(Expanded(BIG), folder / "stride0.pt"),
            "torchscript-deflated-zeros": write_archive(
                folder / "bomb.pt",
                _script_object({"w": _Tensor(_Stored("0", BIG), 0, (BIG,), (1,)), "training": False}, mp),
                {"0": 4 * BIG},
                torchscript=True,
            ),
            "pth-deflated-zeros": write_archive(
                folder / "bomb.pth", {"model": {"netG": {"fc_code.weight": _Tensor(_Stored("0", BIG), 0, (BIG,), (1,))}}}, {"0": 4 * BIG}
            ),
        }
    finally:
        mp.undo()
    stride0 = folder / "stride0.pth"
    torch.save({"model": {"netG": {"fc_code.weight": torch.zeros(1).expand(BIG // 1000, 1000)}}}, stride0)
    files["pth-stride-0"] = stride0
    for path in files.values():
        assert path.stat().st_size < 2.5 * 1024**2
    return files


_PROBE = """
import resource, sys
from galip_studio.official import official_state_dict
from galip_studio.torchscript import read_torchscript_tensors

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

before = peak()
try:
    {load}(sys.argv[1])
except Exception as e:
    print("refused:", type(e).__name__, str(e).splitlines()[0] if str(e) else "")
else:
    print("loaded")
print("growth:", peak() - before)
"""


@pytest.mark.parametrize("kind", ["torchscript-stride-0", "torchscript-deflated-zeros", "pth-stride-0", "pth-deflated-zeros"])
def test_a_tiny_weights_file_cannot_make_the_process_allocate_gigabytes(bad_files, kind):
    load = "read_torchscript_tensors" if kind.startswith("torchscript") else "official_state_dict"
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_PROBE.format(load=load)), str(bad_files[kind])],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = dict(line.split(": ", 1) for line in run.stdout.splitlines())
    growth = int(lines["growth"])
    assert "refused" in lines and growth < MAX_GROWTH, (kind, run.stdout, growth / 2**20)
    reason = lines["refused"]
    assert ("stride 0" in reason) if "stride-0" in kind else ("compressed" in reason and "refusing to expand" in reason)


def test_the_refusals_are_one_line_errors_through_load_official(bad_files, tiny_model):
    for kind in ("pth-stride-0", "pth-deflated-zeros"):
        with pytest.raises(CheckpointError) as e:
            load_official(bad_files[kind], tiny_model.clip, tiny_model.config)
        assert str(e.value).startswith(str(bad_files[kind])) and "\n" not in str(e.value)


def _archive_of(tmp_path, name, tensors, records):
    return write_archive(tmp_path / name, {"model": {"netG": tensors}}, records)


def test_views_that_read_a_stored_value_twice_are_refused(tmp_path):
    data = bytes(4 * 40_000)
    # a 20000 x 20000 view of 40,000 stored values (strides 1, 1): 400 M elements from 160 KB
    path = _archive_of(tmp_path, "self.pth", {"fc_code.weight": _Tensor(_Stored("0", 40_000), 0, (20_000, 20_000), (1, 1))}, {"0": data})
    with pytest.raises(TorchScriptError, match="twice"):
        scan_archive(path)
    with pytest.raises(CheckpointError, match="twice"):
        official_state_dict(path)
    # many tensors overlapping in one storage are views of it, never copies of it each
    s = _Stored("0", 40_000)
    views = {f"v{i}": _Tensor(s, i, (30_000,), (1,)) for i in range(1000)}  # 120 MB if each were copied
    path = _archive_of(tmp_path, "overlap.pth", views, {"0": data})
    got = read_tensors(path, scan_archive(path)["model"]["netG"])
    assert len({t.untyped_storage().data_ptr() for t in got.values()}) == 1 and got["v999"].shape == (30_000,)
    # past the end of the storage, and a storage whose entry is smaller than declared
    path = _archive_of(tmp_path, "past.pth", {"a": _Tensor(_Stored("0", 40_000), 30_000, (20_000,), (1,))}, {"0": data})
    with pytest.raises(TorchScriptError, match="past its storage"):
        scan_archive(path)
    path = _archive_of(tmp_path, "short.pth", {"a": _Tensor(_Stored("0", BIG), 0, (BIG,), (1,))}, {"0": data})
    with pytest.raises(TorchScriptError, match=f"has {len(data)} bytes, expected {4 * BIG}"):
        scan_archive(path)


def test_an_index_that_expands_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "index.pth"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("archive/data.pkl", "w", force_zip64=True) as out:
            for _ in range(80):
                out.write(bytes(1 << 20))
    assert path.stat().st_size < 1024**2
    with pytest.raises(CheckpointError, match="more than the"):
        official_state_dict(path)


def test_legacy_pickle_pth_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "legacy.pth"
    torch.save({"model": {"netG": {"x": torch.zeros(2)}}}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="legacy format .* re-save it with torch.save"):
        official_state_dict(path)


def test_real_layouts_still_read_exactly(tmp_path, tiny_model):
    # torch.save's own layout: a transposed view, one tensor under two names, parts of one storage
    base = torch.randn(6, 4)
    whole = torch.randn(10)
    saved = {"t": base.t(), "same": base, "again": base, "head": whole[:4], "tail": whole[4:], "half": torch.randn(3).half()}
    torch.save({"model": {"netG": saved}}, tmp_path / "views.pth")
    refs = scan_archive(tmp_path / "views.pth")["model"]["netG"]
    got = read_tensors(tmp_path / "views.pth", refs)
    for name, tensor in saved.items():
        assert got[name].dtype == tensor.dtype and torch.equal(got[name], tensor), name
    # the synthetic official checkpoint: every tensor as written
    nets = write_official(tmp_path / "official.pth", tiny_model, ddp_prefix=True, with_optimizers=True)
    state, ignored, present = official_state_dict(tmp_path / "official.pth")
    assert present == ["netG", "netD", "netC"] and ignored
    assert torch.equal(state["generator.bridge.fc_code.weight"], nets["netG"]["module.fc_code.weight"])


def test_torchscript_reader_checks_the_architecture_before_reading(tmp_path):
    from open_clip.model import CLIP

    from galip_studio.config import TINY_CLIP_ARCH

    model = CLIP(**json.loads(json.dumps(TINY_CLIP_ARCH))).eval()
    path = _script_save(model, tmp_path / "clip.pt")
    expected = model.state_dict()
    tensors = read_torchscript_tensors(path, expected)
    assert set(tensors) == set(expected) and all(torch.equal(tensors[k], v) for k, v in expected.items())
    wrong = dict(expected, **{"visual.conv1.weight": torch.zeros(1, 2, 3)})
    with pytest.raises(TorchScriptError, match="wrong shapes \\['visual.conv1.weight'\\]"):
        read_torchscript_tensors(path, wrong)


# ------------------------------------------------------------------------------------------ other torch.save files
# The three other places that read a torch.save file a user names: open_clip state-dict CLIP weights
# (--clip-weights, a CLIP folder), a run's training_state.pt (--resume, --init, convert --generator
# trained) and Inception weights (--inception-weights). Each reads through galip_studio.torchscript.
_OTHER_PROBE = """
import os, resource, sys
from galip_studio.clip_backbone import _load_weights_file
from galip_studio.train.evaluate import load_inception
from galip_studio.checkpoint import read_train_state

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

def clip(path):
    import json
    from open_clip.model import CLIP
    from galip_studio.config import TINY_CLIP_ARCH
    _load_weights_file(CLIP(**json.loads(json.dumps(TINY_CLIP_ARCH))), path)

load = {{"clip": clip, "train-state": lambda path: read_train_state(os.path.dirname(path)), "inception": load_inception}}[sys.argv[1]]
before = peak()
try:
    load(sys.argv[2])
except Exception as e:
    print("refused:", type(e).__name__, str(e).replace(chr(10), "|"))
else:
    print("loaded")
print("growth:", peak() - before)
"""


def _expanding_torch_save(folder: Path, kind: str, name: str) -> Path:
    """A torch.save file of a state dict whose one tensor claims BIG elements: deflated zeros, or
    one stored value seen BIG times (stride 0, as ``torch.save`` writes an ``expand``-ed tensor)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if kind == "deflated-zeros":
        tensor = _Tensor(_Stored("0", BIG), 0, (BIG,), (1,))
        return write_archive(path, {"format": "galip-studio-train-state", "conv1.weight": tensor}, {"0": 4 * BIG})
    torch.save({"format": "galip-studio-train-state", "conv1.weight": torch.zeros(1).expand(BIG // 1000, 1000)}, path)
    return path


@pytest.mark.parametrize("kind", ["deflated-zeros", "stride-0"])
@pytest.mark.parametrize("loader", ["clip", "train-state", "inception"])
def test_other_torch_save_files_cannot_make_the_process_allocate_gigabytes(tmp_path, loader, kind):
    name = {"clip": "open_clip_pytorch_model.bin", "train-state": "training_state.pt", "inception": "inception.pth"}[loader]
    path = _expanding_torch_save(tmp_path / loader, kind, name)
    assert path.stat().st_size < 2.5 * 1024**2
    run = subprocess.run(
        [sys.executable, "-c", _OTHER_PROBE.format(), loader, str(path)],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = dict(line.split(": ", 1) for line in run.stdout.splitlines())
    growth = int(lines["growth"])
    assert "refused" in lines and growth < MAX_GROWTH, (loader, kind, run.stdout, growth / 2**20)
    reason = lines["refused"]
    assert "|" not in reason and str(path) in reason  # one line that names the file
    assert ("stride 0" in reason) if kind == "stride-0" else ("compressed" in reason and "refusing to expand it" in reason)


def test_load_archive_reads_a_training_state_as_torch_load_does(tmp_path):
    from galip_studio.torchscript import load_archive

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    base = torch.randn(6, 4)
    state = {"step": 3, "optimizer": opt.state_dict(), "model": model.state_dict(), "scaler": None, "best": {"value": 1.5},
             "pair": (1, 2.0, "a"), "views": [base, base.t(), base[1:3]], "half": torch.randn(3).half()}
    torch.save(state, tmp_path / "state.pt")
    want, got = torch.load(tmp_path / "state.pt", weights_only=True), load_archive(tmp_path / "state.pt")

    def same(a, b, where="") -> None:
        assert type(a) is type(b), where
        if isinstance(a, dict):
            assert list(a) == list(b) and getattr(a, "_metadata", None) == getattr(b, "_metadata", None), where
            for k in a:
                same(a[k], b[k], f"{where}.{k}")
        elif isinstance(a, (list, tuple)):
            assert len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b)):
                same(x, y, f"{where}[{i}]")
        elif isinstance(a, torch.Tensor):
            assert a.dtype == b.dtype and a.stride() == b.stride() and torch.equal(a, b), where
        else:
            assert a == b, where

    same(want, got)
    assert got["views"][1].data_ptr() == got["views"][0].data_ptr()  # views of one storage stay views
    # code in a training state is refused, not run
    torch.save({"step": 1, "x": collections.Counter()}, tmp_path / "evil.pt")
    with pytest.raises(TorchScriptError, match="collections.Counter"):
        load_archive(tmp_path / "evil.pt")


def test_clip_state_dict_files_still_load_exactly(tmp_path):
    from open_clip.model import CLIP

    from galip_studio.clip_backbone import ClipError, _load_weights_file
    from galip_studio.config import TINY_CLIP_ARCH

    def tiny(seed: int) -> CLIP:
        torch.manual_seed(seed)
        return CLIP(**json.loads(json.dumps(TINY_CLIP_ARCH))).eval()

    source = tiny(0).state_dict()
    torch.save(source, tmp_path / "plain.bin")  # open_clip_pytorch_model.bin
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in source.items()}}, tmp_path / "training.pt")  # open_clip's training checkpoint
    for name in ("plain.bin", "training.pt"):
        target = tiny(1)
        _load_weights_file(target, str(tmp_path / name))
        assert all(torch.equal(v, target.state_dict()[k]) for k, v in source.items()), name
    # a file of another architecture is refused in one line, before its tensors are read
    torch.save({k: (v[:1] if k == "visual.conv1.weight" else v) for k, v in source.items()}, tmp_path / "other.bin")
    with pytest.raises(ClipError) as e:
        _load_weights_file(tiny(1), str(tmp_path / "other.bin"))
    assert "visual.conv1.weight" in str(e.value) and "\n" not in str(e.value)


def test_inception_weights_still_load_exactly(tmp_path):
    from torchvision.models import inception_v3

    from galip_studio.train.evaluate import load_inception

    source = inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict()
    torch.save(source, tmp_path / "inception.pth")
    model = load_inception(tmp_path / "inception.pth")
    assert all(torch.equal(v, source[k]) for k, v in model.state_dict().items())
    torch.save({"not": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="does not fit torchvision's inception_v3: unexpected \\['not'\\]"):
        load_inception(tmp_path / "other.pth")


# ------------------------------------------------------------------------------------------ discover cache
VOCABS = [[f"a {colour} {thing}" for colour in ("red", "green", "blue") for thing in ("apple", "car", f"house {i}")] for i in range(6)]


def _folder_state(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def test_discover_cache_leaves_a_read_only_checkpoint_folder_untouched(tiny_checkpoint, tmp_path, monkeypatch):
    import shutil

    from galip_studio import explore
    from galip_studio.pipeline import GALIPPipeline

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    monkeypatch.setenv("GALIP_STUDIO_CACHE", str(tmp_path / "cache"))
    for p in [folder, *folder.iterdir()]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        before = _folder_state(folder)
        pipe = GALIPPipeline.from_pretrained(folder, device="cpu")
        first = explore.sentence_directions(pipe, VOCABS[0], components=2)
        m = explore.prompt_map(pipe, VOCABS[0])
        again = explore.sentence_directions(pipe, VOCABS[0], components=2)
        assert first.cached and first.cached.startswith(str(tmp_path / "cache")) and again.cached == "hit"
        assert torch.equal(explore.prompt_map(pipe, VOCABS[0]).coords, m.coords)
        assert _folder_state(folder) == before  # nothing written into the checkpoint folder
    finally:
        for p in [folder, *folder.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)


def test_discover_cache_stays_under_its_bound_least_recently_used_first(tiny_checkpoint, tmp_path, monkeypatch):
    import time

    from galip_studio import explore
    from galip_studio.pipeline import GALIPPipeline

    monkeypatch.setenv("GALIP_STUDIO_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "cache" / "discover"
    folder.mkdir(parents=True)
    mine = {folder / "notes.txt": b"mine", folder / "prompt-map-mine.safetensors": b"also mine", tmp_path / "cache" / "other.bin": b"x" * 10_000}
    for path, data in mine.items():
        path.write_bytes(data)
    pipe = GALIPPipeline.from_pretrained(tiny_checkpoint, device="cpu")

    def run(i: int) -> explore.Directions:
        time.sleep(0.02)  # distinct use times
        return explore.sentence_directions(pipe, VOCABS[i], components=2)

    one = Path(run(0).cached).stat().st_size
    monkeypatch.setenv("GALIP_STUDIO_CACHE_MB", str(2.5 * one / 1024**2))  # room for two results
    assert run(1).cached != "hit"
    assert run(0).cached == "hit"  # 0 is now more recent than 1
    written = {}
    for i in range(2, 6):
        written[i] = run(i).cached
        assert written[i] not in (None, "hit")
        total = sum(p.stat().st_size for p in explore.directions.cache_files(folder))
        assert total <= 2.5 * one and len(explore.directions.cache_files(folder)) == 2
    assert run(5).cached == "hit" and run(4).cached == "hit"  # 4 is now the most recently used
    written[0] = run(0).cached  # recomputed: evicts the least recently used, 5
    assert written[0] != "hit" and [p.name for p in explore.directions.cache_files(folder)] == [Path(written[4]).name, Path(written[0]).name]
    assert all(path.read_bytes() == data for path, data in mine.items())  # only the cache's own files are evicted
    monkeypatch.setenv("GALIP_STUDIO_CACHE_MB", "0")
    assert run(1).cached is None and explore.directions.cache_files(folder) == []  # a bound of 0 keeps nothing
    monkeypatch.setenv("GALIP_STUDIO_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="GALIP_STUDIO_CACHE_MB is 'lots'; set it to a number of megabytes"):
        run(2)


def test_discover_cache_folder_follows_xdg_and_the_override(monkeypatch, tmp_path):
    from galip_studio import explore

    monkeypatch.delenv("GALIP_STUDIO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert explore.directions.cache_root() == tmp_path / "xdg" / "galip-studio"
    monkeypatch.setenv("GALIP_STUDIO_CACHE", str(tmp_path / "mine"))
    assert explore.directions.cache_root() == tmp_path / "mine"


# ------------------------------------------------------------------------------------------ a public server
def _serve_args(*argv: str):
    from galip_studio.cli import build_parser

    return build_parser().parse_args(["serve", *argv])


def test_a_server_others_can_reach_needs_a_login_or_an_explicit_no_auth(monkeypatch, capsys):
    from galip_studio.cli import serve as ui_cli

    check = lambda *argv: ui_cli.check_login(_serve_args(*argv))  # noqa: E731
    assert check() is None and check("--host", "localhost") is None and check("--host", "0.0.0.0", "--auth", "a:b") is None
    for argv in (["--host", "0.0.0.0"], ["--share"], ["--host", "192.168.1.5", "--lock-model"]):
        with pytest.raises(ValueError, match="others can reach this app: add --auth USER:PASSWORD .* or --no-auth"):
            check(*argv)
    warning = check("--host", "0.0.0.0", "--no-auth")
    assert "warning: no login (--no-auth)" in warning and "anyone who can reach it" in warning and "\n" not in warning
    with pytest.raises(ValueError, match="contradict"):
        check("--auth", "a:b", "--no-auth")

    def never(args):  # the server must refuse before it loads a model (or opens a port)
        raise AssertionError("the model was loaded: the server would have started")

    monkeypatch.setattr(ui_cli, "load_default_pipeline", never)
    assert ui_cli.main(["--host", "0.0.0.0", "--port", "7999"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("app.py: error: with --host 0.0.0.0 others can reach this app") and err.count("\n") == 1


def test_failed_logins_slow_down_the_next_ones():
    import asyncio

    from galip_studio.ui.launch import LoginGuard

    now = [0.0]
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds
        await asyncio.sleep(0)

    guard = LoginGuard("alice", "a-long-passphrase", clock=lambda: now[0], sleep=sleep)

    async def probe() -> None:
        results = [await guard.check("alice", f"guess {i}") for i in range(40)]
        assert not any(results)
        assert sleeps[:8] == [1, 2, 4, 8, 16, 30, 30, 30] and sum(sleeps) > 15 * 60  # 40 guesses: over 15 minutes, not 0.27 s
        assert await guard.check("alice", "a-long-passphrase") and guard.failures == 0 and guard.delay() == 0  # a success clears the count
        assert not await guard.check("mallory", "a-long-passphrase") and guard.delay() == 1
        now[0] += 601
        assert guard.delay() == 0  # forgotten after 10 quiet minutes
        # guesses sent at once wait as long as guesses in a row, and only so many may wait
        sleeps.clear()
        parallel = LoginGuard("alice", "pw", clock=lambda: now[0], sleep=sleep, max_waiting=3)
        results = await asyncio.gather(*(parallel.check("alice", f"guess {i}") for i in range(8)))
        assert not any(results) and sleeps == [1, 2, 4] and parallel.failures == 4

    asyncio.run(probe())


def test_the_served_login_is_guarded(capsys):
    import time

    import gradio as gr
    import httpx

    from galip_studio.ui.launch import launch_app

    with gr.Blocks() as demo:
        gr.Markdown("guarded")
    demo, url = launch_app(demo, host="127.0.0.1", block=False, quiet=True, auth=("alice", "pw"))  # as `serve --auth alice:pw`
    try:
        start = time.perf_counter()
        for i in range(3):
            r = httpx.post(f"{url}login", data={"username": "alice", "password": f"guess {i}"}, timeout=20)
            assert r.status_code == 400
        assert time.perf_counter() - start >= 1 + 2  # before: 40 guesses in 0.27 s
        r = httpx.post(f"{url}login", data={"username": "alice", "password": "pw"}, timeout=20)
        assert r.status_code == 200 and r.json() == {"success": True}
    finally:
        demo.close()
    err = capsys.readouterr().err
    assert "galip-studio: failed login as 'alice' (3 in a row); the next attempt waits 4 s" in err
