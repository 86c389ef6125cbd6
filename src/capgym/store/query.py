"""SQL over a run: the views' definitions and the read-only guard of ``RunStore.sql``.

A query through :meth:`capgym.store.RunStore.sql` may only read (``SELECT``,
``DESCRIBE``, ``SHOW``, ``EXPLAIN``): DuckDB's own read-only mode still lets ``COPY ... TO``
and ``EXPORT`` write files, and one ``COPY`` onto a Parquet part silently corrupts a run,
so every statement's type is checked before anything runs, and the settings are locked.

>>> import duckdb
>>> con = duckdb.connect()
>>> check_read_only(con, "SELECT 1; SELECT 2")
>>> check_read_only(con, "COPY (SELECT 1) TO 'x.csv'")
Traceback (most recent call last):
...
capgym.errors.StoreError: the run store is opened read-only and this query writes (COPY); pass --write to `capgym sql` (open_run(..., sql_writes=True)) to allow it
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from capgym.errors import StoreError

READING = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


def check_read_only(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Raise a one-line :class:`StoreError` if any statement of ``query`` is not a read."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as e:
        raise StoreError(f"query failed: {str(e).splitlines()[0]}") from None
    for s in statements:
        if s.type not in READING:
            raise StoreError(
                f"the run store is opened read-only and this query writes ({s.type.name}); "
                "pass --write to `capgym sql` (open_run(..., sql_writes=True)) to allow it"
            )


def quote_list(files: list[Any]) -> str:
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


def from_files(files: list[Any], empty_schema: pa.Schema | None) -> str:
    """SQL reading Parquet ``files`` (by column name); empty with ``empty_schema``'s columns."""
    if files:
        return f"SELECT * FROM read_parquet({quote_list(files)}, union_by_name=true)"
    if empty_schema is None:
        return "SELECT NULL AS empty WHERE false"
    cols = ", ".join(f'CAST(NULL AS {duck_type(f.type)}) AS "{f.name}"' for f in empty_schema)
    return f"SELECT {cols} WHERE false"


def duck_type(t: pa.DataType) -> str:
    """DuckDB's name of an Arrow type used in :mod:`capgym.store.schema`."""
    if pa.types.is_list(t):
        return duck_type(t.value_type) + "[]"
    return {
        pa.string(): "VARCHAR",
        pa.int64(): "BIGINT",
        pa.int32(): "INTEGER",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
    }[t]


def models_sql(models: dict[str, dict[str, Any]], schema: pa.Schema) -> str:
    """The ``models`` view: one row per model recorded in the manifest."""
    if not models:
        return from_files([], schema)
    rows = []
    for name, i in sorted(models.items()):
        vals = [name] + [i.get(f) for f in schema.names[1:]]
        rows.append("(" + ", ".join(_lit(x) for x in vals) + ")")
    return f"SELECT * FROM (VALUES {', '.join(rows)}) AS t({', '.join(schema.names)})"


def _lit(x: Any) -> str:
    if x is None:
        return "NULL"
    if isinstance(x, (int, float)):
        return repr(x)
    return "'" + str(x).replace("'", "''") + "'"
