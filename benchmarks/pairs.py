"""Share of valid counterfactual pairs per (task, model), and whether the corruption moves
the metric: mean decision-point logit difference on the clean and the corrupted inputs.

For each task with a ``counterfactual:`` section and each model, the pairs are built and
validated (:func:`capgym.circuits.pairs.build_pairs`); the table gives
``valid_share`` (valid pairs / pairs built) and the reasons of the invalid ones.  For the
models in ``--logits`` it also gives the mean logit difference logit(answer) -
logit(wrong) over the valid pairs, clean and corrupted, and the share of pairs whose
corrupted value is the lower one, per template.  Output: a Markdown table on stdout.

Example::

    python benchmarks/pairs.py --tasks word-completion,story-closing --models stories260K
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import torch

from capgym.circuits.pairs import build_pairs, logit_diff
from capgym.circuits.runner import circuit_tasks
from capgym.errors import TaskError
from capgym.models import load_model
from capgym.tasks import make

MODELS = "stories260K,llama2xs-279K,bitllama-1M,bitllama-3M,babyllama-936K,TinyStories-656K"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="", help="comma-separated; default: all with pairs")
    ap.add_argument("--models", default=MODELS)
    ap.add_argument("--logits", default="stories260K", help="models whose logits are read")
    args = ap.parse_args()
    tasks = circuit_tasks([t for t in args.tasks.split(",") if t] or None)
    read = set(args.logits.split(","))
    print("| task | model | valid / built | valid share | invalid | clean | corrupted | lower |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        lm = load_model(name)
        for task_id in tasks:
            try:
                ps = build_pairs(lm, make(task_id))
            except TaskError as err:
                print(f"| {task_id} | {name} | 0 | 0 | {err} | | | |")
                continue
            bad = ", ".join(f"{k}: {v}" for k, v in ps.invalid.items())
            row = f"| {task_id} | {name} | {ps.n_valid} / {ps.n_total} | {ps.valid_share:.3f} | {bad} |"
            if name not in read:
                print(row + " | | |")
                continue
            with torch.no_grad():
                clean = logit_diff(lm.forward(ps.clean), ps)
                corrupt = logit_diff(lm.forward(ps.corrupt), ps)
            lower = float((corrupt < clean).float().mean())
            print(row + f" {clean.mean():.2f} | {corrupt.mean():.2f} | {lower:.2f} |")
            by: dict[str, list[tuple[float, float]]] = defaultdict(list)
            for p, a, b in zip(ps.pairs, clean.tolist(), corrupt.tolist()):
                by[p.template].append((a, b))
            for t, v in by.items():
                a = sum(x for x, _ in v) / len(v)
                b = sum(y for _, y in v) / len(v)
                low = sum(y < x for x, y in v) / len(v)
                print(
                    f"| {task_id} / {t} | {name} | {len(v)} | | | {a:.2f} | {b:.2f} | {low:.2f} |"
                )


if __name__ == "__main__":
    main()
