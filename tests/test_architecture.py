"""The module layers of docs/architecture.md hold: no import reaches up a layer, and none closes a circle.

Every ``import``/``from ... import`` of the package counts, including the lazy ones inside
functions (they are still dependencies; being lazy only hides a circle until the day it bites).
A subpackage's ``__init__`` has the layer of its name; the package's own ``__init__`` is the front
door and lazily re-exports from any layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "galip_studio"

# The table in docs/architecture.md ("Module layers"), as module-name prefixes; the longest match wins.
LAYERS: dict[str, int] = {
    # 0: pure (tensor maths, building blocks, losses, augmentation, data files, device facts)
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
    "explore": 5,
    "discover": 5,
    "prompt_map": 5,
    "invert": 5,
    "recipes": 5,
    "train": 5,
    "miniclip": 5,
    # 6: front ends
    "cli": 6,
    "latent_cli": 6,
    "discover_cli": 6,
    "invert_cli": 6,
    "miniclip_cli": 6,
    "train.cli": 6,
    "datasets": 6,  # datasets/__init__.py: the ``galip-studio data`` sub-commands
    "ui": 6,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    best = None
    for prefix, layer in LAYERS.items():
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, layer)
    return None if best is None else best[1]


def package_imports(path: Path) -> set[str]:
    """The package modules that ``path`` imports, as names relative to the package."""
    module = module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    if module == "":
        package = []
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "galip_studio" or node.module.startswith("galip_studio.")):
                target = node.module.removeprefix("galip_studio").lstrip(".")
            else:
                continue
            for alias in node.names:  # `from . import explore` names a module, `from .x import y` a member
                sub = f"{target}.{alias.name}" if target else alias.name
                found.add(sub if (PACKAGE / sub.replace(".", "/")).with_suffix(".py").exists()
                          or (PACKAGE / sub.replace(".", "/")).is_dir() else target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("galip_studio."):
                    found.add(alias.name.removeprefix("galip_studio."))
    found.discard("")
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): package_imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


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
    graph = import_graph()
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


@pytest.mark.parametrize("source, expected", [
    ("from .config import ClipConfig", {"config"}),
    ("from . import latent", {"latent"}),
    ("from galip_studio.fast import auto_options", {"fast"}),
])
def test_the_import_reader_sees_imports(tmp_path, monkeypatch, source, expected):
    """The checks above can fail: the reader finds relative, module and absolute imports."""
    fake = PACKAGE / "checkpoint.py"  # any real module path, for the relative base
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: f"def f():\n    {source}\n")
    assert package_imports(fake) == expected
