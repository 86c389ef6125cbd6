"""capgym's attention kernel for 8-wide heads against torch's CPU attention, side by side.

    python benchmarks/attention_kernel.py

One thread, CPU time per call (best of 5 rounds of 20 calls, the two interleaved), on the
shapes stories260K's scoring batches take (8 query heads, 4 key/value heads, width 8);
prints ns per causal query-key pair and the ratio.  torch's kernel is what
``scaled_dot_product_attention`` picks on the CPU (flash attention).
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable

import torch

from capgym.models import kernels
from capgym.models.threads import torch_threads

SHAPES = ((4, 380), (3, 512), (8, 190), (16, 64))  # (batch, tokens)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def per_call(fn: Attend, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> float:
    """Best CPU seconds per call over 5 rounds of 20."""
    best = float("inf")
    for _ in range(5):
        t = _cpu()
        for _ in range(20):
            fn(q, k, v)
        best = min(best, (_cpu() - t) / 20)
    return best


def main() -> int:
    if not kernels.usable(kernels.WIDTH):
        print("the kernel is not usable here (no C compiler, no AVX2, or CAPGYM_KERNEL=0)")
        return 1
    print("| batch x tokens | torch ns/pair | capgym kernel ns/pair | torch / kernel |")
    print("|---|---:|---:|---:|")
    gen = torch.Generator().manual_seed(0)
    with torch_threads(1), torch.inference_mode():
        for b, t in SHAPES:
            q, k, v = (torch.randn(b, t, n, 8, generator=gen) for n in (8, 4, 4))
            pairs = b * 8 * t * (t + 1) / 2
            theirs = per_call(kernels.reference, q, k, v)
            ours = per_call(kernels.causal_attention, q, k, v)
            print(f"| {b} x {t} | {theirs / pairs * 1e9:.2f} | {ours / pairs * 1e9:.2f} | "
                  f"{theirs / ours:.2f}x |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
