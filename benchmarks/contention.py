"""Scoring speed beside one competing CPU-bound process, as a ratio to without it.

    python -m benchmarks.contention bitllama-3M --stories 60 [--repeats 3] [--competitor busy]

In one process, interleaved run by run: ``capgym.score`` (batch workers, one torch
thread each), capgym's previous engine (the same batches split across OpenMP threads),
and the competent loop (:mod:`benchmarks.competent`, OpenMP threads), each once without
and once beside a competitor this script starts and stops: ``busy`` (a Python busy
loop) or ``matmul`` (a one-thread torch matmul loop).  All use one thread per physical
core.  The best wall time of each is kept; the ratio loaded / quiet is the throughput
kept beside the competitor (with one of two cores taken, 0.5 is a fair share).  Other
jobs on the machine load both conditions alike; the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from benchmarks.competent import competent_score
from capgym.corpus import load_corpus
from capgym.models import load_model
from capgym.models.threads import physical_cores, serial_map, torch_threads
from capgym.score import engine, score

CORPUS = "tinystories-validation-0-999"
COMPETITORS = {
    "busy": "while True: pass",
    "matmul": (
        "import torch; torch.set_num_threads(1); a = torch.randn(1024, 1024)\nwhile True: a @ a"
    ),
}


@contextmanager
def competitor(kind: str) -> Iterator[None]:
    """A CPU-bound process running for the duration of the block."""
    proc = subprocess.Popen([sys.executable, "-c", COMPETITORS[kind]])
    time.sleep(0.5)  # let it start (and import torch)
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


@contextmanager
def openmp_engine(model: Any, threads: int) -> Iterator[Any]:
    """capgym's engine before batch workers: each batch split across OpenMP threads."""
    with torch_threads(threads):
        yield serial_map


def _wall(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(model_name: str, stories: int, repeats: int, kind: str, threads: int) -> dict:
    """Best wall seconds of each engine, quiet and beside the competitor."""
    os.environ["CAPGYM_THREADS"] = str(threads)
    model = load_model(model_name)
    corpus = load_corpus(CORPUS).head(stories)

    def capgym() -> None:
        score(model, corpus, tempfile.mkdtemp(), progress=False)

    def capgym_openmp() -> None:
        workers = engine._workers
        engine._workers = openmp_engine  # type: ignore[assignment]
        try:
            score(model, corpus, tempfile.mkdtemp(), progress=False)
        finally:
            engine._workers = workers  # type: ignore[assignment]

    def competent() -> None:
        with torch_threads(threads):
            competent_score(model, corpus.texts)

    runs = {"capgym": capgym, "capgym_openmp": capgym_openmp, "competent": competent}
    tokens = score(model, corpus, tempfile.mkdtemp(), progress=False).n_rows  # warm-up
    best: dict[str, float] = {}
    load = [os.getloadavg()[0]]
    for _ in range(repeats):
        for name, fn in runs.items():
            best[f"{name}_quiet"] = min(best.get(f"{name}_quiet", 1e9), _wall(fn))
            with competitor(kind):
                best[f"{name}_loaded"] = min(best.get(f"{name}_loaded", 1e9), _wall(fn))
        load.append(os.getloadavg()[0])
    out: dict[str, Any] = {"model": model_name, "stories": stories, "tokens": tokens}
    out |= {"threads": threads, "competitor": kind, "repeats": repeats, "load_1min": load}
    for name in runs:
        q, ld = best[f"{name}_quiet"], best[f"{name}_loaded"]
        out[name] = {"quiet_tok_s": tokens / q, "loaded_tok_s": tokens / ld, "kept": q / ld}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--stories", type=int, default=60)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--competitor", choices=sorted(COMPETITORS), default="busy")
    p.add_argument("--threads", type=int, default=physical_cores())
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(json.dumps(measure(a.model, a.stories, a.repeats, a.competitor, a.threads)))


if __name__ == "__main__":
    main()
