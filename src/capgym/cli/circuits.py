"""Interpretability-gym commands: ``circuits`` (baselines into the run store) and ``submit``."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from capgym.cli.app import DEFAULT_OUT, app, split_list

console = Console()
err_console = Console(stderr=True)


def _say(line: str) -> None:
    err_console.print(f"capgym: {line}", markup=False, highlight=False, soft_wrap=True)


@app.command("circuits")
def circuits_cmd(
    models: str = typer.Option(
        None,
        "--models",
        "-m",
        help="Comma-separated model names/paths (none with --summary: "
        "only summarise the run folder).",
    ),
    tasks: str = typer.Option(
        None, "--tasks", "-t", help="Comma-separated task ids (default: every task with pairs)."
    ),
    methods: str = typer.Option(
        None,
        "--methods",
        help="Comma-separated: patching, attribution, eap-ig (default: all three; with "
        "--summary: only these are summarised).",
    ),
    pairs: int = typer.Option(
        None,
        "--pairs",
        min=1,
        help="Counterfactual pairs per task (default 200; with --summary alone: the largest "
        "count in the run folder).",
    ),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Run folder."),
    summary: bool = typer.Option(
        False, "--summary", help="Print top heads, faithfulness at 5%/20% and hypothesis checks."
    ),
) -> None:
    """Rank components with the baselines and score their circuits; cached and resumable."""
    from capgym.circuits.env import DEFAULT_PAIRS, METHODS, check_methods
    from capgym.circuits.runner import circuits
    from capgym.circuits.summary import format_summary
    from capgym.circuits.summary import summary as summarise
    from capgym.errors import UsageError

    chosen = list(METHODS) if methods is None else split_list(methods)
    check_methods(chosen)
    if summary and not models:
        shown = split_list(methods) or None  # none given: every method in the run folder
        text = format_summary(summarise(out, tasks=split_list(tasks) or None, pairs=pairs,
                                        methods=shown))  # fmt: skip
        console.print(text, markup=False, highlight=False, soft_wrap=True)
        return
    if not models:
        raise UsageError("no model given; pass --models m1,m2 (see `capgym models`) or --summary")
    t0, n_pairs = time.perf_counter(), pairs or DEFAULT_PAIRS
    board = circuits(split_list(models), split_list(tasks) or None, out=out,
                     methods=chosen, n_pairs=n_pairs, report=_say)  # fmt: skip
    if board.empty:
        raise UsageError(f"no circuit results for {models} in {out}: every model x task was "
                         "skipped (reasons above)")  # fmt: skip
    if summary:
        names = sorted(set(board.model))  # the loaded names, not the paths given for them
        text = format_summary(summarise(out, names, split_list(tasks) or None, n_pairs,
                                        methods=chosen))  # fmt: skip
        console.print(text, markup=False, highlight=False, soft_wrap=True)
    else:
        cols = ["model", "task", "method", "n_pairs", "f_at_5", "f_at_20", "cpr", "cmd"]
        console.print(board[cols].round(3).to_string(index=False))
    console.print(f"{len(board)} leaderboard rows in {time.perf_counter() - t0:.1f}s; tables "
                  f"components, circuit_scores, leaderboard, circuit_hypotheses in {out}")  # fmt: skip


@app.command("submit")
def submit_cmd(
    task: str = typer.Argument(..., help="Task id."),
    model: str = typer.Argument(..., help="Model name or path."),
    circuit: Path = typer.Argument(..., help='Circuit JSON: {"name": ..., "nodes": [...]}.'),
    mode: str = typer.Option("patch", "--mode", help="patch (corrupted run) or mean."),
    pairs: int = typer.Option(200, "--pairs", min=1, help="Counterfactual pairs."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Run folder."),
) -> None:
    """Score a circuit (nodes or edges) on a task and add it to the leaderboard."""
    from capgym.circuits.runner import submit

    row = submit(task, model, circuit, out=out, mode=mode, n_pairs=pairs).iloc[0]
    console.print(f"{row.method} on {row.model} x {row.task}: faithfulness "
                  f"{row.faithfulness:.3f} ({row.note}, {row.n_pairs} pairs)")  # fmt: skip
