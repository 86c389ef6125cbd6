"""HTML for Jupyter: token heat-maps with capability underlines, and report tables.

Tokens are monospace boxes coloured by the model's probability of the actual token
(white = 0, green = 1); a token covered by a capability is underlined in that
capability's colour (several: stacked underlines); hovering shows probability, rank,
capabilities and explainers.  Newline tokens show ``↵`` and the line break itself is
not selectable text, so copying a story gives its text back.

>>> import pandas as pd
>>> t = pd.DataFrame({"pos": [1], "text": ["Hi"], "p": [0.9], "rank": [0],
...                   "capabilities": [["story-opening"]], "explainers": [[]]})
>>> "story-opening" in token_heatmap(t)
True
"""

from __future__ import annotations

import html
import zlib

import pandas as pd

PALETTE = [
    "#1f77b4", "#d62728", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f", "#2ca02c", "#393b79", "#ad494a", "#637939", "#7b4173",
]  # fmt: skip

STYLE = """
<style>
.cg-story{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;line-height:2.1;
 white-space:pre-wrap}
.cg-tok{border:1px solid #ddd;border-radius:3px;padding:0 1px;margin:0 1px 0 0}
.cg-nl{user-select:none;color:#999}
.cg-legend span{margin-right:10px;font-size:12px}
.cg-table{border-collapse:collapse;font-size:12px;margin:4px 0 10px 0}
.cg-table td,.cg-table th{border:1px solid #ddd;padding:2px 6px;text-align:left}
.cg-target{background:#ffe08a;font-weight:bold}
</style>
"""


def capability_colour(name: str) -> str:
    """A stable colour per capability name.

    >>> capability_colour("repeated-name") == capability_colour("repeated-name")
    True
    """
    return PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


def _background(p: float) -> str:
    p = min(max(float(p), 0.0), 1.0)
    r, g, b = int(255 - 155 * p), int(255 - 35 * p), int(255 - 155 * p)
    return f"rgb({r},{g},{b})"


def _token_html(row: pd.Series) -> str:
    caps = list(row["capabilities"]) if row["capabilities"] is not None else []
    expl = list(row["explainers"]) if row["explainers"] is not None else []
    title = f"pos {row['pos']}  p={row['p']:.3f}  rank {row['rank']}"
    if caps:
        title += "\ncapabilities: " + ", ".join(caps)
    if expl:
        title += "\nexplainers: " + ", ".join(expl)
    shadows = [f"0 {2 * (i + 1)}px 0 {capability_colour(c)}" for i, c in enumerate(caps)]
    style = f"background:{_background(row['p'])}"
    if shadows:
        style += ";box-shadow:" + ",".join(shadows)
    text = str(row["text"])
    parts = text.split("\n")
    shown = html.escape(parts[0])
    for rest in parts[1:]:
        shown += '<span class="cg-nl">↵</span>' + '<br class="cg-nl">' + html.escape(rest)
    return f'<span class="cg-tok" style="{style}" title="{html.escape(title)}">{shown}</span>'


def token_heatmap(tokens: pd.DataFrame, title: str = "") -> str:
    """HTML of one story's tokens (columns pos, text, p, rank, capabilities, explainers)."""
    caps = sorted({c for cs in tokens["capabilities"] if cs is not None for c in cs})
    legend = "".join(
        f'<span style="border-bottom:3px solid {capability_colour(c)}">{html.escape(c)}</span>'
        for c in caps
    )
    body = "".join(_token_html(r) for _, r in tokens.iterrows())
    head = f"<div><b>{html.escape(title)}</b></div>" if title else ""
    return f'{head}<div class="cg-legend">{legend}</div><div class="cg-story">{body}</div>'


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


def snippet_html(before: str, target: str, after: str) -> str:
    """A context snippet with the target highlighted."""
    return (
        f"{html.escape(before)}<span class='cg-target'>{html.escape(target)}</span>"
        f"{html.escape(after)}"
    )
