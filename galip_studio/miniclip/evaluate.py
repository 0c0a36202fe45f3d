"""How good is a CLIP: identity retrieval, style zero-shot and paraphrase choices (``eval-clip``).

:class:`MiniClipEvaluator` runs identity retrieval over held-out identities (image→text and
text→image R@1/R@5 against one name per identity), the same over as many training identities, a
"3d emoji" vs "flat emoji" zero-shot style test, and paraphrase two-alternative forced choices
(:data:`PARAPHRASE_PROBES`) that only a model with a real text encoder can pass. It works on any
:class:`~galip_studio.clip_backbone.ClipBackbone`, not only the mini-CLIP.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from ..clip_backbone import ClipBackbone
from ..datasets.emoji import STYLES as EMOJI_STYLES, indefinite_article
from ..metrics import clip_image_embeddings, recall_at_k
from ..device import resolve_device
from .data import ImageCaptionSet, load_caption_set, words
from .model import encode_captions


def retrieval_metrics(
    image_emb: torch.Tensor, image_labels: torch.Tensor, text_emb: torch.Tensor, text_labels: torch.Tensor
) -> dict[str, float]:
    """Image→text and text→image R@1/R@5 between normalised embeddings with identity labels."""
    sim = image_emb @ text_emb.T
    i2t = recall_at_k(sim, image_labels, text_labels)
    t2i = recall_at_k(sim.T, text_labels, image_labels)
    return {"img2txt_r1": i2t[1], "img2txt_r5": i2t[5], "txt2img_r1": t2i[1], "txt2img_r5": t2i[5]}


# Zero-shot style test: a file's style (``<identity>__<style>``) → its caption style word. Only the
# words present in the evaluated folder compete, so a 3d/flat folder is scored as before.
STYLE_CLASSES: dict[str, str] = {name: spec.word for name, spec in EMOJI_STYLES.items()} | {
    word: word for word in ("3d", "flat", "gradient", "outlined")}
STYLE_PROMPTS: dict[str, str] = {word: f"{indefinite_article(word)} {word} emoji"
                                 for word in dict.fromkeys(STYLE_CLASSES.values())}


@dataclass(frozen=True)
class ParaphraseProbe:
    """Two identities (by canonical name) and a paraphrase for each that avoids the name's words."""

    name_a: str
    name_b: str
    prompt_a: str
    prompt_b: str


# Each probe gives 2 decisions per style (image of A: prompt_a over prompt_b; image of B: the reverse).
PARAPHRASE_PROBES: tuple[ParaphraseProbe, ...] = (
    ParaphraseProbe("cat face", "dog face", "kitty", "doggy"),
    ParaphraseProbe("red heart", "blue heart", "crimson heart", "blue heart"),
    ParaphraseProbe("automobile", "airplane", "car", "plane"),
    ParaphraseProbe("grinning face", "frowning face", "happy face", "sad face"),
    ParaphraseProbe("fire", "droplet", "flames", "water"),
    ParaphraseProbe("sun", "crescent moon", "sunny", "moonlight"),
    ParaphraseProbe("laptop", "mobile phone", "notebook computer", "cellphone"),
    ParaphraseProbe("red apple", "banana", "red fruit", "yellow fruit"),
    ParaphraseProbe("snake", "turtle", "serpent", "tortoise"),
    ParaphraseProbe("pizza", "hamburger", "slice of pepperoni", "cheeseburger"),
    ParaphraseProbe("ghost", "skull", "spooky spirit", "skeleton head"),
    ParaphraseProbe("house", "rocket", "home", "spaceship"),
    ParaphraseProbe("rainbow", "snowflake", "colorful arc", "winter ice crystal"),
    ParaphraseProbe("thumbs up", "thumbs down", "like", "dislike"),
)


def two_afc(image_emb: torch.Tensor, own: torch.Tensor, other: torch.Tensor) -> int:
    """How many images are closer to their own prompt embedding than to the other one."""
    return int(((image_emb @ own) > (image_emb @ other)).sum())


@dataclass
class _ProbeImages:
    probe: ParaphraseProbe
    images_a: torch.Tensor  # uint8 [n, 3, S, S]
    images_b: torch.Tensor
    held_out: tuple[bool, bool]
    seen: tuple[str, ...]  # paraphrases whose words all occur in the training captions of their identity


def _find_identity(sets: Sequence[tuple[ImageCaptionSet, bool]], name: str) -> tuple[torch.Tensor, bool, set[str]] | None:
    """Images of the identity whose canonical name is ``name``, whether held out, and its training words."""
    for data, held_out in sets:
        if name in data.names:
            k = data.names.index(name)
            idx = data.indices_of(k)
            return data.images[idx], held_out, set() if held_out else data.caption_words(k)
    return None


class MiniClipEvaluator:
    """Evaluates a CLIP on held-out and training identities, style zero-shot and paraphrases.

    Text embeddings are computed once here (the text tower is frozen); each call embeds the images
    with the backbone it is given.

    Args:
        backbone: the CLIP whose text tower encodes the gallery texts.
        eval_set: held-out identities (retrieval over all of them, style zero-shot).
        train_set: training identities; ``n_train_identities`` of them (default: as many as held out,
            else 190) drawn with ``seed`` get the same retrieval test, to show memorisation.
        probes: paraphrase pairs, looked up by canonical name in both sets; missing ones are skipped.
    """

    def __init__(
        self,
        backbone: ClipBackbone,
        eval_set: ImageCaptionSet | None = None,
        train_set: ImageCaptionSet | None = None,
        n_train_identities: int | None = None,
        seed: int = 0,
        probes: Sequence[ParaphraseProbe] = PARAPHRASE_PROBES,
        batch_size: int = 256,
    ):
        self.batch_size = batch_size
        self.eval_set = eval_set
        self.train_set = train_set
        self.eval_names = encode_captions(backbone, eval_set.names) if eval_set is not None else None
        self.train_ids: list[int] = []
        self.train_names = None
        if train_set is not None:
            n = n_train_identities or (len(eval_set.identities) if eval_set is not None else 190)
            gen = torch.Generator().manual_seed(seed)
            perm = torch.randperm(len(train_set.identities), generator=gen)[: min(n, len(train_set.identities))]
            self.train_ids = sorted(perm.tolist())
            self.train_names = encode_captions(backbone, [train_set.names[k] for k in self.train_ids])
        self.style_emb = encode_captions(backbone, list(STYLE_PROMPTS.values()))
        sets = [(s, held_out) for s, held_out in ((train_set, False), (eval_set, True)) if s is not None]
        self.probes: list[_ProbeImages] = []
        self.skipped: list[str] = []
        for probe in probes:
            a, b = _find_identity(sets, probe.name_a), _find_identity(sets, probe.name_b)
            if a is None or b is None:
                self.skipped.append(f"{probe.name_a} / {probe.name_b}")
                continue
            seen = tuple(
                prompt
                for prompt, name, (_, _, vocab) in ((probe.prompt_a, probe.name_a, a), (probe.prompt_b, probe.name_b, b))
                if prompt != name and set(words(prompt)) <= vocab
            )
            self.probes.append(_ProbeImages(probe, a[0], b[0], (a[1], b[1]), seen))
        texts = [t for p in self.probes for t in (p.probe.prompt_a, p.probe.prompt_b, p.probe.name_a, p.probe.name_b)]
        self.probe_emb = encode_captions(backbone, texts).view(len(self.probes), 4, -1) if self.probes else None

    def _embed(self, backbone: ClipBackbone, images: torch.Tensor) -> torch.Tensor:
        return clip_image_embeddings(backbone, images.float() / 127.5 - 1, self.batch_size)

    def _retrieval(
        self, backbone: ClipBackbone, data: ImageCaptionSet, ids: Sequence[int], name_emb: torch.Tensor
    ) -> dict[str, Any]:
        local = {k: j for j, k in enumerate(ids)}
        idx = [i for i, k in enumerate(data.identity_index.tolist()) if k in local]
        labels = torch.tensor([local[int(data.identity_index[i])] for i in idx], dtype=torch.long)
        emb = self._embed(backbone, data.images[idx])
        text_labels = torch.arange(len(ids))
        out: dict[str, Any] = {"n_images": len(idx), "n_identities": len(ids)}
        out.update(retrieval_metrics(emb, labels, name_emb, text_labels))
        styles = [data.items[i].style for i in idx]
        by_style = {}
        for style in sorted({s for s in styles if s is not None}):
            keep = torch.tensor([s == style for s in styles])
            by_style[style] = recall_at_k(emb[keep] @ name_emb.T, labels[keep], text_labels)[1]
        if by_style:
            out["img2txt_r1_by_style"] = by_style
        flag = torch.tensor([data.names[k].startswith("flag") for k in ids])
        if flag.any():
            keep_txt = ~flag
            keep_img = keep_txt[labels]
            r = recall_at_k(emb[keep_img] @ name_emb[keep_txt].T, labels[keep_img], text_labels[keep_txt])
            out["no_flags"] = {"n_identities": int(keep_txt.sum()), "img2txt_r1": r[1], "img2txt_r5": r[5]}
        out["_emb"], out["_styles"] = emb, styles
        return out

    def _style(self, emb: torch.Tensor, styles: Sequence[str | None]) -> dict[str, Any] | None:
        truth = [STYLE_CLASSES.get(s or "") for s in styles]
        keep = [i for i, t in enumerate(truth) if t is not None]
        if not keep:
            return None
        classes = [c for c in STYLE_PROMPTS if c in set(truth)]  # only the styles this folder has
        columns = [list(STYLE_PROMPTS).index(c) for c in classes]
        pred = (emb[keep] @ self.style_emb[columns].T).argmax(1)
        target = torch.tensor([classes.index(truth[i]) for i in keep])
        correct = pred == target
        by_class = {c: correct[target == j].float().mean().item() for j, c in enumerate(classes) if (target == j).any()}
        return {
            "accuracy": correct.float().mean().item(),
            "balanced": sum(by_class.values()) / len(by_class),
            "by_class": by_class,
            "n": len(keep),
            "prompts": {c: STYLE_PROMPTS[c] for c in classes},
        }

    def _paraphrase(self, backbone: ClipBackbone) -> dict[str, Any]:
        pairs = []
        totals = Counter()
        for p, emb in zip(self.probes, self.probe_emb if self.probe_emb is not None else []):
            img_a, img_b = self._embed(backbone, p.images_a), self._embed(backbone, p.images_b)
            pa, pb, na, nb = emb
            correct = two_afc(img_a, pa, pb) + two_afc(img_b, pb, pa)
            control = two_afc(img_a, na, nb) + two_afc(img_b, nb, na)
            n = len(img_a) + len(img_b)
            totals.update(correct=correct, control=control, n=n)
            if not p.seen:
                totals.update(clean_correct=correct, clean_n=n)
            pairs.append(
                {
                    "names": [p.probe.name_a, p.probe.name_b],
                    "prompts": [p.probe.prompt_a, p.probe.prompt_b],
                    "correct": correct,
                    "n": n,
                    "control_correct": control,
                    "held_out": list(p.held_out),
                    "prompts_in_training_captions": list(p.seen),
                }
            )
        n = totals["n"]
        return {
            "accuracy": totals["correct"] / n if n else None,
            "correct": totals["correct"],
            "n": n,
            "control_accuracy": totals["control"] / n if n else None,
            "clean_accuracy": totals["clean_correct"] / totals["clean_n"] if totals["clean_n"] else None,
            "clean_n": totals["clean_n"],
            "pairs": pairs,
            "skipped": list(self.skipped),
        }

    @torch.no_grad()
    def __call__(self, backbone: ClipBackbone) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        if self.eval_set is not None:
            held = self._retrieval(backbone, self.eval_set, range(len(self.eval_set.identities)), self.eval_names)
            emb, styles = held.pop("_emb"), held.pop("_styles")
            metrics["heldout"] = held
            metrics["style"] = self._style(emb, styles)
        if self.train_set is not None:
            train = self._retrieval(backbone, self.train_set, self.train_ids, self.train_names)
            train.pop("_emb"), train.pop("_styles")
            metrics["train"] = train
        metrics["paraphrase"] = self._paraphrase(backbone)
        return metrics


def format_metrics(metrics: dict[str, Any]) -> str:
    """A few human-readable lines of :class:`MiniClipEvaluator` output."""

    def pct(x: float | None) -> str:
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"

    lines = []
    for key, label in (("heldout", "held-out"), ("train", "train")):
        m = metrics.get(key)
        if m:
            line = (
                f"{label:<9} {m['n_identities']}-way  img->txt R@1 {pct(m['img2txt_r1'])} R@5 {pct(m['img2txt_r5'])}"
                f"  txt->img R@1 {pct(m['txt2img_r1'])} R@5 {pct(m['txt2img_r5'])}"
            )
            if "no_flags" in m:
                line += f"  (no flags R@1 {pct(m['no_flags']['img2txt_r1'])})"
            lines.append(line)
    style = metrics.get("style")
    if style:
        by = " / ".join(f"{c} {pct(v)}" for c, v in style["by_class"].items())
        words = " vs ".join(f"'{c}'" for c in style["by_class"])
        lines.append(f"style     {words} zero-shot {pct(style['accuracy'])} ({by}; balanced {pct(style['balanced'])})")
    para = metrics.get("paraphrase")
    if para and para["n"]:
        lines.append(
            f"paraphrase 2AFC {para['correct']}/{para['n']} = {pct(para['accuracy'])}"
            f" (prompts unseen in training captions: {pct(para['clean_accuracy'])} of {para['clean_n']};"
            f" real names: {pct(para['control_accuracy'])})"
        )
    return "\n".join(lines)


def evaluate_clip_dir(
    clip_dir: str | os.PathLike,
    eval_dir: str | os.PathLike | None,
    train_dir: str | os.PathLike | None = None,
    seed: int = 0,
    device: str | None = None,
) -> dict[str, Any]:
    """Load a CLIP directory and run :class:`MiniClipEvaluator` on the given folders (``device`` None:
    cuda if available, else cpu)."""
    if eval_dir is None and train_dir is None:
        raise ValueError("give a held-out folder, a training folder, or both")
    backbone = ClipBackbone.from_pretrained(clip_dir).to(resolve_device(device))
    size = backbone.image_size[0]
    eval_set = load_caption_set(eval_dir, size) if eval_dir is not None else None
    train_set = load_caption_set(train_dir, size) if train_dir is not None else None
    return MiniClipEvaluator(backbone, eval_set, train_set, seed=seed)(backbone)
