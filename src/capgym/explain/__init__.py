"""Stage ``explain``: how much of a model's confident predictions do capabilities and
simple explainers account for, and what is left (the residue)?

* :func:`explain` -> :class:`ExplainReport` (coverage per capability and explainer,
  overall coverage, residue groups with examples; Markdown and Jupyter HTML).  It
  writes the run's ``coverage`` and ``residue`` tables (:mod:`capgym.explain.tables`),
  which the atlas reads; :func:`coverage_report` does only that step.
* :func:`explain_tokens` evaluates the explainers (:data:`EXPLAINERS`) on in-memory
  scores; :class:`NgramReference` holds the reference n-gram statistics.
* :func:`story_heatmap`: one story's tokens as a :mod:`capgym.render` token view (probability
  colours, capability underlines, hover with rank, entropy and top-k).
* For later stages (diff, cluster, report, the explorer), which import only this
  package: the coverage rule (:data:`COVERS_SQL`, effective spans, word alignment), the
  confident set and its hits (:func:`build_confident`, :func:`build_hits`), the coverage
  layers (:data:`LAYERS`), the run helpers
  (:func:`as_run`, :func:`check_scored`, :func:`connect`, ...) and the HTML pieces.

>>> EXPLAINERS
('unigram', 'bigram', 'trigram', 'induction', 'induction-long', 'word-repeat')
"""

from __future__ import annotations

from capgym._callable import make_callable
from capgym.explain.align import (
    EFFECTIVE_END_SQL,
    EFFECTIVE_START_SQL,
    token_words_sql,
    words_frame,
)
from capgym.explain.api import (
    StoryHeatmap,
    as_run,
    check_threshold,
    connect,
    coverage_report,
    explain,
    story_heatmap,
)
from capgym.explain.coverage import (
    COMPLETION,
    COVERS_SQL,
    EXPLAINERS_ONLY,
    LAYERS,
    build_confident,
    build_hits,
)
from capgym.explain.explainers import EXPLAINER_DOCS, EXPLAINERS, EXPLAINS, explain_tokens
from capgym.explain.html import example_views, frame_html, page_head, run_stories
from capgym.explain.ngrams import NgramReference, NgramTable
from capgym.explain.reference import DEFAULT_MIN_COUNT, DEFAULT_REFERENCE, resolve_reference
from capgym.explain.report import ExplainReport, records
from capgym.explain.residue import DIMENSIONS, add_snippets, residue_groups
from capgym.explain.sequences import Sequences
from capgym.explain.store import check_scored, ensure_explains, ensure_tags, stories_of
from capgym.explain.tables import is_current

__all__ = [
    "COMPLETION",
    "COVERS_SQL",
    "DEFAULT_MIN_COUNT",
    "DEFAULT_REFERENCE",
    "DIMENSIONS",
    "EFFECTIVE_END_SQL",
    "EFFECTIVE_START_SQL",
    "EXPLAINERS",
    "EXPLAINERS_ONLY",
    "EXPLAINER_DOCS",
    "EXPLAINS",
    "LAYERS",
    "ExplainReport",
    "NgramReference",
    "NgramTable",
    "Sequences",
    "StoryHeatmap",
    "add_snippets",
    "as_run",
    "build_confident",
    "build_hits",
    "check_scored",
    "check_threshold",
    "connect",
    "coverage_report",
    "ensure_explains",
    "ensure_tags",
    "example_views",
    "explain",
    "explain_tokens",
    "frame_html",
    "is_current",
    "page_head",
    "records",
    "residue_groups",
    "resolve_reference",
    "run_stories",
    "stories_of",
    "story_heatmap",
    "token_words_sql",
    "words_frame",
]


make_callable(__name__, explain)
