"""Making a render's images and saving them: sentence vectors, batched synthesis, and the PNG, GIF and
MP4 files with their recipe (embedded and in the ``NAME.EXT.json`` sidecar).

Everything is generated in batches through ``pipe.synthesize`` (``batch_size`` images per forward
pass); long jobs report ``progress(done, total)`` after each batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ..export import ANIMATION_SUFFIXES, crisp_size, resize_images, save_animation, save_png
from ..pipeline import to_pil
from .recipe import DEFAULT_LIMITS, ExportSettings, Limits, Progress, Render, whole_at_least


def encode(pipe, prompts: Sequence[str]) -> torch.Tensor:
    """Sentence vectors on the CPU (float32), exactly as ``pipe.generate`` passes them on."""
    return pipe.encode(list(prompts)).float().cpu()


def synthesize(
    pipe,
    noise: torch.Tensor,
    sentence: torch.Tensor,
    batch_size: int,
    progress: Progress | None,
    done: int = 0,
    total: int | None = None,
) -> torch.Tensor:
    """All images, ``batch_size`` per forward pass, clamped to [-1, 1] (as ``pipe.generate`` does).

    ``progress(done + k, total)`` is called after each batch (``done``/``total`` let several passes
    share one progress bar).
    """
    n = noise.shape[0]
    total = done + n if total is None else total
    chunks = []
    for i in range(0, n, batch_size):
        chunks.append(pipe.synthesize(noise[i : i + batch_size], sentence[i : i + batch_size], batch_size=batch_size))
        if progress is not None:
            progress(done + min(i + batch_size, n), total)
    return torch.cat(chunks).clamp(-1, 1)


def short(text: str, n: int = 40) -> str:
    """``text`` cut to ``n`` characters with an ellipsis (for captions)."""
    return text if len(text) <= n else text[: n - 1] + "…"



# ------------------------------------------------------------------------------------------ files
def check_output(path: str | Path, animation: bool) -> Path:
    """Check an output file name before rendering: ``.png`` for grids, ``.gif``/``.mp4``/``.png``
    (a contact sheet) for walks."""
    path = Path(path)
    suffix = path.suffix.lower()
    allowed = (".png",) + (ANIMATION_SUFFIXES if animation else ())
    if suffix not in allowed:
        what = "an animation" if animation else "a grid"
        raise ValueError(f"cannot save {what} as {str(path)!r}: use a file name ending in {', '.join(allowed)}")
    return path


def check_size(size: int | None, limits: Limits = DEFAULT_LIMITS) -> int | None:
    """An export size in pixels (``None``: the model's own), checked: at least 8, at most the limit."""
    if size is None:
        return None
    size = whole_at_least("size", size, 8)
    limits.check("size (pixels)", size, "max_size")
    return size


def save_render(
    render: Render,
    path: str | Path,
    *,
    fps: float | None = None,
    size: int | None = None,
    captions: bool = True,
    quality: float = 8.0,
    loop: bool = True,
    compress_level: int = 6,
    resample: str = "lanczos",
    limits: Limits = DEFAULT_LIMITS,
) -> Path:
    """Save a render with its recipe (embedded and in the ``NAME.EXT.json`` sidecar).

    ``.png``: the grid (with captions) or a walk's contact sheet; ``.gif``/``.mp4``: a walk's frames
    at ``fps`` (default: the walk's). ``size`` scales every image to ``size`` px with ``resample``
    (``lanczos``, or ``nearest`` for crisp pixels; recorded in the export settings when not Lanczos).
    Crisp pixels enlarge by a whole number of times, so ``size`` becomes the nearest whole multiple
    of the images' own size (:func:`~galip_studio.export.crisp_size`; 256 for 64 px images, 224 for
    224 px ones), and the recipe records the size made. An animation's frames are made, scaled and
    written one at a time (nothing holds them all), and ``frames x size²`` is bounded
    (:meth:`Limits.check_animation`). ``compress_level`` is the PNG's zlib level (see
    :func:`~galip_studio.export.save_png`). The export settings are added to the recipe under ``"export"``.
    """
    path = check_output(path, render.is_animation)
    size = check_size(size, limits)
    native = int(render.images.shape[-1])
    if resample == "nearest" and size is not None:
        size = crisp_size(native, size)
        size = None if size == native else size
    recipe = dict(render.recipe)
    extra = {"resample": resample} if resample != "lanczos" else {}
    if path.suffix.lower() == ".png":
        recipe["export"] = {"format": "png", "size": size, "captions": bool(captions), **extra}
        grid = render.grid(captions=captions, size=size, resample=resample)
        return save_png(grid, path, recipe, sidecar=True, compress_level=compress_level)
    fps = float(fps if fps is not None else render.fps)
    limits.check("fps", fps, "max_fps")
    limits.check_animation(int(render.images.shape[0]), size or native)
    recipe["export"] = {"format": path.suffix.lower()[1:], "size": size, "fps": fps, "quality": quality, "loop": bool(loop), **extra}
    crisp = resample == "nearest" and size is not None
    frames = (
        resize_images(to_pil(render.images[i : i + 1]), None if crisp else size, resample)[0] for i in range(render.images.shape[0])
    )
    return save_animation(frames, path, fps, quality=quality, loop=loop, recipe=recipe, upscale=size // native if crisp else 1)


def save_again(
    render: Render,
    settings: ExportSettings,
    path: str | Path,
    *,
    size: int | None = None,
    captions: bool | None = None,
    quality: float | None = None,
    resample: str | None = None,
    compress_level: int = 6,
    limits: Limits = DEFAULT_LIMITS,
) -> Path:
    """Save a re-rendered recipe as its file was exported (``settings`` from :func:`export_settings`),
    with its recipe. ``size``, ``captions``, ``quality`` and ``resample`` replace the recorded ones when given.

    A single image saved without export settings is written bare again (no grid border); the rest
    goes through :func:`~.save_render` with the recorded size, captions, fps, quality, loop
    and scaling.
    """
    size = settings.size if size is None else size
    captions = settings.captions if captions is None else captions
    quality = settings.quality if quality is None else quality
    resample = settings.resample if resample is None else resample
    path = Path(path)
    if not settings.recorded and render.images.shape[0] == 1 and path.suffix.lower() == ".png":
        image = render.pil(check_size(size, limits), resample)[0]
        return save_png(image, path, render.recipe, sidecar=True, compress_level=compress_level)
    return save_render(
        render, path, size=size, captions=captions, fps=settings.fps, quality=quality, loop=settings.loop,
        resample=resample, compress_level=compress_level, limits=limits,
    )
