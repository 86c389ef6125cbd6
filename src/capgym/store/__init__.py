"""The run store: one folder of Parquet tables, queried with DuckDB; the stages' contract.

Every table is declared in :mod:`capgym.store.schema`; a stage writes one with
:meth:`RunStore.write_table` (stamped with what it was computed from), asks
:meth:`RunStore.is_fresh` before recomputing it and reads it back with
:meth:`RunStore.read_table` or SQL (:meth:`RunStore.sql`, read-only by default).
Names are imported lazily, so the CLI can read :mod:`capgym.store.confident` cheaply.

>>> import tempfile
>>> from capgym.store import open_run
>>> run = open_run(tempfile.mkdtemp())
>>> int(run.sql("SELECT count(*) AS n FROM stories").n[0])
0
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capgym.store.run import RunStore, open_run

__all__ = ["RunStore", "open_run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("capgym.store.run"), name)
    raise AttributeError(f"module 'capgym.store' has no attribute {name!r}")
