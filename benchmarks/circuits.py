"""Seconds per (task, model) of the circuit baselines, and batched vs naive node patching.

For each model and task with counterfactual pairs: node patching of every head and MLP
(batched, :func:`capgym.circuits.baselines.node_patching`), attribution patching and
EAP-IG, each timed alone (wall and CPU seconds of this process, one torch thread unless
``--threads``).  Then, on the first ``--naive-pairs`` pairs, batched node patching
side by side with the naive loop (one forward per component per pair,
:func:`capgym.circuits.baselines.naive_node_patching`), on the same pairs, and the two
effect vectors compared.

Example::

    python benchmarks/circuits.py --models stories260K --tasks repeated-name --pairs 200
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch

from capgym.circuits import HookedModel
from capgym.circuits.baselines import attribution_patching, naive_node_patching, node_patching
from capgym.circuits.edges import eap_ig
from capgym.circuits.pairs import PairSet, build_pairs
from capgym.circuits.patching import sources
from capgym.circuits.runner import circuit_tasks
from capgym.errors import TaskError
from capgym.models import load_model
from capgym.tasks import make


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def bench_pair(hm: HookedModel, ps: PairSet, naive_pairs: int) -> dict[str, Any]:
    row: dict[str, Any] = {"pairs": ps.n_valid, "components": len(hm.components)}
    for name, fn in (
        ("patching", lambda: node_patching(hm, ps)),
        ("attribution", lambda: attribution_patching(hm, ps)),
        ("eap-ig", lambda: eap_ig(hm, ps)),
    ):
        _, wall, cpu = timed(fn)
        row[f"{name}_s"], row[f"{name}_cpu_s"] = wall, cpu
    small = ps.subset(list(range(min(naive_pairs, ps.n_valid))))
    src = sources(hm, small, "patch")
    fast, fast_wall, _ = timed(lambda: node_patching(hm, small, src))
    slow, slow_wall, _ = timed(lambda: naive_node_patching(hm, small, src))
    fast_d = fast.as_dict()
    gap = max(abs(fast_d[c.name] - float(v)) for c, v in zip(hm.components, slow))
    row |= {"naive_pairs": small.n_valid, "batched_small_s": fast_wall, "naive_small_s": slow_wall,
            "naive_over_batched": slow_wall / fast_wall, "max_effect_gap": gap}  # fmt: skip
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="stories260K,bitllama-3M")
    ap.add_argument("--tasks", default="", help="default: every task with counterfactual pairs")
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--naive-pairs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tasks = [t for t in args.tasks.split(",") if t] or circuit_tasks(None)
    cols = ["model", "task", "pairs", "components", "patching_s", "patching_cpu_s", "attribution_s", "eap-ig_s",
            "naive_pairs", "batched_small_s", "naive_small_s", "naive_over_batched", "max_effect_gap"]  # fmt: skip
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for model in args.models.split(","):
        hm = HookedModel(load_model(model))
        for task in tasks:
            try:
                ps = build_pairs(hm.lm, make(task), limit=args.pairs)
            except TaskError as err:
                print(f"| {model} | {task} | skipped: {err} |")
                continue
            row = {"model": model, "task": task, **bench_pair(hm, ps, args.naive_pairs)}
            cells = [f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c]) for c in cols]
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
