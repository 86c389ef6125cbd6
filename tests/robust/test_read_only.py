"""A read-only run folder: reading stages work; every writing stage says in one line that
the folder is read-only (they traced back with ``OSError: [Errno 30]`` or ``[Errno 13]``).

Root ignores permission bits, so as root the commands run without ``CAP_DAC_OVERRIDE``
(dropped from the bounding set of the child), which makes root obey them like any user.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli import assert_one_line_error, capgym_entry
from tests.robust.conftest import N_STORIES, copy_run

PR_CAPBSET_DROP = 24
CAPS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


def _drop_override() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in CAPS:
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture(scope="module")
def as_user() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes permission bits bind (None when not root)."""
    if os.geteuid() != 0:
        return None
    import subprocess

    probe = subprocess.run(["true"], preexec_fn=_drop_override, check=False)
    if probe.returncode != 0:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE: writes are not blocked")
    return _drop_override


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


def test_reading_stages_work(
    read_only_run: Path, tmp_path: Path, as_user: Callable[[], None] | None
) -> None:
    res = capgym_entry("sql", "SELECT count(DISTINCT story) AS n FROM scores", "-o",
                       str(read_only_run), "--format", "csv", cwd=tmp_path,
                       preexec_fn=as_user)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.splitlines()[1]) == N_STORIES
    html = tmp_path / "elsewhere" / "atlas.html"
    html.parent.mkdir()
    res = capgym_entry("report", "-o", str(read_only_run), "--html", str(html),
                       "--exports", "none", cwd=tmp_path, preexec_fn=as_user)  # fmt: skip
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
    read_only_run: Path, tmp_path: Path, as_user: Callable[[], None] | None, args: list[str]
) -> None:
    before = sorted((p.relative_to(read_only_run), p.stat().st_mtime_ns)
                    for p in read_only_run.rglob("*"))  # fmt: skip
    res = capgym_entry(*args, "-o", str(read_only_run), cwd=tmp_path, preexec_fn=as_user)
    assert_one_line_error(res, "read-only", str(read_only_run))
    after = sorted((p.relative_to(read_only_run), p.stat().st_mtime_ns)
                   for p in read_only_run.rglob("*"))  # fmt: skip
    assert after == before
