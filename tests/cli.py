"""Running the ``capgym`` command in a subprocess, and checking its one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def capgym(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m capgym ARGS`` offline, with a wide terminal for rich tables."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "capgym", *args], check=False, cwd=cwd, env=env,
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def assert_one_line_error(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Non-zero exit, no traceback, exactly one ``capgym: error`` line naming ``needles``."""
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = [x for x in res.stderr.strip().splitlines() if x.startswith("capgym: error")]
    assert len(lines) == 1, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]
