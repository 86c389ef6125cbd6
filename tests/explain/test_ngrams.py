"""N-gram explainers against hand-computed counts and a naive reference."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from capgym.explain.ngrams import NONE, NgramReference, NgramTable
from capgym.explain.sequences import PAD, START, Sequences

REF = [[5, 6, 7], [5, 6, 8], [5, 6, 7], [9]]


def test_hand_counts() -> None:
    ref = NgramReference.fit(REF, min_count=2)
    uni, bi, tri = ref.tables[1], ref.tables[2], ref.tables[3]
    # unigram counts: 5:3, 6:3, 7:2, 8:1, 9:1 -> a tie between 5 and 6: no prediction
    assert len(uni.keys) == 0
    # bigram: START->5 (3 of 4), 5->6 (3), 6->7 (2 of 3); 7, 8, 9 never followed
    ctx = np.array([[START], [5], [6], [7]])
    assert bi.lookup(ctx).tolist() == [5, 6, 7, NONE]
    # trigram: (PAD, START)->5, (START, 5)->6, (5, 6)->7
    ctx3 = np.array([[PAD, START], [START, 5], [5, 6], [6, 7]])
    assert tri.lookup(ctx3).tolist() == [5, 6, 7, NONE]
    assert tri.total.tolist() == [4, 3, 3]  # how often each context occurred
    assert tri.best_count.tolist() == [3, 3, 2]


def test_min_count_and_unique_unigram() -> None:
    ref = NgramReference.fit([[1, 2, 2], [2]], min_count=4)
    assert ref.tables[1].lookup(np.zeros((1, 0), np.int64)).tolist() == [2]  # 2 seen 3x of 4
    assert len(ref.tables[2].keys) == 0  # no context seen 4 times


def test_fires_on_scored_story() -> None:
    ref = NgramReference.fit(REF, min_count=1)
    seqs = Sequences.from_lists([[5, 6, 8, 7]])
    at = seqs.targets
    hits = ref.hits(seqs, at)
    # positions: 5 (bigram START->5, trigram), 6 (5->6), 8 (6->7 predicted: miss), 7 (8->? none)
    assert hits["bigram"].tolist() == [True, True, False, False]
    assert hits["trigram"].tolist() == [True, True, False, False]
    assert hits["unigram"].tolist() == [False, False, False, False]


def naive_predictions(seqs: list[list[int]], n: int, min_count: int) -> dict[tuple, int]:
    counts: dict[tuple, Counter[int]] = {}
    for s in seqs:
        full = [PAD] * (n - 1) + [START] + s
        for i in range(n, len(full)):
            ctx = tuple(full[i - n + 1 : i])
            counts.setdefault(ctx, Counter())[full[i]] += 1
    out = {}
    for ctx, c in counts.items():
        top = c.most_common()
        if sum(c.values()) >= min_count and (len(top) == 1 or top[0][1] > top[1][1]):
            out[ctx] = top[0][0]
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 4), min_size=0, max_size=12), min_size=1, max_size=6),
    st.integers(1, 3),
    st.integers(1, 3),
)
def test_matches_naive(seqs: list[list[int]], n: int, min_count: int) -> None:
    table = NgramTable.fit(Sequences.from_lists(seqs), n, min_count)
    expected = naive_predictions(seqs, n, min_count)
    assert len(table.keys) == len(expected)
    if expected:
        ctxs = np.array(list(expected), dtype=np.int64).reshape(len(expected), n - 1)
        assert table.lookup(ctxs).tolist() == list(expected.values())
