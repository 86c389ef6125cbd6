"""Induction and word-repeat explainers on crafted sequences, and against a naive loop."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from capgym.explain.align import words_frame
from capgym.explain.explainers import explain_tokens, token_words
from capgym.explain.incontext import induction_hits, induction_predictions, word_repeat_hits
from capgym.explain.ngrams import NONE
from capgym.explain.sequences import Sequences

A, B, C, X = 10, 11, 12, 13


def test_induction_copies_after_current_token() -> None:
    s = Sequences.from_lists([[A, B, C, A, B]])
    assert induction_hits(s, s.targets, k=1).tolist() == [False, False, False, False, True]


def test_induction_uses_most_recent_occurrence() -> None:
    s = Sequences.from_lists([[A, B, A, C, A, B]])
    # last A: most recent earlier A was followed by C, not B
    assert induction_hits(s, s.targets, k=1).tolist()[-1] is False


def test_long_induction_needs_two_matching_tokens() -> None:
    s = Sequences.from_lists([[A, B, C, X, B, X, A, B, C]])
    long = induction_hits(s, s.targets, k=2).tolist()
    short = induction_hits(s, s.targets, k=1).tolist()
    assert long[-1] is True  # A B -> C seen before
    assert short[-1] is False  # the last B before was followed by X
    assert long[:-1] == [False] * 8


def test_no_copying_across_stories() -> None:
    s = Sequences.from_lists([[A, B], [A, B]])
    assert induction_hits(s, s.targets, k=1).tolist() == [False, False, False, False]


def naive_induction(seq: list[int], k: int) -> list[int]:
    """Predictions over ``[START] + seq``: contexts holding START never match."""
    full = [-1, *seq]
    out = []
    for p in range(len(full)):
        pred = NONE
        ctx = full[p - k : p] if p >= k else None
        if ctx is not None and min(ctx) >= 0:
            for j in range(p - 1, k - 1, -1):
                if full[j - k : j] == ctx:
                    pred = full[j]
                    break
        out.append(pred)
    return out


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 3), max_size=15), min_size=1, max_size=4), st.integers(1, 2)
)
def test_induction_matches_naive(seqs: list[list[int]], k: int) -> None:
    s = Sequences.from_lists(seqs)
    got = induction_predictions(s, k)
    expected = [p for seq in seqs for p in naive_induction(seq, k)]
    assert got.tolist() == expected


def story_tokens(text: str, pieces: list[str], ids: list[int]) -> pd.DataFrame:
    rows, at = [], 0
    for pos, (p, i) in enumerate(zip(pieces, ids), start=1):
        rows.append(("c", 0, pos, i, at, at + len(p)))
        at += len(p)
    assert at == len(text)
    return pd.DataFrame(
        rows, columns=["corpus", "story", "pos", "token_id", "char_start", "char_end"]
    )


def test_word_repeat_is_word_level_and_case_insensitive() -> None:
    text = "The cat. the ca t"  # "ca t" are two words: ca, t
    pieces = ["The", " cat", ".", " the", " ca", " t"]
    toks = story_tokens(text, pieces, [1, 2, 3, 4, 5, 6])
    words = words_frame(pd.DataFrame({"corpus": ["c"], "story": [0], "text": [text]}))
    hits = word_repeat_hits(token_words(toks, words), words)
    assert hits.tolist() == [False, False, False, True, False, False]


def test_word_repeat_fires_on_every_piece_of_a_repeated_word() -> None:
    text = "Lily ran. Lily!"
    pieces = ["Lily", " ran", ".", " Li", "ly", "!"]
    toks = story_tokens(text, pieces, [1, 2, 3, 4, 5, 6])
    rows = explain_tokens(toks, words_frame(pd.DataFrame({"corpus": ["c"], "story": [0],
                                                          "text": [text]})), None)  # fmt: skip
    assert rows[rows.explainer == "word-repeat"].pos.tolist() == [4, 5]
    assert "unigram" not in set(rows.explainer)  # no reference: no n-gram explainers
