"""Words of a story, and which word each token of any tokenizer belongs to.

Explainers, coverage, residue mining and cross-tokenizer diffs all need one rule that
maps a model's tokens onto the words of the story text, whatever the tokenizer.

The rule
--------
* The text is cut into **units**: the words of :func:`capgym.tags.words.tokenize_words`
  (letters with inner apostrophes, or digits; so every stage agrees on them) and, in
  between, every other non-space character as a unit of its own (``,`` ``.`` ``"``:
  ``is_word`` false, word class ``punctuation``).
* Unit ``i``'s **region** runs from the end of unit ``i - 1`` to the end of unit ``i``:
  the whitespace *before* a unit belongs to it.  Text after the last unit is one more
  region, the story's **tail** (``word = ''``).  The regions partition the text.
* A token belongs to the region holding its first character (``char_start``); a token
  with an empty span (the second byte-token of a multi-byte character) belongs to the
  character before it.  So a token belongs to the unit in which its first non-space
  character lies, and a token of only whitespace goes to the next unit.
* A token **straddles** when its characters reach across the end of a unit into the
  next region (``"ed."`` in ``walked.``).  Cross-tokenizer comparison merges the
  regions a straddling token touches, in both models, into one comparison unit (see
  :mod:`capgym.diff.units`), so each unit's log-probability in each model is that of
  exactly the same text.

>>> import pandas as pd
>>> w = words_frame(pd.DataFrame({"corpus": ["c"], "story": [0], "text": ["Hi, Sue!"]}))
>>> w[["word_idx", "region_start", "char_start", "char_end", "word"]].values.tolist()
... # doctest: +NORMALIZE_WHITESPACE
[[0, 0, 0, 2, 'Hi'], [1, 2, 2, 3, ','], [2, 3, 4, 7, 'Sue'], [3, 7, 7, 8, '!'],
 [4, 8, 2147483647, 2147483647, '']]
>>> w.prev_word.tolist()
['<start>', 'hi', 'hi', 'sue', 'sue']
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pandas as pd

TAIL_END = 2**31 - 1  # char_start/char_end of the tail pseudo-word: after any character
_SENTENCE_GAP = re.compile(r"[.!?\n\"“]")
_DETERMINERS = frozenset(
    ["a", "an", "the", "this", "that", "these", "those", "some", "any", "every", "each", "no"]
)


@lru_cache(maxsize=1)
def word_functions() -> tuple[Callable[[str], list[tuple[int, int, str]]], Callable[..., str]]:
    """``(tokenize_words, word_class)``: the shared ones of :mod:`capgym.tags.words`."""
    from capgym.tags.words import WordContext, tokenize_words, word_class

    @lru_cache(maxsize=200_000)
    def classify(word: str, sentence_initial: bool = False, after_determiner: bool = False) -> str:
        return word_class(word, WordContext(sentence_initial, after_determiner))

    return tokenize_words, classify


_COLUMNS = ["word_idx", "region_start", "char_start", "char_end", "word", "word_class",
            "is_word", "prev_word", "prev_words"]  # fmt: skip
_Row = tuple[int, int, int, int, str, str, bool, str, str]
START = "<start>"


def _word_rows(text: str) -> list[_Row]:
    tokenize, classify = word_functions()
    rows: list[_Row] = []
    end, prev_end, prev_low = 0, 0, ""
    back = [START, START]  # the two real words before the current unit, lower-cased
    for i, (s, e, w) in enumerate(tokenize(text)):
        end = _symbols(text, end, s, back, rows)
        gap = text[prev_end:s]
        initial = i == 0 or bool(_SENTENCE_GAP.search(gap))
        after_det = prev_low in _DETERMINERS and not gap.strip()
        cls = classify(w, initial, after_det)
        rows.append((len(rows), end, s, e, w, cls, True, back[1], _two(back)))
        end, prev_end, prev_low = e, e, w.lower()
        back = [back[1], prev_low]
    end = _symbols(text, end, len(text), back, rows)
    rows.append((len(rows), end, TAIL_END, TAIL_END, "", "tail", False, back[1],
                 _two(back)))  # fmt: skip
    return rows


def _symbols(text: str, end: int, stop: int, back: list[str], rows: list[_Row]) -> int:
    """Append the non-space characters of ``text[end:stop]`` as units of their own (the
    symbols between words); returns the end of the last unit."""
    for k in range(end, stop):
        if not text[k].isspace():
            rows.append((len(rows), end, k, k + 1, text[k], "punctuation", False, back[1],
                         _two(back)))  # fmt: skip
            end = k + 1
    return end


def _two(back: list[str]) -> str:
    return START if back[1] == START else f"{back[0]} {back[1]}"


def story_words(text: str) -> pd.DataFrame:
    """The units of one text with their regions, word classes and a tail row.

    >>> story_words("Lily ran.").word.tolist()
    ['Lily', 'ran', '.', '']
    """
    return pd.DataFrame(_word_rows(text), columns=_COLUMNS)


def words_frame(stories: pd.DataFrame) -> pd.DataFrame:
    """The ``words`` table of ``stories(corpus, story, text)``: one row per unit + tail.

    Columns: corpus, story, word_idx (the unit's index), region_start, char_start,
    char_end, word (its text), word_class, is_word (a real word, not a symbol),
    prev_word and prev_words (the one and two real words before it, lower-cased,
    ``<start>`` before the first).  ``[region_start, char_end)`` is the unit's region.
    """
    corpora: list[str] = []
    story_ids: list[int] = []
    rows: list[_Row] = []
    for corpus, story, text in stories[["corpus", "story", "text"]].itertuples(index=False):
        r = _word_rows(text)
        rows += r
        corpora += [corpus] * len(r)
        story_ids += [int(story)] * len(r)
    out = pd.DataFrame(rows, columns=_COLUMNS)
    out.insert(0, "story", pd.Series(story_ids, dtype="int64"))
    out.insert(0, "corpus", pd.Series(corpora, dtype=object))
    ints = ["story", "word_idx", "region_start", "char_start", "char_end"]
    return out.astype({**dict.fromkeys(ints, "int64"), "is_word": bool})


def effective_span(char_start: np.ndarray, char_end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The span a token is matched on: its own, or for an empty span the character before.

    >>> [a.tolist() for a in effective_span(np.array([0, 3]), np.array([2, 3]))]
    [[0, 2], [2, 3]]
    """
    cs, ce = np.asarray(char_start, np.int64), np.asarray(char_end, np.int64)
    empty = ce <= cs
    return np.where(empty, np.maximum(cs - 1, 0), cs), np.where(empty, np.maximum(cs, 1), ce)


# SQL of the same rule, for a relation with char_start/char_end columns.
EFFECTIVE_START_SQL = (
    "CASE WHEN char_end > char_start THEN char_start ELSE greatest(char_start - 1, 0) END"
)
EFFECTIVE_END_SQL = "CASE WHEN char_end > char_start THEN char_end ELSE greatest(char_start, 1) END"


def story_codes(corpus: pd.Series, story: pd.Series) -> np.ndarray:
    """Dense int64 codes of (corpus, story) pairs, in order of first appearance.

    >>> story_codes(pd.Series(["a", "b", "a"]), pd.Series([5, 5, 5])).tolist()
    [0, 1, 0]
    """
    corpus_code = pd.factorize(np.asarray(corpus, dtype=object))[0].astype(np.int64)
    key = (corpus_code << 32) + np.asarray(story, dtype=np.int64)
    return pd.factorize(key)[0].astype(np.int64)


def token_word_rows(tokens: pd.DataFrame, words: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row positions in ``words`` of each token's region word and of the region holding its
    last character (a later one when the token straddles).

    The numpy twin of :func:`token_words_sql` for in-memory tables.  ``words`` is
    :func:`words_frame` output covering every story of ``tokens``.

    >>> import pandas as pd
    >>> w = words_frame(pd.DataFrame({"corpus": ["c"], "story": [0], "text": ["ab cd"]}))
    >>> t = pd.DataFrame({"corpus": ["c", "c"], "story": [0, 0], "char_start": [0, 1],
    ...                   "char_end": [1, 5]})
    >>> [r.tolist() for r in token_word_rows(t, w)]
    [[0, 0], [0, 1]]
    """
    both = pd.concat([words[["corpus", "story"]], tokens[["corpus", "story"]]], ignore_index=True)
    block = story_codes(both["corpus"], both["story"]) * (np.int64(TAIL_END) + 2)
    wkey = block[: len(words)] + words["char_end"].to_numpy(np.int64)
    tblock = block[len(words) :]
    order = np.argsort(wkey, kind="stable")
    wsorted = wkey[order]
    first, end = effective_span(
        tokens["char_start"].to_numpy(np.int64), tokens["char_end"].to_numpy(np.int64)
    )
    # the first word (of the same story: the tail ends after every character) ending
    # after the character
    out = []
    for char in (first, end - 1):
        i = np.searchsorted(wsorted, tblock + char, side="right")
        if len(i) and (i.max() >= len(wsorted) or np.any(block[: len(words)][order][i] != tblock)):
            raise ValueError("tokens of a story that has no rows in the words table")
        out.append(order[i])
    return out[0], out[1]


def token_words_sql(tokens: str, words: str = "words") -> str:
    """SQL adding ``word_idx`` (the token's region) and ``last_word_idx`` to ``tokens``.

    ``tokens`` is a SQL relation with corpus, story, char_start, char_end (and anything
    else, which is kept); ``words`` a relation shaped like :func:`words_frame`.
    ``last_word_idx > word_idx`` marks a straddling token.  DuckDB ASOF joins keep it
    linear in the number of tokens.
    """
    return f"""
    WITH _t AS (
        SELECT *,
            CASE WHEN char_end > char_start THEN char_start ELSE greatest(char_start - 1, 0)
            END AS _first,
            CASE WHEN char_end > char_start THEN char_end - 1 ELSE greatest(char_start - 1, 0)
            END AS _last
        FROM ({tokens})
    ), _a AS (
        SELECT _t.*, _w.word_idx
        FROM _t ASOF JOIN ({words}) _w
          ON _t.corpus = _w.corpus AND _t.story = _w.story AND _t._first < _w.char_end
    )
    SELECT _a.* EXCLUDE (_first, _last), _w.word_idx AS last_word_idx
    FROM _a ASOF JOIN ({words}) _w
      ON _a.corpus = _w.corpus AND _a.story = _w.story AND _a._last < _w.char_end
    """
