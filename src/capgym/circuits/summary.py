"""A plain-text summary of a run's circuit tables: top heads, baseline faithfulness, hypotheses.

Reads only the tables ``capgym circuits`` writes (``components``, ``leaderboard``,
``circuit_hypotheses``; see :mod:`capgym.store.schema`) and reports, per model and task:

* **top heads**: the ``top`` heads with the largest ``|effect|`` under node patching, where
  ``effect = m(clean) - m(clean with the head's output patched from the corrupted
  prompt)`` and ``m`` is the mean decision-point logit difference
  logit(answer) - logit(wrong).  Positive: the head carries the clean answer (patching
  it hurts); negative: it works against it.  ``share`` is the effect over the
  clean-corrupt gap ``m(clean) - m(corrupt)``;
* **faithfulness** of each baseline's ranking at 5% and 20% of its components (edges for
  EAP-IG), with ``cpr`` (higher is better) and ``cmd`` (lower is better), see
  :mod:`capgym.circuits.score`, and ``gap = m(clean) - m(corrupt)`` (every faithfulness is
  a ratio over it, so a gap near 0 makes them noise).  A node circuit without ``embed``
  scores exactly 0: its components then read only corrupted inputs (likewise an edge
  circuit without a path from ``embed`` to ``logits``);
* **hypothesis**: the task's attention hypothesis, the heads that satisfy it, and
  ``recovery``: the share of the clean-corrupt gap restored by patching those heads
  alone (clean into the corrupted run), see :mod:`capgym.circuits.hypothesis`.

A store can hold the same (model, task, method) for several requested pair counts (the
part keys end in ``__p<n>``); the largest count is reported unless ``pairs`` is given.

>>> import tempfile
>>> from capgym.circuits.runner import circuits
>>> out = tempfile.mkdtemp()
>>> _ = circuits(["stories260K"], ["repeated-name"], out=out, methods=["patching"], n_pairs=8)
>>> s = summary(out)
>>> s.top_heads.columns.tolist(), len(s.top_heads)
(['model', 'task', 'rank', 'head', 'effect', 'share'], 3)
>>> "top heads by node patching" in format_summary(s)
True
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from capgym.errors import StoreError, UsageError
from capgym.store import RunStore, open_run

HEAD = re.compile(r"^L\d+H\d+$")
REQUESTED = re.compile(r"__p(\d+)$")
FAITH = ["model", "task", "method", "level", "n_pairs", "gap", "f_at_5", "f_at_20", "cpr", "cmd",
         "note"]  # fmt: skip
HEADER = ("effect = m(clean) - m(head patched from corrupted), m = mean logit(answer) - "
          "logit(wrong) at the decision point; share = effect / (m(clean) - m(corrupt))")  # fmt: skip
SMALL_GAP = 0.5  # logits: below this the summary warns that faithfulness ratios are noisy


@dataclass(frozen=True)
class CircuitSummary:
    """The summary's three tables (columns as in the module docstring)."""

    top_heads: pd.DataFrame  # model, task, rank, head, effect, share
    faithfulness: pd.DataFrame  # model, task, method, level, n_pairs, gap, f_at_5, ..., cmd, note
    hypotheses: pd.DataFrame  # model, task, statement, satisfied, recovery, top_mass


def _parts(store: RunStore, view: str) -> pd.DataFrame:
    """Every baseline part of ``view`` with its requested pair count (``requested``)."""
    frames = []
    for path in store.table_parts(view):
        found = REQUESTED.search(path.stem)
        if found is None:  # a submission (its key ends in its mode): not a baseline
            continue
        df = pd.read_parquet(path)
        if "method" in df:
            df = df[~df.method.str.startswith("submission:")]
        frames.append(df.assign(requested=int(found.group(1))))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _pick(df: pd.DataFrame, pairs: int | None, models: Sequence[str] | None,
          tasks: Sequence[str] | None, methods: Sequence[str] | None = None) -> pd.DataFrame:  # fmt: skip
    """Rows of the chosen models, tasks and methods at ``pairs`` (default: the largest per
    model x task among those methods; ``methods`` is ignored by tables without a method)."""
    if df.empty:
        return df
    if models:
        df = df[df.model.isin(list(models))]
    if tasks:
        df = df[df.task.isin(list(tasks))]
    if methods and "method" in df:
        df = df[df.method.isin(list(methods))]
    if pairs is not None:
        return df[df.requested == pairs]
    most = df.groupby(["model", "task"]).requested.transform("max")
    return df[df.requested == most]


def top_heads(components: pd.DataFrame, board: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """The ``top`` heads of each (model, task) node-patching ranking, best first."""
    cols = ["model", "task", "rank", "head", "effect", "share"]
    if components.empty:
        return pd.DataFrame(columns=cols)
    df = components[(components.method == "patching") & components.component.str.match(HEAD)]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df.sort_values(["model", "task", "rank"]).groupby(["model", "task"]).head(top)
    gap = board[board.method == "patching"].assign(gap=lambda b: b.m_clean - b.m_corrupt)
    df = df.merge(gap[["model", "task", "requested", "gap"]], on=["model", "task", "requested"])
    df = df.assign(head=df.component, effect=df.score, share=df.score / df.gap)
    df["rank"] = df.groupby(["model", "task"]).cumcount() + 1  # rank among heads
    return df[cols].reset_index(drop=True)


def summary(out: str | Path, models: Sequence[str] | None = None,
            tasks: Sequence[str] | None = None, pairs: int | None = None,
            top: int = 3, methods: Sequence[str] | None = None) -> CircuitSummary:  # fmt: skip
    """Read the circuit tables of run folder ``out`` into a :class:`CircuitSummary`.

    ``models``, ``tasks`` and ``methods`` (None: all) restrict what is read; top heads are
    node patching's, so they are left out when ``methods`` lacks ``patching``.
    """
    if not Path(out).is_dir():
        raise UsageError(f"no run folder {out}; run `capgym circuits --models ... --out {out}`")
    try:
        store = open_run(out, create=False)
    except StoreError as err:
        raise UsageError(f"cannot read run folder {out}: {err}") from None
    board = _pick(_parts(store, "leaderboard"), pairs, models, tasks, methods)
    if board.empty:
        wanted = [", ".join(x) for x in (models, tasks, methods) if x]
        wanted += [f"{pairs} pairs"] * bool(pairs)
        raise UsageError(f"no circuit results in {out}"
                         + (f" for {'; '.join(wanted)}" if wanted else "")
                         + "; run `capgym circuits --models ... --out` first")  # fmt: skip
    comps = _pick(_parts(store, "components"), pairs, models, tasks, methods)
    board = board.assign(gap=board.m_clean - board.m_corrupt)
    faith = board.sort_values(["model", "task", "method"])[FAITH].reset_index(drop=True)
    hyp = _pick(_parts(store, "circuit_hypotheses"), pairs, models, tasks)
    if not hyp.empty:  # at the pair count the board shows for that model x task
        hyp = hyp.merge(board[["model", "task", "requested"]].drop_duplicates())
    hyp_cols = ["model", "task", "statement", "satisfied", "recovery", "top_mass"]
    hyp = hyp[hyp_cols].reset_index(drop=True) if not hyp.empty else pd.DataFrame(columns=hyp_cols)
    return CircuitSummary(top_heads(comps, board, top), faith, hyp)


def _hypothesis_lines(hyp: pd.DataFrame, heads: pd.DataFrame) -> list[str]:
    lines = []
    for r in hyp.itertuples():
        if not r.statement:
            lines.append(f"  {r.task}: no machine-checkable hypothesis in the task file")
            continue
        sat = list(r.satisfied)
        mass = json.loads(r.top_mass)
        best = ", ".join(f"{k} {v:.2f}" for k, v in list(mass.items())[:3])
        tops = set(heads[(heads.model == r.model) & (heads.task == r.task)]["head"])
        agree = [h for h in sat if h in tops]
        lines.append(f"  {r.task}: {r.statement}")
        lines.append(f"    satisfied by {len(sat)} head(s): {', '.join(sat) or 'none'}"
                     f" (largest masses: {best}); among the top patching heads: "
                     f"{', '.join(agree) or 'none'}")  # fmt: skip
        if sat:
            lines.append(f"    patching them alone into the corrupted run recovers "
                         f"{r.recovery:.3f} of the clean-corrupt gap")  # fmt: skip
    return lines


def format_summary(s: CircuitSummary) -> str:
    """The summary as plain text, one block per model."""
    lines = [HEADER]
    for model in sorted(set(s.faithfulness.model)):
        lines += ["", f"== {model} =="]
        heads = s.top_heads[s.top_heads.model == model]
        if len(heads):
            lines.append("top heads by node patching (head: effect, share of gap):")
        for task, g in heads.groupby("task"):
            cells = [f"{r.head}: {r.effect:+.3f} ({r.share:+.2f})" for r in g.itertuples()]
            lines.append(f"  {task}: " + "; ".join(cells))
        faith = s.faithfulness[s.faithfulness.model == model].drop(columns="model")
        lines.append("faithfulness of each baseline at 5% / 20% of components (edges for eap-ig):")
        table = faith.assign(note=faith.note.map(lambda n: "STE gradients" if n else ""))
        lines += ["  " + x for x in table.round(3).to_string(index=False).splitlines()]
        hyp = s.hypotheses[s.hypotheses.model == model]
        if len(hyp):
            lines.append("hypothesis checks:")
            lines += _hypothesis_lines(hyp, heads)
    small = s.faithfulness[s.faithfulness.gap.abs() < SMALL_GAP]
    for (model, task), _ in small.groupby(["model", "task"]):
        lines.append(f"warning: {model} x {task}: clean-corrupt gap below {SMALL_GAP} logit; "
                     "its faithfulness values and shares are ratios over noise")  # fmt: skip
    if (s.faithfulness.f_at_5.abs() < 1e-6).any():
        lines.append("f_at_5 = 0 exactly: the top 5% lacks embed (or, for edges, a path from embed to "
                     "logits), so every kept component reads corrupted inputs only")  # fmt: skip
    if (s.faithfulness.note != "").any():
        lines += ["", "STE gradients: " + s.faithfulness.note[s.faithfulness.note != ""].iloc[0]]
    return "\n".join(lines)
