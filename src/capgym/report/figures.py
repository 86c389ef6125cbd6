"""The atlas figures: each one an interactive plotly figure plus a matplotlib twin for
the paper exports.  plotly's JavaScript is embedded once by the page, not per figure.

>>> import pandas as pd
>>> fig, draw = nll_bars(pd.DataFrame({"model": ["a"], "corpus": ["c"], "nll_per_char": [0.7]}))
>>> fig.data[0].type
'bar'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

Draw = Callable[[Any], None]
FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12}


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "font": {"size": 14}},
        height=height,
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
        font=FONT,
        plot_bgcolor="white",
        paper_bgcolor="white",
    )
    return fig


def to_html(fig: go.Figure, div_id: str) -> str:
    """The figure's ``<div>`` and its call to plotly (plotly.js is on the page already)."""
    return str(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )
    )


COLORS = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#b279a2",
    "#eeca3b",
    "#9d755d",
    "#bab0ac",
    "#ff9da6",
)


def model_colors(models: list[str]) -> dict[str, str]:
    """One colour per model, by its place in the size order, the same in every figure."""
    return {m: COLORS[i % len(COLORS)] for i, m in enumerate(models)}


def nll_bars(summary: pd.DataFrame) -> tuple[go.Figure, Draw]:
    """NLL per character of each model (one bar group per corpus), models in the given order."""
    fig = go.Figure()
    for corpus, g in summary.groupby("corpus", sort=True):
        fig.add_bar(x=g.model, y=g.nll_per_char, name=str(corpus),
                    hovertemplate="%{x}<br>%{y:.4f} nats/char<extra>" + str(corpus) + "</extra>")  # fmt: skip
    _layout(fig, "NLL per character (lower is better)", 320)
    fig.update_yaxes(title="nats / char", gridcolor="#eee")

    def draw(mfig: Any) -> None:
        ax = mfig.subplots()
        corpora = sorted(summary.corpus.unique())
        models = list(dict.fromkeys(summary.model))
        w = 0.8 / max(1, len(corpora))
        for i, c in enumerate(corpora):
            g = summary[summary.corpus == c].set_index("model").reindex(models)
            ax.bar(np.arange(len(models)) + i * w, g.nll_per_char, w, label=str(c))
        ax.set_xticks(
            np.arange(len(models)) + w * (len(corpora) - 1) / 2, models, rotation=30, ha="right"
        )
        ax.set_ylabel("NLL (nats / char)")
        if len(corpora) > 1:
            ax.legend(fontsize=7)

    return fig, draw


def _cell(score: float, lo: float, chance: float) -> str:
    """A heat-map cell's text: the score, in brackets when its interval does not clear
    chance (0.5 where there is no chance level).

    >>> _cell(0.83, 0.7, 0.5), _cell(0.55, 0.45, 0.5), _cell(float("nan"), 0.0, 0.5)
    ('0.83', '(0.55)', '')
    """
    if not np.isfinite(score):
        return ""
    bar = chance if np.isfinite(chance) else 0.5
    return f"{score:.2f}" if lo > bar else f"({score:.2f})"


def heatmap(
    m: pd.DataFrame, models: list[str], title: str, colorbar: str
) -> tuple[go.Figure, Draw]:
    """Models (rows) by capabilities (columns); ``m``: model, capability, score, lo, hi, n,
    detail and optionally chance.  ``colorbar`` names the metric; a score whose 95% interval
    does not clear its chance level is shown in brackets."""
    caps = sorted(m.capability.unique())

    def grid(col: str) -> pd.DataFrame:
        return m.pivot_table(index="model", columns="capability", values=col, aggfunc="mean",
                             dropna=False).reindex(index=models, columns=caps)  # fmt: skip

    z = grid("score")
    lo = grid("lo")
    chance = grid("chance") if "chance" in m else z * np.nan
    cells = [[_cell(z.loc[a, c], lo.loc[a, c], chance.loc[a, c]) for c in caps] for a in models]
    hover = [[_hover(m, a, c) for c in caps] for a in models]
    fig = go.Figure(
        go.Heatmap(z=z.values, x=caps, y=models, zmin=0, zmax=1, colorscale="Blues", text=cells,
                   customdata=hover, hovertemplate="%{customdata}<extra></extra>",
                   texttemplate="%{text}", colorbar={"title": {"text": colorbar, "side": "right"}})
    )  # fmt: skip
    _layout(fig, "", 90 + 36 * len(models))
    fig.update_layout(margin={"t": 10})
    fig.update_xaxes(side="bottom", tickangle=-30)
    fig.update_yaxes(autorange="reversed")

    def draw(mfig: Any) -> None:
        ax = mfig.subplots()
        im = ax.imshow(z.values.astype(float), vmin=0, vmax=1, cmap="Blues", aspect="auto")
        ax.set_xticks(range(len(caps)), caps, rotation=40, ha="right", fontsize=7)
        ax.set_yticks(range(len(models)), models, fontsize=7)
        for i in range(len(models)):
            for j in range(len(caps)):
                v = z.values[i, j]
                if np.isfinite(v):
                    color = "white" if v > 0.6 else "black"
                    ax.text(j, i, cells[i][j], ha="center", va="center", fontsize=6, color=color)
        mfig.colorbar(im, ax=ax, label=colorbar)

    return fig, draw


def _hover(m: pd.DataFrame, model: str, cap: str) -> str:
    r = m[(m.model == model) & (m.capability == cap)]
    if r.empty:
        return f"{model} · {cap}: no data"
    lines = [f"<b>{model}</b> · {cap}"]
    for x in r.itertuples():
        ch = getattr(x, "chance", np.nan)
        chance = f", chance {ch:.2f}" if np.isfinite(ch) else ""
        lines.append(
            f"{x.score:.3f} [{x.lo:.3f}, {x.hi:.3f}] 95% CI{chance}, n={int(x.n)}<br>{x.detail}"
        )
    return "<br>".join(lines)


def _chances(d: pd.DataFrame) -> list[float]:
    if "chance" not in d:
        return []
    return sorted({round(float(c), 3) for c in d.chance.dropna()})


def scaling(
    m: pd.DataFrame, params: dict[str, float | None], title: str, ylabel: str = "score"
) -> tuple[go.Figure, Draw]:
    """Score against parameter count (log x axis), one line per capability; each distinct
    chance level (column ``chance``, if any) is a dashed line."""
    d = m.assign(params=m.model.map(params)).dropna(subset=["params"]).sort_values("params")
    fig = go.Figure()
    for cap, g in d.groupby("capability", sort=True):
        fig.add_scatter(
            x=g.params, y=g.score, mode="lines+markers", name=str(cap), customdata=np.stack([g.model, g.lo, g.hi], axis=-1),
            error_y={"type": "data", "symmetric": False, "array": g.hi - g.score, "arrayminus": g.score - g.lo, "thickness": 1},
            hovertemplate="%{customdata[0]} (%{x:,.0f} params)<br>%{y:.3f} [%{customdata[1]:.3f}, %{customdata[2]:.3f}]<extra>" + str(cap) + "</extra>",
        )  # fmt: skip
    for c in _chances(d):
        fig.add_hline(y=c, line_dash="dash", line_color="#888", annotation_text=f"chance {c:g}",
                      annotation_position="bottom right")  # fmt: skip
    _layout(fig, title, 380)
    lo, hi = np.log10(d.params.min()), np.log10(d.params.max())
    pad = max(0.15, (hi - lo) * 0.08)
    fig.update_xaxes(type="log", title="parameters (log scale)", gridcolor="#eee",
                     range=[lo - pad, hi + pad], tickformat=".2s")  # fmt: skip
    fig.update_yaxes(title=ylabel, range=[0, 1.02], gridcolor="#eee")

    def draw(mfig: Any) -> None:
        ax = mfig.subplots()
        for cap, g in d.groupby("capability", sort=True):
            ax.errorbar(
                g.params,
                g.score,
                # pooled or bootstrap intervals need not contain the point: no negative bars
                yerr=[(g.score - g.lo).clip(lower=0), (g.hi - g.score).clip(lower=0)],
                marker="o",
                ms=3,
                capsize=2,
                label=str(cap),
            )
        for c in _chances(d):
            ax.axhline(c, ls="--", color="#888", lw=0.8)
            ax.annotate(f"chance {c:g}", (1, c), xycoords=("axes fraction", "data"),
                        ha="right", va="bottom", fontsize=6, color="#666")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlim(10 ** (lo - pad), 10 ** (hi + pad))
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("parameters (log scale)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)

    return fig, draw


def boxes(
    df: pd.DataFrame,
    value: str,
    title: str,
    label: str,
    order: list[str],
    chance: float | None = None,
) -> tuple[go.Figure, Draw]:
    """Distribution of ``value`` per model, models in ``order`` with their fixed colours;
    ``chance``: the value at chance, drawn as a dashed line."""
    fig = go.Figure()
    models = [m for m in order if m in set(df.model)]
    colors = model_colors(order)
    for model in models:
        g = df[df.model == model]
        fig.add_box(
            y=g[value],
            name=str(model),
            boxpoints="outliers",
            showlegend=False,
            marker_color=colors[model],
        )
    _layout(fig, title, 300)
    fig.update_yaxes(title=label, gridcolor="#eee")
    if chance is not None:
        fig.add_hline(y=chance, line_dash="dash", line_color="#888",
                      annotation_text="chance", annotation_position="top left")  # fmt: skip

    def draw(mfig: Any) -> None:
        ax = mfig.subplots()
        if chance is not None:
            ax.axhline(chance, ls="--", color="#888", lw=0.8, label="chance")
        ax.boxplot(
            [df[df.model == m][value].dropna() for m in models],
            tick_labels=models,
            showfliers=False,
        )
        ax.set_ylabel(label)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)

    return fig, draw
