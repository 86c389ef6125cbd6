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
* Gym task score (``beats_wrong``): as the gym defines it (:mod:`capgym.evaluate.forward`),
  the share of a task's examples with wrong answers (red-team variants included) whose
  answer beats every wrong answer at the first token where the candidates differ
  (teacher-forced along their shared prefix); chance = the mean of 1 / (1 + number of
  wrong answers).  A task without wrong answers is scored by ``top1_vocab`` (the answer's
  first non-space token ranked first over the whole vocabulary; chance about 1 / vocab).
  ``mean_ld`` is the mean ``logit_diff_at_decision`` (0 at chance).  Intervals from the
  gym's ``task_summary`` (bootstrap), or Wilson / normal when computed here from ``results``.

>>> lo, hi = wilson(8, 10)
>>> round(lo, 3), round(hi, 3)
(0.49, 0.943)
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from capgym.evaluate.stats import Z, wilson
from capgym.explain import EXPLAINERS_ONLY, LAYERS, is_current
from capgym.report.frame import Frame

__all__ = ["Z", "wilson"]  # the report's intervals are the gym's
from capgym.store.confident import CONFIDENT, confident_sql


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
    coverage layers (``named capabilities``, ``named + explainers``, ``named + explainers +
    word-completion``), ``explainers only``, ``any capability``, ``any explainer`` and
    ``any`` (straight from :func:`coverage`)."""
    cov = coverage(f)
    cov = cov[cov["current"]]
    rows = []
    for model, g in cov.groupby("model", sort=False):
        tot = g[g["kind"] == "total"].set_index("name")
        first = g.iloc[0]
        row = {"model": model, "corpora": ", ".join(first["corpora"]),
               "threshold": first["threshold"], "n_confident": int(first["n_confident"]),
               "mass_confident": first["mass_confident"]}  # fmt: skip
        for name in (*LAYERS, EXPLAINERS_ONLY, "any capability", "any explainer", "any"):
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


HEADLINE = {
    "beats_wrong": "beats-wrong: the answer beats every wrong answer where they first differ",
    "top1_vocab": "top-1 over the vocabulary: the answer's first token ranked first",
}


def _num(cols: set[str], name: str) -> str:
    """A results column as SQL (NaN as NULL), NULL where an older run lacks it."""
    if name not in cols:
        return "CAST(NULL AS DOUBLE)"
    return f"CASE WHEN isnan({name}::DOUBLE) THEN NULL ELSE {name}::DOUBLE END"


def results_frame(f: Frame) -> pd.DataFrame:
    """Gym results, one row per (model, example): ``beats`` (beats_wrong; NaN without wrong
    answers or a decision token), ``top1`` (top1_vocab), ``ld`` (logit_diff_at_decision),
    ``chance`` (1 / (1 + wrong answers), NaN without), ``ok`` (the headline success of the
    example's task: ``beats`` where the task has wrong answers, else ``top1``),
    ``capability``, ``perturbation`` and the raw meta."""

    def make() -> pd.DataFrame:
        cols = set(f.columns("results"))
        nw = "n_wrong" if "n_wrong" in cols else "NULL"
        df = f.df(
            f"SELECT model, task, example_id, (rank = 0)::DOUBLE AS top1, "
            f"{_num(cols, 'beats_wrong')} AS beats, {_num(cols, 'logit_diff_at_decision')} AS ld, "
            f"CASE WHEN {nw} > 0 THEN 1.0 / (1 + {nw}) END AS chance, prob, "
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
        contrast = df.groupby("task").chance.transform(lambda c: c.notna().any())
        df["metric"] = np.where(contrast, "beats_wrong", "top1_vocab")
        df["ok"] = np.where(contrast, df.beats, df.top1)
        return df.drop(columns=["cap"])

    return f.memo("results_frame", make)


BASELINES = ("baseline_recency", "baseline_frequency", "baseline_unigram")
TASK_COLS = ["model", "task", "capability", "metric", "n", "k", "score", "lo", "hi", "chance",
             "mean_ld", "ld_lo", "ld_hi", "top1", "greedy", *BASELINES, "baseline_best",
             "solved_by_heuristic", "n_discarded", "discarded", "single"]  # fmt: skip
SUMMARY_COLS = {"model", "task", "n", "beats_wrong", "beats_wrong_lo", "beats_wrong_hi"}


def _from_task_summary(f: Frame) -> pd.DataFrame:
    """The gym's own figures (bootstrap intervals) from its ``task_summary`` table."""
    cols = set(f.columns("task_summary"))

    def col(name: str) -> str:
        return f"CAST({name} AS DOUBLE)" if name in cols else "CAST(NULL AS DOUBLE)"

    cap = "capability" if "capability" in cols else "NULL AS capability"  # keeps its name
    df = f.df(
        f"SELECT model, task, {cap}, n, {col('n_contrast')} AS n_contrast, "
        f"{col('n_no_decision')} AS n_no_decision, "
        f"beats_wrong, beats_wrong_lo, beats_wrong_hi, {col('chance')} AS chance, "
        f"{col('top1_vocab')} AS top1, {col('top1_vocab_lo')} AS top1_lo, "
        f"{col('top1_vocab_hi')} AS top1_hi, {col('mean_logit_diff_at_decision')} AS mean_ld, "
        f"{col('mean_logit_diff_at_decision_lo')} AS ld_lo, "
        f"{col('mean_logit_diff_at_decision_hi')} AS ld_hi, "
        f"{col('greedy_accuracy')} AS greedy, {col('single_token_share')} AS single, "
        + ", ".join(
            f"{col(b)} AS {b}" for b in (*BASELINES, "baseline_best", "solved_by_heuristic")
        )
        + f", {col('n_perturbations_discarded')} AS n_discarded, "
        + ("perturbations_discarded" if "perturbations_discarded" in cols else "NULL")
        + " AS discarded FROM task_summary ORDER BY task, model"
    )
    reg = task_capabilities()
    df["capability"] = [
        c if isinstance(c, str) and c else reg.get(t, t)
        for c, t in zip(df.capability, df.task, strict=True)
    ]
    contrast = df.beats_wrong.notna()
    df["metric"] = np.where(contrast, "beats_wrong", "top1_vocab")
    df["score"] = df.beats_wrong.where(contrast, df.top1)
    df["lo"] = df.beats_wrong_lo.where(contrast, df.top1_lo)
    df["hi"] = df.beats_wrong_hi.where(contrast, df.top1_hi)
    decided = (df.n_contrast.fillna(df.n) - df.n_no_decision.fillna(0)).where(contrast, df.n)
    df["n"] = decided
    df["k"] = (df.score * df.n).round()
    return df[TASK_COLS]


def _from_results(f: Frame) -> pd.DataFrame:
    r = results_frame(f).dropna(subset=["ok"])
    g = r.groupby(["model", "task", "capability", "metric"], sort=True)
    df = g.agg(
        n=("ok", "size"),
        k=("ok", "sum"),
        chance=("chance", "mean"),
        top1=("top1", "mean"),
        mean_ld=("ld", "mean"),
        sd=("ld", "std"),
        n_ld=("ld", "count"),
    )
    df = df.reset_index()
    df["score"] = df.k / df.n
    half = Z * df.sd.fillna(0) / np.sqrt(df.n_ld.clip(lower=1))
    df["ld_lo"], df["ld_hi"] = df.mean_ld - half, df.mean_ld + half
    # per-example greedy flags, baselines and discards live in the gym's summary only
    for c in (
        "greedy",
        *BASELINES,
        "baseline_best",
        "solved_by_heuristic",
        "n_discarded",
        "single",
    ):
        df[c] = np.nan
    df["discarded"] = None
    return with_ci(df, "k", "n")[TASK_COLS]


def task_scores(f: Frame) -> pd.DataFrame:
    """Per (model, task): the headline ``metric`` (``beats_wrong``, or ``top1_vocab`` for a
    task without wrong answers) as ``score`` over ``n`` examples with its 95% interval and
    ``chance`` level, the mean decision logit difference with its interval, ``top1``
    (top1_vocab), ``greedy``, the trivial baselines of :mod:`capgym.tasks.baselines`
    with ``solved_by_heuristic``, and the perturbed variants discarded as invalid.  From the gym's ``task_summary`` when the run has it
    (bootstrap intervals), else computed here from ``results`` (Wilson / normal)."""

    def make() -> pd.DataFrame:
        if f.has("task_summary") and SUMMARY_COLS <= set(f.columns("task_summary")):
            return _from_task_summary(f)
        if f.has("results"):
            return _from_results(f)
        return pd.DataFrame(columns=TASK_COLS)

    return f.memo("task_scores", make)


def capability_matrix(f: Frame) -> pd.DataFrame:
    """Long table: model, capability, source ('gym' or 'corpus'), score, lo, hi, n, detail,
    task, greedy, metric, chance (NaN where there is none: corpus rows and top-1 tasks) and
    solved_by_heuristic."""
    rows = []
    for r in task_scores(f).itertuples():
        detail = (f"task {r.task}; {r.metric} (chance {r.chance:.2f}); mean logit diff at "
                  f"decision {r.mean_ld:+.2f} [{r.ld_lo:+.2f}, {r.ld_hi:+.2f}]; "
                  f"top1_vocab {r.top1:.2f}")  # fmt: skip
        if pd.notna(r.greedy):
            detail += f"; whole answer greedy {r.greedy:.2f}"
        if pd.notna(r.single):
            detail += f"; single-token contrasts {r.single:.0%}"
        if r.solved_by_heuristic == 1:
            detail += f"; a trivial baseline solves it (best {r.baseline_best:.2f})"
        rows.append((r.model, r.capability, "gym", r.score, r.lo, r.hi, r.n, detail, r.task,
                     r.greedy, r.metric, r.chance, r.solved_by_heuristic))  # fmt: skip
    for r in tag_scores(f).itertuples():
        detail = f"top-1 on tagged positions; mean p {r.mean_p:.3f}"
        rows.append((r.model, r.capability, "corpus", r.acc, r.lo, r.hi, r.n, detail, "", np.nan,
                     "top1_tagged", np.nan, np.nan))  # fmt: skip
    cols = ["model", "capability", "source", "score", "lo", "hi", "n", "detail", "task",
            "greedy", "metric", "chance", "solved_by_heuristic"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def has_it(m: pd.DataFrame) -> pd.Series:
    """The rule behind "which models have it": the score's 95% interval lies above the
    chance level (gym beats-wrong: the candidates' chance; without one, 0.5)."""
    return m.lo > m.chance.fillna(0.5)


def parse_json(s: object) -> dict[str, object]:
    """A JSON object from a table cell (anything else gives ``{}``)."""
    if not isinstance(s, str) or not s:
        return {}
    try:
        d = json.loads(s)
    except ValueError:
        return {}
    return d if isinstance(d, dict) else {}
