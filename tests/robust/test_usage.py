"""Every CLI usage error, through the installed ``capgym`` entry point: one line with a
``--help`` hint, exit 2, no traceback (typer >= 0.29 raises its own click's classes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import assert_one_line_error, capgym_entry


@pytest.mark.parametrize(
    ("args", "needle", "hint"),
    [
        (["score", "--bogus"], "--bogus", "capgym score --help"),
        (["bogus"], "bogus", "capgym --help"),
        (["score", "--no-progress"], "--no-progress", "capgym score --help"),
        (["score", "--limit", "abc", "-m", "stories260K"], "--limit", "capgym score --help"),
        (["sql"], "query", "capgym sql --help"),
        (["view", "--port", "99999"], "--port", "capgym view --help"),
        (["view", "--port", "-1"], "--port", "capgym view --help"),
        (["run", "--mined", "-3"], "--mined", "capgym run --help"),
        (["eval"], "--models", "capgym eval --help"),
        (["eval", "--models", "stories260K", "--n", "-1"], "--n", "capgym eval --help"),
        (["eval", "--models", "stories260K", "--threads", "-1"], "--threads", "capgym eval --help"),
        (["report", "--stories", "-1"], "--stories", "capgym report --help"),
        (["sql", "SELECT 1", "--max-rows", "-1"], "--max-rows", "capgym sql --help"),
    ],
)
def test_usage_error_is_one_line_exit_2(
    tmp_path: Path, args: list[str], needle: str, hint: str
) -> None:
    res = capgym_entry(*args, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert_one_line_error(res, needle, hint)
    assert res.stderr.count("\n") == 1  # nothing but the line


def test_help_and_bare_command_exit_0(tmp_path: Path) -> None:
    for args in (["--help"], [], ["score", "--help"]):
        res = capgym_entry(*args, cwd=tmp_path)
        assert res.returncode == 0 and "Traceback" not in res.stderr, args
        assert "Usage" in res.stdout, args
