"""Score stage: per-token probability, rank, entropy and top-k of the actual next token.

One entry function, :func:`score` (local engine); :func:`capgym.score.ray_engine.score_ray`
shards the same work across Ray workers and writes the same rows.

>>> from capgym.score import plan_windows
>>> len(plan_windows(1000, 512))
3
"""

from __future__ import annotations

from capgym._callable import make_callable
from capgym.models.batching import batch_plan
from capgym.score.engine import (
    Scorer,
    ScoreSet,
    ScoreSettings,
    prepare_score_set,
    score,
    score_key,
    token_budget,
)
from capgym.score.metrics import TokenMetrics, token_metrics
from capgym.score.windows import Window, plan_windows

make_callable(__name__, score)

__all__ = [
    "ScoreSet",
    "ScoreSettings",
    "Scorer",
    "TokenMetrics",
    "Window",
    "batch_plan",
    "plan_windows",
    "prepare_score_set",
    "score",
    "score_key",
    "token_budget",
    "token_metrics",
]
