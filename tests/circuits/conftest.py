"""Models and environments shared by the circuits tests (loaded once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from capgym.circuits import HookedModel
from capgym.circuits.env import Env, make_env
from capgym.models import load_model
from capgym.models.base import LanguageModel


@pytest.fixture(scope="session")
def stories(assets: Path) -> LanguageModel:
    return load_model("stories260K")


@pytest.fixture(scope="session")
def bit1m(assets: Path) -> LanguageModel:
    return load_model("bitllama-1M")


@pytest.fixture(scope="session")
def hooked(stories: LanguageModel) -> HookedModel:
    return HookedModel(stories)


@pytest.fixture(scope="session")
def env_name(stories: LanguageModel) -> Env:
    return make_env("repeated-name", stories, n_pairs=24)
