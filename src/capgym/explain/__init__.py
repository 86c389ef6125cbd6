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

>>> EXPLAINERS
('unigram', 'bigram', 'trigram', 'induction', 'induction-long', 'word-repeat')
"""

from __future__ import annotations

from capgym._callable import make_callable
from capgym.explain.align import token_words_sql, words_frame
from capgym.explain.api import StoryHeatmap, coverage_report, explain, story_heatmap
from capgym.explain.explainers import EXPLAINER_DOCS, EXPLAINERS, EXPLAINS, explain_tokens
from capgym.explain.ngrams import NgramReference, NgramTable
from capgym.explain.reference import DEFAULT_REFERENCE, resolve_reference
from capgym.explain.report import ExplainReport
from capgym.explain.sequences import Sequences
from capgym.explain.store import ensure_explains, ensure_tags

__all__ = [
    "DEFAULT_REFERENCE",
    "EXPLAINERS",
    "EXPLAINER_DOCS",
    "EXPLAINS",
    "ExplainReport",
    "NgramReference",
    "NgramTable",
    "Sequences",
    "StoryHeatmap",
    "coverage_report",
    "ensure_explains",
    "ensure_tags",
    "explain",
    "explain_tokens",
    "resolve_reference",
    "story_heatmap",
    "token_words_sql",
    "words_frame",
]


make_callable(__name__, explain)
