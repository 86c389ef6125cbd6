"""The machine's own ceiling for a model: FLOPs per token over measured matmul speed.

Every projection of the model (each ``nn.Linear``, the ternary ``BitLinear`` codes,
the unembedding) is a dense ``[tokens, in] x [in, out]`` float32 matmul; attention is
``4 * width * context`` FLOPs per token and layer (scores and weighted values) at the
batched-matmul speed of its head shape.  The roofline time per token is the sum of
each part's FLOPs divided by the FLOP/s ``torch.mm``/``torch.bmm`` reaches *on that
shape* on this machine, so the ceiling is neither flattering nor unreachable.

>>> import torch
>>> parts = matmul_parts(torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Linear(4, 8)))
>>> parts
[(8, 4), (4, 8)]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from capgym.models.base import LanguageModel

TOKENS = 2048  # rows of the measured matmuls: a typical batch


@dataclass(frozen=True)
class Attention:
    """Shape of a model's attention: layers, heads, head width, local window (or None)."""

    layers: int
    heads: int
    head_dim: int
    windows: tuple[int | None, ...]  # per layer: None = global causal


@dataclass(frozen=True)
class Roofline:
    """FLOPs per token and the best tokens/s dense matmuls allow on this machine."""

    flops_per_token: float
    matmul_flops_per_token: float
    attention_flops_per_token: float
    seconds_per_token: float

    @property
    def tokens_per_s(self) -> float:
        return 1.0 / self.seconds_per_token

    @property
    def gflops(self) -> float:
        """The effective matmul GFLOP/s over this model's mix of shapes."""
        return self.flops_per_token / self.seconds_per_token / 1e9


def torch_module(model: LanguageModel) -> nn.Module:
    """The ``nn.Module`` inside a capgym model (llama2.c ``module``, Hugging Face ``model``)."""
    for attr in ("module", "model"):
        m = getattr(model, attr, None)
        if isinstance(m, nn.Module):
            return m
    raise TypeError(f"cannot find the torch module of {type(model).__name__}")


def matmul_parts(module: nn.Module) -> list[tuple[int, int]]:
    """(in, out) of every projection, in module order (tied weights counted per use)."""
    parts = []
    for m in module.modules():
        if isinstance(m, nn.Linear):
            parts.append((m.in_features, m.out_features))
        elif hasattr(m, "codes") and isinstance(m.codes, torch.Tensor):  # BitLinear
            out_f, in_f = m.codes.shape
            parts.append((int(in_f), int(out_f)))
    return parts


def attention_shape(model: LanguageModel) -> Attention:
    """Attention shape from the model's config (llama2.c ``cfg`` or a GPT-Neo config)."""
    module = torch_module(model)
    cfg = getattr(module, "cfg", None)
    if cfg is not None:  # llama2.c
        return Attention(cfg.n_layers, cfg.n_heads, cfg.head_dim, (None,) * cfg.n_layers)
    c = module.config
    kinds = getattr(c, "attention_layers", None) or ["global"] * c.num_layers
    windows = tuple(c.window_size if k == "local" else None for k in kinds)
    return Attention(c.num_layers, c.num_heads, c.hidden_size // c.num_heads, windows)


Clock = Callable[[], float]


def mm_seconds(m: int, k: int, n: int, clock: Clock = time.perf_counter, repeats: int = 5) -> float:
    """Best-of-``repeats`` seconds of ``[m, k] x [k, n]`` in float32."""
    a, b, c = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)
    torch.mm(a, b, out=c)
    return min(_timed(lambda: torch.mm(a, b, out=c), clock) for _ in range(repeats))


def bmm_seconds(
    batch: int, t: int, d: int, clock: Clock = time.perf_counter, repeats: int = 5
) -> float:
    """Best-of seconds of one attention: ``[b, t, d] x [b, d, t]`` then ``[b, t, t] x [b, t, d]``."""
    q, k = torch.randn(batch, t, d), torch.randn(batch, d, t)
    s, o = torch.empty(batch, t, t), torch.empty(batch, t, d)
    v = torch.randn(batch, t, d)

    def run() -> None:
        torch.bmm(q, k, out=s)
        torch.bmm(s, v, out=o)

    run()
    return min(_timed(run, clock) for _ in range(repeats))


def _timed(f: Callable[[], object], clock: Clock, min_s: float = 0.02) -> float:
    """Seconds per call of ``f`` on ``clock``, calling it until ``min_s`` have passed."""
    n, t = 0, clock()
    while True:
        f()
        n += 1
        dt = clock() - t
        if dt >= min_s:
            return dt / n


def roofline(
    model: LanguageModel, context_lens: np.ndarray, clock: Clock = time.perf_counter
) -> Roofline:
    """The ceiling of ``model`` on tokens predicted with these context lengths, timed on
    ``clock`` (``time.process_time`` for CPU seconds) with the current torch threads."""
    parts = matmul_parts(torch_module(model))
    mm_flops, mm_time = 0.0, 0.0
    rates: dict[tuple[int, int], float] = {}
    for k, n in parts:
        if (k, n) not in rates:
            rates[(k, n)] = 2 * TOKENS * k * n / mm_seconds(TOKENS, k, n, clock)
        mm_flops += 2 * k * n
        mm_time += 2 * k * n / rates[(k, n)]
    att = attention_shape(model)
    t = 512
    att_rate = (
        4
        * att.heads
        * t
        * t
        * att.head_dim
        * 4
        / bmm_seconds(4 * att.heads, t, att.head_dim, clock)
    )
    ctx = context_lens.astype(np.float64)
    att_flops = sum(
        4 * att.heads * att.head_dim * float(np.minimum(ctx, w or np.inf).mean())
        for w in att.windows
    )
    seconds = mm_time + att_flops / att_rate
    return Roofline(mm_flops + att_flops, mm_flops, att_flops, seconds)
