"""Model-diff highlights: for neighbouring model sizes, where the larger model gains most.

Stories are ranked by the change in NLL per character (fair across tokenizers);
positions are compared where both models predicted exactly the same span of text.

>>> pairs(["a", "b", "c"])
[('a', 'b'), ('b', 'c'), ('a', 'c')]
"""

from __future__ import annotations

import html
import itertools

import pandas as pd

from capgym.report.context import Ctx
from capgym.report.html import Section, esc, nodata, note
from capgym.store.confident import CONFIDENT, confident_sql

MAX_PAIRS, N_POSITIONS = 4, 6


def pairs(models: list[str]) -> list[tuple[str, str]]:
    """Neighbours by size, then smallest vs largest; at most ``MAX_PAIRS``."""
    out = list(itertools.pairwise(models))
    if len(models) > 2:
        out.append((models[0], models[-1]))
    return out[:MAX_PAIRS]


def story_gains(ctx: Ctx, a: str, b: str) -> pd.DataFrame:
    return ctx.f.df(
        """
        WITH n AS (SELECT model, corpus, story, -sum(logprob) AS nll FROM scores
                   WHERE model IN (?, ?) GROUP BY ALL)
        SELECT x.corpus, x.story, (x.nll - y.nll) / length(s.text) AS gain_per_char
        FROM n x JOIN n y ON x.corpus = y.corpus AND x.story = y.story AND x.model = ? AND y.model = ?
        JOIN stories s ON s.corpus = x.corpus AND s.story = x.story
        ORDER BY gain_per_char DESC, x.corpus, x.story
        """,
        [a, b, a, b],
    )


def position_gains(ctx: Ctx, a: str, b: str) -> pd.DataFrame:
    """Positions with identical spans where one model is confident correct and the other
    is not (rank 0 and p >= CONFIDENT, the rule of :mod:`capgym.explain.coverage`): the
    largest gains of ``b`` and its largest losses, by the change in log-probability.
    ``kind`` says ``rank gain`` (``a`` did not rank the token first) or ``confidence-only
    gain`` (it did, with p below the threshold), and the same for losses."""
    ok_a = f"x.rank = 0 AND {confident_sql('x.logprob', str(CONFIDENT))}"
    ok_b = f"y.rank = 0 AND {confident_sql('y.logprob', str(CONFIDENT))}"
    return ctx.f.df(
        f"""
        WITH d AS (
            SELECT x.corpus, x.story, x.pos, x.char_start, x.char_end,
                   exp(x.logprob) AS p_a, exp(y.logprob) AS p_b, y.logprob - x.logprob AS dlogp,
                   {ok_a} AS ok_a, {ok_b} AS ok_b, x.rank = 0 AS top_a, y.rank = 0 AS top_b
            FROM scores x JOIN scores y ON x.corpus = y.corpus AND x.story = y.story
             AND x.char_start = y.char_start AND x.char_end = y.char_end
            WHERE x.model = ? AND y.model = ? AND x.char_end > x.char_start)
        (SELECT * EXCLUDE (ok_a, ok_b, top_a, top_b),
                CASE WHEN top_a THEN 'confidence-only gain' ELSE 'rank gain' END AS kind
         FROM d WHERE ok_b AND NOT ok_a ORDER BY dlogp DESC, corpus, story, pos LIMIT ?)
        UNION ALL
        (SELECT * EXCLUDE (ok_a, ok_b, top_a, top_b),
                CASE WHEN top_b THEN 'confidence-only loss' ELSE 'rank loss' END AS kind
         FROM d WHERE ok_a AND NOT ok_b ORDER BY dlogp ASC, corpus, story, pos LIMIT ?)
        """,
        [a, b, N_POSITIONS, N_POSITIONS],
    )


def _snippet(text: str, a: int, b: int) -> str:
    before = html.escape(text[max(0, a - 50) : a].replace("\n", "↵"))
    target = html.escape(text[a:b].replace("\n", "↵"))
    after = html.escape(text[b : b + 15].replace("\n", "↵"))
    return f'<span style="font-family:monospace">…{before}<b style="background:#fde68a">{target}</b>{after}…</span>'


def _pair(ctx: Ctx, a: str, b: str) -> str:
    f = ctx.f
    sg = story_gains(ctx, a, b)
    if sg.empty:
        return nodata(f"stories scored by both {a} and {b}", ctx.how("models"))
    parts = [f"<h3>{esc(a)} → {esc(b)}</h3>"]
    better = float((sg.gain_per_char > 0).mean())
    parts.append(
        note(
            f"{b} has lower NLL than {a} on {better:.0%} of {len(sg)} stories; mean gain {sg.gain_per_char.mean():+.4f} nats/char."
        )
    )
    pg = position_gains(ctx, a, b)
    if len(pg):
        texts = {
            (c, int(s)): f.stories.text(c, int(s))
            for c, s in set(zip(pg.corpus, pg.story, strict=True))
        }
        pg["context"] = [
            _snippet(texts[(c, int(s))], int(x), int(y))
            for c, s, x, y in zip(pg.corpus, pg.story, pg.char_start, pg.char_end, strict=True)
        ]
        cols = ["kind", "corpus", "story", "pos", "p_a", "p_b", "dlogp", "context"]
        if pg.corpus.nunique() == 1:  # one corpus: its long name would only repeat
            cols.remove("corpus")
        shown = pg[cols].rename(columns={"p_a": f"p {a}", "p_b": f"p {b}", "pos": f"pos ({a})"})
        parts.append(
            ctx.table(
                f"diff-{a}-{b}",
                shown.drop(columns="context"),
                f"Largest gains and losses {a} to {b} (confident correct in one model only)",
                shown=shown,
                raw_html=("context",),
            )
        )
    top = sg.iloc[0]
    msg = f"The story where {b} gains most over {a} ({top.gain_per_char:+.4f} nats/char)"
    parts.append(note(f"{msg}; blue: {b} better, red: {b} worse."))
    parts.append(ctx.story(str(top.corpus), int(top.story), a, compare=b, tags=False).body)
    return "\n".join(parts)


def diffs(ctx: Ctx) -> Section:
    names = ctx.f.model_names
    if len(names) < 2:
        return Section("diffs", "Model-diff highlights", nodata("second model", ctx.how("models")))
    body = [_pair(ctx, a, b) for a, b in pairs(names)]
    return Section("diffs", "Model-diff highlights", "\n".join(body))
