"""Export a task to plain jsonl, or to an lm-evaluation-harness task (YAML + jsonl).

The lm-eval task uses ``target_delimiter: ""`` because capgym answers carry their own
leading space; tasks with wrong answers become ``multiple_choice`` (the correct answer
first, scored by lm-eval's ``acc``: the summed log-probability of each whole choice, so
it corresponds to capgym's ``seq_logprob_diff > 0``, not to ``beats_wrong``), tasks
without become ``loglikelihood``.

Two things make an export run the same numbers in lm-eval as in capgym:

* **Straddling punctuation.**  lm-eval tokenizes context and choice separately, and
  when the context's last characters merge with the choice's first (GPT-2 has one token
  for ``."``, ``?"``, ``!"``), the choice is scored from a context that differs from the
  others' (or it is empty).  Where a candidate starts with punctuation, the punctuation
  that ends the prompt moves into every choice (``'... this hat.' + '"'`` ->
  ``'... this hat' + '."'``), as capgym's own builder does for each tokenizer
  (:mod:`capgym.tasks.build`); the moved text is kept in the row's ``resplit`` field.
* **BOS.**  capgym scores every prompt after the model's BOS token; run lm-eval's ``hf``
  model with ``add_bos_token=True`` to match.

The data file is found relative to the task file (through a small ``capgym_data.py``
loader written next to it), so an export folder can be moved or shared as it is.
Install the harness with ``pip install "lm-eval[hf]"`` (tested with 0.4.13), then::

    lm_eval --model hf --model_args pretrained=DIR,add_bos_token=True \\
        --include_path EXPORT_DIR --tasks capgym_closing_quote

>>> import tempfile
>>> from capgym.tasks import make
>>> files = export_task(make("pronoun", n=4, perturb=False), "lm-eval", tempfile.mkdtemp())
>>> sorted(f.name for f in files)
['capgym_data.py', 'pronoun.jsonl', 'pronoun.yaml']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from capgym.errors import UsageError
from capgym.tasks.build import MAX_RESPLIT
from capgym.tasks.example import Example

if TYPE_CHECKING:
    from capgym.tasks.task import Task

FORMATS = ("jsonl", "lm-eval")
LOADER = "capgym_data"
LOADER_PY = '''"""Loads a capgym export's jsonl from this folder (written by capgym export-task)."""

from pathlib import Path

import datasets


def load(data_file, **_):
    path = Path(__file__).resolve().parent / data_file
    return datasets.load_dataset("json", data_files={"test": str(path)})
'''


def _punct(ch: str) -> bool:
    return not ch.isspace() and not ch.isalnum()


def move_punctuation(ex: Example) -> tuple[Example, str]:
    """``ex`` with the punctuation that ends its prompt moved into every candidate, when
    some candidate starts with punctuation (it could merge with it into one token); and
    the moved text.

    >>> e, moved = move_punctuation(Example("q", 'She said, "I like it.', '"', (" It",)))
    >>> e.prompt[-7:], e.answer, e.wrong, moved
    ('like it', '."', ('. It',), '.')
    >>> move_punctuation(Example("n", "Lily saw", " Tom", (" Sue",)))[1]
    ''
    """
    if not any(c and _punct(c[0]) for c in (ex.answer, *ex.wrong)):
        return ex, ""
    k = len(ex.prompt)
    while k > 0 and len(ex.prompt) - k < MAX_RESPLIT and _punct(ex.prompt[k - 1]):
        k -= 1
    moved = ex.prompt[k:]
    if not moved or k == 0:
        return ex, ""
    wrong = tuple(moved + w for w in ex.wrong)
    return Example(ex.id, ex.prompt[:k], moved + ex.answer, wrong, ex.meta), moved


def _write_jsonl(task: Task, path: Path, lm_eval: bool = False) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for e in task.examples:
            moved = ""
            if lm_eval:
                e, moved = move_punctuation(e)
            row = {"task": task.id, "capability": task.capability, **e.to_dict()}
            if lm_eval:
                row["resplit"] = moved
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def export_task(task: Task, fmt: str, dest: str | Path) -> list[Path]:
    """Write ``task`` to folder ``dest`` in format ``jsonl`` or ``lm-eval`` (see the module
    doc: punctuation moved into the choices, data path relative to the task file)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format '{fmt}'; use one of {', '.join(FORMATS)}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    data = _write_jsonl(task, dest / f"{task.id}.jsonl", lm_eval=fmt == "lm-eval")
    if fmt == "jsonl":
        return [data]
    loader = dest / f"{LOADER}.py"
    loader.write_text(LOADER_PY, encoding="utf-8")
    mc = all(e.wrong for e in task.examples)
    spec: dict[str, Any] = {
        "task": f"capgym_{task.id.replace('-', '_')}",
        "tag": ["capgym", f"capgym_{task.capability.replace('-', '_')}"],
        "dataset_path": "json",
        "dataset_kwargs": {"data_file": data.name},
        "test_split": "test",
        "output_type": "multiple_choice" if mc else "loglikelihood",
        "doc_to_text": "{{prompt}}",
        "target_delimiter": "",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 2, "capgym_task_hash": task.content_hash},
    }
    if mc:
        spec["doc_to_choice"] = "{{[answer] + wrong}}"
        spec["doc_to_target"] = 0
    else:
        spec["doc_to_target"] = "{{answer}}"
        spec["metric_list"].append({"metric": "perplexity", "aggregation": "perplexity",
                                    "higher_is_better": False})  # fmt: skip
    cfg = dest / f"{task.id}.yaml"
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    # lm-eval resolves `!function module.name` next to the YAML file
    text += f"custom_dataset: !function {LOADER}.load\n"
    cfg.write_text(text, encoding="utf-8")
    return [cfg, data, loader]
