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
    "score": ("capgym.score", None),  # the package, callable as its entry function
    "tag": ("capgym.tags", "tag"),
    "explain": ("capgym.explain", None),  # the package, callable as its entry function
    "diff": ("capgym.diff", None),  # the package, callable as its entry function
    "cluster": ("capgym.cluster", None),  # the package, callable as its entry function
    "make": ("capgym.circuits.env", "make"),  # a Task; with model=..., its circuits Env
    "make_env": ("capgym.circuits.env", "make_env"),
    "list_tasks": ("capgym.tasks", "list_tasks"),
    "evaluate": ("capgym.evaluate", None),  # the package, callable as its entry function
    "report": ("capgym.report", "report"),
    "TokenView": ("capgym.render", "TokenView"),
}

__all__ = [
    "TokenView",
    "__version__",
    "cluster",
    "diff",
    "evaluate",
    "explain",
    "list_models",
    "list_tasks",
    "load_corpus",
    "load_model",
    "make",
    "make_env",
    "open_run",
    "report",
    "score",
    "tag",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'capgym' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
