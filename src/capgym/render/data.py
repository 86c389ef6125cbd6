"""Token views straight from a run store: the queries behind the report and the explorer.

Top-k alternatives are stored as token ids; their pieces come from a ``vocab(model,
token_id, piece)`` table when a stage wrote one, otherwise from the pieces of the
actual tokens the model predicted in the run (ids never seen there show as ``#id``).

>>> import tempfile
>>> from capgym.view.demo import demo_run
>>> run = demo_run(tempfile.mkdtemp())
>>> v = story_view(run, "demo", 0, "tiny-b", id_prefix="s0")
>>> v.id, v.meta["mode"]
('s0', 'single')
"""

from __future__ import annotations

import threading
from typing import Any

import duckdb

from capgym.errors import UsageError
from capgym.render.tokens import Tag, Tok, TokenView, diff_view, token_view
from capgym.store import RunStore

SCORE_COLS = "pos, token_id, token, char_start, char_end, logprob, rank, entropy, context_len, topk_ids, topk_logprobs"


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether a table or view ``name`` exists on ``con``."""
    q = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
    row = con.execute(q, [name]).fetchone()
    return bool(row and row[0])


def columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """Column names of table or view ``name`` (empty if it does not exist)."""
    q = "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position"
    return [r[0] for r in con.execute(q, [name]).fetchall()]


class StoryData:
    """Loads story texts, scored tokens and tags from a connection with the run's views.

    Thread-safe: each call uses its own cursor; vocabularies are cached per model.
    """

    def __init__(
        self, source: RunStore | duckdb.DuckDBPyConnection, palette: dict[str, str] | None = None
    ):
        self.con = source.connect() if isinstance(source, RunStore) else source
        self.palette = palette  # capability -> colour, shared by every view of a page
        self._pieces: dict[str, dict[int, str]] = {}
        self._lock = threading.Lock()

    def _q(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        cur = self.con.cursor()
        try:
            return cur.execute(sql, params).fetchall()
        finally:
            cur.close()

    def pieces(self, model: str) -> dict[int, str]:
        """token_id -> piece for ``model`` (cached)."""
        with self._lock:
            if model in self._pieces:
                return self._pieces[model]
        cur = self.con.cursor()
        try:
            if "piece" in columns(cur, "vocab") and "model" in columns(cur, "vocab"):
                rows = self._q("SELECT token_id, piece FROM vocab WHERE model = ?", [model])
            else:
                rows = self._q(
                    "SELECT token_id, any_value(token) FROM scores WHERE model = ? GROUP BY token_id",
                    [model],
                )
        finally:
            cur.close()
        d = {int(i): str(p) for i, p in rows}
        with self._lock:
            self._pieces[model] = d
        return d

    def text(self, corpus: str, story: int) -> str:
        rows = self._q(
            "SELECT text FROM stories WHERE corpus = ? AND story = ? LIMIT 1", [corpus, story]
        )
        if not rows:
            raise UsageError(f"no story {story} in corpus '{corpus}' of this run")
        return str(rows[0][0])

    def tokens(self, model: str, corpus: str, story: int) -> list[Tok]:
        sql = f"SELECT {SCORE_COLS} FROM scores WHERE model = ? AND corpus = ? AND story = ? ORDER BY pos"
        rows = self._q(sql, [model, corpus, story])
        vocab = self.pieces(model) if rows else {}
        out = []
        for pos, tid, tok, a, b, lp, rank, ent, ctx, kids, klps in rows:
            topk = tuple(
                (vocab.get(int(i), f"#{i}"), float(x)) for i, x in zip(kids or [], klps or [])
            )
            out.append(
                Tok(
                    int(pos),
                    int(a),
                    int(b),
                    float(lp),
                    str(tok),
                    int(tid),
                    _int(rank),
                    _float(ent),
                    _int(ctx),
                    topk,
                )
            )
        return out

    def tags(self, corpus: str, story: int, capability: str | None = None) -> list[Tag]:
        sql = "SELECT char_start, char_end, capability, CAST(attrs AS VARCHAR) FROM tags WHERE corpus = ? AND story = ?"
        params: list[Any] = [corpus, story]
        if capability is not None:
            sql += " AND capability = ?"
            params.append(capability)
        rows = self._q(sql + " ORDER BY char_start, capability", params)
        return [Tag(int(a), int(b), str(c), str(x or "")) for a, b, c, x in rows]

    def view(
        self,
        corpus: str,
        story: int,
        model: str,
        compare: str | None = None,
        *,
        tags: bool | str = True,
        pos: int | None = None,
        window: tuple[int, int] | None = None,
        title: str | None = None,
        id_prefix: str | None = None,
        show_head: bool = True,
    ) -> TokenView:
        """A story for one model, or ``model -> compare``; ``pos`` (a position of ``model``)
        is outlined; ``tags`` is True (all), False, or one capability name."""
        text = self.text(corpus, story)
        toks = self.tokens(model, corpus, story)
        if not toks:
            raise UsageError(f"model '{model}' has no scores for story {story} of '{corpus}'")
        tg = [] if tags is False else self.tags(corpus, story, None if tags is True else str(tags))
        hl = None
        if pos is not None:
            hit = [t for t in toks if t.pos == pos]
            hl = (hit[0].char_start, hit[0].char_end) if hit else None
        kw: dict[str, Any] = {"tags": tg, "highlight": hl, "window": window, "id_prefix": id_prefix,
                              "palette": self.palette, "show_head": show_head}  # fmt: skip
        if compare:
            other = self.tokens(compare, corpus, story)
            if not other:
                raise UsageError(f"model '{compare}' has no scores for story {story} of '{corpus}'")
            return diff_view(text, toks, other, models=(model, compare), title=title, **kw)
        return token_view(text, toks, model=model, title=title, **kw)


def story_view(
    run: RunStore | duckdb.DuckDBPyConnection,
    corpus: str,
    story: int,
    model: str,
    compare: str | None = None,
    **kw: Any,
) -> TokenView:
    """One story of a run as a token view (see :meth:`StoryData.view` for options)."""
    return StoryData(run).view(corpus, story, model, compare, **kw)


def _int(x: Any) -> int | None:
    return None if x is None else int(x)


def _float(x: Any) -> float | None:
    return None if x is None else float(x)
