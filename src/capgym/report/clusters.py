"""Candidate capabilities: the clusters ``capgym cluster`` stored (its ``clusters`` table).

Shown under the residue: for each (model, source) the largest clusters by probability
mass, with their top words and contexts; the examples and ``@tagger`` skeletons stay in
the table and in ``capgym cluster``.

>>> import tempfile
>>> from capgym.view.demo import demo_run
>>> from capgym.report.exports import Exporter
>>> from capgym.report.frame import Frame
>>> cluster_parts(Ctx(Frame(demo_run(tempfile.mkdtemp())), Exporter(None, "")))
[]
"""

from __future__ import annotations

from capgym.report.context import Ctx
from capgym.report.html import note

N_CLUSTERS = 5


def cluster_parts(ctx: Ctx) -> list[str]:
    """A table of the top clusters per (model, source); nothing for a run never clustered."""
    f = ctx.f
    if not f.has("clusters"):
        return []
    top = f.df(
        "SELECT model, source, cluster, n, share_mass, mean_p, top_words, top_contexts, labels "
        "FROM clusters WHERE cluster >= 0 "
        "QUALIFY row_number() OVER (PARTITION BY model, source ORDER BY share_mass DESC) <= ? "
        "ORDER BY model, source, share_mass DESC",
        [N_CLUSTERS],
    )
    if top.empty:
        return []
    shown = top.rename(columns={"share_mass": "share (mass)", "mean_p": "mean p"})
    return [
        ctx.table("clusters", shown, "Candidate capabilities: clusters by the model's state"),
        note(
            "Positions that nothing explains (a model's residue) or that a larger model newly "
            "gets right with no tag (its untagged gains), clustered by the model's final hidden "
            "state with HDBSCAN (`capgym cluster`); each cluster is a candidate capability, "
            "ranked by probability mass. `capgym cluster --skeletons DIR` writes an editable "
            "@tagger per cluster; validation by rediscovering hidden families is "
            "`capgym cluster --hide known`."
        ),
    ]
