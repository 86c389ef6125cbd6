"""The result of a grid: data frames, a models x tasks table, and an HTML rendering.

>>> import pandas as pd
>>> s = pd.DataFrame({"model": ["m"], "task": ["t"], "beats_wrong": [0.5], "chance": [0.5],
...                   "mean_logit_diff_at_decision": [1.25]})
>>> EvalReport(pd.DataFrame(), s, pd.DataFrame()).table().loc["t", ("beats_wrong", "m")].item()
0.5
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from capgym.evaluate.task_eval import TaskEval


@dataclass
class EvalReport:
    """``results`` (one row per model x example), ``summary`` (per model x task), ``slices``."""

    results: pd.DataFrame
    summary: pd.DataFrame
    slices: pd.DataFrame
    details: pd.DataFrame = field(default_factory=pd.DataFrame)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_evals(cls, evals: list[TaskEval], errors: list[str]) -> EvalReport:
        def cat(frames: list[pd.DataFrame]) -> pd.DataFrame:
            frames = [f for f in frames if len(f)]
            return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

        sl = cat([e.slices for e in evals])
        if len(sl):
            sl = sl.iloc[sl.cohen_d.abs().sort_values(ascending=False).index].reset_index(drop=True)
        return cls(
            results=cat([e.results for e in evals]),
            summary=cat([e.summary for e in evals]),
            slices=sl,
            details=cat([e.details for e in evals]),
            errors=errors,
        )

    def table(
        self, metrics: tuple[str, ...] = ("beats_wrong", "mean_logit_diff_at_decision")
    ) -> pd.DataFrame:
        """Tasks x (metric, model): the headline table, with each task's ``chance`` level
        of ``beats_wrong`` (see :data:`capgym.evaluate.stats.METRICS`): one ``chance``
        column when every model has the same, else one per model (tokenizers change which
        examples have a decision token, and chance is averaged over those)."""
        if self.summary.empty:
            return pd.DataFrame()
        metrics = tuple(m for m in metrics if m in self.summary)
        t = self.summary.pivot_table(index="task", columns="model", values=list(metrics),
                                     dropna=False)  # fmt: skip
        t = t.reindex(columns=list(metrics), level=0)
        if "chance" in self.summary:
            chance = self.summary.pivot_table(index="task", columns="model", values="chance",
                                              dropna=False)  # fmt: skip
            if (chance.max(axis=1) - chance.min(axis=1)).fillna(0).max() <= 1e-9:
                t[("chance", "")] = chance.max(axis=1)
            else:
                for model in chance.columns:
                    t[("chance", model)] = chance[model]
        return t

    def plot(self, metric: str = "beats_wrong") -> Any:
        """A plotly heat-map of ``metric`` over tasks x models (renders in Jupyter)."""
        import plotly.express as px

        t = self.summary.pivot_table(index="task", columns="model", values=metric)
        return px.imshow(t, text_auto=".2f", aspect="auto", color_continuous_scale="RdYlGn",
                         labels={"color": metric},
                         title=f"{metric} per task and model")  # fmt: skip

    def top_slices(self, k: int = 3, min_count: int = 20, per_task: bool = True) -> pd.DataFrame:
        """The ``k`` least uniform slices (largest ``|cohen_d|``), one per task if asked."""
        sl = self.slices
        if sl.empty:
            return sl
        sl = sl[(sl.n >= min_count) & (sl.n_rest >= min_count)]
        sl = sl.loc[sl.cohen_d.abs().sort_values(ascending=False).index]
        if per_task:
            sl = sl.drop_duplicates(["task"])
        return sl.head(k).reset_index(drop=True)

    def _repr_html_(self) -> str:
        parts = ["<h4>capgym evaluation</h4>"]
        if not self.summary.empty:
            parts.append(self.table().round(3).to_html())
        top = self.top_slices(10, min_count=10, per_task=False)
        if len(top):
            parts.append("<h4>Least uniform slices</h4>")
            cols = ["model", "task", "field", "value", "metric", "n", "mean_diff", "cohen_d",
                    "acc_metric", "acc_slice"]  # fmt: skip
            parts.append(top[cols].round(3).to_html(index=False))
        if self.errors:
            items = "".join(f"<li>{html.escape(e)}</li>" for e in self.errors[:20])
            parts.append(f"<h4>Errors</h4><ul>{items}</ul>")
        return "".join(parts)

    def __repr__(self) -> str:
        return (f"EvalReport({len(self.summary)} model x task cells, {len(self.results)} "
                f"results, {len(self.errors)} errors)")  # fmt: skip
