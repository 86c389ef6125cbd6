"""The byte -> character span helper, on arbitrary text split at arbitrary bytes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capgym.models.spans import char_index_of_bytes, char_spans, char_spans_from_pieces


def test_examples() -> None:
    assert char_spans("", []) == []
    assert char_spans("ab", [1, 1]) == [(0, 1), (1, 2)]
    assert char_spans("é", [1, 1]) == [(0, 1), (1, 1)]
    assert char_spans("Once", [3, 2], prefix=1) == [(0, 2), (2, 4)]
    assert char_spans("x", [1, 1], prefix=1) == [(0, 0), (0, 1)]  # a lone dummy space
    assert char_index_of_bytes("a🙂b").tolist() == [0, 1, 2, 2, 2, 2, 3]
    with pytest.raises(ValueError):
        char_spans("abc", [1, 1])
    with pytest.raises(ValueError):
        char_spans_from_pieces("abc", [b"ab", b"d"])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.data())
def test_any_byte_split_gives_covering_spans(text: str, data: st.DataObject) -> None:
    raw = text.encode("utf-8", "surrogatepass")
    cuts = sorted(data.draw(st.sets(st.integers(1, max(len(raw) - 1, 1)), max_size=len(raw))))
    cuts = [c for c in cuts if c < len(raw)]
    bounds = [0, *cuts, len(raw)] if raw else []
    pieces = [raw[a:b] for a, b in itertools.pairwise(bounds)]
    spans = char_spans_from_pieces(text, pieces)
    assert "".join(text[s:e] for s, e in spans) == text
    for (s, e), piece in zip(spans, pieces):
        # a token covers exactly the characters whose first byte it holds
        starts_char = any((b & 0xC0) != 0x80 for b in piece)
        assert (e > s) == starts_char
