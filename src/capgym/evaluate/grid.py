"""A models x tasks grid: cached per (model hash, task hash), resumable, failure-tolerant.

Each finished (model, task) is written to the run store as one Parquet part per table
(``results``, ``example_details``, ``task_slices``, then ``task_summary`` last), each
atomically and stamped with the cache key (:meth:`capgym.store.RunStore.is_fresh`).  A
rerun loads finished parts instead of recomputing them, so an interrupted grid resumes
where it stopped.  A task or example that fails yields one line naming it; the grid goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from capgym.errors import CapgymError, StoreError
from capgym.evaluate.report import EvalReport
from capgym.evaluate.task_eval import EvalSettings, TaskEval, evaluate_task
from capgym.progress import task_progress
from capgym.store import RunStore, open_run
from capgym.tasks.task import Task

TABLES = ("results", "example_details", "task_slices", "task_summary")  # summary last
_MEMORY: dict[str, TaskEval] = {}
_MEMORY_LIMIT = 256


def cache_key(model: Any, task: Task, settings: EvalSettings) -> str:
    return f"{model.content_hash}:{task.content_hash}:{settings.key()}"


def _part(model_name: str, task_id: str) -> str:
    return f"{model_name}__{task_id}"


def is_stored(run: RunStore, model_name: str, task_id: str, key: str) -> bool:
    """Whether the run holds the (model, task) evaluation made with cache key ``key``."""
    part = _part(model_name, task_id)
    return all(run.is_fresh(t, part, {"eval": key}) for t in reversed(TABLES))


def load_cached(run: RunStore, model_name: str, task_id: str, key: str) -> TaskEval | None:
    """The stored evaluation of (model, task) if it was made with the same cache key."""
    if not is_stored(run, model_name, task_id, key):
        return None
    part = _part(model_name, task_id)
    try:
        frames = {t: run.read_table(t, part) for t in TABLES}
    except (OSError, pa.ArrowException, StoreError):
        return None
    return TaskEval(frames["results"], frames["example_details"], frames["task_summary"],
                    frames["task_slices"], cached=True)  # fmt: skip


def save(run: RunStore, ev: TaskEval, model_name: str, task_id: str, key: str) -> None:
    """Write one (model, task) evaluation; the summary part goes last (the done marker)."""
    part = _part(model_name, task_id)
    frames = {"results": ev.results, "example_details": ev.details,
              "task_slices": ev.slices, "task_summary": ev.summary}  # fmt: skip
    for t in TABLES:
        run.write_table(t, part, frames[t], stamp={"eval": key})


def _save_errors(run: RunStore, errors: list[dict[str, str]]) -> None:
    if errors:
        df = pd.DataFrame(errors, columns=["model", "task", "error"])
        run.write_table("task_errors", "latest", df)


def _as_tasks(tasks: Any, n: int | None, seed: int | None, corpus: Any,
              report: Callable[[str], None], mined: int | None = None,
              tags: pd.DataFrame | None = None) -> tuple[list[Task], list[dict[str, str]]]:  # fmt: skip
    from capgym.tasks import list_tasks, make

    if tasks is None:
        tasks = list(list_tasks().id)
    elif isinstance(tasks, (str, Path, Task)):
        tasks = [tasks]
    out, errors = [], []
    for t in tasks:
        if isinstance(t, Task):
            out.append(t)
            continue
        try:
            out.append(make(t, n=n, seed=seed, corpus=corpus, mined=mined, tags=tags))
        except CapgymError as e:
            report(f"task {t}: {e}")
            errors.append({"model": "", "task": str(t), "error": str(e)})
    return out, errors


def _load_model(m: Any) -> Any:
    if not isinstance(m, (str, Path)):
        return m
    from capgym.models import load_model

    return load_model(str(m))


def evaluate(
    models: Any,
    tasks: Any = None,
    *,
    out: str | Path | RunStore | None = None,
    n: int | None = None,
    seed: int | None = None,
    corpus: Any = None,
    settings: EvalSettings | None = None,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
    mined: int | None = None,
    tags: pd.DataFrame | None = None,
) -> EvalReport:
    """Evaluate every model on every task (all built-in tasks by default).

    ``models``: names, paths or :class:`LanguageModel` objects (one or a list);
    ``tasks``: ids, task files or :class:`Task` objects; ``out``: a run folder where
    results are cached and from which an interrupted grid resumes; ``corpus`` adds
    examples mined from it, at most ``mined`` per task (default: each task's own cap),
    from ``tags`` of it when given (a run's ``tags`` table) instead of tagging it again.  ``report`` gets one
    line per failing task or example (default: ignore; the CLI prints them).
    """
    settings = settings or EvalSettings()
    say = report or (lambda line: None)
    model_list = models if isinstance(models, (list, tuple)) else [models]
    task_list, errors = _as_tasks(tasks, n, seed, corpus, say, mined, tags)
    run = out if isinstance(out, RunStore) else (open_run(out) if out is not None else None)
    evals: list[TaskEval] = []
    with task_progress("eval", len(model_list) * len(task_list), enabled=progress) as advance:
        for m in model_list:
            try:
                model = _load_model(m)
            except CapgymError as e:
                say(f"model {m}: {e}")
                errors.append({"model": str(m), "task": "", "error": str(e)})
                advance(len(task_list))
                continue
            for task in task_list:
                ev = _one(model, task, settings, run, say, errors)
                if ev is not None:
                    evals.append(ev)
                advance(1)
    if run is not None:
        _save_errors(run, errors)
    return EvalReport.from_evals(evals, [e["error"] for e in errors])


def _one(model: Any, task: Task, settings: EvalSettings, run: RunStore | None,
         say: Callable[[str], None], errors: list[dict[str, str]]) -> TaskEval | None:  # fmt: skip
    key = cache_key(model, task, settings)
    ev = _MEMORY.get(key)
    in_run = run is not None and is_stored(run, model.name, task.id, key)
    if ev is None and in_run:
        ev = load_cached(run, model.name, task.id, key)  # type: ignore[arg-type]
    if ev is None:
        in_run = False
        try:
            ev = evaluate_task(model, task, settings)
        except CapgymError as e:
            say(f"model {model.name}: {e}")
            errors.append({"model": model.name, "task": task.id, "error": str(e)})
            return None
        except Exception as e:  # noqa: BLE001  (a broken model or hook must not stop the grid)
            line = f"model {model.name}: task {task.id} failed: {type(e).__name__}: {e}"
            say(line)
            errors.append({"model": model.name, "task": task.id, "error": line})
            return None
        for line in ev.errors:
            say(line)
            errors.append({"model": model.name, "task": task.id, "error": line})
    if len(_MEMORY) >= _MEMORY_LIMIT:
        _MEMORY.clear()
    _MEMORY[key] = ev
    if run is not None and not in_run:
        save(run, ev, model.name, task.id, key)
    return ev
