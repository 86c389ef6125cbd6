"""In-context explainers: copying from earlier in the same story.

* ``induction``: the current token (the one before the target) occurred earlier in the
  story, and its most recent earlier occurrence was followed by the target
  (``A B ... A -> B``).
* ``induction-long``: the same with the last two tokens (``A B C ... A B -> C``): the
  most recent earlier occurrence of the two-token context was followed by the target.
* ``word-repeat``: the target token lies in a word that already occurred (case-
  insensitively) earlier in the story.  Tokens of punctuation or whitespace only are
  never explained by it (they overlap no word).

BOS, padding and unscored positions never match, so the first tokens of a story are
never explained by copying.

>>> from capgym.explain.sequences import Sequences
>>> s = Sequences.from_lists([[7, 8, 9, 7, 8, 4, 7]])
>>> induction_predictions(s, k=1).tolist()  # after the second 7 comes 8, after the second 8 a 9
[-9, -9, -9, -9, -9, 8, 9, -9]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from capgym.explain.align import effective_span, token_word_rows
from capgym.explain.ngrams import NONE, encode_keys
from capgym.explain.sequences import Sequences


def induction_predictions(seqs: Sequences, k: int = 1) -> np.ndarray:
    """For every flat position, the token that followed the last earlier match of its
    ``k``-token context in the same sequence (or :data:`NONE`)."""
    n = len(seqs.flat)
    out = np.full(n, NONE, dtype=np.int64)
    ctx = seqs.context(k)
    valid = (ctx >= 0).all(axis=1)  # real tokens only: no START, PAD or UNKNOWN
    q = np.flatnonzero(valid)
    if len(q) < 2:
        return out
    key = encode_keys(ctx[q])
    seq = seqs.seq_index[q]
    order = np.lexsort((q, key, seq))
    qs, ks, ss = q[order], key[order], seq[order]
    same = (ks[1:] == ks[:-1]) & (ss[1:] == ss[:-1])
    out[qs[1:][same]] = seqs.flat[qs[:-1][same]]
    return out


def induction_hits(seqs: Sequences, at: np.ndarray, k: int = 1) -> np.ndarray:
    """Whether copying after the last ``k`` tokens predicts the token at each index in ``at``."""
    return induction_predictions(seqs, k)[at] == seqs.flat[at]


def repeated_words(words: pd.DataFrame) -> pd.Series:
    """For each row of a words table (see :func:`capgym.explain.align.words_frame`),
    whether the same word (lower-cased) occurred earlier in its story.

    Symbols (``is_word`` false) never count as repeated words.

    >>> w = pd.DataFrame({"corpus": "c", "story": 0, "word": ["The", ".", "the", ".", ""],
    ...                   "is_word": [True, False, True, False, False]})
    >>> repeated_words(w).tolist()
    [False, False, True, False, False]
    """
    low = words["word"].str.lower().str.replace("’", "'", regex=False)
    keyed = pd.DataFrame({"corpus": words["corpus"], "story": words["story"], "w": low})
    return keyed.duplicated(["corpus", "story", "w"]) & words["is_word"].astype(bool)


def word_repeat_hits(token_words: pd.DataFrame, words: pd.DataFrame) -> np.ndarray:
    """Whether each token (with ``word_idx`` from
    :func:`capgym.explain.explainers.token_words`) overlaps a repeated word."""
    rows, _ = token_word_rows(token_words, words)
    repeated = repeated_words(words).to_numpy()[rows]
    start, end = effective_span(
        token_words["char_start"].to_numpy(), token_words["char_end"].to_numpy()
    )
    overlap = (start < words["char_end"].to_numpy()[rows]) & (
        words["char_start"].to_numpy()[rows] < end
    )
    return (repeated & overlap).astype(bool)
