"""What the Model tab does, as plain functions: describe the session's model (architecture,
parameters, training, its model card's data summary and figures, the last evaluation), switch the
session to another model, and the specs, checkpoint list and uploads that choice is made from.

The shared model store, the library of allowed folders and the specs themselves are in
:mod:`.models`; here they are turned into what the tab shows. Paths are shown relative to the
project (:func:`shown_path`), never as machine paths; a checkpoint outside the allowed folders or a
file that is not weights is a :func:`~.plumbing.user_error`.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from .. import explore
from .models import REPO_ROOT, Model, ModelHandle, ModelLibrary, ModelSpec, ModelStore, checkpoint_folder, pipeline_of
from .plumbing import model_label, new_job_dir, user_error, user_errors

WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".bin")


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
    name = Path(model_label(pipe)).name or model_label(pipe)
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
