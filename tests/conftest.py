"""Shared fixtures: tiny random-initialised GALIP models (fast on 2 CPU cores)."""

from __future__ import annotations

import copy

import pytest
import torch

from galip_studio.checkpoint import save_checkpoint
from galip_studio.config import get_preset
from galip_studio.nets import GALIP
from galip_studio.pipeline import GALIPPipeline

torch.set_num_threads(min(2, torch.get_num_threads()))


def make_tiny_model(seed: int = 0) -> GALIP:
    """A tiny GALIP whose affine heads are perturbed so that text and noise visibly matter."""
    preset = get_preset("tiny")
    torch.manual_seed(seed)
    model = GALIP.from_configs(preset.galip, preset.clip)
    with torch.no_grad():
        for name, p in model.generator.named_parameters():
            if "linear2" in name or "gamma" in name or "beta" in name:
                p.add_(torch.randn_like(p) * 0.05)
        for p in model.discriminator.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_model() -> GALIP:
    return make_tiny_model(0)


@pytest.fixture
def tiny_pipeline(tiny_model) -> GALIPPipeline:
    return GALIPPipeline(copy.deepcopy(tiny_model), device="cpu")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_model):
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_checkpoint(tiny_model, path, training={"note": "test"})
    return path


@pytest.fixture(scope="module")
def app_url(tiny_checkpoint, tmp_path_factory):
    """The app as `galip-studio serve --checkpoint TINY --model-dir DIR` starts it (without blocking);
    DIR is the base temporary folder's ``app-models``."""
    from galip_studio.cli import build_parser
    from galip_studio.cli import serve as ui_cli

    model_dir = tmp_path_factory.getbasetemp() / "app-models"
    model_dir.mkdir(exist_ok=True)
    args = build_parser().parse_args(
        ["serve", "--checkpoint", str(tiny_checkpoint), "--device", "cpu", "--model-dir", str(model_dir)]
    )  # the first free port from 7860
    demo, url = ui_cli.serve(args, block=False)
    yield url
    demo.close()
