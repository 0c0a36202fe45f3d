"""Experiment: what int8 CLIP linears would add to the fast path (not part of the product).

    python benchmarks/int8_linears.py                            # official 224 px preset, batch 1
    python benchmarks/int8_linears.py --checkpoint checkpoints/galip-emoji-64 --batch-sizes 1 8

At batch 1 the CLIP trunk inside the generator is a stack of GEMMs with only 50 rows (tokens), where
fp32 MKL reaches about 100 GFLOP/s on two AVX2 cores. This script swaps the four linears of every
ViT block in :class:`galip_studio.fast.FastGenerator` (its ``_linear``) for FBGEMM int8 dynamic-quantised ones
(per-output-channel weight scales, per-tensor activation scales computed at run time) and times the
reference, the fast path and the fast path with int8 linears through ``benchmarks/generate.py``'s
``compare`` (alternating in one process, PSNR against the fp32 reference), tuned allocator on.

It is an experiment, not an option of the fast path: the quantised ops live in ``torch.ao``, which
PyTorch has deprecated, and int8 error on pretrained CLIPs (whose activations have outlier channels)
cannot be checked against the official weights on these offline machines.
"""

from __future__ import annotations

import argparse
import warnings

import torch
import torch.nn as nn

from generate import compare, perturb_affines  # benchmarks/generate.py
from galip_studio.device import tune_cpu_allocator
from galip_studio.fast import FastGenerator, auto_options
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

    def _linear(self, x: torch.Tensor, module: nn.Module, weight: str = "weight", bias: str = "bias") -> torch.Tensor:
        y = torch.ops.quantized.linear_dynamic(x.reshape(-1, x.shape[-1]).contiguous(), self._packed(module, weight, bias), True)
        return y.view(*x.shape[:-1], y.shape[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="official-224")
    ap.add_argument("--checkpoint", default=None, help="a trained checkpoint instead of a random-weight preset")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.set_defaults(ablation=False, clock="wall")  # what generate.compare reads
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
    print(f"model: {what}, {pipe.image_size} px, {torch.get_num_threads()} threads, torch {torch.__version__}")
    tune_cpu_allocator()
    options = auto_options(pipe.device).replace(reuse_memory=True)
    compare(pipe, options, args, "tuned allocator", extra={"fast + int8 linears": Int8ClipFastGenerator})


if __name__ == "__main__":
    main()
