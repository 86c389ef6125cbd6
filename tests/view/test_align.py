"""Alignment of two tokenizations by character spans."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from capgym.render.align import align, units


def spans_of(cuts: list[int], n: int, empties: set[int]) -> list[tuple[int, int]]:
    bounds = sorted({0, n, *[c for c in cuts if 0 < c < n]})
    out: list[tuple[int, int]] = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        out.append((a, b))
        if i in empties:
            out.append((b, b))  # a continuation token
    return out


def test_same_tokenizer_is_token_by_token() -> None:
    s = [(0, 3), (3, 4), (4, 9)]
    segs = align(s, s)
    assert [(g.a, g.b) for g in segs] == [((0,), (0,)), ((1,), (1,)), ((2,), (2,))]


def test_continuation_tokens_stay_with_their_character() -> None:
    a = [(0, 1), (1, 2), (2, 2), (2, 3)]  # "xé" + continuation byte + "y"
    b = [(0, 2), (2, 3)]
    segs = align(a, b)
    assert [(g.char_start, g.char_end, g.a, g.b) for g in segs] == [
        (0, 2, (0, 1, 2), (0,)),
        (2, 3, (3,), (1,)),
    ]


def test_leading_empty_token_joins_the_next() -> None:
    assert units([(0, 0), (0, 1)]) == [(0, 1, [0, 1])]


@given(
    n=st.integers(1, 40),
    ca=st.lists(st.integers(0, 40), max_size=20),
    cb=st.lists(st.integers(0, 40), max_size=20),
    ea=st.sets(st.integers(0, 40), max_size=5),
    eb=st.sets(st.integers(0, 40), max_size=5),
)
def test_every_token_in_exactly_one_segment(
    n: int, ca: list[int], cb: list[int], ea: set[int], eb: set[int]
) -> None:
    a, b = spans_of(ca, n, ea), spans_of(cb, n, eb)
    segs = align(a, b)
    assert sorted(i for g in segs for i in g.a) == list(range(len(a)))
    assert sorted(i for g in segs for i in g.b) == list(range(len(b)))
    assert segs[0].char_start == 0 and segs[-1].char_end == n
    assert all(x.char_end == y.char_start for x, y in itertools.pairwise(segs))
    for g in segs:  # each side covers exactly the segment
        assert min(a[i][0] for i in g.a) == g.char_start == min(b[i][0] for i in g.b)
        assert max(a[i][1] for i in g.a) == g.char_end == max(b[i][1] for i in g.b)
