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
Z = 1.96


def wilson(k: float, n: float, z: float = Z) -> tuple[float, float]:
    """95% Wilson score interval of ``k`` successes in ``n`` trials.

    >>> lo, hi = wilson(8, 10)
    >>> round(lo, 3), round(hi, 3)
    (0.49, 0.943)
    """
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


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


METRICS = {
    "beats_wrong": "share of examples whose answer beats every wrong answer where the "
    "candidates first differ (teacher-forced along their shared prefix; ties lose); "
    "chance = mean of 1 / (1 + number of wrong answers) over the same examples",
    "mean_logit_diff_at_decision": "mean of logit(answer) - logit(wrong) at the first token "
    "where they differ, against the strongest wrong answer (the IOI logit difference)",
    "top1_vocab": "share of examples whose answer's first non-space token is the model's top "
    "choice over the whole vocabulary",
    "mean_seq_logprob_diff": "mean of summed log-prob of the answer minus that of the best "
    "wrong answer (whole candidates, any token counts)",
    "mean_seq_logprob_diff_per_token": "the same with each candidate's mean log-prob per token",
    "single_token_share": "share of examples with wrong answers whose contrast is one token "
    "on each side for this tokenizer",
    "greedy_accuracy": "share of examples whose every answer token is ranked first",
}


def _ci(out: dict[str, float], name: str, values: np.ndarray, n_boot: int, seed: int) -> None:
    lo, hi = bootstrap_ci(np.asarray(values, dtype=float), n_boot=n_boot, seed=seed)
    out[f"{name}_lo"], out[f"{name}_hi"] = lo, hi


def _col(results: pd.DataFrame, name: str) -> pd.Series:
    return results[name] if name in results else pd.Series(math.nan, index=results.index)


def summarise(results: pd.DataFrame, greedy: pd.Series | None = None, seed: int = 0,
              n_boot: int = N_BOOT) -> dict[str, float]:  # fmt: skip
    """The aggregate figures of one (model, task) from its ``results`` rows (see
    :data:`METRICS`); means skip NaN (examples without wrong answers, or whose contrast has
    no decision token, counted in ``n_no_decision``).

    >>> df = pd.DataFrame({"prob": [0.5, 0.1], "logprob": [-0.7, -2.3], "rank": [0, 3],
    ...                    "beats_wrong": [1.0, 1.0], "logit_diff_at_decision": [2.0, 0.5],
    ...                    "n_wrong": [1, 3], "single_token_contrast": [1.0, 0.0]})
    >>> s = summarise(df)
    >>> s["top1_vocab"], s["beats_wrong"], s["chance"], s["mean_logit_diff_at_decision"]
    (0.5, 1.0, 0.375, 1.25)
    """
    top1 = (results["rank"] == 0).astype(float).to_numpy()
    n_wrong = _col(results, "n_wrong").fillna(0).to_numpy(dtype=float)
    contrast = n_wrong > 0
    beats = _col(results, "beats_wrong").to_numpy(dtype=float)
    decided = contrast & ~np.isnan(beats)  # the rows beats_wrong is averaged over
    single = _col(results, "single_token_contrast").to_numpy(dtype=float)
    beats_single = np.where(single == 1.0, beats, np.nan)
    out = {
        "n": float(len(results)),
        "n_contrast": float(contrast.sum()),
        "n_no_decision": float((contrast & np.isnan(beats)).sum()),
        "beats_wrong": _mean(pd.Series(beats)),
        "chance": float((1 / (1 + n_wrong[decided])).mean()) if decided.any() else math.nan,
        "mean_logit_diff_at_decision": _mean(_col(results, "logit_diff_at_decision")),
        "top1_vocab": float(top1.mean()) if len(top1) else math.nan,
        "single_token_share": _mean(pd.Series(single)),
        "beats_wrong_single_token": _mean(pd.Series(beats_single)),
        "mean_seq_logprob_diff": _mean(_col(results, "seq_logprob_diff")),
        "mean_seq_logprob_diff_per_token": _mean(_col(results, "seq_logprob_diff_per_token")),
        "mean_first_logprob_diff": _mean(_col(results, "first_logprob_diff")),
        "mean_prob": _mean(results["prob"]),
        "median_rank": float(results["rank"].median()) if len(results) else math.nan,
        "mean_logprob": _mean(results["logprob"]),
        "greedy_accuracy": float(greedy.mean()) if greedy is not None and len(greedy) else math.nan,
    }
    for name, values in (("beats_wrong", beats),
                         ("mean_logit_diff_at_decision", _col(results, "logit_diff_at_decision")),
                         ("top1_vocab", top1), ("mean_prob", results["prob"]),
                         ("mean_seq_logprob_diff", _col(results, "seq_logprob_diff"))):  # fmt: skip
        _ci(out, name, np.asarray(values, dtype=float), n_boot, seed)
    return out
