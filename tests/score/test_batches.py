"""Chunks, batches and the Arrow table they become."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from capgym.models.batching import batch_plan
from capgym.score.batches import EncodedChunk, make_batch
from capgym.score.windows import plan_windows


def _chunk(lengths: list[int], context: int) -> EncodedChunk:
    ids = [np.arange(100 * s, 100 * s + n, dtype=np.int64) for s, n in enumerate(lengths)]
    spans = [np.stack([np.arange(n), np.arange(n) + 1], 1).astype(np.int32) for n in lengths]
    items = [(s, w) for s, n in enumerate(lengths) for w in plan_windows(n, context)]
    return EncodedChunk(list(range(len(lengths))), ids, spans, items)


@given(st.lists(st.integers(0, 30), min_size=1, max_size=12), st.integers(2, 12),
       st.integers(1, 80))  # fmt: skip
@settings(max_examples=60, deadline=None)
def test_batches_score_every_position_once_from_the_right_row(
    lengths: list[int], context: int, budget: int
) -> None:
    chunk = _chunk(lengths, context)
    seen = []
    for b in batch_plan(chunk.lengths, max(budget, context)):
        batch = make_batch(chunk, b)
        flat = batch.tokens.reshape(-1)
        # the row predicting pos holds the token just before it, in the same window
        assert (flat[batch.rows] == batch.targets - 1).all()
        assert (batch.targets == 100 * batch.story + batch.pos).all()
        assert ((batch.context_len >= 1) & (batch.context_len <= context)).all()
        seen += list(zip(batch.story.tolist(), batch.pos.tolist()))
    expected = [(s, p) for s, n in enumerate(lengths) for p in range(1, n)]
    assert sorted(seen) == expected
