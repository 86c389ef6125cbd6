"""Clusters as tables, their examples, the rediscovery score, and the report object.

Per cluster (``clusters``): ``cluster`` (numbered by probability mass, 0 = largest;
``-1`` = noise, positions in no dense region), ``n`` (positions clustered), ``share``
(of the clustered positions), ``mass`` (sum of the model's probability of the correct
token), ``share_mass`` (of the clustered mass), ``mean_p``, ``top_tokens``,
``top_words``, ``top_prev`` (previous word) and ``top_contexts`` (previous two words ->
word), each as ``"item (share)"`` strings of the five commonest; ``labels`` (the
position labels inside, e.g. residue / a hidden family / gain-rank), ``majority`` and
``majority_share``; ``name`` (its three commonest predicted tokens), ``tagger`` (the
skeleton's tagger name) and ``skeleton`` (an editable ``@tagger`` file, :mod:`capgym.cluster.skeleton`).

>>> members = pd.DataFrame({"label": ["a", "a", "b", "residue"], "cluster": [0, 0, 0, -1]})
>>> r = rediscovery_scores(members, ("a", "b"))
>>> round(r.purity, 3), r.n_hidden
(0.667, 3)
"""

from __future__ import annotations

import html
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_mutual_info_score

from capgym.cluster.skeleton import skeleton
from capgym.explain import add_snippets, example_views, frame_html, page_head, records, run_stories
from capgym.store import RunStore

TOP = 5


def _top(values: pd.Series, k: int = TOP) -> list[tuple[str, float]]:
    counts = Counter(str(v).replace("\n", "↵") for v in values)
    total = sum(counts.values()) or 1
    return [(v, c / total) for v, c in counts.most_common(k)]


def _fmt(items: list[tuple[str, float]]) -> str:
    return ", ".join(f"{v!r} ({s:.0%})" for v, s in items)


def summarise(
    picked: pd.DataFrame,
    labels: np.ndarray,
    probabilities: np.ndarray,
    model: str,
    source: str,
    n_examples: int,
    stories: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(members, clusters, examples)`` of one clustering; clusters renumbered by mass.

    ``examples``: up to ``n_examples`` members per cluster, the most central first (highest
    HDBSCAN membership probability), with snippets.
    """
    m = picked.assign(raw=labels, prob=probabilities)
    mass = m[m["raw"] >= 0].groupby("raw")["p"].sum().sort_values(ascending=False, kind="stable")
    renumber = {raw: k for k, raw in enumerate(mass.index)} | {-1: -1}
    m["cluster"] = m["raw"].map(renumber).astype(np.int64)
    m = m.drop(columns="raw")
    total_mass = float(m["p"].sum()) or 1.0
    rows, ex_parts = [], []
    for k, g in m.groupby("cluster", sort=True):
        ex = g.assign(_h=pd.util.hash_pandas_object(g[["story", "pos"]], index=False).to_numpy())
        ex = ex.sort_values(["prob", "_h"], ascending=[False, True]).head(n_examples)
        ex = add_snippets(ex.drop(columns="_h"), stories)
        ex_parts.append(ex)
        contexts = g["prev_words"].astype(str) + " -> " + g["word"].astype(str)
        words, prevs = _top(g["word"]), _top(g["prev_word"])
        labs = _top(g["label"], 10)
        where = f"cluster {k} of {model}'s {source}"
        pieces = _top(g["piece"])
        name = " / ".join(repr(v) for v, _ in pieces[:3]) if k >= 0 else "noise"
        tagger_name = f"candidate-{_slug(model)}-{k}" if k >= 0 else ""
        rows.append({
            "cluster": int(k), "name": name, "n": len(g), "share": len(g) / len(m),
            "mass": float(g["p"].sum()), "share_mass": float(g["p"].sum()) / total_mass,
            "mean_p": float(g["p"].mean()), "top_tokens": _fmt(pieces),
            "top_words": _fmt(words), "top_prev": _fmt(prevs), "top_contexts": _fmt(_top(contexts)),
            "labels": _fmt(labs), "majority": labs[0][0], "majority_share": labs[0][1],
            "tagger": tagger_name,
            "skeleton": skeleton(tagger_name, where, [w for w, _ in words[:3]],
                                 [p for p, _ in prevs[:3]], list(ex["snippet"]))
            if k >= 0 else "",
        })  # fmt: skip
    clusters = pd.DataFrame(rows)
    if not clusters.empty:
        clusters = pd.concat(
            [clusters[clusters["cluster"] >= 0], clusters[clusters["cluster"] < 0]]
        ).reset_index(drop=True)
    examples = pd.concat(ex_parts, ignore_index=True) if ex_parts else pd.DataFrame()
    return m.reset_index(drop=True), clusters, examples


def _slug(model: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in model.lower()).strip("-")


@dataclass(frozen=True)
class Rediscovery:
    """How well clusters recover families whose tags were hidden.

    * ``ami_hidden``: adjusted mutual information (scikit-learn, arithmetic
      normalisation) between the family and the cluster of each hidden-family position
      (noise counts as one more cluster); 0 = chance, 1 = the clusters are the families.
    * ``ami_all``: the same over every clustered position, the residue being one class.
    * ``purity``: over the positions placed in a cluster (not noise), the share that
      belong to their cluster's commonest class (a hidden family or ``residue``).
    * ``per_family``: family, n, ``recovered`` (share of its positions in clusters whose
      majority is that family), ``noise`` (share left unclustered), ``best_cluster`` and
      ``best_share`` (the cluster holding most of it and the share it holds).

    A cluster whose two commonest classes tie has no majority: it recovers no family,
    so that ``recovered`` does not depend on row order and never overstates (its top
    count still enters ``purity``, which is the same whichever class wins the tie).
    """

    ami_hidden: float
    ami_all: float
    purity: float
    n_hidden: int
    n_residue: int
    n_clusters: int
    per_family: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ami_hidden": self.ami_hidden, "ami_all": self.ami_all, "purity": self.purity,
            "n_hidden": self.n_hidden, "n_residue": self.n_residue,
            "n_clusters": self.n_clusters, "per_family": records(self.per_family),
        }  # fmt: skip


def rediscovery_scores(members: pd.DataFrame, hide: tuple[str, ...]) -> Rediscovery:
    """The :class:`Rediscovery` scores of ``members`` (columns label, cluster)."""
    lab, cl = members["label"].astype(str), members["cluster"].to_numpy()
    hidden = lab.isin(hide).to_numpy()
    ami_h = adjusted_mutual_info_score(lab[hidden], cl[hidden]) if hidden.sum() > 1 else math.nan
    ami_a = adjusted_mutual_info_score(lab, cl) if len(lab) > 1 else math.nan
    inside = cl >= 0
    majority: dict[int, str | None] = {}  # None: a tie, no majority
    agree = 0
    for k in np.unique(cl[inside]):
        counts = lab[cl == k].value_counts()
        tied = len(counts) > 1 and counts.iloc[1] == counts.iloc[0]
        majority[int(k)] = None if tied else str(counts.index[0])
        agree += int(counts.iloc[0])
    purity = agree / int(inside.sum()) if inside.any() else math.nan
    rows = []
    for f in hide:
        sel = (lab == f).to_numpy()
        n = int(sel.sum())
        if n == 0:
            continue
        kf = cl[sel]
        rec = sum(majority.get(int(k)) == f for k in kf) / n
        best = pd.Series(kf[kf >= 0]).value_counts()
        rows.append({"family": f, "n": n, "recovered": rec, "noise": float((kf < 0).mean()),
                     "best_cluster": int(best.index[0]) if len(best) else -1,
                     "best_share": float(best.iloc[0] / n) if len(best) else 0.0})  # fmt: skip
    return Rediscovery(float(ami_h), float(ami_a), float(purity), int(hidden.sum()),
                       int((lab == "residue").sum()), len(majority), pd.DataFrame(rows))  # fmt: skip


@dataclass(frozen=True, eq=False)
class ClusterReport:
    """The clusters of one model's residue (or untagged gains over ``against``).

    ``clusters``: see the module docstring.  ``members``: every clustered position
    (corpus, story, pos, token_id, p, es, ee, piece, word, prev_word, prev_words, label,
    cluster, prob).  ``examples``: up to 10 members per cluster with snippets.
    ``n_by_label``: positions available before sampling, per label.
    """

    model: str
    against: str | None
    source: str
    corpora: list[str]
    threshold: float
    n_by_label: dict[str, int]
    n_clustered: int
    min_cluster_size: int
    context_weight: float
    hidden: tuple[str, ...]
    clusters: pd.DataFrame
    members: pd.DataFrame
    examples: pd.DataFrame
    rediscovery: Rediscovery | None = None
    run: RunStore | None = field(default=None, repr=False, compare=False)
    features: tuple[str, ...] = ("hidden",)

    @property
    def n_clusters(self) -> int:
        return int((self.clusters["cluster"] >= 0).sum()) if len(self.clusters) else 0

    @property
    def n_noise(self) -> int:
        return int((self.members["cluster"] < 0).sum())

    def candidates(self, top: int = 5) -> pd.DataFrame:
        """The ``top`` clusters by probability mass: the candidate capabilities."""
        c = self.clusters
        return c[c["cluster"] >= 0].head(top).reset_index(drop=True)

    def headline(self) -> str:
        total = sum(self.n_by_label.values())
        return (
            f"{self.model}, {self.source} on {', '.join(self.corpora)} (p >= {self.threshold}): "
            f"{self.n_clustered:,} of {total:,} positions clustered into {self.n_clusters} "
            f"clusters (min size {self.min_cluster_size}), {self.n_noise:,} noise"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for ``--json``); leaves out the members."""
        return {
            "model": self.model, "against": self.against, "source": self.source,
            "corpora": self.corpora, "threshold": self.threshold, "n_by_label": self.n_by_label,
            "n_clustered": self.n_clustered, "n_clusters": self.n_clusters,
            "n_noise": self.n_noise, "min_cluster_size": self.min_cluster_size,
            "context_weight": self.context_weight, "features": list(self.features),
            "hidden": list(self.hidden),
            "clusters": records(self.clusters),
            "examples": records(self.examples[["cluster", "corpus", "story", "pos", "p",
                                                "label", "snippet"]]
                                 if len(self.examples) else self.examples),
            "rediscovery": self.rediscovery.to_dict() if self.rediscovery else None,
        }  # fmt: skip

    def to_markdown(self, top: int = 10) -> str:
        lines = [f"**{self.headline()}**", ""]
        if self.rediscovery is not None:
            r = self.rediscovery
            head = f"Rediscovery of {', '.join(self.hidden)}: AMI {r.ami_hidden:.3f} "
            lines += [
                head + f"(hidden positions), {r.ami_all:.3f} (all); purity {r.purity:.3f}",
                "",
            ]
        lines += ["| cluster | name | n | share (mass) | top words | top contexts | labels |"]
        lines.append("|---:|---|---:|---:|---|---|---|")
        for c in self.clusters.head(top).itertuples(index=False):
            cells = [str(c.cluster), c.name, f"{c.n:,}", f"{c.share_mass:.1%}", c.top_words,
                     c.top_contexts, c.labels]  # fmt: skip
            lines.append("| " + " | ".join(s.replace("|", "\\|") for s in cells) + " |")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [page_head(), f"<p><b>{html.escape(self.headline())}</b></p>"]
        cols = ["cluster", "name", "n", "share_mass", "mean_p", "top_words", "top_contexts",
                "labels"]  # fmt: skip
        parts.append(frame_html(self.clusters[cols], percent=("share_mass",)))
        with run_stories(self.run) as data:
            ex = self.examples
            shown = example_views(data, ex, [self.model]) if len(ex) else []
        for c in self.clusters.itertuples(index=False):
            views = [v for v, k in zip(shown, ex["cluster"]) if k == c.cluster] if len(ex) else []
            body = "".join(f"<div>{v}</div>" for v in views)
            code = f"<pre>{html.escape(c.skeleton)}</pre>" if c.skeleton else ""
            parts.append(f"<details><summary>cluster {c.cluster}: {html.escape(c.name)} "
                         f"({c.n} positions)</summary>{body}{code}</details>")  # fmt: skip
        return "".join(parts)
