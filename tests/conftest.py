"""Shared fixtures: the offline assets folder and a tiny in-memory language model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEFAULT_ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"

# Tests never touch the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
if "CAPGYM_ASSETS" not in os.environ and DEFAULT_ASSETS.is_dir():
    os.environ["CAPGYM_ASSETS"] = str(DEFAULT_ASSETS)


@pytest.fixture(scope="session")
def assets() -> Path:
    """The shared assets folder (skips the test when it is absent)."""
    root = os.environ.get("CAPGYM_ASSETS")
    if not root or not Path(root).is_dir():
        pytest.skip("CAPGYM_ASSETS is not set to the shared assets folder")
    return Path(root)
