"""The ``capgym`` command: thin wrappers (arguments, progress, one call) per stage.

Each stage's commands live in their own module here and register on :data:`app`.
Errors of the :class:`capgym.errors.CapgymError` family are caught once, in
:func:`main`, and printed as one line with a non-zero exit.
"""

from __future__ import annotations

import importlib

from capgym.cli.app import app

# Command modules, each registering its commands on ``app`` when imported.
COMMAND_MODULES = [
    "capgym.cli.spine",
    "capgym.cli.tagging",
    "capgym.cli.discover",
    "capgym.cli.cluster",
    "capgym.cli.gym",
    "capgym.cli.view",
    "capgym.cli.circuits",
]


def _load_commands() -> None:
    for mod in COMMAND_MODULES:
        importlib.import_module(mod)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``capgym`` console script: returns when the command succeeds, else
    exits with one line and a status (see :mod:`capgym.cli.edge`)."""
    from capgym.cli.edge import run_app

    _load_commands()
    run_app(app, argv)


__all__ = ["app", "main"]
