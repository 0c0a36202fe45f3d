"""The folder the app writes its exports to: the caller's, or a temporary one of its own that goes
with the app; and the example recipe files the Recipe tab offers, written into it."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from .. import explore


def write_example_recipes(outdir: Path) -> list[str]:
    """Two model-independent recipe files for the Recipe tab's examples."""
    folder = outdir / "example-recipes"
    folder.mkdir(parents=True, exist_ok=True)
    recipes = {
        "hearts-and-faces.json": {"format": explore.RECIPE_FORMAT, "kind": "seeds", "prompts": ["a red heart", "a 3d emoji of a smiling face"], "seeds": [0, 1, 2, 3], "truncation": 1.0, "batch_size": 8},
        "strawberry-to-cat.json": {"format": explore.RECIPE_FORMAT, "kind": "interpolate", "prompts": ["a strawberry", "a cat face"], "steps": 6, "seeds": [0, 1, 2], "interp": "lerp", "easing": "linear", "truncation": 1.0, "batch_size": 8},
    }
    paths = []
    for name, recipe in recipes.items():
        path = folder / name
        path.write_text(json.dumps(recipe, indent=2) + "\n")
        paths.append(str(path))
    return paths


def export_folder(outdir: str | Path | None) -> tuple[Path, Callable[[], None] | None]:
    """Where exports go, and what removes it (a temporary folder of our own) or None (the caller's)."""
    if outdir is not None:
        return Path(outdir), None
    folder = Path(tempfile.mkdtemp(prefix="galip-studio-"))
    return folder, lambda: shutil.rmtree(folder, ignore_errors=True)
