"""The numbers of the atlas, each one query over the run's views.

Definitions (also printed in the report):

* NLL per token / per character: minus the summed log-probability of the actual tokens,
  over the number of predicted tokens / of story characters.
* Confident-correct: rank 0 and p >= :data:`capgym.store.confident.CONFIDENT` (the rule of
  :mod:`capgym.explain.coverage`).
  Coverage: as ``capgym explain`` defines and stores it (the ``coverage`` table); the
  atlas reads it and never computes it.
* Corpus capability score: top-1 accuracy on the token that predicts each tagged span
  (the one holding its first character; for word completion the next piece).
* Gym task accuracy: as the gym defines it, the share of a task's examples (red-team
  variants included) whose answer's first token the model ranks first; intervals from
  the gym's ``task_summary`` (bootstrap), or Wilson when computed here from ``results``.

>>> lo, hi = wilson(8, 10)
>>> round(lo, 3), round(hi, 3)
(0.49, 0.943)
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from capgym.explain import is_current
from capgym.report.frame import Frame
from capgym.store.confident import CONFIDENT, confident_sql

Z = 1.96


def wilson(k: float, n: float, z: float = Z) -> tuple[float, float]:
    """95% Wilson score interval of ``k`` successes in ``n`` trials."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def with_ci(df: pd.DataFrame, k: str, n: str) -> pd.DataFrame:
    ci = [wilson(a, b) for a, b in zip(df[k], df[n], strict=True)]
    df["lo"] = [c[0] for c in ci]
    df["hi"] = [c[1] for c in ci]
    return df


def summary(f: Frame) -> pd.DataFrame:
    """Per (model, corpus): stories, tokens, characters, NLL per token and per char,
    top-1 accuracy and the confident-correct share."""
    return f.memo("summary", lambda: f.df(
        f"""
        WITH ps AS (
            SELECT model, corpus, story, count(*) AS n, -sum(logprob) AS nll,
                   count(*) FILTER (WHERE rank = 0) AS n1,
                   count(*) FILTER (WHERE rank = 0 AND {confident_sql("logprob", "?")}) AS nc
            FROM scores GROUP BY ALL)
        SELECT model, corpus, count(*) AS n_stories, sum(n) AS n_tokens,
               sum(length(s.text)) AS n_chars, sum(nll) / sum(n) AS nll_per_token,
               sum(nll) / sum(length(s.text)) AS nll_per_char,
               sum(n1) / sum(n) AS top1, sum(nc) / sum(n) AS confident
        FROM ps JOIN stories s USING (corpus, story) GROUP BY ALL ORDER BY corpus, model
        """,
        [CONFIDENT],
    ))  # fmt: skip


COVERAGE_COLS = ["model", "corpora", "threshold", "n_scored", "n_confident", "mass_confident",
                 "kind", "name", "n", "share", "mass", "share_mass", "n_exclusive",
                 "current"]  # fmt: skip


def coverage(f: Frame) -> pd.DataFrame:
    """The ``coverage`` table that ``capgym explain`` wrote (see
    :mod:`capgym.explain.tables`): one row per (model, kind, name), models in the
    frame's order, plus ``current``: whether the run's scores, tags and explains are
    unchanged since.  Empty for a run never explained.  The atlas computes no coverage
    of its own, so its numbers are explain's."""

    def make() -> pd.DataFrame:
        if not f.has("coverage"):
            return pd.DataFrame(columns=COVERAGE_COLS)
        df = f.df("SELECT * FROM coverage ORDER BY model, idx")
        df["corpora"] = [sorted(str(c) for c in cs) for cs in df["corpora"]]
        ok = {m: is_current(f.run, str(m)) for m in df["model"].unique()}
        df["current"] = df["model"].map(ok).astype(bool)
        order = {m: i for i, m in enumerate(f.model_names)}
        df["_o"] = df["model"].map(order).fillna(len(order))
        df = df.sort_values(["_o", "model", "idx"], kind="stable")
        return df[COVERAGE_COLS].reset_index(drop=True)

    return f.memo("coverage", make)


def coverage_summary(f: Frame) -> pd.DataFrame:
    """One row per explained model whose coverage is current: corpora, threshold, the
    confident-correct count and mass, and the covered share by count and by mass of
    ``any capability``, ``any explainer`` and ``any`` (straight from :func:`coverage`)."""
    cov = coverage(f)
    cov = cov[cov["current"]]
    rows = []
    for model, g in cov.groupby("model", sort=False):
        tot = g[g["kind"] == "total"].set_index("name")
        first = g.iloc[0]
        row = {"model": model, "corpora": ", ".join(first["corpora"]),
               "threshold": first["threshold"], "n_confident": int(first["n_confident"]),
               "mass_confident": first["mass_confident"]}  # fmt: skip
        for name in ("any capability", "any explainer", "any"):
            row[f"{name}: n"] = int(tot["n"].get(name, 0))
            row[f"{name}: share"] = tot["share"].get(name, float("nan"))
            row[f"{name}: share_mass"] = tot["share_mass"].get(name, float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


def tag_scores(f: Frame) -> pd.DataFrame:
    """Per (model, capability) over tagged positions: n, top-1 accuracy with CI, mean p."""

    def make() -> pd.DataFrame:
        if not f.tagged:
            return pd.DataFrame(
                columns=["model", "capability", "n", "k", "acc", "mean_p", "lo", "hi"]
            )
        df = f.df(
            "SELECT model, capability, count(*) AS n, count(*) FILTER (WHERE rank = 0) AS k, "
            "avg(p) AS mean_p FROM cg_tagged GROUP BY ALL ORDER BY capability, model"
        )
        df["acc"] = df.k / df.n
        return with_ci(df, "k", "n")

    return f.memo("tag_scores", make)


def task_capabilities() -> dict[str, str]:
    """Task id -> capability from the gym's registry (empty if a task file is broken)."""
    from capgym.tasks.registry import list_tasks

    try:
        t = list_tasks()
    except Exception:  # noqa: BLE001  (a broken user task file must not stop the report)
        return {}
    return {str(a): str(b) for a, b in zip(t["id"], t["capability"], strict=True) if b != "?"}


OK_SQL = "(rank = 0)::INT"  # the gym's accuracy: the answer's first token ranked first
LD_SQL = "CASE WHEN isnan(logit_diff) THEN NULL ELSE logit_diff END"


def results_frame(f: Frame) -> pd.DataFrame:
    """Gym results with ``ok``, ``capability`` and ``perturbation`` columns and parsed meta."""

    def make() -> pd.DataFrame:
        df = f.df(
            f"SELECT model, task, example_id, {OK_SQL} AS ok, {LD_SQL} AS ld, prob, "
            "json_extract_string(meta, '$.capability') AS cap, "
            "json_extract_string(meta, '$.perturbation') AS perturbation, "
            "json_extract_string(meta, '$.base_id') AS base_id, CAST(meta AS VARCHAR) AS meta "
            "FROM results"
        )
        reg = task_capabilities()
        df["capability"] = [
            c if isinstance(c, str) and c else reg.get(t, t)
            for c, t in zip(df.cap, df.task, strict=True)
        ]
        # the gym marks base examples "none"; results without the field are base examples too
        base = df.perturbation.isna() | df.perturbation.isin(["", "none"])
        df["perturbation"] = df.perturbation.where(~base, None)
        return df.drop(columns=["cap"])

    return f.memo("results_frame", make)


TASK_COLS = [
    "model",
    "task",
    "capability",
    "n",
    "k",
    "acc",
    "lo",
    "hi",
    "mean_ld",
    "ld_lo",
    "ld_hi",
    "greedy",
]
SUMMARY_COLS = {"model", "task", "n", "accuracy", "accuracy_lo", "accuracy_hi"}


def _from_task_summary(f: Frame) -> pd.DataFrame:
    """The gym's own figures (bootstrap intervals) from its ``task_summary`` table."""
    cols = set(f.columns("task_summary"))
    ld = [
        c if c in cols else "CAST(NULL AS DOUBLE)"
        for c in ("mean_logit_diff", "mean_logit_diff_lo", "mean_logit_diff_hi")
    ]
    cap = "capability" if "capability" in cols else "NULL AS capability"  # keeps its name
    greedy = "greedy_accuracy" if "greedy_accuracy" in cols else "NULL"
    df = f.df(
        f"SELECT model, task, {cap}, n, accuracy AS acc, accuracy_lo AS lo, accuracy_hi AS hi, "
        f"{ld[0]} AS mean_ld, {ld[1]} AS ld_lo, {ld[2]} AS ld_hi, "
        f"CAST({greedy} AS DOUBLE) AS greedy FROM task_summary ORDER BY task, model"
    )
    reg = task_capabilities()
    df["capability"] = [
        c if isinstance(c, str) and c else reg.get(t, t)
        for c, t in zip(df.capability, df.task, strict=True)
    ]
    df["k"] = (df.acc * df.n).round()
    return df[TASK_COLS]


def _from_results(f: Frame) -> pd.DataFrame:
    r = results_frame(f)
    g = r.groupby(["model", "task", "capability"], sort=True)
    df = g.agg(
        n=("ok", "size"),
        k=("ok", "sum"),
        mean_ld=("ld", "mean"),
        sd=("ld", "std"),
        n_ld=("ld", "count"),
    )
    df = df.reset_index()
    df["acc"] = df.k / df.n
    half = Z * df.sd.fillna(0) / np.sqrt(df.n_ld.clip(lower=1))
    df["ld_lo"], df["ld_hi"] = df.mean_ld - half, df.mean_ld + half
    df["greedy"] = np.nan  # per-example greedy flags live in the gym's summary only
    return with_ci(df, "k", "n")[TASK_COLS]


def task_scores(f: Frame) -> pd.DataFrame:
    """Per (model, task): n, accuracy with its 95% interval, mean logit difference with
    its interval.  From the gym's ``task_summary`` when the run has it (bootstrap
    intervals), else computed here from ``results`` (Wilson / normal intervals)."""

    def make() -> pd.DataFrame:
        if f.has("task_summary") and SUMMARY_COLS <= set(f.columns("task_summary")):
            return _from_task_summary(f)
        if f.has("results"):
            return _from_results(f)
        return pd.DataFrame(columns=TASK_COLS)

    return f.memo("task_scores", make)


def capability_matrix(f: Frame) -> pd.DataFrame:
    """Long table: model, capability, source ('gym' or 'corpus'), score, lo, hi, n, detail."""
    rows = []
    for r in task_scores(f).itertuples():
        detail = f"task {r.task}; mean logit diff {r.mean_ld:+.2f} [{r.ld_lo:+.2f}, {r.ld_hi:+.2f}]"
        if pd.notna(r.greedy):
            detail += f"; whole answer greedy {r.greedy:.2f}"
        rows.append(
            (r.model, r.capability, "gym", r.acc, r.lo, r.hi, r.n, detail, r.task, r.greedy)
        )
    for r in tag_scores(f).itertuples():
        detail = f"top-1 on tagged positions; mean p {r.mean_p:.3f}"
        rows.append((r.model, r.capability, "corpus", r.acc, r.lo, r.hi, r.n, detail, "", np.nan))
    cols = ["model", "capability", "source", "score", "lo", "hi", "n", "detail", "task",
            "greedy"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def has_it(m: pd.DataFrame) -> pd.Series:
    """The rule behind "which models have it": gym accuracy's interval above 0.5 (or,
    without gym results, top-1 accuracy on tagged positions above 0.5)."""
    return m.lo > 0.5


def parse_json(s: object) -> dict[str, object]:
    """A JSON object from a table cell (anything else gives ``{}``)."""
    if not isinstance(s, str) or not s:
        return {}
    try:
        d = json.loads(s)
    except ValueError:
        return {}
    return d if isinstance(d, dict) else {}
