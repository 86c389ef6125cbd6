"""The report's HTML: page shell, sections, tables and notes.  Everything escaped.

>>> import pandas as pd
>>> "<td>&lt;b&gt;</td>" in table(pd.DataFrame({"x": ["<b>"]}))
True
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from capgym.report.exports import fmt, intify

CSS = """
:root{--fg:#111;--muted:#555;--line:#e3e3e3;--accent:#1d4ed8}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#fafafa}
header{background:#111827;color:#fff;padding:14px 28px}
header h1{margin:0;font-size:20px;font-weight:650}
header .sub{color:#cbd5e1;font-size:12.5px;margin-top:2px;word-break:break-all}
nav{position:sticky;top:0;z-index:50;background:#fff;border-bottom:1px solid var(--line);padding:6px 28px;
  display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px}
nav a{color:var(--accent);text-decoration:none}
nav a:hover{text-decoration:underline}
main{max-width:1180px;margin:0 auto;padding:8px 28px 60px}
section,details.card{scroll-margin-top:44px}
section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:14px 20px;margin:18px 0}
section>h2{margin:0 0 8px;font-size:18px}
h3{font-size:15px;margin:16px 0 6px}
h4{font-size:13.5px;margin:12px 0 4px;color:#333}
p.note,.nodata{color:var(--muted);font-size:12.5px;margin:4px 0}
.nodata{font-style:italic}
.nodata code,p.note code{background:#f1f1f1;padding:0 3px;border-radius:3px}
table.tbl{border-collapse:collapse;font-size:12.5px;margin:6px 0}
table.tbl th,table.tbl td{border-bottom:1px solid var(--line);padding:3px 10px 3px 0;text-align:left;vertical-align:top}
table.tbl th{font-weight:600;color:#333;border-bottom:1.5px solid #bbb;white-space:nowrap}
table.tbl td.num{text-align:right;font-variant-numeric:tabular-nums}
.exports{font-size:11.5px;color:var(--muted);margin:2px 0 8px}
.exports a{color:var(--muted)}
details.card{border:1px solid var(--line);border-radius:6px;margin:10px 0;padding:4px 14px;background:#fff}
details.card>summary{cursor:pointer;font-weight:600;font-size:15px;padding:6px 0}
details.card[open]>summary{border-bottom:1px solid var(--line);margin-bottom:6px}
.badge{display:inline-block;font-size:11px;font-weight:500;border-radius:9px;padding:0 7px;margin-left:6px;
  background:#eef2ff;color:#3730a3;vertical-align:1px}
.badge.yes{background:#dcfce7;color:#166534}.badge.no{background:#f3f4f6;color:#555}
.group{margin:6px 0 2px;font-size:12.5px;font-weight:600;color:#333}
.ex-label{font-size:11.5px;color:var(--muted);font-family:system-ui,sans-serif}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:4px 18px}
.fig{min-width:0}
.def{margin:4px 0}.def b{color:#333}
"""


@dataclass(frozen=True)
class Section:
    """One part of the report: anchor id, title in the nav, and HTML body."""

    id: str
    title: str
    body: str


def esc(s: object) -> str:
    return html.escape(str(s))


def nodata(what: str, how: str) -> str:
    """The line shown in place of a section whose data is missing."""
    return f'<p class="nodata">No {esc(what)} yet: run <code>{esc(how)}</code>.</p>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def table(df: pd.DataFrame, digits: int = 3, raw_html: Sequence[str] = ()) -> str:
    """An HTML table; columns named in ``raw_html`` hold trusted HTML, the rest is escaped."""
    df = intify(df)
    num = {
        c
        for c in df.columns
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
    }
    head = "".join(f'<th class="{"num" if c in num else ""}">{esc(c)}</th>' for c in df.columns)
    rows = []
    for r in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, r, strict=True):
            text = str(v) if c in raw_html else esc(fmt(v, digits))
            cells.append(f'<td class="num">{text}</td>' if c in num else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="tbl"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def page(title: str, subtitle: str, sections: Sequence[Section], head_extra: str) -> str:
    """The whole document: plotly and token-view assets in ``head_extra``, then sections."""
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    body = "\n".join(
        f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>\n{s.body}\n</section>' for s in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n{head_extra}\n</head>\n<body>\n"
        f'<header><h1>{esc(title)}</h1><div class="sub">{esc(subtitle)}</div></header>\n'
        f"<nav>{nav}</nav>\n<main>\n{body}\n</main>\n</body></html>\n"
    )
