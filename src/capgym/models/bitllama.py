"""bitllama2.c "ak42" v1 checkpoints: a Llama whose projections are BitNet-b1.58 layers.

Every projection is a :class:`BitLinear`: it normalises its input without learned
weights as ``x / (rms(x) * n)``, quantises it per token to int8 with absmax scaling,
multiplies by ternary weights and rescales — exactly the float32 arithmetic of
bitllama2.c's ``runbit.c`` (rounding half away from zero, like C's ``round``).  The
blocks have no learned norms; the final RMSNorm and the tied classifier are ordinary.

>>> import torch
>>> layer = BitLinear(4, 2)
>>> layer.codes.copy_(torch.tensor([[1., 0., -1., 1.], [0., 1., 1., -1.]]))
Parameter containing:
tensor([[ 1.,  0., -1.,  1.],
        [ 0.,  1.,  1., -1.]])
>>> layer(torch.tensor([[0.5, -1.0, 0.25, 2.0]])).shape
torch.Size([1, 2])
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from capgym.models.llama import Llama
from capgym.models.llama2c import Header

# code 01 = +1, 11 = -1, 00 = 0 (10 is unused)
_TERNARY = np.array([0.0, 1.0, 0.0, -1.0], dtype=np.float32)


class Int8Input(NamedTuple):
    """An activation quantised once, shared by the BitLinear layers that read it.

    ``q`` holds the int8 codes ``[rows, n]``, ``act_scale`` the float32 per-row scale
    ``[rows, 1]`` and ``lead`` the leading shape to restore (``x.shape[:-1]``).
    """

    q: torch.Tensor
    act_scale: torch.Tensor
    lead: tuple[int, ...]


_HALF = torch.tensor(0.5)


def quantize(x: torch.Tensor) -> Int8Input:
    """runbit.c's input quantisation with the fewest passes over ``x``.

    Bit for bit the same numbers as :func:`reference_bitlinear`: the same float32
    products in the same order; ``amax(|x|)`` as ``max(max, -min)``; rounding half
    away from zero as ``trunc(v + copysign(0.5, v))`` (the sum has the magnitude of
    ``|v| + 0.5``, so it rounds identically) with the truncation done by the cast to
    int8; no clamp, because ``|v| <= 127 * (1 + 2 ulp)`` always rounds into [-127, 127].

    >>> quantize(torch.tensor([[0.5, -1.0, 0.25, 2.0]])).q.tolist()
    [[32, -64, 16, 127]]
    """
    x = x.to(torch.promote_types(x.dtype, torch.float32))
    lead = tuple(x.shape[:-1])
    x = x.reshape(-1, x.shape[-1])
    n = x.shape[-1]
    norm = (1.0 / torch.sqrt(x.pow(2).mean(-1, keepdim=True))) / n
    v = x * norm
    lo, hi = v.amin(-1, keepdim=True), v.amax(-1, keepdim=True)  # 7x faster than aminmax
    act_scale = torch.maximum(hi, -lo) / 127.0
    return Int8Input(round_to_int8(v.mul_(1.0 / act_scale)), act_scale, lead)


def round_to_int8(v: torch.Tensor) -> torch.Tensor:
    """C's ``(int8) (sign(v) * floor(|v| + 0.5))`` for |v| < 127.5, overwriting ``v``.

    >>> round_to_int8(torch.tensor([2.5, -2.5, 0.49999997, -1.2])).tolist()
    [3, -3, 1, -1]
    """
    v.add_(torch.copysign(_HALF.to(v.device), v))
    return v.to(torch.int8)  # the cast truncates toward zero


def reference_bitlinear(x: torch.Tensor, codes: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """runbit.c's BitLinear written out op by op: the exact arithmetic, slowly.

    The fast path (:class:`BitLinear`) must give these numbers bit for bit; tests and
    the notebook baseline of ``benchmarks/`` use this one.
    """
    x = x.to(torch.promote_types(x.dtype, torch.float32))
    n = x.shape[-1]
    # runbit.c: s = 1/sqrt(mean(x^2)); s /= n; x * s (no epsilon)
    norm = (1.0 / torch.sqrt(x.pow(2).mean(-1, keepdim=True))) / n
    x = x * norm
    act_scale = x.abs().amax(-1, keepdim=True) / 127.0
    v = x * (1.0 / act_scale)
    q = torch.clamp(torch.sign(v) * torch.floor(v.abs() + 0.5), -128, 127)
    # integer-valued products and sums stay exact in float32 (|sum| < 2**24), not in bf16
    with torch.autocast(x.device.type, enabled=False):
        return (q @ codes.t().to(q.dtype)) * (scale * act_scale)


_INT_MM_OK = [True]  # False once this torch build has refused a CPU int8 matmul


def _int8_product(q: torch.Tensor, codes_t: Callable[[], torch.Tensor]) -> torch.Tensor | None:
    """``q @ codes^T`` as exact int32 sums in float32, or None where int8 matmul is missing."""
    if _INT_MM_OK[0]:
        try:
            return torch._int_mm(q, codes_t()).float()
        except (RuntimeError, NotImplementedError, AttributeError):
            _INT_MM_OK[0] = False  # e.g. a CPU build without it: use the float path
    return None


def _needs_grad(x: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and x.requires_grad


class BitLinear(nn.Module):
    """y = (quant8(x / (rms(x) n)) @ codes^T) * scale * act_scale, without bias.

    ``forward`` takes a float tensor or an :class:`Int8Input` from :meth:`prepare`,
    so that layers reading the same input (q/k/v, w1/w3) quantise it once.  On CPU
    the integer product runs as an int8 matmul; its int32 sums are exact, so the
    result equals the float32 product of :func:`reference_bitlinear` exactly.
    """

    scale: torch.Tensor

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.codes = nn.Parameter(torch.zeros(n_out, n_in), requires_grad=False)
        self.register_buffer("scale", torch.ones(()))
        self._int8: tuple[tuple[int, int, torch.device], torch.Tensor] | None = None

    @staticmethod
    def prepare(x: torch.Tensor) -> torch.Tensor | Int8Input:
        """The quantised input, or ``x`` itself when autograd must see the graph."""
        return x if _needs_grad(x) else quantize(x)

    def _codes_int8(self) -> torch.Tensor:
        """``codes^T`` as int8, rebuilt when the codes are replaced or edited in place."""
        key = (self.codes.data_ptr(), self.codes._version, self.codes.device)
        if self._int8 is None or self._int8[0] != key:
            self._int8 = (key, self.codes.detach().t().to(torch.int8).contiguous())
        return self._int8[1]

    def forward(self, x: torch.Tensor | Int8Input) -> torch.Tensor:
        if not isinstance(x, Int8Input) and _needs_grad(x):  # gradients flow via act_scale
            return reference_bitlinear(x, self.codes, self.scale)
        h = x if isinstance(x, Int8Input) else quantize(x)
        acc = _int8_product(h.q, self._codes_int8) if h.q.device.type == "cpu" else None
        if acc is None:  # float products and sums of small integers are exact too
            with torch.autocast(h.q.device.type, enabled=False):
                acc = h.q.float() @ self.codes.t()
        out = acc.mul_(self.scale * h.act_scale)
        return out.reshape(*h.lead, out.shape[-1])


def unpack_ternary(packed: np.ndarray, n_out: int, n_in: int) -> np.ndarray:
    """Ternary codes ``[n_out, n_in]`` from bytes holding 4 weights, high bits first.

    >>> unpack_ternary(np.array([0b01_11_00_01], dtype=np.uint8), 1, 4).tolist()
    [[1.0, -1.0, 0.0, 1.0]]
    """
    shifts = np.array([6, 4, 2, 0], dtype=np.uint8)
    pairs = (packed[:, None] >> shifts) & 0b11
    return _TERNARY[pairs.reshape(-1)[: n_out * n_in]].reshape(n_out, n_in)


def build_bitllama(path: Path, header: Header) -> Llama:
    """The :class:`Llama` of a bitllama2.c checkpoint whose header was validated."""
    cfg = header.cfg
    raw = np.fromfile(path, dtype=np.uint8, offset=header.offset)
    module = Llama(cfg, linear=BitLinear, block_norms=False)
    pos = 0

    def floats(n: int) -> np.ndarray:
        nonlocal pos
        out = raw[pos : pos + 4 * n].view("<f4").astype(np.float32)
        pos += 4 * n
        return out

    d, h, kv = cfg.dim, cfg.hidden_dim, cfg.kv_dim
    with torch.no_grad():
        module.norm.weight.copy_(torch.from_numpy(floats(d)))
        module.tok_embeddings.weight.copy_(
            torch.from_numpy(floats(cfg.vocab_size * d).reshape(-1, d))
        )
        shapes = {"wq": (d, d), "wk": (kv, d), "wv": (kv, d), "wo": (d, d),
                  "w1": (h, d), "w2": (d, h), "w3": (h, d)}  # fmt: skip
        for name, (n_out, n_in) in shapes.items():
            for layer in module.layers:
                parent = layer.attention if name in ("wq", "wk", "wv", "wo") else layer.feed_forward
                lin = getattr(parent, name)
                lin.scale.fill_(float(floats(1)[0]))
                n_bytes = (n_out * n_in + 3) // 4
                lin.codes.copy_(
                    torch.from_numpy(unpack_ternary(raw[pos : pos + n_bytes], n_out, n_in))
                )
                pos += n_bytes
    return module
