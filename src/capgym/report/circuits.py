"""Atlas section "How could a transformer implement this?": the interpretability gym per task.

Reads only the circuits tables (``components``, ``circuit_scores``, ``leaderboard``,
``circuit_hypotheses``, ``circuit_attention``) written by ``capgym circuits``: per task,
the top components of each model, the attention of the top heads on an example (offline
HTML, shaded token boxes), the faithfulness curve of each baseline, the hypothesis
check, and the open challenge in one line.
"""

from __future__ import annotations

import json

import pandas as pd

from capgym.report.context import Ctx
from capgym.report.html import Section, esc, nodata, note

HOW = "capgym circuits --models A,B --out RUN"


def _tokens(tokens: list[str], weights: list[float]) -> str:
    """Token boxes shaded by attention weight (the token view's look, no JavaScript)."""
    top = max(weights) or 1.0
    boxes = []
    for piece, w in zip(tokens, weights):
        alpha = min(1.0, w / top)
        boxes.append(f'<span title="{w:.3f}" style="display:inline-block;font-family:monospace;'
                     f'margin:1px;padding:0 2px;border:1px solid #ccc;'
                     f'background:rgba(31,119,180,{alpha:.2f})">{esc(piece)}</span>')  # fmt: skip
    return "".join(boxes)


def _challenge(board: pd.DataFrame, task: str) -> str:
    rows = board[(board.task == task) & (board["size"] < 0)]
    if not len(rows):
        return ""
    best = rows.sort_values("f_at_5", ascending=False).iloc[0]
    return (f"Open challenge: on {best.model}, find a circuit of at most 5% of the components "
            f"(or edges) with faithfulness above {best.f_at_5:.2f} (best baseline: {best.method}); "
            f"submit it with `capgym submit {task} {best.model} circuit.json`.")  # fmt: skip


def _task_block(ctx: Ctx, task: str, board: pd.DataFrame) -> str:
    f = ctx.f
    parts = [f'<details class="card" id="circuits-{esc(task)}"><summary>{esc(task)}</summary>']
    parts.append(note(_challenge(board, task)))
    rows = board[board.task == task]
    cols = ["model", "method", "level", "n_pairs", "valid_share", "m_clean", "m_corrupt",
            "f_at_5", "f_at_20", "cpr", "cmd", "faithfulness", "size", "note"]  # fmt: skip
    parts += [
        "<h4>Leaderboard</h4>",
        ctx.table(f"circuits-board-{task}", rows[cols].reset_index(drop=True)),
    ]
    top = f.df("SELECT model, method, component, score FROM components WHERE task = ? AND rank < 5 "
               "ORDER BY model, method, rank", [task])  # fmt: skip
    if len(top):
        top["top"] = top.component + " (" + top.score.round(2).astype(str) + ")"
        wide = top.groupby(["model", "method"]).top.agg(", ".join).reset_index()
        parts += ["<h4>Top components (effect on the logit difference)</h4>",
                  ctx.table(f"circuits-top-{task}", wide)]  # fmt: skip
    curves = f.df("SELECT model, method, mode, fraction, faithfulness FROM circuit_scores "
                  "WHERE task = ? ORDER BY model, method, mode, fraction", [task])  # fmt: skip
    if len(curves):
        curves["fraction"] = (curves.fraction * 100).round(0).astype(int).astype(str) + "%"
        wide = curves.pivot_table(index=["model", "method", "mode"], columns="fraction",
                                  values="faithfulness", sort=False).reset_index()  # fmt: skip
        parts += ["<h4>Faithfulness curves (share of components or edges kept)</h4>",
                  ctx.table(f"circuits-curves-{task}", wide)]  # fmt: skip
    if f.has("circuit_hypotheses"):
        hyp = f.df("SELECT model, statement, satisfied, recovery, top_mass FROM circuit_hypotheses "
                   "WHERE task = ?", [task])  # fmt: skip
        if len(hyp) and hyp.statement.str.len().max() > 0:
            hyp["satisfied"] = hyp.satisfied.map(lambda xs: ", ".join(xs) if len(xs) else "none")
            hyp["top_mass"] = hyp.top_mass.map(
                lambda s: ", ".join(f"{k} {v:.2f}" for k, v in json.loads(s).items())
            )
            parts += ["<h4>Hypothesis check</h4>", ctx.table(f"circuits-hyp-{task}", hyp)]
            parts.append(note("Satisfied: heads whose attention from the decision token to the named "
                              "positions averages at least the threshold; recovery: share of the clean-"
                              "corrupted gap restored by patching those heads alone into the corrupted run."))  # fmt: skip
    if f.has("circuit_attention"):
        att = f.df("SELECT model, head, example_id, tokens, weights FROM circuit_attention "
                   "WHERE task = ?", [task])  # fmt: skip
        if len(att):
            parts.append("<h4>Attention of the top heads from the decision token</h4>")
            for r in att.itertuples():
                parts.append(f"<p><b>{esc(r.model)} {esc(r.head)}</b> ({esc(r.example_id)}): "
                             f"{_tokens(list(r.tokens), [float(w) for w in r.weights])}</p>")  # fmt: skip
    parts.append("</details>")
    return "\n".join(parts)


def circuits(ctx: Ctx) -> Section:
    """The section builder (registered in :data:`capgym.report.atlas.SECTIONS`)."""
    f = ctx.f
    title = "How could a transformer implement this?"
    if not f.has("leaderboard"):
        return Section(
            "circuits", title, nodata("circuit results", HOW.replace("RUN", str(f.run.path)))
        )
    board = f.df("SELECT * FROM leaderboard ORDER BY task, model, method")
    intro = note("Each task with counterfactual pairs is a causal challenge: components outside a "
                 "circuit are patched from the corrupted prompt; faithfulness = (m(C) - m(empty)) / "
                 "(m(model) - m(empty)) with m the decision-point logit difference. cpr and cmd "
                 "integrate faithfulness and |1 - faithfulness| over the share of components kept.")  # fmt: skip
    blocks = [_task_block(ctx, t, board) for t in sorted(set(board.task))]
    return Section("circuits", title, intro + "\n".join(blocks))
