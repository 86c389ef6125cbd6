"""Property tests: every tagger keeps its spans inside the story and never crashes."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from capgym.tags import TagContext, registered_taggers
from capgym.tags.doc import find_quotes
from capgym.tags.words import tokenize_words
from tests.tags.conftest import REFERENCE

CTX = TagContext(REFERENCE)
# Story-like text: words and names from the reference, quotes, apostrophes and newlines,
# mixed with arbitrary unicode.
_PIECES = st.sampled_from(
    REFERENCE[0].split()
    + ['"', "“", "”", "'", "’", "\n", "\n\n", ", ", ". ", "! ", "? ", "Mr.", "named", "and"]
)
STORYISH = st.lists(_PIECES | st.text(max_size=4), max_size=60).map(" ".join)
TEXTS = st.text() | STORYISH


@settings(max_examples=150, deadline=None)
@given(TEXTS)
def test_spans_inside_text_and_attrs_json(text: str) -> None:
    for t in registered_taggers():
        for span in t.fn(text, CTX):
            assert 0 <= span.char_start < span.char_end <= len(text), t.name
            json.dumps(dict(span.attrs))


@given(st.text())
def test_tokenize_words_are_ordered_substrings(text: str) -> None:
    prev = 0
    for s, e, w in tokenize_words(text):
        assert prev <= s < e and text[s:e] == w
        prev = e


@given(TEXTS)
def test_quotes_are_ordered_pairs_of_quote_marks(text: str) -> None:
    prev = -1
    for o, c in find_quotes(text):
        assert prev < o < c and text[o] in '"“' and text[c] in '"”'
        assert "\n" not in text[o:c]
        prev = c
