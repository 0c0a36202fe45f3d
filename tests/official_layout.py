"""Write files in the official GALIP checkpoint layout (docs/checkpoints.md, "How the import
works"), for import tests.

The official key names are enumerated here from the official code's modules, independently of the importer's table;
values are taken from one of our models through a separate, test-side correspondence.
"""

from __future__ import annotations

import torch

from galip_studio.nets import GALIP

AFFINE_KEYS = [
    f"fuse{f}.affine{a}.fc_{g}.linear{l}.{p}"
    for f in (1, 2) for a in (0, 1) for g in ("gamma", "beta") for l in (1, 2) for p in ("weight", "bias")
]
BLOCK_KEYS = [
    "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
    "ln_1.weight", "ln_1.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
    "ln_2.weight", "ln_2.bias",
]


def official_state(model: GALIP, clip_dtype: torch.dtype = torch.float32, seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """``{'netG': ..., 'netD': ..., 'netC': ...}`` with the official names, holding ``model``'s weights."""
    g = model.generator
    clip = model.clip
    v = clip.model.visual
    gen = torch.Generator().manual_seed(seed)
    netG: dict[str, torch.Tensor] = {}
    netG["fc_code.weight"], netG["fc_code.bias"] = g.bridge.fc_code.weight, g.bridge.fc_code.bias
    netG["mapping.fc_prompt.weight"], netG["mapping.fc_prompt.bias"] = g.prompt_predictor.fc.weight, g.prompt_predictor.fc.bias
    for i, blk in enumerate(g.bridge.fusion_blocks):
        sd = blk.state_dict()
        for k in ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", *AFFINE_KEYS]:
            netG[f"mapping.FBlocks.{i}.{k}"] = sd[k]
    netG["mapping.conv_fuse.weight"], netG["mapping.conv_fuse.bias"] = g.bridge.conv_fuse.weight, g.bridge.conv_fuse.bias
    netG["mapping.conv.weight"], netG["mapping.conv.bias"] = g.bridge.conv_out.weight, g.bridge.conv_out.bias
    trunk = {
        "class_embedding": v.class_embedding, "positional_embedding": v.positional_embedding,
        "conv1.weight": v.conv1.weight, "ln_pre.weight": v.ln_pre.weight, "ln_pre.bias": v.ln_pre.bias,
    }
    for i, blk in enumerate(v.transformer.resblocks):
        sd = blk.state_dict()
        for k in BLOCK_KEYS:
            trunk[f"transformer.resblocks.{i}.{k}"] = sd[k]
    for k, t in trunk.items():
        # as clip.model.convert_weights leaves it on GPU: matrices in fp16, norms/embeddings in fp32
        half = clip_dtype != torch.float32 and t.ndim >= 2 and k != "positional_embedding"
        netG[f"mapping.CLIP_ViT.{k}"] = t.to(clip_dtype) if half else t
    for i, blk in enumerate(g.image_generator.blocks):
        sd = blk.state_dict()
        keys = ["c1.weight", "c1.bias", "c2.weight", "c2.bias", *AFFINE_KEYS]
        if blk.c_sc is not None:
            keys += ["c_sc.weight", "c_sc.bias"]
        for k in keys:
            netG[f"GBlocks.{i}.{k}"] = sd[k]
    netG["to_rgb.1.weight"], netG["to_rgb.1.bias"] = g.image_generator.to_rgb[1].weight, g.image_generator.to_rgb[1].bias

    fe = model.discriminator.feature_extractor
    netD: dict[str, torch.Tensor] = {}
    for i, blk in enumerate(fe.blocks):
        w = blk.conv_r[0].weight.shape[0]
        netD[f"DBlocks.{i}.gamma"], netD[f"DBlocks.{i}.beta"] = blk.gamma, blk.beta
        netD[f"DBlocks.{i}.conv_r.0.weight"], netD[f"DBlocks.{i}.conv_r.2.weight"] = blk.conv_r[0].weight, blk.conv_r[2].weight
        netD[f"DBlocks.{i}.conv_s.weight"] = torch.randn(w, w, 1, 1, generator=gen)  # unused upstream
        netD[f"DBlocks.{i}.conv_s.bias"] = torch.randn(w, generator=gen)
    netD["main.gamma"] = fe.main.gamma
    netD["main.conv_r.0.weight"], netD["main.conv_r.2.weight"] = fe.main.conv_r[0].weight, fe.main.conv_r[2].weight
    netD["main.conv_s.weight"], netD["main.conv_s.bias"] = fe.main.conv_s.weight, fe.main.conv_s.bias
    qa = model.discriminator.quality_assessor
    netC = {"joint_conv.0.weight": qa.joint_conv[0].weight, "joint_conv.2.weight": qa.joint_conv[2].weight}
    detach = lambda d: {k: t.detach().clone() for k, t in d.items()}  # noqa: E731
    return {"netG": detach(netG), "netD": detach(netD), "netC": detach(netC)}


def write_official(path, model: GALIP, *, ddp_prefix: bool = True, clip_dtype=torch.float32, with_optimizers: bool = False):
    nets = official_state(model, clip_dtype)
    if ddp_prefix:
        nets = {n: {f"module.{k}": t for k, t in sd.items()} for n, sd in nets.items()}
    obj = {"model": nets}
    if with_optimizers:
        obj["optimizers"] = {"optimizer_G": {"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.0, 0.9)}]}}
        obj["epoch"] = 100
    torch.save(obj, path)
    return nets
