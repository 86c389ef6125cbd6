"""A read-only run folder: reading stages work; every writing stage says in one line that
the folder is read-only (they traced back with ``OSError: [Errno 30]`` or ``[Errno 13]``).

Root ignores permission bits, so as root the commands run under ``setpriv`` without
``CAP_DAC_OVERRIDE`` (and its relatives), which makes root obey them like any user.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import assert_one_line_error, capgym_entry
from tests.robust.conftest import N_STORIES, copy_run

DROP = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]


@pytest.fixture(scope="module")
def as_user() -> list[str]:
    """A command prefix that makes permission bits bind (empty when not root)."""
    if os.geteuid() != 0:
        return []
    import shutil
    import subprocess

    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): writes cannot be blocked")
    probe = subprocess.run([*DROP, "true"], check=False, capture_output=True)
    if probe.returncode != 0:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE: writes are not blocked")
    return DROP


@pytest.fixture()
def read_only_run(scored_run: Path, tmp_path: Path) -> Iterator[Path]:
    run = copy_run(scored_run, tmp_path / "run")
    folders = [run, *(p for p in run.rglob("*") if p.is_dir())]
    for d in folders:
        d.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    for f in run.rglob("*"):
        if f.is_file():
            f.chmod(stat.S_IRUSR | stat.S_IRGRP)
    yield run
    for d in folders:
        d.chmod(0o755)


def test_reading_stages_work(read_only_run: Path, tmp_path: Path, as_user: list[str]) -> None:
    res = capgym_entry("sql", "SELECT count(DISTINCT story) AS n FROM scores", "-o",
                       str(read_only_run), "--format", "csv", cwd=tmp_path,
                       prefix=as_user)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.splitlines()[1]) == N_STORIES
    html = tmp_path / "elsewhere" / "atlas.html"
    html.parent.mkdir()
    res = capgym_entry("report", "-o", str(read_only_run), "--html", str(html),
                       "--exports", "none", cwd=tmp_path, prefix=as_user)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert html.is_file()


@pytest.mark.parametrize(
    "args",
    [
        ["score", "-m", "stories260K", "--limit", str(N_STORIES)],  # fully cached
        ["score", "-m", "stories260K", "--limit", str(N_STORIES + 1)],
        ["tag"],
        ["explain", "-m", "stories260K"],
        ["eval", "--models", "stories260K", "--tasks", "pronoun", "--n", "4"],
        ["report"],
        ["run", "--models", "stories260K", "--limit", str(N_STORIES)],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_writing_stages_say_read_only(
    read_only_run: Path, tmp_path: Path, as_user: list[str], args: list[str]
) -> None:
    before = sorted((p.relative_to(read_only_run), p.stat().st_mtime_ns)
                    for p in read_only_run.rglob("*"))  # fmt: skip
    res = capgym_entry(*args, "-o", str(read_only_run), cwd=tmp_path, prefix=as_user)
    assert_one_line_error(res, "read-only", str(read_only_run))
    after = sorted((p.relative_to(read_only_run), p.stat().st_mtime_ns)
                   for p in read_only_run.rglob("*"))  # fmt: skip
    assert after == before


def test_view_serves_a_read_only_run(
    read_only_run: Path, tmp_path: Path, as_user: list[str]
) -> None:
    import json
    import re
    import signal
    import subprocess
    import sys
    import urllib.request

    env = dict(os.environ, COLUMNS="200", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(
        [*as_user, sys.executable, "-m", "capgym", "view", str(read_only_run), "--port", "0"],
        stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        url = None
        for line in proc.stderr or []:
            m = re.search(r"http://\S+/", line)
            if m:
                url = m.group(0).replace("localhost", "127.0.0.1")
                break
        assert url, "the explorer did not start"
        with urllib.request.urlopen(url + "api/meta", timeout=60) as r:
            meta = json.loads(r.read())
        assert meta["models"] == ["stories260K"] and meta["cached"] is False
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    assert not (read_only_run / ".cache").exists()
