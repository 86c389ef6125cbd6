"""The main job, stage by stage: score -> tag -> explain -> evaluate -> report.

Every stage is cached in the run folder, so rerunning ``capgym run`` after an
interruption only does the work that is missing.  One model that fails to load,
score or explain does not stop the others: the job goes on without it, the run's
manifest and the atlas say which model failed and why (one line each), and
:class:`MainRun` lists the failures for the caller (the CLI exits non-zero).

Example (needs ``CAPGYM_ASSETS``)::

    from capgym.pipeline import run_main
    done = run_main(["stories260K"], "tinystories-validation-0-999", "capgym-out", limit=20)
    done.report, done.failed  # Path('capgym-out/atlas.html'), {}
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from rich.console import Console

from capgym.errors import one_line
from capgym.store import open_run

if TYPE_CHECKING:
    from capgym.models.base import Tokenizer

console = Console(stderr=True)
T = TypeVar("T")
FAILED_KEY = "failed_models"  # manifest: model -> {"stage": ..., "error": one line}


@dataclass(frozen=True)
class MainRun:
    """What the main job produced: the atlas, and the models that failed (model -> why)."""

    report: Path
    failed: dict[str, str] = field(default_factory=dict)


def _guard(
    failed: dict[str, dict[str, str]], name: str, stage: str, fn: Callable[[], T]
) -> T | None:
    """``fn()``, or None after recording why ``name`` failed at ``stage`` (Ctrl-C passes)."""
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - one model's failure must not stop the suite
        failed[name] = {"stage": stage, "error": one_line(err)}
        console.print(f"[red]failed[/] {name} ({stage}): {failed[name]['error']}", highlight=False)
        return None


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
) -> MainRun:
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
    failed: dict[str, dict[str, str]] = {}
    for name in models:
        console.print(f"[bold]score[/] {name} on {corp.name} ({len(corp)} stories)")
        model = _guard(failed, name, "load", lambda n=name: load_model(n, device=device))
        if model is None:
            continue
        scored = _guard(
            failed,
            name,
            "score",
            lambda m=model, n=name: score(m, corp, run, name=n, progress=progress),
        )
        if scored is None:
            continue
        tokenizers[name] = model.tokenizer
        del model  # only one model's weights in memory at a time
    good = [m for m in models if m not in failed]
    if tag:
        _tag(run, corp, progress)
    if explain:
        _explain(run, good, corp.name, progress, tokenizers, failed)
    good = [m for m in good if m not in failed]
    if evaluate and good:
        try:
            _evaluate(run, good, progress, corp if mined > 0 else None, mined)
        except Exception:  # noqa: BLE001 - find the model that fails; the rest are cached
            for name in good:
                _guard(failed, name, "evaluate", lambda n=name: _evaluate(
                    run, [n], progress, corp if mined > 0 else None, mined))  # fmt: skip
    _record_failures(run, failed)
    from capgym.report import report

    console.print("[bold]report[/]")
    path = report(run, out_html=html)
    return MainRun(path, {m: f"{f['stage']}: {f['error']}" for m, f in failed.items()})


def _record_failures(run, failed: dict[str, dict[str, str]]) -> None:  # type: ignore[no-untyped-def]
    """Keep this job's failures in the manifest (the atlas shows them); clear old ones."""
    if failed or run.manifest.get(FAILED_KEY):
        run.update_manifest(lambda m: m.__setitem__(FAILED_KEY, failed))


def _tag(run, corp, progress: bool) -> None:  # type: ignore[no-untyped-def]
    from capgym.tags.store import tag_corpus

    console.print(f"[bold]tag[/] {corp.name}")
    tag_corpus(run, corp.name, progress=progress)


def _explain(run, models: list[str], corpus: str, progress: bool,  # type: ignore[no-untyped-def]
             tokenizers: dict[str, Tokenizer], failed: dict[str, dict[str, str]]) -> None:  # fmt: skip
    from capgym.explain import explain

    for name in models:
        console.print(f"[bold]explain[/] {name}")
        rep = _guard(failed, name, "explain", lambda n=name: explain(
            run, n, corpus, progress=progress, tokenizer=tokenizers.get(n)))  # fmt: skip
        if rep is not None:
            named, with_explainers, with_completion, _ = rep.layers.values()
            console.print(
                f"  {rep.n_confident:,} confident correct predictions; covered by named "
                f"capabilities {named:.1%}, + explainers {with_explainers:.1%}, "
                f"+ word-completion {with_completion:.1%}"
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
