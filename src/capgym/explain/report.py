"""The result of :func:`capgym.explain`: data frames, Markdown and Jupyter HTML.

>>> r = ExplainReport.empty("m", ["c"], 0.5)
>>> r.coverage, "no confident" in r.to_markdown()
(0.0, True)
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from capgym.explain.coverage import EXPLAINERS_ONLY, LAYERS
from capgym.explain.html import example_views, frame_html, frame_view, page_head, run_stories
from capgym.render.data import StoryData
from capgym.store import RunStore


@dataclass(frozen=True, eq=False)
class ExplainReport:
    """Coverage of one model's confident correct predictions, and its mined residue.

    ``shares``: kind (capability / explainer / total), name, n, share, mass,
    share_mass, n_exclusive.  ``residue_groups``: dimension, group, rank, n, mass,
    share_mass, mean_p.  ``residue_examples``: dimension, group, corpus, story, pos, p,
    before, target, after, snippet.  ``story``: the tokens of one story for the heat-map.
    ``run``: the run it was computed on, read again only to draw token views in Jupyter.
    """

    model: str
    corpora: list[str]
    threshold: float
    n_scored: int
    n_confident: int
    mass_confident: float
    coverage: float
    coverage_mass: float
    shares: pd.DataFrame
    residue_groups: pd.DataFrame
    residue_examples: pd.DataFrame
    story: pd.DataFrame = field(default_factory=pd.DataFrame)
    run: RunStore | None = field(default=None, repr=False, compare=False)

    @classmethod
    def empty(cls, model: str, corpora: list[str], threshold: float) -> ExplainReport:
        """A report with no confident predictions."""
        return cls(model, corpora, threshold, 0, 0, 0.0, 0.0, 0.0, pd.DataFrame(),
                   pd.DataFrame(), pd.DataFrame())  # fmt: skip

    def share(self, name: str, kind: str | None = None) -> float:
        """Share by count of a capability, explainer or total row (0 if absent).

        >>> ExplainReport.empty("m", ["c"], 0.5).share("any")
        0.0
        """
        if self.shares.empty:
            return 0.0
        rows = self.shares[self.shares["name"] == name]
        if kind is not None:
            rows = rows[rows["kind"] == kind]
        return float(rows["share"].fillna(0).iloc[0]) if len(rows) else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for ``--json``)."""
        return {
            "model": self.model,
            "corpora": self.corpora,
            "threshold": self.threshold,
            "n_scored": self.n_scored,
            "n_confident": self.n_confident,
            "mass_confident": self.mass_confident,
            "coverage": self.coverage,
            "coverage_mass": self.coverage_mass,
            "shares": records(self.shares),
            "residue_groups": records(self.residue_groups),
            "residue_examples": records(
                self.residue_examples.drop(columns=["es", "ee"], errors="ignore")
            ),
        }

    @property
    def layers(self) -> dict[str, float]:
        """The coverage layers by count (see :mod:`capgym.explain.coverage`): named
        capabilities, + explainers, + word-completion, and explainers only.

        >>> list(ExplainReport.empty("m", ["c"], 0.5).layers.values())
        [0.0, 0.0, 0.0, 0.0]
        """
        return {name: self.share(name, "total") for name in (*LAYERS, EXPLAINERS_ONLY)}

    def headline(self) -> str:
        """One line: coverage layers (named capabilities first) and residue."""
        named, expl, allc, only = self.layers.values()
        return (
            f"{self.model} on {', '.join(self.corpora)}: {self.n_confident:,} confident correct "
            f"of {self.n_scored:,} tokens (p >= {self.threshold}); named capabilities cover "
            f"{named:.1%}; + n-gram/induction explainers {expl:.1%}; + word-completion "
            f"{allc:.1%} ({self.coverage_mass:.1%} by mass; explainers only {only:.1%}); "
            f"residue {1 - self.coverage:.1%}"
        )

    def to_markdown(self, top: int = 5) -> str:
        """A Markdown summary: headline, shares, top residue groups with one example each."""
        if self.n_confident == 0:
            return f"**{self.model}**: no confident correct predictions at p >= {self.threshold}."
        lines = [f"**{self.headline()}**", "", "| kind | name | share | share (mass) | n |"]
        lines.append("|---|---|---:|---:|---:|")
        for r in self.shares.itertuples(index=False):
            lines.append(
                f"| {r.kind} | {r.name} | {_pct(r.share)} | {_pct(r.share_mass)} | {r.n:,} |"
            )
        lines += ["", "Top residue groups (by probability mass):", ""]
        lines += ["| dimension | group | share of residue (mass) | n | example |"]
        lines.append("|---|---|---:|---:|---|")
        for g in self.residue_groups[self.residue_groups["rank"] <= top].itertuples(index=False):
            ex = self._examples(g.dimension, g.group)
            example = ex["snippet"].iloc[0].replace("|", "\\|") if len(ex) else ""
            lines.append(
                f"| {g.dimension} | {g.group} | {_pct(g.share_mass)} | {g.n:,} | {example} |"
            )
        return "\n".join(lines)

    def _examples(self, dimension: str, group: str, ex: pd.DataFrame | None = None) -> pd.DataFrame:
        ex = self.residue_examples if ex is None else ex
        if ex.empty:
            return ex
        return ex[(ex["dimension"] == dimension) & (ex["group"] == group)]

    def _repr_html_(self) -> str:
        if self.n_confident == 0:
            return f"<p>{html.escape(self.to_markdown())}</p>"
        parts = [page_head(), f"<p><b>{html.escape(self.headline())}</b></p>"]
        parts.append(frame_html(self.shares, percent=("share", "share_mass")))
        with run_stories(self.run) as data:
            ex = self.residue_examples
            if not ex.empty:
                ex = ex.assign(shown=example_views(data, ex, [self.model]))
            parts += [self._residue_html(dim, groups, ex)
                      for dim, groups in self.residue_groups.groupby("dimension", sort=False)]  # fmt: skip
            if not self.story.empty:
                parts.append(self._story_html(data))
        return "".join(parts)

    def _residue_html(self, dim: str, groups: pd.DataFrame, ex: pd.DataFrame) -> str:
        rows = []
        for g in groups.itertuples(index=False):
            cells = "".join(
                f"<div>story {e.story} pos {e.pos}:</div>{e.shown}"
                for e in self._examples(dim, g.group, ex).itertuples(index=False)
            )
            rows.append(
                f"<tr><td>{html.escape(str(g.group))}</td><td>{_pct(g.share_mass)}</td>"
                f"<td>{g.n}</td><td>{cells}</td></tr>"
            )
        return (
            f"<details><summary>residue by {html.escape(str(dim))}</summary>"
            '<table class="cg-table"><tr><th>group</th><th>share (mass)</th><th>n</th>'
            f"<th>examples</th></tr>{''.join(rows)}</table></details>"
        )

    def _story_html(self, data: StoryData | None) -> str:
        corpus, story = str(self.story["corpus"].iloc[0]), int(self.story["story"].iloc[0])
        title = f"{self.model}: story {story} ({corpus})"
        if data is None:
            return frame_view(self.story, title).body
        return data.view(corpus, story, self.model, title=title).body


def _pct(x: Any) -> str:
    return "" if x is None or pd.isna(x) else f"{float(x):.1%}"


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    if df.empty:
        return []
    return [{k: _plain(v) for k, v in r.items()} for r in df.to_dict(orient="records")]


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)) or getattr(v, "ndim", 0) == 1:
        return [_plain(x) for x in v]
    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA:
        return None
    if hasattr(v, "item"):
        return v.item()
    return v
