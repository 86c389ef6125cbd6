"""Stage ``diff``: what one model predicts confidently and correctly that another does not.

:func:`diff` -> :class:`DiffReport`.  Models with the same tokenizer are compared token
by token; others word by word (see :mod:`capgym.diff.units` for the alignment rule).

>>> callable(diff)
True
"""

from __future__ import annotations

import sys
import types
from typing import Any

from capgym.diff.api import diff, same_tokenizer
from capgym.diff.report import DiffReport

__all__ = ["DiffReport", "diff", "same_tokenizer"]


class _CallableModule(types.ModuleType):
    """``capgym.diff`` is both this package and its entry function: once the package is
    imported, ``capgym.diff`` names the module, so calling the module calls :func:`diff`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return diff(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
