"""N-gram explainers: the target is what reference-corpus counts would have predicted.

For an n-gram explainer, the *context* of position ``p`` is the ``n - 1`` tokens before
it (BOS counts as a token; before BOS is padding).  In the reference corpus, tokenized
with the same tokenizer, count every (context, next token) pair.  The explainer
predicts, for a context seen at least ``min_count`` times, its most frequent next token,
and only when that token is the unique maximum (a tie predicts nothing).  It *fires*
at ``p`` when the prediction equals the token at ``p``.  The unigram explainer has the
empty context, so it always predicts the corpus's most frequent token.

>>> ref = NgramReference.fit([[5, 6, 7], [5, 6, 8], [5, 6, 7]], orders=(1, 2, 3), min_count=2)
>>> ref.tables[2].lookup(np.array([[5]])).tolist()  # after 5 comes 6
[6]
>>> ref.tables[3].lookup(np.array([[5, 6]])).tolist()  # after 5 6: 7 twice, 8 once
[7]
>>> ref.tables[1].lookup(np.zeros((1, 0), np.int64)).tolist()  # 5, 6 three times each: a tie
[-9]
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from capgym.explain.sequences import Sequences

NONE = -9  # "no prediction"
_SHIFT = 3  # ids >= -3 (the sentinels) become >= 0
_BASE = 1 << 20  # ids must be < _BASE - _SHIFT; three of them fit in an int64
NAMES = {1: "unigram", 2: "bigram", 3: "trigram"}


def encode_keys(ids: np.ndarray) -> np.ndarray:
    """One int64 per row of ``ids`` (``[N, k]``, k <= 3), order-preserving per column.

    >>> encode_keys(np.array([[1, 2], [1, 3]])).tolist()
    [4194309, 4194310]
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and (ids.max() >= _BASE - _SHIFT or ids.min() < -_SHIFT):
        raise ValueError(f"token ids must lie in [-3, {_BASE - _SHIFT}) for n-gram keys")
    keys = np.zeros(ids.shape[0], dtype=np.int64)
    for j in range(ids.shape[1]):
        keys = keys * _BASE + ids[:, j] + _SHIFT
    return keys


@dataclass(frozen=True)
class NgramTable:
    """For every well-attested context (sorted keys), its unique most frequent next token."""

    n: int
    keys: np.ndarray  # sorted context keys
    best: np.ndarray  # most frequent next token of each context
    best_count: np.ndarray
    total: np.ndarray  # occurrences of the context

    @classmethod
    def fit(cls, seqs: Sequences, n: int, min_count: int = 3) -> NgramTable:
        """Count (context, next) pairs over every predicted position of ``seqs``."""
        at = seqs.targets
        ctx = encode_keys(seqs.context(n - 1, at))
        nxt = seqs.flat[at] + _SHIFT
        pair = np.unique(ctx * _BASE + nxt, return_counts=True)
        pctx, pnext, count = pair[0] // _BASE, pair[0] % _BASE - _SHIFT, pair[1]
        if len(pctx) == 0:
            empty = np.zeros(0, np.int64)
            return cls(n, empty, empty, empty, empty)
        starts = np.flatnonzero(np.r_[True, pctx[1:] != pctx[:-1]])
        total = np.add.reduceat(count, starts)
        best_count = np.maximum.reduceat(count, starts)
        group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(pctx)]))
        is_max = count == best_count[group]
        n_max = np.bincount(group, weights=is_max, minlength=len(starts)).astype(np.int64)
        argmax = np.zeros(len(starts), dtype=np.int64)  # only read where the max is unique
        idx = np.flatnonzero(is_max)
        argmax[group[idx]] = idx
        keep = (total >= min_count) & (n_max == 1)
        return cls(
            n,
            keys=pctx[starts][keep],
            best=pnext[argmax][keep],
            best_count=best_count[keep],
            total=total[keep],
        )

    def lookup(self, contexts: np.ndarray) -> np.ndarray:
        """Predicted next token for each row of ``contexts`` (``[N, n-1]``), or :data:`NONE`."""
        keys = encode_keys(np.asarray(contexts).reshape(len(contexts), self.n - 1))
        out = np.full(len(keys), NONE, dtype=np.int64)
        if len(self.keys) == 0:
            return out
        i = np.clip(np.searchsorted(self.keys, keys), 0, len(self.keys) - 1)
        hit = self.keys[i] == keys
        out[hit] = self.best[i[hit]]
        return out

    def fires(self, seqs: Sequences, at: np.ndarray) -> np.ndarray:
        """Whether this explainer predicts the token at each flat index in ``at``."""
        return self.lookup(seqs.context(self.n - 1, at)) == seqs.flat[at]


@dataclass(frozen=True)
class NgramReference:
    """N-gram tables of a reference corpus tokenized with the scored model's tokenizer.

    ``fingerprint`` identifies the reference (tokenizer, corpus, ``min_count``) so a
    cached ``explains`` table is recomputed when it changes.
    """

    tables: dict[int, NgramTable]
    fingerprint: str
    n_tokens: int
    name: str = "reference"
    min_count: int = 3
    orders: tuple[int, ...] = field(default=(1, 2, 3))

    @classmethod
    def fit(
        cls,
        token_ids: Iterable[Sequence[int]],
        orders: tuple[int, ...] = (1, 2, 3),
        min_count: int = 3,
        name: str = "reference",
        fingerprint: str | None = None,
    ) -> NgramReference:
        """Fit from token-id sequences *without* BOS (one per reference story)."""
        seqs = Sequences.from_lists(token_ids)
        if fingerprint is None:
            h = hashlib.sha256(seqs.flat.tobytes())
            h.update(f"{orders}-{min_count}".encode())
            fingerprint = h.hexdigest()[:16]
        tables = {n: NgramTable.fit(seqs, n, min_count) for n in orders}
        return cls(tables, fingerprint, len(seqs.targets), name, min_count, tuple(orders))

    def hits(self, seqs: Sequences, at: np.ndarray) -> dict[str, np.ndarray]:
        """Explainer name -> boolean mask over ``at`` of the positions it predicts."""
        return {NAMES.get(n, f"{n}-gram"): t.fires(seqs, at) for n, t in self.tables.items()}
