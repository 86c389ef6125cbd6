"""What every section builder gets: the frame, the exporter, and unique ids.

Commands named in "no data yet" lines live here, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from capgym.render.tokens import TokenView
from capgym.report import figures
from capgym.report.exports import Exporter
from capgym.report.frame import Frame
from capgym.report.html import table

HOW = {
    "scores": "capgym score --model NAME --out RUN",
    "tags": "capgym tag --out RUN",
    "explains": "capgym explain --model NAME --out RUN",
    "results": "capgym eval --models A,B --out RUN",
    "models": "capgym score --models A,B --out RUN",
}


@dataclass
class Ctx:
    """Shared state of one report build."""

    f: Frame
    ex: Exporter
    n_stories: int = 5
    story_models: list[str] | None = None  # the stories section shows these (default all)
    story_corpus: str | None = None  # ... from this corpus (default the first)
    _ids: dict[str, int] = field(default_factory=dict)

    def uid(self, kind: str) -> str:
        """``kind-1``, ``kind-2``, ...: ids unique within the page and stable across builds."""
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return f"{kind}-{self._ids[kind]}"

    def how(self, what: str) -> str:
        return HOW[what].replace("RUN", str(self.f.run.path))

    def figure(
        self,
        name: str,
        fig_draw: tuple[go.Figure, Any],
        size: tuple[float, float] = (6.0, 3.6),
        detail: bool = False,
    ) -> str:
        """The interactive figure plus links to its PNG/SVG export (``detail`` figures are
        exported only with ``exports="all"``)."""
        fig, draw = fig_draw
        links = self.ex.figure(name, draw, size, detail)
        return f'<div class="fig">{figures.to_html(fig, self.uid("fig"))}{links}</div>'

    def table(self, name: str, df: pd.DataFrame, caption: str = "", shown: pd.DataFrame | None = None,
              raw_html: tuple[str, ...] = ()) -> str:  # fmt: skip
        """``shown`` (default ``df``) as HTML, plus links to ``df`` as Markdown and LaTeX."""
        return table(df if shown is None else shown, raw_html=raw_html) + self.ex.table(
            name, df, caption
        )

    def story(self, corpus: str, story: int, model: str, **kw: Any) -> TokenView:
        return self.f.stories.view(corpus, story, model, id_prefix=self.uid("tv"), **kw)
