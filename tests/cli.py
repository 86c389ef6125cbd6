"""Running the ``capgym`` command (in a subprocess or in-process) and checking its one-line
errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest


def capgym(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m capgym ARGS`` offline, with a wide terminal for rich tables."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "capgym", *args], check=False, cwd=cwd, env=env,
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def run_in_process(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``capgym ARGV`` in this process: (exit code, stdout, stderr) read from ``capsys``."""
    from capgym.cli import main

    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_error(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Non-zero exit, no traceback, exactly one ``capgym: error`` line naming ``needles``."""
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = [x for x in res.stderr.strip().splitlines() if x.startswith("capgym: error")]
    assert len(lines) == 1, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def capgym_script() -> Path | None:
    """The installed ``capgym`` console script next to this Python, if there is one."""
    import shutil

    here = Path(sys.executable).with_name("capgym")
    found = here if here.is_file() else shutil.which("capgym")
    return Path(found) if found else None


def capgym_entry(
    *args: str, cwd: Path, prefix: Sequence[str] = (), timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """The installed ``capgym`` entry point (what users type), offline, wide terminal;
    ``prefix`` is a command that runs it (``setpriv ... --``)."""
    import pytest

    script = capgym_script()
    if script is None:
        pytest.skip("no installed capgym console script (pip install -e .)")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", COLUMNS="200")
    return subprocess.run(
        [*prefix, str(script), *args], check=False, cwd=cwd, env=env, capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip
