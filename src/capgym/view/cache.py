"""The explorer's database: the run's views materialised once into a DuckDB file.

Views over Parquet are re-read on every query; the explorer instead copies what it
needs into ``RUN/.cache/explorer-<fingerprint>.duckdb`` on first start (sorted by
model, corpus, story, pos, so DuckDB's zone maps prune most row groups) and opens it
read-only.  The fingerprint covers every Parquet file and the manifest, so a changed
run gets a fresh cache.  A read-only run folder, or ``cache=False``, gives the same
relations as views in memory instead.

Relations (all prefixed ``x_``): ``x_stories``, ``x_scores`` (plus ``prob``, the token's
``text`` and ``covered``: a capability tag covers it or an explainer names it, by the
rule of :mod:`capgym.explain.coverage`), ``x_tags``, ``x_explains``, ``x_pos_caps``
(positions a capability tag covers), ``x_vocab``, ``x_story_stats``,
``x_models``.  ``scores``, ``stories``, ``tags`` and ``vocab`` are aliases, so
:class:`capgym.render.data.StoryData` works on it unchanged.

>>> import tempfile
>>> from capgym.view.demo import demo_run
>>> db = ExplorerDB(demo_run(tempfile.mkdtemp()))
>>> db.cached, db.con.execute("SELECT count(*) FROM x_scores").fetchone()[0] > 0
(True, True)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import duckdb

from capgym.explain import COVERS_SQL, EFFECTIVE_END_SQL, EFFECTIVE_START_SQL
from capgym.store import RunStore

CACHE_VERSION = 2  # bump when a relation's definition changes


def _relations(
    has_tags: bool, has_explains: bool, has_vocab: bool = False
) -> list[tuple[str, str]]:
    """(name, SQL over the run's views) in build order."""
    seen = "SELECT model, token_id, any_value(token) AS piece FROM scores GROUP BY ALL"
    # a stage's full vocabulary, where one was written, else the pieces seen in the run
    vocab = (
        f"SELECT model, token_id, piece FROM vocab UNION ALL SELECT * FROM ({seen}) s WHERE NOT EXISTS "
        "(SELECT 1 FROM vocab v WHERE v.model = s.model AND v.token_id = s.token_id)"
    )
    empty_ex = (
        "SELECT CAST(NULL AS VARCHAR) AS model, CAST(NULL AS VARCHAR) AS corpus, "
        "CAST(NULL AS BIGINT) AS story, CAST(NULL AS INTEGER) AS pos, "
        "CAST(NULL AS VARCHAR) AS explainer WHERE false"
    )
    ex = "SELECT model, corpus, story, pos, CAST(explainer AS VARCHAR) AS explainer FROM explains"
    spans = f"SELECT *, {EFFECTIVE_START_SQL} AS es, {EFFECTIVE_END_SQL} AS ee FROM scores"
    caps = (  # the rule of capgym explain's coverage: the explorer's residue is explain's
        f"SELECT DISTINCT c.model, c.corpus, c.story, c.pos, g.capability FROM ({spans}) c "
        f"JOIN tags g ON {COVERS_SQL}"
    )
    empty_caps = "SELECT model, corpus, story, pos, CAST(NULL AS VARCHAR) AS capability FROM scores WHERE false"
    return [
        ("x_stories", "SELECT corpus, story, text, length(text) AS n_chars FROM stories"),
        ("x_tags", "SELECT corpus, story, char_start, char_end, capability, CAST(attrs AS VARCHAR) AS attrs FROM tags"),
        ("x_explains", ex if has_explains else empty_ex),
        ("x_pos_caps", caps if has_tags else empty_caps),
        ("x_scores", """
            SELECT s.model, s.corpus, s.story, s.pos, s.token_id, s.token, s.char_start, s.char_end,
                   s.logprob, exp(s.logprob) AS prob, s.rank, s.entropy, s.context_len,
                   s.topk_ids, s.topk_logprobs,
                   substring(t.text, s.char_start + 1, s.char_end - s.char_start) AS text,
                   (k.pos IS NOT NULL) AS covered
            FROM scores s JOIN x_stories t USING (corpus, story)
            LEFT JOIN (SELECT DISTINCT model, corpus, story, pos FROM x_pos_caps
                       UNION SELECT DISTINCT model, corpus, story, pos FROM x_explains) k
              USING (model, corpus, story, pos)
            ORDER BY s.model, s.corpus, s.story, s.pos"""),
        ("x_vocab", vocab if has_vocab else seen),
        ("x_story_stats", """
            SELECT model, corpus, story, count(*) AS n_tokens, -sum(logprob) AS nll
            FROM scores GROUP BY ALL"""),
        ("x_models", "SELECT * FROM models"),
    ]  # fmt: skip


ALIASES = {"scores": "x_scores", "stories": "x_stories", "tags": "x_tags", "vocab": "x_vocab"}


def fingerprint(run: RunStore) -> str:
    """Hash of the manifest's content and every Parquet file's name, size and mtime."""
    h = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    for p in run.fingerprint_files():
        if not p.exists():
            continue
        if p.suffix == ".json":
            h.update(p.read_bytes())
            continue
        st = p.stat()
        h.update(f"{p.relative_to(run.path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _source_views(con: duckdb.DuckDBPyConnection, run: RunStore) -> tuple[bool, bool, bool]:
    views = run.views()
    for name, sql in views.items():
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {sql}')
    has = {}
    for name in ("tags", "explains", "vocab"):
        has[name] = (
            name in views and con.execute(f'SELECT 1 FROM "{name}" LIMIT 1').fetchone() is not None
        )
    cols = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'vocab'"
        ).fetchall()
    }
    return has["tags"], has["explains"], has["vocab"] and {"model", "token_id", "piece"} <= cols


def _define(con: duckdb.DuckDBPyConnection, run: RunStore, materialize: bool) -> None:
    has_tags, has_ex, has_vocab = _source_views(con, run)
    kind = "TABLE" if materialize else "VIEW"
    for name, sql in _relations(has_tags, has_ex, has_vocab):
        con.execute(f"CREATE OR REPLACE {kind} {name} AS {sql}")
    if materialize:  # the file must not depend on the run's Parquet paths
        for name in run.views():
            con.execute(f'DROP VIEW IF EXISTS "{name}"')
        for alias, target in ALIASES.items():
            con.execute(f"CREATE VIEW {alias} AS SELECT * FROM {target}")


class ExplorerDB:
    """The explorer's connection (read-only when cached); use :meth:`cursor` per thread."""

    def __init__(self, run: RunStore, cache: bool = True):
        self.run = run
        self.cached = False
        self.path: Path | None = None
        if cache:
            try:
                self.path = self._build_cache()
                self.cached = True
            except (OSError, duckdb.Error):  # e.g. a read-only run folder: fall back to views
                self.path = None
        if self.path is not None:
            self.con = duckdb.connect(str(self.path), read_only=True)
        else:
            self.con = duckdb.connect()
            _define(self.con, run, materialize=False)

    def _build_cache(self) -> Path:
        folder = self.run.cache_dir()
        target = folder / f"explorer-{fingerprint(self.run)}.duckdb"
        if target.exists():
            return target
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".duckdb")
        os.close(fd)
        os.unlink(tmp)  # DuckDB creates the file itself
        try:
            con = duckdb.connect(tmp)
            try:
                _define(con, self.run, materialize=True)
                con.execute("CHECKPOINT")
            finally:
                con.close()
            os.replace(tmp, target)
        finally:
            for leftover in (Path(tmp), Path(tmp + ".wal")):
                leftover.unlink(missing_ok=True)
        for old in folder.glob("explorer-*.duckdb"):
            if old != target:
                old.unlink(missing_ok=True)
        return target

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.con.cursor()

    def close(self) -> None:
        self.con.close()
