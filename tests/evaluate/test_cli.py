"""The gym commands: tasks, eval (with bad input), export-task."""

from __future__ import annotations

from pathlib import Path

import pytest

from capgym.evaluate import grid
from tests.cli import run_in_process as run


def test_tasks_lists_the_suite(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["tasks"], capsys)
    assert code == 0 and "repeated-name" in out and "context-tracking" in out


def test_eval_keeps_good_tasks_and_names_bad_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], assets: Path
) -> None:
    grid._MEMORY.clear()
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad\ncapability: demo\ntemplates:\n  - {id: t, prompt: '{x} ran', answer: ' a'}\n"
    )
    argv = ["eval", "--models", "stories260K", "--tasks", f"pronoun,{bad}", "--n", "6",
            "--out", str(tmp_path / "run"), "--no-progress"]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"capgym: task {bad}: {bad}: line 4:")
    assert "unknown slot '{x}'" in lines[0]
    assert "pronoun" in out and "beats_wrong" in out and "chance" in out


def test_eval_unknown_model_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", "--models", "no-such-model", "--tasks", "pronoun", "--n", "2",
            "--out", str(tmp_path / "run"), "--no-progress"]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code != 0
    assert err.splitlines()[0].startswith("capgym: model no-such-model:")
    assert err.splitlines()[-1].startswith("capgym: error: no (model, task) pair")


def test_export_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["export-task", "pronoun", "--format", "lm-eval", "--dest", str(tmp_path),
                        "--n", "4"], capsys)  # fmt: skip
    assert code == 0 and (tmp_path / "pronoun.yaml").exists() and "pronoun.jsonl" in out
    code, _, err = run(
        ["export-task", "pronoun", "--format", "xml", "--dest", str(tmp_path)], capsys
    )
    assert code != 0 and err.strip() == (
        "capgym: error: unknown export format 'xml'; use one of jsonl, lm-eval"
    )
