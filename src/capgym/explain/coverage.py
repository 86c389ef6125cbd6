"""Coverage: which capabilities and explainers account for a model's confident predictions.

Definitions
-----------
* A position is **confident correct** when the model's top choice is the actual token
  (``rank = 0``) and its probability ``exp(logprob) >= threshold``, compared in log
  space with a tolerance of ``1e-6`` for the float32 storage of ``logprob`` (so a
  probability of exactly 0.5 counts at threshold 0.5): :mod:`capgym.store.confident`,
  the one rule (and default threshold) of every stage.
* A **tag covers a token** when their character spans overlap: ``token_start < tag_end
  and tag_start < token_end``.  A token with an empty span (the second byte-token of a
  character) is matched on the character before it; an empty tag span on the character
  it starts at.  For ``word-completion`` the token must also start inside the tagged
  span (``token_start >= tag_start``): the span is the part of a word that its prefix
  determines, so a token that starts before it (at the word's start, or inside the
  still-undetermined prefix) is a word choice, not a completion.
* An **explainer covers a token** when it fires there (the ``explains`` table).
* **Shares** are taken over the confident correct positions, by count and by
  probability mass (the sum of ``exp(logprob)``).  ``any capability``, ``any explainer``
  and ``any`` count a position once however many cover it; ``residue`` is what nothing
  covers; ``exclusive`` counts the positions covered by that name alone.
* **Coverage** of a model is the ``any`` share by count (``coverage_mass`` by mass).
* **Coverage layers** (``total`` rows, each a superset of the one before), because
  explainers and word-completion fire on most tokens of any fluent text and would make
  coverage true by construction:

  1. ``named capabilities``: covered by a tag of any capability other than
     ``word-completion`` (the headline figure of the atlas);
  2. ``named + explainers``: layer 1, or an explainer (n-gram or in-context copying)
     fires;
  3. ``named + explainers + word-completion``: layer 2, or a word-completion tag (equal
     to ``any``).

  ``explainers only`` is the share that an explainer covers and no tag does: a
  mechanism-free account (the n-gram or copying rule would also have predicted it),
  not a capability.

The joins run in DuckDB (an interval join on corpus and story), so they scale to
millions of tokens.

>>> print(COVERS_SQL.split("AND")[0].strip())
g.corpus = c.corpus
"""

from __future__ import annotations

import duckdb
import pandas as pd

from capgym.explain.align import EFFECTIVE_END_SQL, EFFECTIVE_START_SQL
from capgym.explain.explainers import EXPLAINERS
from capgym.store.confident import CONFIDENT, confident_sql

COMPLETION = "word-completion"
LAYERS: tuple[str, str, str] = (
    "named capabilities",
    "named + explainers",
    "named + explainers + word-completion",
)
EXPLAINERS_ONLY = "explainers only"
# The ``total`` rows of :func:`shares`, in their order.
TOTALS: tuple[str, ...] = (*LAYERS, EXPLAINERS_ONLY, "any capability", "any explainer", "any",
                           "residue")  # fmt: skip

# g: a tag, c: a token with effective span (es, ee).
COVERS_SQL = f"""
    g.corpus = c.corpus AND g.story = c.story
    AND c.es < greatest(g.char_end, g.char_start + 1) AND g.char_start < c.ee
    AND (g.capability <> '{COMPLETION}' OR c.es >= g.char_start)
"""


def build_confident(
    con: duckdb.DuckDBPyConnection, model: str, corpora: list[str], threshold: float = CONFIDENT
) -> None:
    """Create temp table ``conf``: the model's confident correct positions with spans."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE conf AS
        SELECT corpus, story, pos, token_id, token, char_start, char_end,
               exp(logprob) AS p, {EFFECTIVE_START_SQL} AS es, {EFFECTIVE_END_SQL} AS ee
        FROM scores
        WHERE model = ? AND list_contains(?, corpus) AND rank = 0
          AND {confident_sql("logprob", "?")}
        """,
        [model, corpora, threshold],
    )


def build_hits(con: duckdb.DuckDBPyConnection, model: str, corpora: list[str]) -> None:
    """Create temp table ``hits(corpus, story, pos, kind, name)`` over ``conf``."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE hits AS
        SELECT DISTINCT c.corpus, c.story, c.pos, 'capability' AS kind, g.capability AS name
        FROM conf c JOIN tags g ON {COVERS_SQL}
        UNION ALL
        SELECT DISTINCT x.corpus, x.story, x.pos, 'explainer' AS kind, x.explainer AS name
        FROM explains x SEMI JOIN conf c
          ON x.corpus = c.corpus AND x.story = c.story AND x.pos = c.pos
        WHERE x.model = ? AND list_contains(?, x.corpus)
        """,
        [model, corpora],
    )


def shares(con: duckdb.DuckDBPyConnection, corpora: list[str]) -> pd.DataFrame:
    """Share of ``conf`` covered per capability and explainer, plus the any/residue rows.

    Columns: kind, name, n, share, mass, share_mass, n_exclusive.
    """
    names = con.execute(
        """
        SELECT DISTINCT 'capability' AS kind, capability AS name FROM tags
        WHERE list_contains(?, corpus)
        UNION SELECT DISTINCT kind, name FROM hits
        UNION SELECT 'explainer', unnest(?)
        """,
        [corpora, list(EXPLAINERS)],
    ).df()
    con.register("_names", names)
    per_name = con.execute(
        """
        WITH tot AS (SELECT count(*) AS n_all, coalesce(sum(p), 0) AS m_all FROM conf),
        per_pos AS (SELECT corpus, story, pos, count(*) AS n_names FROM hits GROUP BY ALL),
        agg AS (
            SELECT h.kind, h.name, count(*) AS n, sum(c.p) AS mass,
                   count(*) FILTER (WHERE q.n_names = 1) AS n_exclusive
            FROM hits h JOIN conf c USING (corpus, story, pos)
            JOIN per_pos q USING (corpus, story, pos)
            GROUP BY ALL
        )
        SELECT k.kind, k.name, coalesce(a.n, 0) AS n,
               coalesce(a.n, 0) / nullif(tot.n_all, 0) AS share,
               coalesce(a.mass, 0) AS mass, coalesce(a.mass, 0) / nullif(tot.m_all, 0) AS share_mass,
               coalesce(a.n_exclusive, 0) AS n_exclusive
        FROM _names k LEFT JOIN agg a USING (kind, name), tot
        """
    ).df()
    totals = con.execute(
        f"""
        WITH tot AS (SELECT count(*) AS n_all, coalesce(sum(p), 0) AS m_all FROM conf),
        flags AS (
            SELECT c.p,
                   coalesce(bool_or(h.kind = 'capability'), false) AS cap,
                   coalesce(bool_or(h.kind = 'capability' AND h.name <> '{COMPLETION}'),
                            false) AS named,
                   coalesce(bool_or(h.kind = 'explainer'), false) AS exp
            FROM conf c LEFT JOIN hits h USING (corpus, story, pos)
            GROUP BY c.corpus, c.story, c.pos, c.p
        ),
        rows AS (
            SELECT 'any capability' AS name, p FROM flags WHERE cap
            UNION ALL SELECT 'any explainer', p FROM flags WHERE exp
            UNION ALL SELECT 'any', p FROM flags WHERE cap OR exp
            UNION ALL SELECT 'residue', p FROM flags WHERE NOT cap AND NOT exp
            UNION ALL SELECT '{LAYERS[0]}', p FROM flags WHERE named
            UNION ALL SELECT '{LAYERS[1]}', p FROM flags WHERE named OR exp
            UNION ALL SELECT '{LAYERS[2]}', p FROM flags WHERE cap OR exp
            UNION ALL SELECT '{EXPLAINERS_ONLY}', p FROM flags WHERE exp AND NOT cap
        ),
        names AS (SELECT unnest(?) AS name)
        SELECT 'total' AS kind, names.name, count(r.p) AS n,
               count(r.p) / nullif(any_value(tot.n_all), 0) AS share,
               coalesce(sum(r.p), 0) AS mass,
               coalesce(sum(r.p), 0) / nullif(any_value(tot.m_all), 0) AS share_mass,
               NULL::BIGINT AS n_exclusive
        FROM names LEFT JOIN rows r USING (name), tot
        GROUP BY names.name
        """,
        [list(TOTALS)],
    ).df()
    out = pd.concat([per_name, totals], ignore_index=True)
    order = {"capability": 0, "explainer": 1, "total": 2}
    total_order = {name: k for k, name in enumerate(TOTALS)}
    out["_k"] = out["kind"].map(order)
    out["_t"] = out["name"].map(total_order).fillna(0)
    out = out.sort_values(["_k", "_t", "share", "name"], ascending=[True, True, False, True])
    out = out.drop(columns=["_k", "_t"]).reset_index(drop=True)
    out["n"] = out["n"].astype("int64")
    out["n_exclusive"] = out["n_exclusive"].astype("Int64")
    return out
