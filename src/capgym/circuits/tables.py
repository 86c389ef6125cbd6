"""The circuits stage's one place of contact with the run store.

Tables are declared in :mod:`capgym.store.schema` (``components``, ``circuit_scores``,
``leaderboard``, ``circuit_hypotheses``, ``circuit_attention``).  Parts are keyed
``<model>__<task>__<method>__p<n_pairs>`` (a submission adds its mode), ``<model>`` being the
loaded model's name (a model given by path shares the parts of its name), and stamped
with the model's and the task's content hashes, so a finished (model, task, method) is skipped on a rerun (resumable)
and recomputed when the model or the task file changes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from capgym.circuits.hypothesis import HypothesisCheck
from capgym.store import RunStore, open_run
from capgym.store.run import slug

Stamp = dict[str, Any]


def open_store(out: str | Path) -> RunStore:
    return open_run(out)


def key(model: str, task: str, what: str, n_pairs: int) -> str:
    return f"{slug(model)}__{task}__{what}__p{n_pairs}"


def is_fresh(store: RunStore, view: str, part: str, stamp: Stamp) -> bool:
    return store.is_fresh(view, part, stamp)


def put_method(store: RunStore, frames: dict[str, pd.DataFrame], part: str, stamp: Stamp) -> None:
    """Write one method's tables; the leaderboard part last (it marks the part finished)."""
    for view in ("components", "circuit_scores", "leaderboard"):
        store.write_table(view, part, frames[view].reset_index(drop=True), stamp)


def put_hypothesis(store: RunStore, check: HypothesisCheck | None, model: str, task: str,
                   part: str, stamp: Stamp) -> None:  # fmt: skip
    if check is None:
        row = {"model": model, "task": task, "statement": "", "satisfied": [],
               "recovery": float("nan"), "top_mass": "{}"}  # fmt: skip
    else:
        top = dict(sorted(check.mass.items(), key=lambda kv: -kv[1])[:5])
        row = {"model": model, "task": task, "statement": check.statement,
               "satisfied": list(check.satisfied), "recovery": check.recovery,
               "top_mass": json.dumps({k: round(v, 4) for k, v in top.items()})}  # fmt: skip
    store.write_table("circuit_hypotheses", part, pd.DataFrame([row]), stamp)


def put_attention(store: RunStore, frame: pd.DataFrame, part: str, stamp: Stamp) -> None:
    store.write_table("circuit_attention", part, frame, stamp)


def put_submission(store: RunStore, row: pd.DataFrame, model: str, task: str, name: str,
                   mode: str, n_pairs: int) -> None:  # fmt: skip
    """One submitted circuit's leaderboard row, keyed by (model, task, name, mode, n_pairs):
    the same circuit scored on a different number of pairs is another row, not a rewrite."""
    part = f"{key(model, task, 'submission-' + slug(name), n_pairs)}__{mode}"
    store.write_table("leaderboard", part, row)


def read(store: RunStore, view: str, models: Sequence[str] | None = None,
         tasks: Sequence[str] | None = None) -> pd.DataFrame:  # fmt: skip
    """A circuits table as a frame, optionally restricted to some models and tasks."""
    df = store.read_table(view)
    if models:
        df = df[df.model.isin(list(models))]
    if tasks:
        df = df[df.task.isin(list(tasks))]
    return df.reset_index(drop=True)
