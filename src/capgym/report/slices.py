"""Where a capability is not uniform: slices by metadata, and red-team perturbations.

A slice is one value of one key of a tag's ``attrs`` (corpus) or an example's ``meta``
(gym).  It is listed as non-uniform when its score differs from the model's overall
score on that capability by more than two standard errors.

>>> import pandas as pd
>>> df = pd.DataFrame({"model": ["m"] * 40, "ok": [1] * 20 + [0] * 20,
...                    "meta": ['{"d": "near"}'] * 20 + ['{"d": "far"}'] * 20})
>>> nonuniform(df, "meta", "ok", "gym").value.tolist()
['far', 'near']
"""

from __future__ import annotations

import math

import pandas as pd

from capgym.report.frame import Frame
from capgym.report.metrics import parse_json, results_frame, task_scores

SKIP_KEYS = {
    "capability",
    "perturbation",
    "base_id",
    "id",
    "example_id",
    "prompt",
    "answer",
    "text",
    "match",
}
MAX_VALUES = 20  # keys with more distinct values are identifiers, not slices
MIN_N = 5


def nonuniform(
    df: pd.DataFrame, json_col: str, metric: str, source: str, top: int = 10
) -> pd.DataFrame:
    """Slices of ``df`` (columns model, ``json_col``, ``metric``) that differ from their
    model's overall mean by more than two standard errors, largest first."""
    cols = ["source", "model", "key", "value", "n", "score", "overall", "z"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    metas = [parse_json(x) for x in df[json_col]]
    long = [
        (m, k, str(v), y)
        for m, d, y in zip(df.model, metas, df[metric], strict=True)
        for k, v in d.items()
        if k not in SKIP_KEYS and isinstance(v, (str, int, float, bool))
    ]
    if not long:
        return pd.DataFrame(columns=cols)
    kv = pd.DataFrame(long, columns=["model", "key", "value", "y"])
    nvals = kv.groupby("key").value.nunique()
    kv = kv[kv.key.isin(nvals[(nvals >= 2) & (nvals <= MAX_VALUES)].index)]
    overall = df.groupby("model")[metric].agg(["mean", "std"])
    g = kv.groupby(["model", "key", "value"]).y.agg(["size", "mean"]).reset_index()
    g = g[g["size"] >= MIN_N]
    rows = []
    for r in g.itertuples():
        mu, sd = overall.loc[r.model, "mean"], overall.loc[r.model, "std"]
        se = (sd if sd and not math.isnan(sd) else 0.5) / math.sqrt(r.size)
        z = (r.mean - mu) / max(se, 1e-9)
        if abs(z) > 2:
            rows.append((source, r.model, r.key, r.value, r.size, r.mean, mu, z))
    out = pd.DataFrame(rows, columns=cols)
    return (
        out.reindex(out.z.abs().sort_values(ascending=False).index).head(top).reset_index(drop=True)
    )


SLICE_COLS = {"model", "task", "field", "value", "n", "cohen_d"}
MIN_EFFECT = 0.5  # |Cohen's d| from which the gym's slices are listed


def gym_slices(f: Frame, capability: str, top: int = 10) -> pd.DataFrame:
    """The gym's uniformity analysis (``task_slices``) for the tasks of ``capability``,
    least uniform first; without that table, slices computed here from ``results``."""
    tasks = sorted(set(task_scores(f).query("capability == @capability").task))
    if not tasks:
        return pd.DataFrame()
    if f.has("task_slices") and SLICE_COLS <= set(f.columns("task_slices")):
        cols = set(f.columns("task_slices"))
        extra = [
            c for c in ("metric", "mean_slice", "mean_rest", "acc_slice", "acc_rest") if c in cols
        ]
        sel = ", ".join(["model", "task", "field", "value", "n", *extra, "cohen_d"])
        return f.df(
            f"SELECT {sel} FROM task_slices WHERE list_contains(?, task) AND abs(cohen_d) >= ? "
            "ORDER BY abs(cohen_d) DESC, n DESC, model, task, field, value LIMIT ?",
            [tasks, MIN_EFFECT, top],
        )
    r = results_frame(f).dropna(subset=["ok"])
    return nonuniform(r[r.capability == capability], "meta", "ok", "gym", top)


def corpus_slices(f: Frame, capability: str, top: int = 10) -> pd.DataFrame:
    """Slices of the tagged positions by the tag's attributes (reference model, top-1)."""
    if not (f.tagged and f.ref_model):
        return pd.DataFrame()
    t = f.df(
        "SELECT model, attrs, (rank = 0)::INT AS ok FROM cg_tagged WHERE capability = ? AND model = ? "
        "ORDER BY corpus, story, tag_start LIMIT 50000",
        [capability, f.ref_model],
    )
    return nonuniform(t, "attrs", "ok", "corpus", top)


def redteam(f: Frame, capability: str) -> pd.DataFrame:
    """Per model and perturbation: the headline score (beats-wrong, or top-1 over the
    vocabulary for tasks without wrong answers) on the perturbed examples, on their base
    examples (paired through ``base_id`` when the meta has it), and the change."""
    cols = ["model", "perturbation", "n", "acc", "base_acc", "delta"]
    if not f.has("results"):
        return pd.DataFrame(columns=cols)
    r = results_frame(f).dropna(subset=["ok"])
    r = r[r.capability == capability]
    pert, base = r[r.perturbation.notna()], r[r.perturbation.isna()]
    if pert.empty:
        return pd.DataFrame(columns=cols)
    base_ok = base.drop_duplicates(["model", "example_id"]).set_index(["model", "example_id"]).ok
    rows = []
    for (model, name), g in pert.groupby(["model", "perturbation"], sort=True):
        keys = [(model, b) for b in g.base_id if isinstance(b, str)]
        paired = [base_ok[k] for k in keys if k in base_ok.index]
        b_acc = sum(paired) / len(paired) if paired else base[base.model == model].ok.mean()
        rows.append((model, name, len(g), g.ok.mean(), b_acc, g.ok.mean() - b_acc))
    return pd.DataFrame(rows, columns=cols)


def redteam_table(rt: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Perturbations (rows) by models (columns, in ``order``): ``acc (change)`` cells.

    >>> rt = pd.DataFrame({"model": ["m"], "perturbation": ["deep"], "n": [30], "acc": [0.5],
    ...                    "base_acc": [0.75], "delta": [-0.25]})
    >>> redteam_table(rt, ["m"]).values.tolist()
    [['deep', 30, '0.50 (-0.25)']]
    """
    cell = [f"{a:.2f} ({d:+.2f})" for a, d in zip(rt.acc, rt.delta, strict=True)]
    w = rt.assign(cell=cell).pivot_table(
        index="perturbation", columns="model", values="cell", aggfunc="first"
    )
    n = rt.groupby("perturbation").n.max()
    w = w.reindex(columns=[m for m in order if m in w.columns])
    w.insert(0, "n", n)
    return w.reset_index().rename_axis(columns=None)
