"""capgym: find, characterise and benchmark the capabilities of small language models.

The public API mirrors the CLI, one entry function per pipeline stage.  Names are
imported lazily, so ``import capgym`` is cheap and has no side effects.

>>> import capgym
>>> callable(capgym.open_run)
True
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "open_run": ("capgym.store", "open_run"),
    "load_model": ("capgym.models", "load_model"),
    "list_models": ("capgym.models", "list_models"),
    "load_corpus": ("capgym.corpus", "load_corpus"),
    "score": ("capgym.score", "score"),
    "tag": ("capgym.tags", "tag"),
    "explain": ("capgym.explain", "explain"),
    "diff": ("capgym.diff", "diff"),
    "make": ("capgym.tasks", "make"),
    "list_tasks": ("capgym.tasks", "list_tasks"),
    "evaluate": ("capgym.evaluate", "evaluate"),
    "report": ("capgym.report", "report"),
    "TokenView": ("capgym.view", "TokenView"),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'capgym' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
