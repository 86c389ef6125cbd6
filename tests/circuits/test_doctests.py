"""The runnable examples in the circuits modules' docstrings run and say what they claim."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

MODULES = [
    "adapters",
    "hooks",
    "pairs",
    "patching",
    "baselines",
    "planted",
    "env",
    "export",
    "runner",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(assets: Path, name: str) -> None:
    module = importlib.import_module(f"capgym.circuits.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
