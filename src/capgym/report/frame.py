"""What a run holds, seen from the report: which tables have rows, the models, helpers.

Every section asks the frame whether its data exists, so a run with only scores gives
the overview and a full run gives the whole atlas.

>>> import tempfile
>>> from capgym.view.demo import demo_run
>>> f = Frame(demo_run(tempfile.mkdtemp(), results=False))
>>> f.has("tags"), f.has("results"), f.ref_model
(True, False, 'tiny-b')
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import duckdb
import pandas as pd

from capgym.render.data import StoryData, has_table
from capgym.store import RunStore

COMPLETION = "word-completion"  # its tags mark the determined rest of a word

# The token that "predicts" a tag: the one holding the tag's first character; for
# word completion, the first token starting inside the tag (the determined rest).
TAGGED_SQL = f"""
SELECT s.model, g.corpus, g.story, g.char_start AS tag_start, g.char_end AS tag_end,
       g.capability, CAST(g.attrs AS VARCHAR) AS attrs, s.pos, s.char_start, s.char_end,
       s.logprob, exp(s.logprob) AS p, s.rank, s.entropy
FROM tags g JOIN scores s ON s.corpus = g.corpus AND s.story = g.story
 AND CASE WHEN g.capability = '{COMPLETION}'
          THEN s.char_start >= g.char_start AND s.char_start < g.char_end
          ELSE s.char_start <= g.char_start AND s.char_end > g.char_start END
QUALIFY row_number() OVER (
    PARTITION BY s.model, g.corpus, g.story, g.char_start, g.char_end, g.capability
    ORDER BY s.pos) = 1
"""


class Frame:
    """A connection to the run's views plus the facts every section needs."""

    def __init__(self, run: RunStore):
        self.run = run
        self.con: duckdb.DuckDBPyConnection = run.connect()
        self.stories = StoryData(self.con)
        self._memo: dict[str, Any] = {}

    def memo(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()`` once per frame (sections share computed tables)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def df(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """A query's result as a data frame."""
        return self.con.execute(sql, params or []).df()

    def has(self, table: str) -> bool:
        """Whether ``table`` exists in the run and has at least one row (asked once)."""

        def ask() -> bool:
            if not has_table(self.con, table):
                return False
            return self.con.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is not None

        return bool(self.memo(f"has:{table}", ask))

    def columns(self, table: str) -> list[str]:
        q = "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
        return [r[0] for r in self.con.execute(q, [table]).fetchall()]

    @cached_property
    def models(self) -> pd.DataFrame:
        """Scored models with their facts, smallest first (unknown sizes last)."""
        return self.df(
            """
            WITH s AS (SELECT model, count(*) AS n_tokens FROM scores GROUP BY model)
            SELECT s.model, m.n_params, m.architecture, m.tokenizer, m.context_len, m.source,
                   s.n_tokens
            FROM s LEFT JOIN models m USING (model)
            ORDER BY m.n_params NULLS LAST, s.model
            """
        )

    @property
    def model_names(self) -> list[str]:
        return [str(m) for m in self.models.model]

    @cached_property
    def ref_model(self) -> str | None:
        """The model whose examples the cards show: the one with the lowest NLL per
        character (comparable across tokenizers)."""
        df = self.df(
            "WITH s AS (SELECT model, corpus, story, -sum(logprob) AS nll FROM scores GROUP BY ALL) "
            "SELECT model, sum(nll) / sum(length(t.text)) AS nll FROM s JOIN stories t "
            "USING (corpus, story) GROUP BY model ORDER BY nll, model LIMIT 1"
        )
        return str(df.model.iloc[0]) if len(df) else None

    @cached_property
    def corpora(self) -> pd.DataFrame:
        return self.df(
            "SELECT corpus, count(*) AS n_stories, sum(length(text)) AS n_chars "
            "FROM stories GROUP BY corpus ORDER BY corpus"
        )

    def params(self, model: str) -> float | None:
        row = self.models[self.models.model == model]
        v = row.n_params.iloc[0] if len(row) else None
        return None if v is None or pd.isna(v) else float(v)

    @cached_property
    def tagged(self) -> bool:
        """Build temp table ``cg_tagged`` (one row per tag and model); False without tags."""
        if not (self.has("tags") and self.has("scores")):
            return False
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE cg_tagged AS {TAGGED_SQL}")
        return True

    @cached_property
    def capabilities(self) -> list[str]:
        """Capabilities seen in tags or gym results, sorted."""
        caps: set[str] = set()
        if self.has("tags"):
            caps |= set(self.df("SELECT DISTINCT capability FROM tags").capability.astype(str))
        if self.has("results"):
            from capgym.report.metrics import task_scores

            caps |= set(task_scores(self).capability.astype(str))
        return sorted(caps)

    def close(self) -> None:
        self.con.close()
