"""A run folder: manifest, stories, scores parts and stage tables, as DuckDB views.

Layout (everything a stage writes is a Parquet file written atomically)::

    RUN/capgym.json                       manifest: schema version, score sets, models
    RUN/stories/<corpus>.parquet          stories(corpus, story, text), text stored once
    RUN/scores/<set key>/part-00000.parquet   scores rows, one part per chunk of stories
    RUN/tables/<view>/<part>.parquet      any other stage's table (tags, results, ...)

A score set is one (model, corpus, settings) scoring; the ``scores`` view shows the
latest set of each (model, corpus) pair.

>>> import tempfile
>>> run = open_run(tempfile.mkdtemp())
>>> sorted(run.views())[:2]
['models', 'scores']
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from capgym.errors import StoreError
from capgym.store import schema
from capgym.store.checks import check_manifest, make_folder, require_writable

MANIFEST = "capgym.json"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def slug(name: str) -> str:
    """A file-system-safe name: ``roneneldan/TinyStories-1M`` -> ``roneneldan_TinyStories-1M``."""
    return _SAFE.sub("_", name).strip("_") or "unnamed"


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` so that readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".parquet")
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json_atomic(obj: Any, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


class RunStore:
    """A run folder.  Create with :func:`open_run`; query with :meth:`sql`."""

    def __init__(self, path: Path, create: bool = True):
        self.path = Path(path)
        self._lock = threading.Lock()
        if not self.path.exists():
            if not create:
                raise StoreError(f"run folder {self.path} does not exist; run `capgym run` first")
            make_folder(self.path)
        elif not self.path.is_dir():
            raise StoreError(f"{self.path} is a file, not a run folder; choose another --out")
        self.manifest = self._read_manifest(create)

    # -- manifest -------------------------------------------------------------------
    def _read_manifest(self, create: bool) -> dict[str, Any]:
        p = self.path / MANIFEST
        if not p.exists():
            if any(self.path.iterdir()) and not create:
                raise StoreError(f"{self.path} is not a capgym run folder (no {MANIFEST})")
            m = {"schema_version": schema.SCHEMA_VERSION, "score_sets": {}, "models": {}}
            if create:
                if any(x.name not in {".DS_Store"} for x in self.path.iterdir()):
                    raise StoreError(
                        f"{self.path} is not empty and not a capgym run folder; "
                        "choose an empty or new --out"
                    )
                _write_json_atomic(m, p)
            return m
        try:
            m = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise StoreError(f"run manifest {p} is unreadable ({e}); use a new --out") from None
        v = m.get("schema_version") if isinstance(m, dict) else None
        if v != schema.SCHEMA_VERSION:
            raise StoreError(
                f"run folder {self.path} was written by an incompatible capgym "
                f"(schema {v}, this capgym reads {schema.SCHEMA_VERSION}); use a new --out"
            )
        check_manifest(m, p)
        return m

    def require_writable(self, stage: str) -> None:
        """One-line :class:`StoreError` if ``stage`` could not write into this folder."""
        require_writable(self.path, stage)

    def save_manifest(self) -> None:
        with self._lock:
            _write_json_atomic(self.manifest, self.path / MANIFEST)

    # -- stories --------------------------------------------------------------------
    def add_stories(self, corpus_name: str, ids: list[int], texts: list[str]) -> None:
        """Store story texts once per corpus; refuse a changed text under the same id."""
        p = self.path / "stories" / f"{slug(corpus_name)}.parquet"
        new = pd.DataFrame({"corpus": corpus_name, "story": ids, "text": texts})
        if p.exists():
            old = pd.read_parquet(p)
            merged = old.merge(new, on=["corpus", "story"], how="inner", suffixes=("", "_new"))
            changed = merged[merged.text != merged.text_new]
            if len(changed):
                raise StoreError(
                    f"corpus '{corpus_name}' story {int(changed.story.iloc[0])} differs from the "
                    f"text already stored in {self.path}; use another --out or corpus name"
                )
            extra = new[~new.story.isin(old.story)]
            if extra.empty:
                return
            new = pd.concat([old, extra]).sort_values("story", kind="stable")
        table = pa.Table.from_pandas(new, schema=schema.STORIES, preserve_index=False)
        write_parquet_atomic(table, p)

    # -- score sets -----------------------------------------------------------------
    def score_set_dir(self, key: str) -> Path:
        return self.path / "scores" / key

    def begin_score_set(self, key: str, meta: dict[str, Any]) -> None:
        """Register a score set as the current one for its (model, corpus)."""
        sets = self.manifest.setdefault("score_sets", {})
        entry = sets.get(key, {})
        entry.update(meta)
        entry.setdefault("complete", False)
        entry["started"] = entry.get("started") or datetime.now(timezone.utc).isoformat()
        sets[key] = entry
        current = self.manifest.setdefault("current", {})
        current[f"{meta['model']}\x00{meta['corpus']}"] = key
        self.score_set_dir(key).mkdir(parents=True, exist_ok=True)
        self.save_manifest()

    def finish_score_set(self, key: str, n_rows: int) -> None:
        entry = self.manifest["score_sets"][key]
        entry["complete"] = True
        entry["n_rows"] = n_rows
        self.save_manifest()

    def is_complete(self, key: str) -> bool:
        return bool(self.manifest.get("score_sets", {}).get(key, {}).get("complete"))

    def current_score_sets(self) -> dict[tuple[str, str], str]:
        """(model, corpus) -> key of the latest score set."""
        out = {}
        for mc, key in self.manifest.get("current", {}).items():
            model, corpus = mc.split("\x00")
            out[(model, corpus)] = key
        return out

    def add_model_info(self, name: str, info: dict[str, Any]) -> None:
        self.manifest.setdefault("models", {})[name] = info
        self.save_manifest()

    # -- generic stage tables -------------------------------------------------------
    def put_table(self, view: str, part: str, table: pa.Table) -> Path:
        """Write one part of a stage table; ``view`` becomes a DuckDB view over all parts."""
        p = self.path / "tables" / slug(view) / f"{slug(part)}.parquet"
        write_parquet_atomic(table, p)
        return p

    def table_parts(self, view: str) -> list[Path]:
        return sorted((self.path / "tables" / slug(view)).glob("*.parquet"))

    # -- querying -------------------------------------------------------------------
    def _score_files(self) -> list[str]:
        files: list[str] = []
        for key in self.current_score_sets().values():
            files += [str(p) for p in sorted(self.score_set_dir(key).glob("part-*.parquet"))]
        return files

    def views(self) -> dict[str, str]:
        """View name -> the SQL defining it."""
        v: dict[str, str] = {}
        stories = sorted((self.path / "stories").glob("*.parquet"))
        v["stories"] = _from_files(stories, schema.STORIES)
        v["scores"] = _from_files(self._score_files(), schema.SCORES)
        tables = self.path / "tables"
        if tables.is_dir():
            for d in sorted(tables.iterdir()):
                parts = sorted(d.glob("*.parquet"))
                if parts:
                    v[d.name] = _from_files(parts, None)
        if "tags" not in v:
            v["tags"] = _from_files([], schema.TAGS)
        if "results" not in v:
            v["results"] = _from_files([], schema.RESULTS)
        v["models"] = _models_sql(self.manifest.get("models", {}))
        return v

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A fresh in-memory DuckDB connection with one view per table of this run."""
        con = duckdb.connect()
        for name, sql in self.views().items():
            con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {sql}')
        return con

    def sql(self, query: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a query against the run's views and return a data frame."""
        if not query.strip():
            raise StoreError("the query is empty; pass a SELECT over the run's views")
        con = self.connect()
        try:
            res = con.execute(query, params or [])
            if res is None or res.description is None:
                raise StoreError("the query returns no rows (not a SELECT); pass a SELECT")
            return res.df()
        except duckdb.Error as e:
            msg = str(e).splitlines()[0]
            raise StoreError(f"query failed: {msg}") from None
        finally:
            con.close()


def _quote_list(files: list[Any]) -> str:
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


def _from_files(files: list[Any], empty_schema: pa.Schema | None) -> str:
    if files:
        return f"SELECT * FROM read_parquet({_quote_list(files)}, union_by_name=true)"
    if empty_schema is None:
        return "SELECT NULL AS empty WHERE false"
    cols = ", ".join(f'CAST(NULL AS {_duck_type(f.type)}) AS "{f.name}"' for f in empty_schema)
    return f"SELECT {cols} WHERE false"


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_list(t):
        return _duck_type(t.value_type) + "[]"
    return {
        pa.string(): "VARCHAR",
        pa.int64(): "BIGINT",
        pa.int32(): "INTEGER",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
    }[t]


def _models_sql(models: dict[str, dict[str, Any]]) -> str:
    if not models:
        return (
            "SELECT CAST(NULL AS VARCHAR) AS model, CAST(NULL AS BIGINT) AS n_params, "
            "CAST(NULL AS VARCHAR) AS architecture, CAST(NULL AS VARCHAR) AS tokenizer, "
            "CAST(NULL AS INTEGER) AS context_len, CAST(NULL AS VARCHAR) AS source WHERE false"
        )
    rows = []
    for name, i in sorted(models.items()):
        vals = [
            name,
            i.get("n_params"),
            i.get("architecture"),
            i.get("tokenizer"),
            i.get("context_len"),
            i.get("source"),
        ]
        rows.append("(" + ", ".join(_lit(x) for x in vals) + ")")
    return (
        "SELECT * FROM (VALUES " + ", ".join(rows) + ") "
        "AS t(model, n_params, architecture, tokenizer, context_len, source)"
    )


def _lit(x: Any) -> str:
    if x is None:
        return "NULL"
    if isinstance(x, (int, float)):
        return repr(x)
    return "'" + str(x).replace("'", "''") + "'"


def open_run(path: str | os.PathLike[str] = "capgym-out", create: bool = True) -> RunStore:
    """Open (or create) the run folder at ``path``."""
    return RunStore(Path(path), create=create)
