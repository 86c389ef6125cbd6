"""The circuits stage's one place of contact with the run store.

Parts are named ``<model>__<task>__<method>__p<n_pairs>``; a part that exists is a
finished (model, task, method), which is what makes ``capgym circuits`` resumable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa

from capgym.circuits.hypothesis import HypothesisCheck
from capgym.store import open_run
from capgym.store import schema as S
from capgym.store.run import RunStore, slug

SCHEMAS = {
    "components": S.CIRCUIT_COMPONENTS,
    "circuit_scores": S.CIRCUIT_SCORES,
    "leaderboard": S.LEADERBOARD,
    "circuit_hypotheses": S.CIRCUIT_HYPOTHESES,
    "circuit_attention": S.CIRCUIT_ATTENTION,
}


def open_store(out: str | Path) -> RunStore:
    return open_run(out)


def _part(model: str, task: str, method: str, n_pairs: int) -> str:
    return f"{slug(model)}__{task}__{method}__p{n_pairs}"


def _path(store: RunStore, view: str, part: str) -> Path:
    return store.path / "tables" / slug(view) / f"{slug(part)}.parquet"


def has_part(store: RunStore, model: str, task: str, method: str, n_pairs: int) -> bool:
    return _path(store, "leaderboard", _part(model, task, method, n_pairs)).exists()


def has_hypothesis(store: RunStore, model: str, task: str, n_pairs: int) -> bool:
    return _path(store, "circuit_hypotheses", _part(model, task, "hypothesis", n_pairs)).exists()


def _put(store: RunStore, view: str, part: str, frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame.reset_index(drop=True), schema=SCHEMAS[view],
                                 preserve_index=False)  # fmt: skip
    store.put_table(view, part, table)


def put_method(store: RunStore, frames: dict[str, pd.DataFrame], model: str, task: str,
               method: str, n_pairs: int) -> None:  # fmt: skip
    """Write one method's tables; the leaderboard part last (it marks the part finished)."""
    part = _part(model, task, method, n_pairs)
    for view in ("components", "circuit_scores", "leaderboard"):
        _put(store, view, part, frames[view])


def put_hypothesis(store: RunStore, check: HypothesisCheck | None, model: str, task: str,
                   n_pairs: int) -> None:  # fmt: skip
    if check is None:
        frame = pd.DataFrame([{"model": model, "task": task, "statement": "", "satisfied": [],
                               "recovery": float("nan"), "top_mass": "{}"}])  # fmt: skip
    else:
        top = dict(sorted(check.mass.items(), key=lambda kv: -kv[1])[:5])
        frame = pd.DataFrame([{"model": model, "task": task, "statement": check.statement,
                               "satisfied": list(check.satisfied), "recovery": check.recovery,
                               "top_mass": json.dumps({k: round(v, 4) for k, v in top.items()})}])  # fmt: skip
    _put(store, "circuit_hypotheses", _part(model, task, "hypothesis", n_pairs), frame)


def has_attention(store: RunStore, model: str, task: str, n_pairs: int) -> bool:
    return _path(store, "circuit_attention", _part(model, task, "attention", n_pairs)).exists()


def put_attention(
    store: RunStore, frame: pd.DataFrame, model: str, task: str, n_pairs: int
) -> None:
    _put(store, "circuit_attention", _part(model, task, "attention", n_pairs), frame)


def put_submission(store: RunStore, row: pd.DataFrame, model: str, task: str, name: str,
                   mode: str) -> None:  # fmt: skip
    _put(store, "leaderboard", f"{slug(model)}__{task}__submission-{slug(name)}__{mode}", row)


def read(store: RunStore, view: str, models: Sequence[str] | None = None,
         tasks: Sequence[str] | None = None) -> pd.DataFrame:  # fmt: skip
    """A circuits table as a frame, optionally restricted to some models and tasks."""
    if view not in store.views():
        return pd.DataFrame(columns=SCHEMAS[view].names)
    df = store.sql(f"select * from {view}")
    if models:
        df = df[df.model.isin(list(models))]
    if tasks:
        df = df[df.task.isin(list(tasks))]
    return df.reset_index(drop=True)
