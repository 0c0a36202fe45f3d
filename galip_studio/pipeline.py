"""``GALIPPipeline``: the public inference API, in the style of Hugging Face diffusers.

    pipe = GALIPPipeline.from_pretrained("checkpoints/galip-emoji-64")
    images = pipe("a red apple", num_images=4, seed=0).images

Every image is made from its own seed: image k of a call with ``seed=s`` uses seed ``s + k``, and
its noise is drawn on the CPU from ``torch.Generator().manual_seed(seed)``, so the same seed and
prompt give the same image whatever the batch size: to ~1e-6 in fp32, and for bf16 as
``galip_studio.fast`` ("Batch size") states.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from PIL import Image

from .checkpoint import load_checkpoint
from .clip_backbone import ClipBackbone
from .config import CHECKPOINTS_DIR, ClipConfig, GALIPConfig, get_preset
from .export import to_pil
from .fast import FastGenerator, FastOptions, resolve_fast, speed_report
from .nets import GALIP
from .official import load_official
from .text_cache import SentenceCache

DEFAULT_CHECKPOINT_NAME = "galip-emoji-64"
MAX_SEED = 2**63 - 1
# CLIP reads 77 tokens (a few hundred characters); a longer prompt only costs memory and ends up in
# every exported file's recipe, so prompts are capped (in the library, the CLI and the app).
MAX_PROMPT_CHARS = 2000


def check_prompt(prompt: object, number: int = 1) -> str:
    """``prompt`` if it is usable text, else a ValueError that says what to type instead."""
    if not isinstance(prompt, str):
        raise ValueError(f"prompt {number} must be text, got {type(prompt).__name__}")
    if not prompt.strip():
        raise ValueError(f"prompt {number} is empty: type some text describing an image")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(
            f"prompt {number} is {len(prompt):,} characters long, above the limit of {MAX_PROMPT_CHARS:,} "
            f"(CLIP reads only its first 77 tokens): shorten it"
        )
    return prompt


def default_checkpoint_dir() -> Path:
    """Where the bundled default model lives: ``$GALIP_STUDIO_CHECKPOINT`` or ``checkpoints/galip-emoji-64``."""
    env = os.environ.get("GALIP_STUDIO_CHECKPOINT")
    if env:
        return Path(env)
    return CHECKPOINTS_DIR / DEFAULT_CHECKPOINT_NAME


@dataclass
class GALIPOutput:
    """What a pipeline call returns: the images and the seed each one was made from."""

    images: list[Image.Image] | torch.Tensor
    seeds: list[int]
    prompts: list[str | None] = field(default_factory=list)


def noise_from_seeds(seeds: Sequence[int], z_dim: int, truncation: float = 1.0) -> torch.Tensor:
    """Noise ``[len(seeds), z_dim]``: one standard normal draw per seed, scaled toward the mean by ``truncation``."""
    if not 0.0 <= truncation <= 1.0:
        raise ValueError(f"truncation must be in [0, 1], got {truncation}")
    rows = []
    for seed in seeds:
        seed = int(seed)
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seeds must be integers in [0, 2**63-1], got {seed}")
        rows.append(torch.randn(z_dim, generator=torch.Generator().manual_seed(seed)))
    z = torch.stack(rows) if rows else torch.empty(0, z_dim)
    return z * truncation


class GALIPPipeline:
    """Text-to-image generation with a GALIP model.

    Args:
        model: a :class:`GALIP` (only its CLIP and generator are used here).
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA when available, else CPU).
        dtype: compute dtype of the generator and CLIP (default float32).
        metadata: the checkpoint's config dict (shown by ``info`` and the app); its ``source`` key
            (``"checkpoint"``, ``"official"`` or ``"preset"``, set by the constructors below) is what
            recipes record as the model's origin.
        fast: the inference path. ``"auto"`` (default): :class:`~galip_studio.fast.FastGenerator`
            with the optimisations that are safe on the device (images within 35 dB PSNR of the
            reference, in practice far closer); ``"compile"``: the same through ``torch.compile``;
            ``False``: the plain fp32 reference forward; or a :class:`~galip_studio.fast.FastOptions`.
    """

    def __init__(
        self,
        model: GALIP,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        metadata: dict[str, Any] | None = None,
        cache_size: int = 1024,
        fast: bool | str | FastOptions = "auto",
    ):
        self.model = model.eval()
        self.metadata = metadata or {}
        self._text_cache = SentenceCache(model.clip, cache_size)  # prompts encoded together, in one call
        self.device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = dtype or torch.float32
        self.fast = fast
        self.to(self.device, self.dtype)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike | None = None,
        *,
        clip_weights: str | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        fast: bool | str | FastOptions = "auto",
    ) -> "GALIPPipeline":
        """Load one of our checkpoint directories (default: the bundled model)."""
        path = Path(path) if path is not None else default_checkpoint_dir()
        model, config = load_checkpoint(path, clip_weights=clip_weights, load_discriminator=False)
        config = dict(config, path=str(path), source="checkpoint")
        return cls(model, device=device, dtype=dtype, metadata=config, fast=fast)

    @classmethod
    def from_official(
        cls,
        path: str | os.PathLike,
        clip: str | ClipConfig | ClipBackbone = "openai",
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        fast: bool | str | FastOptions = "auto",
    ) -> "GALIPPipeline":
        """Load an official ``pre_coco.pth``/``pre_cc12m.pth``.

        ``clip`` is the CLIP ViT-B/32 (QuickGELU) to pair it with: an open_clip tag (``"openai"``,
        needs a network), a local weights file (OpenAI's ``ViT-B-32.pt`` or an open_clip file), a
        :class:`ClipConfig`, or a built :class:`ClipBackbone`.
        """
        if isinstance(clip, str):
            clip = ClipConfig(name="ViT-B-32-quickgelu", pretrained=clip, preprocess="official")
        model, report = load_official(path, clip)
        meta = {
            "galip": model.config.to_dict(),
            "clip": model.clip.to_config_dict(),
            "training": report,
            "path": str(path),
            "source": "official",
        }
        return cls(model, device=device, dtype=dtype, metadata=meta, fast=fast)

    @classmethod
    def from_preset(
        cls,
        name: str,
        *,
        seed: int = 0,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        fast: bool | str | FastOptions = "auto",
    ) -> "GALIPPipeline":
        """A randomly initialised model of a named preset (tests, benchmarks). CLIP weights are random too."""
        preset = get_preset(name)
        preset.clip.pretrained = None
        torch.manual_seed(seed)
        model = GALIP.from_configs(preset.galip, preset.clip)
        meta = {"galip": preset.galip.to_dict(), "clip": model.clip.to_config_dict(), "training": {"preset": name, "random_init_seed": seed}, "source": "preset"}
        return cls(model, device=device, dtype=dtype, metadata=meta, fast=fast)

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> "GALIPPipeline":
        if device is not None:
            self.device = torch.device(device)
        if dtype is not None:
            self.dtype = dtype
        self.model.to(device=self.device, dtype=self.dtype)
        self._text_cache.clear()
        self.fast_options = resolve_fast(self.fast, self.device, self.dtype, image_size=self.model.config.img_size)
        self._fast_generator: FastGenerator | None = None
        return self

    # ---------------------------------------------------------------- properties
    @property
    def config(self) -> GALIPConfig:
        return self.model.config

    @property
    def clip(self) -> ClipBackbone:
        return self.model.clip

    @property
    def generator(self) -> torch.nn.Module:
        return self.model.generator

    @property
    def forward_fn(self) -> FastGenerator | torch.nn.Module:
        """What :meth:`synthesize` runs: the fast generator, or the reference one when ``fast=False``."""
        if self.fast_options is None:
            return self.generator
        if self._fast_generator is None or self._fast_generator.generator is not self.generator:
            self._fast_generator = FastGenerator(self.generator, self.fast_options)
        return self._fast_generator

    def speed_report(self) -> list[tuple[str, str, str]]:
        """(setting, value, why) rows: how images are computed here (``galip-studio info --speed``)."""
        return speed_report(self.fast_options, self.device, self.image_size)

    @property
    def z_dim(self) -> int:
        return self.model.config.z_dim

    @property
    def image_size(self) -> int:
        return self.model.config.img_size

    # ---------------------------------------------------------------- text
    def encode(self, prompts: str | Sequence[str]) -> torch.Tensor:
        """Sentence vectors ``[len(prompts), embed_dim]`` (float32, on the pipeline's device), cached per prompt."""
        return self._text_cache([prompts] if isinstance(prompts, str) else prompts)

    @property
    def cache_size(self) -> int:
        """How many prompts' sentence vectors are kept (least recently used dropped)."""
        return self._text_cache.max_entries

    @cache_size.setter
    def cache_size(self, value: int) -> None:
        self._text_cache.max_entries = value

    # ---------------------------------------------------------------- images
    @torch.inference_mode()
    def synthesize(self, noise: torch.Tensor, sentence: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
        """Run the generator in batches: ``[N, 3, S, S]`` float32 on the CPU, unclamped."""
        if noise.shape[0] != sentence.shape[0]:
            raise ValueError(f"{noise.shape[0]} noise vectors but {sentence.shape[0]} sentence vectors")
        if noise.shape[-1] != self.z_dim:
            raise ValueError(f"noise must have {self.z_dim} dims, got {noise.shape[-1]}")
        if sentence.shape[-1] != self.clip.embed_dim:
            raise ValueError(f"sentence vectors must have {self.clip.embed_dim} dims, got {sentence.shape[-1]}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        chunks = []
        forward = self.forward_fn
        for i in range(0, noise.shape[0], batch_size):
            z = noise[i : i + batch_size].to(self.device, self.dtype)
            s = sentence[i : i + batch_size].to(self.device, self.dtype)
            chunks.append(forward(z, s).float().cpu())
        if not chunks:
            return torch.empty(0, 3, self.image_size, self.image_size)
        return torch.cat(chunks)

    def generate(
        self,
        prompt: str | Sequence[str] | None = None,
        *,
        sentence: torch.Tensor | None = None,
        num_images: int = 1,
        seed: int | None = None,
        seeds: Sequence[int] | None = None,
        noise: torch.Tensor | None = None,
        truncation: float = 1.0,
        batch_size: int = 8,
        output_type: str = "pil",
    ) -> GALIPOutput:
        """Generate images.

        Args:
            prompt: a prompt or a list of prompts (``num_images`` images each), or ``None`` when
                ``sentence`` vectors are given instead.
            sentence: ``[P, embed_dim]`` sentence vectors (e.g. blends) used instead of prompts.
            num_images: images per prompt / sentence vector.
            seed: first seed; image k of each prompt uses ``seed + k``. ``None`` picks a random one.
            seeds: explicit seeds, one per image of each prompt (overrides ``seed``/``num_images``).
            noise: explicit noise ``[num_images, z_dim]`` (overrides seeds; ``truncation`` not applied).
            truncation: psi in [0, 1]; noise is scaled toward the mean (1 = no truncation).
            batch_size: images per generator forward.
            output_type: ``"pil"`` (list of PIL images) or ``"pt"`` (tensor in [-1, 1], clamped).
        """
        if output_type not in ("pil", "pt"):
            raise ValueError("output_type must be 'pil' or 'pt'")
        if sentence is None:
            if prompt is None:
                raise ValueError("give a prompt (or sentence vectors)")
            prompts: list[str | None] = [prompt] if isinstance(prompt, str) else list(prompt)
            if not prompts:
                raise ValueError("the prompt list is empty")
            for number, p in enumerate(prompts, 1):
                check_prompt(p, number)
            sentence = self.encode(prompts)  # type: ignore[arg-type]
        else:
            if prompt is not None:
                raise ValueError("give either prompts or sentence vectors, not both")
            sentence = torch.as_tensor(sentence, dtype=torch.float32)
            if sentence.ndim == 1:
                sentence = sentence[None]
            prompts = [None] * sentence.shape[0]
        if noise is not None:
            noise = torch.as_tensor(noise, dtype=torch.float32)
            if noise.ndim == 1:
                noise = noise[None]
            per_prompt = noise.shape[0]
            used_seeds: list[int] = [-1] * per_prompt
        else:
            if seeds is None:
                if num_images < 1:
                    raise ValueError("num_images must be at least 1")
                if seed is None:
                    seed = random.SystemRandom().randrange(0, 2**31)
                seeds = [seed + k for k in range(num_images)]
            used_seeds = [int(s) for s in seeds]
            if not used_seeds:
                raise ValueError("seeds is empty")
            per_prompt = len(used_seeds)
            noise = noise_from_seeds(used_seeds, self.z_dim, truncation)
        n_prompts = sentence.shape[0]
        z = noise.repeat(n_prompts, 1)
        s = sentence.to(z.device).repeat_interleave(per_prompt, dim=0)
        images = self.synthesize(z, s, batch_size=batch_size).clamp(-1, 1)
        all_seeds = used_seeds * n_prompts
        all_prompts = [p for p in prompts for _ in range(per_prompt)]
        return GALIPOutput(images=to_pil(images) if output_type == "pil" else images, seeds=all_seeds, prompts=all_prompts)

    __call__ = generate

    def describe(self) -> dict[str, Any]:
        """Architecture, parameter counts and training metadata, for ``info`` and the app."""
        clip = self.clip
        return {
            "image_size": self.image_size,
            "z_dim": self.z_dim,
            "clip": {
                "name": clip.config.name if clip.config.arch is None else "custom",
                "width": clip.width,
                "depth": clip.depth,
                "grid": list(clip.grid_size),
                "image_size": list(clip.image_size),
                "sentence_dim": clip.embed_dim,
                "tap_layers": list(clip.tap_layers),
                "prompt_layers": list(clip.prompt_layers),
                "preprocess": clip.config.preprocess,
                "weights": clip.config.pretrained or "stored with the checkpoint",
            },
            "parameters": self.model.parameter_counts(),
            "device": str(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
            "inference": "reference" if self.fast_options is None else self.fast_options.describe(),
            "training": self.metadata.get("training", {}),
            "path": self.metadata.get("path"),
        }

