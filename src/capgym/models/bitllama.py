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

from pathlib import Path

import numpy as np
import torch
from torch import nn

from capgym.models.llama import Llama
from capgym.models.llama2c import Header

# code 01 = +1, 11 = -1, 00 = 0 (10 is unused)
_TERNARY = np.array([0.0, 1.0, 0.0, -1.0], dtype=np.float32)


class BitLinear(nn.Module):
    """y = (quant8(x / (rms(x) n)) @ codes^T) * scale * act_scale, without bias."""

    scale: torch.Tensor

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.codes = nn.Parameter(torch.zeros(n_out, n_in), requires_grad=False)
        self.register_buffer("scale", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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
            return (q @ self.codes.t().to(q.dtype)) * (self.scale * act_scale)


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
