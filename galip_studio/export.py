"""Image grids and files: PNG grids (with captions), GIF and MP4 animations, and their recipes.

Every export can carry a **recipe** (a JSON-serialisable dict that says how to make the images
again; see :mod:`galip_studio.explore.recipe`). It travels

* in a PNG ``tEXt`` chunk named ``galip-recipe`` (:data:`RECIPE_KEY`),
* in the GIF comment extension,
* in the MP4 ``comment`` metadata tag,
* and, for every format, in a JSON sidecar next to the file: ``NAME.EXT.json`` (``walk.mp4`` →
  ``walk.mp4.json``), so a GIF and an MP4 of the same name do not overwrite each other's recipe.

:func:`load_recipe` reads it back from any of them. Files are written atomically (a temporary file
in the same folder, then a rename), so an interrupted export leaves nothing half-written.

GIF timing is stored in 1/100 s: :func:`gif_durations` spreads the rounding over the frames so the
total play time is exact (24 fps plays as 40, 40, 40, 40, 40, 50 ms, repeating); browsers slow
down frames shorter than 20 ms, so GIFs are limited to 50 fps. Every frame is kept (none merged),
each with its own palette, never dithered: its exact colours when it has at most 256, else 256 by
fast octree quantisation (by default). MP4 files are H.264 ``yuv420p`` with the index at the front
(``+faststart``), which browsers play; odd widths or heights are padded by repeating the edge pixels.

Animations are written as their frames come (a generator of frames is fine): one frame at a time is
held, however long the walk. ``upscale=k`` enlarges each frame k times with nearest neighbour as it
is written (crisp pixels: every source pixel becomes one k x k block of one colour; a GIF frame is
given its palette before it is enlarged, so the enlargement costs no colour).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from .datasets.folders import open_image
from .files import atomic_path
from .latent import pingpong_order

if TYPE_CHECKING:
    import torch

RECIPE_KEY = "galip-recipe"
SIDECAR_SUFFIX = ".json"
GIF_MAX_FPS = 50.0
ANIMATION_SUFFIXES = (".gif", ".mp4")
# GIF colour quantisers: octree is ~250x faster than median cut on varied 224 px frames (2 ms vs
# ~0.5 s a frame on 2 CPU cores) for ~20 % more colour error; median cut is there for final renders.
GIF_QUANTIZERS = {"octree": Image.Quantize.FASTOCTREE, "mediancut": Image.Quantize.MEDIANCUT}

Frames = Sequence[Image.Image] | np.ndarray | Iterable[Image.Image | np.ndarray]


def to_pil(images: "torch.Tensor") -> list[Image.Image]:
    """``[B, 3, H, W]`` images in [-1, 1] (clamped) to PIL RGB images, as the official code saves them."""
    arr = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
    arr = arr.permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a) for a in arr]


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


# ------------------------------------------------------------------------------------------ captions
# Characters of captions that Pillow's default font draws as a missing-glyph box, and what is written instead.
SPELLED_OUT = {"σ": "sigma", "ψ": "psi", "×": "x", "→": "->", "↔": "<->", "−": "-"}


def _spelled(text: str) -> str:
    for char, words in SPELLED_OUT.items():
        text = text.replace(char, words)
    return text


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font, width: float) -> str:
    """``text``, cut with an ellipsis so that it fits in ``width`` pixels (characters the default
    font lacks spelled out: "+3σ" is written "+3sigma", not a box)."""
    text = _spelled(text)
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…" if text else ""


def grid_image(
    images: Sequence[Image.Image],
    cols: int,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    padding: int = 2,
    background=(255, 255, 255),
    text_color=(0, 0, 0),
    font_size: int | None = None,
) -> Image.Image:
    """A grid with ``cols`` images per row and optional captions.

    ``row_labels`` (one per row) are written in a strip under each row, left-aligned across the whole
    width; ``col_labels`` (one per column) in a strip under the grid, centred under each column.
    Labels too long for their space are cut with an ellipsis. With no (non-empty) labels this is
    :func:`make_grid`.
    """
    if not images:
        raise ValueError("no images to put in a grid")
    if cols < 1:
        raise ValueError("a grid needs at least one column")
    rows = math.ceil(len(images) / cols)
    row_labels = list(row_labels or [])
    col_labels = list(col_labels or [])
    if row_labels and len(row_labels) != rows:
        raise ValueError(f"{rows} grid rows but {len(row_labels)} row labels")
    if col_labels and len(col_labels) != cols:
        raise ValueError(f"{cols} grid columns but {len(col_labels)} column labels")
    has_rows, has_cols = any(row_labels), any(col_labels)
    if not (has_rows or has_cols):
        return make_grid(images, nrow=cols, padding=padding, background=background)
    w, h = images[0].size
    if any(im.size != (w, h) for im in images):
        raise ValueError("all images in a grid must have the same size")
    size = font_size or max(8, min(20, h // 6))
    font = ImageFont.load_default(size=size)
    strip = size + 4
    cell_h = h + (strip if has_rows else 0)
    width = cols * w + (cols + 1) * padding
    out = Image.new("RGB", (width, padding + rows * (cell_h + padding) + (strip if has_cols else 0)), background)
    draw = ImageDraw.Draw(out)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        out.paste(im.convert("RGB"), (padding + c * (w + padding), padding + r * (cell_h + padding)))
    if has_rows:
        for r, label in enumerate(row_labels):
            y = padding + r * (cell_h + padding) + h + 1
            draw.text((padding, y), _fit_text(draw, label, font, width - 2 * padding), fill=text_color, font=font)
    if has_cols:
        y = padding + rows * (cell_h + padding)
        for c, label in enumerate(col_labels):
            text = _fit_text(draw, label, font, w + padding)
            x = padding + c * (w + padding) + (w - draw.textlength(text, font=font)) / 2
            draw.text((x, y), text, fill=text_color, font=font)
    return out


RESAMPLERS = {"lanczos": Image.Resampling.LANCZOS, "nearest": Image.Resampling.NEAREST}
"""How :func:`resize_images` scales: ``lanczos`` (smooth) or ``nearest`` (crisp pixels, for small images)."""


def crisp_size(native: int, size: int) -> int:
    """The size crisp pixels (nearest neighbour) enlarge ``native`` px images to when ``size`` is
    asked for: the nearest whole multiple of ``native`` (at least ``native``), so every source pixel
    becomes a square block of one colour instead of blocks of uneven widths."""
    return max(1, round(size / native)) * native


def resize_images(images: Sequence[Image.Image], size: int | None, resample: str = "lanczos") -> list[Image.Image]:
    """Scale square images to ``size`` x ``size`` pixels with ``resample`` (a :data:`RESAMPLERS` name,
    Lanczos by default); ``None`` keeps them as they are."""
    if resample not in RESAMPLERS:
        raise ValueError(f"unknown resampler {resample!r}: use one of {', '.join(RESAMPLERS)}")
    if size is None:
        return list(images)
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    return [im if im.size == (size, size) else im.resize((size, size), RESAMPLERS[resample]) for im in images]


# ------------------------------------------------------------------------------------------ writing files
def _recipe_json(recipe: dict[str, Any]) -> str:
    try:
        return json.dumps(recipe, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the recipe cannot be written as JSON ({e}); keep it to plain numbers, strings, lists and dicts") from e


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where the JSON sidecar of an exported file lives: ``NAME.EXT.json``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def write_sidecar(path: str | os.PathLike, recipe: dict[str, Any]) -> Path:
    """Write ``recipe`` as indented JSON to the sidecar of ``path`` (atomically); returns its path."""
    target = sidecar_path(path)
    text = json.dumps(json.loads(_recipe_json(recipe)), indent=2, sort_keys=True) + "\n"
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def save_png(
    image: Image.Image, path: str | os.PathLike, recipe: dict[str, Any] | None = None, *, sidecar: bool = False, compress_level: int = 6
) -> Path:
    """Save a PNG, with ``recipe`` (if given) as JSON in a ``galip-recipe`` text chunk (and in a
    sidecar ``NAME.png.json`` when ``sidecar``).

    ``compress_level`` is zlib's 0-9 (6, Pillow's default, for files; the app uses 1, which writes a
    650 px grid about 4x faster for a file about 20% larger)."""
    path = Path(path)
    info = PngImagePlugin.PngInfo()
    if recipe is not None:
        info.add_text(RECIPE_KEY, _recipe_json(recipe))
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", pnginfo=info, compress_level=compress_level)
    if recipe is not None and sidecar:
        write_sidecar(path, recipe)
    return path


def _frame_stream(frames: Frames) -> Iterator[np.ndarray]:
    """Frames one by one as ``[H, W, 3]`` uint8 arrays, all of the first one's size (a list, an
    array ``[N, H, W, 3]`` or any iterable of PIL images / arrays; a generator is read lazily)."""
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or frames.shape[0] == 0:
            raise ValueError(f"frames must be PIL images or a uint8 array [N, H, W, 3], got {frames.dtype} {frames.shape}")
        yield from frames
        return
    shape = None
    for frame in frames:
        arr = np.asarray(frame.convert("RGB")) if isinstance(frame, Image.Image) else np.asarray(frame)
        if arr.ndim != 3 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"frames must be PIL images or uint8 arrays [H, W, 3], got {arr.dtype} {arr.shape}")
        if shape is None:
            shape = arr.shape
        elif arr.shape != shape:
            raise ValueError("all frames of an animation must have the same size")
        yield arr
    if shape is None:
        raise ValueError("no frames to write")


def _ordered(frames: Frames, pingpong: bool) -> Frames:
    """``frames`` in playback order: forward, or forward then back (which needs them all at hand)."""
    if not pingpong:
        return frames
    if not isinstance(frames, (np.ndarray, Sequence)):
        frames = list(frames)
    return [frames[i] for i in pingpong_order(len(frames))]


def _check_upscale(upscale: int) -> int:
    if int(upscale) != upscale or upscale < 1:
        raise ValueError(f"upscale must be a whole number of times, 1 or more, got {upscale}")
    return int(upscale)


def _enlarge(image: Image.Image, k: int) -> Image.Image:
    """``image`` k times larger with nearest neighbour (P images keep their palette)."""
    return image if k == 1 else image.resize((image.width * k, image.height * k), Image.Resampling.NEAREST)


def exact_palette(image: Image.Image, colors: int = 256) -> Image.Image | None:
    """``image`` as a P image whose palette is exactly its own colours, or ``None`` when it has more
    than ``colors`` (quantising such an image changes no pixel)."""
    rgb = image.convert("RGB")
    if rgb.getcolors(colors) is None:
        return None
    arr = np.asarray(rgb).astype(np.uint32)
    packed = (arr[..., 0] << 16) | (arr[..., 1] << 8) | arr[..., 2]
    uniq, index = np.unique(packed, return_inverse=True)
    out = Image.fromarray(index.reshape(packed.shape).astype(np.uint8), "P")
    out.putpalette(np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1).astype(np.uint8).tobytes())
    return out


def _check_fps(fps: float, maximum: float, fmt: str) -> float:
    fps = float(fps)
    if not (math.isfinite(fps) and 0 < fps <= maximum):
        hint = "; use MP4 for faster frame rates" if fmt == "GIF" else ""
        raise ValueError(f"{fmt} fps must be in (0, {maximum:g}], got {fps:g}{hint}")
    return fps


def gif_durations(frames: int, fps: float) -> list[int]:
    """Per-frame GIF delays in ms (multiples of 10, as GIF stores 1/100 s) whose running total stays
    within 5 ms of ``k * 1000 / fps``: the play time is exact and each delay is within 10 ms of ideal."""
    fps = _check_fps(fps, GIF_MAX_FPS, "GIF")
    ends = [round((k + 1) * 100 / fps) for k in range(frames)]
    return [10 * (end - start) for start, end in zip([0] + ends[:-1], ends)]


def _gif_delays(fps: float) -> Iterator[int]:
    """:func:`gif_durations` one frame at a time, for as many frames as come."""
    fps = _check_fps(fps, GIF_MAX_FPS, "GIF")
    k, end = 0, 0
    while True:
        k, start = k + 1, end
        end = round(k * 100 / fps)
        yield 10 * (end - start)


def _write_gif(out: Any, frames: Iterable[np.ndarray], fps: float, loop: bool, comment: str | None, quantizer: str, upscale: int) -> int:
    """Write GIF bytes to the open file ``out`` as frames come; returns the number of frames. Every
    frame is stored whole, with its own delay and its own palette (a local colour table): its exact
    colours when it has at most 256, else an adaptive 256-colour one; never dithered (dithering
    shimmers from frame to frame and blurs crisp pixels). The palette is made at the frame's own
    size, then the frame is enlarged ``upscale`` times with nearest neighbour.

    Pillow's ``save_all`` (what imageio's GIF writer calls) merges a frame identical to the one
    before it into one longer frame; a walk must keep the frame count it asked for, so the frames go
    through Pillow's GIF encoder (``getheader``/``getdata``) one by one. (One palette shared by all
    frames was tried: on varied frames it had 3x the colour error.)
    """
    from PIL import GifImagePlugin

    if quantizer not in GIF_QUANTIZERS:
        raise ValueError(f"unknown GIF quantizer {quantizer!r}: choose one of {', '.join(GIF_QUANTIZERS)}")
    method = GIF_QUANTIZERS[quantizer]
    delays = _gif_delays(fps)
    count = 0
    for arr in frames:
        rgb = Image.fromarray(arr)
        frame = _enlarge(exact_palette(rgb) or rgb.quantize(256, method=method, dither=Image.Dither.NONE), upscale)
        ms = next(delays)
        if count == 0:
            info: dict[str, Any] = {"duration": ms}  # marks the file GIF89a (frame delays)
            if loop:
                info["loop"] = 0
            if comment:
                info["comment"] = comment
            header, _ = GifImagePlugin.getheader(frame, info=info)
            out.write(b"".join(header))
        out.write(b"".join(GifImagePlugin.getdata(frame, duration=ms, include_color_table=True)))
        count += 1
    out.write(b";")
    return count


def save_gif(
    frames: Frames,
    path: str | os.PathLike,
    fps: float = 24.0,
    *,
    loop: bool = True,
    pingpong: bool = False,
    recipe: dict[str, Any] | None = None,
    sidecar: bool = True,
    quantizer: str = "octree",
    upscale: int = 1,
) -> Path:
    """Write an animated GIF, every frame kept (see :func:`_write_gif`), one frame in memory at a time.

    Args:
        frames: PIL images or uint8 arrays ``[H, W, 3]`` (a list, a generator, or one array ``[N, H, W, 3]``).
        fps: frames per second, at most 50 (see :func:`gif_durations`).
        loop: play forever (``True``) or once.
        pingpong: play forward then back (``0 .. n-1, n-2 .. 1``).
        recipe: stored in the GIF comment and (``sidecar``) in ``NAME.gif.json``.
        quantizer: ``"octree"`` (fast, default) or ``"mediancut"`` (slower, a little truer colours), for
            frames of more than 256 colours.
        upscale: enlarge every frame this many times with nearest neighbour (crisp pixels).
    """
    _check_fps(fps, GIF_MAX_FPS, "GIF")
    upscale = _check_upscale(upscale)
    comment = _recipe_json(recipe) if recipe is not None else None
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        _write_gif(out, _frame_stream(_ordered(frames, pingpong)), fps, loop, comment, quantizer, upscale)
    if recipe is not None and sidecar:
        write_sidecar(path, recipe)
    return path


def _ffmetadata_escape(value: str) -> str:
    """A value for an ffmetadata file: ``=``, ``;``, ``#``, ``\\`` and newlines escaped with a backslash."""
    return re.sub(r"([=;#\\\n])", r"\\\1", value)


def _add_metadata(video: Path, metadata: Path, out: Path, ffmpeg: str) -> None:
    """Copy ``video``'s streams (no re-encoding) to ``out`` with the global metadata of the ffmetadata
    file ``metadata``, the index at the front. Absolute paths: never read as options or protocols."""
    cmd = [ffmpeg, "-v", "error", "-y", "-i", str(video.resolve()), "-f", "ffmetadata", "-i", str(metadata.resolve())]
    cmd += ["-map", "0", "-map_metadata", "1", "-c", "copy", "-movflags", "+faststart", str(out.resolve())]
    done = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if done.returncode != 0:
        message = done.stderr.strip()[-2000:] or f"exit status {done.returncode}"
        raise RuntimeError(f"ffmpeg could not store the recipe in {out.name}: {message}")


def save_mp4(
    frames: Frames,
    path: str | os.PathLike,
    fps: float = 24.0,
    *,
    quality: float = 8.0,
    pingpong: bool = False,
    recipe: dict[str, Any] | None = None,
    sidecar: bool = True,
    upscale: int = 1,
) -> Path:
    """Write an H.264 ``yuv420p`` MP4 that browsers play (via imageio-ffmpeg), frames sent to the
    encoder as they come (one in memory at a time).

    Args:
        frames: PIL images or uint8 arrays ``[H, W, 3]`` (a list, a generator, or one array
            ``[N, H, W, 3]``); odd sizes are padded to even.
        fps: frames per second (any positive rate; 24000/1001-style rates are kept as fractions).
        quality: 1 (smallest) to 10 (best); maps to x264 CRF ``int(51 * (1 - quality / 10))``.
        pingpong: play forward then back.
        recipe: stored in the ``comment`` tag and (``sidecar``) in ``NAME.mp4.json``. Of any size:
            the tag is not put on ffmpeg's command line (one argument is limited to 128 KiB) but
            written to an ffmetadata file, and the encoded video is remuxed once (streams copied,
            not re-encoded) with it, which costs one more short ffmpeg run.
        upscale: enlarge every frame this many times with nearest neighbour (crisp pixels).

    Raises:
        ValueError: bad arguments or frames, or a recipe that is not plain JSON.
        RuntimeError: ffmpeg could not add the recipe (its error message included).
    """
    import imageio_ffmpeg

    fps = _check_fps(fps, 1000.0, "MP4")
    if not 1 <= quality <= 10:
        raise ValueError(f"MP4 quality must be between 1 and 10, got {quality}")
    k = _check_upscale(upscale)
    stream = _frame_stream(_ordered(frames, pingpong))
    first = next(stream)
    height, width = first.shape[0] * k, first.shape[1] * k
    pad_h, pad_w = height % 2, width % 2

    def prepared(arr: np.ndarray) -> np.ndarray:
        if k > 1:
            arr = arr.repeat(k, axis=0).repeat(k, axis=1)
        if pad_h or pad_w:
            arr = np.pad(arr, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        return np.ascontiguousarray(arr)

    comment = None if recipe is None else _recipe_json(recipe)  # checked before anything is written

    def encode(out: Path, params: list[str]) -> None:
        writer = imageio_ffmpeg.write_frames(
            str(out),
            (width + pad_w, height + pad_h),
            fps=Fraction(fps).limit_denominator(1001),
            quality=float(quality),
            codec="libx264",
            pix_fmt_out="yuv420p",
            macro_block_size=1,
            output_params=params,
            ffmpeg_log_level="error",
        )
        writer.send(None)
        try:
            writer.send(prepared(first))
            for frame in stream:
                writer.send(prepared(frame))
        finally:
            writer.close()

    path = Path(path)
    with atomic_path(path) as tmp:
        if comment is None:
            encode(tmp, ["-movflags", "+faststart"])
        else:
            # A dot folder beside the file (skipped by folder scans, on the same disk), removed after.
            with tempfile.TemporaryDirectory(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent) as work:
                encoded, metadata = Path(work, "encoded.mp4"), Path(work, "metadata.txt")
                encode(encoded, [])
                metadata.write_text(";FFMETADATA1\ncomment=" + _ffmetadata_escape(comment) + "\n", encoding="utf-8", newline="\n")
                _add_metadata(encoded, metadata, tmp, imageio_ffmpeg.get_ffmpeg_exe())
    if recipe is not None and sidecar:
        write_sidecar(path, recipe)
    return path


def save_animation(frames: Frames, path: str | os.PathLike, fps: float = 24.0, **kwargs: Any) -> Path:
    """:func:`save_gif` or :func:`save_mp4` by the file's suffix (``quality`` only applies to MP4,
    ``loop`` and ``quantizer`` only to GIF: an MP4's looping is up to the player)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".gif":
        kwargs.pop("quality", None)
        return save_gif(frames, path, fps, **kwargs)
    if suffix == ".mp4":
        kwargs.pop("loop", None)
        kwargs.pop("quantizer", None)
        return save_mp4(frames, path, fps, **kwargs)
    raise ValueError(f"cannot write an animation to {str(path)!r}: use a .gif or .mp4 file name")


# ------------------------------------------------------------------------------------------ reading recipes
def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a number a recipe can hold")


MAX_RECIPE_CHARS = 1_000_000


def parse_recipe(text: str | bytes, source: str) -> dict[str, Any]:
    """A recipe from its JSON text (bounded size and depth, no NaN); ``source`` names it in the errors."""
    if len(text) > MAX_RECIPE_CHARS:
        raise ValueError(f"the recipe in {source} is {len(text):,} characters long; a GALIP Studio recipe is far smaller")
    try:
        recipe = json.loads(text, parse_constant=_not_a_number)
    except RecursionError as e:
        raise ValueError(f"the recipe in {source} is nested too deeply to be a GALIP Studio recipe") from e
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise ValueError(f"the recipe in {source} is not valid JSON ({e})") from e
    if not isinstance(recipe, dict) or "kind" not in recipe:
        raise ValueError(f"{source} does not hold a GALIP Studio recipe (a JSON object with a 'kind')")
    return recipe


def _mp4_comment(path: Path) -> str | None:
    """The ``comment`` tag of a video, read with imageio-ffmpeg's ffmpeg (``None`` when absent)."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    for line in out.splitlines():
        if line.startswith("comment="):
            return re.sub(r"\\(.)", r"\1", line[len("comment=") :])
    return None


def _embedded_recipe(path: Path) -> str | bytes | None:
    suffix = path.suffix.lower()
    if suffix in (".png", ".gif"):
        try:
            with open_image(path) as im:  # refused above Pillow's limit, not only warned
                info = im.text if suffix == ".png" else im.info  # type: ignore[attr-defined]
                return info.get(RECIPE_KEY if suffix == ".png" else "comment")
        except Image.DecompressionBombError as e:
            raise ValueError(f"{path} is too large an image to open safely ({e}); it is not a GALIP Studio export") from e
        except (OSError, SyntaxError) as e:
            raise ValueError(f"cannot read {path} as an image ({e})") from e
    if suffix == ".mp4":
        return _mp4_comment(path)
    return None


def load_recipe(path: str | os.PathLike) -> dict[str, Any]:
    """The recipe of an exported file: a ``.json`` recipe itself, a PNG's text chunk, a GIF's comment
    or an MP4's comment tag, else the ``NAME.EXT.json`` sidecar."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() == ".json":
        return parse_recipe(path.read_text(encoding="utf-8"), str(path))
    embedded = _embedded_recipe(path)
    if embedded:
        return parse_recipe(embedded, str(path))
    side = sidecar_path(path)
    if side.is_file():
        return parse_recipe(side.read_text(encoding="utf-8"), str(side))
    raise ValueError(
        f"no recipe found for {path}: it carries none and there is no sidecar {side.name}; "
        "only files exported by GALIP Studio (or their .json sidecars) can be re-rendered"
    )
