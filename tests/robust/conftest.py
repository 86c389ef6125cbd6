"""A small scored run shared by the robustness tests (stories260K on 6 stories)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

N_STORIES = 6


@pytest.fixture(scope="session")
def scored_run(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> Path:
    """A run folder with stories260K's scores of the first 6 validation stories (do not
    modify: copy it with :func:`copy_run`)."""
    from capgym.corpus import load_corpus
    from capgym.models import load_model
    from capgym.score import score

    run = tmp_path_factory.mktemp("scored") / "run"
    corpus = load_corpus("tinystories-validation-0-999", limit=N_STORIES)
    score(load_model("stories260K"), corpus, run, progress=False)
    return run


def copy_run(run: Path, to: Path) -> Path:
    """A private copy of a run folder."""
    shutil.copytree(run, to)
    return to
