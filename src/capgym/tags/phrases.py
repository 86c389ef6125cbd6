"""Fixed expressions from corpus statistics: contexts that predict their next word.

The reference corpus is one array of word ids with a boundary id before every sentence.
n-grams (context of 1-3 words) and skip-grams (one skipped word: ``w[i-3] * w[i-1] ->
w[i]`` and ``w[i-4] * w[i-2] w[i-1] -> w[i]``) are counted with numpy, and a context is a
phrase when it predicts one word often, with high probability and high lift.

>>> ids, vocab = encode([["<s>", "hide", "and", "seek"]] * 9 + [["<s>", "a", "dog"]] * 200)
>>> table = find_phrases(ids, vocab, min_count=8, min_prob=0.6, min_lift=2.0)
>>> table[("hide", "and")].word
'seek'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from capgym.tags.words import CLOSED_CLASS

BOUNDARY = "<s>"  # inserted before every sentence, so n-grams never cross one
SKIP = "*"


@dataclass(frozen=True)
class Phrase:
    """A word that its left context predicts: ``context -> word`` with its statistics."""

    context: tuple[str, ...]  # SKIP marks a skipped word
    word: str
    prob: float  # P(word | context) in the reference corpus
    lift: float  # prob / P(word)
    count: int


def encode(sentences: Iterable[list[str]]) -> tuple[np.ndarray, list[str]]:
    """Concatenate word lists into one id array (plus a final boundary) and a vocabulary.

    >>> encode([["<s>", "a"], ["<s>", "b"]])[0].tolist()
    [0, 1, 0, 2, 0]
    """
    vocab: dict[str, int] = {BOUNDARY: 0}
    ids = [vocab.setdefault(w, len(vocab)) for sent in sentences for w in sent]
    ids.append(0)
    return np.asarray(ids, dtype=np.int32), list(vocab)


def find_phrases(
    ids: np.ndarray, vocab: list[str], min_count: int, min_prob: float, min_lift: float
) -> dict[tuple[str, ...], Phrase]:
    """All contexts (n-gram and skip-gram) that predict their next word.

    A context is kept when its best continuation occurs >= ``min_count`` times, with
    probability >= ``min_prob`` and lift >= ``min_lift``; a function word needs two or
    more context words, the boundary may only open a context, and no gram crosses it.
    """
    n = len(ids)
    if n < 5:
        return {}
    unigram = np.bincount(ids, minlength=len(vocab)).astype(np.float64)
    total = unigram[1:].sum()
    closed = np.array([w in CLOSED_CLASS for w in vocab])
    out: dict[tuple[str, ...], Phrase] = {}
    for offsets, skip in (((0, 1), False), ((0, 1, 2), False), ((0, 1, 2, 3), False),
                          ((0, 2, 3), True), ((0, 2, 3, 4), True)):  # fmt: skip
        span = offsets[-1] + 1
        cols = np.stack([ids[k : n - span + 1 + k] for k in offsets], axis=1)
        if skip:  # the skipped word must not be a sentence boundary
            cols = cols[ids[1 : n - span + 2] != 0]
        grams, counts = _unique_rows(cols)
        _, ctx_index = _unique_rows(grams[:, :-1], return_inverse=True)
        ctx_total = np.bincount(ctx_index, weights=counts)
        prob = counts / ctx_total[ctx_index]
        word = grams[:, -1]
        lift = prob * total / np.maximum(unigram[word], 1)
        ok = (counts >= min_count) & (prob >= min_prob) & (lift >= min_lift) & (word != 0)
        ok &= (grams[:, 1:-1] != 0).all(axis=1)
        n_ctx = grams.shape[1] - 1 - (grams[:, 0] == 0)
        ok &= ~closed[word] | (n_ctx >= 2)
        for k in np.nonzero(ok)[0]:
            words = [vocab[i] for i in grams[k]]
            key = (words[0], SKIP, *words[1:-1]) if skip else tuple(words[:-1])
            out[key] = Phrase(key, words[-1], round(float(prob[k]), 3),
                              round(float(lift[k]), 1), int(counts[k]))  # fmt: skip
    return out


def _unique_rows(rows: np.ndarray, return_inverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a 2-d array of word ids with their counts (or each row's index).

    Rows are packed into one int64 per row when the vocabulary allows it (fast sort),
    else compared as raw bytes.
    """
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    width = rows.shape[1]
    base = int(rows.max(initial=0)) + 1
    if base**width < 2**62:
        code = np.zeros(len(rows), dtype=np.int64)
        for k in range(width):
            code = code * base + rows[:, k]
        uniq, index, counts = np.unique(code, return_inverse=True, return_counts=True)
        distinct = np.empty((len(uniq), width), dtype=np.int64)
        for k in range(width - 1, -1, -1):
            uniq, distinct[:, k] = np.divmod(uniq, base)
    else:
        as_void = rows.view(np.dtype((np.void, 8 * width))).ravel()
        uniq, index, counts = np.unique(as_void, return_inverse=True, return_counts=True)
        distinct = uniq.view(np.int64).reshape(-1, width)
    return distinct, (index.ravel() if return_inverse else counts)
