"""A small, readable Llama in torch, as in llama2.c's ``model.py`` (nanoGPT style).

RMSNorm (eps 1e-5), rotary embeddings on interleaved pairs (2i, 2i+1) of each head
(theta 10000), grouped-query attention through ``scaled_dot_product_attention`` with a
causal mask, a SwiGLU feed-forward ``w2(silu(w1 x) * w3 x)``, and a classifier that may
share the embedding matrix.  The linear layer is pluggable so that the ternary BitNet
variant (:mod:`capgym.models.bitllama`) reuses everything else.

>>> import torch
>>> cfg = LlamaConfig(dim=16, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=32,
...                   hidden_dim=24, max_seq_len=8)
>>> Llama(cfg)(torch.zeros(1, 5, dtype=torch.long)).shape
torch.Size([1, 5, 32])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from capgym.models import kernels

LinearFactory = Callable[[int, int], nn.Module]


@dataclass(frozen=True)
class LlamaConfig:
    """Shape of a llama2.c model (the seven header ints + whether the classifier is tied)."""

    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    hidden_dim: int
    max_seq_len: int
    tied: bool = True
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.head_dim * self.n_kv_heads


def _linear(n_in: int, n_out: int) -> nn.Module:
    return nn.Linear(n_in, n_out, bias=False)


def shared_input(layer: nn.Module, x: torch.Tensor) -> Any:
    """What the projections reading ``x`` share: ``layer.prepare(x)`` if it has one.

    A :class:`~capgym.models.bitllama.BitLinear` quantises its input; q/k/v (and
    w1/w3) read the same input, so it is quantised once.  ``nn.Linear`` gets ``x``.
    """
    prepare = getattr(layer, "prepare", None)
    return x if prepare is None else prepare(x)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # torch's fused kernel: the same numbers as the three-pass formula on CPU
        # (tested), one pass instead of five on the small dims of these models
        return F.rms_norm(x, self.weight.shape, self.weight, self.eps)


def rope_tables(head_dim: int, max_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin ``[max_len, head_dim // 2]`` (angles computed in float64)."""
    freqs = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(max_len, dtype=torch.float64), freqs)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the pairs (2i, 2i+1) of ``x [B, T, H, D]`` by position-dependent angles.

    One complex multiplication, ``(x_2i + j x_2i+1) * (cos + j sin)``, instead of four real
    products and two sums over strided halves (5x faster on the head widths 8-32 of the
    llama2.c models; equal to :func:`rope_reference` up to float32 rounding).
    """
    dtype = torch.promote_types(x.dtype, torch.float32)
    pairs = torch.view_as_complex(x.to(dtype).unflatten(-1, (-1, 2)).contiguous())
    turn = torch.complex(cos.to(dtype), sin.to(dtype))[:, None, :]
    return torch.view_as_real(pairs * turn).flatten(-2).type_as(x)


def rope_reference(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """:func:`apply_rope` as llama2.c's ``model.py`` writes it, in real arithmetic."""
    dtype = torch.promote_types(x.dtype, torch.float32)
    xr, xi = x.to(dtype).unflatten(-1, (-1, 2)).unbind(-1)
    cos, sin = cos[:, None, :].to(dtype), sin[:, None, :].to(dtype)
    out = torch.stack([xr * cos - xi * sin, xr * sin + xi * cos], dim=-1).flatten(-2)
    return out.type_as(x)


class Attention(nn.Module):
    """Grouped-query causal self-attention; ``kernel`` (off by default, see
    :func:`kernel_attention`) runs it on :mod:`capgym.models.kernels` instead of torch's."""

    kernel = False

    def __init__(self, cfg: LlamaConfig, linear: LinearFactory) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.wq = linear(cfg.dim, cfg.dim)
        self.wk = linear(cfg.dim, cfg.kv_dim)
        self.wv = linear(cfg.dim, cfg.kv_dim)
        self.wo = linear(cfg.dim, cfg.dim)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        x = shared_input(self.wq, x)
        q = apply_rope(self.wq(x).view(b, t, self.n_heads, self.head_dim), cos, sin)
        k = apply_rope(self.wk(x).view(b, t, self.n_kv_heads, self.head_dim), cos, sin)
        v = self.wv(x).view(b, t, self.n_kv_heads, self.head_dim)
        # query head h reads key/value head h // (n_heads // n_kv_heads), as in llama2.c
        attend = kernels.causal_attention if self.kernel else kernels.reference
        return self.wo(attend(q, k, v).reshape(b, t, -1))


class FeedForward(nn.Module):
    def __init__(self, cfg: LlamaConfig, linear: LinearFactory) -> None:
        super().__init__()
        self.w1 = linear(cfg.dim, cfg.hidden_dim)
        self.w2 = linear(cfg.hidden_dim, cfg.dim)
        self.w3 = linear(cfg.dim, cfg.hidden_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = shared_input(self.w1, x)
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, cfg: LlamaConfig, linear: LinearFactory, norms: bool) -> None:
        super().__init__()
        self.attention_norm: nn.Module = RMSNorm(cfg.dim, cfg.norm_eps) if norms else nn.Identity()
        self.attention = Attention(cfg, linear)
        self.ffn_norm: nn.Module = RMSNorm(cfg.dim, cfg.norm_eps) if norms else nn.Identity()
        self.feed_forward = FeedForward(cfg, linear)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), cos, sin)
        return x + self.feed_forward(self.ffn_norm(x))


class Llama(nn.Module):
    """The whole model: ids ``[B, T]`` -> float32 logits ``[B, T, vocab]``.

    ``linear`` builds each projection (default ``nn.Linear`` without bias);
    ``block_norms=False`` drops the per-block RMSNorms (BitLinear normalises itself).
    """

    rope_cos: torch.Tensor
    rope_sin: torch.Tensor

    def __init__(
        self, cfg: LlamaConfig, linear: LinearFactory = _linear, block_norms: bool = True
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg, linear, block_norms) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        if cfg.tied:
            self.output.weight = self.tok_embeddings.weight
        cos, sin = rope_tables(cfg.head_dim, cfg.max_seq_len, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        if t > self.cfg.max_seq_len:
            raise ValueError(
                f"sequence of {t} tokens exceeds the context of {self.cfg.max_seq_len}"
            )
        cos, sin = self.rope_cos[:t], self.rope_sin[:t]
        x = self.tok_embeddings(ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.output(self.norm(x)).float()


@contextmanager
def kernel_attention(module: nn.Module) -> Iterator[bool]:
    """Within the block, ``module``'s attention layers run on the compiled kernel where
    :func:`capgym.models.kernels.usable` allows (yields whether they do); for scoring's
    trace (:meth:`capgym.models.llama2c.LlamaLM.traced_forward`), never while hooks
    read attention's internals.

    >>> cfg = LlamaConfig(dim=16, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=8,
    ...                   hidden_dim=8, max_seq_len=4)
    >>> with kernel_attention(Llama(cfg)) as on:
    ...     on == kernels.usable(8)
    True
    """
    layers = [m for m in module.modules() if isinstance(m, Attention)]
    on = bool(layers) and all(kernels.usable(m.head_dim) for m in layers)
    for m in layers:
        m.kernel = on
    try:
        yield on
    finally:
        for m in layers:
            m.kernel = False
