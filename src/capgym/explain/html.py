"""HTML for Jupyter: report tables, and token views drawn by :mod:`capgym.render`.

Every token box here comes from :func:`capgym.render.token_view` or
:func:`capgym.render.diff_view` (probability colours, capability underlines, hover with
probability, rank, entropy and top-k); this module only chooses what to show: a whole
story, or a window around each example with its target outlined.

>>> import pandas as pd
>>> t = pd.DataFrame({"pos": [1], "text": ["Hi"], "p": [0.9], "rank": [0],
...                   "capabilities": [["story-opening"]]})
>>> "story-opening" in frame_view(t, id_prefix="hm").body
True
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pandas as pd

from capgym.render import Tag, Tok, TokenView, diff_view, token_view
from capgym.render.data import StoryData
from capgym.render.tokens import assets_html, palette_for
from capgym.store import RunStore

TABLE_STYLE = """<style>
.cg-table{border-collapse:collapse;font-size:12px;margin:4px 0 10px 0}
.cg-table td,.cg-table th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
.cg-table .cg-view{margin:0}
</style>
"""
BEFORE, AFTER = 60, 15  # characters of context around an example, as in its text snippet


def page_head() -> str:
    """The CSS and JS a report's HTML needs once: tables and token views."""
    return TABLE_STYLE + assets_html()


@contextmanager
def run_stories(run: RunStore | None) -> Iterator[StoryData | None]:
    """Story data of ``run`` for drawing token views (None without a run), with one
    colour per capability of the run, closed after."""
    if run is None:
        yield None
        return
    con = run.connect()
    try:
        con.execute("SET enable_progress_bar = false")  # it would print under the output
        yield story_data(con)
    finally:
        con.close()


def story_data(con: duckdb.DuckDBPyConnection) -> StoryData:
    """Story data on a connection with the run's views, one colour per capability."""
    caps = [c for (c,) in con.execute("SELECT DISTINCT capability FROM tags").fetchall()]
    return StoryData(con, palette_for(caps))


def frame_html(df: pd.DataFrame, digits: int = 3, percent: tuple[str, ...] = ()) -> str:
    """A compact HTML table of ``df``: floats rounded, ``percent`` columns as percentages,
    missing values blank.

    >>> frame_html(pd.DataFrame({"share": [0.25]}), percent=("share",)).count("25.0%")
    1
    """
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for col, v in zip(df.columns, rec):
            if v is None or (not isinstance(v, (list, tuple)) and pd.isna(v)):
                s = ""
            elif col in percent:
                s = f"{float(v):.1%}"
            elif isinstance(v, float):
                s = f"{v:.{digits}f}"
            else:
                s = f"{v:,}" if isinstance(v, int) else str(v)
            cells.append(f"<td>{html.escape(s)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="cg-table"><tr>{head}</tr>{"".join(rows)}</table>'


def frame_view(tokens: pd.DataFrame, title: str = "", id_prefix: str | None = None) -> TokenView:
    """A token view of a heat-map frame (pos, text, p, rank, capabilities), for frames
    built without a run; each capability underlines the tokens that list it."""
    text, toks, tags = "", [], []
    for r in tokens.itertuples(index=False):
        a, b = len(text), len(text) + len(str(r.text))
        text += str(r.text)
        p = float(r.p)
        toks.append(Tok(int(r.pos), a, b, math.log(p) if p > 0 else -math.inf, str(r.text),
                        rank=None if pd.isna(r.rank) else int(r.rank)))  # fmt: skip
        tags += [Tag(a, b, str(c)) for c in (r.capabilities if r.capabilities is not None else [])]
    palette = palette_for([g.capability for g in tags])
    return token_view(text, toks, tags=tags, title=title or None, id_prefix=id_prefix,
                      palette=palette)  # fmt: skip


def example_views(
    data: StoryData | None,
    examples: pd.DataFrame,
    models: Sequence[str],
    span: tuple[str, str] = ("es", "ee"),
) -> list[str]:
    """One small token view per example row (corpus, story and the ``span`` columns):
    the example's characters outlined, in a window of context.  One model: probability
    colours; two: the change from the first to the second (see :func:`capgym.render.diff_view`).
    Without story data, each example's text ``snippet``, escaped."""
    if data is None:
        return [html.escape(s) for s in examples["snippet"]]
    stories: dict[tuple[str, int], tuple[str, list[list[Tok]], list[Tag]]] = {}
    out = []
    for c, s, a, b in examples[["corpus", "story", *span]].itertuples(index=False):
        key, a, b = (str(c), int(s)), int(a), int(b)
        if key not in stories:  # load each story once, however many examples it holds
            toks = [data.tokens(m, *key) for m in models]
            stories[key] = (data.text(*key), toks, data.tags(*key))
        text, toks, tags = stories[key]
        b = min(b, len(text))  # a story's tail unit ends "after any character"
        kw: dict[str, Any] = {"tags": tags, "highlight": (a, b), "show_head": False,
                              "window": (a - BEFORE, b + AFTER), "palette": data.palette}  # fmt: skip
        if len(models) == 2:
            view = diff_view(text, toks[0], toks[1], models=(models[0], models[1]), **kw)
        else:
            view = token_view(text, toks[0], model=models[0], **kw)
        out.append(view.body)
    return out
