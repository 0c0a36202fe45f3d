"""Image grids and files.

PNG grids can carry a recipe (a JSON-serialisable dict) in a ``tEXt`` chunk named ``galip-recipe``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

from PIL import Image, PngImagePlugin

RECIPE_KEY = "galip-recipe"


def make_grid(images: Sequence[Image.Image], nrow: int | None = None, padding: int = 2, background=(255, 255, 255)) -> Image.Image:
    """Tile equally sized images into a grid with ``nrow`` images per row (default: near-square)."""
    if not images:
        raise ValueError("no images to put in a grid")
    n = len(images)
    nrow = nrow or math.ceil(math.sqrt(n))
    if nrow < 1:
        raise ValueError("nrow must be at least 1")
    w, h = images[0].size
    if any(im.size != (w, h) for im in images):
        raise ValueError("all images in a grid must have the same size")
    ncol = nrow
    rows = math.ceil(n / ncol)
    grid = Image.new("RGB", (ncol * w + (ncol + 1) * padding, rows * h + (rows + 1) * padding), background)
    for i, im in enumerate(images):
        r, c = divmod(i, ncol)
        grid.paste(im.convert("RGB"), (padding + c * (w + padding), padding + r * (h + padding)))
    return grid


def save_png(image: Image.Image, path: str | os.PathLike, recipe: dict[str, Any] | None = None) -> Path:
    """Save a PNG, with ``recipe`` (if given) as JSON in a ``galip-recipe`` text chunk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    if recipe is not None:
        info.add_text(RECIPE_KEY, json.dumps(recipe, sort_keys=True))
    image.save(path, format="PNG", pnginfo=info)
    return path
