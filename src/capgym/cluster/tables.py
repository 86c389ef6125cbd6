"""The tables ``capgym cluster`` leaves in the run: ``clusters`` and ``cluster_members``.

One part per (model, source): ``source`` is ``residue`` or ``gains over <model>``; a
new clustering of the same pair replaces it.  ``clusters`` holds the rows of
:attr:`ClusterReport.clusters <capgym.cluster.report.ClusterReport>` with model, source
and corpora; ``cluster_members`` one row per clustered position (model, source, corpus,
story, pos, p, label, cluster, prob).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from capgym.store import RunStore

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


def write_tables(run: RunStore, report: ClusterReport) -> None:
    """Replace the (model, source) parts of ``clusters`` and ``cluster_members``."""
    part = f"{report.model}--{report.source}"
    c = report.clusters.assign(model=report.model, source=report.source,
                               corpora=[list(report.corpora)] * len(report.clusters))  # fmt: skip
    m = report.members.assign(model=report.model, source=report.source)
    run.put_table("clusters", part, pa.Table.from_pandas(c[CLUSTERS.names], schema=CLUSTERS,
                                                         preserve_index=False))  # fmt: skip
    run.put_table("cluster_members", part, pa.Table.from_pandas(m[MEMBERS.names], schema=MEMBERS,
                                                                preserve_index=False))  # fmt: skip
