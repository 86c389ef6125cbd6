"""Fixtures for view tests: a fabricated run store (see :mod:`capgym.view.demo`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from capgym.store import RunStore
from capgym.view.demo import demo_run


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    """Scores of three models, tags, results and explains over six stories (read-only)."""
    return demo_run(tmp_path_factory.mktemp("demo-run") / "run")


@pytest.fixture()
def scores_only_store(tmp_path: Path) -> RunStore:
    """A run with only scores: what `capgym run` has before tagging and the gym."""
    return demo_run(tmp_path / "run", tags=False, results=False, explains=False)
