"""The stage entry points: ``circuits`` (baselines over models x tasks) and ``submit``.

Results go to the run store (``components``, ``circuit_scores``, ``leaderboard``,
``circuit_hypotheses``; schemas in :mod:`capgym.store.schema`), one part per
(model, task, method), so an interrupted run resumes where it stopped and a rerun
with the same settings costs nothing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from capgym.circuits import tables
from capgym.circuits.env import DEFAULT_PAIRS, METHODS, Env, check_methods, make_env
from capgym.errors import TaskError, UsageError
from capgym.models.base import LanguageModel
from capgym.store import RunStore

STAMP_VERSION = 3  # bump when the circuits computations change their results
STE_NOTE = "bitllama: gradients pass the quantisers as straight-through estimates"


def _note(env: Env, method: str) -> str:
    grad = method in ("attribution", "eap-ig")
    return STE_NOTE if grad and env.hooked.points.backend == "bitllama" else ""


def _pair_stats(env: Env) -> dict[str, Any]:
    ps = env.pairs
    return {"n_pairs": ps.n_valid, "valid_share": ps.valid_share,
            "m_clean": env.m_clean, "m_corrupt": env.m_corrupt}  # fmt: skip


TOP_HEADS = 3


def attention_rows(env: Env, heads: Sequence[str]) -> pd.DataFrame:
    """Attention of ``heads`` from the decision token of the first pair, for the atlas."""
    from capgym.circuits.hooks import Component

    ps = env.pairs
    n = int(ps.length[0])
    ids = ps.clean[:1, :n]
    comps = [Component.parse(h) for h in heads]
    names = sorted({f"blocks.{c.layer}.attn.hook_pattern" for c in comps})
    _, cache = env.hooked.run(ids, cache=names)
    pieces = [env.model.piece(int(t)) for t in ids[0]]
    rows = [{"model": env.model.name, "task": env.task.id, "head": c.name,
             "example_id": ps.pairs[0].example_id, "tokens": pieces,
             "weights": cache[f"blocks.{c.layer}.attn.hook_pattern"][0, c.head, n - 1].tolist()}
            for c in comps]  # fmt: skip
    return pd.DataFrame(rows)


def run_method(env: Env, method: str) -> dict[str, pd.DataFrame]:
    """One baseline on one environment: its ranking, curve(s) and leaderboard row."""
    ranking = env.baselines([method])[method]
    base = {"model": env.model.name, "task": env.task.id, "method": method}
    comps = pd.DataFrame({**base, "level": ranking.level, "component": list(ranking.names),
                          "rank": range(len(ranking.names)), "score": list(ranking.scores)})  # fmt: skip
    modes = ["patch"] if ranking.level == "edge" else ["patch", "mean"]
    curves = {mode: env.curve(ranking, mode) for mode in modes}
    scores = pd.concat([pd.DataFrame({**base, "mode": mode, "fraction": list(c.fractions),
                                      "size": list(c.sizes), "faithfulness": list(c.faithfulness)})
                        for mode, c in curves.items()])  # fmt: skip
    c = curves["patch"]
    board = pd.DataFrame([{**base, "level": ranking.level, **_pair_stats(env), "size": -1,
                           "faithfulness": math.nan, "f_at_5": c.at(0.05), "f_at_20": c.at(0.2),
                           "cpr": c.cpr, "cmd": c.cmd, "seconds": ranking.seconds,
                           "note": _note(env, method)}])  # fmt: skip
    return {"components": comps, "circuit_scores": scores, "leaderboard": board}


def circuit_tasks(tasks: Sequence[str] | None) -> list[str]:
    """The requested tasks, or every registered task that declares counterfactual pairs."""
    from capgym.tasks import task_paths
    from capgym.tasks.schema import read_task_file

    if tasks:
        return list(tasks)
    return sorted(t for t, p in task_paths().items() if read_task_file(p)[0].get("counterfactual"))


def _run_model_task(store: RunStore, lm: LanguageModel, task_id: str, methods: Sequence[str],
                    n_pairs: int, report: Callable[[str], None]) -> None:  # fmt: skip
    """Run the methods of one model x task that ``store`` lacks (fresh parts are skipped).

    Parts are keyed by the loaded model's name, not the name or path it was given by, so
    ``stories260K`` and its asset folder share one cache entry and one leaderboard row;
    the stamp's content hash still recomputes them when the weights change.
    """
    from capgym.tasks import make as make_task

    name, task = lm.name, make_task(task_id)
    stamp = {"model": lm.content_hash, "task": task.content_hash, "n_pairs": n_pairs,
             "schema": STAMP_VERSION}  # fmt: skip
    part = {m: tables.key(name, task_id, m, n_pairs) for m in methods}
    todo = [m for m in methods if not tables.is_fresh(store, "leaderboard", part[m], stamp)]
    if not todo:
        report(f"{name} x {task_id}: cached")
        return
    try:
        env = make_env(task, lm, n_pairs=n_pairs)
    except TaskError as err:
        report(f"{name} x {task_id}: skipped ({err})")
        return
    extra = tables.key(name, task_id, "hypothesis", n_pairs)
    if not tables.is_fresh(store, "circuit_hypotheses", extra, stamp):
        tables.put_hypothesis(store, env.check_hypothesis(), name, task_id, extra, stamp)
    for method in todo:
        t0 = time.perf_counter()
        frames = run_method(env, method)
        tables.put_method(store, frames, part[method], stamp)
        report(f"{name} x {task_id} x {method}: {env.pairs.n_valid} pairs, "
               f"{time.perf_counter() - t0:.1f}s")  # fmt: skip
        heads = [c for c in frames["components"].component if "->" not in c and c[0] == "L"]
        if heads and not tables.is_fresh(store, "circuit_attention", extra, stamp):
            tables.put_attention(store, attention_rows(env, heads[:TOP_HEADS]), extra, stamp)


def circuits(
    models: Sequence[str],
    tasks: Sequence[str] | None = None,
    *,
    out: str | Path = "capgym-out",
    methods: Sequence[str] = METHODS,
    n_pairs: int = DEFAULT_PAIRS,
    report: Callable[[str], None] = lambda line: None,
) -> pd.DataFrame:
    """Run the baselines on models x tasks into the run store; returns the leaderboard.

    >>> import tempfile
    >>> board = circuits(["stories260K"], ["repeated-name"], out=tempfile.mkdtemp(),
    ...                  methods=["attribution"], n_pairs=8)
    >>> board[["model", "task", "method"]].values.tolist()
    [['stories260K', 'repeated-name', 'attribution']]
    """
    from capgym.models import load_model

    check_methods(methods)
    if not methods:
        raise UsageError(f"no method given; choose from {', '.join(METHODS)}")
    if not models:
        raise UsageError("no model given; pass --models m1,m2 (see `capgym models`)")
    store = tables.open_store(out)
    task_ids = circuit_tasks(tasks)
    names: list[str] = []  # the tables' model column holds the loaded name, not a path given for it
    for model_name in models:
        lm = load_model(model_name)
        names.append(lm.name)
        for task_id in task_ids:
            _run_model_task(store, lm, task_id, methods, n_pairs, report)
    return tables.read(store, "leaderboard", names, task_ids)


def read_circuit(path: str | Path) -> tuple[str, list[str]]:
    """(name, component or edge names) of a circuit file.

    The file is JSON: ``{"name": "my-circuit", "nodes": ["embed", "L4H3", "MLP4"]}`` or
    ``{"name": ..., "edges": ["embed->L0H1.q", "L0H1->logits"]}`` (or a bare list of names).
    A node may name one position, ``"L4H3@0"`` (see :class:`capgym.circuits.hooks.Node`).
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UsageError(f"cannot read circuit {path}: {err}; write JSON like "
                         '{"name": "mine", "nodes": ["embed", "L4H3"]}') from None  # fmt: skip
    if isinstance(data, list):
        return Path(path).stem, [str(x) for x in data]
    lists = [data.get(k, []) for k in ("nodes", "edges")] if isinstance(data, dict) else [None]
    if not all(isinstance(x, list) for x in lists) or not ({"nodes", "edges"} & set(data)):
        raise UsageError(f"circuit {path} needs a 'nodes' or 'edges' list")
    items = [x for xs in lists for x in xs]
    return str(data.get("name", Path(path).stem)), [str(x) for x in items]


def submit(
    task: str,
    model: str,
    circuit_file: str | Path,
    *,
    out: str | Path = "capgym-out",
    mode: str = "patch",
    n_pairs: int = DEFAULT_PAIRS,
) -> pd.DataFrame:
    """Score a researcher's circuit file and add it to the leaderboard; returns its row."""
    name, items = read_circuit(circuit_file)
    env = make_env(task, model, n_pairs=n_pairs)
    faith = env.score(items, mode=mode)
    level = "edge" if any("->" in x for x in items) else "node"
    total = len(env.edges) if level == "edge" else len(env.components)
    where = "" if not any("@" in x for x in items) else " (some at named positions only)"
    row = pd.DataFrame([{"model": env.model.name, "task": task, "method": f"submission:{name}",
                         "level": level, **_pair_stats(env), "size": len(set(items)),
                         "faithfulness": faith, "f_at_5": math.nan, "f_at_20": math.nan,
                         "cpr": math.nan, "cmd": math.nan, "seconds": math.nan,
                         "note": f"{mode}; {len(set(items))} of {total} {level}s{where}"}])  # fmt: skip
    store = tables.open_store(out)  # keyed by the loaded name, as the baselines' parts are
    tables.put_submission(store, row, env.model.name, task, name, mode, n_pairs)
    return row
