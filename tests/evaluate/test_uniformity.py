"""The uniformity analysis finds a planted bad slice first."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from capgym.evaluate import slices


def synthetic(seed: int = 0, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = rng.choice(["Lily", "Tom", "Sue", "Ben"], n)
    templates = rng.choice(["a", "b", "c"], n)
    perturb = rng.choice(["none", "lengthen", "deep"], n)
    diff = rng.normal(2.0, 1.0, n)
    bad = (perturb == "deep") & (names == "Tom")  # planted: an interaction slice
    worst = templates == "c"
    diff = diff - 3.0 * worst - 1.0 * bad
    meta = [json.dumps({"template": t, "slot.name": s, "perturbation": p, "base_id": f"x{i}"})
            for i, (t, s, p) in enumerate(zip(templates, names, perturb))]  # fmt: skip
    return pd.DataFrame({"model": "m", "task": "t", "example_id": [f"e{i}" for i in range(n)],
                         "logit_diff_at_decision": diff, "logprob": -1.0,
                         "beats_wrong": (diff > 0).astype(float),
                         "rank": np.where(diff > 0, 0, 3), "meta": meta})  # fmt: skip


def test_planted_slice_is_the_least_uniform() -> None:
    sl = slices(synthetic())
    top = sl.iloc[0]
    assert (top.field, top.value) == ("template", "c")
    assert top.mean_diff < -2.5 and top.cohen_d < -1.5 and top.acc_slice < top.acc_rest
    assert top.n + top.n_rest == 600
    assert "base_id" not in set(sl.field)  # identifiers are not slices
    others = sl[sl.field != "template"]
    assert others.cohen_d.abs().max() < 0.6


def test_metric_falls_back_to_logprob_without_wrong_answers() -> None:
    df = synthetic().assign(logit_diff_at_decision=np.nan, beats_wrong=np.nan)
    df["logprob"] = np.where(df.meta.str.contains('"template": "b"'), -5.0, -1.0)
    df["logprob"] += np.random.default_rng(0).normal(0, 0.1, len(df))
    top = slices(df).iloc[0]
    assert (top.metric, top.field, top.value) == ("logprob", "template", "b")


def test_min_count_filters_small_slices() -> None:
    sl = slices(synthetic(n=60), min_count=25)
    assert (sl.n >= 25).all() and (sl.n_rest >= 25).all()
