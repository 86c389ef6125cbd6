"""Comparison units of two models: tokens (same tokenizer) or words (different tokenizers).

Token units
    Models with the same tokenizer are joined token by token on (corpus, story, pos);
    a position whose token ids differ (the same text tokenized differently) is left
    out and counted as unaligned.

Word units
    Models with different tokenizers are compared unit by unit, with the units of
    :mod:`capgym.explain.align`: the words of the story and, between them, each other
    non-space character (punctuation) on its own.  A token belongs to the unit whose
    *region* holds its first character, a unit's region being the whitespace before it
    plus the unit itself (text after the last unit is one more region, the tail).
    When a token of either model straddles the end of a unit (``"ed."``), the regions
    it touches are merged into one comparison unit for *both* models.  So the regions
    partition the text, every token lies in exactly one comparison unit, and each
    unit's log-probability in each model is that of exactly the same characters: the
    sum of its tokens' log-probabilities.

A unit is **confident correct** for a model when every one of its tokens has rank 0
and the unit's probability (the product) is at least the threshold; for a single
token that is the usual rule of :mod:`capgym.explain.coverage`.

A unit is **top** for a model when every one of its tokens has rank 0 (whatever the
probability): a gain whose unit was already top for the other model is a
*confidence-only* gain (only the probability crossed the threshold), otherwise a *rank*
gain (the model now ranks the right token first).

Every function here works on a DuckDB connection with the run's views and creates the
temp table ``units(corpus, story, unit, us, ue, lp_a, lp_b, n_a, n_b, ok_a, ok_b, top_a,
top_b)`` where ``[us, ue)`` is the unit's character span.
"""

from __future__ import annotations

import duckdb

from capgym.explain import EFFECTIVE_END_SQL, EFFECTIVE_START_SQL, token_words_sql
from capgym.store.confident import confident_sql


def token_units(
    con: duckdb.DuckDBPyConnection, a: str, b: str, corpora: list[str], threshold: float
) -> int:
    """Create ``units`` joined token by token; returns the number of positions of the
    stories both models scored that do not align (token ids differ, or one lacks it)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _common AS
        SELECT corpus, story FROM scores WHERE model = $a AND list_contains($c, corpus)
        INTERSECT
        SELECT corpus, story FROM scores WHERE model = $b AND list_contains($c, corpus)
        """,
        {"a": a, "b": b, "c": corpora},
    )
    for name, model in (("_sa", a), ("_sb", b)):
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {name} AS
            SELECT corpus, story, pos, token_id, logprob, rank,
                   {EFFECTIVE_START_SQL} AS us, {EFFECTIVE_END_SQL} AS ue
            FROM scores SEMI JOIN _common USING (corpus, story)
            WHERE model = ?
            """,
            [model],
        )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE units AS
        SELECT x.corpus, x.story, x.pos AS unit, x.us, x.ue,
               x.logprob::DOUBLE AS lp_a, y.logprob::DOUBLE AS lp_b, 1 AS n_a, 1 AS n_b,
               x.rank = 0 AND {confident_sql("x.logprob", "$thr")} AS ok_a,
               y.rank = 0 AND {confident_sql("y.logprob", "$thr")} AS ok_b,
               x.rank = 0 AS top_a, y.rank = 0 AS top_b
        FROM _sa x JOIN _sb y USING (corpus, story, pos)
        WHERE x.token_id = y.token_id
        """,
        {"thr": threshold},
    )
    total = con.execute(
        "SELECT count(*) FROM _sa x FULL JOIN _sb y USING (corpus, story, pos)"
    ).fetchone()[0]  # type: ignore[index]
    aligned = con.execute("SELECT count(*) FROM units").fetchone()[0]  # type: ignore[index]
    return int(total - aligned)


def word_units(
    con: duckdb.DuckDBPyConnection, a: str, b: str, corpora: list[str], threshold: float
) -> int:
    """Create ``units`` over words (``_words`` must be registered); returns the number of
    words merged into another word's unit because a token straddled them."""
    tokens = (
        "SELECT model, corpus, story, pos, char_start, char_end, logprob, rank FROM scores "
        f"WHERE list_contains(['{_q(a)}', '{_q(b)}'], model) AND list_contains(?, corpus)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _tw AS " + token_words_sql(tokens, "SELECT * FROM _words"),
        [corpora],
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _merged AS
        SELECT DISTINCT corpus, story, unnest(range(word_idx, last_word_idx)) AS boundary
        FROM _tw WHERE last_word_idx > word_idx
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _wu AS
        SELECT w.corpus, w.story, w.word_idx, w.region_start, w.char_end,
               w.word_idx - CAST(sum(CASE WHEN m.boundary IS NULL THEN 0 ELSE 1 END) OVER (
                   PARTITION BY w.corpus, w.story ORDER BY w.word_idx
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS unit
        FROM _words w LEFT JOIN _merged m
          ON m.corpus = w.corpus AND m.story = w.story AND m.boundary = w.word_idx - 1
        WHERE list_contains(?, w.corpus)
        """,
        [corpora],
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _per_model AS
        SELECT t.model, u.corpus, u.story, u.unit, sum(t.logprob::DOUBLE) AS lp,
               count(*) AS n, bool_and(t.rank = 0) AS all_top
        FROM _tw t JOIN _wu u USING (corpus, story, word_idx)
        GROUP BY ALL
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE units AS
        WITH spans AS (
            SELECT corpus, story, unit, min(region_start) AS us, max(char_end) AS ue
            FROM _wu GROUP BY ALL
        )
        SELECT s.corpus, s.story, s.unit, s.us, s.ue,
               x.lp AS lp_a, y.lp AS lp_b, x.n AS n_a, y.n AS n_b,
               x.all_top AND {confident_sql("x.lp", "$thr")} AS ok_a,
               y.all_top AND {confident_sql("y.lp", "$thr")} AS ok_b,
               x.all_top AS top_a, y.all_top AS top_b
        FROM spans s
        JOIN (SELECT * FROM _per_model WHERE model = '{_q(a)}') x USING (corpus, story, unit)
        JOIN (SELECT * FROM _per_model WHERE model = '{_q(b)}') y USING (corpus, story, unit)
        """,
        {"thr": threshold},
    )
    n_merged = con.execute("SELECT count(*) FROM _merged").fetchone()[0]  # type: ignore[index]
    return int(n_merged)


def _q(s: str) -> str:
    return s.replace("'", "''")
