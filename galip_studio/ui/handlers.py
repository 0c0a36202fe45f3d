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

from .. import explore
from ..export import ANIMATION_SUFFIXES, GIF_MAX_FPS, load_recipe, save_png
from ..latent import corner_weights
from ..metrics import measure_path, plot_path
from ..pipeline import MAX_SEED, check_prompt
from .models import Model, ModelHandle, ModelLibrary, ModelLoadError, ModelSpec, ModelStore, pipeline_of

Progress = Callable[[int, int], None]
F = TypeVar("F", bound=Callable[..., Any])

PLAYBACK = ("once", "loop", "ping-pong")
EXPORT_FORMATS = ("GIF", "MP4")
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
MAX_SEED_TEXT_ITEMS = 256
OUTPUT_MAX_AGE_S = 3600.0
PNG_LEVEL = 1  # zlib level of the app's PNGs: a 650 px grid in ~30 ms instead of ~140 ms at level 6, ~20% larger
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".bin")

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


def _seed(value: int | float | None) -> int:
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


def _label(pipe: Any) -> str:
    meta = pipe.metadata or {}
    return str(meta.get("path") or (meta.get("training") or {}).get("preset") or "model")


def display_cell(image_size: int, cols: int, target: int = 640, max_cell: int = 256) -> int | None:
    """Cell size in px for showing a grid about ``target`` px wide: small models' images are scaled
    up (Lanczos) so the grid and its captions are readable; ``None`` when native size is enough."""
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
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> GenerateResult:
    """Images of one or more prompts (one per line); image k uses seed ``seed + k``.

    Each gallery image is a PNG that carries its own recipe, so dropping it on the Recipe tab makes
    it again; the grid file holds them all.
    """
    prompts = parse_prompts(prompt)
    first = _seed(seed)
    n = int(num_images)
    limits.check("images per prompt", n, "max_seeds")
    seeds = [first + k for k in range(n)]
    pipe = pipeline_of(model)
    render = explore.seed_grid(pipe, prompts, seeds, truncation=float(truncation), limits=limits, progress=progress)
    job = new_job_dir(outdir)
    gallery = []
    for i, im in enumerate(render.pil()):
        p, s = prompts[i // n], seeds[i % n]
        recipe = dict(render.recipe, prompts=[p], seeds=[s])
        path = save_png(im, job / f"{_slug(p)}-seed{s}.png", recipe, compress_level=PNG_LEVEL)
        gallery.append((str(path), f"seed {s}" if len(prompts) == 1 else f"{p} · seed {s}"))
    grid = explore.save_render(render, job / f"{_slug(prompts[0])}-grid.png", compress_level=PNG_LEVEL, limits=limits)
    return GenerateResult(gallery, str(grid), recipe_text(render.recipe))


# ------------------------------------------------------------------------------------------ interpolate
class InterpolateResult(NamedTuple):
    grid: str  # captioned PNG grid (rows: steps A→B, columns: seeds), with recipe
    plot: Image.Image  # CLIP score per step and step sizes along the path of the first seed
    smoothness: str  # markdown summary
    recipe: str  # the recipe as JSON text (see recipe_text)


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
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> InterpolateResult:
    """Prompt A → prompt B in ``steps`` rows, one column per seed, plus the smoothness of the path."""
    (a,), (b,) = parse_prompts(prompt_a, "prompt A"), parse_prompts(prompt_b, "prompt B")
    seed_list = parse_seeds(seeds)
    pipe = pipeline_of(model)
    render = explore.interpolation_grid(
        pipe, a, b, steps=int(steps), seeds=seed_list, interp=interp, easing=easing,
        truncation=float(truncation), limits=limits, progress=progress,
    )
    column = render.images[0 :: render.cols]  # the first seed, step by step
    measures = measure_path(pipe.clip, column, [a, b])
    job = new_job_dir(outdir)
    size = display_cell(pipe.image_size, render.cols)
    grid = explore.save_render(render, job / f"{_slug(a)}-to-{_slug(b)}.png", size=size, compress_level=PNG_LEVEL, limits=limits)
    return InterpolateResult(str(grid), plot_path(measures, (720, 420)), _smoothness_text(measures, seed_list[0]), recipe_text(render.recipe))


# ------------------------------------------------------------------------------------------ blend grid
class BlendResult(NamedTuple):
    grid: str  # PNG grid without captions (cells are clickable; cells scaled by display_cell), with recipe
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
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> BlendResult:
    """The four-corner blend grid (the paper's Figure 7): ``size`` x ``size`` bilinear blends, one seed."""
    corners = [parse_prompts(p, f"{name} prompt")[0] for p, name in zip((top_left, top_right, bottom_left, bottom_right), CORNERS)]
    n = int(size)
    render = explore.blend_grid(
        pipeline_of(model), corners, rows=n, seed=_seed(seed), truncation=float(truncation), limits=limits, progress=progress
    )
    job = new_job_dir(outdir)
    size = display_cell(render.images.shape[-1], render.cols)
    name = f"blend-{n}x{n}-seed{render.recipe['seed']}.png"
    grid = explore.save_render(render, job / name, size=size, captions=False, compress_level=PNG_LEVEL, limits=limits)
    return BlendResult(str(grid), recipe_text(render.recipe), render.recipe)


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
    """The four knob weights of the bilinear position ``(x, y)`` (0-1; x left→right, y top→bottom)."""
    try:
        return KnobWeights(*(float(w) for w in corner_weights(float(x), float(y))))
    except ValueError as e:
        raise user_error(str(e)) from e


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
        pipeline_of(model), prompts, weights, seed=_seed(seed), normalize=bool(normalize), truncation=float(truncation), limits=limits
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
    formats = [f.upper() for f in (formats or [])]
    if not formats or any(f not in EXPORT_FORMATS for f in formats):
        raise user_error("Pick GIF, MP4 or both to export.")
    render = explore.walk(
        pipeline_of(model), prompt_list, frames=int(frames), seeds=seed_list, path=path,
        loop=playback == "loop", pingpong=playback == "ping-pong", easing=easing, truncation=float(truncation),
        fps=float(fps), retime="clip" if even_speed else None, limits=limits, progress=progress,
    )
    size_px = int(size) if size else None
    job = new_job_dir(outdir)
    stem = f"walk-{_slug(prompt_list[0], 24)}-{render.images.shape[0]}f"
    files = {fmt: str(explore.save_render(render, job / f"{stem}.{fmt.lower()}", size=size_px, limits=limits)) for fmt in formats}
    shown = size_px or render.images.shape[-1]
    info = (
        f"**{render.images.shape[0]} frames** at {render.fps:g} fps = {render.images.shape[0] / render.fps:.1f} s, "
        f"{shown}×{shown} px · path *{render.recipe['path']}*, {playback}, easing *{easing}*"
        + (" · re-timed to even CLIP steps" if even_speed else "")
    )
    gif, mp4 = files.get("GIF"), files.get("MP4")
    return WalkResult(gif, mp4, gif, mp4, info, recipe_text(render.recipe))


# ------------------------------------------------------------------------------------------ recipe
def _file_path(file: Any) -> Path:
    """The local path of an uploaded file (Gradio passes a path string or an object with ``.name``)."""
    if file is None:
        raise user_error("Drop a PNG, GIF, MP4 or JSON exported by GALIP Studio first.")
    return Path(getattr(file, "name", file))


def _recipe_summary(recipe: dict[str, Any]) -> str:
    kind = recipe.get("kind", "?")
    model = recipe.get("model") or {}
    prompts = recipe.get("prompts") or []
    parts = [f"**{kind}**", f"{len(prompts)} prompt{'s' if len(prompts) != 1 else ''}: " + "; ".join(f"“{p}”" for p in prompts[:4])]
    if "seeds" in recipe:
        parts.append(f"seeds {recipe['seeds']}")
    elif "seed" in recipe:
        parts.append(f"seed {recipe['seed']}")
    if isinstance(model, dict) and model.get("id") is not None:
        parts.append(f"made with {model.get('source')} *{model.get('id')}*")
    return " · ".join(parts)


class RecipeInfo(NamedTuple):
    recipe: str  # the recipe as JSON text (see recipe_text)
    summary: str


@user_errors
def read_recipe(file: Any) -> RecipeInfo:
    """The recipe carried by an exported file (or a recipe JSON)."""
    recipe = load_recipe(_file_path(file))
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
    recipe = load_recipe(source)
    pipe = pipeline_of(model)
    made_with = recipe.get("model") or {}
    here = explore.model_info(pipe)
    note = f"Re-rendered a **{recipe.get('kind')}** recipe on *{_label(pipe)}*."
    if isinstance(made_with, dict) and made_with.get("id") is not None and made_with.get("id") != here.get("id"):
        warning = f"This recipe was made with {made_with.get('source')} “{made_with.get('id')}”; the loaded model differs, so the images will too."
        gr.Warning(warning)
        note += " " + warning
    render = explore.render_recipe(recipe, pipe, limits=limits, progress=progress)
    export = recipe.get("export")
    settings = export if isinstance(export, dict) else {}
    fmt = str(settings.get("format") or ("gif" if render.is_animation else "png")).lower()
    suffix = f".{fmt}" if render.is_animation and f".{fmt}" in ANIMATION_SUFFIXES else ".png"
    size = settings.get("size")
    job = new_job_dir(outdir)
    target = job / f"{source.name.split('.')[0] or 'recipe'}-again{suffix}"
    if export is None and render.images.shape[0] == 1:
        # A single image saved by the app (gallery image, style knob): the bare image again.
        out = save_png(render.pil()[0], target, render.recipe, compress_level=PNG_LEVEL)
    elif suffix == ".png":
        # Grids: the export's settings; without any (e.g. `galip-studio generate` grids) the plain grid.
        out = explore.save_render(
            render, target, size=size, captions=bool(settings.get("captions", False)), compress_level=PNG_LEVEL, limits=limits
        )
    else:
        out = explore.save_render(
            render, target, size=size, fps=settings.get("fps"), quality=float(settings.get("quality", 8.0)),
            loop=bool(settings.get("loop", True)), limits=limits,
        )
    image = str(out)
    if suffix == ".mp4":
        preview_fps = min(float(render.fps or GIF_MAX_FPS), GIF_MAX_FPS)
        image = str(explore.save_render(render, target.with_suffix(".gif"), size=size, fps=preview_fps, limits=limits))
    return RecipeResult(image, str(out), note, recipe_text(render.recipe))


# ------------------------------------------------------------------------------------------ model
def _fmt_count(n: int) -> str:
    return f"{n:,}"


def describe_model(model: Model) -> tuple[str, str]:
    """A markdown card and the full ``describe()`` of the session's model as JSON text."""
    info = pipeline_of(model).describe()
    clip = info["clip"]
    rows = [
        ("Loaded from", f"`{info.get('path') or (info.get('training') or {}).get('preset') or '—'}`"),
        ("Output", f"{info['image_size']}×{info['image_size']} px, noise {info['z_dim']}-d"),
        (
            "CLIP",
            f"{clip['name']}: ViT width {clip['width']}, {clip['depth']} blocks, grid {clip['grid'][0]}×{clip['grid'][1]}, "
            f"{clip['image_size'][0]} px, sentence {clip['sentence_dim']}-d",
        ),
        ("CLIP weights", str(clip["weights"])),
        ("Runs on", f"{info['device']}, {info['dtype']}"),
    ]
    rows += [(f"Parameters: {name}", _fmt_count(int(n))) for name, n in info["parameters"].items()]
    training = info.get("training") or {}
    for key, value in list(training.items())[:12]:
        text = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
        rows.append((f"Training: {key}", text if len(text) <= 120 else text[:119] + "…"))
    table = "| Model | |\n|---|---|\n" + "\n".join(f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows)
    return table, json.dumps(info, indent=2, default=str)


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
