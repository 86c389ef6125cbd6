"""Throughput of the stages after scoring: tagging and the explainers (tokens/s).

Both run on a run folder where the model was scored, and count that model's scored
tokens, so their tokens/s compare directly with scoring's.  A stage that is not
importable (not built yet) is reported as skipped with the reason.

Example::

    python -c "from benchmarks.stages import measure; print(measure('capgym-out', 'stories260K'))"
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from capgym.store import open_run


def measure(run_dir: str | Path, model: str) -> dict[str, Any]:
    """Seconds and tokens/s of tagging the run's stories and of ``explain`` on ``model``."""
    run = open_run(run_dir)
    n_tokens = int(run.sql("SELECT count(*) AS n FROM scores WHERE model = ?", [model]).n[0])
    corpora = sorted({c for (m, c) in run.current_score_sets() if m == model})
    out: dict[str, Any] = {"tokens": n_tokens}
    try:
        from capgym.explain import ensure_tags
    except ImportError as err:
        out["tags"] = f"skipped: {err}"
    else:
        t = time.perf_counter()
        ensure_tags(run, corpora, progress=False)
        dt = time.perf_counter() - t
        out["tags"] = {"seconds": dt, "tokens_per_s": n_tokens / dt}
    try:
        from capgym.explain import explain
    except ImportError as err:
        out["explain"] = f"skipped: {err}"
    else:
        t = time.perf_counter()
        explain(run, model, progress=False)
        dt = time.perf_counter() - t
        out["explain"] = {"seconds": dt, "tokens_per_s": n_tokens / dt}
    return out
