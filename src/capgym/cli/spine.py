"""Spine commands: ``models``, ``corpora``, ``score``, ``sql`` and the main job ``run``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from capgym.cli.app import DEFAULT_OUT, app, require_writable_folder, split_list
from capgym.errors import ModelsFailed, UsageError
from capgym.store.confident import CONFIDENT

console = Console()


def _table(df, title: str | None = None) -> Table:  # type: ignore[no-untyped-def]
    t = Table(title=title)
    for c in df.columns:
        t.add_column(str(c))
    for row in df.itertuples(index=False):
        t.add_row(*[_fmt(v) for v in row])
    return t


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


@app.command("models")
def models_cmd(
    name: str = typer.Argument(None, help="One model name or path: show all its details."),
    long: bool = typer.Option(False, "--long", "-l", help="Tokenizer, shape and full source."),
) -> None:
    """List named models, one line each (parameters, architecture, where from)."""
    from capgym.models.registry import find_entry, list_models

    if name is not None:
        e = find_entry(name)
        for key, value in [
            ("name", e.name),
            ("parameters", f"{e.n_params:,}" if e.n_params else "?"),
            ("architecture", e.architecture),
            ("details", e.details or "-"),
            ("tokenizer", e.tokenizer),
            ("source", e.source),
        ]:
            console.print(f"{key:>12}  {value}", highlight=False, soft_wrap=True)
        return
    entries = list_models()
    t = Table(title="capgym models", box=box.SIMPLE_HEAD, pad_edge=False)
    for col, justify in [("name", "left"), ("params", "right"), ("architecture", "left")]:
        t.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    t.add_column("tokenizer" if long else "from", no_wrap=not long)
    if long:
        t.add_column("details")
        t.add_column("source", overflow="fold")
    for e in entries:
        params = f"{e.n_params:,}" if e.n_params else "?"
        if long:
            t.add_row(e.name, params, e.architecture, e.tokenizer, e.details, e.source)
        else:
            t.add_row(e.name, params, e.architecture, e.source.split(":", 1)[0])
    console.print(t)
    broken = [e for e in entries if e.architecture == "unreadable"]
    for e in broken:
        console.print(f"[yellow]warning[/]: {e.name} is unreadable: {e.details}", highlight=False)
    if not long:
        console.print("details: capgym models --long, or capgym models NAME", style="dim")


@app.command("corpora")
def corpora_cmd() -> None:
    """List named corpora and where each comes from."""
    from capgym.corpus import list_corpora

    t = Table(title="capgym corpora")
    t.add_column("name")
    t.add_column("source")
    for name, src in list_corpora().items():
        t.add_row(name, src)
    console.print(t)


def _resolve_models(models: str | None, model: str | None) -> list[str]:
    names = split_list(models) + split_list(model)
    if not names:
        raise UsageError("no model given; pass --model NAME (see `capgym models`)")
    return names


@app.command("score")
def score_cmd(
    model: str = typer.Option(None, "--model", "-m", help="Model name or path."),
    models: str = typer.Option(None, "--models", help="Comma-separated model names."),
    corpus: str = typer.Option(
        "tinystories-validation-0-999", "--corpus", "-c", help="Corpus name or path."
    ),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Run folder."),
    limit: int = typer.Option(None, "--limit", help="Score only the first N stories."),
    topk: int = typer.Option(5, "--topk", help="Top-k alternatives kept per position."),
    clean: bool = typer.Option(False, "--clean", help="Drop stories with mojibake."),
    token_budget: int = typer.Option(
        None,
        "--token-budget",
        help="Token ids per batch (default: from the model width, between its context "
        "length and 2048; 2048 on a GPU).",
    ),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    dtype: str = typer.Option(
        "float32",
        "--dtype",
        help="float32 (exact); bfloat16x3 (bf16 matmuls, 3 terms; ranks = float32's on 99.99% "
        "of trained models' positions; for GPUs); bfloat16/float16 (autocast; 95-99%).",
    ),
    engine: str = typer.Option("local", "--engine", help="local or ray."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (--engine ray)."),
    workers: int = typer.Option(2, "--workers", min=1, help="Ray workers (--engine ray)."),
) -> None:
    """Score every predicted token of a corpus with one or more models."""
    from capgym.score import ScoreSettings

    budget = {} if token_budget is None else {"token_budget": token_budget}
    settings = ScoreSettings(topk=topk, dtype=dtype, **budget)  # same cache key as the API's
    names = _resolve_models(models, model)
    require_writable_folder(out, "score")
    corp = _load_corpus(corpus, limit, clean)
    for name in names:
        t0 = time.perf_counter()
        if engine == "local":
            s = _score_local(name, corp, out, settings, device)
        elif engine == "ray":
            from capgym.score.ray_engine import score_ray

            s = score_ray(name, corp, out, settings, address=address, workers=workers)
        else:
            raise UsageError(f"unknown engine '{engine}'; use --engine local or --engine ray")
        how = "cached" if s.cached else f"{time.perf_counter() - t0:.1f}s"
        console.print(f"[green]scored[/] {name} on {corp.name}: {s.n_rows:,} tokens ({how})")
    _print_summary(out)


def _load_corpus(corpus: str, limit: int | None, clean: bool):  # type: ignore[no-untyped-def]
    from capgym.corpus import clean as clean_corpus
    from capgym.corpus import load_corpus

    corp = load_corpus(corpus, limit=limit)
    if clean:
        corp, report = clean_corpus(corp)
        console.print(f"cleaning {corp.name}: {report}")
    return corp


def _score_local(name: str, corp, out: Path, settings, device: str):  # type: ignore[no-untyped-def]
    from capgym.models import load_model
    from capgym.score import score

    m = load_model(name, device=device)
    return score(m, corp, out, settings=settings, name=name)


def _print_summary(out: Path) -> None:
    from capgym.score.summary import summarize
    from capgym.store import open_run

    df = summarize(open_run(out))
    if df.empty:
        return
    corpora = df.corpus.unique().tolist()
    one = len(corpora) == 1
    title = f"per-model summary on {corpora[0]}" if one else "per-model summary"
    t = Table(title=title, caption=f"confident = correct (rank 0) with p >= {CONFIDENT}")
    cols = ["model", "corpus", "stories", "tokens", "NLL/token", "NLL/char", "confident"]
    for col in cols[:1] + cols[2 if one else 1 :]:
        t.add_column(col, justify="left" if col in ("model", "corpus") else "right")
    for r in df.itertuples(index=False):
        cells = [r.model] + ([] if one else [r.corpus])
        cells += [
            f"{int(r.n_stories):,}",
            f"{int(r.n_tokens):,}",
            f"{r.nll_per_token:.4f}",
            f"{r.nll_per_char:.4f}",
            f"{r.confident_share:.1%}",
        ]
        t.add_row(*cells)
    console.print(t)


@app.command("sql")
def sql_cmd(
    query: str = typer.Argument(..., help="A DuckDB query over the run's views."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Run folder."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    max_rows: int = typer.Option(50, "--max-rows", min=0, help="Rows shown in table format."),
    write: bool = typer.Option(
        False, "--write", help="Allow statements that write files (COPY ... TO, EXPORT)."
    ),
) -> None:
    """Query the run store (views: stories, scores, tags, results, models, ...); read-only
    unless --write."""
    from capgym.store import open_run

    df = open_run(out, create=False, sql_writes=write).sql(query)
    if fmt == "csv":
        print(df.to_csv(index=False), end="")
    elif fmt == "json":
        print(df.to_json(orient="records"))
    elif fmt == "table":
        console.print(_table(df.head(max_rows)))
        if len(df) > max_rows:
            console.print(f"... {len(df) - max_rows} more rows (use --max-rows or --format csv)")
    else:
        raise UsageError(f"unknown format '{fmt}'; use table, csv or json")


def default_suite() -> list[str]:
    """All models in CAPGYM_ASSETS/models, else stories260K from the Hub."""
    root = os.environ.get("CAPGYM_ASSETS")
    if root and (Path(root) / "models").is_dir():
        names = sorted(p.name for p in (Path(root) / "models").iterdir() if p.is_dir())
        if names:
            return names
    return ["stories260K"]


@app.command("run")
def run_cmd(
    models: str = typer.Option(None, "--models", help="Comma-separated models (default suite)."),
    corpus: str = typer.Option("tinystories-validation-0-999", "--corpus", "-c"),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Run folder."),
    limit: int = typer.Option(None, "--limit", help="Only the first N stories."),
    device: str = typer.Option("cpu", "--device"),
    tag: bool = typer.Option(True, "--tag/--no-tag", help="Tag capabilities of the corpus."),
    explain: bool = typer.Option(True, "--explain/--no-explain", help="Coverage per model."),
    evaluate: bool = typer.Option(True, "--eval/--no-eval", help="Evaluate the gym suite."),
    mined: int = typer.Option(
        64,
        "--mined",
        min=0,
        help="Gym examples per task mined from the corpus (0: templates only).",
    ),
    html: Path = typer.Option(None, "--html", help="Report path (default RUN/atlas.html)."),
) -> None:
    """The main job: score the default suite on the default corpus, summarise, report."""
    from capgym.pipeline import run_main

    t0 = time.perf_counter()
    require_writable_folder(out, "run")
    names = split_list(models) or default_suite()
    done = run_main(
        names,
        corpus,
        out,
        limit=limit,
        device=device,
        tag=tag,
        html=html,
        explain=explain,
        evaluate=evaluate,
        mined=mined,
    )
    _print_summary(out)
    console.print(f"report: {done.report}")
    console.print(f"done in {time.perf_counter() - t0:.1f}s; explore with `capgym view {out}`")
    if done.failed:
        for name, why in done.failed.items():
            console.print(f"[red]failed[/] {name}: {why}", highlight=False, soft_wrap=True)
        rest = "the others are in the report" if len(done.failed) < len(names) else "none finished"
        raise ModelsFailed(
            f"{len(done.failed)} of {len(names)} models failed ({', '.join(done.failed)}); {rest}"
        )
