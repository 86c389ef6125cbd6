"""Scoring throughput of one model, measured in a fresh process (clean peak memory).

``python -m benchmarks.throughput MODEL STORIES NAIVE_STORIES`` prints one JSON line.

Two measurements, because the machine may be shared with other jobs:

* **per CPU-second, one thread** (the ratios): capgym (best of two runs), the naive
  baseline and the roofline all run with one torch thread and are timed with
  ``time.process_time``, which counts only this process's work, so other jobs on the
  machine barely move the ratios.  capgym's background threads (tokenising ahead,
  writing Parquet) are charged in full.
* **wall clock, all cores**: capgym, the naive baseline and the roofline with one
  thread per physical core, as a user would see them on this machine at that moment.

Example::

    python -m benchmarks.throughput stories260K 100 20
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from benchmarks.naive import naive_score, notebook_bitlinear
from benchmarks.roofline import roofline
from capgym.corpus import Corpus, load_corpus
from capgym.models import load_model
from capgym.models.base import LanguageModel
from capgym.models.bitllama import BitLinear
from capgym.models.threads import physical_cores
from capgym.score import ScoreSet, ScoreSettings, score
from capgym.store import open_run

CORPUS = "tinystories-validation-0-999"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _engine(model: LanguageModel, corpus: Corpus, threads: int) -> tuple[float, float, ScoreSet]:
    """(wall seconds, CPU seconds, score set) of one fresh capgym run."""
    os.environ["CAPGYM_THREADS"] = str(threads)
    folder = tempfile.mkdtemp(prefix="capgym-bench-")
    w, c = time.perf_counter(), time.process_time()
    s = score(model, corpus, folder, ScoreSettings(), progress=False)
    return time.perf_counter() - w, time.process_time() - c, s


def measure(model_name: str, n_stories: int, n_naive: int, repeats: int = 2) -> dict[str, Any]:
    """All throughput numbers of one model (see the module docstring)."""
    model = load_model(model_name)
    corpus = load_corpus(CORPUS).head(n_stories)
    rss_loaded = _rss_mib()
    torch.set_num_threads(1)
    cpu_runs = [_engine(model, corpus, 1) for _ in range(repeats)]
    rss_scored = _rss_mib()
    s = cpu_runs[0][2]
    ctx = open_run(s.path.parents[1]).sql("SELECT context_len FROM scores").context_len.to_numpy()
    part_bytes = sum(p.stat().st_size for p in s.path.glob("part-*.parquet"))
    c = time.process_time()
    naive_rows = naive_score(model, corpus.texts[:n_naive])
    naive_cpu = time.process_time() - c
    notebook_tps = None
    module = getattr(model, "module", None)
    if module is not None and any(isinstance(m, BitLinear) for m in module.modules()):
        with notebook_bitlinear():  # the naive loop on a notebook's own BitLinear port
            c = time.process_time()
            notebook_tps = len(naive_score(model, corpus.texts[:n_naive])) / (
                time.process_time() - c
            )
    rl1 = roofline(model, ctx, time.process_time)
    engine_cpu = min(r[1] for r in cpu_runs)
    cores = physical_cores()
    torch.set_num_threads(cores)
    wall_runs = [_engine(model, corpus, cores)[0] for _ in range(repeats)]
    w = time.perf_counter()
    naive_score(model, corpus.texts[:n_naive])
    naive_wall = time.perf_counter() - w
    rln = roofline(model, ctx, time.perf_counter)
    tps = s.n_rows / engine_cpu
    naive_tps = len(naive_rows) / naive_cpu
    wall_tps = s.n_rows / min(wall_runs)
    return {
        "model": model_name,
        "n_params": model.n_params,
        "stories": n_stories,
        "n_tokens": s.n_rows,
        "store_bytes_per_token": part_bytes / s.n_rows,
        "mean_context": float(np.mean(ctx)),
        "engine_cpu_s": [r[1] for r in cpu_runs],
        "engine_tokens_per_cpu_s": tps,
        "naive_tokens": len(naive_rows),
        "naive_cpu_s": naive_cpu,
        "naive_tokens_per_cpu_s": naive_tps,
        "speedup_vs_naive": tps / naive_tps,
        "naive_notebook_bitlinear_tokens_per_cpu_s": notebook_tps,
        "roofline_1": asdict(rl1),
        "roofline_tokens_per_cpu_s": rl1.tokens_per_s,
        "roofline_gflops_1": rl1.gflops,
        "fraction_of_roofline": tps / rl1.tokens_per_s,
        "cores": cores,
        "engine_wall_s": wall_runs,
        "engine_tokens_per_s": wall_tps,
        "naive_tokens_per_s": len(naive_rows) / naive_wall,
        "speedup_vs_naive_wall": wall_tps / (len(naive_rows) / naive_wall),
        "roofline_tokens_per_s": rln.tokens_per_s,
        "roofline_gflops": rln.gflops,
        "fraction_of_roofline_wall": wall_tps / rln.tokens_per_s,
        "rss_loaded_mib": rss_loaded,
        "peak_rss_mib": rss_scored,
        "load_1min": os.getloadavg()[0],
    }


if __name__ == "__main__":
    name, n, n_naive = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    print(json.dumps(measure(name, n, n_naive, repeats)))
