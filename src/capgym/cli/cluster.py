"""``capgym cluster``: candidate capabilities from a model's residue or untagged gains.

A thin wrapper: parse arguments, call :func:`capgym.cluster.cluster`, print the clusters
(or ``--json``); ``--skeletons DIR`` writes each cluster's ``@tagger`` file there.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from capgym.cli.app import DEFAULT_OUT, app, require_writable_folder, split_list
from capgym.cli.discover import console
from capgym.errors import UsageError


@app.command("cluster")
def cluster_cmd(
    model: str = typer.Option(..., "--model", "-m", help="A model scored in the run."),
    against: str = typer.Option(
        None, "--against", help="Cluster the untagged gains over this model instead."
    ),
    corpus: str = typer.Option(None, "--corpus", "-c", help="Corpus (default: all scored)."),
    threshold: float = typer.Option(0.5, "--threshold", help="Confident: rank 0 and p >= this."),
    hide: str = typer.Option(
        "", "--hide", help="Families to hide and rediscover (comma-separated; 'known' = 4)."
    ),
    feature_sets: str = typer.Option(
        "hidden",
        "--features",
        help="What a position is clustered by (comma-separated): hidden, context, attention.",
    ),
    max_positions: int = typer.Option(6000, "--max-positions", help="Positions clustered."),
    min_size: int = typer.Option(None, "--min-size", help="HDBSCAN min cluster size."),
    top: int = typer.Option(10, "--top", min=0, help="Clusters shown."),
    skeletons: Path = typer.Option(None, "--skeletons", help="Write @tagger files here."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Run folder."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Cluster a model's unexplained confident predictions (or, with --against, what it
    gets right that the other model does not and no tag covers) by the model's final
    hidden state (optionally also its context and each head's attention pattern: --features);
    each cluster is a candidate capability with examples and an
    editable @tagger (also stored in the run's clusters and cluster_members tables)."""
    from capgym.cluster import HIDDEN, cluster
    from capgym.cluster.features import check_feature_sets

    chosen = check_feature_sets(split_list(feature_sets))
    hidden = HIDDEN if hide == "known" else tuple(split_list(hide))
    if against and hidden:
        raise UsageError("--hide rediscovers families in the residue; drop --against with it")
    require_writable_folder(out, "cluster")  # before the forwards and HDBSCAN, not after
    if skeletons is not None:  # likewise, and named by its own option
        try:
            skeletons.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot create --skeletons folder {skeletons}: {e.strerror}") from e
        require_writable_folder(skeletons, "cluster", "--skeletons")
    report = cluster(out, model, against=against, corpus=corpus, threshold=threshold,
                     hide=hidden, max_positions=max_positions, min_cluster_size=min_size,
                     features=chosen)  # fmt: skip
    if skeletons is not None:
        for c in report.candidates(top).itertuples(index=False):
            (skeletons / f"{c.tagger.replace('-', '_')}.py").write_text(c.skeleton)
        if not as_json:
            console.print(f"wrote {min(top, report.n_clusters)} @tagger files to {skeletons}")
    if as_json:
        print(json.dumps(report.to_dict(), indent=1, default=str))
        return
    console.print(f"[bold]{escape(report.headline())}[/]")
    if report.rediscovery is not None:
        r = report.rediscovery
        console.print(f"rediscovery: AMI {r.ami_hidden:.3f} over hidden positions, "
                      f"{r.ami_all:.3f} over all; purity {r.purity:.3f}")  # fmt: skip
    t = Table(title=f"clusters of {model}'s {report.source} (ranked by probability mass)")
    for col in ("cluster", "n", "mass", "top words", "top contexts", "labels"):
        t.add_column(col, overflow="fold")
    for c in report.clusters.head(top).itertuples(index=False):
        t.add_row(str(c.cluster), f"{c.n:,}", f"{c.share_mass:.1%}", escape(c.top_words),
                  escape(c.top_contexts), escape(c.labels))  # fmt: skip
    console.print(t)
