"""A run folder: manifest, stories, score sets and stage tables, as DuckDB views.

Layout (every file is written atomically, with the umask's permissions)::

    RUN/capgym.json                            manifest: schema version, score sets, models
    RUN/stories/<corpus>.parquet               the ``stories`` table, text stored once
    RUN/scores/<set key>/part-00000.parquet    ``scores`` rows, one part per chunk of stories
    RUN/tables/<table>/<key>.parquet           any other declared table, one part per key
    RUN/atlas.html, RUN/.cache/                the report's documents, the explorer's cache
    RUN/.capgym.lock                           locked while the manifest is updated

Stages never build these paths: they write a declared table (:mod:`capgym.store.schema`)
with :meth:`RunStore.write_table`, stamped with what it was computed from, check
:meth:`RunStore.is_fresh` before computing it again and read it back with
:meth:`RunStore.read_table`.  A score set is one (model, corpus, settings) scoring,
written part by part so that it resumes; the ``scores`` view shows the current set of
each (model, corpus).  Manifest updates re-read the manifest under a file lock, so
concurrent writers (two ``capgym score`` on one ``--out``, Ray workers) lose nothing.

>>> import tempfile
>>> run = open_run(tempfile.mkdtemp())
>>> _ = run.write_table("task_errors", "latest", pd.DataFrame(
...     {"model": ["m"], "task": ["t"], "error": ["boom"]}), stamp={"grid": 1})
>>> run.is_fresh("task_errors", "latest", {"grid": 1}), run.read_table("task_errors").error[0]
(True, 'boom')
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from capgym.errors import StoreError
from capgym.store import schema
from capgym.store.checks import check_manifest, make_folder, require_writable
from capgym.store.files import TMP_PREFIX, digest, slug, write_json_atomic, write_parquet_atomic
from capgym.store.query import check_read_only, from_files, models_sql

MANIFEST = "capgym.json"
LOCK = ".capgym.lock"  # held while the manifest (or a merged table) is read, changed, written
STAMP_KEY = b"capgym.stamp"  # Parquet metadata: what a part was computed from
_IGNORED = {".DS_Store", LOCK}


class RunStore:
    """A run folder.  Create with :func:`open_run`; query with :meth:`sql`."""

    def __init__(self, path: Path, create: bool = True, sql_writes: bool = False):
        self.path = Path(path)
        self.sql_writes = sql_writes
        self._thread_lock = threading.RLock()
        self._file_lock: FileLock | None = None
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path} is a file, not a run folder; choose another --out")
        if not self.path.exists():
            if not create:
                raise StoreError(f"run folder {self.path} does not exist; run `capgym run` first")
            make_folder(self.path)
        self.manifest = self._open_manifest(create)

    # -- manifest -------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run's lock against other threads and processes (reentrant)."""
        with self._thread_lock:
            if self._file_lock is None:
                self._file_lock = FileLock(self.path / LOCK)
            with self._file_lock:
                yield

    def _open_manifest(self, create: bool) -> dict[str, Any]:
        p = self.path / MANIFEST
        if p.exists():
            return self._read_manifest()
        if not create:
            if self._foreign_files():
                raise StoreError(f"{self.path} is not a capgym run folder (no {MANIFEST})")
            return _new_manifest()
        self._refuse_foreign()  # before the lock file is created in someone else's folder
        with self.locked():  # another writer may be creating it right now
            if p.exists():
                return self._read_manifest()
            self._refuse_foreign()
            m = _new_manifest()
            write_json_atomic(m, p)
            return m

    def _refuse_foreign(self) -> None:
        if self._foreign_files():
            raise StoreError(
                f"{self.path} is not empty and not a capgym run folder; "
                "choose an empty or new --out"
            )

    def _foreign_files(self) -> bool:
        return any(
            x.name not in _IGNORED and not x.name.startswith(TMP_PREFIX)
            for x in self.path.iterdir()
        )

    def _read_manifest(self) -> dict[str, Any]:
        p = self.path / MANIFEST
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

    def update_manifest(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Apply ``change`` to the manifest as it is on disk now, under the run's lock."""
        with self.locked():
            m = self._read_manifest() if (self.path / MANIFEST).exists() else _new_manifest()
            change(m)
            write_json_atomic(m, self.path / MANIFEST)
            self.manifest = m

    def save_manifest(self) -> None:
        """Write this object's manifest as it is (tests and repairs; stages update it)."""
        with self.locked():
            write_json_atomic(self.manifest, self.path / MANIFEST)

    def add_model_info(self, name: str, info: dict[str, Any]) -> None:
        """Record facts of a model (the ``models`` view)."""
        if self.model_info(name) == info:
            return  # nothing to write: a cached rerun works on a read-only folder
        self.update_manifest(lambda m: m.setdefault("models", {}).__setitem__(name, info))

    def model_info(self, name: str) -> dict[str, Any]:
        """The recorded facts of model ``name`` (hashes, source, ...; empty when unknown)."""
        return dict(self.manifest.get("models", {}).get(name, {}))

    # -- stories --------------------------------------------------------------------
    def add_stories(self, corpus_name: str, ids: list[int], texts: list[str]) -> None:
        """Store story texts once per corpus; refuse a changed text under the same id."""
        new = pd.DataFrame({"corpus": corpus_name, "story": ids, "text": texts})
        if self._new_stories(corpus_name, new) is None:
            return  # all stored already: nothing to lock or write
        with self.locked():
            merged = self._new_stories(corpus_name, new)
            if merged is not None:
                self.write_table("stories", corpus_name, merged)

    def _new_stories(self, corpus_name: str, new: pd.DataFrame) -> pd.DataFrame | None:
        """The corpus's stories with ``new`` added, or None when all are stored already."""
        if not self.has_part("stories", corpus_name):
            return new
        old = self.read_table("stories", corpus_name)
        merged = old.merge(new, on=["corpus", "story"], suffixes=("", "_new"))
        changed = merged[merged.text != merged.text_new]
        if len(changed):
            raise StoreError(
                f"corpus '{corpus_name}' story {int(changed.story.iloc[0])} differs from "
                f"the text already stored in {self.path}; use another --out or corpus name"
            )
        extra = new[~new.story.isin(old.story)]
        if extra.empty:
            return None
        return pd.concat([old, extra]).sort_values("story", kind="stable")

    # -- declared tables ------------------------------------------------------------
    def _part(self, name: str, key: str) -> Path:
        schema.table(name)  # a declared table, or a one-line error
        return self._folder(name) / f"{slug(key)}.parquet"

    def _folder(self, name: str) -> Path:
        t = schema.TABLES.get(name)
        return self.path / (t.folder if t is not None and t.folder else f"tables/{slug(name)}")

    def write_table(
        self,
        name: str,
        key: str,
        data: pd.DataFrame | pa.Table,
        stamp: dict[str, Any] | None = None,
    ) -> Path:
        """Write part ``key`` of declared table ``name`` (replacing it), stamped with what it
        was computed from (any JSON-able dict; see :meth:`is_fresh`); returns its file."""
        t = schema.table(name)
        if t.layout != "parts":
            raise StoreError(f"table '{name}' is not written with write_table ({t.layout})")
        table = t.conform(data)
        meta = dict(table.schema.metadata or {})
        meta[STAMP_KEY] = json.dumps({"key": key, "stamp": stamp}, sort_keys=True).encode()
        path = self._part(name, key)
        write_parquet_atomic(table.replace_schema_metadata(meta), path)
        return path

    def has_part(self, name: str, key: str) -> bool:
        """Whether part ``key`` of table ``name`` exists."""
        return self._part(name, key).exists()

    def stamp(self, name: str, key: str) -> dict[str, Any] | None:
        """The stamp part ``key`` of ``name`` was written with (None: no part or no stamp)."""
        p = self._part(name, key)
        try:
            meta = pq.read_schema(p).metadata or {} if p.exists() else {}
            stored = json.loads(meta.get(STAMP_KEY, b"{}"))
        except (OSError, ValueError, pa.ArrowException):
            return None
        return stored.get("stamp") if isinstance(stored, dict) else None

    def is_fresh(self, name: str, key: str, stamp: dict[str, Any]) -> bool:
        """Whether part ``key`` of ``name`` exists and was computed from ``stamp``."""
        want = json.loads(json.dumps(stamp, sort_keys=True))
        return want is not None and self.stamp(name, key) == want

    def version(self, name: str, key: str) -> str | None:
        """A digest of part ``key``'s content (for the stamps of tables computed from it)."""
        p = self._part(name, key)
        return digest(p) if p.exists() else None

    def versions(self, name: str) -> dict[str, str]:
        """Part file name -> content digest, for every part of table ``name``."""
        return {p.stem: digest(p) for p in self.table_parts(name)}

    def table_parts(self, name: str) -> list[Path]:
        """Files of every part of table ``name``, sorted."""
        return _parts_in(self._folder(name))

    def read_table(self, name: str, key: str | None = None) -> pd.DataFrame:
        """Part ``key`` of table ``name`` (every part when None) as a data frame; a table
        without parts gives its declared columns and no rows."""
        t = schema.table(name)
        if t.layout != "parts":  # scores (current sets) and models (manifest): their views
            if key is not None:
                raise StoreError(f"table '{name}' has no parts by key; query it with sql()")
            return self.sql(f'SELECT * FROM "{name}"')
        if key is not None:
            p = self._part(name, key)
            if not p.exists():
                raise StoreError(f"table '{name}' has no part '{key}' in {self.path}")
            return pq.read_table(p).to_pandas()
        parts = self.table_parts(name)
        con = duckdb.connect()
        try:
            return con.execute(from_files(parts, t.schema)).df()
        finally:
            con.close()

    # -- score sets -----------------------------------------------------------------
    def score_set_dir(self, key: str) -> Path:
        return self.path / "scores" / key

    def score_part_path(self, key: str, chunk: int) -> Path:
        """The file of chunk number ``chunk`` of score set ``key`` (for remote writers)."""
        return self.score_set_dir(key) / f"part-{chunk:05d}.parquet"

    def has_score_part(self, key: str, chunk: int) -> bool:
        return self.score_part_path(key, chunk).exists()

    def write_score_part(self, key: str, chunk: int, table: pa.Table) -> Path:
        """Write chunk ``chunk`` of score set ``key`` atomically (``scores`` columns)."""
        path = self.score_part_path(key, chunk)
        write_parquet_atomic(schema.table("scores").conform(table), path)
        return path

    def score_parts(self, key: str) -> list[Path]:
        return sorted(self.score_set_dir(key).glob("part-*.parquet"))

    def remove_stale_temporaries(self, key: str) -> None:
        """Delete half-written parts left by a killed writer (none may be running)."""
        for stale in self.score_set_dir(key).glob(f"{TMP_PREFIX}*"):
            stale.unlink(missing_ok=True)

    def score_set(self, key: str) -> dict[str, Any]:
        """The manifest entry of score set ``key`` (empty when unknown)."""
        return dict(self.manifest.get("score_sets", {}).get(key, {}))

    def begin_score_set(self, key: str, meta: dict[str, Any]) -> None:
        """Register a score set as the current one for its (model, corpus)."""

        def change(m: dict[str, Any]) -> None:
            entry = m.setdefault("score_sets", {}).setdefault(key, {})
            complete = entry.get("complete", False)
            entry.update(meta)
            entry["complete"] = complete
            entry["started"] = entry.get("started") or datetime.now(timezone.utc).isoformat()
            m.setdefault("current", {})[_pair(meta["model"], meta["corpus"])] = key

        self.score_set_dir(key).mkdir(parents=True, exist_ok=True)
        self.update_manifest(change)

    def make_current(self, key: str) -> None:
        """Show score set ``key`` (already registered) in the ``scores`` view again."""
        entry = self.score_set(key)
        pair = _pair(entry["model"], entry["corpus"])
        if self.manifest.get("current", {}).get(pair) == key:
            return
        self.update_manifest(lambda m: m.setdefault("current", {}).__setitem__(pair, key))

    def finish_score_set(self, key: str, n_rows: int | None = None) -> int:
        """Mark score set ``key`` complete with ``n_rows`` rows (counted when None)."""
        if n_rows is None:
            n_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in self.score_parts(key))

        def change(m: dict[str, Any]) -> None:
            entry = m.setdefault("score_sets", {}).setdefault(key, {})
            entry["complete"] = True
            entry["n_rows"] = n_rows

        self.update_manifest(change)
        return n_rows

    def is_complete(self, key: str) -> bool:
        return bool(self.score_set(key).get("complete"))

    def current_score_sets(self) -> dict[tuple[str, str], str]:
        """(model, corpus) -> key of the latest score set."""
        out = {}
        for mc, key in self.manifest.get("current", {}).items():
            model, corpus = mc.split("\x00")
            out[(model, corpus)] = key
        return out

    # -- documents and caches of later stages ---------------------------------------
    def document(self, name: str) -> Path:
        """``RUN/<name>``: a file a stage writes for people to open (``atlas.html``)."""
        return self.path / slug(name)

    def cache_dir(self) -> Path:
        """``RUN/.cache``: derived files a stage may rebuild at any time (created)."""
        folder = self.path / ".cache"
        folder.mkdir(exist_ok=True)
        return folder

    def fingerprint_files(self) -> list[Path]:
        """The manifest and every Parquet file of the run: what a cache of it depends on."""
        files = [
            p
            for p in self.path.rglob("*.parquet")
            if ".cache" not in p.parts and not p.name.startswith(TMP_PREFIX)
        ]
        return [self.path / MANIFEST, *sorted(files)]

    # -- querying -------------------------------------------------------------------
    def _score_files(self) -> list[str]:
        files: list[str] = []
        for key in self.current_score_sets().values():
            files += [str(p) for p in self.score_parts(key)]
        return files

    def views(self) -> dict[str, str]:
        """View name -> the SQL defining it."""
        v: dict[str, str] = {}
        v["stories"] = from_files(self.table_parts("stories"), schema.STORIES)
        v["scores"] = from_files(self._score_files(), schema.SCORES)
        tables = self.path / "tables"
        if tables.is_dir():
            for d in sorted(tables.iterdir()):
                parts = _parts_in(d)
                if parts:
                    v[d.name] = from_files(parts, None)
        for name in ("tags", "results"):  # every run has these, maybe empty
            v.setdefault(name, from_files([], schema.table(name).schema))
        v["models"] = models_sql(self.manifest.get("models", {}), schema.MODELS)
        return v

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A fresh in-memory DuckDB connection with one view per table of this run.

        For stages (which create temporary tables on it); it does not refuse writes:
        use :meth:`sql` for queries that must not change the run.
        """
        con = duckdb.connect()
        for name, sql in self.views().items():
            con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {sql}')
        return con

    def sql(self, query: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a query against the run's views and return a data frame.

        Read-only unless the store was opened with ``sql_writes=True``: a statement that
        could write (``COPY ... TO``, ``EXPORT``, ``ATTACH``, ``SET``, ...) is refused
        before anything runs.
        """
        if not query.strip():
            raise StoreError("the query is empty; pass a SELECT over the run's views")
        con = self.connect()
        try:
            if not self.sql_writes:
                check_read_only(con, query)
                con.execute("SET lock_configuration = true")
            res = con.execute(query, params or [])
            if res is None or res.description is None:
                raise StoreError("the query returns no rows (not a SELECT); pass a SELECT")
            return res.df()
        except duckdb.Error as e:
            msg = str(e).splitlines()[0]
            raise StoreError(f"query failed: {msg}") from None
        finally:
            con.close()


def _parts_in(folder: Path) -> list[Path]:
    """The Parquet parts in ``folder``, without half-written ones a killed writer left
    (pathlib's ``*`` matches their leading dot)."""
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(TMP_PREFIX))


def _pair(model: str, corpus: str) -> str:
    return f"{model}\x00{corpus}"


def _new_manifest() -> dict[str, Any]:
    return {"schema_version": schema.SCHEMA_VERSION, "score_sets": {}, "models": {}}


def open_run(
    path: str | os.PathLike[str] = "capgym-out", create: bool = True, sql_writes: bool = False
) -> RunStore:
    """Open (or create) the run folder at ``path``.

    Its :meth:`RunStore.sql` only reads unless ``sql_writes=True`` (``capgym sql --write``).
    """
    return RunStore(Path(path), create=create, sql_writes=sql_writes)
