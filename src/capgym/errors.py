"""One exception type per user-facing failure family.

The CLI catches :class:`CapgymError` once, prints ``str(err)`` as a single line and
exits non-zero.  Messages name the problem *and* the fix.

>>> try:
...     raise ModelNotFound("unknown model 'foo'; run `capgym models` to list names")
... except CapgymError as err:
...     print(err)
unknown model 'foo'; run `capgym models` to list names
"""

from __future__ import annotations


class CapgymError(Exception):
    """Base class of every error capgym reports to users as one line."""

    exit_code = 2


class AssetNotFound(CapgymError):
    """A named model, tokenizer or corpus could not be found locally or offline."""


class ModelNotFound(AssetNotFound):
    """An unknown model name or path."""


class CorpusNotFound(AssetNotFound):
    """An unknown corpus name or path."""


class CheckpointError(CapgymError):
    """A checkpoint is missing, truncated, corrupt or inconsistent with its tokenizer."""


class TokenizerError(CapgymError):
    """A tokenizer is corrupt, does not match the model, or cannot encode some text."""


class CorpusError(CapgymError):
    """A corpus is empty, not UTF-8, or malformed."""


class StoreError(CapgymError):
    """A run folder is missing, corrupt, or written by an incompatible version."""


class TaggerError(CapgymError):
    """A tagger failed to import, raised, or returned spans outside its story."""


class TaskError(CapgymError):
    """A task file is malformed, or an example cannot be built for a model."""


class UsageError(CapgymError):
    """Bad command-line or API arguments."""


class ModelsFailed(CapgymError):
    """The main job finished, but some models failed to load, score or explain."""

    exit_code = 1


def one_line(err: BaseException) -> str:
    """An exception as one line: capgym's own message, else its type and first line.

    >>> one_line(ValueError("bad\\nmore")), one_line(KeyError("k"))
    ('ValueError: bad', "KeyError: 'k'")
    """
    text = str(err).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(err, CapgymError):
        return first or type(err).__name__
    return f"{type(err).__name__}: {first}" if first else type(err).__name__
