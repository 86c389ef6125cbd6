"""The run store: one folder of Parquet tables, queried with DuckDB.

>>> import tempfile
>>> run = open_run(tempfile.mkdtemp())
>>> run.sql("SELECT count(*) AS n FROM stories").n[0]
0
"""

from __future__ import annotations

from capgym.store.run import RunStore, open_run

__all__ = ["RunStore", "open_run"]
