"""The fast BitLinear (shared int8 quantisation, int8 matmul) equals runbit.c's arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from benchmarks.naive import notebook_bitlinear
from hypothesis import given, settings
from hypothesis import strategies as st

from capgym.models import load_model
from capgym.models.bitllama import BitLinear, quantize, reference_bitlinear, round_to_int8


def _c_round(v: torch.Tensor) -> torch.Tensor:
    """runbit.c's rounding, op by op: sign(v) * floor(|v| + 0.5) in float32."""
    return torch.sign(v) * torch.floor(v.abs() + 0.5)


def test_rounding_matches_c_on_ties_and_the_float32_quirk() -> None:
    below_half = np.nextafter(np.float32(0.5), np.float32(0))  # |v| + 0.5 rounds up to 1
    values = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -126.5, 127.0, -127.0,
              float(below_half), -float(below_half), 0.25, -0.75, 127.00001, -127.00001]  # fmt: skip
    v = torch.tensor(values, dtype=torch.float32)
    expected = _c_round(v.clone())
    assert round_to_int8(v.clone()).tolist() == expected.to(torch.int8).tolist()
    assert expected[12].item() == 1.0  # the quirk is really exercised


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 5),
    n_in=st.sampled_from([4, 8, 24, 64]),
    n_out=st.sampled_from([2, 8, 16]),
    seed=st.integers(0, 2**31 - 1),
    spread=st.sampled_from([1e-3, 1.0, 1e3]),
)
def test_bitlinear_bit_identical_to_reference(
    rows: int, n_in: int, n_out: int, seed: int, spread: float
) -> None:
    g = torch.Generator().manual_seed(seed)
    layer = BitLinear(n_in, n_out)
    with torch.no_grad():
        layer.codes.copy_(torch.randint(-1, 2, (n_out, n_in), generator=g).float())
        layer.scale.fill_(0.37)
    x = torch.randn(2, rows, n_in, generator=g) * spread
    with torch.no_grad():
        fast = layer(x)
        shared = layer(quantize(x))
    ref = reference_bitlinear(x, layer.codes, layer.scale)
    assert fast.shape == ref.shape == (2, rows, n_out)
    assert torch.equal(fast, ref) and torch.equal(shared, ref)


def test_int8_codes_follow_in_place_edits() -> None:
    layer = BitLinear(4, 1)
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    with torch.no_grad():
        layer.codes.fill_(1.0)
        first = layer(x)
        layer.codes.fill_(-1.0)
        second = layer(x)
    assert torch.equal(first, -second)


@pytest.mark.parametrize("name", ["bitllama-1M", "bitllama-3M"])
def test_real_model_logits_bit_identical_to_reference_path(name: str) -> None:
    model = load_model(name)
    ids = torch.tensor([model.encode('Once upon a time, Tom said "Hi!" to his mom.').ids] * 2)
    with torch.no_grad():
        fast = model.forward(ids)
        with notebook_bitlinear():  # every BitLinear runs reference_bitlinear
            slow = model.forward(ids)
        again = model.forward(ids)
    assert torch.equal(fast, slow)
    assert torch.equal(fast, again)
    assert isinstance(vars(BitLinear)["prepare"], staticmethod)  # restored as it was


def test_gradients_flow_through_the_reference_path() -> None:
    layer = BitLinear(8, 4)
    with torch.no_grad():
        layer.codes.copy_(torch.randint(-1, 2, (4, 8)).float())
    x = torch.randn(3, 8, requires_grad=True)
    out = layer(x)
    out.sum().backward()
    assert x.grad is not None
    with torch.no_grad():
        assert torch.equal(out, layer(x))


def test_float_fallback_where_int8_matmul_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import capgym.models.bitllama as bl

    layer = BitLinear(8, 4)
    with torch.no_grad():
        layer.codes.copy_(torch.randint(-1, 2, (4, 8)).float())
        x = torch.randn(5, 8)
        fast = layer(x)

        def refuse(*_: object) -> torch.Tensor:
            raise RuntimeError("_int_mm: not implemented for this CPU")

        monkeypatch.setattr(torch, "_int_mm", refuse)
        monkeypatch.setattr(bl, "_INT_MM_OK", [True])
        assert torch.equal(layer(x), fast)
        assert bl._INT_MM_OK == [False]
