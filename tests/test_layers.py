"""The stages' import layering (``[tool.importlinter]`` in pyproject.toml) holds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(src))
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_import_contracts_are_kept() -> None:
    res = _lint(ROOT / "src")
    assert res.returncode == 0, res.stdout + res.stderr
    assert " 0 broken" in res.stdout


def test_a_stage_reaching_up_breaks_the_contract(tmp_path: Path) -> None:
    """The contract is live: a copy of the package where the store imports the score
    stage is refused."""
    shutil.copytree(ROOT / "src" / "capgym", tmp_path / "capgym")
    with (tmp_path / "capgym" / "store" / "files.py").open("a") as f:
        f.write("\nimport capgym.score  # noqa: E402\n")
    res = _lint(tmp_path)
    assert res.returncode != 0
    assert "capgym.store.files -> capgym.score" in res.stdout
