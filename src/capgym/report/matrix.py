"""Models x capabilities: heat-maps with confidence intervals on hover, and scaling plots.

Gym beats-wrong (the answer beats every wrong answer where they first differ; chance
1 / (1 + wrong answers); top-1 over the vocabulary for tasks without wrong answers), the
gym's whole-answer greedy accuracy (fair across tokenizers) and corpus top-1 accuracy on
tagged positions (from ``tags`` x ``scores``) are shown side by side, never mixed in one
cell.

>>> import tempfile
>>> from capgym.view.demo import demo_run
>>> from capgym.report.exports import Exporter
>>> from capgym.report.frame import Frame
>>> matrix(Ctx(Frame(demo_run(tempfile.mkdtemp())), Exporter(None, ""))).id
'matrix'
"""

from __future__ import annotations

import pandas as pd

from capgym.report import figures, metrics
from capgym.report.context import Ctx
from capgym.report.frame import Frame
from capgym.report.html import Section, nodata, note
from capgym.tasks.baselines import SOLVES

LABELS = {
    "gym": (
        "Gym tasks: beats-wrong",
        "beats_wrong (answer beats every wrong answer where they first differ)",
    ),
    "greedy": (
        "Gym tasks: whole answer greedy",
        "whole-answer greedy accuracy (every answer token ranked first)",
    ),
    "corpus": ("Corpus: top-1 accuracy on tagged positions", "top-1 accuracy on tagged positions"),
}


COLORBARS = {"gym": "beats_wrong", "greedy": "greedy_accuracy", "corpus": "top-1 (tagged)"}


TASK_NOTE = (
    "Each model's cell: the task's headline score (beats-wrong: the answer beats every wrong "
    "answer at the first token where they differ; top1_vocab for tasks without wrong answers) "
    "with its 95% bootstrap interval, then the mean logit difference at the decision token "
    "(logit(answer) - logit(strongest wrong answer); 0 at chance). Trivial baselines read no "
    "model: among the candidates pick the most recent in the prompt (recency), the most "
    "frequent in the prompt (frequency) or the most frequent in the reference corpus "
    "(unigram), ties at random. Single-token contrasts: the share of examples where the answer "
    "and every wrong answer are one token each beyond their shared prefix, for each model's "
    "tokenizer (a range when the models' tokenizers differ; hover the heat-map for each). "
    f"A task whose best baseline reaches {SOLVES} is flagged: its score "
    "may measure that heuristic. Discarded: perturbed variants dropped as invalid (not "
    "well-formed, or the answer no longer determined)."
)


def wide(m: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """The long matrix as a paper table: one row per capability, one column per model
    (in ``order``), ``score [lo, hi]`` cells."""
    cell = m.assign(
        cell=[
            f"{s:.2f} [{lo:.2f}, {hi:.2f}]" for s, lo, hi in zip(m.score, m.lo, m.hi, strict=True)
        ]
    )
    w = cell.pivot_table(index="capability", columns="model", values="cell", aggfunc="first")
    w = w.reindex(columns=order)
    if "chance" in m and m.chance.notna().any():
        w.insert(0, "chance", m.groupby("capability").chance.mean().round(2))
    return w.reset_index().rename_axis(columns=None)


def pool_tasks(ms: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, capability).  A capability with one task keeps that task's
    interval; several tasks are pooled (Wilson interval over all their examples, chance
    weighted by examples); beats-wrong tasks are pooled apart from top-1 ones, and a
    capability with any beats-wrong task shows only those."""
    cols = ["model", "capability", "score", "lo", "hi", "n", "detail", "chance", "metric"]
    if "metric" not in ms:
        ms = ms.assign(metric="")
    else:
        bw = ms.groupby(["model", "capability"]).metric.transform(
            lambda x: (x == "beats_wrong").any()
        )
        ms = ms[~bw | (ms.metric == "beats_wrong")]
    if "chance" not in ms:
        ms = ms.assign(chance=float("nan"))
    size = ms.groupby(["model", "capability"]).task.transform("size")
    single = ms[size == 1][cols]
    multi = ms[size > 1]
    if multi.empty:
        return single.reset_index(drop=True)
    multi = multi.assign(k=multi.score * multi.n, cn=multi.chance * multi.n)
    g = multi.groupby(["model", "capability"], as_index=False)
    pooled = g.agg(k=("k", "sum"), n=("n", "sum"), cn=("cn", "sum"), c_ok=("chance", "count"),
                   detail=("detail", " | ".join), metric=("metric", "first"))  # fmt: skip
    pooled["score"] = pooled.k / pooled.n
    pooled["chance"] = (pooled.cn / pooled.n).where(pooled.c_ok > 0)
    pooled = metrics.with_ci(pooled, "k", "n")[cols]
    return pd.concat([single, pooled], ignore_index=True)


def mark_metric(ms: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Capabilities scored by another metric than the map's get it in their label, so one
    colour bar never names two metrics.

    >>> ms = pd.DataFrame({"capability": ["a", "b"], "metric": ["beats_wrong", "top1_vocab"]})
    >>> mark_metric(ms, "beats_wrong").capability.tolist()
    ['a', 'b [top1_vocab]']
    """
    other = ms.metric.notna() & (ms.metric != "") & (ms.metric != metric)
    label = ms.capability.where(~other, ms.capability + " [" + ms.metric.astype(str) + "]")
    return ms.assign(capability=label)


def _heuristic(r: pd.Series) -> str:
    vals = {b.removeprefix("baseline_"): r[b] for b in metrics.BASELINES if pd.notna(r[b])}
    if not vals:
        return ""
    name = max(vals, key=lambda k: vals[k])
    return f"{name} {vals[name]:.2f}"


def task_table(ts: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """One row per gym task: its headline metric and chance level, each model's score with
    its 95% interval and mean decision logit difference, the best trivial baseline, a flag
    where a heuristic solves the task, and the perturbed variants discarded as invalid.

    >>> ts = pd.DataFrame({"model": ["m"], "task": ["t"], "metric": ["beats_wrong"],
    ...     "chance": [0.5], "score": [0.85], "lo": [0.8], "hi": [0.9], "mean_ld": [2.0],
    ...     "baseline_recency": [0.98], "baseline_frequency": [0.5], "baseline_unigram": [0.5],
    ...     "solved_by_heuristic": [1.0], "n_discarded": [3.0], "n": [100]})
    >>> task_table(ts, ["m"]).iloc[0].tolist()
    ['t', 'beats_wrong', '0.50', '0.85 [0.80, 0.90] · +2.00', '', 'recency 0.98', 'yes', '3']
    """
    rows = []
    for task, g in ts.groupby("task", sort=True):
        first = g.iloc[0]
        row = {"task": task, "metric": first.metric,
               "chance": f"{first.chance:.2f}" if pd.notna(first.chance) else ""}  # fmt: skip
        for m in order:
            x = g[g.model == m]
            if x.empty:
                row[m] = ""
                continue
            r = x.iloc[0]
            ld = f" · {r.mean_ld:+.2f}" if pd.notna(r.mean_ld) else ""
            row[m] = f"{r.score:.2f} [{r.lo:.2f}, {r.hi:.2f}]{ld}"
        sv = g["single"].dropna() if "single" in g else pd.Series(dtype=float)
        lo_s, hi_s = (f"{sv.min():.0%}", f"{sv.max():.0%}") if len(sv) else ("", "")
        row["single-token contrasts"] = lo_s if lo_s == hi_s else f"{lo_s}–{hi_s}"
        row["best heuristic"] = _heuristic(first)
        row["solved by heuristic"] = "yes" if first.solved_by_heuristic == 1 else ""
        row["discarded"] = str(int(first.n_discarded)) if pd.notna(first.n_discarded) else ""
        rows.append(row)
    return pd.DataFrame(rows)


def recency_table(r: pd.DataFrame, order: list[str], min_n: int = 10) -> pd.DataFrame:
    """Beats-wrong per task split by which candidate occurs last in the prompt (the
    example's ``recency`` meta: the answer or a wrong answer), for the tasks with at least
    ``min_n`` examples on each side: a model that only copies the most recent name scores
    1 on one side and 0 on the other.

    >>> r = pd.DataFrame({"model": "m", "task": "t", "beats": [1.0] * 10 + [0.0] * 10,
    ...                   "meta": ['{"recency": "answer"}'] * 10 + ['{"recency": "wrong"}'] * 10})
    >>> recency_table(r, ["m"]).values.tolist()
    [['t', 'answer', 10, '1.00'], ['t', 'wrong', 10, '0.00']]
    """
    rec = [metrics.parse_json(m).get("recency") for m in r["meta"]]
    d = r.assign(recency=rec).dropna(subset=["beats"])
    d = d[d.recency.isin(["answer", "wrong"])]
    if d.empty:
        return pd.DataFrame()
    counts = d.groupby(["task", "recency", "model"]).size().groupby(["task", "recency"]).max()
    both = counts.unstack().dropna()
    keep = both[(both["answer"] >= min_n) & (both["wrong"] >= min_n)].index
    d = d[d.task.isin(keep)]
    if d.empty:
        return pd.DataFrame()
    mean = d.groupby(["task", "recency", "model"]).beats.mean().unstack("model")
    mean = mean.reindex(columns=[m for m in order if m in mean.columns])
    out = mean.map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    out.insert(0, "n", counts.reindex(out.index).astype(int))
    return out.reset_index().rename_axis(columns=None)


def greedy_rows(m: pd.DataFrame) -> pd.DataFrame:
    """The gym rows scored by whole-answer greedy accuracy (Wilson intervals)."""
    g = m[(m.source == "gym") & m.greedy.notna()]
    if g.empty:
        return g
    g = g.assign(score=g.greedy, k=g.greedy * g.n, chance=float("nan"))
    return metrics.with_ci(g, "k", "n").drop(columns="k")


def tokenizer_note(f: Frame, order: list[str]) -> str:
    """Why the greedy map is there: first tokens differ in size across tokenizers."""
    toks = f.models.set_index("model").tokenizer.reindex(order).dropna()
    base = (
        "Whole answer greedy: every token of the answer is the model's first choice, so an "
        "answer counts the same whatever the tokenizer splits it into."
    )
    if toks.nunique() > 1:
        return (
            f"These models use {toks.nunique()} different tokenizers, so the first token of an "
            "answer is a whole word for some and a letter for others (character-level models): "
            "compare first-token accuracy across tokenizers with care; this map does not depend "
            "on the split. " + base
        )
    return base


def matrix(ctx: Ctx) -> Section:
    """The models x capabilities heat-maps and the scaling plots."""
    f = ctx.f
    m = metrics.capability_matrix(f)
    if m.empty:
        hint = nodata(
            "capability tags or gym results", f"{ctx.how('tags')}` or `{ctx.how('results')}"
        )
        return Section("matrix", "Models × capabilities", hint)
    params = {name: f.params(name) for name in f.model_names}
    order = [x for x in f.model_names if x in set(m.model)]
    parts = []
    for source in ("gym", "greedy", "corpus"):
        ms = greedy_rows(m) if source == "greedy" else m[m.source == source]
        title, label = LABELS[source]
        if source == "greedy" and ms.empty:  # a gym summary without greedy figures
            continue
        parts.append(f"<h3>{title}</h3>")
        if source == "greedy":
            parts.append(note(tokenizer_note(f, order)))
        if ms.empty:
            what = "gym results" if source == "gym" else "capability tags"
            parts.append(nodata(what, ctx.how("results" if source == "gym" else "tags")))
            continue
        if source != "corpus":  # one column per task would repeat capabilities with several tasks
            ms = pool_tasks(ms)
        if source == "gym":
            ms = mark_metric(ms, "beats_wrong")
        parts.append(
            ctx.figure(
                f"heatmap-{source}",
                figures.heatmap(ms, order, title, COLORBARS[source]),
                (7.0, 1.4 + 0.35 * len(order)),
            )
        )
        parts.append(ctx.table(f"matrix-{source}", wide(ms, order), title))
        if source == "gym":
            parts.append("<h4>Gym tasks: beats-wrong per task, chance and trivial baselines</h4>")
            parts.append(note(TASK_NOTE))
            ts = metrics.task_scores(f)
            parts.append(ctx.table("gym-tasks", task_table(ts, order), "Gym tasks"))
            rt = recency_table(metrics.results_frame(f), order) if f.has("results") else None
            if rt is not None and len(rt):
                parts.append(
                    "<h4>Recency slice: beats-wrong by which candidate is most recent</h4>"
                )
                parts.append(note(
                    "Each task's examples split by the candidate that occurs last in the prompt: "
                    "the answer, or a wrong answer. A model that copies the most recent name "
                    "scores near 1 on the first row and near 0 on the second; a task whose rows "
                    "are unbalanced rewards that heuristic (see its recency baseline)."
                ))  # fmt: skip
                parts.append(ctx.table("gym-recency", rt, "Recency slice"))
        if source == "greedy":
            continue  # one scaling plot per kind of evidence is enough
        if ms.model.map(params).notna().sum() >= 2:
            fig = figures.scaling(ms, params, f"Scaling: {label} vs parameters",
                                  COLORBARS[source])  # fmt: skip
            parts.append(ctx.figure(f"scaling-{source}", fig, (8.0, 3.6)))
        else:
            parts.append(
                note("Scaling plot needs at least two models with known parameter counts.")
            )
    parts.append(note(
        "Hover a cell for the 95% interval (Wilson for pooled scores), the chance level, the "
        "number of examples, the mean logit difference at the decision token and top-1 over the "
        "vocabulary. Gym beats-wrong is the gym's: the share of a task's examples (red-team "
        "variants included) whose answer beats every wrong answer at the first token where they "
        "differ, teacher-forced along their shared prefix; chance is 1 / (1 + wrong answers). "
        "Tasks without wrong answers are scored by top-1 over the vocabulary. A score in "
        "brackets: its interval does not clear chance (0.5 where there is none); a capability "
        "scored by another metric than the map's names it in square brackets. Scaling plots: "
        "parameters on a log axis; dashed lines mark chance."
    ))  # fmt: skip
    return Section("matrix", "Models × capabilities", "\n".join(parts))
