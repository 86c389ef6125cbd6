"""``capgym.explain``: coverage of a model's confident predictions, and its residue.

Example (needs a run with ``stories260K`` scored, see ``capgym score``)::

    import capgym
    report = capgym.explain("capgym-out", "stories260K", threshold=0.5)
    report.coverage                # one number: share explained by anything
    report.shares                  # per capability and explainer
    report.residue_groups.head()   # the biggest unexplained groups
    report                         # in Jupyter: tables, examples, a token heat-map
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pyarrow as pa

from capgym.errors import UsageError
from capgym.explain.align import EFFECTIVE_END_SQL, EFFECTIVE_START_SQL, words_frame
from capgym.explain.coverage import COVERS_SQL, build_confident, build_hits, shares
from capgym.explain.explainers import EXPLAINS
from capgym.explain.html import frame_view, story_data
from capgym.explain.ngrams import NgramReference
from capgym.explain.reference import DEFAULT_MIN_COUNT, DEFAULT_REFERENCE
from capgym.explain.report import ExplainReport
from capgym.explain.residue import add_snippets, build_residue, residue_groups, story_info
from capgym.explain.store import check_scored, ensure_explains, ensure_tags, stories_of
from capgym.explain.tables import write_tables
from capgym.render import TokenView
from capgym.store import RunStore, open_run
from capgym.store.confident import CONFIDENT

if TYPE_CHECKING:
    from capgym.models.base import Tokenizer

_DUCK = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.int32(): "INTEGER"}


def as_run(run: RunStore | str | os.PathLike[str]) -> RunStore:
    """A run store from a path (which must exist) or a store."""
    return run if isinstance(run, RunStore) else open_run(run, create=False)


def check_threshold(threshold: float) -> None:
    """Refuse a threshold outside (0, 1] with the fix."""
    if not 0.0 < threshold <= 1.0:
        raise UsageError(f"threshold must be in (0, 1], got {threshold}; e.g. --threshold 0.5")


def connect(
    run: RunStore, words: pd.DataFrame, info: pd.DataFrame | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection on the run with ``_words`` (and ``_info``) registered and an
    empty ``explains`` view when the run has none."""
    con = run.connect()
    con.execute("SET enable_progress_bar = false")  # it would write to stdout (and --json)
    if "explains" not in run.views():
        cols = ", ".join(f'CAST(NULL AS {_DUCK[f.type]}) AS "{f.name}"' for f in EXPLAINS)
        con.execute(f"CREATE OR REPLACE VIEW explains AS SELECT {cols} WHERE false")
    con.register("_words", words)
    if info is not None:
        con.register("_info", info)
    return con


def explain(
    run: RunStore | str | os.PathLike[str],
    model: str,
    corpus: str | None = None,
    threshold: float = CONFIDENT,
    reference: str | NgramReference = DEFAULT_REFERENCE,
    min_count: int = DEFAULT_MIN_COUNT,
    tags: bool = True,
    top: int = 10,
    n_examples: int = 3,
    progress: bool = False,
    tokenizer: Tokenizer | None = None,
) -> ExplainReport:
    """Coverage and residue of ``model``'s confident correct predictions in ``run``.

    Computes the ``explains`` table if missing (n-grams from ``reference``, tokenized
    with ``tokenizer``, by default the model's, loaded once), and the ``tags`` if missing
    and ``tags`` is true; then :func:`coverage_report`, which writes the ``coverage`` and
    ``residue`` tables the atlas reads.  ``corpus=None`` takes every corpus the model was
    scored on.  See :mod:`capgym.explain.coverage` for the definitions.
    """
    check_threshold(threshold)
    store = as_run(run)
    corpora = check_scored(store, model, corpus)
    if tags:
        ensure_tags(store, corpora, progress=progress)
    stories = stories_of(store, corpora)
    words = words_frame(stories)
    ensure_explains(store, model, corpora, reference, min_count, words=words, progress=progress,
                    tokenizer=tokenizer)  # fmt: skip
    return _measure(store, model, corpora, threshold, top, n_examples, stories, words)


def coverage_report(
    run: RunStore | str | os.PathLike[str],
    model: str,
    corpus: str | None = None,
    threshold: float = CONFIDENT,
    top: int = 10,
    n_examples: int = 3,
) -> ExplainReport:
    """Coverage and residue of ``model`` from the ``tags`` and ``explains`` already in
    ``run`` (nothing is tagged or explained), written to the run's ``coverage`` and
    ``residue`` tables (:mod:`capgym.explain.tables`) and returned.

    :func:`explain` is this after computing its missing inputs; call this directly for
    runs whose ``explains`` come from elsewhere.

    >>> import tempfile
    >>> from capgym.view.demo import demo_run
    >>> run = demo_run(tempfile.mkdtemp(), results=False)
    >>> r = coverage_report(run, "tiny-b", threshold=0.7)
    >>> stored = run.sql("SELECT * FROM coverage WHERE model = 'tiny-b' AND name = 'any'")
    >>> float(stored.threshold[0]), float(stored.share[0]) == r.coverage
    (0.7, True)
    """
    check_threshold(threshold)
    store = as_run(run)
    corpora = check_scored(store, model, corpus)
    stories = stories_of(store, corpora)
    return _measure(
        store, model, corpora, threshold, top, n_examples, stories, words_frame(stories)
    )


def _measure(
    store: RunStore,
    model: str,
    corpora: list[str],
    threshold: float,
    top: int,
    n_examples: int,
    stories: pd.DataFrame,
    words: pd.DataFrame,
) -> ExplainReport:
    con = connect(store, words, story_info(stories))
    try:
        n_scored = con.execute(
            "SELECT count(*) FROM scores WHERE model = ? AND list_contains(?, corpus)",
            [model, corpora],
        ).fetchone()[0]  # type: ignore[index]
        build_confident(con, model, corpora, threshold)
        n_conf, mass = con.execute("SELECT count(*), coalesce(sum(p), 0) FROM conf").fetchone()  # type: ignore[misc]
        build_hits(con, model, corpora)
        share_df = shares(con, corpora)
        build_residue(con)
        rows = con.execute("SELECT * FROM residue_rows ORDER BY corpus, story, pos").df()
        write_tables(store, model, corpora, threshold, (n_scored, n_conf, mass), share_df, rows)
        if n_conf == 0:
            return ExplainReport.empty(model, corpora, threshold)
        groups, examples = residue_groups(con, top=top, n_examples=n_examples)
        first = stories.iloc[0]
        story = _story_tokens(con, model, str(first["corpus"]), int(first["story"]))
    finally:
        con.close()
    anyrow = share_df[(share_df["kind"] == "total") & (share_df["name"] == "any")].iloc[0]
    return ExplainReport(
        model=model,
        corpora=corpora,
        threshold=threshold,
        n_scored=int(n_scored),
        n_confident=int(n_conf),
        mass_confident=float(mass),
        coverage=float(anyrow["share"]),
        coverage_mass=float(anyrow["share_mass"]),
        shares=share_df,
        residue_groups=groups,
        residue_examples=add_snippets(examples, stories),
        story=story,
        run=store,
    )


def _story_tokens(
    con: duckdb.DuckDBPyConnection, model: str, corpus: str, story: int
) -> pd.DataFrame:
    return con.execute(
        f"""
        WITH c AS (
            SELECT corpus, story, pos, char_start, char_end, exp(logprob) AS p, rank,
                {EFFECTIVE_START_SQL} AS es, {EFFECTIVE_END_SQL} AS ee
            FROM scores WHERE model = ? AND corpus = ? AND story = ?
        ), caps AS (
            SELECT c.pos, list(DISTINCT g.capability ORDER BY g.capability) AS capabilities
            FROM c JOIN tags g ON {COVERS_SQL} GROUP BY c.pos
        ), expl AS (
            SELECT x.pos, list(DISTINCT x.explainer ORDER BY x.explainer) AS explainers
            FROM explains x WHERE x.model = ? AND x.corpus = ? AND x.story = ? GROUP BY x.pos
        )
        SELECT c.corpus, c.story, c.pos,
               substring(s.text, c.char_start + 1, c.char_end - c.char_start) AS text,
               c.p, c.rank, coalesce(caps.capabilities, []) AS capabilities,
               coalesce(expl.explainers, []) AS explainers
        FROM c JOIN stories s USING (corpus, story)
        LEFT JOIN caps USING (pos) LEFT JOIN expl USING (pos)
        ORDER BY c.pos
        """,
        [model, corpus, story, model, corpus, story],
    ).df()


@dataclass(frozen=True, eq=False)
class StoryHeatmap:
    """One story's tokens for a model (``tokens``: pos, text, p, rank, capabilities,
    explainers) and their token view, shown in Jupyter."""

    tokens: pd.DataFrame
    title: str = ""
    view: TokenView | None = None  # drawn from the tokens frame when missing

    def _repr_html_(self) -> str:
        return (self.view or frame_view(self.tokens, self.title)).html()


def story_heatmap(
    run: RunStore | str | os.PathLike[str], model: str, corpus: str, story: int
) -> StoryHeatmap:
    """Token heat-map of one story: probability colours, capability underlines, hover
    with probability, rank, entropy and top-k (a :func:`capgym.render.token_view`).

    Example::

        capgym.explain.story_heatmap("capgym-out", "stories260K",
                                     "tinystories-validation-0-999", 3)
    """
    store = as_run(run)
    check_scored(store, model, corpus)
    title = f"{model}: story {story} ({corpus})"
    con = connect(store, words_frame(stories_of(store, [corpus]).head(0)))
    try:
        tokens = _story_tokens(con, model, corpus, story)
        if tokens.empty:
            raise UsageError(f"story {story} of '{corpus}' is not scored for '{model}'")
        view = story_data(con).view(corpus, story, model, title=title)
    finally:
        con.close()
    return StoryHeatmap(tokens, title, view)
