"""Fused metrics against a plain float64 log-softmax, on small and GPT-2-sized vocabularies."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from capgym.score.metrics import BLOCK_MIN_VOCAB, token_metrics, topk_rows


def _reference(logits: torch.Tensor, targets: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    logp = torch.log_softmax(logits.double(), -1)
    lp = logp.gather(1, targets[:, None]).squeeze(1)
    return {
        "logprob": lp,
        "rank": (logp > lp[:, None]).sum(-1).int(),
        "entropy": -(logp.exp() * logp).sum(-1),
        "topk_ids": logp.topk(k).indices,
        "topk_logprobs": logp.topk(k).values,
    }


@given(
    n=st.integers(0, 40),
    vocab=st.sampled_from([3, 50, 512, BLOCK_MIN_VOCAB + 37, 50257]),
    scale=st.sampled_from([0.01, 1.0, 8.0]),
    shift=st.sampled_from([0.0, 30.0, -50.0]),
    k=st.integers(1, 6),
    slice_rows=st.sampled_from([None, 1, 7]),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=40, deadline=None)
def test_metrics_match_float64_log_softmax(
    n: int, vocab: int, scale: float, shift: float, k: int, slice_rows: int | None, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, vocab, generator=g) * scale + shift
    targets = torch.randint(0, vocab, (n,), generator=g)
    k = min(k, vocab)
    m = token_metrics(logits, targets, k=k, slice_rows=slice_rows)
    ref = _reference(logits, targets, k)
    assert torch.allclose(m.logprob.double(), ref["logprob"], atol=1e-5)
    assert torch.equal(m.rank, ref["rank"])
    assert torch.allclose(m.entropy.double(), ref["entropy"], atol=1e-4)
    # exact float ties (common with tiny scales) may come in any order: compare values
    assert torch.equal(logits.gather(1, m.topk_ids.long()), logits.gather(1, ref["topk_ids"]))
    assert torch.allclose(m.topk_logprobs.double(), ref["topk_logprobs"], atol=1e-5)


def test_rows_select_logits_and_targets_pair_up() -> None:
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(30, 600, generator=g)
    rows = torch.tensor([29, 0, 5, 5, 17])
    targets = torch.tensor([1, 2, 3, 4, 5])
    got = token_metrics(logits, targets, k=3, rows=rows, slice_rows=2)
    ref = _reference(logits[rows], targets, 3)
    assert torch.equal(got.rank, ref["rank"])
    assert torch.equal(got.topk_ids.long(), ref["topk_ids"])


def test_ties_count_in_the_tokens_favour() -> None:
    logits = torch.tensor([[1.0, 3.0, 3.0, 2.0]])
    m = token_metrics(logits, torch.tensor([2]), k=2)
    assert m.rank.tolist() == [0]
    big = torch.zeros(1, 10000)
    big[0, 4321] = 1.0
    assert token_metrics(big, torch.tensor([0]), k=1).rank.tolist() == [1]


@given(seed=st.integers(0, 2**16), peaks=st.integers(1, 8))
@settings(max_examples=25, deadline=None)
def test_block_topk_finds_peaks_in_one_block_and_the_tail(seed: int, peaks: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 50257, generator=g)
    x[0, 64 : 64 + peaks] += 100  # several winners inside one block
    x[1, -peaks:] += 100  # winners in the ragged last block
    x[2, torch.randint(0, 50257, (peaks,), generator=g)] += 100
    v, i = topk_rows(x, 5)
    rv, ri = x.topk(5)
    assert torch.equal(i, ri) and torch.equal(v, rv)


def test_metrics_do_not_depend_on_the_number_of_threads() -> None:
    """A lone row of a big vocabulary is where torch would split a sum across threads."""
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(3, 50257, generator=g) * 4
    targets = torch.tensor([5, 7, 9])
    before = torch.get_num_threads()
    try:
        got = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            got.append(token_metrics(logits, targets, k=5, slice_rows=1))
    finally:
        torch.set_num_threads(before)
    for field in ("logprob", "entropy", "rank", "topk_ids", "topk_logprobs"):
        assert torch.equal(getattr(got[0], field), getattr(got[1], field)), field
