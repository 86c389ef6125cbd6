"""Fixtures for report tests: fabricated run stores (see :mod:`capgym.view.demo`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from capgym.store import RunStore
from capgym.view.demo import demo_run


@pytest.fixture(scope="session")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunStore, Path]:
    """A demo run with every table, and its atlas (with exports)."""
    from capgym.report import report

    run = demo_run(tmp_path_factory.mktemp("full") / "run")
    return run, report(run)


@pytest.fixture()
def scores_only(tmp_path: Path) -> RunStore:
    return demo_run(tmp_path / "run", tags=False, results=False, explains=False)
