"""The confident-correct rule over the ``scores`` table, one definition for every stage.

A position is confident correct when the model's top choice is the actual token
(``rank = 0``) and ``exp(logprob) >= threshold``; :data:`CONFIDENT` is every stage's
default threshold (the CLI's ``--threshold``).  No heavy imports: the CLI reads it.

Two models compared on the same units (``diff``; ``cluster --against``) share the words
for what changed, over the columns ``ok_a``/``ok_b`` (confident correct) and
``top_a``/``top_b`` (ranked first): :data:`STATUS_SQL` and :data:`CHANGE_SQL`.

>>> confident_sql("lp", "0.5")
'lp >= ln(0.5) - 1e-6'
>>> import duckdb
>>> duckdb.connect().execute(f"SELECT {STATUS_SQL}, {CHANGE_SQL} FROM (SELECT false AS ok_a, "
...                          "true AS ok_b, true AS top_a, true AS top_b)").fetchone()
('gain', 'confidence')
"""

from __future__ import annotations

CONFIDENT = 0.5


def confident_sql(logprob: str, threshold: str) -> str:
    """SQL: the log-probability ``logprob`` reaches ``threshold`` (a SQL expression), with
    a tolerance of 1e-6 for the float32 storage of ``scores.logprob`` (so a probability
    of exactly 0.5 counts at threshold 0.5)."""
    return f"{logprob} >= ln({threshold}) - 1e-6"


# gain: B confident correct and A not; loss: the reverse.
STATUS_SQL = """CASE WHEN ok_a AND ok_b THEN 'both' WHEN ok_b THEN 'gain'
                     WHEN ok_a THEN 'loss' ELSE 'neither' END"""
# A gain (loss) is confidence-only when the other model already ranked the unit first.
CHANGE_SQL = """CASE WHEN ok_b AND NOT ok_a THEN (CASE WHEN top_a THEN 'confidence' ELSE 'rank' END)
                     WHEN ok_a AND NOT ok_b THEN (CASE WHEN top_b THEN 'confidence' ELSE 'rank' END)
                     ELSE '' END"""
