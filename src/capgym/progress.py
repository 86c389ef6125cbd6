"""Progress bars for long steps (rich), or silence.

>>> with task_progress("demo", total=2, enabled=False) as advance:
...     advance(2)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@contextmanager
def task_progress(
    description: str, total: int, enabled: bool = True, done: int = 0
) -> Iterator[Callable[[int], None]]:
    """Yield an ``advance(n)`` callable that moves a rich bar (to stderr) when enabled."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=False,
    )
    with bar:
        tid = bar.add_task(description, total=total, completed=done)
        yield lambda n: bar.advance(tid, n)
