"""Experiment: what int8 CLIP linears would add to the fast path (not part of the product).

    python benchmarks/int8_linears.py                            # official 224 px preset, batch 1
    python benchmarks/int8_linears.py --checkpoint checkpoints/galip-emoji-64 --batch-sizes 1 8

At batch 1 the CLIP trunk inside the generator is a stack of GEMMs with only 50 rows (tokens), where
fp32 MKL reaches about 100 GFLOP/s on two AVX2 cores. This script swaps the four linears of every
ViT block in :class:`galip_studio.fast.FastGenerator` for FBGEMM int8 dynamic-quantised ones
(per-output-channel weight scales, per-tensor activation scales computed at run time) and times the
reference, the fast path and the fast path with int8 linears, alternating in one process, with the
PSNR of each against the fp32 reference (as ``benchmarks/generate.py --compare`` does).

It is an experiment, not an option of the fast path: the quantised ops live in ``torch.ao``, which
PyTorch has deprecated, and int8 error on pretrained CLIPs (whose activations have outlier channels)
cannot be checked against the official weights on these offline machines.
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from generate import alternate, inputs, perturb_affines, psnr, relative_error  # benchmarks/generate.py
from galip_studio.fast import FastGenerator, tune_cpu_allocator
from galip_studio.pipeline import GALIPPipeline


class Int8ClipFastGenerator(FastGenerator):
    """The fast path with the ViT blocks' linears as int8 dynamic-quantised GEMMs."""

    def _packed(self, module: nn.Module, weight: str, bias: str) -> torch.Tensor:
        def make() -> torch.Tensor:
            w = getattr(module, weight).detach().float()
            scale = (w.abs().amax(dim=1).clamp_min(1e-12) / 127).double()
            zero = torch.zeros(w.shape[0], dtype=torch.long)
            qw = torch.quantize_per_channel(w, scale, zero, 0, torch.qint8)
            return torch.ops.quantized.linear_prepack(qw, getattr(module, bias).detach().float())

        return self._derive(module, f"int8 {weight}", make)

    def _qlinear(self, x: torch.Tensor, module: nn.Module, weight: str = "weight", bias: str = "bias") -> torch.Tensor:
        y = torch.ops.quantized.linear_dynamic(x.reshape(-1, x.shape[-1]).contiguous(), self._packed(module, weight, bias), True)
        return y.view(*x.shape[:-1], y.shape[-1])

    def _vit_block(self, i: int, x: torch.Tensor) -> torch.Tensor:
        blk = self.clip.blocks[i]
        attn, mlp = blk.attn, blk.mlp
        b, n, width = x.shape
        heads = attn.num_heads
        h = F.layer_norm(x, blk.ln_1.normalized_shape, blk.ln_1.weight, blk.ln_1.bias, blk.ln_1.eps)
        q, k, v = self._qlinear(h, attn, "in_proj_weight", "in_proj_bias").view(b, n, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, width)
        x = x + blk.ls_1(self._qlinear(a, attn.out_proj))
        h = F.layer_norm(x, blk.ln_2.normalized_shape, blk.ln_2.weight, blk.ln_2.bias, blk.ln_2.eps)
        return x + blk.ls_2(self._qlinear(mlp.gelu(self._qlinear(h, mlp.c_fc)), mlp.c_proj))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="official-224")
    ap.add_argument("--checkpoint", default=None, help="a trained checkpoint instead of a random-weight preset")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*quantize_per.*deprecated.*")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.checkpoint:
        pipe = GALIPPipeline.from_pretrained(args.checkpoint, device="cpu", fast=False)
        what = args.checkpoint
    else:
        pipe = GALIPPipeline.from_preset(args.preset, seed=0, device="cpu")
        perturb_affines(pipe)
        what = f"preset {args.preset} (random weights)"
    tune_cpu_allocator()
    g = pipe.generator
    fast, int8 = FastGenerator(g), Int8ClipFastGenerator(g)
    print(f"model: {what}, {pipe.model.config.img_size} px, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'batch':>5}  {'path':<22} {'median ms/img':>13} {'vs ref':>7} {'PSNR dB':>8} {'rel.err':>8}")
    with torch.inference_mode():
        for b in args.batch_sizes:
            z, s = inputs(pipe, b)
            reference = g(z, s).float()
            paths = {"reference": lambda z=z, s=s: g(z, s), "fast": lambda z=z, s=s: fast(z, s), "fast + int8 linears": lambda z=z, s=s: int8(z, s)}
            quality = {name: (psnr(f(), reference), relative_error(f(), reference)) for name, f in paths.items() if name != "reference"}
            times = alternate(paths, args.repeats, pipe.device)
            ref = statistics.median(times["reference"][1:])
            for name, t in times.items():
                med = statistics.median(t[1:])
                q = f"{quality[name][0]:8.1f} {quality[name][1]:8.1e}" if name in quality else ""
                print(f"{b:>5}  {name:<22} {med / b * 1000:>13.1f} {med / ref:>7.3f} {q}")


if __name__ == "__main__":
    main()
