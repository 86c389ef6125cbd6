"""The confident-correct rule over the ``scores`` table, one definition for every stage.

A position is confident correct when the model's top choice is the actual token
(``rank = 0``) and ``exp(logprob) >= threshold``; :data:`CONFIDENT` is every stage's
default threshold (the CLI's ``--threshold``).  No heavy imports: the CLI reads it.

>>> confident_sql("lp", "0.5")
'lp >= ln(0.5) - 1e-6'
"""

from __future__ import annotations

CONFIDENT = 0.5


def confident_sql(logprob: str, threshold: str) -> str:
    """SQL: the log-probability ``logprob`` reaches ``threshold`` (a SQL expression), with
    a tolerance of 1e-6 for the float32 storage of ``scores.logprob`` (so a probability
    of exactly 0.5 counts at threshold 0.5)."""
    return f"{logprob} >= ln({threshold}) - 1e-6"
