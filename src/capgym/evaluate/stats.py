"""Aggregates per (model, task) with seeded bootstrap 95% confidence intervals.

>>> import numpy as np
>>> lo, hi = bootstrap_ci(np.array([0.0, 1.0] * 50), seed=0)
>>> lo < 0.5 < hi
True
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

N_BOOT = 1000


def bootstrap_ci(
    x: np.ndarray,
    stat: Callable[[np.ndarray], np.ndarray] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat`` (default: the mean) over ``x``, NaNs dropped.

    ``stat`` maps an array ``[n_boot, n]`` of resamples to ``[n_boot]`` statistics.
    """
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    samples = x[rng.integers(0, len(x), size=(n_boot, len(x)))]
    stats = samples.mean(axis=1) if stat is None else stat(samples)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return float(lo), float(hi)


def _mean(x: pd.Series) -> float:
    v = x.dropna()
    return float(v.mean()) if len(v) else math.nan


def summarise(results: pd.DataFrame, greedy: pd.Series | None = None, seed: int = 0,
              n_boot: int = N_BOOT) -> dict[str, float]:  # fmt: skip
    """The aggregate figures of one (model, task) from its ``results`` rows.

    >>> df = pd.DataFrame({"prob": [0.5, 0.1], "logprob": [-0.7, -2.3], "rank": [0, 3],
    ...                    "logit_diff": [1.0, -1.0], "first_logit_diff": [1.0, -1.0]})
    >>> s = summarise(df)
    >>> s["accuracy"], s["median_rank"], s["mean_logit_diff"]
    (0.5, 1.5, 0.0)
    """
    acc = (results["rank"] == 0).astype(float).to_numpy()
    out = {
        "n": float(len(results)),
        "mean_prob": _mean(results["prob"]),
        "median_rank": float(results["rank"].median()) if len(results) else math.nan,
        "accuracy": float(acc.mean()) if len(acc) else math.nan,
        "mean_logit_diff": _mean(results["logit_diff"]),
        "mean_first_logit_diff": _mean(results["first_logit_diff"]),
        "mean_logprob": _mean(results["logprob"]),
        "greedy_accuracy": float(greedy.mean()) if greedy is not None and len(greedy) else math.nan,
    }
    for name, values in (("mean_prob", results["prob"]), ("accuracy", acc),
                         ("mean_logit_diff", results["logit_diff"])):  # fmt: skip
        lo, hi = bootstrap_ci(np.asarray(values, dtype=float), n_boot=n_boot, seed=seed)
        out[f"{name}_lo"], out[f"{name}_hi"] = lo, hi
    return out
