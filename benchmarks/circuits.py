"""Seconds per (task, model) of the circuit baselines, and batched vs naive node patching.

For each model and each built-in task (a task without a ``counterfactual:`` section, or
without a valid pair for the model, gets a row saying so), on ``--pairs`` pairs:

* node patching of every head and MLP (batched,
  :func:`capgym.circuits.baselines.node_patching`, including the corrupted run that
  provides the patched activations), attribution patching and EAP-IG, each timed alone:
  wall seconds and CPU seconds of this process (one torch thread unless ``--threads``);
* the naive loop (:func:`capgym.circuits.baselines.naive_node_patching`: one forward
  per component per pair, plus one clean forward per pair) on the first
  ``--naive-pairs`` pairs, and batched node patching on the *same* pairs with the same
  patched activations, side by side; ``max_gap`` is the largest difference between the
  two effect vectors (logit-difference units).

Two ratios, both of CPU seconds (the fair figure on a shared machine):

* ``same`` = naive CPU / batched CPU, both on the ``k`` naive pairs;
* ``per pc`` (per pair-component) = (naive CPU / (k * N)) / (batched CPU / (P * N)),
  i.e. the naive loop's CPU seconds per (pair, component) over those of the full batched
  run on all ``P`` pairs (``N`` components).  The naive loop's cost is linear in
  ``k * N`` (one forward each), so this is what the naive loop would cost for the full
  job relative to the batched one.

Example::

    python -m benchmarks.circuits --models stories260K --tasks repeated-name --pairs 50
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import torch

from capgym.circuits import HookedModel
from capgym.circuits.baselines import attribution_patching, naive_node_patching, node_patching
from capgym.circuits.edges import eap_ig
from capgym.circuits.pairs import PairSet, build_pairs
from capgym.circuits.patching import sources
from capgym.circuits.runner import circuit_tasks
from capgym.errors import CapgymError
from capgym.models import load_model
from capgym.tasks import make, task_paths

MODELS = "stories260K,bitllama-3M"
# bitllama-3M costs ~7x stories260K per pair (CPU, 73 vs 46 components); fewer pairs keep the
# default run near 10 minutes on the shared 2-core machine
PAIRS = "stories260K=200,bitllama-3M=40"
NAIVE_PAIRS = "stories260K=10,bitllama-3M=2"
COLS = ["model", "task", "pairs", "components", "pairs_cpu_s", "patching_s", "patching_cpu_s",
        "attribution_s", "attribution_cpu_s", "eap_ig_s", "eap_ig_cpu_s", "naive_pairs",
        "naive_cpu_s", "batched_same_cpu_s", "ratio_same", "ratio_per_pc", "max_gap"]  # fmt: skip


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def per_model(spec: str, model: str) -> int:
    """A count from ``"12"`` (every model) or ``"m1=200,m2=40"`` (per model; the first is the default).

    >>> per_model("stories260K=200,bitllama-3M=40", "bitllama-3M"), per_model("7", "x")
    (40, 7)
    """
    if "=" not in spec:
        return int(spec)
    pairs = dict(kv.split("=", 1) for kv in spec.split(","))
    return int(pairs.get(model, next(iter(pairs.values()))))


def bench_task(hm: HookedModel, ps: PairSet, naive_pairs: int) -> dict[str, Any]:
    """Every timing of one (model, task); see the module docstring."""
    row: dict[str, Any] = {"pairs": ps.n_valid, "components": len(hm.components)}
    for name, fn in (
        ("patching", lambda: node_patching(hm, ps)),
        ("attribution", lambda: attribution_patching(hm, ps)),
        ("eap_ig", lambda: eap_ig(hm, ps)),
    ):
        _, wall, cpu = timed(fn)
        row[f"{name}_s"], row[f"{name}_cpu_s"] = wall, cpu
    k = min(naive_pairs, ps.n_valid)
    small = ps.subset(list(range(k)))
    src = sources(hm, small, "patch")
    fast, _, fast_cpu = timed(lambda: node_patching(hm, small, src))
    slow, _, slow_cpu = timed(lambda: naive_node_patching(hm, small, src))
    fast_d = fast.as_dict()
    gap = max(abs(fast_d[c.name] - float(v)) for c, v in zip(hm.components, slow))
    per_pc = (slow_cpu / k) / (row["patching_cpu_s"] / ps.n_valid)
    row |= {"naive_pairs": k, "naive_cpu_s": slow_cpu, "batched_same_cpu_s": fast_cpu,
            "ratio_same": slow_cpu / fast_cpu, "ratio_per_pc": per_pc, "max_gap": gap}  # fmt: skip
    return row


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1e}" if 0 < abs(value) < 1e-3 else f"{value:.3g}"
    return str(value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=MODELS)
    ap.add_argument("--tasks", default="", help="default: every built-in task")
    ap.add_argument("--pairs", default=PAIRS, help="N or model=N,...")
    ap.add_argument("--naive-pairs", default=NAIVE_PAIRS, help="N or model=N,...")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tasks = [t for t in args.tasks.split(",") if t] or sorted(task_paths())
    with_pairs = set(circuit_tasks(None))
    t0, c0 = time.perf_counter(), time.process_time()
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, torch {torch.__version__}, "
          f"{args.threads} thread(s), load average {os.getloadavg()}")  # fmt: skip
    print("| " + " | ".join(COLS) + " |")
    print("|" + "---|" * len(COLS))
    for model in args.models.split(","):
        hm = HookedModel(load_model(model))
        for task in tasks:
            if task not in with_pairs:
                print(f"| {model} | {task} | no counterfactual pairs in the task file |")
                continue
            try:
                c = time.process_time()
                ps = build_pairs(hm.lm, make(task), limit=per_model(args.pairs, model))
                pairs_cpu = time.process_time() - c
            except CapgymError as err:
                print(f"| {model} | {task} | skipped: {err} |", flush=True)
                continue
            row = {"model": model, "task": task, "pairs_cpu_s": pairs_cpu,
                   **bench_task(hm, ps, per_model(args.naive_pairs, model))}  # fmt: skip
            print("| " + " | ".join(cell(row[c]) for c in COLS) + " |", flush=True)
    print(f"total {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU; "
          f"load average at the end {os.getloadavg()}")  # fmt: skip


if __name__ == "__main__":
    main()
