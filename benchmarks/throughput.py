"""Scoring throughput of one model, measured in a fresh process (clean peak memory).

``python -m benchmarks.throughput MODEL STORIES NAIVE_STORIES`` prints one JSON line:
capgym's tokens/s (best of two runs, the naive baseline in between so both see the
same machine), the naive baseline's tokens/s, the roofline, and the peak resident
memory of the process after scoring (the model, torch and capgym's buffers).

Example::

    python -m benchmarks.throughput stories260K 100 20
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from dataclasses import asdict
from typing import Any

import numpy as np

from benchmarks.naive import naive_score
from benchmarks.roofline import roofline
from capgym.corpus import load_corpus
from capgym.models import load_model
from capgym.score import ScoreSettings, score
from capgym.store import open_run

CORPUS = "tinystories-validation-0-999"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(model_name: str, n_stories: int, n_naive: int, repeats: int = 2) -> dict[str, Any]:
    """All throughput numbers of one model (see the module docstring)."""
    model = load_model(model_name)
    corpus = load_corpus(CORPUS).head(n_stories)
    rss_loaded = _rss_mib()
    runs, out = [], {}
    for i in range(repeats):
        folder = tempfile.mkdtemp(prefix="capgym-bench-")
        t = time.perf_counter()
        s = score(model, corpus, folder, ScoreSettings(), progress=False)
        runs.append(time.perf_counter() - t)
        if i == 0:
            rss_scored = _rss_mib()
            run = open_run(folder)
            ctx = run.sql("SELECT context_len FROM scores").context_len.to_numpy()
            part_bytes = sum(p.stat().st_size for p in s.path.glob("part-*.parquet"))
            out = {"n_tokens": s.n_rows, "store_bytes_per_token": part_bytes / s.n_rows}
            t = time.perf_counter()
            naive_rows = naive_score(model, corpus.texts[:n_naive])
            naive_s = time.perf_counter() - t
    engine_s = min(runs)
    rl = roofline(model, ctx)
    tps = out["n_tokens"] / engine_s
    return {
        "model": model_name,
        "n_params": model.n_params,
        "stories": n_stories,
        **out,
        "engine_s": runs,
        "engine_tokens_per_s": tps,
        "naive_tokens": len(naive_rows),
        "naive_s": naive_s,
        "naive_tokens_per_s": len(naive_rows) / naive_s,
        "speedup_vs_naive": tps / (len(naive_rows) / naive_s),
        "roofline": asdict(rl),
        "roofline_tokens_per_s": rl.tokens_per_s,
        "roofline_gflops": rl.gflops,
        "fraction_of_roofline": tps / rl.tokens_per_s,
        "mean_context": float(np.mean(ctx)),
        "rss_loaded_mib": rss_loaded,
        "peak_rss_mib": rss_scored,
    }


if __name__ == "__main__":
    name, n, n_naive = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    print(json.dumps(measure(name, n, n_naive, repeats)))
