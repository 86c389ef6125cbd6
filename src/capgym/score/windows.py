"""Which windows of a long story the model sees, and which positions each one scores.

Every predicted position ``1 <= p < n`` is scored exactly once.  A story that fits the
context is one window.  A longer one is covered by windows of ``context`` tokens that
advance by half a context, so every position past the first window is predicted with
at least ``context // 2`` tokens of context; ``context_len = p - window_start``.

>>> plan_windows(5, 8)
[Window(start=0, end=5, first=1)]
>>> plan_windows(12, 8)
[Window(start=0, end=8, first=1), Window(start=4, end=12, first=8)]
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """Tokens ``[start, end)`` go in; positions ``[first, end)`` are scored."""

    start: int
    end: int
    first: int

    @property
    def length(self) -> int:
        return self.end - self.start


def plan_windows(n_tokens: int, context: int) -> list[Window]:
    """Windows covering positions 1..n_tokens-1 of a sequence of ``n_tokens`` ids."""
    if context < 2:
        raise ValueError("context must be at least 2 tokens")
    if n_tokens < 2:
        return []
    if n_tokens <= context:
        return [Window(0, n_tokens, 1)]
    half = context // 2
    windows = [Window(0, context, 1)]
    k = 1
    while windows[-1].end < n_tokens:
        start = min(k * half, n_tokens - context)
        windows.append(Window(start, start + context, windows[-1].end))
        k += 1
    return windows
