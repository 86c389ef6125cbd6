"""Align two tokenizations of one text by character spans.

Two models compare fairly on a stretch of text when both predicted exactly that
stretch: the sum of a model's token log-probabilities over it is the log-probability
of the stretch given the same text before it.  The stretches are the pieces between
boundaries that both tokenizations share.  With one tokenizer every token is its own
stretch, so the comparison is token by token.

A token with an empty span (the continuation bytes of a character) belongs with the
token before it; a leading one belongs with the token after it.

>>> [(s.char_start, s.char_end, s.a, s.b) for s in align([(0, 2), (2, 3)], [(0, 1), (1, 2), (2, 3)])]
[(0, 2, (0,), (0, 1)), (2, 3, (1,), (2,))]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    """A stretch ``[char_start, char_end)`` and the indices of the tokens of each side in it."""

    char_start: int
    char_end: int
    a: tuple[int, ...]
    b: tuple[int, ...]


def units(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int, list[int]]]:
    """Group tokens into units that start at a character boundary: ``(start, end, indices)``.

    >>> units([(0, 0), (0, 2), (2, 3), (3, 3)])
    [(0, 2, [0, 1]), (2, 3, [2, 3])]
    """
    out: list[tuple[int, int, list[int]]] = []
    pending: list[int] = []  # leading empty tokens, waiting for the first real one
    for i, (a, b) in enumerate(spans):
        if b > a:
            out.append((a, b, pending + [i]))
            pending = []
        elif out:
            s, e, idx = out[-1]
            out[-1] = (s, max(e, b), idx + [i])
        else:
            pending.append(i)
    if pending:  # only empty tokens
        out.append((spans[pending[0]][0], spans[pending[-1]][1], pending))
    return out


def align(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]]) -> list[Segment]:
    """Segments over the boundaries shared by the spans ``a`` and ``b`` (in token order)."""
    ua, ub = units(a), units(b)
    if not ua or not ub:
        return []
    bounds_a = {s for s, _, _ in ua} | {ua[-1][1]}
    bounds_b = {s for s, _, _ in ub} | {ub[-1][1]}
    common = sorted(bounds_a & bounds_b)
    segs: list[Segment] = []
    ia = ib = 0
    for lo, hi in itertools.pairwise(common):
        ta: list[int] = []
        tb: list[int] = []
        while ia < len(ua) and ua[ia][0] < hi:
            ta += ua[ia][2]
            ia += 1
        while ib < len(ub) and ub[ib][0] < hi:
            tb += ub[ib][2]
            ib += 1
        segs.append(Segment(lo, hi, tuple(ta), tuple(tb)))
    return segs
