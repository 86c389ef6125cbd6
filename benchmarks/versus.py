"""capgym against the loops users write instead, side by side in one process.

    python -m benchmarks.versus stories260K --stories 200 [--naive 10] [--repeats 3]

For one model: ``capgym.score`` end to end (tokenise, forward, metrics, Parquet) and
the competent loop (:mod:`benchmarks.competent`: sorted padded batches of 8, one
``log_softmax``, metrics in torch, the model's eager forward) on the same stories; for
capgym's own Llamas, also that loop given capgym's TorchScript-traced forward
(:mod:`capgym.models.traced`), to separate what the trace brings; interleaved run by run, best of ``--repeats``, in two conditions: one torch thread
(tokens per CPU-second of this process: other jobs on the machine barely move it) and
one thread per physical core (tokens per wall second: capgym's batch workers against
the loop's OpenMP threads, as seen at that moment).  The naive notebook loop
(:mod:`benchmarks.naive`) runs once on ``--naive`` stories with one thread.  Then each
of capgym and the competent loop is profiled once with one thread
(:func:`benchmarks.bounds.op_shares`: the operators that bound it, and the share of
the model forward both call).  Prints one JSON line with tokens/s, the ratios, the
profiles, capgym's token budget for the model and the load average at start, middle
and end.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from typing import Any

import torch

from benchmarks.bounds import op_shares
from benchmarks.competent import competent_score
from benchmarks.naive import naive_score
from capgym.corpus import load_corpus
from capgym.models import load_model
from capgym.models.threads import physical_cores
from capgym.score import ScoreSettings, score
from capgym.score.engine import token_budget

CORPUS = "tinystories-validation-0-999"


def _timed(fn: Any) -> tuple[float, float, Any]:
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def compare(
    model_name: str,
    stories: int,
    naive_stories: int,
    repeats: int,
    threads: int,
    profiled: bool = True,
) -> dict[str, Any]:
    """Best-of-``repeats`` tokens/s of capgym, the competent and the naive loop.

    Two conditions, interleaved: one thread (tokens per CPU-second of this process,
    robust to other jobs) and ``threads`` threads (tokens per wall second).
    """
    model = load_model(model_name)
    corpus = load_corpus(CORPUS).head(stories)
    texts = corpus.texts
    out: dict[str, Any] = {"model": model_name, "stories": stories, "threads": threads}
    out["token_budget"] = token_budget(model, ScoreSettings())
    out["load_1min"] = [os.getloadavg()[0]]
    best: dict[str, float] = {}
    n_rows = 0
    build = getattr(model, "traced_forward", None)
    traced = build() if build is not None else None
    for _ in range(repeats):
        for n in (1, threads):
            os.environ["CAPGYM_THREADS"] = str(n)
            torch.set_num_threads(n)
            clock = 1 if n == 1 else 0  # CPU-s with one thread, wall with all
            t = _timed(lambda: score(model, corpus, tempfile.mkdtemp(), progress=False))
            n_rows = t[2].n_rows
            best[f"capgym_{n}"] = min(best.get(f"capgym_{n}", 1e9), t[clock])
            t = _timed(lambda: competent_score(model, texts))
            assert len(t[2]["rank"]) == n_rows, (len(t[2]["rank"]), n_rows)
            best[f"competent_{n}"] = min(best.get(f"competent_{n}", 1e9), t[clock])
            if traced is not None:  # the same loop given capgym's traced forward
                t = _timed(lambda: competent_score(model, texts, forward=traced))
                best[f"traced_{n}"] = min(best.get(f"traced_{n}", 1e9), t[clock])
    out["load_1min"].append(os.getloadavg()[0])
    out["tokens"] = n_rows
    for n, unit in ((1, "cpu"), (threads, "wall")):
        out[f"capgym_tok_{unit}_s"] = n_rows / best[f"capgym_{n}"]
        out[f"competent_tok_{unit}_s"] = n_rows / best[f"competent_{n}"]
        out[f"capgym_vs_competent_{unit}"] = best[f"competent_{n}"] / best[f"capgym_{n}"]
        if traced is not None:
            out[f"traced_tok_{unit}_s"] = n_rows / best[f"traced_{n}"]
            out[f"capgym_vs_traced_{unit}"] = best[f"traced_{n}"] / best[f"capgym_{n}"]
    if naive_stories:
        torch.set_num_threads(1)
        _, c, rows = _timed(lambda: naive_score(model, texts[:naive_stories]))
        out["naive_tok_cpu_s"] = len(rows) / c
        out["capgym_vs_naive_cpu"] = out["capgym_tok_cpu_s"] / out["naive_tok_cpu_s"]
    if profiled:
        out["profile"] = profiles(model, corpus)
    out["load_1min"].append(os.getloadavg()[0])
    return out


def profiles(model: Any, corpus: Any) -> dict[str, Any]:
    """What bounds capgym and the competent loop on one thread (one profiled run each)."""
    os.environ["CAPGYM_THREADS"] = "1"
    torch.set_num_threads(1)
    return {
        "capgym": op_shares(
            lambda: score(model, corpus, tempfile.mkdtemp(), progress=False), forward=model
        ),
        "competent": op_shares(lambda: competent_score(model, corpus.texts), forward=model),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--stories", type=int, default=200)
    p.add_argument("--naive", type=int, default=0, help="stories for the naive loop (0: skip)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=physical_cores())
    p.add_argument("--no-profile", action="store_true", help="skip the two profiled runs")
    a = p.parse_args()
    r = compare(a.model, a.stories, a.naive, a.repeats, a.threads, not a.no_profile)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
