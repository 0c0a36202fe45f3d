"""What every handler module of the app shares: user errors, a folder per request, prompts and seeds
from text boxes, recipes as text, and what a long job's progress bar and Stop notice say.

User mistakes (an empty prompt, a seed that is not a number, a grid beyond the limits, a checkpoint
that does not load) raise :class:`gradio.Error` through :func:`user_error`, with a message that says
what to change; the server log gets one line for each (no traceback), and no client ever sees a
machine path. :func:`user_errors` turns the library's own input errors into such messages. On the
page these errors never reach Gradio: :func:`.jobs.inline_errors` shows them (:func:`error_text`) on
the line under the tab's controls and keeps the last result; API clients get them as errors.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import random
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import gradio as gr

from .. import explore
from ..export import parse_recipe
from ..pipeline import MAX_SEED, check_prompt
from .models import ModelLoadError

Progress = Callable[..., None]
"""``progress(done, total)`` after each batch; the walk adds a third argument, what the work is now."""
F = TypeVar("F", bound=Callable[..., Any])

MAX_SEED_TEXT_ITEMS = 256
OUTPUT_MAX_AGE_S = 3600.0
PNG_LEVEL = 1  # zlib level of the app's PNGs: a 650 px grid in ~30 ms instead of ~140 ms at level 6, ~20% larger

log = logging.getLogger("galip_studio.app")


# ------------------------------------------------------------------------------------------ plumbing
def user_error(message: str) -> gr.Error:
    """A :class:`gradio.Error` for a user's mistake: the message goes to the client, one line goes to
    the server log, and Gradio prints no traceback for it."""
    log.warning("user error: %s", " ".join(str(message).split()))
    return gr.Error(message, print_exception=False)


def error_text(message: str) -> str:
    """What a tab's error line says for a user's mistake (see :func:`.jobs.inline_errors`)."""
    return f"⚠ {' '.join(str(message).split())}"


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


YOUR_IMAGE = "[your image]"
"""What a prompt box holds when it stands for the point Your image found (the session's slot, set by
a successful Invert or by Use variation): the handlers swap the stored sentence vector (and noise) in for it."""


def point_or_prompt(text: str, found: dict[str, Any] | None) -> str | dict[str, Any]:
    """A prompt box's text, or the session's found point when the box holds :data:`YOUR_IMAGE`."""
    if (text or "").strip().lower() != YOUR_IMAGE:
        return text
    if not found:
        raise user_error(f"{YOUR_IMAGE} stands for the image found in Your image: run Invert there first, or use one of its Variations (or type a prompt).")
    return found


def prompt_label(item: Any) -> str:
    """A recipe's prompt, or a point's label (a found image, stored in place of a prompt), as a short
    text for summaries and captions; a recipe is user input, so anything else is "a point"."""
    if isinstance(item, dict):
        label = item.get("label")
        return " ".join(label.split())[:80] if isinstance(label, str) and label.strip() else "a point"
    return str(item)


def shown_recipe(text: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """The recipe a result shows (its JSON text, as a client sends it back), or None where it holds
    none: empty, not JSON, too large, too deep or not a recipe (:func:`~galip_studio.export.parse_recipe`)."""
    if isinstance(text, dict) or text is None:
        return text
    try:
        return parse_recipe(text, "the recipe shown") if str(text).strip() else None
    except ValueError:
        return None


def point_noise(items: Sequence[str | dict[str, Any]]) -> list[float] | None:
    """The noise of the first found point among ``items`` (what :func:`point_or_prompt` gave), or None."""
    point = next((p for p in items if isinstance(p, dict)), None)
    return None if point is None else point.get("noise")


def parse_seeds(text: str | int | float | None) -> list[int]:
    """Seeds from a text box: integers separated by commas or spaces, and ranges ``a-b`` (inclusive)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if not math.isfinite(text) or text != int(text):
            raise user_error(f"a seed is a whole number from 0 to 2**63-1, got {text}: type one, or press Random.")
        text = str(int(text))
    items = [t for t in re.split(r"[,\s]+", (text or "").strip()) if t]
    if not items:
        raise user_error("Give at least one seed, e.g. “0, 1, 2” or “0-3”.")
    seeds: list[int] = []
    for item in items:
        if re.fullmatch(r"-\d+", item):
            raise user_error(f"seeds are 0 or more, got {item}: use a whole number from 0 to 2**63-1 (or press Random).")
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


def model_label(pipe: Any) -> str:
    """What notes and the page header call a model: its path, else its training preset, else ``model``."""
    meta = pipe.metadata or {}
    return str(meta.get("path") or (meta.get("training") or {}).get("preset") or "model")


# ------------------------------------------------------------------------------------------ progress
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
