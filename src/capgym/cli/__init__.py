"""The ``capgym`` command: thin wrappers (arguments, progress, one call) per stage.

Each stage's commands live in their own module here and register on :data:`app`.
Errors of the :class:`capgym.errors.CapgymError` family are caught once, in
:func:`main`, and printed as one line with a non-zero exit.
"""

from __future__ import annotations

import importlib
import sys

from capgym.cli.app import app

# Command modules, each registering its commands on ``app`` when imported.
COMMAND_MODULES = [
    "capgym.cli.spine",
    "capgym.cli.tagging",
    "capgym.cli.discover",
    "capgym.cli.gym",
    "capgym.cli.view",
    "capgym.cli.circuits",
]


def _load_commands() -> None:
    for mod in COMMAND_MODULES:
        importlib.import_module(mod)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``capgym`` console script."""
    from capgym.errors import CapgymError

    _load_commands()
    try:
        app(args=argv, standalone_mode=False)
    except CapgymError as e:
        print(f"capgym: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("capgym: interrupted; finished parts are kept, rerun to resume", file=sys.stderr)
        sys.exit(130)
    except Exception as e:
        import click

        if isinstance(e, click.exceptions.Exit):
            sys.exit(e.exit_code)
        if isinstance(e, click.ClickException):
            print(f"capgym: error: {e.format_message()}", file=sys.stderr)
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            print("capgym: aborted", file=sys.stderr)
            sys.exit(130)
        raise


__all__ = ["app", "main"]
