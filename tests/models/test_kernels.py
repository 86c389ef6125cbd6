"""The compiled attention kernel: as accurate as torch's float32 attention, each query
independent of its batch, used only inside scoring's trace, and absent without a
compiler or when turned off."""

from __future__ import annotations

import math

import pytest
import torch

from capgym.models import kernels, load_model
from capgym.models.llama import Llama, LlamaConfig, kernel_attention
from capgym.models.threads import torch_threads

needs_kernel = pytest.mark.skipif(not kernels.usable(8), reason="no C compiler or AVX2 here")


@pytest.fixture(autouse=True)
def one_thread():
    """The kernel runs where a call has one torch thread (as capgym's batch workers do)."""
    with torch_threads(1):
        yield


def _attention64(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal grouped-query attention in float64, written out (not torch's kernel)."""
    q, k, v = q.double(), k.double(), v.double()
    b, t, h, d = q.shape
    group = h // k.shape[2]
    out = torch.empty(b, t, h, d, dtype=torch.float64)
    for head in range(h):
        kh, vh = k[:, :, head // group], v[:, :, head // group]  # [B, T, D]
        s = q[:, :, head] @ kh.transpose(1, 2) / math.sqrt(d)  # [B, Tq, Tk]
        s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), -math.inf)
        p = torch.exp(s - s.amax(-1, keepdim=True))
        out[:, :, head] = (p / p.sum(-1, keepdim=True)) @ vh
    return out


@needs_kernel
@pytest.mark.parametrize(
    "b,t,h,g,scale",
    [(1, 1, 8, 4, 1.0), (2, 7, 8, 4, 1.0), (3, 64, 8, 8, 1.0), (2, 129, 6, 2, 1.0),
     (1, 512, 8, 4, 1.0), (2, 40, 4, 1, 4.0), (1, 33, 8, 4, 12.0)],
)  # fmt: skip
def test_kernel_is_as_accurate_as_torch_against_float64(b, t, h, g, scale) -> None:
    gen = torch.Generator().manual_seed(t)
    q, k, v = (torch.randn(b, t, n, 8, generator=gen) * scale for n in (h, g, g))
    exact = _attention64(q, k, v)
    ours = (kernels.causal_attention(q, k, v) - exact).abs().max().item()
    theirs = (kernels.reference(q, k, v) - exact).abs().max().item()
    assert ours <= 2 * theirs + 1e-6, (ours, theirs)
    assert ours <= 1e-6 * scale**2 * max(1.0, exact.abs().max().item())


@needs_kernel
def test_a_query_does_not_depend_on_its_batch_or_padding() -> None:
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 50, n, 8, generator=gen) for n in (8, 4, 4))
    batch = kernels.causal_attention(q, k, v)
    for row, n in ((0, 50), (1, 23), (2, 9)):  # a shorter story alone, unpadded
        alone = kernels.causal_attention(q[row : row + 1, :n], k[row : row + 1, :n],
                                         v[row : row + 1, :n])  # fmt: skip
        assert torch.equal(alone[0], batch[row, :n])


@needs_kernel
def test_kernel_attention_is_scoped_and_keeps_the_model_s_logits() -> None:
    cfg = LlamaConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=40,
                      hidden_dim=48, max_seq_len=32)  # fmt: skip
    torch.manual_seed(0)
    model = Llama(cfg).eval()
    ids = torch.randint(0, 40, (3, 32), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        plain = model(ids)
        with kernel_attention(model) as on:
            fused = model(ids)
        assert on and not any(getattr(m, "kernel", False) for m in model.modules())
        assert torch.equal(model(ids), plain)
    assert not torch.equal(fused, plain)  # another order of sums: not the same bits
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-6)  # float32 rounding


def test_other_head_widths_keep_torch_s_attention() -> None:
    cfg = LlamaConfig(dim=64, n_layers=1, n_heads=4, n_kv_heads=4, vocab_size=16,
                      hidden_dim=32, max_seq_len=8)  # fmt: skip
    with kernel_attention(Llama(cfg)) as on:  # heads 16 wide
        assert not on


@needs_kernel
def test_scoring_trace_runs_the_kernel_and_hooks_never_see_it(assets) -> None:
    lm = load_model("stories260K")
    trace = lm.traced_forward()
    assert trace is not None
    graph = str(trace.graph)  # type: ignore[attr-defined]
    assert graph.count("capgym::causal_attention_w8") == lm.module.cfg.n_layers
    assert not any(getattr(m, "kernel", False) for m in lm.module.modules())


def test_no_kernel_without_a_compiler_or_when_turned_off(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CAPGYM_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    kernels._library.cache_clear()
    try:
        assert kernels.library() is None and not kernels.usable(8)
        assert not list(tmp_path.rglob("*.so"))  # nothing half-built left behind
        monkeypatch.delenv("CC")
        monkeypatch.setenv("CAPGYM_KERNEL", "0")
        kernels._library.cache_clear()
        assert not kernels.usable(8)
    finally:
        kernels._library.cache_clear()


@needs_kernel
def test_peaked_softmax_is_exact_and_the_thread_keeps_its_subnormals() -> None:
    # scores about 90 apart: weights near 1e-39, whose products are subnormal floats
    # (flushed to zero inside the kernel only; llama2xs-279K's attention does this)
    gen = torch.Generator().manual_seed(3)
    q = torch.randn(1, 40, 8, 8, generator=gen)
    k, v = torch.randn(1, 40, 4, 8, generator=gen), torch.randn(1, 40, 4, 8, generator=gen)
    q[..., 0], k[..., 0] = 45.0, torch.linspace(-3, 3, 40)[None, :, None]  # spread ~95
    exact = _attention64(q, k, v)
    ours = (kernels.causal_attention(q, k, v) - exact).abs().max().item()
    theirs = (kernels.reference(q, k, v) - exact).abs().max().item()
    assert ours <= 2 * theirs + 1e-6, (ours, theirs)
    tiny = torch.tensor([1e-39]) * torch.tensor([1.0])  # the caller's float mode is restored
    assert tiny.item() != 0.0


@needs_kernel
def test_with_several_torch_threads_a_call_is_torch_s_attention() -> None:
    gen = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(2, 70, n, 8, generator=gen) for n in (8, 4, 4))
    assert not torch.equal(kernels.causal_attention(q, k, v), kernels.reference(q, k, v))
    with torch_threads(2):  # a Ray replica's OpenMP threads: torch splits the call
        assert torch.equal(kernels.causal_attention(q, k, v), kernels.reference(q, k, v))
