"""Tagging a corpus of a run: read its stories, run every tagger, store ``tags``.

One Parquet part per corpus (``RUN/tables/tags/<corpus>.parquet``), replaced when the
corpus is tagged again.  The reference corpus for corpus statistics (names, nouns,
common phrases) defaults to the TinyStories training sample in ``CAPGYM_ASSETS``.

Example (needs a run with stories)::

    from capgym.store import open_run
    tag_corpus(open_run("capgym-out"), "tinystories-validation-0-999")
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from capgym.errors import UsageError
from capgym.store import RunStore
from capgym.tags import TagWarning, tag, tag_warnings

DEFAULT_REFERENCE = "tinystories-train-sample-2316"


def reference_texts(reference: str | None = DEFAULT_REFERENCE) -> list[str] | None:
    """Texts of the reference corpus, or None (use the tagged stories) if unavailable."""
    if reference is None:
        return None
    from capgym.corpus import load_corpus
    from capgym.errors import CorpusNotFound

    try:
        return load_corpus(reference).texts
    except CorpusNotFound:
        if reference != DEFAULT_REFERENCE:
            raise
        return None


def tag_corpus(
    run: RunStore,
    corpus: str,
    taggers: list[str] | None = None,
    user_taggers: list[str | Path] | None = None,
    reference: str | None = DEFAULT_REFERENCE,
    progress: bool = False,
) -> tuple[int, list[TagWarning]]:
    """Tag the stories of ``corpus`` stored in ``run``; returns (rows, warnings)."""
    stories = run.sql(
        "SELECT corpus, story, text FROM stories WHERE corpus = ? ORDER BY story", [corpus]
    )
    if stories.empty:
        known = run.sql("SELECT DISTINCT corpus FROM stories").corpus.tolist()
        raise UsageError(
            f"run {run.path} has no stories of corpus '{corpus}' (has: {known or 'none'}); "
            f"run `capgym score --corpus {corpus}` first"
        )
    table = tag(
        pd.DataFrame(stories),
        taggers=taggers,
        user_taggers=user_taggers,
        reference_texts=reference_texts(reference),
        progress=progress,
    )
    run.write_table("tags", corpus, table)
    return table.num_rows, tag_warnings(table)
