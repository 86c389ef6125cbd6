"""Gym commands: ``tasks`` (list the suite), ``eval`` (models x tasks), ``export-task``."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from capgym.cli.app import DEFAULT_OUT, app, require_writable_folder, split_list
from capgym.errors import UsageError

console = Console()
err_console = Console(stderr=True)


def _print_frame(df: pd.DataFrame, title: str, wrap: tuple[str, ...] = ()) -> None:
    t = Table(title=title)
    for c in df.columns:
        keep = str(c) not in wrap  # shown whole; the wrapped columns share what is left
        width = max([len(str(c)), *(len(str(v)) for v in df[c])]) if keep else None
        t.add_column(str(c), no_wrap=keep, overflow="fold", min_width=width)
    for row in df.itertuples(index=False):
        t.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    console.print(t)


@app.command("tasks")
def tasks_cmd(
    examples: bool = typer.Option(False, "--examples", help="Also count each task's examples."),
) -> None:
    """List the task suite (built-in tasks plus folders in CAPGYM_TASKS)."""
    from capgym.errors import TaskError
    from capgym.tasks import list_tasks, make
    from capgym.tasks.schema import read_task_file

    df = list_tasks()
    good = []
    for path in df.path:
        try:
            read_task_file(path)
            good.append(True)
        except TaskError as e:  # listed with a made-up id and '?' before; name it instead
            _say(f"warning: skipped a broken task file: {' '.join(str(e).split())}")
            good.append(False)
    df = df[good].reset_index(drop=True)
    if examples:
        df["examples"] = [len(make(t)) for t in df.id]
    df["description"] = df.description.str.slice(0, 60)
    _print_frame(df.drop(columns=["path"]), "capgym tasks", wrap=("description",))


def _say(line: str) -> None:
    err_console.print(f"capgym: {line}", markup=False, highlight=False, soft_wrap=True)


def _fmt(x: float, sign: str = "") -> str:
    return "-" if pd.isna(x) else f"{x:{sign}.2f}"


def _cells(summary: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Tasks x models, each cell "beats_wrong [95% CI] / mean logit diff at decision"
    (without wrong answers: "top1_vocab / -"), with each task's chance level."""
    models = [m for m in dict.fromkeys([*order, *summary.model]) if m in set(summary.model)]
    out = pd.DataFrame(index=sorted(set(summary.task)), columns=["chance", *models], dtype=object)
    solved = set(summary.task[summary.get("solved_by_heuristic", pd.Series(dtype=float)) == 1])
    for r in summary.itertuples():
        if pd.notna(getattr(r, "beats_wrong", float("nan"))):
            ci = f"[{_fmt(r.beats_wrong_lo)}, {_fmt(r.beats_wrong_hi)}]"
            cell = f"{_fmt(r.beats_wrong)} {ci} / {_fmt(r.mean_logit_diff_at_decision, '+')}"
            out.loc[r.task, "chance"] = _fmt(r.chance)
        else:
            cell = f"top1 {_fmt(r.top1_vocab)} / -"
        out.loc[r.task, r.model] = cell
    out.index = [f"{t} †" if t in solved else t for t in out.index]
    return out.fillna("").rename_axis("task").reset_index()


def _slices(top: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "model": top.model, "task": top.task, "slice": top.field + "=" + top.value.astype(str),
        "n": top.n, "slice vs rest": [f"{a:+.2f} vs {b:+.2f}" for a, b in
                                      zip(top.mean_slice, top.mean_rest)],
        "d": top.cohen_d.round(2),
    })  # fmt: skip


@app.command("eval")
def eval_cmd(
    models: str = typer.Option(..., "--models", "-m", help="Comma-separated model names/paths."),
    tasks: str = typer.Option(
        None,
        "--tasks",
        "-t",
        help="Comma-separated task ids or files (default: the whole built-in suite).",
    ),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Run folder (cache + results)."),
    corpus: str = typer.Option(None, "--corpus", "-c", help="Also mine examples from this corpus."),
    mined: int = typer.Option(
        None, "--mined", min=0, help="With --corpus: at most N mined examples per task."
    ),
    n: int = typer.Option(
        None, "--n", min=1, help="Synthetic examples per task (default: the task's)."
    ),
    seed: int = typer.Option(None, "--seed", help="Sampling seed (default: the task's)."),
    slices: int = typer.Option(3, "--slices", min=0, help="How many non-uniform slices to show."),
    threads: int = typer.Option(
        None,
        "--threads",
        min=0,
        help="CPU threads for torch (default: CAPGYM_THREADS, else one per core; 0: torch's).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Evaluate a models x tasks grid; cached per (model, task) and resumable."""
    from capgym.evaluate import EvalSettings, evaluate

    names = split_list(models)
    if not names:
        raise UsageError("no model given; pass --models m1,m2 (see `capgym models`)")
    chosen = split_list(tasks) or None
    t0 = time.perf_counter()
    settings = EvalSettings(threads=threads)
    require_writable_folder(out, "eval")
    rep = evaluate(names, chosen, out=out, n=n, seed=seed, corpus=corpus, settings=settings,
                   progress=progress, report=_say, mined=mined)  # fmt: skip
    if rep.summary.empty:
        raise UsageError("no (model, task) pair could be evaluated; see the lines above")
    cells = _cells(rep.summary, names)
    _print_frame(cells,
                 "beats_wrong [95% CI] / mean logit_diff_at_decision per task "
                 "(beats_wrong: the answer beats every wrong answer at the first token where "
                 "they differ; chance: a random pick among the candidates; †: a trivial "
                 "baseline reaches 0.8)", wrap=tuple(cells.columns[2:]))  # fmt: skip
    top = rep.top_slices(slices)
    if len(top):
        _print_frame(_slices(top), "least uniform slices (one per task)", wrap=("slice",))
    console.print(f"{len(rep.summary)} model x task cells in {time.perf_counter() - t0:.1f}s; "
                  f"tables results, task_summary, task_slices in {out}")  # fmt: skip


@app.command("export-task")
def export_task_cmd(
    task: str = typer.Argument(..., help="Task id or task file."),
    fmt: str = typer.Option("jsonl", "--format", "-f", help="lm-eval or jsonl."),
    dest: Path = typer.Option(Path("."), "--dest", "-d", help="Folder to write to."),
    n: int = typer.Option(None, "--n", min=1, help="Synthetic examples (default: the task's)."),
) -> None:
    """Export a task to lm-evaluation-harness (YAML + jsonl) or plain jsonl."""
    from capgym.tasks import export_task, make

    for p in export_task(make(task, n=n), fmt, dest):
        console.print(str(p))
