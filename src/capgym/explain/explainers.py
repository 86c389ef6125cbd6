"""Explainers: which simple mechanisms would also have predicted each scored token.

An explainer is a predictor that needs no understanding of the story: reference n-gram
statistics (:mod:`capgym.explain.ngrams`) or copying from earlier in the story
(:mod:`capgym.explain.incontext`).  :func:`explain_tokens` evaluates all of them on
every scored position, with the model's own token ids, and returns one row per
(position, explainer that fires): the ``explains`` table.

>>> import pandas as pd
>>> from capgym.explain.ngrams import NgramReference
>>> stories = pd.DataFrame({"corpus": ["c"], "story": [0], "text": ["ab ab"]})
>>> tokens = pd.DataFrame({"corpus": "c", "story": 0, "pos": [1, 2, 3, 4],
...     "token_id": [10, 11, 10, 11], "char_start": [0, 1, 2, 4], "char_end": [1, 2, 4, 5]})
>>> ref = NgramReference.fit([[10, 11]], min_count=1)
>>> rows = explain_tokens(tokens, words_frame(stories), ref)
>>> rows[rows.pos == 4].explainer.tolist()
['bigram', 'induction', 'word-repeat']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from capgym.explain.align import story_codes, token_word_rows, words_frame
from capgym.explain.incontext import induction_hits, word_repeat_hits
from capgym.explain.ngrams import NAMES, NgramReference
from capgym.explain.sequences import Sequences
from capgym.store.schema import EXPLAINS

EXPLAINERS: tuple[str, ...] = (
    "unigram",
    "bigram",
    "trigram",
    "induction",
    "induction-long",
    "word-repeat",
)
EXPLAINER_DOCS: dict[str, str] = {
    "unigram": "the target is the reference corpus's most frequent token",
    "bigram": "the target is the reference's most frequent token after the previous token",
    "trigram": "the target is the reference's most frequent token after the previous two",
    "induction": "the previous token's last earlier occurrence in the story was followed by it",
    "induction-long": "the last two tokens' last earlier occurrence was followed by it",
    "word-repeat": "the target's word already occurred in the story",
}
_TOKEN_COLS = ["corpus", "story", "pos", "token_id", "char_start", "char_end"]


def token_words(tokens: pd.DataFrame, words: pd.DataFrame) -> pd.DataFrame:
    """``tokens`` with ``word_idx`` and ``last_word_idx`` (see :mod:`capgym.explain.align`)."""
    first, last = token_word_rows(tokens, words)
    idx = words["word_idx"].to_numpy()
    return tokens.assign(word_idx=idx[first], last_word_idx=idx[last])


def explain_tokens(
    tokens: pd.DataFrame, words: pd.DataFrame, reference: NgramReference | None
) -> pd.DataFrame:
    """Rows ``(corpus, story, pos, explainer)`` for every explainer firing on ``tokens``.

    ``tokens`` holds one model's scored rows (corpus, story, pos, token_id, char_start,
    char_end; BOS at pos 0 is implied); ``words`` is :func:`words_frame` of the stories;
    ``reference`` gives the n-gram explainers (none when ``None``).
    """
    missing = set(_TOKEN_COLS) - set(tokens.columns)
    if missing:
        raise ValueError(f"tokens lack column(s) {sorted(missing)}")
    t = tokens[_TOKEN_COLS].sort_values(["corpus", "story", "pos"], kind="stable")
    t = t.reset_index(drop=True)
    seq_index = story_codes(t["corpus"], t["story"])
    n_seqs = int(seq_index.max()) + 1 if len(seq_index) else 0
    seqs, at = Sequences.from_positions(
        seq_index, t["pos"].to_numpy(), t["token_id"].to_numpy(), n_seqs
    )
    hits: dict[str, np.ndarray] = {}
    if reference is not None:
        hits.update(reference.hits(seqs, at))
    hits["induction"] = induction_hits(seqs, at, k=1)
    hits["induction-long"] = induction_hits(seqs, at, k=2)
    if len(t):
        hits["word-repeat"] = word_repeat_hits(t, words)
    parts = []
    for name in [n for n in _order(hits)]:
        rows = t.loc[hits[name], ["corpus", "story", "pos"]]
        parts.append(rows.assign(explainer=name))
    if not parts:
        return pd.DataFrame(columns=["corpus", "story", "pos", "explainer"])
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["corpus", "story", "pos", "explainer"], kind="stable").reset_index(
        drop=True
    )


def _order(hits: dict[str, np.ndarray]) -> list[str]:
    known = [n for n in EXPLAINERS if n in hits]
    return known + sorted(set(hits) - set(known))


def explains_table(model: str, rows: pd.DataFrame) -> pa.Table:
    """The ``explains`` Arrow table of :func:`explain_tokens` rows for ``model``."""
    return pa.table(
        {
            "model": pa.array([model] * len(rows), pa.string()),
            "corpus": pa.array(rows["corpus"].astype(str), pa.string()),
            "story": pa.array(rows["story"].astype(np.int64), pa.int64()),
            "pos": pa.array(rows["pos"].astype(np.int32), pa.int32()),
            "explainer": pa.array(rows["explainer"].astype(str), pa.string()),
        },
        schema=EXPLAINS,
    )


__all__ = [
    "EXPLAINERS",
    "EXPLAINER_DOCS",
    "EXPLAINS",
    "NAMES",
    "explain_tokens",
    "explains_table",
    "token_words",
    "words_frame",
]
