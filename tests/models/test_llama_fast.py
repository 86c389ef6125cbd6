"""The Llama's fused operations against the formulas they replace (llama2.c's model.py)."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from capgym.models.llama import RMSNorm, apply_rope, rope_reference, rope_tables


@given(
    t=st.integers(1, 40),
    heads=st.integers(1, 4),
    width=st.sampled_from([2, 8, 16, 32, 64]),
    scale=st.sampled_from([1e-3, 1.0, 50.0]),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=30, deadline=None)
def test_rope_equals_the_real_formula(
    t: int, heads: int, width: int, scale: float, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    cos, sin = rope_tables(width, 64, 10000.0)
    x = torch.randn(2, t, heads, width, generator=g) * scale
    got, want = apply_rope(x, cos[:t], sin[:t]), rope_reference(x, cos[:t], sin[:t])
    assert got.dtype == x.dtype and got.shape == x.shape
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6 * scale)
    x64 = x.double()
    torch.testing.assert_close(
        apply_rope(x64, cos[:t], sin[:t]), rope_reference(x64, cos[:t], sin[:t]),
        rtol=1e-12, atol=1e-12 * scale,
    )  # fmt: skip


def test_rope_keeps_reduced_precision_and_gradients() -> None:
    cos, sin = rope_tables(8, 16, 10000.0)
    x = torch.randn(1, 5, 2, 8, requires_grad=True)
    apply_rope(x, cos[:5], sin[:5]).square().sum().backward()
    y = x.detach().clone().requires_grad_()
    rope_reference(y, cos[:5], sin[:5]).square().sum().backward()
    torch.testing.assert_close(x.grad, y.grad)
    assert apply_rope(x.detach().bfloat16(), cos[:5], sin[:5]).dtype == torch.bfloat16


@given(dim=st.sampled_from([16, 64, 128, 288, 768]), seed=st.integers(0, 2**16))
@settings(max_examples=20, deadline=None)
def test_rmsnorm_is_bit_identical_to_the_formula(dim: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    norm = RMSNorm(dim)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(dim, generator=g))
    x = torch.randn(3, 7, dim, generator=g) * 4
    formula = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps) * norm.weight
    assert torch.equal(norm(x), formula)
