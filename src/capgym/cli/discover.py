"""Discovery commands: ``capgym explain`` (coverage and residue) and ``capgym diff``.

Thin wrappers: parse arguments, call :func:`capgym.explain.explain` or
:func:`capgym.diff.diff`, print rich tables (or ``--json``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from capgym.cli.app import DEFAULT_OUT, app, require_writable_folder, split_list
from capgym.errors import UsageError
from capgym.store.confident import CONFIDENT

# Piped output (files, notebooks' !capgym) gets room for the tables instead of 80 columns.
console = Console(width=None if sys.stdout.isatty() else 120)


def _pct(x: object) -> str:
    return "" if x is None or pd.isna(x) else f"{float(x):.1%}"  # type: ignore[arg-type]


def _shares_table(shares: pd.DataFrame, title: str) -> Table:
    t = Table(title=title)
    t.add_column("kind")
    t.add_column("name", no_wrap=True, min_width=20)
    for col in ("share", "share (mass)", "n", "only this"):
        t.add_column(col, justify="right", no_wrap=True)
    for r in shares.itertuples(index=False):
        style = "bold" if r.kind == "total" else None
        excl = "" if pd.isna(r.n_exclusive) else f"{int(r.n_exclusive):,}"
        t.add_row(r.kind, escape(r.name), _pct(r.share), _pct(r.share_mass), f"{r.n:,}", excl,
                  style=style)  # fmt: skip
    return t


def _residue_table(report, dimension: str, top: int) -> Table:  # type: ignore[no-untyped-def]
    t = Table(title=f"residue by {dimension} (ranked by probability mass)")
    t.add_column("group")
    t.add_column("share of residue", justify="right")
    t.add_column("n", justify="right")
    t.add_column("example (story:pos, target in [[ ]])", overflow="fold")
    groups = report.residue_groups
    for g in groups[(groups.dimension == dimension) & (groups["rank"] <= top)].itertuples():
        ex = report.residue_examples
        ex = ex[(ex.dimension == dimension) & (ex.group == g.group)]
        first = ex.iloc[0] if len(ex) else None
        text = "" if first is None else f"{first.story}:{first.pos}  {first.snippet}"
        t.add_row(escape(str(g.group)), _pct(g.share_mass), f"{g.n:,}", escape(text))
    return t


@app.command("explain")
def explain_cmd(
    model: str = typer.Option(..., "--model", "-m", help="A model scored in the run."),
    corpus: str = typer.Option(None, "--corpus", "-c", help="Corpus (default: all scored)."),
    threshold: float = typer.Option(
        CONFIDENT, "--threshold", help="Confident: rank 0 and p >= this."
    ),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Run folder."),
    reference: str = typer.Option(
        "tinystories-train-sample-2316", "--reference", help="Corpus for the n-gram explainers."
    ),
    min_count: int = typer.Option(3, "--min-count", help="Occurrences an n-gram context needs."),
    top: int = typer.Option(5, "--top", help="Residue groups shown per dimension."),
    examples: int = typer.Option(3, "--examples", help="Examples kept per residue group."),
    tag: bool = typer.Option(True, "--tag/--no-tag", help="Tag the corpus if it has no tags."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Coverage of a model's confident correct predictions by capabilities and explainers,
    and the unexplained residue grouped for mining (also stored in the run's coverage and
    residue tables, which the atlas shows)."""
    from capgym.explain import DIMENSIONS, explain

    if min_count < 1 or top < 1 or examples < 0:
        raise UsageError("--min-count and --top must be >= 1 and --examples >= 0")
    require_writable_folder(out, "explain")
    report = explain(out, model, corpus, threshold=threshold, reference=reference,
                     min_count=min_count, tags=tag, top=max(top, 10), n_examples=examples,
                     progress=not as_json)  # fmt: skip
    if as_json:
        print(json.dumps(report.to_dict(), indent=1, default=str))
        return
    console.print(f"[bold]{escape(report.headline())}[/]")
    if report.n_confident == 0:
        return
    console.print(_shares_table(report.shares, f"coverage of {model}'s confident predictions"))
    named, expl, allc, only = report.layers.values()
    console.print(
        f"[bold]named capabilities {named:.1%}[/]; + n-gram/induction explainers {expl:.1%}; "
        f"+ word-completion {allc:.1%} (by mass {report.coverage_mass:.1%}); explainers only "
        f"{only:.1%}; residue {1 - report.coverage:.1%}"
    )
    for dim in DIMENSIONS:
        console.print(_residue_table(report, dim, top))


def _quantile(value: str) -> tuple[float, float]:
    parts = split_list(value)
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise UsageError(f"--quantile takes two numbers 'lo,hi' such as 0.9,1.0; got '{value}'")
    return lo, hi


@app.command("diff")
def diff_cmd(
    model_a: str = typer.Argument(..., help="The baseline model A."),
    model_b: str = typer.Argument(..., help="The model B compared with A."),
    corpus: str = typer.Option(None, "--corpus", "-c", help="Corpus (default: all in common)."),
    threshold: float = typer.Option(
        CONFIDENT, "--threshold", help="Confident: rank 0 and p >= this."
    ),
    quantile: str = typer.Option(
        "0.9,1.0", "--quantile", help="Sample examples from this quantile range of Δlogp."
    ),
    examples: int = typer.Option(10, "--examples", help="Examples to sample."),
    mode: str = typer.Option("auto", "--mode", help="token, word or auto."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Run folder."),
    tag: bool = typer.Option(True, "--tag/--no-tag", help="Tag the corpus if it has no tags."),
    examples_from: str = typer.Option(
        "change",
        "--examples-from",
        help="Example pool: change (gains and losses), gain, loss or rank-gain.",
    ),
    cluster: bool = typer.Option(
        False, "--cluster", help="Also cluster B's untagged gains (candidate capabilities)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Positions B predicts confidently and correctly and A does not (gains: rank gains,
    and confidence-only gains where A already ranked the token first), the reverse
    (losses), per capability with exclusive counts, and examples of gains and losses from
    a quantile range of log p_B - log p_A; --cluster groups the untagged gains."""
    from capgym.diff import diff

    if examples < 0:
        raise UsageError("--examples must be >= 0")
    if cluster:
        require_writable_folder(out, "cluster")  # before the diff, not after it
    report = diff(out, model_a, model_b, corpus, threshold=threshold, quantile=_quantile(quantile),
                  n_examples=examples, mode=mode, tags=tag, examples_from=examples_from)  # fmt: skip
    clusters = None
    if cluster:
        from capgym.cluster import cluster as cluster_fn

        clusters = cluster_fn(out, model_b, against=model_a, corpus=corpus, threshold=threshold)
    if as_json:
        data = report.to_dict()
        if clusters is not None:
            data["untagged_gain_clusters"] = clusters.to_dict()
        print(json.dumps(data, indent=1, default=str))
        return
    console.print(f"[bold]{escape(report.headline())}[/]")
    t = Table(title=f"gains and losses of {model_b} over {model_a} per capability")
    t.add_column("capability", no_wrap=True, min_width=20)
    for col in ("gains", "rank", "conf.-only", "only this", "losses", "net", "both", "units",
                "mean Δlogp"):  # fmt: skip
        t.add_column(col, justify="right", no_wrap=True)
    for r in report.per_capability.itertuples(index=False):
        t.add_row(escape(r.capability), f"{r.gains:,}", f"{r.rank_gains:,}",
                  f"{r.confidence_gains:,}", f"{r.gains_exclusive:,}", f"{r.losses:,}",
                  f"{r.net:+,}", f"{r.both_correct:,}", f"{r.n:,}", f"{r.mean_delta:+.3f}")  # fmt: skip
    console.print(t)
    lo, hi = report.quantile
    e = Table(title=f"examples ({report.examples_from}) from Δlogp quantiles {lo:g}-{hi:g} "
                    "(target in [[ ]])")  # fmt: skip
    for col in ("status", "Δlogp", "story", "capabilities", "context"):
        e.add_column(col, overflow="fold")
    for r in report.examples.itertuples(index=False):
        e.add_row(f"{r.status} ({r.change})", f"{r.delta:+.2f}", str(r.story),
                  ", ".join(r.capabilities), escape(r.snippet))  # fmt: skip
    console.print(e)
    if clusters is not None:
        c = Table(title=f"untagged gains of {model_b} over {model_a}, clustered: "
                        f"{clusters.headline()}")  # fmt: skip
        for col in ("cluster", "n", "mass", "top words", "top contexts", "labels"):
            c.add_column(col, overflow="fold")
        for r in clusters.candidates(10).itertuples(index=False):
            c.add_row(str(r.cluster), f"{r.n:,}", f"{r.share_mass:.1%}", escape(r.top_words),
                      escape(r.top_contexts), escape(r.labels))  # fmt: skip
        console.print(c)
