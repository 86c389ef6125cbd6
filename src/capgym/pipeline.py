"""The main job, stage by stage: score -> tag -> explain -> evaluate -> report.

Every stage is cached in the run folder, so rerunning ``capgym run`` after an
interruption only does the work that is missing.

Example (needs ``CAPGYM_ASSETS``)::

    from capgym.pipeline import run_main
    run_main(["stories260K"], "tinystories-validation-0-999", "capgym-out", limit=20)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from capgym.store import open_run

if TYPE_CHECKING:
    from capgym.models.base import Tokenizer

console = Console(stderr=True)


def run_main(
    models: list[str],
    corpus: str,
    out: str | os.PathLike[str],
    limit: int | None = None,
    device: str = "cpu",
    tag: bool = True,
    html: str | os.PathLike[str] | None = None,
    progress: bool = True,
    explain: bool = True,
    evaluate: bool = True,
    mined: int = 64,
) -> Path:
    """Score ``models`` on ``corpus`` into the run ``out`` and write its atlas report.

    Then (each optional, each cached): tag the corpus, explain every model's confident
    predictions, evaluate the built-in gym suite (with up to ``mined`` examples per task
    mined from the corpus added to the templated ones).
    """
    from capgym.corpus import load_corpus
    from capgym.models import load_model
    from capgym.score import score

    run = open_run(out)
    corp = load_corpus(corpus, limit=limit)
    tokenizers: dict[str, Tokenizer] = {}  # explain tokenizes its reference with them
    for name in models:
        console.print(f"[bold]score[/] {name} on {corp.name} ({len(corp)} stories)")
        model = load_model(name, device=device)
        score(model, corp, run, name=name, progress=progress)
        tokenizers[name] = model.tokenizer
        del model  # only one model's weights in memory at a time
    if tag:
        _tag(run, corp, progress)
    if explain:
        _explain(run, models, corp.name, progress, tokenizers)
    if evaluate:
        _evaluate(run, models, progress, corp if mined > 0 else None, mined)
    from capgym.report import report

    console.print("[bold]report[/]")

    return report(run, out_html=html)


def _tag(run, corp, progress: bool) -> None:  # type: ignore[no-untyped-def]
    from capgym.tags.store import tag_corpus

    console.print(f"[bold]tag[/] {corp.name}")
    tag_corpus(run, corp.name, progress=progress)


def _explain(run, models: list[str], corpus: str, progress: bool,  # type: ignore[no-untyped-def]
             tokenizers: dict[str, Tokenizer]) -> None:  # fmt: skip
    from capgym.explain import explain

    for name in models:
        console.print(f"[bold]explain[/] {name}")
        rep = explain(run, name, corpus, progress=progress, tokenizer=tokenizers.get(name))
        console.print(
            f"  {rep.n_confident:,} confident correct predictions; "
            "covered by named capabilities {:.1%}, + explainers {:.1%}, + word-completion {:.1%}".format(
                *list(rep.layers.values())[:3]
            )
        )


def _evaluate(run, models: list[str], progress: bool, corp, mined: int) -> None:  # type: ignore[no-untyped-def]
    from capgym.evaluate import evaluate

    where = f", up to {mined} examples a task mined from {corp.name}" if corp is not None else ""
    console.print(f"[bold]evaluate[/] built-in gym suite x {len(models)} models{where}")
    tags = None  # mine from the tags this run already has (tagged above), not anew
    if corp is not None and run.table_parts("tags"):
        tags = run.sql("SELECT * FROM tags WHERE corpus = ?", [corp.name])
    evaluate(models, out=run, progress=progress, corpus=corp, mined=mined, tags=tags,
             report=lambda line: console.print(f"  {line}"))  # fmt: skip
