"""capgym against the loops users write instead, side by side in one process.

    python -m benchmarks.versus stories260K --stories 200 [--naive 10] [--repeats 3]

For one model: ``capgym.score`` end to end (tokenise, forward, metrics, Parquet), the
competent loop (:mod:`benchmarks.competent`: sorted padded batches of 8, one
``log_softmax``, metrics in torch) and the naive notebook loop (:mod:`benchmarks.naive`)
run on the same stories, with the same torch threads (one per physical core, or
``--threads``), interleaved run by run; the best wall time of each is kept, so a burst
of load from other jobs hits all of them alike.  Prints one JSON line with tokens/s and
the ratios, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from typing import Any

import torch

from benchmarks.competent import competent_score
from benchmarks.naive import naive_score
from capgym.corpus import load_corpus
from capgym.models import load_model
from capgym.score import score
from capgym.score.threads import physical_cores

CORPUS = "tinystories-validation-0-999"


def _timed(fn: Any) -> tuple[float, float, Any]:
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def compare(
    model_name: str, stories: int, naive_stories: int, repeats: int, threads: int
) -> dict[str, Any]:
    """Best-of-``repeats`` tokens/s of capgym, the competent and the naive loop."""
    os.environ["CAPGYM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    model = load_model(model_name)
    corpus = load_corpus(CORPUS).head(stories)
    texts = corpus.texts
    load0 = os.getloadavg()[0]
    cap, comp = [], []
    n_rows = n_comp = 0
    competent_score(model, texts[: min(16, stories)])  # warm up both paths once
    for _ in range(repeats):
        w, c, s = _timed(lambda: score(model, corpus, tempfile.mkdtemp(), progress=False))
        cap.append((w, c))
        n_rows = s.n_rows
        w, c, out = _timed(lambda: competent_score(model, texts))
        comp.append((w, c))
        n_comp = len(out["rank"])
    assert n_comp == n_rows, (n_comp, n_rows)
    naive = None
    if naive_stories:
        w, c, rows = _timed(lambda: naive_score(model, texts[:naive_stories]))
        naive = len(rows) / w
    cap_w, comp_w = min(w for w, _ in cap), min(w for w, _ in comp)
    return {
        "model": model_name,
        "stories": stories,
        "tokens": n_rows,
        "threads": threads,
        "capgym_tok_s": n_rows / cap_w,
        "competent_tok_s": n_rows / comp_w,
        "naive_tok_s": naive,
        "capgym_vs_competent": comp_w / cap_w,
        "capgym_vs_naive": (n_rows / cap_w) / naive if naive else None,
        "capgym_wall_s": [round(w, 3) for w, _ in cap],
        "competent_wall_s": [round(w, 3) for w, _ in comp],
        "capgym_cpu_s": [round(c, 3) for _, c in cap],
        "competent_cpu_s": [round(c, 3) for _, c in comp],
        "load_1min": [load0, os.getloadavg()[0]],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--stories", type=int, default=200)
    p.add_argument("--naive", type=int, default=0, help="stories for the naive loop (0: skip)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=physical_cores())
    a = p.parse_args()
    print(json.dumps(compare(a.model, a.stories, a.naive, a.repeats, a.threads)))


if __name__ == "__main__":
    main()
