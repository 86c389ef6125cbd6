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


def lm_eval_yaml(path: Path) -> dict:  # type: ignore[type-arg]
    """An lm-eval task file, its ``!function`` tags read as the plain string after them."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, tag, node: f"{tag} {node.value}")
    return yaml.load(path.read_text(), Loader=Loader)


def test_export_jsonl_and_lm_eval(tmp_path: Path) -> None:
    task = make("dialogue-name", n=6, perturb=False)
    (data,) = task.export("jsonl", tmp_path / "plain")
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    assert len(rows) == len(task) and rows[0]["answer"] == task.examples[0].answer
    cfg, data2, loader = task.export("lm-eval", tmp_path / "lm")
    spec = lm_eval_yaml(cfg)
    assert spec["output_type"] == "multiple_choice" and spec["target_delimiter"] == ""
    assert spec["doc_to_choice"] == "{{[answer] + wrong}}" and spec["doc_to_target"] == 0
    # the data file is named relative to the task file, through the loader next to it
    assert spec["dataset_kwargs"] == {"data_file": data2.name} and data2.parent == cfg.parent
    assert spec["custom_dataset"] == "function capgym_data.load" and loader.parent == cfg.parent
    wc = make("word-completion", n=3, perturb=False)
    spec = lm_eval_yaml(wc.export("lm-eval", tmp_path / "wc")[0])
    assert spec["output_type"] == "loglikelihood"


def test_lm_eval_export_moves_straddling_punctuation_into_every_choice(tmp_path: Path) -> None:
    task = make("closing-quote", n=30, perturb=False)
    _, data, _ = task.export("lm-eval", tmp_path)
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    assert len(rows) == len(task)
    for ex, row in zip(task.examples, rows, strict=True):
        moved = row["resplit"]
        assert moved and moved in {".", "?", "!"} and ex.prompt == row["prompt"] + moved
        assert row["answer"] == moved + ex.answer
        assert row["wrong"] == [moved + w for w in ex.wrong]
    plain = [
        json.loads(x) for x in task.export("jsonl", tmp_path / "p")[0].read_text().splitlines()
    ]
    assert plain[0]["prompt"] == task.examples[0].prompt  # the plain export is unchanged
