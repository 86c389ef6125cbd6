"""Stage packages that can be called like their entry function.

``capgym.score`` is both a package (``capgym.score.engine``) and, so that the Python API
mirrors the CLI, the entry function ``capgym.score(...)``.  Once a submodule is imported
Python binds the package to that attribute, so the package itself is made callable instead.

>>> import types, sys
>>> m = types.ModuleType("demo_stage"); sys.modules["demo_stage"] = m
>>> make_callable("demo_stage", lambda x: x + 1)
>>> m(1)
2
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def make_callable(module_name: str, fn: Callable[..., Any]) -> None:
    """Make the module ``module_name`` call ``fn`` when called."""

    class _StageModule(types.ModuleType):
        __doc__ = sys.modules[module_name].__doc__

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

    sys.modules[module_name].__class__ = _StageModule
