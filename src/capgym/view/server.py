"""`capgym view`: a local web app over a run store (the routing here, HTTP in :mod:`.asgi`).

Routes (GET and HEAD only): ``/`` the page; ``/api/meta``; ``/api/positions`` and
``/api/stories`` (filtered, sorted, paginated); ``/api/story`` (one story as a token
view, optionally against a second model, with one position outlined).  Every value
from the request is validated (:mod:`capgym.view.queries`) and bound; no file path is
ever taken from a request.  :class:`Explorer` is independent of HTTP; the server
(:func:`make_server`, Starlette on uvicorn) binds 127.0.0.1 by default and refuses
requests naming another host (DNS rebinding).

>>> import tempfile
>>> from capgym.view.demo import demo_run
>>> app = Explorer(demo_run(tempfile.mkdtemp()))
>>> status, _, body = app.handle("/api/positions", "model=tiny-b&sort=prob&page_size=2")
>>> status, json.loads(body)["total"] > 0
(200, True)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs

import duckdb

from capgym.errors import CapgymError
from capgym.evaluate.stats import wilson
from capgym.render.data import StoryData
from capgym.render.tokens import assets_html, palette_for
from capgym.store import RunStore
from capgym.view.asgi import ExplorerServer, Limits, listen
from capgym.view.cache import ExplorerDB
from capgym.view.queries import BadRequest, Meta, PositionQuery, StoryQuery, integer, member

JSON = "application/json; charset=utf-8"
Response = tuple[int, str, bytes]
MEMORY_MB = 2048  # DuckDB memory shared by the explorer's queries


@cache
def _static(name: str) -> str:
    return files("capgym.view").joinpath("static", name).read_text(encoding="utf-8")


def _clean(v: Any) -> Any:
    """JSON-safe values: NaN/inf to None, numpy scalars and arrays to Python."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if hasattr(v, "tolist"):
        return _clean(v.tolist())
    if isinstance(v, list):
        return [_clean(x) for x in v]
    return v


def _rows(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    res = cur.execute(sql, params)
    names = [d[0] for d in res.description]
    return [{k: _clean(v) for k, v in zip(names, row, strict=True)} for row in res.fetchall()]


class Explorer:
    """The app: routes a path and query string to a response, independent of HTTP."""

    def __init__(self, run: RunStore, cache: bool = True, memory_mb: int = MEMORY_MB):
        self.run = run
        self.db = ExplorerDB(run, cache=cache)
        # one budget shared by every concurrent query; beyond it DuckDB spills or refuses
        self.db.con.execute(f"SET memory_limit = '{int(memory_mb)}MB'")
        self.meta = self._meta()
        self.data = StoryData(self.db.con, palette=palette_for(self.meta.capabilities))
        self.routes: dict[str, Callable[[dict[str, list[str]]], Any]] = {
            "/api/meta": lambda p: self._meta_json(),
            "/api/positions": self.positions,
            "/api/stories": self.stories,
            "/api/story": self.story,
            "/api/gym": lambda p: self.gym(),
        }

    def _col(self, sql: str) -> list[str]:
        cur = self.db.cursor()
        try:
            return [str(r[0]) for r in cur.execute(sql).fetchall() if r[0] is not None]
        finally:
            cur.close()

    def _meta(self) -> Meta:
        models = self._col(
            "SELECT s.model FROM (SELECT DISTINCT model FROM x_scores) s "
            "LEFT JOIN x_models m USING (model) ORDER BY m.n_params NULLS LAST, s.model"
        )
        return Meta(
            models=models,
            corpora=self._col("SELECT DISTINCT corpus FROM x_stories ORDER BY 1"),
            capabilities=self._col("SELECT DISTINCT capability FROM x_tags ORDER BY 1"),
            explainers=self._col("SELECT DISTINCT explainer FROM x_explains ORDER BY 1"),
        )

    def _meta_json(self) -> dict[str, Any]:
        cur = self.db.cursor()
        try:
            info = _rows(cur, "SELECT * FROM x_models", [])
        finally:
            cur.close()
        return {
            **self.meta.__dict__,
            "run": str(self.run.path),
            "cached": self.db.cached,
            "model_info": info,
        }

    def _paged(self, q: PositionQuery | StoryQuery) -> dict[str, Any]:
        cur = self.db.cursor()
        try:
            sql, params = q.sql()
            rows = _rows(cur, sql, params)
            csql, cparams = q.count_sql()
            row = cur.execute(csql, cparams).fetchone()
            total = int(row[0]) if row else 0
        finally:
            cur.close()
        return {"rows": rows, "total": total, "page": q.page, "page_size": q.page_size}

    def positions(self, p: dict[str, list[str]]) -> dict[str, Any]:
        return self._paged(PositionQuery.parse(p, self.meta))

    def stories(self, p: dict[str, list[str]]) -> dict[str, Any]:
        return self._paged(StoryQuery.parse(p, self.meta))

    def story(self, p: dict[str, list[str]]) -> dict[str, Any]:
        model = member(
            p, "model", self.meta.models, self.meta.models[0] if self.meta.models else None
        )
        corpus = member(p, "corpus", self.meta.corpora)
        if model is None or corpus is None:
            raise BadRequest("story needs model and corpus")
        story = integer(p, "story", 0, 0, 2**62)
        compare = member(p, "compare", self.meta.models)
        pos = None if not p.get("pos") else integer(p, "pos", 0, 0, 2**31)
        tags = member(p, "tags", ["all", "none", *self.meta.capabilities], "all")
        tg: bool | str = True if tags == "all" else (False if tags == "none" else str(tags))
        view = self.data.view(
            corpus,
            story,
            model,
            compare if compare != model else None,
            tags=tg,
            pos=pos,
            id_prefix="story",
        )
        return {
            "html": view.body,
            "corpus": corpus,
            "story": story,
            "model": model,
            "compare": compare,
        }

    def gym(self) -> dict[str, Any]:
        """Gym results per (task, model), headline first: ``score`` is beats-wrong (the
        answer beats every wrong answer at the first token where they differ; top1_vocab
        for tasks without wrong answers, named in ``metric``) with its 95% interval (the
        gym's bootstrap one from ``task_summary``, else Wilson over ``results``) and
        ``chance``; then the mean logit difference at the decision token and top1_vocab."""
        rows = [{k: _clean(v) for k, v in r.items()} for r in gym_rows(self.run)]
        return {"rows": rows, "models": self.meta.models}

    def page(self) -> str:
        html = _static("explorer.html")
        return (
            html.replace("{{ASSETS}}", assets_html())
            .replace("{{CSS}}", _static("explorer.css"))
            .replace("{{JS}}", _static("explorer.js"))
        )

    def handle(self, path: str, query: str) -> Response:
        """Route one GET request; errors become JSON ``{"error": ...}`` with a 4xx status."""
        if path in ("/", "/index.html"):
            return 200, "text/html; charset=utf-8", self.page().encode()
        if path == "/favicon.ico":
            return 204, "image/x-icon", b""
        route = self.routes.get(path)
        if route is None:
            return 404, JSON, json.dumps({"error": f"no such page {path!r}"}).encode()
        try:
            params = parse_qs(query, keep_blank_values=False, max_num_fields=64)
            body = route(params)
        except (BadRequest, ValueError, CapgymError) as e:
            return 400, JSON, json.dumps({"error": str(e)}).encode()
        except duckdb.OutOfMemoryException:
            return 503, JSON, json.dumps({"error": "the explorer is busy; retry"}).encode()
        except duckdb.Error as e:
            return 500, JSON, json.dumps({"error": str(e).splitlines()[0]}).encode()
        return 200, JSON, json.dumps(body, ensure_ascii=False, allow_nan=False).encode()

    def close(self) -> None:
        self.db.close()


GYM_SQL = """
SELECT task, model, count(*) AS n_all,
       count(*) FILTER (WHERE n_wrong > 0 AND NOT isnan(beats_wrong)) AS n,
       sum(beats_wrong) FILTER (WHERE n_wrong > 0 AND NOT isnan(beats_wrong)) AS k,
       avg(1.0 / (1 + n_wrong)) FILTER (WHERE n_wrong > 0) AS chance,
       avg(logit_diff_at_decision) FILTER (WHERE NOT isnan(logit_diff_at_decision)) AS mean_ld,
       avg((rank = 0)::DOUBLE) AS top1
FROM results GROUP BY ALL ORDER BY task, model
"""


def gym_rows(run: RunStore) -> list[dict[str, Any]]:
    """The rows of :meth:`Explorer.gym` (empty for a run without gym results)."""
    cols = set(run.sql("SELECT * FROM results LIMIT 0").columns)
    if not {"beats_wrong", "n_wrong", "logit_diff_at_decision"} <= cols:
        return []
    df = run.sql(GYM_SQL)
    summary: dict[tuple[str, str], dict[str, Any]] = {}
    if "task_summary" in run.views():
        ts = run.sql("SELECT * FROM task_summary")
        if "beats_wrong_lo" in ts:
            summary = {(str(r["task"]), str(r["model"])): r for r in ts.to_dict("records")}
    out = []
    for r in df.to_dict("records"):
        s = summary.get((str(r["task"]), str(r["model"])))
        contrast = r["n"] > 0
        if s is not None and contrast:
            score, lo, hi = s["beats_wrong"], s["beats_wrong_lo"], s["beats_wrong_hi"]
        elif contrast:
            score = r["k"] / r["n"]
            lo, hi = wilson(r["k"], r["n"])
        else:
            score, (lo, hi) = r["top1"], wilson(r["top1"] * r["n_all"], r["n_all"])
        out.append({"task": r["task"], "model": r["model"],
                    "metric": "beats_wrong" if contrast else "top1_vocab",
                    "score": score, "lo": lo, "hi": hi,
                    "chance": r["chance"] if contrast else None, "mean_ld": r["mean_ld"],
                    "top1": r["top1"], "n": int(r["n"] if contrast else r["n_all"]),
                    "solved_by_heuristic": s.get("solved_by_heuristic") if s else None})  # fmt: skip
    return out


def make_server(
    run: RunStore,
    host: str = "127.0.0.1",
    port: int = 8765,
    cache: bool = True,
    limits: Limits | None = None,
) -> ExplorerServer:
    """A bound, not yet serving, explorer server; ``port=0`` picks a free port."""
    limits = limits or Limits()
    sock = listen(host, port, limits.backlog)  # a taken port fails before the cache is built
    try:
        return ExplorerServer(Explorer(run, cache=cache), host, port, limits, sock)
    except BaseException:
        sock.close()
        raise


def serve_in_thread(
    run: RunStore,
    host: str = "127.0.0.1",
    port: int = 0,
    cache: bool = True,
    limits: Limits | None = None,
) -> tuple[ExplorerServer, str]:
    """Start an explorer in a background thread (tests, notebooks); returns (server, url).

    >>> import tempfile
    >>> from capgym.view.demo import demo_run
    >>> srv, url = serve_in_thread(demo_run(tempfile.mkdtemp()))
    >>> url.startswith("http://127.0.0.1:")
    True
    >>> srv.shutdown(); srv.server_close()
    """
    srv = make_server(run, host, port, cache, limits)
    srv.start_thread()
    shown = f"[{host}]" if ":" in host else host
    return srv, f"http://{shown}:{srv.server_address[1]}/"
