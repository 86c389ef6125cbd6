"""The numbers of the atlas, each one query over the run's views.

Definitions (also printed in the report):

* NLL per token / per character: minus the summed log-probability of the actual tokens,
  over the number of predicted tokens / of story characters.
* Confident-correct: rank 0 and p >= 0.5.  Coverage: the share of confident-correct
  positions that a tag overlaps or an explainer names.
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

from capgym.report.frame import CONFIDENT, Frame

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
        """
        WITH ps AS (
            SELECT model, corpus, story, count(*) AS n, -sum(logprob) AS nll,
                   count(*) FILTER (WHERE rank = 0) AS n1,
                   count(*) FILTER (WHERE rank = 0 AND logprob >= ln(?)) AS nc
            FROM scores GROUP BY ALL)
        SELECT model, corpus, count(*) AS n_stories, sum(n) AS n_tokens,
               sum(length(s.text)) AS n_chars, sum(nll) / sum(n) AS nll_per_token,
               sum(nll) / sum(length(s.text)) AS nll_per_char,
               sum(n1) / sum(n) AS top1, sum(nc) / sum(n) AS confident
        FROM ps JOIN stories s USING (corpus, story) GROUP BY ALL ORDER BY corpus, model
        """,
        [CONFIDENT],
    ))  # fmt: skip


def coverage(f: Frame) -> pd.DataFrame | None:
    """Per model: confident-correct positions and the shares tags / explainers cover."""
    has_tags, has_ex = f.has("tags"), f.has("explains")
    if not (has_tags or has_ex):
        return None
    parts, cols = [], ["c.model", "count(*) AS n_confident"]
    if has_tags:
        parts.append(
            """tg AS (SELECT DISTINCT c.model, c.corpus, c.story, c.pos FROM conf c JOIN tags g
               ON g.corpus = c.corpus AND g.story = c.story
               AND c.char_start < greatest(g.char_end, g.char_start + 1)
               AND g.char_start < greatest(c.char_end, c.char_start + 1))"""
        )
        cols.append("avg((tg.pos IS NOT NULL)::INT) AS by_tags")
    if has_ex:
        parts.append("ex AS (SELECT DISTINCT model, corpus, story, pos FROM explains)")
        cols.append("avg((ex.pos IS NOT NULL)::INT) AS by_explainers")
    covered = " OR ".join(
        x for x, h in (("tg.pos IS NOT NULL", has_tags), ("ex.pos IS NOT NULL", has_ex)) if h
    )
    cols.append(f"avg(({covered})::INT) AS covered")
    joins = "".join(
        f" LEFT JOIN {t} USING (model, corpus, story, pos)"
        for t, h in (("tg", has_tags), ("ex", has_ex))
        if h
    )
    sql = (
        "WITH conf AS (SELECT model, corpus, story, pos, char_start, char_end FROM scores "
        f"WHERE rank = 0 AND logprob >= ln(?)), {', '.join(parts)} "
        f"SELECT {', '.join(cols)} FROM conf c{joins} GROUP BY c.model ORDER BY c.model"
    )
    return f.memo("coverage", lambda: f.df(sql, [CONFIDENT]))


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
    """Task id -> capability from the gym's registry (empty if the gym is not installed)."""
    try:
        from capgym.tasks.registry import list_tasks
    except ImportError:
        return {}
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
]
SUMMARY_COLS = {"model", "task", "n", "accuracy", "accuracy_lo", "accuracy_hi"}


def _from_task_summary(f: Frame) -> pd.DataFrame:
    """The gym's own figures (bootstrap intervals) from its ``task_summary`` table."""
    cols = set(f.columns("task_summary"))
    ld = [
        c if c in cols else f"NULL AS {c}"
        for c in ("mean_logit_diff", "mean_logit_diff_lo", "mean_logit_diff_hi")
    ]
    cap = "capability" if "capability" in cols else "NULL AS capability"
    df = f.df(
        f"SELECT model, task, {cap}, n, accuracy AS acc, accuracy_lo AS lo, accuracy_hi AS hi, "
        f"{ld[0]} AS mean_ld, {ld[1]} AS ld_lo, {ld[2]} AS ld_hi FROM task_summary ORDER BY task, model"
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
        rows.append((r.model, r.capability, "gym", r.acc, r.lo, r.hi, r.n, detail, r.task))
    for r in tag_scores(f).itertuples():
        detail = f"top-1 on tagged positions; mean p {r.mean_p:.3f}"
        rows.append((r.model, r.capability, "corpus", r.acc, r.lo, r.hi, r.n, detail, ""))
    cols = ["model", "capability", "source", "score", "lo", "hi", "n", "detail", "task"]
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
