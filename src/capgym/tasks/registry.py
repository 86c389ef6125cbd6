"""The gym's registry: task files found in the built-in suite and in user folders.

A task is one YAML file; adding a task means adding a file.  Built-in tasks live in
``capgym/tasks/builtin/``; more folders come from ``CAPGYM_TASKS`` (paths separated
by ``os.pathsep``) or :func:`add_task_dir`.

>>> "repeated-name" in task_paths()
True
>>> list_tasks().columns[:3].tolist()
['id', 'capability', 'description']
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from capgym.errors import TaskError
from capgym.tasks.task import Task, load_task

BUILTIN_DIR = Path(__file__).with_name("builtin")
_EXTRA_DIRS: list[Path] = []


def add_task_dir(path: str | Path) -> None:
    """Make the task files of ``path`` available to :func:`make` and :func:`list_tasks`."""
    _EXTRA_DIRS.append(Path(path))


def _dirs() -> list[Path]:
    env = [Path(p) for p in os.environ.get("CAPGYM_TASKS", "").split(os.pathsep) if p]
    return [BUILTIN_DIR, *env, *_EXTRA_DIRS]


@lru_cache(maxsize=256)
def _header(path: Path, mtime: float) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def task_paths() -> dict[str, Path]:
    """Task id -> file, for every task file found (later folders override earlier ones)."""
    out: dict[str, Path] = {}
    for d in _dirs():
        for p in sorted([*d.glob("*.yaml"), *d.glob("*.yml"), *d.glob("*.json")]):
            head = _header(p, p.stat().st_mtime)
            out[str(head.get("id", p.stem))] = p
    return out


def list_tasks() -> pd.DataFrame:
    """The suite: one row per task (id, capability, description, tags, path)."""
    rows = []
    for tid, p in task_paths().items():
        head = _header(p, p.stat().st_mtime)
        rows.append({
            "id": tid,
            "capability": head.get("capability", "?"),
            "description": " ".join(str(head.get("description", "")).split()),
            "tags": ",".join(head.get("tags", [])),
            "path": str(p),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["id", "capability", "description", "tags", "path"])


def _stories(corpus: Any) -> pd.DataFrame:
    if isinstance(corpus, pd.DataFrame):
        return corpus
    from capgym.corpus import Corpus, load_corpus

    c = corpus if isinstance(corpus, Corpus) else load_corpus(str(corpus))
    return pd.DataFrame({"corpus": c.name, "story": c.ids, "text": c.texts})


_TAG_CACHE: dict[str, pd.DataFrame] = {}


def corpus_tags(corpus: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(stories, tags) of a corpus name/path, :class:`Corpus` or stories data frame,
    tagged as ``capgym tag`` tags a run (the same reference corpus for names, nouns and
    phrases), so mined examples come from the tags the atlas shows.

    The tags of the last corpus are kept in memory, since every task of a grid mines
    the same corpus.
    """
    stories = _stories(corpus)
    key = f"{len(stories)}:{int(pd.util.hash_pandas_object(stories, index=False).sum())}"
    if key not in _TAG_CACHE:
        from capgym.tags import tag
        from capgym.tags.store import reference_texts

        _TAG_CACHE.clear()
        table = tag(stories, reference_texts=reference_texts())
        _TAG_CACHE[key] = table.to_pandas() if hasattr(table, "to_pandas") else table
    return stories, _TAG_CACHE[key]


def make(
    task: str | Path,
    *,
    n: int | None = None,
    seed: int | None = None,
    perturb: bool = True,
    corpus: Any = None,
    tags: pd.DataFrame | None = None,
    mined: int | None = None,
) -> Task:
    """The task named ``task`` (or the task file at that path), with its examples.

    ``n`` overrides the number of synthetic examples, ``seed`` their sampling; with a
    ``corpus`` (name, path, Corpus or stories frame) mined examples are added from
    its tags (computed with :func:`capgym.tags.tag` unless ``tags`` is given), at most
    ``mined`` per task (default: the task file's ``mine.max``).

    >>> make("pronoun", n=10, seed=1).examples[0].meta["template"]
    'hungry'
    """
    paths = task_paths()
    p = Path(task)
    if str(task) in paths:
        path = paths[str(task)]
    elif p.suffix in (".yaml", ".yml", ".json") and p.exists():
        path = p
    else:
        raise TaskError(f"unknown task '{task}'; run `capgym tasks` to list the suite")
    stories = None
    if corpus is not None:
        stories, found = corpus_tags(corpus) if tags is None else (_stories(corpus), tags)
        tags = found
    return load_task(path, n=n, seed=seed, perturb=perturb, stories=stories, tags=tags, mined=mined)
