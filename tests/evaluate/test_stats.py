"""Bootstrap CIs and aggregate arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from capgym.evaluate import bootstrap_ci, summarise


def test_ci_is_reproducible_and_covers_the_mean() -> None:
    x = np.random.default_rng(0).normal(1.0, 2.0, size=400)
    assert bootstrap_ci(x, seed=5) == bootstrap_ci(x, seed=5)
    lo, hi = bootstrap_ci(x, seed=5)
    assert lo < x.mean() < hi
    se = x.std(ddof=1) / math.sqrt(len(x))
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_ci_shrinks_with_more_data_and_handles_degenerate_input() -> None:
    rng = np.random.default_rng(1)
    small, big = rng.normal(size=50), rng.normal(size=5000)
    w = [np.subtract(*bootstrap_ci(v)[::-1]) for v in (small, big)]
    assert w[1] < w[0] / 5
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([1.0])))
    assert bootstrap_ci(np.array([2.0, 2.0, np.nan])) == (2.0, 2.0)


def test_coverage_of_the_true_mean() -> None:
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(200):
        lo, hi = bootstrap_ci(rng.normal(0.0, 1.0, size=60), n_boot=300)
        hits += lo <= 0.0 <= hi
    assert 0.88 <= hits / 200 <= 0.99


def test_summary_hand_values() -> None:
    df = pd.DataFrame({"prob": [0.5, 0.25, 0.125, 0.125], "logprob": [-1.0, -2.0, -3.0, -3.0],
                       "rank": [0, 0, 2, 5], "seq_logprob_diff": [1.0, 2.0, np.nan, -1.0],
                       "first_logprob_diff": [1.0, 1.0, 1.0, 1.0],
                       "logit_diff_at_decision": [0.5, -0.5, np.nan, 1.5],
                       "beats_wrong": [1.0, 0.0, np.nan, 1.0], "n_wrong": [1, 1, 1, 2],
                       "single_token_contrast": [1.0, 0.0, 1.0, 1.0]})  # fmt: skip
    s = summarise(df, pd.Series([True, False, False, False]))
    assert s["top1_vocab"] == 0.5 and s["median_rank"] == 1.0 and s["mean_prob"] == 0.25
    assert s["mean_seq_logprob_diff"] == pytest.approx(2 / 3) and s["greedy_accuracy"] == 0.25
    assert s["top1_vocab_lo"] <= 0.5 <= s["top1_vocab_hi"]
    # beats-wrong and its chance level over the same rows: the examples with a decision token
    assert s["beats_wrong"] == pytest.approx(2 / 3) and s["n_no_decision"] == 1
    assert s["chance"] == pytest.approx((0.5 + 0.5 + 1 / 3) / 3)
    assert s["mean_logit_diff_at_decision"] == pytest.approx(0.5)
    assert s["single_token_share"] == 0.75 and s["beats_wrong_single_token"] == 1.0
    assert s["mean_first_logprob_diff"] == 1.0


def test_chance_is_averaged_over_the_rows_beats_wrong_is() -> None:
    # 4 wrong answers but no decision token (NaN), no wrong answers, and three decided rows
    n_wrong = [2, 4, 0, 1, 3]
    beats = [1.0, np.nan, np.nan, 0.0, 1.0]
    df = pd.DataFrame({"prob": 0.5, "logprob": -0.7, "rank": 0, "n_wrong": n_wrong,
                       "beats_wrong": beats})  # fmt: skip
    s = summarise(df, n_boot=10)
    rows = [i for i, b in enumerate(beats) if not math.isnan(b)]
    assert s["beats_wrong"] == pytest.approx(sum(beats[i] for i in rows) / len(rows))
    assert s["chance"] == pytest.approx(sum(1 / (1 + n_wrong[i]) for i in rows) / len(rows))
    assert s["chance"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 4) / 3)
    assert math.isnan(summarise(df.assign(beats_wrong=np.nan), n_boot=10)["chance"])


def test_table_shows_chance_per_model_when_tokenizers_make_it_differ() -> None:
    """One ``chance`` column when all models agree; one per model when they do not."""
    import pandas as pd

    from capgym.evaluate.report import EvalReport

    same = pd.DataFrame({"model": ["a", "b"], "task": ["t", "t"], "beats_wrong": [0.6, 0.7],
                         "chance": [0.5, 0.5], "mean_logit_diff_at_decision": [1.0, 2.0]})  # fmt: skip
    t = EvalReport(pd.DataFrame(), same, pd.DataFrame()).table()
    assert t.loc["t", ("chance", "")].item() == 0.5
    differ = same.assign(chance=[0.5, 0.4])
    t = EvalReport(pd.DataFrame(), differ, pd.DataFrame()).table()
    assert t.loc["t", ("chance", "a")].item() == 0.5 and t.loc["t", ("chance", "b")].item() == 0.4
    assert ("chance", "") not in t.columns


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (8, 10), (10, 10), (37, 200), (1, 3)])
def test_wilson_bounds_solve_the_score_equation(k: int, n: int) -> None:
    """Each Wilson bound p is a root of (k/n - p)^2 = z^2 p (1 - p) / n (Wilson 1927),
    checked here without the closed form that ``wilson`` uses."""
    from capgym.evaluate.stats import Z, wilson

    lo, hi = wilson(k, n)
    p_hat = k / n
    a, b, c = 1 + Z * Z / n, -(2 * p_hat + Z * Z / n), p_hat * p_hat  # a p^2 + b p + c = 0
    roots = sorted(np.roots([a, b, c]).real)
    assert (lo, hi) == pytest.approx((roots[0], roots[1]), abs=1e-12)
    assert lo <= p_hat <= hi and (k > 0 or lo == 0.0) and (k < n or hi == 1.0)


def test_bootstrap_ci_agrees_with_scipy_percentile_bootstrap() -> None:
    stats = pytest.importorskip("scipy.stats")
    x = np.random.default_rng(3).exponential(2.0, size=80)
    lo, hi = bootstrap_ci(x, n_boot=20000, seed=1)
    ref = stats.bootstrap((x,), np.mean, n_resamples=20000, method="percentile",
                          confidence_level=0.95, random_state=2).confidence_interval  # fmt: skip
    width = ref.high - ref.low
    assert lo == pytest.approx(ref.low, abs=0.03 * width)
    assert hi == pytest.approx(ref.high, abs=0.03 * width)
