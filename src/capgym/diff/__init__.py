"""Stage ``diff``: what one model predicts confidently and correctly that another does not.

:func:`diff` -> :class:`DiffReport`.  Models with the same tokenizer are compared token
by token; others word by word (see :mod:`capgym.diff.units` for the alignment rule).

>>> callable(diff)
True
"""

from __future__ import annotations

from capgym._callable import make_callable
from capgym.diff.api import diff
from capgym.diff.report import DiffReport
from capgym.store.tokenizers import same_tokenizer

__all__ = ["DiffReport", "diff", "same_tokenizer"]


make_callable(__name__, diff)
