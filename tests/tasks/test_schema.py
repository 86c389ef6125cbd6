"""Task files: schema errors name file and line; bad templates name task and example."""

from __future__ import annotations

from pathlib import Path

import pytest

from capgym.errors import TaskError
from capgym.tasks import load_task

GOOD = """\
id: demo
capability: pronoun
description: a demo
slots:
  name: names
templates:
  - id: t
    prompt: "{Name} was hungry, so"
    answer: " {name.pron}"
    wrong: [" {name.other_pron}"]
"""


def write(tmp_path: Path, text: str, name: str = "task.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def error_of(path: Path) -> str:
    with pytest.raises(TaskError) as e:
        load_task(path, n=5)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_good_file_loads(tmp_path: Path) -> None:
    task = load_task(write(tmp_path, GOOD), n=5)
    assert task.id == "demo" and len(task) == 5
    assert all(e.answer in (" he", " she") for e in task.examples)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (GOOD.replace("capability: pronoun", "capability: 3"), 2, "capability"),
        (GOOD.replace('    answer: " {name.pron}"\n', ""), 7, "'answer' is a required"),
        (GOOD.replace("    wrong:", "    wrongs:"), 7, "wrongs"),
        (GOOD.replace("  name: names", "  name: {frm: names}"), 5, "slots.name"),
        (GOOD + "perturbations: [7]\n", 11, "perturbations[0]"),
        (GOOD.replace("id: demo", "id: Demo Task"), 1, "id"),
    ],
)
def test_schema_errors_give_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    p = write(tmp_path, text)
    msg = error_of(p)
    assert msg.startswith(f"{p}: line {line}: "), msg
    assert fragment in msg


def test_yaml_syntax_error_line(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD.replace("  - id: t", "  - id: [t"))
    msg = error_of(p)
    assert msg.startswith(f"{p}: line ") and "invalid YAML" in msg


def test_unknown_slot_names_template_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD.replace("{Name} was", "{Person} was"))
    msg = error_of(p)
    assert msg.startswith(f"{p}: line 7: ") and "unknown slot '{Person}'" in msg


def test_unknown_perturbation_line(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD + "perturbations: [rename, shuffle]\n")
    msg = error_of(p)
    assert "line 11" in msg and "unknown perturbation 'shuffle'" in msg


def test_empty_answer_names_task_and_example(tmp_path: Path) -> None:
    text = GOOD.replace('answer: " {name.pron}"', 'answer: "{gap}"')
    msg = error_of(write(tmp_path, text.replace("slots:\n", "slots:\n  gap: ['', ' ']\n", 1)))
    assert msg.startswith("task demo example t-0000: ") and "empty answer" in msg


def test_unknown_attribute_names_example(tmp_path: Path) -> None:
    msg = error_of(write(tmp_path, GOOD.replace("{name.pron}", "{name.colour}")))
    assert "task demo example t-0000" in msg and "no attribute 'colour'" in msg


def test_unknown_filler_list(tmp_path: Path) -> None:
    msg = error_of(write(tmp_path, GOOD.replace("name: names", "name: wizards")))
    assert "unknown filler list 'wizards'" in msg


def test_generator_import_failure(tmp_path: Path) -> None:
    text = "id: g\ncapability: demo\ngenerator:\n  function: nowhere.py:make\n"
    msg = error_of(write(tmp_path, text))
    assert "line 4" in msg and "cannot import generator 'nowhere.py:make'" in msg


def test_user_generator_file(tmp_path: Path) -> None:
    (tmp_path / "hook.py").write_text(
        "def make(rng, fillers, n, word='cat'):\n"
        "    return [{'prompt': f'The {word} sat on the', 'answer': ' mat', 'wrong': ' dog'}"
        " for _ in range(1)]\n"
    )
    text = "id: g\ncapability: demo\ngenerator:\n  function: hook.py:make\n  params: {word: dog}\n"
    task = load_task(write(tmp_path, text))
    assert task.examples[0].prompt == "The dog sat on the"
    assert task.examples[0].meta["source"] == "generator"


def test_json_task_file(tmp_path: Path) -> None:
    text = '{"id": "j", "capability": "demo", "examples": [{"prompt": "a", "answer": " b"}]}'
    task = load_task(write(tmp_path, text, "t.json"))
    assert task.examples[0].id == "ex-0000" and task.examples[0].meta["source"] == "listed"
