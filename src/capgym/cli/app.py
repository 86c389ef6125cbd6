"""The typer application and options shared by every command."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    name="capgym",
    help="Find, characterise and benchmark the capabilities of small language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_OUT = Path("capgym-out")


def split_list(value: str | None) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``; empty or None -> ``[]``."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]
