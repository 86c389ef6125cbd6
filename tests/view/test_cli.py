"""`capgym report` and `capgym view` from the command line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from capgym.cli import main
from capgym.view.demo import demo_run


def test_report_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo_run(tmp_path / "run", results=False)
    main(
        [
            "report",
            "--out",
            str(tmp_path / "run"),
            "--html",
            str(tmp_path / "a.html"),
            "--exports",
            "none",
        ]
    )
    out = capsys.readouterr().out.strip()
    assert out.endswith("a.html") and (tmp_path / "a.html").exists()
    assert not (tmp_path / "a-assets").exists()


def test_report_on_missing_run_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        main(["report", "--out", str(tmp_path / "nope")])
    assert e.value.code != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("capgym: error:") and "\n" not in err


def test_view_command_serves(tmp_path: Path) -> None:
    demo_run(tmp_path / "run", results=False, explains=False)
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.Popen(
        [sys.executable, "-m", "capgym", "view", str(tmp_path / "run"), "--port", "0"],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        url, deadline = None, time.time() + 60
        while url is None and time.time() < deadline:
            line = proc.stderr.readline() if proc.stderr else ""
            m = re.search(r"http://\S+/", line)
            url = m.group(0).replace("localhost", "127.0.0.1") if m else None
        assert url, "the explorer did not start"
        with urllib.request.urlopen(url + "api/meta", timeout=10) as r:
            assert json.loads(r.read())["models"] == ["tiny-a", "char-c", "tiny-b"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0
