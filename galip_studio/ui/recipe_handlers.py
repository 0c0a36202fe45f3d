"""What the Recipe tab does, as plain functions: read the recipe an exported file carries, and make
the file again from it (same images, same export settings) on the session's model.

The same conventions as :mod:`.handlers`: the model first, then the inputs, then ``outdir``,
``limits`` and ``progress``; named tuples in the order of the output components; user mistakes (no
file, a file without a recipe) as :func:`~.plumbing.user_error` messages that name the file, never
where the server keeps it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr

from .. import explore
from ..export import GIF_MAX_FPS, load_recipe
from .models import Model, pipeline_of
from .plumbing import PNG_LEVEL, Progress, model_label, new_job_dir, prompt_label, recipe_text, user_error, user_errors


def _file_path(file: Any) -> Path:
    """The local path of an uploaded file (Gradio passes a path string or an object with ``.name``)."""
    if file is None:
        raise user_error("Drop a PNG, GIF, MP4 or JSON exported by GALIP Studio first.")
    return Path(getattr(file, "name", file))


def _recipe_summary(recipe: dict[str, Any]) -> str:
    kind = recipe.get("kind", "?")
    model = explore.recipe_model(recipe)
    prompts = recipe.get("prompts") or []
    parts = [f"**{kind}**", f"{len(prompts)} prompt{'s' if len(prompts) != 1 else ''}: " + "; ".join(f"“{prompt_label(p)}”" for p in prompts[:4])]
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
def remake_from_recipe(
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
    settings = explore.export_settings(recipe)
    pipe = pipeline_of(model)
    note = f"Re-rendered this **{recipe.get('kind')}** recipe on *{model_label(pipe)}*."
    warning = explore.other_model_warning(recipe, pipe)
    if warning:
        gr.Warning(warning)
        note += " " + warning
    render = explore.render_recipe(recipe, pipe, limits=limits, progress=progress)
    suffix = settings.suffix(render.is_animation)
    target = new_job_dir(outdir) / f"{source.name.split('.')[0] or 'recipe'}-again{suffix}"
    out = explore.save_again(render, settings, target, compress_level=PNG_LEVEL, limits=limits)
    image = str(out)
    if suffix == ".mp4":
        preview_fps = min(float(render.fps or GIF_MAX_FPS), GIF_MAX_FPS)
        image = str(explore.save_render(render, target.with_suffix(".gif"), size=settings.size, fps=preview_fps, resample=settings.resample, limits=limits))
    return RecipeResult(image, str(out), note, recipe_text(render.recipe))
