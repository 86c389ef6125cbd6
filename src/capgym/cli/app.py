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


def require_writable_folder(folder: Path, stage: str, option: str = "--out") -> None:
    """Refuse a writing ``stage`` in one line when ``folder`` exists but is read-only
    (before any work is done; a folder that does not exist yet is created by the stage)."""
    from capgym.store.checks import require_writable

    if folder.is_dir():
        require_writable(folder, f"capgym {stage}", option)


def split_list(value: str | None) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``; empty or None -> ``[]``."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]
