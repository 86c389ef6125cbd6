"""``capgym tag``: tag every corpus of a run with every registered tagger."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from capgym.cli.app import DEFAULT_OUT, app, require_writable_folder, split_list
from capgym.errors import UsageError

console = Console()


@app.command("tag")
def tag_cmd(
    corpus: str = typer.Option(None, "--corpus", "-c", help="Corpus (default: all in the run)."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Run folder."),
    taggers: str = typer.Option(None, "--taggers", help="Comma-separated taggers (default all)."),
    user: list[Path] = typer.Option(None, "--user-taggers", help="File/folder of extra taggers."),
    reference: str = typer.Option(
        "tinystories-train-sample-2316", "--reference", help="Corpus for corpus statistics."
    ),
) -> None:
    """Tag capability spans of a run's stories (writes the ``tags`` view)."""
    from capgym.corpus import load_corpus
    from capgym.store import open_run
    from capgym.tags.store import tag_corpus

    require_writable_folder(out, "tag")
    run = open_run(out)
    if (
        corpus is not None
        and run.sql("SELECT count(*) AS n FROM stories WHERE corpus = ?", [corpus]).n[0] == 0
    ):
        loaded = load_corpus(corpus)
        run.add_stories(loaded.name, loaded.ids, loaded.texts)
        corpus = loaded.name
    corpora = [corpus] if corpus else run.sql("SELECT DISTINCT corpus FROM stories").corpus.tolist()
    if not corpora:
        raise UsageError(
            f"run {out} holds no stories to tag; score a corpus into it first or pass --corpus NAME"
        )
    for name in corpora:
        n, warnings = tag_corpus(
            run,
            name,
            taggers=split_list(taggers) or None,
            user_taggers=list(user or []),
            reference=reference,
            progress=True,
        )
        for w in warnings[:20]:
            console.print(f"[yellow]warning[/] {w}")
        if len(warnings) > 20:
            console.print(f"[yellow]... {len(warnings) - 20} more warnings[/]")
        counts = run.sql(
            "SELECT capability, count(*) AS tags FROM tags WHERE corpus = ? GROUP BY 1 ORDER BY 1",
            [name],
        )
        t = Table(title=f"tags of {name} ({n:,} in all)")
        t.add_column("capability")
        t.add_column("tags", justify="right")
        for row in counts.itertuples(index=False):
            t.add_row(row.capability, f"{row.tags:,}")
        console.print(t)
