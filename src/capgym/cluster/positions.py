"""Which positions are clustered: a model's residue, hidden families, or untagged gains.

Every function works on a DuckDB connection over the run (with ``_words`` registered,
see :func:`capgym.explain.api.connect`) and returns a frame with one row per position:
corpus, story, pos, token_id, p, es, ee (the token's effective span), piece (its text),
word, prev_word, prev_words (the units of :mod:`capgym.explain.align`) and ``label``:

* ``residue``: confident correct (rank 0, p >= threshold) and covered by no tag and no
  explainer (the rows of the run's ``residue`` table);
* a hidden family's name: confident correct and covered by a tag of exactly one of the
  hidden families (explainers and other families may cover it too), for rediscovery;
* ``gain-rank`` / ``gain-confidence``: confident correct for the model and not for the
  base model on the same token (same tokenizer), covered by no capability tag; ``rank``
  when the base model did not rank the token first, ``confidence`` when it did but with
  p below the threshold.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from capgym.explain import build_confident, build_hits, token_words_sql
from capgym.store.confident import CHANGE_SQL, STATUS_SQL, confident_sql

_DESCRIBE = """
WITH r AS ({tokens}),
t AS (
    SELECT r.*, w.word, w.char_start AS w_start, w.char_end AS w_end, w.prev_word,
           w.prev_words, substring(s.text, r.char_start + 1, r.char_end - r.char_start) AS piece
    FROM r JOIN _words w USING (corpus, story, word_idx) JOIN stories s USING (corpus, story)
)
SELECT corpus, story, pos, token_id, p, es, ee, piece, label,
    CASE WHEN es < w_end AND w_start < ee THEN lower(word)
         WHEN trim(piece) = '' AND piece LIKE '%' || chr(10) || '%' THEN '↵'
         WHEN trim(replace(piece, chr(10), '')) = '' THEN '␣'
         ELSE trim(replace(piece, chr(10), '↵')) END AS word,
    prev_word, prev_words
FROM t ORDER BY corpus, story, pos
"""


def describe(con: duckdb.DuckDBPyConnection, relation: str) -> pd.DataFrame:
    """The position frame of ``relation`` (a temp table shaped like ``conf`` plus label)."""
    tokens = token_words_sql(f"SELECT * FROM {relation}", "SELECT * FROM _words")
    return con.execute(_DESCRIBE.format(tokens=tokens)).df()


def residue_and_hidden(
    con: duckdb.DuckDBPyConnection,
    model: str,
    corpora: list[str],
    threshold: float,
    hide: tuple[str, ...] = (),
) -> pd.DataFrame:
    """The residue of ``model`` and, labelled by family, the confident correct positions
    that exactly one of the ``hide`` families covers."""
    build_confident(con, model, corpora, threshold)
    build_hits(con, model, corpora)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _picked AS
        WITH hidden AS (
            SELECT corpus, story, pos, any_value(name) AS label FROM hits
            WHERE kind = 'capability' AND list_contains(?, name)
            GROUP BY ALL HAVING count(DISTINCT name) = 1
        )
        SELECT c.*, 'residue' AS label FROM conf c
        WHERE NOT EXISTS (SELECT 1 FROM hits h
                          WHERE h.corpus = c.corpus AND h.story = c.story AND h.pos = c.pos)
        UNION ALL
        SELECT c.*, h.label FROM conf c JOIN hidden h USING (corpus, story, pos)
        """,
        [list(hide)],
    )
    return describe(con, "_picked")


def untagged_gains(
    con: duckdb.DuckDBPyConnection, model: str, base: str, corpora: list[str], threshold: float
) -> pd.DataFrame:
    """Positions ``model`` gets confidently right and ``base`` does not (same token id),
    with no capability tag, labelled ``gain-rank`` or ``gain-confidence``."""
    build_confident(con, model, corpora, threshold)
    build_hits(con, model, corpora)
    # the diff's status and change rule, with A the base and B the model (conf: ok_b, top_b)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _picked AS
        WITH pair AS (
            SELECT c.*, a.rank = 0 AND {confident_sql("a.logprob", "?")} AS ok_a,
                   a.rank = 0 AS top_a, true AS ok_b, true AS top_b
            FROM conf c JOIN scores a
              ON a.model = ? AND a.corpus = c.corpus AND a.story = c.story AND a.pos = c.pos
             AND a.token_id = c.token_id
        )
        SELECT * EXCLUDE (ok_a, top_a, ok_b, top_b), 'gain-' || ({CHANGE_SQL}) AS label
        FROM pair c
        WHERE ({STATUS_SQL}) = 'gain'
          AND NOT EXISTS (SELECT 1 FROM hits h WHERE h.kind = 'capability'
                          AND h.corpus = c.corpus AND h.story = c.story AND h.pos = c.pos)
        """,
        [threshold, base],
    )
    return describe(con, "_picked")
