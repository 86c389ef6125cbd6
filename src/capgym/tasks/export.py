"""Export a task to plain jsonl, or to an lm-evaluation-harness task (YAML + jsonl).

The lm-eval task uses ``target_delimiter: ""`` because capgym answers carry their own
leading space; tasks with wrong answers become ``multiple_choice`` (the correct answer
first), tasks without become ``loglikelihood``.

>>> import tempfile
>>> from capgym.tasks import make
>>> files = export_task(make("pronoun", n=4, perturb=False), "lm-eval", tempfile.mkdtemp())
>>> sorted(f.suffix for f in files)
['.jsonl', '.yaml']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from capgym.errors import UsageError

if TYPE_CHECKING:
    from capgym.tasks.task import Task

FORMATS = ("jsonl", "lm-eval")


def _write_jsonl(task: Task, path: Path) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for e in task.examples:
            row = {"task": task.id, "capability": task.capability, **e.to_dict()}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def export_task(task: Task, fmt: str, dest: str | Path) -> list[Path]:
    """Write ``task`` to folder ``dest`` in format ``jsonl`` or ``lm-eval``."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format '{fmt}'; use one of {', '.join(FORMATS)}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    data = _write_jsonl(task, dest / f"{task.id}.jsonl")
    if fmt == "jsonl":
        return [data]
    mc = all(e.wrong for e in task.examples)
    spec: dict[str, Any] = {
        "task": f"capgym_{task.id.replace('-', '_')}",
        "tag": ["capgym", f"capgym_{task.capability.replace('-', '_')}"],
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data.resolve())}},
        "test_split": "test",
        "output_type": "multiple_choice" if mc else "loglikelihood",
        "doc_to_text": "{{prompt}}",
        "target_delimiter": "",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1, "capgym_task_hash": task.content_hash},
    }
    if mc:
        spec["doc_to_choice"] = "{{[answer] + wrong}}"
        spec["doc_to_target"] = 0
    else:
        spec["doc_to_target"] = "{{answer}}"
        spec["metric_list"].append({"metric": "perplexity", "aggregation": "perplexity",
                                    "higher_is_better": False})  # fmt: skip
    cfg = dest / f"{task.id}.yaml"
    cfg.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return [cfg, data]
