"""Checks of a run folder that turn file-system and manifest surprises into one line.

>>> check_manifest({"schema_version": 1, "score_sets": {}, "models": {}}, "capgym.json")
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Any

from capgym.errors import StoreError

# (key, expected type) of the manifest's top level and of each score set entry
_TOP: dict[str, type | tuple[type, ...]] = {"score_sets": dict, "models": dict, "current": dict}
_SET: dict[str, type | tuple[type, ...]] = {
    "model": str,
    "corpus": str,
    "complete": bool,
    "n_rows": int,
    "n_stories": int,
    "n_chunks": int,
    "settings": dict,
    "threads": (int, type(None)),
    "story_runs": (list, type(None)),
}


def check_manifest(m: Any, where: str | os.PathLike[str]) -> None:
    """Refuse a manifest whose values have the wrong types (a hand edit, another tool).

    >>> check_manifest({"score_sets": []}, "capgym.json")
    Traceback (most recent call last):
    capgym.errors.StoreError: run manifest capgym.json: 'score_sets' must be an object, not list; ...
    """

    def bad(what: str, want: type | tuple[type, ...], got: Any) -> StoreError:
        names = want if isinstance(want, tuple) else (want,)
        kind = " or ".join("object" if t is dict else t.__name__ for t in names)
        return StoreError(
            f"run manifest {where}: {what} must be {'an' if kind[0] in 'aeiou' else 'a'} "
            f"{kind}, not {type(got).__name__}; restore it or use a new --out"
        )

    for key, want in _TOP.items():
        if key in m and not isinstance(m[key], want):
            raise bad(repr(key), want, m[key])
    for key, entry in m.get("score_sets", {}).items():
        if not isinstance(entry, dict):
            raise bad(f"score set {key!r}", dict, entry)
        for field, want in _SET.items():
            value = entry.get(field)
            if field in entry and (
                not isinstance(value, want) or (want is int and isinstance(value, bool))
            ):
                raise bad(f"score set {key!r} field {field!r}", want, value)
    for pair, key in m.get("current", {}).items():
        if not isinstance(key, str) or pair.count("\x00") != 1:
            raise StoreError(
                f"run manifest {where}: 'current' entry {pair!r} is malformed; "
                "restore it or use a new --out"
            )
    for name, info in m.get("models", {}).items():
        if not isinstance(info, dict):
            raise bad(f"model {name!r}", dict, info)


def make_folder(path: Path) -> None:
    """Create a run folder, or say in one line why it cannot be created."""
    try:
        path.mkdir(parents=True, exist_ok=True)  # another writer may be creating it
    except OSError as e:
        raise StoreError(
            f"cannot create run folder {path}: {e.strerror}"
            f"{f' ({e.filename})' if e.filename and str(e.filename) != str(path) else ''}; "
            "choose another --out"
        ) from None


READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


def require_writable(path: Path, stage: str, option: str = "--out") -> None:
    """Refuse, in one line, to run a writing ``stage`` in a folder this process cannot write.

    Probes by creating (and deleting) a file, which also catches read-only mounts and
    ACLs that permission bits do not show.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path, prefix=".tmp-probe-")
    except OSError as e:
        if e.errno not in READ_ONLY:
            raise StoreError(
                f"`{stage}` cannot write into {path} ({e.strerror}); choose another {option}"
            ) from None
        raise StoreError(
            f"folder {path} is read-only ({e.strerror}); `{stage}` writes into it: "
            f"copy it somewhere writable or choose another {option}"
        ) from None
    os.close(fd)
    os.unlink(tmp)
