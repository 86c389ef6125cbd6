"""The result of :func:`capgym.diff`: counts, per-capability gains and losses, examples.

>>> import pandas as pd
>>> r = DiffReport("a", "b", ["c"], 0.5, "token", (0.9, 1.0), 10, 3, 1, 4, 2, 0, 0,
...                pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), n_confidence_gains=1)
>>> r.headline()
'b vs a on c (token units, p >= 0.5): 3 gains (2 rank, 1 confidence-only), 1 losses, net +2; 4 both correct (filtered out)'
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from capgym.explain import example_views, frame_html, page_head, records, run_stories
from capgym.store import RunStore


@dataclass(frozen=True, eq=False)
class DiffReport:
    """What ``model_b`` gains and loses over ``model_a``.

    ``per_capability``: capability, n (units it covers), both_correct, gains (of which
    rank_gains: A did not rank the unit first; confidence_gains: A did, with p below
    the threshold), gains_exclusive (gains no other capability covers), losses,
    losses_exclusive, net, mean_delta; plus the rows ``(all)`` and ``(no capability)``.
    ``examples``: units sampled from the ``quantile`` range of ``delta = lp_b - lp_a``
    among the ``examples_from`` pool (``change``: gains and losses; ``gain``; ``loss``;
    ``rank-gain``), with status, change (rank/confidence), log-probs, capabilities and a
    snippet.  ``units``: every compared unit (corpus, story, unit, us, ue, lp_a, lp_b,
    n_a, n_b, ok_a, ok_b, top_a, top_b, delta, status, change).  ``run``: the run it was computed on, read again only to draw the
    examples as token views in Jupyter.
    """

    model_a: str
    model_b: str
    corpora: list[str]
    threshold: float
    mode: str  # "token" or "word"
    quantile: tuple[float, float]
    n_units: int
    n_gains: int
    n_losses: int
    n_both: int
    n_neither: int
    n_unaligned: int  # token mode: positions whose token ids differ
    n_merged: int  # word mode: word boundaries merged because a token straddled them
    per_capability: pd.DataFrame
    examples: pd.DataFrame
    units: pd.DataFrame
    run: RunStore | None = field(default=None, repr=False, compare=False)
    n_confidence_gains: int = 0  # gains whose unit A already ranked first
    examples_from: str = "change"

    @property
    def n_rank_gains(self) -> int:
        """Gains where A did not rank the unit first."""
        return self.n_gains - self.n_confidence_gains

    def headline(self) -> str:
        net = self.n_gains - self.n_losses
        return (
            f"{self.model_b} vs {self.model_a} on {', '.join(self.corpora)} ({self.mode} units, "
            f"p >= {self.threshold}): {self.n_gains:,} gains ({self.n_rank_gains:,} rank, "
            f"{self.n_confidence_gains:,} confidence-only), {self.n_losses:,} losses, "
            f"net {net:+,}; {self.n_both:,} both correct (filtered out)"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for ``--json``); leaves out the per-unit table."""
        return {
            "model_a": self.model_a,
            "model_b": self.model_b,
            "corpora": self.corpora,
            "threshold": self.threshold,
            "mode": self.mode,
            "quantile": list(self.quantile),
            "n_units": self.n_units,
            "n_gains": self.n_gains,
            "n_rank_gains": self.n_rank_gains,
            "n_confidence_gains": self.n_confidence_gains,
            "examples_from": self.examples_from,
            "n_losses": self.n_losses,
            "n_both": self.n_both,
            "n_neither": self.n_neither,
            "n_unaligned": self.n_unaligned,
            "n_merged": self.n_merged,
            "per_capability": records(self.per_capability),
            "examples": records(self.examples.drop(columns=["us", "ue"], errors="ignore")),
        }

    def to_markdown(self) -> str:
        lines = [f"**{self.headline()}**", ""]
        if not self.per_capability.empty:
            head = "| capability | gains | rank gains | confidence-only | gains (only this) "
            lines += [head + "| losses | net | both correct | n | mean Δlogp |"]
            lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for r in self.per_capability.itertuples(index=False):
                lines.append(
                    f"| {r.capability} | {r.gains:,} | {r.rank_gains:,} | {r.confidence_gains:,} "
                    f"| {r.gains_exclusive:,} | {r.losses:,} | {r.net:+,} | "
                    f"{r.both_correct:,} | {r.n:,} | {r.mean_delta:+.3f} |"
                )
        if not self.examples.empty:
            lo, hi = self.quantile
            lines += ["", f"Examples ({self.examples_from}), Δlogp quantiles {lo:g}–{hi:g}:", ""]
            lines += [
                "| status | change | Δlogp | capabilities | snippet |",
                "|---|---|---:|---|---|",
            ]
            for e in self.examples.itertuples(index=False):
                caps = ", ".join(e.capabilities) if len(e.capabilities) else ""
                snip = e.snippet.replace("|", "\\|")
                lines.append(f"| {e.status} | {e.change} | {e.delta:+.2f} | {caps} | {snip} |")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [page_head(), f"<p><b>{html.escape(self.headline())}</b></p>"]
        if not self.per_capability.empty:
            parts.append(frame_html(self.per_capability))
        if not self.examples.empty:
            parts.append(self._examples_html())
        return "".join(parts)

    def _examples_html(self) -> str:
        a, b = self.model_a, self.model_b
        with run_stories(self.run) as data:
            shown = example_views(data, self.examples, [a, b], ("us", "ue"))
        rows = "".join(
            f"<tr><td>{html.escape(e.status)} ({html.escape(e.change)})</td><td>{e.delta:+.2f}</td>"
            f"<td>{html.escape(', '.join(e.capabilities))}</td>"
            f"<td><div>story {e.story}:</div>{view}</td></tr>"
            for e, view in zip(self.examples.itertuples(index=False), shown)
        )
        note = "" if data is None else (
            f"<p>Examples coloured by Δlogp from {html.escape(a)} to {html.escape(b)}: "
            f"blue where {html.escape(b)} is better, red where worse.</p>"
        )  # fmt: skip
        return (
            f'{note}<table class="cg-table"><tr><th>status</th><th>Δlogp</th>'
            f"<th>capabilities</th><th>example</th></tr>{rows}</table>"
        )
