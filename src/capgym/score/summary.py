"""Per-model summary of a run's scores: NLL per token and per character, confidence.

>>> import tempfile
>>> from capgym.store import open_run
>>> summarize(open_run(tempfile.mkdtemp())).empty
True
"""

from __future__ import annotations

import pandas as pd

from capgym.store import RunStore
from capgym.store.confident import CONFIDENT, confident_sql

SUMMARY_SQL = """
WITH per_story AS (
    SELECT model, corpus, story, count(*) AS n_tokens, -sum(logprob) AS nll,
           sum(CASE WHEN rank = 0 AND {confident} THEN 1 ELSE 0 END) AS n_confident
    FROM scores GROUP BY ALL
)
SELECT p.model, p.corpus, count(*) AS n_stories, sum(n_tokens) AS n_tokens,
       sum(length(s.text)) AS n_chars,
       sum(nll) / sum(n_tokens) AS nll_per_token,
       sum(nll) / sum(length(s.text)) AS nll_per_char,
       sum(n_confident) / sum(n_tokens) AS confident_share
FROM per_story p JOIN stories s USING (corpus, story)
GROUP BY ALL ORDER BY p.corpus, nll_per_char DESC
""".format(confident=confident_sql("logprob", "?"))


def summarize(run: RunStore, threshold: float = CONFIDENT) -> pd.DataFrame:
    """One row per (model, corpus): mean NLL per token and per character, and the share
    of tokens predicted correctly (rank 0) with probability >= ``threshold``."""
    return run.sql(SUMMARY_SQL, [threshold])
