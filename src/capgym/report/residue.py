"""The unexplained residue: confident-correct positions that no capability covers and no
explainer names, as ``capgym explain`` stored them (its ``residue`` table), grouped with
explain's own :func:`capgym.explain.residue.residue_groups`, with examples.

>>> import tempfile
>>> from capgym.view.demo import demo_run
>>> from capgym.report.exports import Exporter
>>> from capgym.report.frame import Frame
>>> residue(Ctx(Frame(demo_run(tempfile.mkdtemp())), Exporter(None, ""))).id
'residue'
"""

from __future__ import annotations

import pandas as pd

from capgym.explain import DIMENSIONS, residue_groups
from capgym.report import metrics
from capgym.report.clusters import cluster_parts
from capgym.report.context import Ctx
from capgym.report.html import Section, esc, note
from capgym.report.overview import explain_hint

N_GROUPS, N_EXAMPLES, N_SHOWN = 10, 2, 5
TITLE = "Unexplained residue"


def residue_model(ctx: Ctx) -> str | None:
    """The model whose residue is shown: the reference model when its coverage is current,
    else the largest model whose coverage is."""
    cov = metrics.coverage(ctx.f)
    done = set(cov.loc[cov["current"], "model"])
    if ctx.f.ref_model in done:
        return ctx.f.ref_model
    return next((m for m in reversed(ctx.f.model_names) if m in done), None)


def groups_of(ctx: Ctx, model: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Top groups (every dimension) and their examples of ``model``'s stored residue."""
    ctx.f.con.execute(
        "CREATE OR REPLACE TEMP TABLE cg_residue AS SELECT * FROM residue WHERE model = ?",
        [model],
    )
    return residue_groups(ctx.f.con, top=N_GROUPS, n_examples=N_EXAMPLES, rows="cg_residue")


def residue(ctx: Ctx) -> Section:
    f = ctx.f
    model = residue_model(ctx)
    if model is None:
        want = [f.ref_model] if f.ref_model else ["NAME"]
        return Section("residue", TITLE, explain_hint(ctx, want, "No residue yet"))
    parts = []
    if f.ref_model and model != f.ref_model:
        parts.append(explain_hint(ctx, [f.ref_model], f"Showing {model}: {f.ref_model} has no "
                                  "current coverage"))  # fmt: skip
    cov = metrics.coverage(f)
    row = cov[(cov["model"] == model) & (cov["name"] == "residue")].iloc[0]
    parts.append(note(
        f"{model}: {int(row.n):,} of {int(row.n_confident):,} confident-correct positions "
        f"(rank 0, p >= {row.threshold:g}; {', '.join(row.corpora)}) that no capability tag covers "
        "and no explainer names, as `capgym explain` found them; grouped by the predicted word, "
        "groups ranked by probability mass. These are candidates for the next capability."
    ))  # fmt: skip
    groups, examples = groups_of(ctx, model)
    if groups.empty:
        return Section("residue", TITLE, "\n".join([*parts, note("Nothing is left unexplained.")]))
    words = groups[groups.dimension == "word"].drop(columns="dimension")
    shown = words.rename(columns={"share_mass": "share (mass)", "mean_p": "mean p"})
    parts.append(ctx.table("residue-groups", shown, f"Top residue groups of {model}"))
    others = groups[groups.dimension != "word"].rename(columns={"share_mass": "share (mass)",
                                                                "mean_p": "mean p"})  # fmt: skip
    if len(others):
        dims = ", ".join(d for d in DIMENSIONS if d != "word")
        parts.append(
            f"<details><summary>Residue by {esc(dims)}</summary>"
            + ctx.table("residue-dimensions", others, f"Residue groups of {model} by dimension")
            + "</details>"
        )
    ex = examples[examples.dimension == "word"]
    for g in words.group.head(N_SHOWN):
        parts.append(f'<div class="group">“{esc(g)}”</div>')
        for r in ex[ex.group == g].itertuples():
            win = (int(r.es) - 100, int(r.ee) + 30)
            v = ctx.story(r.corpus, int(r.story), model, pos=int(r.pos), window=win, tags=False,
                          show_head=False)  # fmt: skip
            parts.append(
                f'<div class="ex-label">p {r.p:.3f} · {esc(r.corpus)} story {r.story} pos {r.pos}</div>{v.body}'
            )
    parts += cluster_parts(ctx)
    return Section("residue", TITLE, "\n".join(parts))
