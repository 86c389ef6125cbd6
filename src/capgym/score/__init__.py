"""Score stage: per-token probability, rank, entropy and top-k of the actual next token.

>>> from capgym.score import plan_windows
>>> len(plan_windows(1000, 512))
3
"""

from __future__ import annotations

from capgym.score.engine import Scorer, ScoreSet, ScoreSettings, batch_plan, score, score_key
from capgym.score.metrics import TokenMetrics, token_metrics
from capgym.score.windows import Window, plan_windows

__all__ = [
    "ScoreSet",
    "ScoreSettings",
    "Scorer",
    "TokenMetrics",
    "Window",
    "batch_plan",
    "plan_windows",
    "score",
    "score_key",
    "token_metrics",
]
