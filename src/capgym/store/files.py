"""Writing a run's files: atomically, with the permissions the user's umask asks for.

Every file appears whole or not at all (written under a temporary name, then renamed),
and is created with mode ``0o666`` filtered by the umask, as ``open()`` would, so that a
run on shared storage is readable by colleagues and by Ray workers of another user
(``tempfile.mkstemp`` would give ``0o600`` whatever the umask).

>>> import os, tempfile
>>> p = Path(tempfile.mkdtemp()) / "x.json"
>>> write_json_atomic({"a": 1}, p)
>>> p.read_text()
'{\\n "a": 1\\n}'
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

TMP_PREFIX = ".tmp-"  # half-written files; a killed writer may leave them behind
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_TAIL = 1 << 16  # bytes of a Parquet file digested by :func:`digest`: its footer


def slug(name: str) -> str:
    """A file-system-safe name: ``roneneldan/TinyStories-1M`` -> ``roneneldan_TinyStories-1M``."""
    return _SAFE.sub("_", name).strip("_") or "unnamed"


def _new_temp(folder: Path, suffix: str) -> tuple[int, Path]:
    """A new, exclusively created temporary file in ``folder`` (mode 0o666 & ~umask)."""
    while True:
        tmp = folder / f"{TMP_PREFIX}{secrets.token_hex(8)}{suffix}"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Create ``path`` whole or not at all: ``write`` fills a temporary file that then
    replaces ``path``; a failure (or a kill) leaves no partial ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_temp(path.parent, path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` so that readers never see a half-written file.

    zstd throughout; dictionary encoding only for text columns (model names, token
    pieces), where it pays: on float and integer columns (log-probabilities, top-k lists)
    pyarrow's default dictionary is abandoned page by page, and dropping it halves the
    write time of a scores part and shrinks it by a fifth (stories260K, 200 stories:
    47 -> 27 ms, 3.3 -> 2.6 MB), with the same read time.
    """
    text = [f.name for f in table.schema if _is_text(f.type)]
    write_atomic(path, lambda f: pq.write_table(table, f, compression="zstd", use_dictionary=text))


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t))


def write_json_atomic(obj: Any, path: Path) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    data = json.dumps(obj, indent=1, sort_keys=True).encode()
    write_atomic(path, lambda f: f.write(data))


def digest(path: Path) -> str:
    """A cheap content digest of a Parquet file: its size and its last bytes (the footer,
    with every column chunk's size and statistics); stable when a run folder is copied."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - _TAIL))
        tail = fh.read()
    return f"{size}:{hashlib.sha256(tail).hexdigest()[:16]}"
