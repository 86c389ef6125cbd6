"""Token views: a story as monospace token boxes coloured by the model's probability.

One renderer for the report, the explorer and Jupyter.  White means the model gave
the actual token probability 1, red means it gave it almost nothing; hovering (or
clicking, which pins) shows probability, rank, entropy and the top-k alternatives.
Two models: colour by the change in log-probability (blue = B better, red = B worse),
aligned token by token with one tokenizer, by character spans otherwise.  Tagged
capability spans are underlined, one colour per family.  Newlines show as a ``↵``
that is never copied; the copied text is the story.  No network, no CDN.

>>> v = token_view("Hi <you>", [Tok(1, 0, 2, -0.1), Tok(2, 2, 8, -3.0)], id_prefix="ex")
>>> "&lt;you&gt;" in v.body and 'id="ex"' in v.body
True
"""

from __future__ import annotations

import html
import json
import math
import secrets
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from capgym.render.align import align

# 20 distinguishable underline colours (Tableau 10, then darker and lighter variants).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#7b4173",
           "#e7ba52", "#3182bd", "#31a354", "#843c39", "#636363", "#ce6dbd")  # fmt: skip


@dataclass(frozen=True)
class Tok:
    """One scored position: the token at ``pos`` covers ``text[char_start:char_end]``."""

    pos: int
    char_start: int
    char_end: int
    logprob: float
    piece: str = ""
    token_id: int | None = None
    rank: int | None = None
    entropy: float | None = None
    context_len: int | None = None
    topk: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Tag:
    """A tagged span of the story: ``capability`` applies to ``text[char_start:char_end]``."""

    char_start: int
    char_end: int
    capability: str
    attrs: str = ""


@dataclass(frozen=True)
class TokenView:
    """A rendered view; ``body`` is an HTML fragment, :meth:`html` adds CSS and JS."""

    body: str
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def html(self, assets: bool = True) -> str:
        return (assets_html() + self.body) if assets else self.body

    def _repr_html_(self) -> str:
        return self.html(assets=True)

    def __str__(self) -> str:
        return self.body

    def save(self, path: str | Path, title: str = "capgym token view") -> Path:
        """Write a standalone HTML page holding this view."""
        p = Path(path)
        p.write_text(page([self], title=title), encoding="utf-8")
        return p


# -- colours ---------------------------------------------------------------------------
def _mix(c0: tuple[int, int, int], c1: tuple[int, int, int], t: float) -> str:
    t = min(1.0, max(0.0, t))
    r, g, b = (round(a + (b - a) * t) for a, b in zip(c0, c1))
    return f"#{r:02x}{g:02x}{b:02x}"


def prob_color(p: float) -> str:
    """White at p = 1, red as p falls to 0.

    >>> prob_color(1.0), prob_color(0.0)
    ('#ffffff', '#f05252')
    """
    return _mix((255, 255, 255), (240, 82, 82), 1.0 - (p if math.isfinite(p) else 0.0))


def diff_color(delta: float) -> str:
    """Blue where B's log-probability is higher, red where lower, white where equal.

    >>> diff_color(0.0)
    '#ffffff'
    """
    if not math.isfinite(delta):
        return "#dddddd"
    t = math.tanh(abs(delta) / 2.0)
    return _mix((255, 255, 255), (59, 130, 246) if delta > 0 else (240, 82, 82), t)


def palette_for(names: Sequence[str]) -> dict[str, str]:
    """Distinct colours for a known set of capabilities (by sorted name).

    >>> palette_for(["b", "a"])
    {'a': '#1f77b4', 'b': '#ff7f0e'}
    """
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(sorted(set(names)))}


def cap_color(name: str, palette: Mapping[str, str] | None = None) -> str:
    """The colour of a capability: from ``palette`` (see :func:`palette_for`), else one
    picked by a hash of its name (stable, but two names may share it)."""
    if palette and name in palette:
        return palette[name]
    return PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


# -- assets and pages ------------------------------------------------------------------
@cache
def _static(name: str) -> str:
    return files("capgym.render").joinpath("static", name).read_text(encoding="utf-8")


def assets_html() -> str:
    """The ``<style>`` and ``<script>`` every page with token views needs, once per page."""
    return f"<style>{_static('tokens.css')}</style>\n<script>{_static('tokens.js')}</script>\n"


def page(views: Sequence[TokenView | str], title: str = "capgym") -> str:
    """A standalone HTML document holding ``views`` (assets included once)."""
    body = "\n".join(v.body if isinstance(v, TokenView) else v for v in views)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>\n{assets_html()}</head>\n"
        f'<body style="font-family:system-ui,sans-serif;margin:1.5em">\n{body}\n</body></html>\n'
    )


def json_script(obj: Any, cls: str = "cg-data") -> str:
    """``obj`` as a JSON data block that cannot close its ``<script>`` early."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    s = s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" class="{cls}">{s}</script>'


# -- rendering -------------------------------------------------------------------------
def _num(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def _item(t: Tok) -> dict[str, Any]:
    d: dict[str, Any] = {"i": t.pos, "p": t.piece, "l": _num(t.logprob), "r": t.rank}
    d["e"] = _num(t.entropy, 3)
    if t.token_id is not None:
        d["id"] = t.token_id
    if t.context_len is not None:
        d["c"] = t.context_len
    if t.topk:
        d["k"] = [[p, _num(lp)] for p, lp in t.topk]
    return d


def _text_html(s: str) -> str:
    parts = s.split("\n")
    return '<span class="cg-nl"></span><br>'.join(html.escape(x, quote=False) for x in parts)


def _overlapping(tags: Sequence[Tag], a: int, b: int) -> list[Tag]:
    return [g for g in tags if g.char_start < b and a < g.char_end]


@dataclass(frozen=True)
class _Box:
    char_start: int
    char_end: int
    color: str
    index: int
    tags: tuple[Tag, ...] = ()
    highlight: bool = False


def _boxes_html(
    text: str, boxes: Sequence[_Box], window: tuple[int, int], palette: Mapping[str, str] | None
) -> str:
    lo, hi = window
    out = ['<span class="cg-ell"></span>'] if lo > 0 else []
    cur = lo
    for bx in boxes:
        if bx.char_start > cur:
            out.append(f'<span class="cg-gap">{_text_html(text[cur : bx.char_start])}</span>')
        cls = (
            "cg-t"
            + (" cg-empty" if bx.char_end <= bx.char_start else "")
            + (" cg-hl" if bx.highlight else "")
        )
        style = f"background:{bx.color}"
        if bx.tags:
            caps = sorted({g.capability for g in bx.tags})
            shadow = ",".join(
                f"inset 0 -{3 * (k + 1)}px 0 0 {cap_color(c, palette)}" for k, c in enumerate(caps)
            )
            style += f";box-shadow:{shadow}"
        out.append(
            f'<span class="{cls}" data-i="{bx.index}" style="{style}">'
            f"{_text_html(text[bx.char_start : bx.char_end])}</span>"
        )
        cur = max(cur, bx.char_end)
    if hi > cur:
        out.append(f'<span class="cg-gap">{_text_html(text[cur:hi])}</span>')
    if hi < len(text):
        out.append('<span class="cg-ell"></span>')
    return "".join(out)


def _head(
    title: str | None, legend: str, caps: Sequence[str], palette: Mapping[str, str] | None
) -> str:
    parts = [f'<span class="cg-title">{html.escape(title)}</span>'] if title else []
    parts.append(legend)
    for c in caps:
        parts.append(
            f'<span class="cg-legend"><span class="cg-sw" style="background:{cap_color(c, palette)}">'
            f"</span>{html.escape(c)}</span>"
        )
    return f'<div class="cg-head">{"".join(parts)}</div>'


def _legend(lo: str, hi: str, c_lo: str, c_hi: str, label: str) -> str:
    return (
        f'<span class="cg-legend">{html.escape(label)} {html.escape(lo)}'
        f'<span class="cg-grad" style="background:linear-gradient(90deg,{c_lo},#ffffff,{c_hi})"></span>'
        f"{html.escape(hi)}</span>"
    )


def _in_window(a: int, b: int, window: tuple[int, int]) -> bool:
    return (a < window[1] and b > window[0]) or (a == b and window[0] <= a <= window[1])


def _snap(
    window: tuple[int, int] | None, spans: Sequence[tuple[int, int]], n: int
) -> tuple[int, int]:
    """Widen a character window to whole tokens."""
    if window is None:
        return (0, n)
    lo, hi = max(0, window[0]), min(n, window[1])
    for a, b in spans:
        if a < lo < b:
            lo = a
        if a < hi < b:
            hi = b
    return (lo, hi)


def _view(
    kind: str,
    models: list[str],
    text: str,
    boxes: Sequence[tuple[int, int, str, dict[str, Any]]],
    tags: Sequence[Tag],
    highlight: tuple[int, int] | None,
    window: tuple[int, int] | None,
    head: tuple[str | None, str] | None,
    palette: Mapping[str, str] | None,
    id_prefix: str | None,
) -> TokenView:
    """The view of ``boxes`` (char_start, char_end, colour, hover item), in text order:
    those in the ``window`` (snapped to whole boxes), with the ``tags`` each overlaps and
    the ``highlight`` outline; ``head`` is (title, legend), or None for no head."""
    win = _snap(window, [(a, b) for a, b, _c, _i in boxes], len(text))
    shown: list[_Box] = []
    items: list[dict[str, Any]] = []
    for a, b, color, it in boxes:
        if not _in_window(a, b, win):
            continue
        tt = tuple(_overlapping(tags, a, b))
        hl = highlight is not None and _hits(highlight, a, b)
        shown.append(_Box(a, b, color, len(items), tt, hl))
        if tt:
            it["g"] = [[g.capability, g.attrs[:160]] for g in tt]
        items.append(it)
    caps = sorted({g.capability for g in tags})
    head_html = _head(head[0], head[1], caps, palette) if head is not None else ""
    data = {"mode": kind, "models": models, "items": items}
    return _finish(kind, _boxes_html(text, shown, win, palette), head_html, data, id_prefix)


def _finish(
    kind: str, body_html: str, head: str, data: dict[str, Any], id_prefix: str | None
) -> TokenView:
    vid = id_prefix or f"cg{secrets.token_hex(4)}"
    body = (
        f'<div class="cg-view" id="{html.escape(vid)}" data-mode="{kind}">{head}'
        f'<div class="cg-text">{body_html}</div>{json_script(data)}</div>'
    )
    return TokenView(body, vid, {"mode": kind})


def token_view(
    text: str,
    tokens: Sequence[Tok],
    *,
    model: str = "",
    tags: Sequence[Tag] = (),
    highlight: tuple[int, int] | None = None,
    window: tuple[int, int] | None = None,
    title: str | None = None,
    id_prefix: str | None = None,
    palette: Mapping[str, str] | None = None,
    show_head: bool = True,
) -> TokenView:
    """One model's view of ``text``: a box per token, coloured by its probability.

    ``highlight`` outlines the tokens overlapping a character span; ``window`` shows only
    the tokens overlapping a character range (widened to whole tokens); ``show_head=False``
    drops the title and legends (for many small examples under one legend).

    >>> token_view("a\\nb", [Tok(1, 0, 1, 0.0), Tok(2, 1, 2, -1.0), Tok(3, 2, 3, -9.0)],
    ...            id_prefix="v").body.count('data-i=')
    3
    """
    tokens = sorted(tokens, key=lambda t: t.pos)
    boxes = [
        (t.char_start, t.char_end,
         prob_color(math.exp(t.logprob)) if math.isfinite(t.logprob) else "#dddddd", _item(t))
        for t in tokens
    ]  # fmt: skip
    legend = _legend("1", "0", "#ffffff", prob_color(0.0), "p:")
    head = (title or model or None, legend) if show_head else None
    return _view("single", [model], text, boxes, tags, highlight, window, head, palette, id_prefix)


def _hits(span: tuple[int, int], a: int, b: int) -> bool:
    if span[0] == span[1]:
        return a <= span[0] < max(b, a + 1)
    return a < span[1] and span[0] < b


def diff_view(
    text: str,
    tokens_a: Sequence[Tok],
    tokens_b: Sequence[Tok],
    *,
    models: tuple[str, str] = ("A", "B"),
    tags: Sequence[Tag] = (),
    highlight: tuple[int, int] | None = None,
    window: tuple[int, int] | None = None,
    title: str | None = None,
    id_prefix: str | None = None,
    palette: Mapping[str, str] | None = None,
    show_head: bool = True,
) -> TokenView:
    """Two models on one text, coloured by ``logp_B - logp_A`` of each aligned stretch.

    >>> a = [Tok(1, 0, 2, -2.0), Tok(2, 2, 3, -1.0)]
    >>> b = [Tok(1, 0, 1, -0.5), Tok(2, 1, 2, -0.5), Tok(3, 2, 3, -1.0)]
    >>> v = diff_view("abc", a, b, models=("m1", "m2"), id_prefix="d")
    >>> v.body.count('data-i=')
    2
    """
    ta = sorted(tokens_a, key=lambda t: t.pos)
    tb = sorted(tokens_b, key=lambda t: t.pos)
    segs = align([(t.char_start, t.char_end) for t in ta], [(t.char_start, t.char_end) for t in tb])
    boxes = []
    for s in segs:
        la = sum(ta[i].logprob for i in s.a)
        lb = sum(tb[i].logprob for i in s.b)
        it: dict[str, Any] = {"t": text[s.char_start : s.char_end], "la": _num(la), "lb": _num(lb)}
        it["a"] = [_item(ta[i]) for i in s.a]
        it["b"] = [_item(tb[i]) for i in s.b]
        boxes.append((s.char_start, s.char_end, diff_color(lb - la), it))
    legend = _legend(f"{models[1]} worse", "better", diff_color(-4.0), diff_color(4.0), "Δlogp:")
    head = (title or f"{models[0]} → {models[1]}", legend) if show_head else None
    return _view("diff", list(models), text, boxes, tags, highlight, window, head, palette,
                 id_prefix)  # fmt: skip
