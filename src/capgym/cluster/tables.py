"""The tables ``capgym cluster`` leaves in the run: ``clusters`` and ``cluster_members``.

Both are declared here with :func:`capgym.store.schema.declare` and written through
:meth:`capgym.store.RunStore.write_table`.  One part per (model, source): ``source`` is
``residue`` or ``gains over <model>``; a new clustering of the same pair replaces it.  ``clusters`` holds the rows of
:attr:`ClusterReport.clusters <capgym.cluster.report.ClusterReport>` with model, source
and corpora; ``cluster_members`` one row per clustered position (model, source, corpus,
story, pos, p, label, cluster, prob).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from capgym.store import RunStore
from capgym.store.schema import Table, declare

if TYPE_CHECKING:
    from capgym.cluster.report import ClusterReport

CLUSTERS = pa.schema(
    [("model", pa.string()), ("source", pa.string()), ("corpora", pa.list_(pa.string())),
     ("cluster", pa.int64()), ("name", pa.string()), ("n", pa.int64()), ("share", pa.float64()),
     ("mass", pa.float64()), ("share_mass", pa.float64()), ("mean_p", pa.float64()),
     ("top_tokens", pa.string()), ("top_words", pa.string()), ("top_prev", pa.string()),
     ("top_contexts", pa.string()), ("labels", pa.string()), ("majority", pa.string()),
     ("majority_share", pa.float64()), ("tagger", pa.string()), ("skeleton", pa.string())]
)  # fmt: skip
MEMBERS = pa.schema(
    [("model", pa.string()), ("source", pa.string()), ("corpus", pa.string()),
     ("story", pa.int64()), ("pos", pa.int32()), ("p", pa.float64()), ("label", pa.string()),
     ("cluster", pa.int64()), ("prob", pa.float64())]
)  # fmt: skip
declare(Table("clusters", CLUSTERS, "one (model, source)", "cluster",
              doc="candidate capabilities: clusters of residue or untagged gains"))  # fmt: skip
declare(Table("cluster_members", MEMBERS, "one (model, source)", "cluster",
              doc="each clustered position and its cluster"))  # fmt: skip


def write_tables(run: RunStore, report: ClusterReport) -> None:
    """Replace the (model, source) parts of ``clusters`` and ``cluster_members``."""
    part = f"{report.model}--{report.source}"
    c = report.clusters.assign(model=report.model, source=report.source,
                               corpora=[list(report.corpora)] * len(report.clusters))  # fmt: skip
    m = report.members.assign(model=report.model, source=report.source)
    stamp = {"corpora": list(report.corpora), "threshold": report.threshold,
             "n_clustered": report.n_clustered, "hidden": list(report.hidden),
             "features": list(report.features)}  # fmt: skip
    run.write_table("clusters", part, pa.Table.from_pandas(c[CLUSTERS.names], schema=CLUSTERS,
                                                           preserve_index=False), stamp=stamp)  # fmt: skip
    run.write_table("cluster_members", part, pa.Table.from_pandas(
        m[MEMBERS.names], schema=MEMBERS, preserve_index=False), stamp=stamp)  # fmt: skip
