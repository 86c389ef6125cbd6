"""The built-in suite, `make`, the Task object and the exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import capgym
from capgym.errors import TaskError
from capgym.tasks import add_task_dir, list_tasks, make, registry

FAMILIES = ["story-opening", "story-closing", "word-completion", "repeated-noun",
            "repeated-name", "common-phrase", "plural-singular", "story-structure",
            "closing-quote", "dialogue-name", "pronoun", "character-tracking",
            "semantic-association"]  # fmt: skip


def test_suite_covers_every_family_and_more() -> None:
    caps = set(list_tasks().capability)
    assert set(FAMILIES) <= caps
    assert {"world-knowledge", "simple-reasoning", "context-tracking"} <= caps


@pytest.mark.parametrize("task_id", list(list_tasks().id))
def test_every_builtin_task_has_hundreds_of_labelled_examples(task_id: str) -> None:
    task = make(task_id)
    base = [e for e in task.examples if e.meta["perturbation"] == "none"]
    assert len(base) >= 200, len(base)
    assert len(task) > len(base)  # perturbations present
    assert task.description and task.hypothesis
    for e in task.examples:
        assert e.answer.strip() and e.answer not in e.wrong
        assert {"source", "perturbation", "distance_bucket", "position"} <= e.meta.keys()
        json.dumps(e.meta)


def test_capgym_make_and_task_object() -> None:
    task = capgym.make("repeated-name", n=10)
    assert task.capability == "repeated-name"
    assert task.metadata["n_examples"] == len(task)
    df = task.to_frame()
    assert {"example_id", "prompt", "answer", "wrong", "template"} <= set(df.columns)
    html = task._repr_html_()
    assert html.startswith("<div>") and "repeated-name" in html and "<script" not in html


def test_unknown_task() -> None:
    with pytest.raises(TaskError, match="unknown task 'nope'"):
        make("nope")


def test_user_task_folder(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "id: my-task\ncapability: demo\nexamples:\n  - {prompt: 'The cat sat on the', answer: ' mat'}\n"
    )
    add_task_dir(tmp_path)
    try:
        assert "my-task" in set(list_tasks().id)
        assert make("my-task").examples[0].answer == " mat"
        assert make(str(tmp_path / "mine.yaml")).id == "my-task"
    finally:
        registry._EXTRA_DIRS.remove(tmp_path)


def test_export_jsonl_and_lm_eval(tmp_path: Path) -> None:
    task = make("dialogue-name", n=6, perturb=False)
    (data,) = task.export("jsonl", tmp_path / "plain")
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    assert len(rows) == len(task) and rows[0]["answer"] == task.examples[0].answer
    cfg, data2 = task.export("lm-eval", tmp_path / "lm")
    spec = yaml.safe_load(cfg.read_text())
    assert spec["output_type"] == "multiple_choice" and spec["target_delimiter"] == ""
    assert spec["doc_to_choice"] == "{{[answer] + wrong}}" and spec["doc_to_target"] == 0
    assert Path(spec["dataset_kwargs"]["data_files"]["test"]) == data2.resolve()
    wc = make("word-completion", n=3, perturb=False)
    spec = yaml.safe_load(wc.export("lm-eval", tmp_path / "wc")[0].read_text())
    assert spec["output_type"] == "loglikelihood"
