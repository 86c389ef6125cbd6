"""Reading a model's scores from a run and caching its ``explains`` table there.

The ``explains`` table of (model, corpus) is one part of the run's ``explains`` table,
stamped with the score set and reference it was computed from; it is recomputed when
either changes (:meth:`capgym.store.RunStore.is_fresh`).

>>> import tempfile
>>> from capgym.store import open_run
>>> scored_corpora(open_run(tempfile.mkdtemp()), "stories260K")
[]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from capgym.errors import StoreError
from capgym.explain.align import words_frame
from capgym.explain.explainers import explain_tokens, explains_table
from capgym.explain.ngrams import NgramReference
from capgym.explain.reference import reference_fingerprint, resolve_reference
from capgym.progress import task_progress
from capgym.store import RunStore

if TYPE_CHECKING:
    from capgym.models.base import Tokenizer

EXPLAIN_VERSION = 2  # bump when an explainer's definition changes


def scored_corpora(run: RunStore, model: str) -> list[str]:
    """Corpora on which ``model`` has a score set in ``run``."""
    return sorted(c for (m, c) in run.current_score_sets() if m == model)


def check_scored(run: RunStore, model: str, corpus: str | None) -> list[str]:
    """The corpora to use for ``model``; raise a one-line error naming the fix if none."""
    have = scored_corpora(run, model)
    if not have:
        known = sorted({m for m, _ in run.current_score_sets()})
        hint = f" (scored models: {', '.join(known)})" if known else ""
        raise StoreError(
            f"model '{model}' has no scores in {run.path}{hint}; "
            f"run `capgym score --model {model} --out {run.path}` first"
        )
    if corpus is None:
        return have
    if corpus not in have:
        raise StoreError(
            f"model '{model}' is not scored on corpus '{corpus}' in {run.path} "
            f"(scored: {', '.join(have)}); run `capgym score --model {model} --corpus {corpus} "
            f"--out {run.path}` first"
        )
    return [corpus]


def scored_tokens(run: RunStore, model: str, corpus: str) -> pd.DataFrame:
    """corpus, story, pos, token_id, char_start, char_end of one model's scores."""
    return run.sql(
        "SELECT corpus, story, pos, token_id, char_start, char_end FROM scores "
        "WHERE model = ? AND corpus = ? ORDER BY story, pos",
        [model, corpus],
    )


def stories_of(run: RunStore, corpora: list[str]) -> pd.DataFrame:
    """corpus, story, text of the stories of ``corpora`` stored in the run."""
    return run.sql(
        "SELECT corpus, story, text FROM stories WHERE list_contains(?, corpus) "
        "ORDER BY corpus, story",
        [corpora],
    )


def ensure_tags(run: RunStore, corpora: list[str], progress: bool = False) -> list[str]:
    """Tag the corpora that have no tags in the run yet (every registered tagger, as
    ``capgym tag`` does); returns the corpora tagged now."""
    have = set(run.sql("SELECT DISTINCT corpus FROM tags")["corpus"].dropna())
    missing = [c for c in corpora if c not in have and not run.has_part("tags", c)]
    if not missing:
        return []
    from capgym.tags.store import tag_corpus

    for corpus in missing:
        tag_corpus(run, corpus, progress=progress)
    return missing


def explains_key(model: str, corpus: str) -> str:
    """The key of the ``explains`` part of (model, corpus)."""
    return f"{model}--{corpus}"


def _stamp(run: RunStore, model: str, corpus: str, reference_fp: str) -> dict[str, object]:
    key = run.current_score_sets().get((model, corpus))
    return {"score_set": key, "reference": reference_fp, "version": EXPLAIN_VERSION}


def ensure_explains(
    run: RunStore,
    model: str,
    corpora: list[str],
    reference: str | NgramReference,
    min_count: int,
    words: pd.DataFrame | None = None,
    progress: bool = False,
    tokenizer: Tokenizer | None = None,
) -> list[str]:
    """Compute (or reuse) the ``explains`` part of every (model, corpus); returns the
    corpora that were (re)computed.  ``words`` (:func:`words_frame` of the stories) is
    computed when not given; ``tokenizer`` (the model's, when the caller has it loaded)
    tokenizes the reference without loading the model again."""
    todo = []
    fp = reference_fingerprint(run, model, reference, min_count, tokenizer)
    for corpus in corpora:
        stamp = _stamp(run, model, corpus, fp)
        if not run.is_fresh("explains", explains_key(model, corpus), stamp):
            todo.append((corpus, stamp))
    if not todo:
        return []
    with task_progress(f"explain {model}", 1 + len(todo), progress) as advance:
        ref = resolve_reference(run, model, reference, min_count, tokenizer)
        advance(1)
        for corpus, stamp in todo:
            tokens = scored_tokens(run, model, corpus)
            w = words[words["corpus"] == corpus] if words is not None else None
            if w is None:
                w = words_frame(stories_of(run, [corpus]))
            table = explains_table(model, explain_tokens(tokens, w, ref))
            run.write_table("explains", explains_key(model, corpus), table, stamp=stamp)
            advance(1)
    return [c for c, _ in todo]
