"""Stage ``cluster``: candidate capabilities from positions grouped by what the model does.

:func:`cluster` -> :class:`ClusterReport` (clusters of a model's residue, or of its
untagged gains over another model, each with size, mass, top tokens and contexts,
examples and an editable ``@tagger`` skeleton; written to the run's ``clusters`` and
``cluster_members`` tables).  :func:`rediscover` validates the method: it hides the tags
of known families and scores how well the clusters recover them (:class:`Rediscovery`).

>>> HIDDEN
('repeated-name', 'closing-quote', 'pronoun', 'story-opening')
"""

from __future__ import annotations

from capgym._callable import make_callable
from capgym.cluster.api import HIDDEN, cluster, rediscover
from capgym.cluster.report import ClusterReport, Rediscovery

__all__ = ["HIDDEN", "ClusterReport", "Rediscovery", "cluster", "rediscover"]


make_callable(__name__, cluster)
