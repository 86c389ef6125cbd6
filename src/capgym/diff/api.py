"""``capgym.diff``: what model B predicts confidently and correctly that model A does not.

Example (needs a run with both models scored on the same corpus)::

    import capgym
    d = capgym.diff("capgym-out", "stories260K", "bitllama-3M", quantile=(0.9, 1.0))
    d.per_capability      # gains and losses per capability
    d.examples            # units from the top decile of log p_B - log p_A
    d                     # in Jupyter: tables and highlighted examples
"""

from __future__ import annotations

import os

import duckdb
import pandas as pd

from capgym.diff.report import DiffReport
from capgym.diff.units import token_units, word_units
from capgym.errors import StoreError, UsageError
from capgym.explain import (
    COMPLETION,
    COVERS_SQL,
    add_snippets,
    as_run,
    check_scored,
    check_threshold,
    connect,
    ensure_tags,
    stories_of,
    words_frame,
)
from capgym.store import RunStore
from capgym.store.confident import CHANGE_SQL, CONFIDENT, STATUS_SQL
from capgym.store.tokenizers import same_tokenizer

EXAMPLE_POOLS = {"gain": "status = 'gain'", "loss": "status = 'loss'",
                 "change": "status IN ('gain', 'loss')",
                 "rank-gain": "status = 'gain' AND change = 'rank'"}  # fmt: skip


def diff(
    run: RunStore | str | os.PathLike[str],
    model_a: str,
    model_b: str,
    corpus: str | None = None,
    threshold: float = CONFIDENT,
    quantile: tuple[float, float] = (0.9, 1.0),
    n_examples: int = 10,
    mode: str = "auto",
    tags: bool = True,
    examples_from: str = "change",
) -> DiffReport:
    """Gains (B confident correct, A not) and losses (the reverse) of ``model_b`` over
    ``model_a``, per capability, with examples from a quantile range of
    ``delta = log p_B - log p_A`` among the gains and losses.

    A gain is a *rank* gain when A did not rank the unit first, *confidence-only* when
    it did with p below the threshold (losses likewise with A and B swapped).  Per
    capability, ``gains_exclusive`` counts the gains that capability alone covers, so
    overlapping families are not double-counted.  ``examples_from`` picks the pool the
    examples come from: ``change`` (gains and losses), ``gain``, ``loss`` or
    ``rank-gain``.  ``mode`` is ``token``, ``word`` or ``auto`` (token when the
    tokenizers agree).  ``corpus=None`` takes every corpus both models were scored on.
    """
    if examples_from not in EXAMPLE_POOLS:
        raise UsageError(f"unknown examples pool '{examples_from}'; use {', '.join(EXAMPLE_POOLS)}")
    check_threshold(threshold)
    lo, hi = quantile
    if not 0.0 <= lo <= hi <= 1.0:
        raise UsageError(f"quantile must satisfy 0 <= lo <= hi <= 1, got {quantile}")
    if model_a == model_b:
        raise UsageError(f"both models are '{model_a}'; diff two different models")
    if mode not in ("token", "word", "auto"):  # before tagging, which can take minutes
        raise UsageError(f"unknown mode '{mode}'; use token, word or auto")
    store = as_run(run)
    corpora = _common_corpora(store, model_a, model_b, corpus)
    if tags:
        ensure_tags(store, corpora)
    if mode == "auto":
        mode = "token" if same_tokenizer(store, model_a, model_b, corpora) else "word"
    stories = stories_of(store, corpora)
    con = connect(store, words_frame(stories) if mode == "word" else stories.head(0))
    try:
        unaligned = merged = 0
        if mode == "token":
            unaligned = token_units(con, model_a, model_b, corpora, threshold)
        else:
            merged = word_units(con, model_a, model_b, corpora, threshold)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE u AS SELECT *, lp_b - lp_a AS delta, "
            f"{STATUS_SQL} AS status, {CHANGE_SQL} AS change FROM units"
        )
        per_cap = _per_capability(con, mode)
        counts = con.execute("SELECT status, count(*) FROM u GROUP BY status").fetchall()
        n_conf_gains = con.execute(
            "SELECT count(*) FROM u WHERE status = 'gain' AND change = 'confidence'"
        ).fetchone()[0]  # type: ignore[index]
        examples = _examples(con, lo, hi, n_examples, mode, EXAMPLE_POOLS[examples_from])
        units = con.execute("SELECT * FROM u ORDER BY corpus, story, unit").df()
    finally:
        con.close()
    by_status = {s: int(n) for s, n in counts}
    return DiffReport(
        model_a=model_a,
        model_b=model_b,
        corpora=corpora,
        threshold=threshold,
        mode=mode,
        quantile=(lo, hi),
        n_units=sum(by_status.values()),
        n_gains=by_status.get("gain", 0),
        n_confidence_gains=int(n_conf_gains),
        n_losses=by_status.get("loss", 0),
        n_both=by_status.get("both", 0),
        n_neither=by_status.get("neither", 0),
        n_unaligned=unaligned,
        n_merged=merged,
        per_capability=per_cap,
        examples_from=examples_from,
        examples=add_snippets(examples, stories, span=("us", "ue")),
        units=units,
        run=store,
    )


def _common_corpora(store: RunStore, a: str, b: str, corpus: str | None) -> list[str]:
    ca, cb = check_scored(store, a, corpus), check_scored(store, b, corpus)
    common = [c for c in ca if c in cb]
    if not common:
        raise StoreError(
            f"models '{a}' and '{b}' share no scored corpus in {store.path}; "
            f"score both on one, e.g. `capgym score --models {a},{b} --out {store.path}`"
        )
    return common


def _covers(mode: str) -> str:
    """SQL: tag ``g`` covers unit ``c`` (a relation with the unit's span as ``es, ee``):
    explain's rule (:data:`capgym.explain.COVERS_SQL`).  In word mode ``word-completion``
    covers nothing, since a unit always holds its word's first piece."""
    if mode == "token":
        return COVERS_SQL
    return COVERS_SQL + f" AND g.capability <> '{COMPLETION}'"


def _per_capability(con: duckdb.DuckDBPyConnection, mode: str) -> pd.DataFrame:
    return con.execute(
        f"""
        WITH cov AS (
            SELECT DISTINCT g.capability, c.corpus, c.story, c.unit, c.status, c.change, c.delta
            FROM (SELECT *, us AS es, ue AS ee FROM u) c JOIN tags g ON {_covers(mode)}
        ),
        per_unit AS (SELECT corpus, story, unit, count(*) AS k FROM cov GROUP BY ALL),
        rows AS (
            SELECT c.capability, c.status, c.change, c.delta, p.k = 1 AS alone
            FROM cov c JOIN per_unit p USING (corpus, story, unit)
            UNION ALL SELECT '(all)', status, change, delta, true FROM u
            UNION ALL SELECT '(no capability)', status, change, delta, true FROM u
              WHERE NOT EXISTS (SELECT 1 FROM cov c WHERE c.corpus = u.corpus
                                AND c.story = u.story AND c.unit = u.unit)
        )
        SELECT capability, count(*) AS n,
               count(*) FILTER (WHERE status = 'both') AS both_correct,
               count(*) FILTER (WHERE status = 'gain') AS gains,
               count(*) FILTER (WHERE status = 'gain' AND change = 'rank') AS rank_gains,
               count(*) FILTER (WHERE status = 'gain' AND change = 'confidence')
                   AS confidence_gains,
               count(*) FILTER (WHERE status = 'gain' AND alone) AS gains_exclusive,
               count(*) FILTER (WHERE status = 'loss') AS losses,
               count(*) FILTER (WHERE status = 'loss' AND alone) AS losses_exclusive,
               count(*) FILTER (WHERE status = 'gain') - count(*) FILTER (WHERE status = 'loss')
                   AS net,
               avg(delta) AS mean_delta
        FROM rows GROUP BY capability
        ORDER BY capability LIKE '(%' , net DESC, capability
        """
    ).df()


def _examples(
    con: duckdb.DuckDBPyConnection, lo: float, hi: float, n: int, mode: str, pool: str
) -> pd.DataFrame:
    return con.execute(
        f"""
        WITH pool AS (SELECT * FROM u WHERE {pool}),
        q AS (SELECT quantile_cont(delta, {lo}) AS qlo, quantile_cont(delta, {hi}) AS qhi
              FROM pool),
        picked AS (
            SELECT pool.* FROM pool, q WHERE pool.delta BETWEEN q.qlo AND q.qhi
            ORDER BY hash(pool.corpus, pool.story, pool.unit) LIMIT {int(n)}
        )
        SELECT c.corpus, c.story, c.unit, c.us, c.ue, c.status, c.change, c.lp_a, c.lp_b,
               c.delta,
               coalesce(list(DISTINCT g.capability ORDER BY g.capability)
                        FILTER (WHERE g.capability IS NOT NULL), []) AS capabilities
        FROM (SELECT *, us AS es, ue AS ee FROM picked) c LEFT JOIN tags g ON {_covers(mode)}
        GROUP BY ALL
        ORDER BY c.delta DESC
        """
    ).df()
