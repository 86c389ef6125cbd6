"""Paper exports: every table as Markdown and LaTeX, every figure as PNG and SVG.

Files go to an assets folder next to the report; the report links to them.  Figures
are drawn with matplotlib (static plotly export would need kaleido and a browser);
without matplotlib the tables are still written and the figures are skipped.

>>> import pandas as pd
>>> print(to_markdown(pd.DataFrame({"model": ["a|b"], "nll": [1.23456]})))
| model | nll |
|---|---:|
| a\\|b | 1.235 |
>>> print(to_latex(pd.DataFrame({"model": ["x_1"], "n": [3]})).splitlines()[4])
x\\_1 & 3 \\\\
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}  # fmt: skip


def fmt(v: Any, digits: int = 3) -> str:
    """A cell as text: floats to ``digits`` decimals, big ints with thousands separators."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    if isinstance(v, int) or (hasattr(v, "dtype") and "int" in str(getattr(v, "dtype", ""))):
        return f"{int(v):,}"
    return str(v)


def intify(df: pd.DataFrame) -> pd.DataFrame:
    """Float columns holding counts (whole numbers, some >= 2) as nullable integers.

    >>> intify(pd.DataFrame({"n": [626.0, 3.0], "p": [1.0, 0.0]})).dtypes.astype(str).tolist()
    ['Int64', 'float64']
    """
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if pd.api.types.is_float_dtype(s):
            v = s.dropna()
            if len(v) and (v == v.round()).all() and (v.abs() >= 2).any() and v.abs().max() < 2**53:
                out[c] = s.round().astype("Int64")
    return out


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def to_markdown(df: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub Markdown table (numbers right-aligned)."""
    df = intify(df)
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    align = "|" + "|".join("---:" if _numeric(df[c]) else "---" for c in df.columns) + "|"
    rows = [
        "| " + " | ".join(fmt(v, digits).replace("|", "\\|").replace("\n", " ") for v in r) + " |"
        for r in df.itertuples(index=False)
    ]
    return "\n".join([head, align, *rows])


def latex_escape(s: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in s).replace("\n", " ")


def to_latex(df: pd.DataFrame, digits: int = 3, caption: str = "") -> str:
    """A booktabs ``tabular`` (wrapped in a ``table`` with ``caption`` when given)."""
    df = intify(df)
    spec = "".join("r" if _numeric(df[c]) else "l" for c in df.columns)
    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\toprule"]
    lines.append(" & ".join(latex_escape(str(c)) for c in df.columns) + r" \\")
    lines.append("\\midrule")
    for r in df.itertuples(index=False):
        lines.append(" & ".join(latex_escape(fmt(v, digits)) for v in r) + r" \\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    if caption:
        lines = [
            "\\begin{table}",
            "\\centering",
            *lines,
            f"\\caption{{{latex_escape(caption)}}}",
            "\\end{table}",
        ]
    return "\n".join(lines) + "\n"


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


class Exporter:
    """Writes tables and figures under ``root`` and returns the HTML links to them."""

    def __init__(self, root: Path | None, link_base: str, detail_figures: bool = False):
        self.root = root
        self.detail_figures = detail_figures  # also the many per-capability figures (slower)
        self.link_base = link_base.rstrip("/")
        self.written: list[Path] = []
        self.skipped_figures = 0

    @staticmethod
    def _name(name: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "item"

    def _write(self, rel: str, text: str | None = None) -> Path | None:
        if self.root is None:
            return None
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if text is not None:
            p.write_text(text, encoding="utf-8")
        self.written.append(p)
        return p

    def _links(self, pairs: list[tuple[str, str]]) -> str:
        if self.root is None or not pairs:
            return ""
        a = " · ".join(
            f'<a href="{html.escape(self.link_base + "/" + rel)}">{label}</a>'
            for label, rel in pairs
        )
        return f'<div class="exports">export: {a}</div>'

    def table(self, name: str, df: pd.DataFrame, caption: str = "", digits: int = 3) -> str:
        """Write ``tables/<name>.md`` and ``.tex``; return the links."""
        n = self._name(name)
        self._write(f"tables/{n}.md", to_markdown(df, digits) + "\n")
        self._write(f"tables/{n}.tex", to_latex(df, digits, caption))
        return self._links([("Markdown", f"tables/{n}.md"), ("LaTeX", f"tables/{n}.tex")])

    def figure(
        self,
        name: str,
        draw: Callable[[Any], None],
        size: tuple[float, float] = (6.0, 3.6),
        detail: bool = False,
    ) -> str:
        """Draw with ``draw(fig)`` (a matplotlib Figure) into ``figures/<name>.png`` and
        ``.svg``; a ``detail`` figure only when the exporter wants detail figures."""
        if self.root is None or (detail and not self.detail_figures):
            return ""
        if not have_matplotlib():
            self.skipped_figures += 1
            return ""
        from matplotlib.figure import Figure

        n = self._name(name)
        fig = Figure(figsize=size, dpi=150, layout="constrained")
        draw(fig)
        pairs = []
        for ext in ("png", "svg"):
            p = self._write(f"figures/{n}.{ext}")
            if p is not None:
                meta = {"Date": None} if ext == "svg" else {"Software": None}
                fig.savefig(p, format=ext, metadata=meta)
                pairs.append((ext.upper(), f"figures/{n}.{ext}"))
        return self._links(pairs)
