"""Residue mining: group the confident predictions nothing explains, to find the next capability.

The residue (confident correct positions covered by no tag and no explainer) is
grouped along five dimensions, and the groups are ranked by probability mass:

* ``word``: the predicted word or symbol (the unit of :mod:`capgym.explain.align`
  containing the token, lower-cased); a token of whitespace only is grouped as ``↵``
  (a newline) or ``␣`` (spaces);
* ``prev-word`` and ``prev-2-words``: the one or two words before it (``<start>``
  before the first word);
* ``word-class``: :func:`capgym.tags.words.word_class` of the predicted word,
  ``punctuation`` for a symbol, ``whitespace``;
* ``position``: ``first sentence``, then ``early``/``middle``/``late`` by thirds of the
  story's characters.

Each group comes with examples: story id, position, and a context snippet with the
target token in ``[[...]]``.

>>> snippet("Once upon a time, a cat sat.", 23, 27, width=12)
(' time, a cat', ' sat', '.')
"""

from __future__ import annotations

import re

import duckdb
import pandas as pd

from capgym.explain.align import token_words_sql

DIMENSIONS: tuple[str, ...] = ("word", "prev-word", "prev-2-words", "word-class", "position")
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’]?(?=\s|$)")


def story_info(stories: pd.DataFrame) -> pd.DataFrame:
    """corpus, story, n_chars and first_end (end of the first sentence) of each story.

    >>> info = story_info(pd.DataFrame({"corpus": ["c"], "story": [1], "text": ["Hi there. Bye."]}))
    >>> info.values.tolist()
    [['c', 1, 14, 9]]
    """
    rows = []
    for corpus, story, text in stories[["corpus", "story", "text"]].itertuples(index=False):
        m = _SENTENCE_END.search(text)
        rows.append((corpus, int(story), len(text), m.end() if m else len(text)))
    return pd.DataFrame(rows, columns=["corpus", "story", "n_chars", "first_end"])


def build_residue(con: duckdb.DuckDBPyConnection) -> None:
    """Create temp table ``residue_rows`` from ``conf`` and ``hits`` with the grouping
    columns (the rows of the run's ``residue`` table, see :mod:`capgym.explain.tables`).

    Needs relations ``_words`` (:func:`capgym.explain.align.words_frame`), ``_info``
    (:func:`story_info`) and ``stories`` in ``con``.
    """
    tokens = (
        "SELECT * FROM conf c WHERE NOT EXISTS (SELECT 1 FROM hits h "
        "WHERE h.corpus = c.corpus AND h.story = c.story AND h.pos = c.pos)"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE residue_rows AS
        WITH r AS ({token_words_sql(tokens, "SELECT * FROM _words")}),
        t AS (
            SELECT r.*, w.word, w.word_class, w.char_start AS w_start, w.char_end AS w_end,
                   w.prev_word, w.prev_words,
                   substring(s.text, r.char_start + 1, r.char_end - r.char_start) AS piece,
                   i.n_chars, i.first_end
            FROM r JOIN _words w USING (corpus, story, word_idx)
            JOIN stories s USING (corpus, story)
            JOIN _info i USING (corpus, story)
        )
        SELECT t.corpus, t.story, t.pos, t.p, t.es, t.ee, t.piece,
            CASE WHEN t.es < t.w_end AND t.w_start < t.ee THEN lower(t.word)
                 WHEN trim(t.piece) = '' AND t.piece LIKE '%' || chr(10) || '%' THEN '↵'
                 WHEN trim(replace(t.piece, chr(10), '')) = '' THEN '␣'
                 ELSE trim(replace(t.piece, chr(10), '↵')) END AS "word",
            t.prev_word AS "prev-word",
            t.prev_words AS "prev-2-words",
            CASE WHEN t.es < t.w_end AND t.w_start < t.ee THEN t.word_class
                 WHEN trim(replace(t.piece, chr(10), '')) = '' THEN 'whitespace'
                 ELSE 'punctuation' END AS "word-class",
            CASE WHEN t.es < t.first_end THEN 'first sentence'
                 WHEN t.es * 3 < t.n_chars THEN 'early'
                 WHEN t.es * 3 < 2 * t.n_chars THEN 'middle'
                 ELSE 'late' END AS "position"
        FROM t
        """
    )


def residue_groups(
    con: duckdb.DuckDBPyConnection,
    top: int = 10,
    n_examples: int = 3,
    rows: str = "residue_rows",
    dimensions: tuple[str, ...] = DIMENSIONS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The top groups of each dimension and examples of each, from ``rows``: the name of
    a table or view shaped like temp table ``residue_rows`` (e.g. one model's rows of the
    run's ``residue`` table).

    Groups: dimension, group, rank, n, mass, share_mass (of the residue), mean_p.
    Examples: dimension, group, corpus, story, pos, p, es, ee (target span).
    """
    long = " UNION ALL ".join(
        f"SELECT '{d}' AS dimension, \"{d}\" AS grp, corpus, story, pos, p, es, ee FROM {rows}"
        for d in dimensions
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE residue_long AS {long}")
    groups = con.execute(
        f"""
        WITH tot AS (SELECT coalesce(sum(p), 0) AS m FROM {rows}),
        g AS (
            SELECT dimension, grp, count(*) AS n, sum(p) AS mass, avg(p) AS mean_p
            FROM residue_long GROUP BY ALL
        )
        SELECT dimension, grp AS "group",
               row_number() OVER (PARTITION BY dimension ORDER BY mass DESC, n DESC, grp) AS rank,
               n, mass, mass / nullif(tot.m, 0) AS share_mass, mean_p
        FROM g, tot
        QUALIFY rank <= ?
        ORDER BY dimension, rank
        """,
        [top],
    ).df()
    con.register("_top", groups[["dimension", "group"]])
    examples = con.execute(
        """
        SELECT l.dimension, l.grp AS "group", l.corpus, l.story, l.pos, l.p, l.es, l.ee
        FROM residue_long l JOIN _top t ON l.dimension = t.dimension AND l.grp = t."group"
        QUALIFY row_number() OVER (
            PARTITION BY l.dimension, l.grp ORDER BY hash(l.corpus, l.story, l.pos)) <= ?
        ORDER BY l.dimension, l.grp, l.corpus, l.story, l.pos
        """,
        [n_examples],
    ).df()
    groups["_d"] = groups["dimension"].map({d: i for i, d in enumerate(dimensions)})
    groups = groups.sort_values(["_d", "rank"]).drop(columns="_d").reset_index(drop=True)
    return groups, examples


def snippet(text: str, start: int, end: int, width: int = 60) -> tuple[str, str, str]:
    """``(before, target, after)`` around ``text[start:end]``, newlines shown as ``↵``."""

    def show(s: str) -> str:
        return s.replace("\n", "↵")

    before = text[max(0, start - width) : start]
    return show(before), show(text[start:end]), show(text[end : end + max(width // 4, 1)])


def add_snippets(
    examples: pd.DataFrame, stories: pd.DataFrame, span: tuple[str, str] = ("es", "ee")
) -> pd.DataFrame:
    """``examples`` with ``before``, ``target``, ``after`` and ``snippet`` columns around
    the characters of the ``span`` columns (texts from ``stories``: corpus, story, text)."""
    texts = {(c, int(s)): t for c, s, t in stories[["corpus", "story", "text"]].values}
    parts = [
        snippet(texts.get((c, int(s)), ""), int(a), int(b))
        for c, s, a, b in examples[["corpus", "story", *span]].itertuples(index=False)
    ]
    out = examples.copy()
    out["before"] = [p[0] for p in parts]
    out["target"] = [p[1] for p in parts]
    out["after"] = [p[2] for p in parts]
    out["snippet"] = [f"{b}[[{t}]]{a}" for b, t, a in parts]
    return out
