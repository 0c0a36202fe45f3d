"""What the Directions and Prompt map tabs do, as plain functions (the same conventions as :mod:`.handlers`;
user errors, job folders and seed parsing from :mod:`.plumbing`).

Every handler takes the session's model first (a pipeline, or a :class:`~.models.ModelHandle`),
then its inputs, then ``outdir``, ``limits`` and (long jobs) ``progress``. Directions and maps are
computed on the loaded pipeline itself under its lock (so they are cached under its checkpoint's
identity in the bounded cache folder, see :mod:`galip_studio.discover` and :mod:`galip_studio.prompt_map`) and kept in memory for the
next call; images are rendered through the session's locked view, so recipes name the model as
clients may see it.
"""

from __future__ import annotations

import contextlib
import math
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Sequence

from .. import explore
from ..explore import directions as discover
from ..explore import map as pmap  # as: this module's own prompt_map is the tab's handler
from ..export import save_png
from .handlers import animation_formats, export_animation
from .models import Model, ModelHandle, pipeline_of
from .plumbing import PNG_LEVEL, new_job_dir, parse_seeds, recipe_text, seed_or_random, user_error, user_errors

Progress = Any
MEMO_SIZE = 16
MAX_MAP_COORDINATE = 1e6  # a map's points lie within a few units; far beyond is a typo (or a probe)
SPACES = {"noise (at this prompt)": "noise", "sentence (vocabulary)": "sentence"}
MAP_VIEWS = {"PCA": "pca", "t-SNE": "tsne"}
STRIP_CELL = 96  # px per strip image in the app (small models scaled up)

_memo: "weakref.WeakKeyDictionary[Any, OrderedDict[tuple, Any]]" = weakref.WeakKeyDictionary()
_memo_lock = threading.Lock()


@contextlib.contextmanager
def _loaded(model: Model) -> Iterator[Any]:
    """The loaded pipeline itself (its checkpoint folder known), under its lock in the app."""
    if isinstance(model, ModelHandle):
        entry = model.store.entry(model.spec)
        with entry.lock:
            yield entry.pipeline
    else:
        yield model


def _remember(pipe: Any, key: tuple, make) -> Any:
    """``make()`` once per loaded pipeline and key (its directions and maps); the least recently used
    of a pipeline's results are dropped, and all of them go with the pipeline (a weak reference)."""
    with _memo_lock:
        memo = _memo.setdefault(pipe, OrderedDict())
        if key in memo:
            memo.move_to_end(key)
            return memo[key]
    value = make()
    with _memo_lock:
        memo[key] = value
        while len(memo) > MEMO_SIZE:
            memo.popitem(last=False)
    return value


def _vocabulary(text: str | None) -> list[str] | None:
    """Phrases typed one per line, or ``None`` for the bundled vocabulary."""
    phrases = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return phrases or None


def _space(space: str) -> str:
    value = SPACES.get(space, space)
    if value not in discover.SPACES:
        raise user_error(f"space must be one of {', '.join(SPACES)}, got {space!r}.")
    return value


def _components(text: str | int | float | None, available: int) -> list[int]:
    picked = parse_seeds(text if text not in (None, "") else "1-3")
    bad = [k for k in picked if not 1 <= k <= available]
    if bad:
        raise user_error(f"component {bad[0]} does not exist: pick components from 1 to {available}.")
    return [k - 1 for k in picked]


def find_directions(model: Model, space: str, prompt: str, components: int, vocabulary: str, limits: explore.Limits, progress: Progress | None) -> discover.Directions:
    """Directions of the session's model (memoised, and kept in the cache folder)."""
    space = _space(space)
    phrases = _vocabulary(vocabulary)
    with _loaded(model) as pipe:
        key = ("directions", space, prompt if space == "noise" else None, int(components), tuple(phrases or ()))
        if space == "noise":
            return _remember(pipe, key, lambda: discover.noise_directions(pipe, prompt, components=int(components), limits=limits, progress=progress))
        return _remember(pipe, key, lambda: discover.sentence_directions(pipe, phrases, components=int(components), limits=limits, progress=progress))


def directions_table(found: discover.Directions) -> str:
    rows = ["| PC | σ | variance | low end ↔ high end |", "|---|---|---|---|"]
    for row in found.describe():
        ends = f"{', '.join(row['low_end'])} ↔ {', '.join(row['high_end'])}" if "low_end" in row else "—"
        rows.append(f"| {row['component']} | {row['sigma']:.3f} | {100 * row['variance_share']:.1f}% | {ends} |")
    where = {"hit": "loaded from the cache", None: "computed"}.get(found.cached, "computed and cached")
    return f"**{found.space} directions** ({where}).\n\n" + "\n".join(rows)


class DirectionsResult(NamedTuple):
    strips: str  # PNG: one row per component, -span..+span σ, with its recipe
    table: str  # markdown: σ, variance share, end prompts of every component
    recipe: str  # the strip's recipe as JSON text


@user_errors
def directions(
    model: Model,
    space: str,
    prompt: str,
    components: int | float,
    show: str,
    seed: int | float | None,
    steps: int | float,
    span: float,
    truncation: float,
    vocabulary: str,
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> DirectionsResult:
    """Compute (or load) the directions of ``space`` and draw strips of the ``show`` components
    (e.g. ``1-3``) around ``prompt`` with ``seed``."""
    prompt = (prompt or "").strip()
    if not prompt:
        raise user_error("Type the prompt of the image to move, e.g. “a red heart”.")
    found = find_directions(model, space, prompt, int(components), vocabulary, limits, progress)
    picked = _components(show, found.vectors.shape[0])
    render = discover.strips(
        pipeline_of(model), found, picked, prompt=prompt, seed=seed_or_random(seed), steps=int(steps), span=float(span),
        truncation=float(truncation), limits=limits, progress=progress,
    )
    job = new_job_dir(outdir)
    cell = max(render.images.shape[-1], STRIP_CELL)
    path = explore.save_render(render, job / f"{found.space}-directions.png", size=cell, resample="nearest", compress_level=PNG_LEVEL, limits=limits)
    return DirectionsResult(str(path), directions_table(found), recipe_text(render.recipe))


# ------------------------------------------------------------------------------------------ prompt map
class MapResult(NamedTuple):
    image: str  # the labelled map (PNG); click it
    info: str
    state: dict[str, Any]  # the map kept in the session for map_click / map_path


def _state(m: pmap.PromptMap) -> dict[str, Any]:
    return {"prompts": m.prompts, "coords": m.coords.tolist(), "view": m.view, "size": m.size, "margin": m.margin}


def _map_of(state: dict[str, Any] | None) -> pmap.PromptMap:
    if not isinstance(state, dict) or "coords" not in state:
        raise user_error("Open the prompt map first.")
    import torch

    return pmap.PromptMap(
        list(state["prompts"]), torch.empty(0), torch.tensor(state["coords"], dtype=torch.float64), state["view"], {},
        size=int(state["size"]), margin=int(state["margin"]),
    )


def _map_png(m: pmap.PromptMap, job: Path, path: Sequence[Sequence[float]] | None = None, marker: Sequence[float] | None = None) -> str:
    return str(save_png(m.image(path=path, marker=marker), job / f"map-{m.view}.png", compress_level=PNG_LEVEL))


@user_errors
def prompt_map(
    model: Model,
    view: str,
    vocabulary: str,
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> MapResult:
    """The map of the vocabulary (bundled phrases, or one per line) in the ``view`` layout."""
    layout = MAP_VIEWS.get(view, view)
    phrases = _vocabulary(vocabulary)
    with _loaded(model) as pipe:
        key = ("map", layout, tuple(phrases or ()))
        m = _remember(pipe, key, lambda: pmap.prompt_map(pipe, phrases, view=layout, limits=limits, progress=progress))
    axes = f" · axes explain {100 * m.ratio[0]:.0f}% and {100 * m.ratio[1]:.0f}% of the variance" if m.ratio else ""
    info = f"**{len(m.prompts)} prompts**, {view} layout{axes}. Click anywhere: the image there blends the nearest prompts."
    return MapResult(_map_png(m, new_job_dir(outdir)), info, _state(m))


def map_pixel(state: dict[str, Any] | None, px: float, py: float) -> tuple[float, float]:
    """Map coordinates of a click at pixel ``(px, py)`` of the map image."""
    return _map_of(state).from_pixel(float(px), float(py))


class ClickResult(NamedTuple):
    image: str  # PNG with its recipe (a style-knob blend of the nearest prompts)
    note: str
    recipe: str


@user_errors
def map_click(
    model: Model,
    state: dict[str, Any] | None,
    x: float,
    y: float,
    seed: int | float | None,
    truncation: float,
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
) -> ClickResult:
    """The image at map point ``(x, y)`` (map coordinates) of the session's last map."""
    for name, value in (("x", x), ("y", y)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and abs(value) <= MAX_MAP_COORDINATE):
            raise user_error(f"The map point's {name} must be a number from -{MAX_MAP_COORDINATE:g} to {MAX_MAP_COORDINATE:g}.")
    m = _map_of(state)
    render = pmap.map_point(
        pipeline_of(model), m.prompts, m.coords.tolist(), (float(x), float(y)), seed=seed_or_random(seed), truncation=float(truncation),
        view=m.view, limits=limits,
    )
    recipe = render.recipe
    mix = " · ".join(f"{100 * w:.0f}% {p}" for p, w in sorted(zip(recipe["prompts"], recipe["weights"]), key=lambda t: -t[1]))
    path = save_png(render.pil()[0], new_job_dir(outdir) / f"map-{x:.2f}-{y:.2f}.png", recipe, compress_level=PNG_LEVEL)
    return ClickResult(str(path), f"**({float(x):.2f}, {float(y):.2f})** · {mix}", recipe_text(recipe))


@user_errors
def parse_points(text: str) -> list[tuple[float, float]]:
    """Map points typed as ``x,y`` pairs separated by ``;`` or new lines."""
    return pmap.parse_points(text or "")


def add_point(points: str, x: float, y: float) -> str:
    """The path text with one more point (a click on the map)."""
    return "; ".join([s.strip() for s in (points or "").split(";") if s.strip()] + [f"{float(x):.3f},{float(y):.3f}"])


class PathResult(NamedTuple):
    map_image: str  # the map with the path drawn
    preview: str | None  # the GIF
    video: str | None  # the MP4
    info: str
    recipe: str


@user_errors
def map_path(
    model: Model,
    state: dict[str, Any] | None,
    points: str,
    frames: int | float,
    fps: float,
    loop: bool,
    seed: int | float | None,
    truncation: float,
    formats: Sequence[str],
    size: int | float | None,
    *,
    outdir: str | Path,
    limits: explore.Limits = explore.DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> PathResult:
    """A path on the map (``x,y; x,y; ...``) as a walk, exported to GIF and/or MP4 with its recipe."""
    m = _map_of(state)
    path = parse_points(points)
    if len(path) < 2:
        raise user_error("Click at least two points on the map (or type them as x,y; x,y).")
    formats = animation_formats(formats)
    render = pmap.map_walk(
        pipeline_of(model), m.prompts, m.coords.tolist(), path, frames=int(frames), loop=bool(loop), seed=seed_or_random(seed),
        truncation=float(truncation), fps=float(fps), view=m.view, limits=limits, progress=progress,
    )
    job = new_job_dir(outdir)
    files = export_animation(render, job, "map-walk", formats, size, limits)
    info = f"**{render.images.shape[0]} frames** at {render.fps:g} fps through {len(path)} points, blending {len(render.recipe['prompts'])} prompts"
    return PathResult(_map_png(m, job, path=path), files.gif, files.mp4, info, recipe_text(render.recipe))

