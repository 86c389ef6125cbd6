"""Overview and stories: what `capgym run` shows from scores alone, and more when it can.

>>> import tempfile
>>> from capgym.view.demo import demo_run
>>> from capgym.report.exports import Exporter
>>> from capgym.report.frame import Frame
>>> ctx = Ctx(Frame(demo_run(tempfile.mkdtemp())), Exporter(None, ""))
>>> overview(ctx).id, stories(ctx).id
('overview', 'stories')
"""

from __future__ import annotations

import html

from capgym.errors import UsageError
from capgym.explain import EXPLAINERS_ONLY, LAYERS
from capgym.report import figures, metrics
from capgym.report.context import Ctx
from capgym.report.html import Section, esc, nodata, note
from capgym.store.confident import CONFIDENT


def overview(ctx: Ctx) -> Section:
    """Models, corpora, mean NLL, confident-correct share and coverage by capabilities."""
    f = ctx.f
    if not f.has("scores"):
        return Section("overview", "Overview", nodata("scores", ctx.how("scores")))
    models = f.models.rename(
        columns={"n_params": "params", "context_len": "context", "n_tokens": "tokens scored"}
    )
    parts = ["<h3>Models</h3>", ctx.table("models", models, "Models")]
    parts += [
        "<h3>Corpora</h3>",
        ctx.table(
            "corpora",
            f.corpora.rename(columns={"n_stories": "stories", "n_chars": "characters"}),
            "Corpora",
        ),
    ]
    order = {m: i for i, m in enumerate(f.model_names)}  # smallest model first
    s = metrics.summary(f).sort_values(
        ["corpus", "model"], key=lambda c: c.map(order) if c.name == "model" else c
    )
    shown = s.rename(columns={"n_stories": "stories", "n_tokens": "tokens", "n_chars": "chars",
                              "nll_per_token": "NLL/token", "nll_per_char": "NLL/char",
                              "top1": "top-1", "confident": "confident-correct"})  # fmt: skip
    parts += ["<h3>Per-model summary</h3>", ctx.table("summary", shown, "Per-model summary")]
    parts.append(note(
        f"NLL in nats. Top-1: the actual token was the model's first choice. Confident-correct: "
        f"rank 0 and p >= {CONFIDENT}."
    ))  # fmt: skip
    if s.model.nunique() > 0:
        parts.append(ctx.figure("nll-per-char", figures.nll_bars(s)))
    parts.append("<h3>Coverage of confident predictions by known capabilities</h3>")
    parts += coverage_parts(ctx)
    return Section("overview", "Overview", "\n".join(parts))


def coverage_parts(ctx: Ctx) -> list[str]:
    """The coverage tables as ``capgym explain`` stored them, and for each model without
    current coverage the command that computes it."""
    f = ctx.f
    cov = metrics.coverage(f)
    done = set(cov.loc[cov["current"], "model"])
    stale = list(dict.fromkeys(cov.loc[~cov["current"], "model"]))
    missing = [m for m in f.model_names if m not in done and m not in stale]
    parts = []
    if done:
        s = metrics.coverage_summary(f)
        l1, l2, l3 = LAYERS
        shown = s.rename(columns={
            "threshold": "p >=", "n_confident": "confident-correct", "mass_confident": "mass",
            f"{l1}: share": "named capabilities", f"{l2}: share": "+ n-gram/induction explainers",
            f"{l3}: share": "+ word-completion", f"{EXPLAINERS_ONLY}: share": "explainers only",
            f"{l1}: share_mass": "named capabilities (mass)",
        })[["model", "corpora", "p >=", "confident-correct", "mass", "named capabilities",
            "named capabilities (mass)", "+ n-gram/induction explainers", "+ word-completion",
            "explainers only"]]  # fmt: skip
        parts.append(ctx.table("coverage", shown, "Coverage of confident-correct positions"))
        parts.append(note(
            "As `capgym explain` computed and stored it, in layers over the confident-correct "
            "positions (rank 0 and p >= the threshold). **Named capabilities** (the headline): "
            "the share a capability tag other than word-completion covers. **+ n-gram/induction "
            "explainers**: also counting positions that a mechanism-free explainer (reference "
            "n-grams, copying from earlier in the story) would have predicted. **+ "
            "word-completion**: also counting word pieces that their prefix determines "
            "(P(word | prefix) >= 0.9 in the reference corpus). **Explainers only**: covered by "
            "an explainer and no tag; explainer coverage says a simple rule would have "
            "predicted the token, not that a capability was found. The rest is the residue."
        ))  # fmt: skip
        cols = ["model", "kind", "name", "n", "share", "mass", "share (mass)", "only this"]
        detail = cov[cov["model"].isin(done)].rename(
            columns={"share_mass": "share (mass)", "n_exclusive": "only this"}
        )[cols]
        parts.append(
            "<details><summary>Coverage per capability and explainer</summary>"
            + ctx.table("coverage-detail", detail, "Coverage per capability and explainer")
            + "</details>"
        )
    if stale:
        changed = "predates changes to the run's scores, tags or explainers"
        what = f"Coverage of {', '.join(stale)} {changed}"
        parts.append(explain_hint(ctx, stale, what))
    if missing:
        parts.append(explain_hint(ctx, missing, f"No coverage yet for {', '.join(missing)}"))
    return parts


def explain_hint(ctx: Ctx, models: list[str], what: str) -> str:
    """``what``: run ``capgym explain --model M --out RUN`` (for each model) to see coverage."""
    cmd = ctx.how("explains").replace("NAME", models[0])
    each = " (and likewise for each model)" if len(models) > 1 else ""
    return f'<p class="nodata">{esc(what)}: run <code>{esc(cmd)}</code>{each} to see coverage.</p>'


def stories(ctx: Ctx) -> Section:
    """The first few stories as token heat-maps: the best model open, the others folded."""
    f, corpus, models = ctx.f, ctx.story_corpus, ctx.story_models
    if not f.has("scores"):
        return Section("stories", "Stories", nodata("scores", ctx.how("scores")))
    names = [m for m in f.model_names if models is None or m in models]
    ref = f.ref_model if f.ref_model in names else (names[-1] if names else None)
    if ref is None:
        return Section("stories", "Stories", nodata("scores of these models", ctx.how("scores")))
    params: list[object] = [ref]
    where = "model = ?"
    if corpus:
        where += " AND corpus = ?"
        params.append(corpus)
    picked = f.df(
        f"SELECT DISTINCT corpus, story FROM scores WHERE {where} ORDER BY corpus, story LIMIT ?",
        [*params, ctx.n_stories],
    )
    tags = False  # every token carries a tag or two: the cards show one capability at a time
    parts = [note(
        "Each box is a token, coloured by the probability the model gave it (white = 1, red = 0); "
        "hover or click a token for its probability, rank, entropy and top-k alternatives. "
        "The model with the lowest NLL per character is open; the others are folded."
    )]  # fmt: skip
    for corpus_name, story in picked.itertuples(index=False):
        story = int(story)
        parts.append(f"<h3>{esc(corpus_name)} · story {story}</h3>")
        parts.append(ctx.story(corpus_name, story, ref, tags=tags).body)
        for other in names:
            if other == ref:
                continue
            try:
                v = ctx.story(corpus_name, story, other, tags=tags)
            except UsageError:  # a model that did not score this story
                continue
            parts.append(f"<details><summary>{html.escape(other)}</summary>{v.body}</details>")
    return Section("stories", "Stories", "\n".join(parts))
