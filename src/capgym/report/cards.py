"""One card per capability: definition, hypothesis, who has it, distributions, examples
grouped by confidence, non-uniform slices and red-team results.

Examples follow feature dashboards: the reference model's most confident tagged
positions first, then a few from each quartile of its probability.

>>> import tempfile
>>> from capgym.view.demo import demo_run
>>> from capgym.report.exports import Exporter
>>> from capgym.report.frame import Frame
>>> "card-repeated-name" in cards(Ctx(Frame(demo_run(tempfile.mkdtemp())), Exporter(None, ""))).body
True
"""

from __future__ import annotations

import math
import re

import pandas as pd

from capgym.report import figures, metrics
from capgym.report.context import Ctx
from capgym.report.html import Section, esc, nodata, note
from capgym.report.registry import CapabilityInfo, describe
from capgym.report.slices import MIN_EFFECT, corpus_slices, gym_slices, redteam, redteam_table

N_TOP, N_PER_QUARTILE, WINDOW_BEFORE, WINDOW_AFTER = 3, 2, 110, 30


def anchor(cap: str) -> str:
    return "card-" + re.sub(r"[^A-Za-z0-9_-]+", "-", cap)


def plain(doc: str) -> str:
    """A docstring without reStructuredText roles and literals.

    >>> plain("see :func:`capgym.tags.doc.find_quotes` and ``open_char``")
    'see capgym.tags.doc.find_quotes and open_char'
    """
    doc = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", doc)
    return re.sub(r"``([^`]+)``", r"\1", doc)


def pool_gym(gym: pd.DataFrame) -> tuple[str, float, float, float]:
    """(metric, successes, examples, chance) of a capability's gym rows pooled over its
    tasks: the beats-wrong rows when there are any (chance weighted by examples), else the
    top-1-over-vocabulary rows (no chance level: NaN).

    >>> g = pd.DataFrame({"metric": ["beats_wrong", "beats_wrong"], "score": [0.5, 1.0],
    ...                   "n": [10.0, 30.0], "chance": [0.5, 0.25]})
    >>> pool_gym(g)
    ('beats_wrong', 35.0, 40.0, 0.3125)
    """
    bw = gym[gym.metric == "beats_wrong"]
    use, metric = (bw, "beats_wrong") if len(bw) else (gym, "top1_vocab")
    n = float(use.n.sum())
    chance = float((use.chance * use.n).sum() / n) if metric == "beats_wrong" and n else math.nan
    return metric, float((use.score * use.n).sum()), n, chance


def heuristic_tasks(m: pd.DataFrame, cap: str) -> list[str]:
    """The capability's gym tasks that a trivial baseline solves (see
    :mod:`capgym.tasks.baselines`)."""
    if "solved_by_heuristic" not in m:
        return []
    g = m[(m.capability == cap) & (m.source == "gym") & (m.solved_by_heuristic == 1)]
    return sorted(set(g.task))


def who_has_it(m: pd.DataFrame, cap: str, params: dict[str, float | None]) -> pd.DataFrame:
    """Per model (in the order of ``params``): gym and corpus scores with intervals, and
    the verdict: the gym score's interval above its chance level (top-1 tasks and corpus
    scores: above 0.5)."""
    rows = []
    for model in params:
        g = m[(m.model == model) & (m.capability == cap)]
        gym, cor = g[g.source == "gym"], g[g.source == "corpus"]
        metric, gym_k, gym_n, chance = pool_gym(gym)
        used = gym[gym.metric == metric] if "metric" in gym else gym
        if len(used) == 1:  # one task keeps its own (bootstrap) interval, as the heat-map
            gym_lo, gym_hi = float(used.lo.iloc[0]), float(used.hi.iloc[0])
        else:
            gym_lo, gym_hi = metrics.wilson(gym_k, gym_n)
        row: dict[str, object] = {"model": model, "params": params.get(model)}
        label = "gym beats-wrong" if metric == "beats_wrong" else "gym top1_vocab"
        row["gym metric"] = label
        row["gym score"] = f"{gym_k / gym_n:.2f} [{gym_lo:.2f}, {gym_hi:.2f}]" if gym_n else ""
        row["chance"] = f"{chance:.2f}" if not math.isnan(chance) else ""
        row["gym n"] = int(gym_n)
        c = cor.iloc[0] if len(cor) else None
        row["corpus top-1"] = f"{c.score:.2f} [{c.lo:.2f}, {c.hi:.2f}]" if c is not None else ""
        row["tagged n"] = int(c.n) if c is not None else 0
        lo = gym_lo if gym_n else (c.lo if c is not None else float("nan"))
        bar = chance if gym_n and not math.isnan(chance) else 0.5
        row["has it"] = "yes" if lo > bar else "no"
        if gym_n or c is not None:
            rows.append(row)
    df = pd.DataFrame(rows)
    if len(df) and not (df["gym n"] > 0).any():
        df = df.drop(columns=["gym metric", "gym score", "chance", "gym n"])
    return df


def _examples(ctx: Ctx, cap: str, model: str) -> str:
    f = ctx.f
    df = f.df(
        """
        WITH t AS (
            SELECT *, ntile(4) OVER (ORDER BY p DESC) AS q, row_number() OVER (ORDER BY p DESC) AS rk
            FROM cg_tagged WHERE model = ? AND capability = ?)
        SELECT *, min(p) OVER (PARTITION BY q) AS q_lo, max(p) OVER (PARTITION BY q) AS q_hi
        FROM t
        QUALIFY rk <= ? OR row_number() OVER (PARTITION BY q ORDER BY hash(corpus, story, tag_start)) <= ?
        ORDER BY rk
        """,
        [model, cap, N_TOP, N_PER_QUARTILE],
    )
    if df.empty:
        return nodata(f"tagged positions scored by {model}", ctx.how("tags"))
    names = {1: "top quartile", 2: "second quartile", 3: "third quartile", 4: "bottom quartile"}
    groups = [("top group (most confident)", df[df.rk <= N_TOP])]
    rest = df[df.rk > N_TOP]
    for q, g in rest.groupby("q", sort=True):
        groups.append(
            (f"{names.get(int(q), q)}: p in [{g.q_lo.iloc[0]:.3f}, {g.q_hi.iloc[0]:.3f}]", g)
        )
    out = [note(
        f"{model} (the model with the lowest NLL per character): its probability of the token that "
        f"predicts each tagged span (outlined; {cap} spans underlined). White = 1, red = 0."
    )]  # fmt: skip
    for label, g in groups:
        if g.empty:
            continue
        out.append(f'<div class="group">{esc(label)}</div>')
        for r in g.itertuples():
            win = (int(r.tag_start) - WINDOW_BEFORE, int(r.tag_end) + WINDOW_AFTER)
            v = ctx.story(
                r.corpus, int(r.story), model, tags=cap, pos=int(r.pos), window=win, show_head=False
            )
            out.append(
                f'<div class="ex-label">p {r.p:.3f} · rank {r.rank} · {esc(r.corpus)} story {r.story}</div>{v.body}'
            )
    return "\n".join(out)


def _distributions(ctx: Ctx, cap: str) -> str:
    f, out = ctx.f, []
    if f.tagged:
        d = f.df(
            "SELECT model, p FROM cg_tagged WHERE capability = ? "
            "QUALIFY row_number() OVER (PARTITION BY model ORDER BY hash(corpus, story, tag_start)) <= 3000",
            [cap],
        )
        if len(d):
            fig = figures.boxes(
                d, "p", "p of the tagged token, per model", "probability", f.model_names
            )
            out.append(ctx.figure(f"dist-corpus-{cap}", fig, (5.0, 3.0), detail=True))
    if f.has("results"):
        r = metrics.results_frame(f)
        r = r[r.capability == cap].dropna(subset=["ld"])
        if len(r):
            title = "gym: logit diff at the decision token (answer - strongest wrong)"
            fig = figures.boxes(r, "ld", title, "logit_diff_at_decision", f.model_names,
                                chance=0.0)  # fmt: skip
            out.append(ctx.figure(f"dist-gym-{cap}", fig, (5.0, 3.0), detail=True))
    return f'<div class="grid2">{"".join(out)}</div>' if out else ""


def card(ctx: Ctx, cap: str, info: CapabilityInfo, m: pd.DataFrame, is_open: bool) -> str:
    f = ctx.f
    params = {x: f.params(x) for x in f.model_names}
    who = who_has_it(m, cap, params)
    have = [str(x) for x in who[who["has it"] == "yes"].model] if len(who) else []
    badge = f'<span class="badge {"yes" if have else "no"}">{"has it: " + esc(", ".join(have)) if have else "no model has it"}</span>'
    solved = heuristic_tasks(m, cap)
    if solved:
        badge += f'<span class="badge no">a heuristic solves: {esc(", ".join(solved))}</span>'
    parts = [
        f'<details class="card" id="{anchor(cap)}"{" open" if is_open else ""}><summary>{esc(cap)}{badge}</summary>'
    ]
    parts.append(
        f'<p class="def"><b>Definition.</b> {esc(plain(info.definition)) or "<i>not registered</i>"}</p>'
    )
    parts.append(
        f'<p class="def"><b>Hypothesis.</b> {esc(plain(info.hypothesis)) or "<i>none stated</i>"}</p>'
    )
    if info.tasks:
        parts.append(note("Gym tasks: " + ", ".join(info.tasks)))
    parts += [
        "<h4>Which models have it</h4>",
        ctx.table(f"who-{cap}", who, f"Which models have {cap}"),
    ]
    parts.append(
        note(
            "Has it: the 95% interval (the task's bootstrap interval; Wilson when pooled over "
            "several tasks of the capability) of gym "
            "beats-wrong (the answer beats every wrong answer at the first token where they "
            "differ) lies above its chance level, 1 / (1 + wrong answers); tasks without wrong "
            "answers use top-1 over the vocabulary and, like corpus top-1 accuracy on tagged "
            "positions (used without gym results), the bar 0.5."
        )
    )
    parts += [
        "<h4>Metric distributions</h4>",
        _distributions(ctx, cap) or nodata("scores on this capability", ctx.how("tags")),
    ]
    parts.append("<h4>Examples by confidence</h4>")
    parts.append(
        _examples(ctx, cap, f.ref_model)
        if f.tagged and f.ref_model
        else nodata("tagged examples", ctx.how("tags"))
    )
    parts.append("<h4>Non-uniform slices</h4>")
    gs, cs = gym_slices(f, cap), corpus_slices(f, cap)
    if len(gs):
        parts.append(
            note(
                f"Gym: slices whose metric differs most from the rest of their task (|Cohen's d| >= {MIN_EFFECT})."
            )
        )
        parts.append(ctx.table(f"slices-gym-{cap}", gs, f"Non-uniform slices of {cap} (gym)"))
    if len(cs):
        parts.append(
            note(
                f"Corpus: tag attributes where {f.ref_model}'s top-1 accuracy differs from its overall by more than two standard errors."
            )
        )
        parts.append(ctx.table(f"slices-corpus-{cap}", cs, f"Non-uniform slices of {cap} (corpus)"))
    if not (len(gs) or len(cs)):
        parts.append(note("No slice stands out (or there is no metadata to slice by)."))
    parts.append("<h4>Red-team results</h4>")
    rt = redteam(f, cap)
    if len(rt):
        parts.append(
            note(
                "Beats-wrong (top-1 over the vocabulary for tasks without wrong answers) on each "
                "perturbation's variants, and in brackets the change from their base examples."
            )
        )
        wide = redteam_table(rt, f.model_names)
        parts.append(ctx.table(f"redteam-{cap}", wide, f"Red-team results for {cap}"))
    else:
        parts.append(nodata("red-team (perturbed) gym results", ctx.how("results")))
    parts.append("</details>")
    return "\n".join(parts)


def cards(ctx: Ctx) -> Section:
    f = ctx.f
    caps = f.capabilities
    if not caps:
        return Section("cards", "Capability cards", nodata("capabilities", ctx.how("tags")))
    infos = describe(f, caps)
    m = metrics.capability_matrix(f)
    index = " · ".join(f'<a href="#{anchor(c)}">{esc(c)}</a>' for c in caps)
    body = [f'<p class="note">{index}</p>']
    body += [card(ctx, c, infos[c], m, i == 0) for i, c in enumerate(caps)]
    return Section("cards", "Capability cards", "\n".join(body))
