"""The module layers of docs/architecture.md hold: no import reaches up a layer, and none closes a circle.

Every ``import``/``from ... import`` of the package counts, including the lazy ones inside
functions (they are still dependencies; being lazy only hides a circle until the day it bites), and
so does every module a module loads with ``importlib.import_module`` (a loop made through importlib
is a circle all the same: the command modules of the old ``cli.py`` imported it back unseen).
A subpackage's ``__init__`` has the layer of its name; the package's own ``__init__`` is the front
door and lazily re-exports from any layer.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "galip_studio"

# The table in docs/architecture.md ("Module layers"), as module-name prefixes; the longest match wins.
LAYERS: dict[str, int] = {
    # 0: pure (tensor maths, building blocks, losses, augmentation, data files, device facts)
    "choices": 0,  # the names the command-line options offer (imports nothing)
    "latent": 0,
    "nets.blocks": 0,
    "train.losses": 0,
    "train.augment": 0,
    "train.data": 0,
    "datasets.emoji": 0,
    "datasets.folders": 0,  # image-caption folders: layouts, scan, loading, the flip rule
    "datasets.pack": 0,  # re-encodes what datasets.folders reads
    "device": 0,
    "torchscript": 0,
    "files": 0,
    "runlog": 0,
    # 1: configuration
    "config": 1,
    # 2: networks
    "clip_backbone": 2,
    "text_cache": 2,
    "nets": 2,
    # 3: files and speed
    "checkpoint": 3,
    "official": 3,  # builds on checkpoint
    "fast": 3,
    "export": 3,
    "metrics": 3,
    # 4: inference
    "pipeline": 4,
    # 5: tools
    "explore": 5,  # the explore/ package: grids, knobs, walks, directions, map, recipe
    "invert": 5,
    "train": 5,
    "miniclip": 5,
    # 6: front ends
    "cli": 6,  # the root command, its plumbing (cli.common) and one module per command group
    "train.cli": 6,
    "datasets": 6,
    "ui": 6,
}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    best = None
    for prefix, layer in LAYERS.items():
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, layer)
    return None if best is None else best[1]


def is_module(name: str, package: Path = PACKAGE) -> bool:
    """Whether ``name`` (relative to the package) is one of its modules or subpackages."""
    path = package / name.replace(".", "/")
    return path.with_suffix(".py").exists() or path.is_dir()


# What loads a module named by a string: ``importlib.import_module(name)`` and ``__import__(name)``.
IMPORTLIB_LOADERS = ("import_module", "__import__")


def importlib_loads(tree: ast.AST, base: list[str], package: Path = PACKAGE) -> set[str]:
    """The package modules that a module which calls ``importlib.import_module`` may load: every string
    in it that names one, absolutely (``"galip_studio.latent"``) or relative to the module's package
    (``".config"``, as ``import_module(".config", __package__)`` takes it). Strings, not only the
    call's arguments, because the names usually sit in a table (``COMMAND_MODULES``) that a loop loads."""
    calls = [node.func for node in ast.walk(tree) if isinstance(node, ast.Call)]
    if not any(getattr(f, "id", getattr(f, "attr", None)) in IMPORTLIB_LOADERS for f in calls):
        return set()
    top = package.name
    found: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        text = node.value
        if re.fullmatch(rf"{top}(\.\w+)+", text):
            target = text.removeprefix(top + ".")
        elif re.fullmatch(r"\.+\w+(\.\w+)*", text):
            level = len(text) - len(text.lstrip("."))
            target = ".".join(base[: len(base) - (level - 1)] + [text.lstrip(".")])
        else:
            continue
        if is_module(target, package):
            found.add(target)
    return found


def package_imports(path: Path, package: Path = PACKAGE) -> set[str]:
    """The package modules that ``path`` imports, as names relative to the package."""
    module = module_name(path, package)
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    if module == "":
        base = []
    top = package.name
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = importlib_loads(tree, base, package)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                prefix = base[: len(base) - (node.level - 1)]
                target = ".".join(prefix + ([node.module] if node.module else []))
            elif node.module and (node.module == top or node.module.startswith(top + ".")):
                target = node.module.removeprefix(top).lstrip(".")
            else:
                continue
            for alias in node.names:  # `from . import explore` names a module, `from .x import y` a member
                sub = f"{target}.{alias.name}" if target else alias.name
                found.add(sub if is_module(sub, package) else target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(top + "."):
                    found.add(alias.name.removeprefix(top + "."))
    found.discard("")
    found.discard(module)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    return {module_name(p, package): package_imports(p, package) for p in sorted(package.rglob("*.py"))}


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The circles of an import graph, each as ``[a, b, ..., a]``."""
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                circles.append(trail[trail.index(dep):] + [dep] if dep in trail else [node, dep])
            elif dep not in state:
                visit(dep, trail + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return circles


def test_every_module_has_a_layer():
    missing = sorted(m for m in import_graph() if m and layer_of(m) is None)
    assert not missing, f"add these modules to the layer table (tests/test_architecture.py, docs/architecture.md): {missing}"


def test_no_import_reaches_up_a_layer():
    upward = []
    for module, deps in import_graph().items():
        if not module:
            continue  # galip_studio/__init__.py: the front door, lazily re-exporting the pipeline
        for dep in deps:
            if layer_of(dep) is not None and layer_of(dep) > layer_of(module):
                upward.append(f"{module} (layer {layer_of(module)}) imports {dep} (layer {layer_of(dep)})")
    assert not upward, "\n".join(sorted(upward))


def test_no_import_circle():
    circles = import_circles(import_graph())
    assert not circles, "\n".join(" -> ".join(c) for c in circles)


def outside_imports_of_train(graph: dict[str, set[str]]) -> list[str]:
    """Imports of ``train/`` from modules outside it: ``train/`` is the trainer, not a library. Only the
    command line may register ``train``'s commands (import ``train.cli``)."""
    found = []
    for module, deps in graph.items():
        if module == "train" or module.startswith("train."):
            continue
        command_line = module == "cli" or module.startswith("cli.")
        for dep in sorted(deps):
            if (dep == "train" or dep.startswith("train.")) and not (command_line and dep == "train.cli"):
                found.append(f"{module or 'galip_studio'} imports {dep}")
    return found


def test_nothing_outside_train_imports_train():
    outside = outside_imports_of_train(import_graph())
    assert not outside, ("move what these need out of train/ (datasets/folders.py, device.py, runlog.py, checkpoint.py, ...):\n"
                         + "\n".join(outside))


def test_the_train_rule_can_fail():
    graph = {"miniclip.data": {"train.data"}, "cli": {"train.cli"}, "train.setup": {"train.data"}, "cli.train": {"train.cli"}}
    assert outside_imports_of_train(graph) == ["miniclip.data imports train.data"]


def test_no_command_module_imports_the_root_command():
    """The command groups share ``cli.common``; only the command line's own entry points load the root."""
    importers = sorted(module for module, deps in import_graph().items() if "cli.root" in deps)
    assert importers == ["cli", "cli.__main__"], f"import the plumbing from galip_studio.cli.common instead: {importers}"


def test_an_importlib_loop_is_a_circle(tmp_path):
    """The loop of the old ``cli.py``, rebuilt in a made-up package: the dispatcher loads a command
    module with importlib, the command module imports the dispatcher's helper back. The import
    statements alone show no circle; the importlib load closes it, and the check fails."""
    package = tmp_path / "galip_studio"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text(
        "import importlib\n\nCOMMAND_MODULES = ('galip_studio.latent_cli',)\n\n\n"
        "def add_command(name):\n    return name\n\n\n"
        "def build_parser():\n    for name in COMMAND_MODULES:\n        importlib.import_module(name).add_parsers()\n"
    )
    (package / "latent_cli.py").write_text("from .cli import add_command\n\n\ndef add_parsers():\n    add_command('walk')\n")
    graph = import_graph(package)
    assert graph["cli"] == {"latent_cli"} and graph["latent_cli"] == {"cli"}
    assert import_circles(graph) == [["cli", "latent_cli", "cli"]]


@pytest.mark.parametrize("source, expected", [
    ("from .config import ClipConfig", {"config"}),
    ("from . import latent", {"latent"}),
    ("from galip_studio.fast import auto_options", {"fast"}),
    ("importlib.import_module('galip_studio.latent')", {"latent"}),
    ("return getattr(importlib.import_module('.config', __package__), 'ClipConfig')", {"config"}),
    ("importlib.import_module('numpy')", set()),
    ("importlib.import_module('galip_studio.no_such_module')", set()),
    ("'galip_studio.latent'", set()),  # a module's name in a module that loads nothing by name
])
def test_the_import_reader_sees_imports(tmp_path, monkeypatch, source, expected):
    """The checks above can fail: the reader finds relative, module and absolute imports, and importlib loads."""
    fake = PACKAGE / "checkpoint.py"  # any real module path, for the relative base
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: f"def f():\n    {source}\n")
    assert package_imports(fake) == expected
