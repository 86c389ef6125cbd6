"""The CLI's edge: every way a command can end becomes an exit code and at most one line.

Typer >= 0.29 ships its own copy of click, so its usage errors are not
``click.ClickException``; this module collects the exception classes of whichever
copy typer uses (and of a separately installed click, for older typers) so that an
unknown command or option, a bad value or a missing argument prints one
``capgym: error: ...`` line with a ``--help`` hint and exits 2, never a traceback.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer

from capgym.errors import CapgymError

INTERRUPTED = 130  # what shells report for a process ended by SIGINT
INTERRUPT_HINT = "capgym: interrupted; finished parts are kept: rerun the same command to resume"


def _click_modules() -> list[Any]:
    mods: list[Any] = []
    try:
        from typer._click import exceptions as vendored  # typer >= 0.29

        mods.append(vendored)
    except ImportError:
        pass
    try:
        from click import exceptions as plain

        mods.append(plain)
    except ImportError:
        pass
    return mods


def _classes(name: str) -> tuple[type[BaseException], ...]:
    found = {getattr(m, name) for m in _click_modules() if hasattr(m, name)}
    return tuple(found)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``capgym: error: MESSAGE`` (one line) to stderr and exit with ``code``."""
    one_line = " ".join(str(message).split())
    print(f"capgym: error: {one_line}", file=sys.stderr)
    sys.exit(code)


def _usage_line(e: Any) -> str:
    msg = e.format_message()
    ctx = getattr(e, "ctx", None)
    path = ctx.command_path if ctx is not None else "capgym"
    return f"{msg.rstrip('.')}; see '{path} --help'"


def _os_error_line(e: OSError) -> str | None:
    """One line for an OSError that users cause (read-only folders, a file in a path, a
    folder that cannot be created such as ``--html /proc/x/atlas.html``)."""
    where = e.filename or "a file"
    if e.errno == errno.EROFS:
        return (
            f"cannot write {where}: the file system is read-only; "
            "copy the run somewhere writable or choose another --out"
        )
    if e.errno in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied: {where}; check its permissions (for a read-only run "
            "folder, copy it somewhere writable or choose another --out)"
        )
    if e.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.ENOENT):
        return f"{where}: {e.strerror}; choose another --out or path"
    if e.errno == errno.ENOSPC:
        return f"no space left writing {where}; free disk space and rerun to resume"
    return None


def run_app(app: typer.Typer, argv: Sequence[str] | None) -> None:
    """Run ``app`` on ``argv``; return when the command succeeds, else exit with 2 (usage),
    130 (Ctrl-C), a capgym error's code, or a command's own ``typer.Exit`` code."""
    usage = _classes("UsageError")
    click_error = _classes("ClickException")
    exits = tuple({typer.Exit, *_classes("Exit")})
    aborts = tuple({typer.Abort, *_classes("Abort")})
    no_args = _classes("NoArgsIsHelpError")
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with command.make_context("capgym", args) as ctx:
            command.invoke(ctx)
    except KeyboardInterrupt:
        print(INTERRUPT_HINT, file=sys.stderr)
        sys.exit(INTERRUPTED)
    except CapgymError as e:
        fail(str(e), e.exit_code)
    except no_args as e:  # bare `capgym` or a group without a command: its help, exit 0
        text = e.format_message()  # type: ignore[attr-defined]  # rich help prints itself
        if text.strip():
            print(text)
        sys.exit(0)
    except exits as e:
        code = int(getattr(e, "exit_code", 0) or 0)
        if code == INTERRUPTED:  # typer's own translation of KeyboardInterrupt
            print(INTERRUPT_HINT, file=sys.stderr)
        sys.exit(code)
    except usage as e:
        fail(_usage_line(e), 2)
    except click_error as e:
        fail(e.format_message(), int(getattr(e, "exit_code", 1) or 1))  # type: ignore[attr-defined]
    except aborts:
        print(INTERRUPT_HINT, file=sys.stderr)
        sys.exit(INTERRUPTED)
    except BrokenPipeError:  # `capgym ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        sys.exit(128 + 13)  # as a shell reports a process ended by SIGPIPE
    except OSError as e:
        line = _os_error_line(e)
        if line is None:
            raise
        fail(line, 1)
