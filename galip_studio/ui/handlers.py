"""What the latent-exploration tabs' buttons do, as plain functions: Generate (and its send-to
buttons), Interpolate, Blend grid, Style knobs and Noise walk with its animation export. Each calls
the library and formats the results for Gradio.

Every handler takes the session's model first (a :class:`GALIPPipeline` in tests and scripts, a
:class:`~galip_studio.ui.models.ModelHandle` in the app), then the values of its input components
in order, then keyword-only plumbing: ``outdir`` (where exported files go), ``limits`` (the
:class:`~galip_studio.explore.Limits`), ``progress`` (``progress(done, total)``, called after each batch).
Handlers return named tuples in the order of their output components. No model logic lives here:
images, blends, walks and files come from ``explore``, ``export`` and ``metrics``; user errors,
job folders and prompt and seed parsing from :mod:`.plumbing`.

The other tabs' logic: :mod:`.discover_handlers` (Directions, Prompt map), :mod:`.model_handlers`
(Model), :mod:`.recipe_handlers` (Recipe); the history strip is :mod:`.history`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import gradio as gr
from PIL import Image

from .. import explore
from ..export import RESAMPLERS, crisp_size, save_png
from ..latent import corner_position, corner_weights
from ..metrics import measure_path, plot_path
from .models import Model, pipeline_of
from .plumbing import (
    YOUR_IMAGE, PNG_LEVEL, Progress, new_job_dir, parse_prompts, parse_seeds, point_noise, point_or_prompt, recipe_text, seed_or_random, shown_recipe, user_error, user_errors,
)

PLAYBACK = ("once", "loop", "ping-pong")
EXPORT_FORMATS = ("GIF", "MP4")
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
EXPORT_SIZES = (("native", 0), ("64 px", 64), ("128 px", 128), ("256 px", 256), ("512 px", 512), ("1024 px", 1024))  # per image, for downloads
RESAMPLE_CHOICES = (("crisp pixels (nearest)", "nearest"), ("smooth (Lanczos)", "lanczos"))
MAX_FOUND_LINES = 4  # "[your image]" lines in one walk: each stores ~10 kB of vectors, and an MP4's recipe goes to ffmpeg as one argument (<128 kB)
WEIGHT_DECIMALS = 4  # knob weights as shown: x and y move in steps of 0.01, so their products are exact at 4


# ------------------------------------------------------------------------------------------ file names and export sizes
def _slug(text: str, n: int = 32) -> str:
    """A file-name-safe short form of a prompt."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:n].strip("-") or "galip"


def _resample(resample: str | None) -> str:
    """The resampler a user picked (``nearest`` when none): a :data:`~galip_studio.export.RESAMPLERS` name."""
    resample = (resample or "nearest").lower()
    if resample not in RESAMPLERS:
        raise user_error(f"scaling must be one of {', '.join(RESAMPLERS)}, got {resample!r}.")
    return resample


def _export_size(size: int | float | str | None, native: int, limits: explore.Limits) -> int | None:
    """The per-image size of a download (``None``: native); ``0``/empty means native."""
    try:
        px = int(float(size or 0))
    except (TypeError, ValueError):
        raise user_error(f"export size must be a number of pixels, got {size!r}.") from None
    if px <= 0 or px == native:
        return None
    if px < 8:
        raise user_error("export size must be at least 8 px (or 0 for the native size).")
    try:
        limits.check("export size (pixels)", px, "max_size")
    except ValueError as e:
        raise user_error(str(e)) from None
    return px


def prompts_slug(prompts: Sequence[str], n: int = 24, most: int = 3) -> str:
    """A file name part that names every prompt of a grid (the first ``most``, then how many more)."""
    parts = [_slug(p, n) for p in prompts[:most]]
    if len(prompts) > most:
        parts.append(f"and-{len(prompts) - most}-more")
    return "+".join(parts)


def display_cell(image_size: int, cols: int, target: int = 640, max_cell: int = 256) -> int | None:
    """Cell size in px for showing a grid about ``target`` px wide: small models' images are scaled
    up (with the session's resampler) by a whole number of times, so crisp pixels are square blocks
    and the grid and its captions are readable; ``None`` when native size is enough."""
    times = max(1, min(max_cell, target // max(1, cols)) // image_size)
    return None if times == 1 else times * image_size


# ------------------------------------------------------------------------------------------ generate
class GenerateResult(NamedTuple):
    gallery: list[tuple[str, str]]  # (PNG path with its own recipe, caption)
    grid_file: str  # all images as one PNG grid with the recipe
    recipe: str  # the recipe as JSON text (see recipe_text)


@user_errors
def generate(
    model: Model,
    prompt: str,
    num_images: int | float,
    seed: int | float | None,
    truncation: float,
    export_size: int | float | None = 0,
    resample: str = "nearest",
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> GenerateResult:
    """Images of one or more prompts (one per line); image k uses seed ``seed + k``.

    Each gallery image is a native-size PNG that carries its own recipe, so dropping it on the
    Recipe tab makes it again; the grid file holds them all, each image scaled to ``export_size``
    px (0: native) with ``resample`` (``nearest``: crisp pixels, ``lanczos``: smooth), and is named
    after every prompt in it.
    """
    prompts = parse_prompts(prompt)
    first = seed_or_random(seed)
    n = int(num_images)
    limits.check("images per prompt", n, "max_seeds")
    seeds = [first + k for k in range(n)]
    pipe = pipeline_of(model)
    size, scaling = _export_size(export_size, pipe.image_size, limits), _resample(resample)
    render = explore.seed_grid(pipe, prompts, seeds, truncation=float(truncation), limits=limits, progress=progress)
    job = new_job_dir(outdir)
    gallery = []
    for i, im in enumerate(render.pil()):
        p, s = prompts[i // n], seeds[i % n]
        recipe = dict(render.recipe, prompts=[p], seeds=[s])
        path = save_png(im, job / f"{_slug(p)}-seed{s}.png", recipe, compress_level=PNG_LEVEL)
        gallery.append((str(path), f"seed {s}" if len(prompts) == 1 else f"{p} · seed {s}"))
    name = f"{prompts_slug(prompts)}-grid{f'-{size}px' if size else ''}.png"
    grid = explore.save_render(render, job / name, size=size, resample=scaling, compress_level=PNG_LEVEL, limits=limits)
    return GenerateResult(gallery, str(grid), recipe_text(render.recipe))


class GalleryItem(NamedTuple):
    prompt: str
    seed: int


def gallery_item(recipe: str | dict[str, Any] | None, index: int | float | None) -> GalleryItem:
    """The prompt and seed of image ``index`` of a Generate gallery, from the gallery's recipe
    (row-major: one row of seeds per prompt)."""
    recipe = shown_recipe(recipe)
    if not isinstance(recipe, dict) or not recipe.get("prompts") or not recipe.get("seeds"):
        raise user_error("Generate some images first, then click one to pick it.")
    if index is None:
        raise user_error("Click an image of the gallery first.")
    prompts, seeds, i = list(recipe["prompts"]), list(recipe["seeds"]), int(index)
    if not 0 <= i < len(prompts) * len(seeds):
        raise user_error(f"there is no image {i + 1} in this gallery of {len(prompts) * len(seeds)}.")
    return GalleryItem(str(prompts[i // len(seeds)]), int(seeds[i % len(seeds)]))


def picked_text(item: GalleryItem) -> str:
    """The line that says which gallery image the send-to buttons will send."""
    return f"Picked: **{item.prompt}** · seed **{item.seed}**"


# ------------------------------------------------------------------------------------------ interpolate
class InterpolateResult(NamedTuple):
    grid: str  # captioned PNG grid (rows: steps A→B, columns: seeds), with recipe
    plot: Image.Image  # CLIP score per step and step sizes along the path of the first seed
    smoothness: str  # markdown summary
    recipe: str  # the recipe as JSON text (see recipe_text)
    file: str  # the captioned grid at the chosen export size, with recipe (the download)


def _smoothness_text(measures: Any, column: str) -> str:
    c, p = measures.clip_smoothness, measures.pixel_smoothness
    return (
        f"**Path of {column}** ({c.count} steps). Largest step / mean step — CLIP space **{c.max_over_mean:.2f}**, "
        f"pixels **{p.max_over_mean:.2f}** (1.00 is perfectly even; a jump shows as a large value)."
    )


@user_errors
def interpolate(
    model: Model,
    prompt_a: str,
    prompt_b: str,
    steps: int | float,
    seeds: str,
    interp: str,
    easing: str,
    truncation: float,
    export_size: int | float | None = 0,
    resample: str = "nearest",
    found: dict[str, Any] | None = None,
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> InterpolateResult:
    """Prompt A → prompt B in ``steps`` rows, one column per seed, plus the smoothness of the path.

    The grid shown is scaled for the screen with ``resample``; ``file`` is the captioned grid with
    each image at ``export_size`` px (0: native). Either prompt may be ``[your image]``: the
    session's ``found`` point (from Invert); its noise is then the first column, before the seeds.
    """
    ends = [point_or_prompt(prompt_a, found), point_or_prompt(prompt_b, found)]
    a, b = (e if isinstance(e, dict) else parse_prompts(e, f"prompt {n}")[0] for e, n in zip(ends, "AB"))
    seed_list = parse_seeds(seeds)
    pipe = pipeline_of(model)
    export, scaling = _export_size(export_size, pipe.image_size, limits), _resample(resample)
    noise = point_noise((a, b))
    render = explore.interpolation_grid(
        pipe, a, b, steps=int(steps), seeds=seed_list, interp=interp, easing=easing, truncation=float(truncation),
        noise=None if noise is None else [noise], limits=limits, progress=progress,
    )
    column = render.images[0 :: render.cols]  # the first column, step by step
    measures = measure_path(pipe.clip, column, [e for e in (a, b) if isinstance(e, str)])
    job = new_job_dir(outdir)
    size = display_cell(pipe.image_size, render.cols)
    stem = f"{_slug(explore.label_of(a))}-to-{_slug(explore.label_of(b))}"
    grid = explore.save_render(render, job / f"{stem}.png", size=size, resample=scaling, compress_level=PNG_LEVEL, limits=limits)
    file = grid if export == size else explore.save_render(
        render, job / f"{stem}-{export or pipe.image_size}px.png", size=export, resample=scaling, compress_level=PNG_LEVEL, limits=limits
    )
    return InterpolateResult(
        str(grid), plot_path(measures, (720, 420)), _smoothness_text(measures, render.col_labels[0]), recipe_text(render.recipe), str(file)
    )


# ------------------------------------------------------------------------------------------ blend grid
class BlendResult(NamedTuple):
    grid: str  # PNG grid without captions (cells are clickable; cells scaled by display_cell), with recipe
    file: str  # the download: the grid with its corner prompts written under the first and last rows, at the export size
    recipe: str  # the recipe as JSON text (see recipe_text)
    last_blend: dict[str, Any]  # the same recipe, kept in the session for blend_cell


@user_errors
def blend(
    model: Model,
    top_left: str,
    top_right: str,
    bottom_left: str,
    bottom_right: str,
    size: int | float,
    seed: int | float | None,
    truncation: float,
    export_size: int | float | None = 0,
    resample: str = "nearest",
    found: dict[str, Any] | None = None,
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> BlendResult:
    """The four-corner blend grid (the paper's Figure 7): ``size`` x ``size`` bilinear blends, one seed.

    The grid shown has no captions (its cells are clicked); the download names the corners under
    the first and last rows, each image at ``export_size`` px (0: native), scaled with ``resample``.
    A corner may be ``[your image]``: the session's ``found`` point, whose noise replaces the seed's.
    """
    sources = [point_or_prompt(p, found) for p in (top_left, top_right, bottom_left, bottom_right)]
    corners = [p if isinstance(p, dict) else parse_prompts(p, f"{name} prompt")[0] for p, name in zip(sources, CORNERS)]
    n = int(size)
    pipe = pipeline_of(model)
    export, scaling = _export_size(export_size, pipe.image_size, limits), _resample(resample)
    render = explore.blend_grid(
        pipe, corners, rows=n, seed=seed_or_random(seed), noise=point_noise(corners), truncation=float(truncation),
        limits=limits, progress=progress,
    )
    job = new_job_dir(outdir)
    size = display_cell(render.images.shape[-1], render.cols)
    stem = f"blend-{n}x{n}-seed{render.recipe['seed']}"
    grid = explore.save_render(render, job / f"{stem}.png", size=size, captions=False, resample=scaling, compress_level=PNG_LEVEL, limits=limits)
    file = explore.save_render(
        render, job / f"{stem}-{prompts_slug([explore.label_of(c) for c in corners], 16, 4)}{f'-{export}px' if export else ''}.png", size=export,
        captions=True, resample=scaling, compress_level=PNG_LEVEL, limits=limits,
    )
    return BlendResult(str(grid), str(file), recipe_text(render.recipe), render.recipe)


def grid_cell(x: float, y: float, rows: int, cols: int, image_size: int, padding: int = 2) -> tuple[int, int]:
    """The (row, column) of a click at pixel ``(x, y)`` of an uncaptioned ``rows`` x ``cols`` grid of
    ``image_size`` px images (clicks on the padding go to the nearest cell)."""
    pitch = image_size + padding
    col = min(max(int((x - padding / 2) // pitch), 0), cols - 1)
    row = min(max(int((y - padding / 2) // pitch), 0), rows - 1)
    return row, col


def cell_position(row: int | float, col: int | float, rows: int | float, cols: int | float | None = None) -> tuple[float, float]:
    """The blend position ``(x, y)`` in [0, 1]² of a cell of a ``rows`` x ``cols`` blend grid (square by default)."""
    n_rows = int(rows)
    n_cols = n_rows if cols is None else int(cols)
    for what, value in (("row", row), ("column", col)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value != int(value):
            raise user_error(f"the {what} is a whole number from 0 to {(n_rows if what == 'row' else n_cols) - 1}, got {value}.")
    r, c = int(row), int(col)
    if n_rows < 2 or n_cols < 2 or not (0 <= r < n_rows and 0 <= c < n_cols):
        raise user_error(f"cell ({r}, {c}) is not in a {n_rows}x{n_cols} grid: rows count from 0 to {n_rows - 1}, columns from 0 to {n_cols - 1}.")
    return c / (n_cols - 1), r / (n_rows - 1)


# ------------------------------------------------------------------------------------------ style knobs
class KnobWeights(NamedTuple):
    top_left: float
    top_right: float
    bottom_left: float
    bottom_right: float


def knob_position(x: float, y: float) -> KnobWeights:
    """The four knob weights of the bilinear position ``(x, y)`` (0-1; x left→right, y top→bottom),
    rounded to :data:`WEIGHT_DECIMALS` places (exact for positions in steps of 0.01: no float noise
    such as 0.015000000000000013 in the weight boxes)."""
    try:
        weights = corner_weights(float(x), float(y))
    except ValueError as e:
        raise user_error(str(e)) from e
    return KnobWeights(*(round(float(w), WEIGHT_DECIMALS) + 0.0 for w in weights))


class KnobPosition(NamedTuple):
    x: float
    y: float


def weights_position(weight_1: float, weight_2: float, weight_3: float, weight_4: float) -> KnobPosition:
    """Where four knob weights sit in the blend square: the weighted mean of the corners (top-left
    (0, 0), top-right (1, 0), bottom-left (0, 1), bottom-right (1, 1)), so the position sliders follow
    the weights (:func:`~galip_studio.latent.corner_position`, rounded to 0.01). The inverse of
    :func:`knob_position` for bilinear weights; all zero: the centre."""
    x, y = corner_position((weight_1, weight_2, weight_3, weight_4))
    return KnobPosition(round(x, 2) + 0.0, round(y, 2) + 0.0)


class KnobResult(NamedTuple):
    image: str  # PNG with recipe
    mix: str  # markdown: the normalised share of each prompt
    recipe: str  # the recipe as JSON text (see recipe_text)


@user_errors
def style_knob(
    model: Model,
    prompt_1: str,
    prompt_2: str,
    prompt_3: str,
    prompt_4: str,
    weight_1: float,
    weight_2: float,
    weight_3: float,
    weight_4: float,
    seed: int | float | None,
    truncation: float,
    normalize: bool,
    found: dict[str, Any] | None = None,
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
) -> KnobResult:
    """One image from the weighted blend of up to four prompts (empty prompts with weight 0 are skipped).

    A prompt may be ``[your image]``: the session's ``found`` point (from Invert) is that corner, and
    its noise replaces the seed's, so that corner alone at full weight is the inversion's image."""
    pairs = [(p.strip(), float(w)) for p, w in zip((prompt_1, prompt_2, prompt_3, prompt_4), (weight_1, weight_2, weight_3, weight_4))]
    if any(not p and w != 0 for p, w in pairs):
        raise user_error("A knob with an empty prompt has a weight: type its prompt or set its weight to 0.")
    used = [(p, w) for p, w in pairs if p]
    if not used:
        raise user_error("Type at least one prompt, e.g. “a red apple”.")
    if not any(w != 0 for _, w in used):
        raise user_error("All weights are 0: turn at least one knob up.")
    prompts, weights = [point_or_prompt(p, found) for p, _ in used], [w for _, w in used]
    render = explore.style_knob(
        pipeline_of(model), prompts, weights, seed=seed_or_random(seed), noise=point_noise(prompts), normalize=bool(normalize), truncation=float(truncation),
        limits=limits,
    )
    total = sum(weights) if normalize else 1.0
    mix = " · ".join(f"{100 * w / total:.0f}% {p}" for p, w in used if w)
    job = new_job_dir(outdir)
    path = save_png(render.pil()[0], job / f"knobs-seed{render.recipe['seed']}.png", render.recipe, compress_level=PNG_LEVEL)
    return KnobResult(str(path), f"**Mix:** {mix}", recipe_text(render.recipe))


class CellResult(NamedTuple):
    prompt_1: str
    prompt_2: str
    prompt_3: str
    prompt_4: str
    weight_1: float
    weight_2: float
    weight_3: float
    weight_4: float
    x: float
    y: float
    seed: int
    truncation: float
    image: str
    mix: str
    recipe: str  # the recipe as JSON text (see recipe_text)


@user_errors
def blend_cell(
    model: Model,
    blend_recipe: dict[str, Any] | None,
    row: int | float,
    col: int | float,
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
) -> CellResult:
    """Open cell (``row``, ``col``) of the last blend grid in the style knobs: the four corner prompts
    with that cell's bilinear weights, the grid's seed and truncation, and the image they make."""
    if not isinstance(blend_recipe, dict) or blend_recipe.get("kind") != "blend":
        raise user_error("Make a blend grid first, then pick one of its cells.")
    x, y = cell_position(row, col, blend_recipe["rows"], blend_recipe.get("cols"))
    weights = knob_position(x, y)
    corners = list(blend_recipe["prompts"])
    point = next((p for p in corners if isinstance(p, dict)), None)  # a found image's corner: "[your image]" in the knobs
    found = None if point is None else {**point, "noise": blend_recipe.get("noise")}
    prompts = [YOUR_IMAGE if isinstance(p, dict) else p for p in corners]
    seed, truncation = int(blend_recipe["seed"]), float(blend_recipe["truncation"])
    knob = style_knob(model, *prompts, *weights, seed, truncation, True, found, outdir=outdir, limits=limits)
    return CellResult(*prompts, *weights, x, y, seed, truncation, *knob)


# ------------------------------------------------------------------------------------------ noise walk
class WalkResult(NamedTuple):
    preview: str | None  # the GIF (shown animated), or None when only MP4 was asked for
    video: str | None  # the MP4, or None
    gif_file: str | None
    mp4_file: str | None
    info: str  # markdown: frames, duration, sizes
    recipe: str  # the recipe as JSON text (see recipe_text)


def animation_formats(formats: Sequence[str] | None) -> list[str]:
    """The chosen animation formats, upper-case; a user error unless some and only GIF/MP4."""
    chosen = [f.upper() for f in (formats or [])]
    if not chosen or any(f not in EXPORT_FORMATS for f in chosen):
        raise user_error("Pick GIF, MP4 or both to export.")
    return chosen


class AnimationFiles(NamedTuple):
    gif: str | None  # the GIF, when GIF was picked
    mp4: str | None  # the MP4, when MP4 was picked
    size: int | None  # the frame size asked for (None: native)


def export_animation(render: explore.Render, job: Path, stem: str, formats: Sequence[str], size: int | float | None,
                     limits: explore.Limits, resample: str = "nearest") -> AnimationFiles:
    """Save ``render`` as ``job/stem.gif`` / ``.mp4`` for each picked format (see
    :func:`animation_formats`), frames scaled to ``size`` px (0 or None: native) with ``resample``
    (crisp pixels: by a whole number of times), written one frame at a time."""
    size_px = int(size) if size else None
    files = {
        fmt: str(explore.save_render(render, job / f"{stem}.{fmt.lower()}", size=size_px, resample=resample, limits=limits)) for fmt in formats
    }
    return AnimationFiles(files.get("GIF"), files.get("MP4"), size_px)


@user_errors
def walk(
    model: Model,
    prompts: str,
    seeds: str,
    path: str,
    frames: int | float,
    fps: float,
    playback: str,
    easing: str,
    truncation: float,
    even_speed: bool,
    formats: Sequence[str],
    size: int | float | None,
    resample: str = "nearest",
    found: dict[str, Any] | None = None,
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> WalkResult:
    """A noise walk through the prompts (one per line) and seeds, exported to GIF and/or MP4.

    ``playback`` is ``once``, ``loop`` (the path closes; seamless) or ``ping-pong``; ``even_speed``
    re-times the frames to equal steps in CLIP space; ``size`` scales frames (0 or None: native)
    with ``resample`` (``nearest``: crisp pixels, a whole number of times; ``lanczos``: smooth).
    Frames x size² is checked before anything is made, and the frames are written one at a time.

    A line may be ``[your image]``: the session's ``found`` point (from Invert or a variation) is
    that keyframe's sentence vector, and its noise the walk's first noise keyframe, before the
    seeds' (a circle or random walk starts there, toward / with steps from the one seed given). On
    the first line, the walk starts at the found image (at truncation 1; ψ scales the whole path).
    """
    prompt_list = [point_or_prompt(p, found) for p in parse_prompts(prompts)]
    if sum(isinstance(p, dict) for p in prompt_list) > MAX_FOUND_LINES:
        raise user_error(f"{YOUR_IMAGE} may be on at most {MAX_FOUND_LINES} lines of a walk (the recipe stores its vectors on each): remove some.")
    seed_list = parse_seeds(seeds)
    point = point_noise(prompt_list)
    noise_path = explore.NOISE_PATHS.get(str(path))  # an unknown one is explore.walk's error
    if point is not None and noise_path is not None and noise_path.start_and_direction and len(seed_list) > 1:
        raise user_error(f"a {path} walk with {YOUR_IMAGE} starts at its noise: give one seed (the direction), e.g. “{seed_list[0]}”.")
    if playback not in PLAYBACK:
        raise user_error(f"playback must be one of {', '.join(PLAYBACK)}, got {playback!r}.")
    formats = animation_formats(formats)
    scaling = _resample(resample)
    native = pipeline_of(model).image_size
    asked = _export_size(size, native, limits)
    shown_size = (crisp_size(native, asked) if scaling == "nearest" else asked) if asked else native
    n_frames = (2 * int(frames) - 2) if playback == "ping-pong" else int(frames)
    try:
        limits.check_animation(n_frames, shown_size)
    except ValueError as e:
        raise user_error(str(e)) from None
    if progress is not None:
        progress = walk_stages(progress, int(frames), bool(even_speed))
    render = explore.walk(
        pipeline_of(model), prompt_list, frames=int(frames), seeds=seed_list, noise=None if point is None else [point], path=path,
        loop=playback == "loop", pingpong=playback == "ping-pong", easing=easing, truncation=float(truncation),
        fps=float(fps), retime="clip" if even_speed else None, limits=limits, progress=progress,
    )
    stem = f"walk-{_slug(explore.label_of(prompt_list[0]), 24)}-{render.images.shape[0]}f"
    recipe = render.recipe
    files = export_animation(render, new_job_dir(outdir), stem, formats, asked, limits, scaling)
    del render  # the frames are in the files now: nothing of them stays in memory
    crisp_note = f" (crisp pixels enlarge {shown_size // native}× whole: {shown_size} px, not {asked})" if asked and shown_size != asked else ""
    info = (
        f"**{n_frames} frames** at {float(fps):g} fps = {n_frames / float(fps):.1f} s, "
        f"{shown_size}×{shown_size} px{crisp_note} · path *{recipe['path']}*, {playback}, easing *{easing}*"
        + (" · re-timed to even CLIP steps" if even_speed else "")
        + (_found_note(prompt_list, float(truncation)) if point is not None else "")
    )
    return WalkResult(files.gif, files.mp4, files.gif, files.mp4, info, recipe_text(recipe))


def _found_note(keyframes: Sequence[str | dict[str, Any]], truncation: float) -> str:
    """What the walk's info line says about ``[your image]``: where its sentence vector and noise went."""
    if not isinstance(keyframes[0], dict):
        where = f"its noise is the first noise keyframe; put {YOUR_IMAGE} on the first line to start at your image"
    elif truncation != 1.0:
        where = f"starts at your image's point, its noise scaled by ψ {truncation:g} like the whole path (ψ 1 starts at your image exactly)"
    else:
        where = "starts at your image (its sentence vector and noise)"
    return f" · {YOUR_IMAGE}: {where}"


RETIME_DENSITY = 4  # explore.walk's default: dense samples per frame when re-timing (even speed)


def walk_stages(progress: Progress, frames: int, even_speed: bool, density: int = RETIME_DENSITY) -> Progress:
    """Wrap a walk's ``progress(done, total)`` so it also says what is being made: with even speed
    the path is first rendered ``density`` times per frame to measure it (480 frames: 1,920 images
    before the 480 frames), which is why the total is larger than the frames asked for."""
    dense = frames * density if even_speed else 0

    def report(done: int, total: int) -> None:
        if dense and done <= dense:
            progress(done, total, f"even speed: measuring the path ({dense:,} images, {density} per frame), then {frames:,} frames")
        else:
            progress(done, total, f"frames ({done - dense:,} of {frames:,})" if dense else "frames")

    return report


# ------------------------------------------------------------------------------------------ send to
class KnobSend(NamedTuple):
    prompt_1: str
    prompt_2: str
    prompt_3: str
    prompt_4: str
    weight_1: float
    weight_2: float
    weight_3: float
    weight_4: float
    seed: int


SENT_WEIGHT = 1.0  # the weight a prompt sent to a knob gets: a real share beside the others (kept)


def send_to_knobs(
    item: GalleryItem, corner: str, prompt_1: str, prompt_2: str, prompt_3: str, prompt_4: str,
    weight_1: float = 0.0, weight_2: float = 0.0, weight_3: float = 0.0, weight_4: float = 0.0,
) -> KnobSend:
    """Put a picked image's prompt at one Style-knob corner (``top-left`` ...) with weight
    :data:`SENT_WEIGHT`, keep the other corners' prompts and weights, and use its seed."""
    if corner not in CORNERS:
        raise user_error(f"pick a corner: {', '.join(CORNERS)}.")
    prompts = [prompt_1, prompt_2, prompt_3, prompt_4]
    weights = [float(w) for w in (weight_1, weight_2, weight_3, weight_4)]
    k = CORNERS.index(corner)
    prompts[k], weights[k] = item.prompt, SENT_WEIGHT
    return KnobSend(*prompts, *weights, item.seed)


def _seed_list_with(seed: int, seeds_text: str, most: int = 4) -> str:
    """``seed`` first, then the seeds already typed (without repeats), at most ``most``."""
    try:
        others = parse_seeds(seeds_text) if (seeds_text or "").strip() else []
    except gr.Error:
        others = []
    seeds = list(dict.fromkeys([seed, *others]))[:most]
    return ", ".join(str(s) for s in seeds)


class InterpolateSend(NamedTuple):
    prompt_a: str
    prompt_b: str
    seeds: str


def send_to_interpolate(item: GalleryItem, end: str, prompt_a: str, prompt_b: str, seeds: str) -> InterpolateSend:
    """Make a picked image prompt A or B of Interpolate; its seed becomes the first column."""
    if end not in ("A", "B"):
        raise user_error("send to prompt A or prompt B.")
    a, b = (item.prompt, prompt_b) if end == "A" else (prompt_a, item.prompt)
    return InterpolateSend(a, b, _seed_list_with(item.seed, seeds))


class WalkSend(NamedTuple):
    prompts: str
    seeds: str


def send_to_walk(item: GalleryItem, prompts: str, seeds: str) -> WalkSend:
    """Add a picked image as the Noise walk's next keyframe: its prompt and its seed."""
    lines = [line for line in (prompts or "").splitlines() if line.strip()]
    try:
        seed_list = parse_seeds(seeds) if (seeds or "").strip() else []
    except gr.Error:
        seed_list = []
    return WalkSend("\n".join([*lines, item.prompt]), ", ".join(str(s) for s in [*seed_list, item.seed]))
