"""Uniformity analysis: where inside a task does a capability fail?

Results are broken down by every metadata field (template, slot values, perturbation,
distance bucket, position, ...).  Each slice is compared with the rest of its task:
difference of means and Cohen's d of the metric (logit difference where the task
has wrong answers: ``logit_diff_at_decision``, else log-probability), accuracies
(``acc_metric`` names which: ``beats_wrong`` where the task has wrong answers, else
``top1_vocab``) and counts.  The slices with
the largest ``|d|`` are where performance is least uniform.

>>> import json, pandas as pd
>>> df = pd.DataFrame({"model": "m", "task": "t", "rank": [0] * 40,
...     "logit_diff_at_decision": [2.0, 3.0] * 15 + [-2.0, -1.0] * 5, "logprob": -1.0,
...     "meta": [json.dumps({"template": "a" if i < 30 else "b"}) for i in range(40)]})
>>> top = slices(df, min_count=5).iloc[0]
>>> top["field"], top["value"], float(top["mean_diff"]), len(slices(df, min_count=5))
('template', 'b', -4.0, 1)
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

SKIP_FIELDS = {"base_id", "pair", "story", "char_start", "names", "distance_words", "source_id"}
MAX_VALUES = 60  # a field with more distinct values is an identifier, not a slice


def meta_frame(results: pd.DataFrame) -> pd.DataFrame:
    """One column per metadata field (parsed from the ``meta`` JSON), as strings."""
    rows = [json.loads(m) if isinstance(m, str) and m else {} for m in results["meta"]]
    meta = pd.DataFrame(rows, index=results.index)
    return meta.apply(lambda c: c.map(lambda v: None if _missing(v) else str(v)))


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _cohen_d(a: np.ndarray, b: np.ndarray) -> float:
    va, vb = a.var(ddof=1), b.var(ddof=1)
    pooled = math.sqrt(((len(a) - 1) * va + (len(b) - 1) * vb) / (len(a) + len(b) - 2))
    diff = a.mean() - b.mean()
    if pooled == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return float(diff / pooled)


def metric_of(group: pd.DataFrame) -> str:
    """``logit_diff_at_decision`` when most examples have wrong answers, else ``logprob``."""
    ld = "logit_diff_at_decision"
    return ld if ld in group and group[ld].notna().mean() >= 0.5 else "logprob"


def accuracy_of(group: pd.DataFrame) -> tuple[str, np.ndarray]:
    """(name, per-example 0/1): ``beats_wrong`` where the slice metric is the decision
    logit difference (the results' column, NaN without a decision token, as in the task's
    summary), else ``top1_vocab`` (first answer token ranked first)."""
    if metric_of(group) == "logit_diff_at_decision":
        if "beats_wrong" in group:
            return "beats_wrong", group["beats_wrong"].to_numpy(dtype=float)
        ld = group["logit_diff_at_decision"].to_numpy(dtype=float)
        return "beats_wrong", np.where(np.isnan(ld), np.nan, ld > 0)
    return "top1_vocab", (group["rank"].to_numpy() == 0).astype(float)


def _task_slices(group: pd.DataFrame, min_count: int) -> list[dict[str, Any]]:
    metric = metric_of(group)
    x = group[metric].to_numpy(dtype=float)
    ok = ~np.isnan(x)
    acc_name, acc = accuracy_of(group)
    meta = meta_frame(group)
    out = []
    for fld in meta.columns:
        if fld in SKIP_FIELDS:
            continue
        col = meta[fld]
        values = list(col.dropna().unique())
        if not 2 <= len(values) <= MAX_VALUES:
            continue
        if len(values) == 2 and col.notna().all():  # the two slices mirror each other
            values = [min(values, key=lambda v: ((col == v).sum(), v))]
        for v in values:
            mask = (col == v).to_numpy()
            a, b = x[mask & ok], x[~mask & ok]
            if len(a) < min_count or len(b) < min_count:
                continue
            out.append({
                "field": fld, "value": v, "metric": metric, "n": int(mask.sum()),
                "n_rest": int((~mask).sum()), "mean_slice": float(a.mean()),
                "mean_rest": float(b.mean()), "mean_diff": float(a.mean() - b.mean()),
                "cohen_d": _cohen_d(a, b), "acc_metric": acc_name,
                "acc_slice": float(acc[mask & ok].mean()),
                "acc_rest": float(acc[~mask & ok].mean()),
            })  # fmt: skip
    return out


COLUMNS = ["model", "task", "field", "value", "metric", "n", "n_rest", "mean_slice",
           "mean_rest", "mean_diff", "cohen_d", "acc_metric", "acc_slice", "acc_rest"]  # fmt: skip


def slices(results: pd.DataFrame, min_count: int = 10, top: int | None = None) -> pd.DataFrame:
    """Every (model, task, field, value) slice with its effect size, least uniform first."""
    rows: list[dict[str, Any]] = []
    for (model, task), group in results.groupby(["model", "task"], sort=True):
        for r in _task_slices(group, min_count):
            rows.append({"model": model, "task": task, **r})
    df = pd.DataFrame(rows, columns=COLUMNS)
    if df.empty:
        return df
    df = df.assign(_abs=df.cohen_d.abs()).sort_values(["_abs", "n"], ascending=[False, False])
    df = df.drop(columns="_abs").reset_index(drop=True)
    return df.head(top) if top else df
