"""``capgym.cluster``: group unexplained positions by what the model does there.

Example (needs a run with ``stories260K`` scored, see ``capgym score``)::

    import capgym
    r = capgym.cluster("capgym-out", "stories260K")            # its residue
    r.clusters.head()          # size, mass, top tokens and contexts, a @tagger skeleton
    r                          # in Jupyter: each cluster with 10 examples as token views
    g = capgym.cluster("capgym-out", "bitllama-3M", against="stories260K")  # untagged gains
    v = capgym.cluster.rediscover("capgym-out", "stories260K")  # validation: AMI, purity
    a = capgym.cluster.rediscover("capgym-out", "stories260K", features=("hidden", "attention"))

Method: positions (:mod:`capgym.cluster.positions`) become vectors of the model's final
hidden state, and optionally the embedding of the last token read and a summary of each
head's attention pattern (:mod:`capgym.cluster.features`), clustered with HDBSCAN (scikit-learn; density-based, so the number of clusters is not
fixed in advance and points in no dense region are left as noise, cluster ``-1``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd
from sklearn.cluster import HDBSCAN

from capgym.cluster.features import (
    ATTENTION_WEIGHT,
    CONTEXT_WEIGHT,
    DEFAULT_FEATURES,
    check_feature_sets,
    input_embeddings,
)
from capgym.cluster.features import features as feature_rows
from capgym.cluster.positions import residue_and_hidden, untagged_gains
from capgym.cluster.report import ClusterReport, Rediscovery, rediscovery_scores, summarise
from capgym.cluster.states import model_states, stored_ids
from capgym.cluster.tables import write_tables
from capgym.errors import StoreError, UsageError
from capgym.explain import (
    DEFAULT_MIN_COUNT,
    DEFAULT_REFERENCE,
    as_run,
    check_scored,
    check_threshold,
    connect,
    ensure_explains,
    ensure_tags,
    stories_of,
    words_frame,
)
from capgym.models.base import LanguageModel
from capgym.store import RunStore
from capgym.store.confident import CONFIDENT
from capgym.store.tokenizers import same_tokenizer

HIDDEN = ("repeated-name", "closing-quote", "pronoun", "story-opening")
MAX_POSITIONS = 6000


def cluster(
    run: RunStore | str | os.PathLike[str],
    model: str,
    against: str | None = None,
    corpus: str | None = None,
    threshold: float = CONFIDENT,
    hide: Sequence[str] = (),
    max_positions: int = MAX_POSITIONS,
    min_cluster_size: int | None = None,
    features: Sequence[str] = DEFAULT_FEATURES,
    context_weight: float = CONTEXT_WEIGHT,
    attention_weight: float = ATTENTION_WEIGHT,
    n_examples: int = 10,
    seed: int = 0,
    lm: LanguageModel | None = None,
    write: bool = True,
) -> ClusterReport:
    """Cluster ``model``'s residue (or, with ``against``, the positions it gets
    confidently right that ``against`` does not and no tag covers) by its own state.

    ``hide`` adds the positions of those tag families, labelled, for rediscovery (see
    :func:`rediscover`).  At most ``max_positions`` positions are clustered (a seeded
    uniform sample; with ``hide``, half for the residue and the rest shared equally by
    the hidden families).  ``min_cluster_size`` defaults to 0.5% of the sample (at least
    10).  ``features`` picks the blocks of each position's vector
    (:mod:`capgym.cluster.features`): ``hidden`` (final state), ``context`` (last token's
    embedding, weighted ``context_weight``), ``attention`` (each head's pattern,
    :mod:`capgym.cluster.attention`, weighted ``attention_weight``).  Writes the ``clusters`` and ``cluster_members`` tables unless ``write`` is false.
    """
    check_threshold(threshold)
    chosen = check_feature_sets(features)
    if max_positions < 20:
        raise UsageError(f"max_positions must be at least 20, got {max_positions}")
    if min_cluster_size is not None and min_cluster_size < 2:  # HDBSCAN's own check is a traceback
        raise UsageError(f"min_cluster_size must be at least 2, got {min_cluster_size}")
    store = as_run(run)
    corpora = check_scored(store, model, corpus)
    if against is not None:
        if against == model:
            raise UsageError(f"both models are '{model}'; cluster gains over another model")
        base = check_scored(store, against, corpus)
        corpora = [c for c in corpora if c in base]
        if not corpora:
            raise StoreError(f"'{model}' and '{against}' share no scored corpus in {store.path}")
        if not same_tokenizer(store, model, against, corpora):
            raise UsageError(
                f"'{model}' and '{against}' tokenize differently; untagged gains compare the "
                "same token at the same position (use `capgym diff` for word-level gains)"
            )
    if lm is None:
        from capgym.models import load_model

        lm = load_model(model)
    ensure_tags(store, corpora)
    stories = stories_of(store, corpora)
    words = words_frame(stories)
    ensure_explains(store, model, corpora, DEFAULT_REFERENCE, DEFAULT_MIN_COUNT, words=words,
                    tokenizer=lm.tokenizer)  # fmt: skip
    con = connect(store, words)
    try:
        if against is None:
            pool = residue_and_hidden(con, model, corpora, threshold, tuple(hide))
        else:
            pool = untagged_gains(con, model, against, corpora, threshold)
        n_by_label = {str(k): int(v) for k, v in pool["label"].value_counts().items()}
        _check_hidden(con, model, hide, n_by_label)
        picked = _sample(pool, max_positions, tuple(hide), seed)
        if "context" in chosen:
            picked = _with_prev_token(con, model, picked, lm.bos_id)
        ids = stored_ids(con, model, picked)
    finally:
        con.close()
    if len(picked) < 2:
        raise UsageError(f"only {len(picked)} positions to cluster for '{model}'; nothing to do")
    states, heads = model_states(lm, _with_first(lm, ids, stories), picked,
                                 attention="attention" in chosen)  # fmt: skip
    context = (
        input_embeddings(lm)[picked["prev_token_id"].to_numpy()] if "context" in chosen else None
    )
    x = feature_rows(states if "hidden" in chosen else None, context, heads,
                     context_weight=context_weight, attention_weight=attention_weight,
                     seed=seed)  # fmt: skip
    size = min_cluster_size or max(10, len(picked) // 200)
    hdb = HDBSCAN(min_cluster_size=size, min_samples=5, copy=True)
    labels = hdb.fit_predict(x)
    source = "residue" if against is None else f"gains over {against}"
    members, clusters, examples = summarise(
        picked, labels, hdb.probabilities_, model, source, n_examples, stories
    )
    report = ClusterReport(
        model=model, against=against, source=source, corpora=corpora, threshold=threshold,
        n_by_label=n_by_label, n_clustered=len(picked),
        min_cluster_size=size, context_weight=context_weight if "context" in chosen else 0.0, hidden=tuple(hide),
        clusters=clusters, members=members, examples=examples,
        rediscovery=rediscovery_scores(members, tuple(hide)) if hide else None, run=store,
        features=chosen,
    )  # fmt: skip
    if write:
        write_tables(store, report)
    return report


def rediscover(
    run: RunStore | str | os.PathLike[str],
    model: str,
    hide: Sequence[str] = HIDDEN,
    **kwargs: object,
) -> Rediscovery:
    """Validate the clustering: hide the tags of known families (default: repeated-name,
    closing-quote, pronoun, story-opening), cluster their positions together with the
    residue, and score how well the clusters recover the hidden families (see
    :class:`capgym.cluster.report.Rediscovery` for AMI and purity)."""
    report = cluster(run, model, hide=hide, write=False, **kwargs)  # type: ignore[arg-type]
    assert report.rediscovery is not None
    return report.rediscovery


def _sample(pool: pd.DataFrame, n: int, hide: tuple[str, ...], seed: int) -> pd.DataFrame:
    """At most ``n`` rows: a uniform sample, or with hidden families half residue and an
    equal share per family."""
    if not hide:
        out = pool if len(pool) <= n else pool.sample(n=n, random_state=seed)
    else:
        caps = {"residue": n // 2} | {f: (n - n // 2) // len(hide) for f in hide}
        parts = [
            g
            if len(g) <= caps.get(str(label), 0)
            else g.sample(caps[str(label)], random_state=seed)
            for label, g in pool.groupby("label", sort=True)
            if caps.get(str(label), 0) > 0
        ]
        out = pd.concat(parts) if parts else pool.head(0)
    return out.sort_values(["corpus", "story", "pos"]).reset_index(drop=True)


def _check_hidden(
    con: duckdb.DuckDBPyConnection, model: str, hide: Sequence[str], n_by_label: dict[str, int]
) -> None:
    """A hidden family with no position of its own (a misspelt name, or one always
    overlapping another) would leave the rediscovery scores NaN: say so instead."""
    missing = [f for f in hide if f not in n_by_label]
    if missing:
        tagged = [r[0] for r in con.execute("SELECT DISTINCT name FROM hits WHERE kind = "
                                             "'capability' ORDER BY name").fetchall()]  # fmt: skip
        raise UsageError(f"hidden family {missing[0]!r} alone covers no confident correct "
                         f"position of '{model}'; tagged: {', '.join(tagged) or 'nothing'}")  # fmt: skip


def _with_prev_token(con, model: str, picked: pd.DataFrame, bos: int | None) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """``picked`` with ``prev_token_id``: the last token the model read before ``pos``."""
    con.register("_pk", picked[["corpus", "story", "pos"]])
    prev = con.execute(
        """
        SELECT k.corpus, k.story, k.pos, s.token_id AS prev_token_id
        FROM _pk k LEFT JOIN scores s ON s.model = ? AND s.corpus = k.corpus
          AND s.story = k.story AND s.pos = k.pos - 1
        """,
        [model],
    ).df()
    out = picked.merge(prev, on=["corpus", "story", "pos"], how="left")
    fill = bos if bos is not None else 0
    out["prev_token_id"] = out["prev_token_id"].fillna(fill).astype(np.int64)
    return out


def _with_first(lm: LanguageModel, ids: dict[tuple[str, int], list[int]],
                stories: pd.DataFrame) -> dict[tuple[str, int], list[int]]:  # fmt: skip
    """Each story's stored ids behind its position 0: BOS, or (a model without one) the
    first token of the story's encoding, which scoring does not store."""
    if lm.bos_id is not None:
        return {k: [lm.bos_id, *v] for k, v in ids.items()}
    texts = {(str(c), int(s)): t for c, s, t in stories[["corpus", "story", "text"]].values}
    return {k: [lm.encode(texts[k]).ids[0], *v] for k, v in ids.items()}
