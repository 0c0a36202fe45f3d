"""What the app's buttons do, as plain functions: call the library, format the results for Gradio.

Every handler takes the session's model first (a :class:`GALIPPipeline` in tests and scripts, a
:class:`~galip_studio.ui.models.ModelHandle` in the app), then the values of its input components
in order, then keyword-only plumbing: ``outdir`` (where exported files go), ``limits`` (the
:class:`~galip_studio.explore.Limits`), ``progress`` (``progress(done, total)``, called after each batch).
Handlers return named tuples in the order of their output components. No model logic lives here:
images, blends, walks, recipes and files come from ``explore``, ``export`` and ``metrics``.

Mistakes a user can make (an empty prompt, a grid beyond the limits, a file without a recipe, a
checkpoint that does not load) raise :class:`gradio.Error` with a message that says what to change;
the server log gets one line for each (no traceback), and no client ever sees a machine path.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence, TypeVar

import gradio as gr
from PIL import Image

from .. import explore, recipes
from ..export import GIF_MAX_FPS, RESAMPLERS, load_recipe, save_png
from ..latent import corner_weights
from ..metrics import measure_path, plot_path
from ..pipeline import MAX_SEED, check_prompt
from .models import REPO_ROOT, Model, ModelHandle, ModelLibrary, ModelLoadError, ModelSpec, ModelStore, checkpoint_folder, pipeline_of

Progress = Callable[..., None]
"""``progress(done, total)`` after each batch; the walk adds a third argument, what the work is now."""
F = TypeVar("F", bound=Callable[..., Any])

PLAYBACK = ("once", "loop", "ping-pong")
EXPORT_FORMATS = ("GIF", "MP4")
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
MAX_SEED_TEXT_ITEMS = 256
OUTPUT_MAX_AGE_S = 3600.0
PNG_LEVEL = 1  # zlib level of the app's PNGs: a 650 px grid in ~30 ms instead of ~140 ms at level 6, ~20% larger
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".bin")
EXPORT_SIZES = (("native", 0), ("64 px", 64), ("128 px", 128), ("256 px", 256), ("512 px", 512), ("1024 px", 1024))  # per image, for downloads
RESAMPLE_CHOICES = (("crisp pixels (nearest)", "nearest"), ("smooth (Lanczos)", "lanczos"))
WEIGHT_DECIMALS = 4  # knob weights as shown: x and y move in steps of 0.01, so their products are exact at 4
HISTORY_SIZE = 12

log = logging.getLogger("galip_studio.app")


# ------------------------------------------------------------------------------------------ plumbing
def user_error(message: str) -> gr.Error:
    """A :class:`gradio.Error` for a user's mistake: the message goes to the client, one line goes to
    the server log, and Gradio prints no traceback for it."""
    log.warning("user error: %s", " ".join(str(message).split()))
    return gr.Error(message, print_exception=False)


def user_errors(fn: F) -> F:
    """Turn the library's errors about user input into :class:`gradio.Error` (a message in the app,
    an ``AppError`` with that message in ``gradio_client``)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, FileNotFoundError, ModelLoadError) as e:
            raise user_error(str(e)) from None

    return wrapper  # type: ignore[return-value]


def new_job_dir(outdir: str | Path) -> Path:
    """A fresh folder for one request's files (so names stay readable and never collide).

    Folders older than :data:`OUTPUT_MAX_AGE_S` are removed on the way (Gradio has copied what it
    served into its own cache by then).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in outdir.iterdir():
        try:
            if old.is_dir() and now - old.stat().st_mtime > OUTPUT_MAX_AGE_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    job = outdir / uuid.uuid4().hex[:12]
    job.mkdir()
    return job


def _slug(text: str, n: int = 32) -> str:
    """A file-name-safe short form of a prompt."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:n].strip("-") or "galip"


def parse_prompts(text: str, what: str = "prompt") -> list[str]:
    """Prompts from a text box: one per line (blank lines ignored)."""
    prompts = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not prompts:
        raise user_error(f"Type a {what} first, e.g. “a red apple”.")
    for number, p in enumerate(prompts, 1):
        try:
            check_prompt(p, number)
        except ValueError as e:
            raise user_error(str(e)) from None
    return prompts


def parse_seeds(text: str | int | float | None) -> list[int]:
    """Seeds from a text box: integers separated by commas or spaces, and ranges ``a-b`` (inclusive)."""
    if isinstance(text, (int, float)):
        text = str(int(text))
    items = [t for t in re.split(r"[,\s]+", (text or "").strip()) if t]
    if not items:
        raise user_error("Give at least one seed, e.g. “0, 1, 2” or “0-3”.")
    seeds: list[int] = []
    for item in items:
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if not m:
            raise user_error(f"“{item}” is not a seed: use whole numbers like “0, 1, 2” or a range like “0-3”.")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if hi < lo:
            raise user_error(f"the range “{item}” runs backwards: write it low-high, e.g. “{hi}-{lo}”.")
        if hi - lo + len(seeds) >= MAX_SEED_TEXT_ITEMS:
            raise user_error(f"too many seeds (the most any tab takes is {explore.DEFAULT_LIMITS.max_seeds}).")
        seeds.extend(range(lo, hi + 1))
    if max(seeds) > MAX_SEED:
        raise user_error("seeds are integers from 0 to 2**63-1.")
    return seeds


def seed_or_random(value: int | float | None) -> int:
    """One seed from a number box (a random one when it is empty)."""
    if value is None or value == "":
        return random_seed()
    return parse_seeds(value)[0]


def random_seed() -> int:
    """A fresh random seed (the dice button)."""
    return random.SystemRandom().randrange(0, 2**31)


def recipe_text(recipe: dict[str, Any]) -> str:
    """A recipe as indented JSON text for the app's recipe boxes.

    Text rather than a JSON component: ``gradio_client`` treats any dict with a string ``"path"`` key
    (which walk recipes and ``describe()`` have) as a file to download, and fails.
    """
    return json.dumps(recipe, indent=2, sort_keys=True)


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


def _label(pipe: Any) -> str:
    meta = pipe.metadata or {}
    return str(meta.get("path") or (meta.get("training") or {}).get("preset") or "model")


def display_cell(image_size: int, cols: int, target: int = 640, max_cell: int = 256) -> int | None:
    """Cell size in px for showing a grid about ``target`` px wide: small models' images are scaled
    up (with the session's resampler) so the grid and its captions are readable; ``None`` when
    native size is enough."""
    cell = max(image_size, min(max_cell, target // max(1, cols)))
    return None if cell == image_size else cell


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
    if isinstance(recipe, str):
        try:
            recipe = json.loads(recipe) if recipe.strip() else None
        except ValueError:
            recipe = None
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


def _smoothness_text(measures: Any, seed: int) -> str:
    c, p = measures.clip_smoothness, measures.pixel_smoothness
    return (
        f"**Path of seed {seed}** ({c.count} steps). Largest step / mean step — CLIP space **{c.max_over_mean:.2f}**, "
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
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> InterpolateResult:
    """Prompt A → prompt B in ``steps`` rows, one column per seed, plus the smoothness of the path.

    The grid shown is scaled for the screen with ``resample``; ``file`` is the captioned grid with
    each image at ``export_size`` px (0: native).
    """
    (a,), (b,) = parse_prompts(prompt_a, "prompt A"), parse_prompts(prompt_b, "prompt B")
    seed_list = parse_seeds(seeds)
    pipe = pipeline_of(model)
    export, scaling = _export_size(export_size, pipe.image_size, limits), _resample(resample)
    render = explore.interpolation_grid(
        pipe, a, b, steps=int(steps), seeds=seed_list, interp=interp, easing=easing,
        truncation=float(truncation), limits=limits, progress=progress,
    )
    column = render.images[0 :: render.cols]  # the first seed, step by step
    measures = measure_path(pipe.clip, column, [a, b])
    job = new_job_dir(outdir)
    size = display_cell(pipe.image_size, render.cols)
    stem = f"{_slug(a)}-to-{_slug(b)}"
    grid = explore.save_render(render, job / f"{stem}.png", size=size, resample=scaling, compress_level=PNG_LEVEL, limits=limits)
    file = grid if export == size else explore.save_render(
        render, job / f"{stem}-{export or pipe.image_size}px.png", size=export, resample=scaling, compress_level=PNG_LEVEL, limits=limits
    )
    return InterpolateResult(
        str(grid), plot_path(measures, (720, 420)), _smoothness_text(measures, seed_list[0]), recipe_text(render.recipe), str(file)
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
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> BlendResult:
    """The four-corner blend grid (the paper's Figure 7): ``size`` x ``size`` bilinear blends, one seed.

    The grid shown has no captions (its cells are clicked); the download names the corners under
    the first and last rows, each image at ``export_size`` px (0: native), scaled with ``resample``.
    """
    corners = [parse_prompts(p, f"{name} prompt")[0] for p, name in zip((top_left, top_right, bottom_left, bottom_right), CORNERS)]
    n = int(size)
    pipe = pipeline_of(model)
    export, scaling = _export_size(export_size, pipe.image_size, limits), _resample(resample)
    render = explore.blend_grid(pipe, corners, rows=n, seed=seed_or_random(seed), truncation=float(truncation), limits=limits, progress=progress)
    job = new_job_dir(outdir)
    size = display_cell(render.images.shape[-1], render.cols)
    stem = f"blend-{n}x{n}-seed{render.recipe['seed']}"
    grid = explore.save_render(render, job / f"{stem}.png", size=size, captions=False, resample=scaling, compress_level=PNG_LEVEL, limits=limits)
    file = explore.save_render(
        render, job / f"{stem}-{prompts_slug(corners, 16, 4)}{f'-{export}px' if export else ''}.png", size=export,
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
    the weights. The inverse of :func:`knob_position` for bilinear weights; all zero: the centre."""
    w = [max(0.0, float(v)) for v in (weight_1, weight_2, weight_3, weight_4)]
    total = sum(w)
    if total <= 0:
        return KnobPosition(0.5, 0.5)
    return KnobPosition(round((w[1] + w[3]) / total, 2) + 0.0, round((w[2] + w[3]) / total, 2) + 0.0)


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
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
) -> KnobResult:
    """One image from the weighted blend of up to four prompts (empty prompts with weight 0 are skipped)."""
    pairs = [(p.strip(), float(w)) for p, w in zip((prompt_1, prompt_2, prompt_3, prompt_4), (weight_1, weight_2, weight_3, weight_4))]
    if any(not p and w != 0 for p, w in pairs):
        raise user_error("A knob with an empty prompt has a weight: type its prompt or set its weight to 0.")
    used = [(p, w) for p, w in pairs if p]
    if not used:
        raise user_error("Type at least one prompt, e.g. “a red apple”.")
    if not any(w != 0 for _, w in used):
        raise user_error("All weights are 0: turn at least one knob up.")
    prompts, weights = [p for p, _ in used], [w for _, w in used]
    render = explore.style_knob(
        pipeline_of(model), prompts, weights, seed=seed_or_random(seed), normalize=bool(normalize), truncation=float(truncation), limits=limits
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
    prompts = list(blend_recipe["prompts"])
    seed, truncation = int(blend_recipe["seed"]), float(blend_recipe["truncation"])
    knob = style_knob(model, *prompts, *weights, seed, truncation, True, outdir=outdir, limits=limits)
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
                     limits: explore.Limits) -> AnimationFiles:
    """Save ``render`` as ``job/stem.gif`` / ``.mp4`` for each picked format (see
    :func:`animation_formats`), frames scaled to ``size`` px (0 or None: native)."""
    size_px = int(size) if size else None
    files = {fmt: str(explore.save_render(render, job / f"{stem}.{fmt.lower()}", size=size_px, limits=limits)) for fmt in formats}
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
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> WalkResult:
    """A noise walk through the prompts (one per line) and seeds, exported to GIF and/or MP4.

    ``playback`` is ``once``, ``loop`` (the path closes; seamless) or ``ping-pong``; ``even_speed``
    re-times the frames to equal steps in CLIP space; ``size`` scales frames (0 or None: native).
    """
    prompt_list = parse_prompts(prompts)
    seed_list = parse_seeds(seeds)
    if playback not in PLAYBACK:
        raise user_error(f"playback must be one of {', '.join(PLAYBACK)}, got {playback!r}.")
    formats = animation_formats(formats)
    if progress is not None:
        progress = walk_stages(progress, int(frames), bool(even_speed))
    render = explore.walk(
        pipeline_of(model), prompt_list, frames=int(frames), seeds=seed_list, path=path,
        loop=playback == "loop", pingpong=playback == "ping-pong", easing=easing, truncation=float(truncation),
        fps=float(fps), retime="clip" if even_speed else None, limits=limits, progress=progress,
    )
    stem = f"walk-{_slug(prompt_list[0], 24)}-{render.images.shape[0]}f"
    files = export_animation(render, new_job_dir(outdir), stem, formats, size, limits)
    shown = files.size or render.images.shape[-1]
    info = (
        f"**{render.images.shape[0]} frames** at {render.fps:g} fps = {render.images.shape[0] / render.fps:.1f} s, "
        f"{shown}×{shown} px · path *{render.recipe['path']}*, {playback}, easing *{easing}*"
        + (" · re-timed to even CLIP steps" if even_speed else "")
    )
    return WalkResult(files.gif, files.mp4, files.gif, files.mp4, info, recipe_text(render.recipe))


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


def progress_text(done: int, total: int, elapsed_s: float, note: str | None = None) -> str:
    """What a progress bar says: ``"frames · 120 / 480 images · 3 s so far, about 9 s left"``
    (the time left from the pace so far; none before the first batch)."""
    parts = [note] if note else []
    parts.append(f"{done:,} / {total:,} images")
    if done > 0 and total > done and elapsed_s > 0:
        left = elapsed_s / done * (total - done)
        parts.append(f"{_duration(elapsed_s)} so far, about {_duration(left)} left")
    elif done >= total and total:
        parts.append(f"done in {_duration(elapsed_s)}")
    return " · ".join(parts)


def _duration(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"


def stopped_notice(done: int | None = None, total: int | None = None) -> str:
    """What a tab says after its Stop button: the job stopped, and what is on screen is older."""
    if done and total and done >= total:
        where = f" while saving (all {total:,} images were made, the files were not finished)"
    else:
        where = f" after {done:,} of {total:,} images" if done and total else ""
    return f"⏹ **Stopped{where}.** Nothing new was made; the result below, if any, is from the run before."


# ------------------------------------------------------------------------------------------ recipe
def _file_path(file: Any) -> Path:
    """The local path of an uploaded file (Gradio passes a path string or an object with ``.name``)."""
    if file is None:
        raise user_error("Drop a PNG, GIF, MP4 or JSON exported by GALIP Studio first.")
    return Path(getattr(file, "name", file))


def _recipe_summary(recipe: dict[str, Any]) -> str:
    kind = recipe.get("kind", "?")
    model = explore.recipe_model(recipe)
    prompts = recipe.get("prompts") or []
    parts = [f"**{kind}**", f"{len(prompts)} prompt{'s' if len(prompts) != 1 else ''}: " + "; ".join(f"“{p}”" for p in prompts[:4])]
    if "seeds" in recipe:
        parts.append(f"seeds {recipe['seeds']}")
    elif "seed" in recipe:
        parts.append(f"seed {recipe['seed']}")
    if model.get("id") is not None:
        parts.append(f"made with {model.get('source')} *{model.get('id')}*")
    return " · ".join(parts)


class RecipeInfo(NamedTuple):
    recipe: str  # the recipe as JSON text (see recipe_text)
    summary: str


def _load_recipe(source: Path) -> dict[str, Any]:
    """``load_recipe`` with messages that name the file, not where the server keeps it."""
    try:
        return load_recipe(source)
    except (ValueError, FileNotFoundError) as e:
        raise user_error(str(e).replace(str(source), source.name)) from None


@user_errors
def read_recipe(file: Any) -> RecipeInfo:
    """The recipe carried by an exported file (or a recipe JSON); nothing (empty texts, no error)
    when the file was cleared, so the previous file's summary does not stay."""
    if file is None or file == "":
        return RecipeInfo("", "")
    recipe = _load_recipe(_file_path(file))
    return RecipeInfo(recipe_text(recipe), _recipe_summary(recipe))


class RecipeResult(NamedTuple):
    image: str  # the PNG (grids, single images) or a GIF (walks; a preview when the file is an MP4)
    file: str  # the re-made file, in the exported format and settings
    note: str
    recipe: str  # the recipe as JSON text (see recipe_text)


@user_errors
def render_recipe(
    model: Model,
    file: Any,
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> RecipeResult:
    """Make an exported file again from its recipe: same images, same export settings."""
    source = _file_path(file)
    recipe = _load_recipe(source)
    settings = recipes.export_settings(recipe)
    pipe = pipeline_of(model)
    note = f"Re-rendered a **{recipe.get('kind')}** recipe on *{_label(pipe)}*."
    warning = recipes.other_model_warning(recipe, pipe)
    if warning:
        gr.Warning(warning)
        note += " " + warning
    render = recipes.render_recipe(recipe, pipe, limits=limits, progress=progress)
    suffix = settings.suffix(render.is_animation)
    target = new_job_dir(outdir) / f"{source.name.split('.')[0] or 'recipe'}-again{suffix}"
    out = recipes.save_again(render, settings, target, compress_level=PNG_LEVEL, limits=limits)
    image = str(out)
    if suffix == ".mp4":
        preview_fps = min(float(render.fps or GIF_MAX_FPS), GIF_MAX_FPS)
        image = str(explore.save_render(render, target.with_suffix(".gif"), size=settings.size, fps=preview_fps, resample=settings.resample, limits=limits))
    return RecipeResult(image, str(out), note, recipe_text(render.recipe))


# ------------------------------------------------------------------------------------------ model
def _fmt_count(n: int) -> str:
    return f"{n:,}"


# The evaluation figures a checkpoint records (training.metrics), as a person reads them: (label, generated, real).
METRIC_ROWS = (
    ("CLIP score (higher: images match their captions)", "clip_score", "clip_score_real"),
    ("CLIP Fréchet distance to real images (lower is better)", "clip_fd", None),
    ("prompt retrieval R@1", "prompt_r1", "prompt_r1_real"),
    ("prompt retrieval R@5", "prompt_r5", "prompt_r5_real"),
    ("image retrieval R@1", "image_r1", "image_r1_real"),
    ("image retrieval R@5", "image_r5", "image_r5_real"),
)
TRAINING_ROWS = (
    ("step", "steps trained"), ("epoch", "epochs"), ("images_seen", "images seen"), ("preset", "preset"),
    ("init", "started from"), ("ema", "EMA decay"), ("real_size", "training image size (px)"), ("clip_dir", "CLIP from"),
    ("converted_from", "released from"), ("converted_dtype", "weights stored as"),
)
CARD_NAME = "MODEL_CARD.md"
CARD_SECTION_CHARS = 700


def shown_path(path: Any) -> str:
    """A path as the app shows it: relative to the project (or the current folder) when inside it,
    as it is when already relative, else only its last component (never a machine path)."""
    text = str(path)
    p = Path(text)
    if not p.is_absolute():
        return text
    for base in (REPO_ROOT, Path.cwd()):
        try:
            return p.resolve().relative_to(base.resolve()).as_posix()
        except (ValueError, OSError):
            continue
    return p.name


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.3f}"


def _table(title: str, rows: Sequence[tuple[str, str]], head: tuple[str, str] = ("", "")) -> str:
    lines = [f"### {title}", "", f"| {head[0]} | {head[1]} |", "|---|---|"]
    lines += [f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows]
    return "\n".join(lines)


def _card_sections(text: str) -> dict[str, str]:
    """A model card's ``## Section`` bodies by lower-case title."""
    sections: dict[str, str] = {}
    for part in re.split(r"^## +", text, flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        sections[title.strip().lower()] = body.strip()
    return sections


def _first_paragraphs(text: str, limit: int = CARD_SECTION_CHARS) -> str:
    """Whole paragraphs (tables included) of ``text`` up to about ``limit`` characters."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        if out and sum(len(p) for p in out) + len(para) > limit:
            break
        out.append(para.strip())
    return "\n\n".join(out)


def _read_card(model: Model) -> str | None:
    folder = checkpoint_folder(model)
    try:
        return (folder / CARD_NAME).read_text(encoding="utf-8") if folder is not None else None
    except (OSError, UnicodeDecodeError):
        return None


def describe_model(model: Model) -> tuple[str, str]:
    """What a user needs to know about the session's model, as markdown: architecture, parameters,
    training (with the data summary of its model card), the last evaluation's figures as a table;
    paths relative to the project. Also the full ``describe()`` as JSON text, for API clients."""
    pipe = pipeline_of(model)
    info = pipe.describe()
    clip = info["clip"]
    training = info.get("training") or {}
    source = info.get("path") or training.get("preset") or "—"
    rows = [
        ("Loaded from", f"`{shown_path(source)}`"),
        ("Output", f"{info['image_size']}×{info['image_size']} px, noise {info['z_dim']}-d"),
        (
            "CLIP",
            f"{clip['name']}: ViT width {clip['width']}, {clip['depth']} blocks, grid {clip['grid'][0]}×{clip['grid'][1]}, "
            f"{clip['image_size'][0]} px, sentence {clip['sentence_dim']}-d",
        ),
        ("CLIP weights", shown_path(clip["weights"])),
        ("Runs on", f"{info['device']}, {info['dtype']}"),
    ]
    parts = [_table("Architecture", rows, ("Part", "Details"))]
    params = [(f"Parameters: {name}", _fmt_count(int(n))) for name, n in info["parameters"].items()]
    params.append(("Parameters: total", _fmt_count(sum(int(n) for n in info["parameters"].values()))))
    parts.append(_table("Parameters", params, ("Part", "Parameters")))
    trained = [(label, shown_path(training[key]) if key in ("clip_dir", "converted_from", "init") else _number(training[key]))
               for key, label in TRAINING_ROWS if training.get(key) not in (None, "")]
    known = {key for key, _ in TRAINING_ROWS} | {"metrics"}
    trained += [(k.replace("_", " "), _number(v)) for k, v in training.items() if k not in known and isinstance(v, (str, int, float))]
    if trained:
        parts.append(_table("Training", trained, ("Setting", "Value")))
    card = _read_card(model)
    data = _card_sections(card).get("data") if card else None
    if data:
        parts.append("### Training data (from the model card)\n\n" + _first_paragraphs(data))
    elif training:
        parts.append("### Training data\n\nThe checkpoint has no model card that describes its data.")
    metrics = training.get("metrics") if isinstance(training.get("metrics"), dict) else {}
    figures = [
        (label, _number(metrics[gen]), _number(metrics[real]) if real and real in metrics else "—")
        for label, gen, real in METRIC_ROWS if isinstance(metrics.get(gen), (int, float))
    ]
    if figures:
        where = f"{_number(metrics['eval_images'])} images" if "eval_images" in metrics else "the evaluation set"
        if "eval_captions" in metrics:
            where += f", {_number(metrics['eval_captions'])} captions"
        step = f" at step {_number(training['step'])}" if "step" in training else ""
        lines = [f"### Evaluation{step} ({where})", "", "| measure (the model's own CLIP) | generated | real images |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in figures]
        parts.append("\n".join(lines))
    return "\n\n".join(parts), json.dumps(info, indent=2, default=str)


def model_figures(model: Model, *, outdir: str | Path, limits: explore.Limits = explore.DEFAULT_LIMITS) -> list[tuple[str, str]]:
    """The figures of the model's card (``MODEL_CARD.md`` beside its weights): ``(image, caption)``
    pairs, copied into ``outdir`` for the browser; none when the model has no card."""
    card = _read_card(model)
    folder = checkpoint_folder(model)
    if not card or folder is None:
        return []
    figures: list[tuple[str, str]] = []
    job: Path | None = None
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", card)]
    for k, para in enumerate(paragraphs):
        for alt, name in re.findall(r"!\[([^\]]*)\]\(([^)\s]+)\)", para):
            source = (folder / name).resolve()
            try:
                source.relative_to(folder.resolve())  # only files of the checkpoint folder
            except ValueError:
                continue
            if source.suffix.lower() not in (".png", ".gif", ".jpg", ".jpeg", ".webp") or not source.is_file():
                continue
            after = paragraphs[k + 1] if k + 1 < len(paragraphs) else ""
            before = paragraphs[k - 1] if k > 0 else ""
            text = after if after.startswith("*") else before if not before.startswith(("#", "!", "|", "`")) else ""
            text = re.sub(r"[*`]", "", " ".join(text.split()))
            text = text.split(" (galip-studio")[0].split(" (`galip-studio")[0]
            caption = (text[:157] + "…") if len(text) > 160 else text or alt
            job = job or new_job_dir(outdir)
            target = job / source.name
            shutil.copyfile(source, target)
            figures.append((str(target), caption or source.name))
    return figures


def model_banner(model: Model) -> str:
    """One line for the page header: which model this session is using."""
    pipe = pipeline_of(model)
    name = Path(_label(pipe)).name or _label(pipe)
    return f"Model: **{name}** · {pipe.image_size}×{pipe.image_size} px · {pipe.device}"


class ModelCard(NamedTuple):
    spec: ModelSpec  # the session's new model choice (goes back into its gr.State)
    banner: str
    card: str
    info: str  # describe() as JSON text


@user_errors
def switch_model(store: ModelStore, spec: ModelSpec) -> ModelCard:
    """Make ``spec`` this session's model (loading it into the shared store if needed)."""
    store.entry(spec)
    handle = ModelHandle(store, spec)
    card, info = describe_model(handle)
    return ModelCard(spec, model_banner(handle), card, info)


@user_errors
def checkpoint_spec(library: ModelLibrary, path: str | None) -> ModelSpec:
    """The spec of one of our checkpoint directories picked (or typed) in the Model tab: only folders
    inside the library's allowed folders; anything else gets the one :data:`~.models.NOT_ALLOWED` message."""
    path = (path or "").strip()
    if not path:
        raise user_error("Pick or type a checkpoint directory (a folder with config.json).")
    directory = library.checkpoint(path)
    return ModelSpec("checkpoint", str(directory), name=library.public_name(directory))


def _clip_tags() -> list[str]:
    import open_clip

    return list(open_clip.list_pretrained_tags_by_model("ViT-B-32-quickgelu"))


@user_errors
def official_spec(library: ModelLibrary, uploads: dict[str, str] | None, pth: str | None, clip_weights: str | None) -> ModelSpec:
    """The spec of an official GALIP ``.pth`` with its CLIP weights: files uploaded in this session
    (by name) or inside the allowed folders; the CLIP may also be an open_clip tag (``openai``)."""
    pth, clip_weights = (pth or "").strip(), (clip_weights or "").strip()
    if not pth:
        raise user_error("Give the official checkpoint: upload pre_coco.pth or pre_cc12m.pth, then type its name.")
    if not clip_weights:
        raise user_error("Give the CLIP ViT-B/32 weights: upload a file (e.g. ViT-B-32.pt) and type its name, or 'openai' (needs a network).")
    official = library.weights_file(pth, uploads)
    if clip_weights in _clip_tags() and not (uploads and clip_weights in uploads):
        clip, clip_name = clip_weights, clip_weights
    else:
        path = library.weights_file(clip_weights, uploads)
        clip, clip_name = str(path), library.public_name(path) or path.name
    name = f"official {library.public_name(official) or official.name} + CLIP {clip_name}"
    return ModelSpec("official", str(official), clip, name=name)


def list_checkpoints(library: ModelLibrary) -> list[str]:
    """Checkpoint directories in the library's allowed folders, newest first, as clients see them."""
    return library.checkpoints()


class UploadResult(NamedTuple):
    uploads: dict[str, str]  # the session's uploaded weights, name -> server path (kept in its gr.State)
    note: str


@user_errors
def register_uploads(uploads: dict[str, str] | None, files: Any, *, allowed: bool = True) -> UploadResult:
    """Remember weights files uploaded in this session, by name, for the official loader."""
    if not allowed:
        raise user_error("this server does not allow loading other models")
    items = files if isinstance(files, (list, tuple)) else [files] if files else []
    if not items:
        raise user_error("Upload one or more weights files (.pth, .pt, .safetensors).")
    known = dict(uploads or {})
    for item in items:
        path = Path(getattr(item, "name", item))
        if path.suffix.lower() not in WEIGHT_SUFFIXES:
            raise user_error(f"“{path.name}” is not a weights file: upload {', '.join(WEIGHT_SUFFIXES)} files.")
        known[path.name] = str(path)
    names = ", ".join(f"`{n}`" for n in known)
    return UploadResult(known, f"Uploaded in this session: {names}. Type these names in the fields below.")


# ------------------------------------------------------------------------------------------ history
class HistoryEntry(NamedTuple):
    tab: str  # the tab's id (generate, interpolate, blend, knobs, walk, recipe)
    image: str  # what the strip shows: an image (the first of a gallery, a grid, a GIF)
    caption: str
    settings: dict[str, Any]  # the tab's input values by name: clicking the entry puts them back
    result: dict[str, Any]  # the tab's outputs by name: clicking the entry shows them again


TAB_NAMES = {"generate": "Generate", "interpolate": "Interpolate", "blend": "Blend", "knobs": "Knobs", "walk": "Walk", "recipe": "Recipe"}


def _first_image(value: Any) -> str | None:
    """The first image path in a result value: a path, a gallery's ``[(path, caption), ...]`` (or
    Gradio's ``GalleryImage`` objects), ``None`` when there is none."""
    if value is None:
        return None
    if isinstance(value, (str, Path)):
        return str(value) if str(value) else None
    if isinstance(value, (list, tuple)) and value:
        return _first_image(value[0])
    for attr in ("image", "path"):
        inner = getattr(value, attr, None)
        if inner is not None:
            return _first_image(inner)
    if isinstance(value, dict):
        return _first_image(value.get("image") or value.get("path"))
    return None


def _history_caption(tab: str, settings: dict[str, Any]) -> str:
    prompts = [str(v) for k, v in settings.items() if "prompt" in k and isinstance(v, str) and v.strip()]
    first = " / ".join(" ".join(p.split()) for p in prompts[:2]) or "recipe"
    seed = settings.get("seed")
    text = f"{TAB_NAMES.get(tab, tab)}: {first}" + (f" · seed {int(seed)}" if isinstance(seed, (int, float)) and not isinstance(seed, bool) else "")
    return text if len(text) <= 80 else text[:79] + "…"


def add_history(
    history: list[HistoryEntry] | None,
    tab: str,
    settings: dict[str, Any],
    result: dict[str, Any],
    *,
    image_key: str,
    replace_same: bool = False,
    size: int = HISTORY_SIZE,
) -> list[HistoryEntry]:
    """This session's history with one more result first (the newest ``size`` are kept).

    ``image_key`` names the result shown in the strip; ``replace_same``: a result of the same tab
    right after another one replaces it (the style knobs while a slider is dragged: one entry per
    visit, not one per frame). Entries are plain data, so a session keeps them in its ``gr.State``.
    """
    items = [HistoryEntry(*e) for e in (history or [])]
    image = _first_image(result.get(image_key))
    if image is None:
        return items
    entry = HistoryEntry(tab, image, _history_caption(tab, settings), dict(settings), dict(result))
    if replace_same and items and items[0].tab == tab:
        items = items[1:]
    return [entry, *items][:size]


def history_gallery(history: list[HistoryEntry] | None) -> list[tuple[str, str]]:
    """The strip: ``(image, caption)``, newest first."""
    return [(HistoryEntry(*e).image, HistoryEntry(*e).caption) for e in (history or [])]


def history_entry(history: list[HistoryEntry] | None, index: int | float | None) -> HistoryEntry:
    """Entry ``index`` of the strip (0 = newest)."""
    items = list(history or [])
    if index is None or not 0 <= int(index) < len(items):
        raise user_error("That result is no longer in this session's history.")
    return HistoryEntry(*items[int(index)])


# ------------------------------------------------------------------------------------------ send to
class KnobSend(NamedTuple):
    prompt_1: str
    prompt_2: str
    prompt_3: str
    prompt_4: str
    seed: int


def send_to_knobs(item: GalleryItem, corner: str, prompt_1: str, prompt_2: str, prompt_3: str, prompt_4: str) -> KnobSend:
    """Put a picked image's prompt at one Style-knob corner (``top-left`` ...) and use its seed."""
    if corner not in CORNERS:
        raise user_error(f"pick a corner: {', '.join(CORNERS)}.")
    prompts = [prompt_1, prompt_2, prompt_3, prompt_4]
    prompts[CORNERS.index(corner)] = item.prompt
    return KnobSend(*prompts, item.seed)


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
