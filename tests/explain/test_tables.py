"""The ``coverage`` and ``residue`` tables explain writes equal a plain pandas computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from capgym.explain import NgramReference, coverage_report, explain
from capgym.explain.tables import is_current
from capgym.store import RunStore
from tests.explain.synth import add_tags, coverage_run

COMPLETION = "word-completion"


def confident(run: RunStore, model: str, threshold: float) -> pd.DataFrame:
    """The model's confident correct rows with p and the effective span (es, ee)."""
    s = run.sql("SELECT story, pos, char_start, char_end, logprob, rank FROM scores "
                "WHERE model = ?", [model])  # fmt: skip
    lp = s["logprob"].astype("float64")
    c = s[(s["rank"] == 0) & (lp >= np.log(threshold) - 1e-6)].copy()
    c["p"] = np.exp(c["logprob"].astype("float64"))
    empty = c["char_end"] <= c["char_start"]
    c["es"] = np.where(empty, np.maximum(c["char_start"] - 1, 0), c["char_start"])
    c["ee"] = np.where(empty, np.maximum(c["char_start"], 1), c["char_end"])
    return c.reset_index(drop=True)


def expected_hits(run: RunStore, model: str, conf: pd.DataFrame) -> pd.DataFrame:
    """(story, pos, kind, name): which capability tags and explainers cover each row."""
    tags = run.sql("SELECT story, char_start AS ts, char_end AS te, capability AS name FROM tags")
    m = conf[["story", "pos", "es", "ee"]].merge(tags, on="story")
    overlap = (m["es"] < np.maximum(m["te"], m["ts"] + 1)) & (m["ts"] < m["ee"])
    start = (m["name"] != COMPLETION) | (m["es"] >= m["ts"])  # completions: inside the tag
    caps = m[overlap & start][["story", "pos", "name"]].assign(kind="capability")
    ex = run.sql("SELECT story, pos, explainer AS name FROM explains WHERE model = ?", [model])
    ex = ex.merge(conf[["story", "pos"]], on=["story", "pos"]).assign(kind="explainer")
    return pd.concat([caps, ex]).drop_duplicates().reset_index(drop=True)


def expected_coverage(run: RunStore, model: str, threshold: float) -> dict[tuple[str, str], tuple]:
    """(kind, name) -> (n, mass, n_exclusive) over the confident correct rows."""
    conf = confident(run, model, threshold)
    hits = expected_hits(run, model, conf).merge(conf[["story", "pos", "p"]], on=["story", "pos"])
    n_names = hits.groupby(["story", "pos"]).size().rename("k").reset_index()
    hits = hits.merge(n_names, on=["story", "pos"])
    out: dict[tuple[str, str], tuple] = {}
    for (kind, name), g in hits.groupby(["kind", "name"]):
        out[(kind, name)] = (len(g), g["p"].sum(), int((g["k"] == 1).sum()))
    keys = conf.set_index(["story", "pos"])["p"]
    for name, kinds in (("any capability", {"capability"}), ("any explainer", {"explainer"}),
                        ("any", {"capability", "explainer"})):  # fmt: skip
        pos = hits[hits["kind"].isin(kinds)][["story", "pos"]].drop_duplicates()
        out[("total", name)] = (len(pos), keys.loc[list(map(tuple, pos.values))].sum(), None)
    named = hits[(hits["kind"] == "capability") & (hits["name"] != COMPLETION)]
    expl = hits[hits["kind"] == "explainer"]
    capped = hits[hits["kind"] == "capability"]
    layer_pos = {  # the coverage layers of explain.coverage, by set algebra on positions
        "named capabilities": _keys(named),
        "named + explainers": _keys(named) | _keys(expl),
        "named + explainers + word-completion": _keys(hits),
        "explainers only": _keys(expl) - _keys(capped),
    }
    for name, pos_set in layer_pos.items():
        out[("total", name)] = (len(pos_set), keys.loc[sorted(pos_set)].sum(), None)
    n_any, m_any, _ = out[("total", "any")]
    out[("total", "residue")] = (len(conf) - n_any, conf["p"].sum() - m_any, None)
    return out


def _keys(hits: pd.DataFrame) -> set[tuple[int, int]]:
    return set(map(tuple, hits[["story", "pos"]].drop_duplicates().values))


@pytest.fixture()
def toy(tmp_path: Path) -> tuple[RunStore, NgramReference]:
    return coverage_run(tmp_path / "run")


@pytest.mark.parametrize("threshold", [0.5, 0.6])
def test_stored_coverage_equals_pandas(
    toy: tuple[RunStore, NgramReference], threshold: float
) -> None:
    run, ref = toy
    report = explain(run, "A", reference=ref, tags=False, threshold=threshold)
    stored = run.sql("SELECT * FROM coverage WHERE model = 'A' ORDER BY idx")
    conf = confident(run, "A", threshold)
    expected = expected_coverage(run, "A", threshold)
    assert len(conf) > 10 and set(stored["threshold"]) == {threshold}
    assert set(stored["n_confident"]) == {len(conf)} == {report.n_confident}
    assert stored["mass_confident"].iloc[0] == pytest.approx(conf["p"].sum(), abs=1e-9)
    assert set(stored["n_scored"]) == {len(run.sql("SELECT 1 FROM scores WHERE model = 'A'"))}
    if threshold == 0.5:  # the word-completion rule, the empty spans, p exactly 0.5 matter
        assert all(expected.get(("capability", c), (0,))[0] for c in (COMPLETION, "empty-span"))
        assert np.isclose(conf["p"], 0.5).any()
    assert {k: v for k, v in expected.items() if v[0]} == {
        (r.kind, r.name): expected[(r.kind, r.name)] for r in stored.itertuples() if r.n
    }
    for r in stored.itertuples():
        n, mass, excl = expected.get((r.kind, r.name), (0, 0.0, 0))
        assert (r.n, r.mass) == (n, pytest.approx(mass, abs=1e-9)), (r.kind, r.name)
        assert r.share == pytest.approx(n / len(conf)) and r.share_mass == pytest.approx(
            mass / conf["p"].sum()
        )
        assert pd.isna(r.n_exclusive) if r.kind == "total" else r.n_exclusive == excl, r.name
    # and the report explain returns is the stored table
    mine = report.shares.reset_index(drop=True)
    cols = ["kind", "name", "n", "share", "mass", "share_mass", "n_exclusive"]
    pd.testing.assert_frame_equal(stored[cols], mine[cols], check_dtype=False)


def test_stored_residue_equals_pandas(toy: tuple[RunStore, NgramReference]) -> None:
    run, ref = toy
    explain(run, "A", reference=ref, tags=False)
    conf = confident(run, "A", 0.5)
    covered = expected_hits(run, "A", conf)[["story", "pos"]].drop_duplicates()
    left = conf.merge(covered, on=["story", "pos"], how="left", indicator=True)
    left = left[left["_merge"] == "left_only"]
    stored = run.sql("SELECT * FROM residue WHERE model = 'A' ORDER BY story, pos")
    assert len(stored) > 0
    assert list(zip(stored.story, stored.pos)) == list(zip(left.story, left.pos))
    assert stored["p"].to_numpy() == pytest.approx(left["p"].to_numpy(), abs=1e-12)
    total = run.sql("SELECT * FROM coverage WHERE model = 'A' AND name = 'residue'")
    assert int(total.n[0]) == len(stored) and total.mass[0] == pytest.approx(stored.p.sum())


def test_each_model_keeps_its_latest_part(toy: tuple[RunStore, NgramReference]) -> None:
    run, ref = toy
    explain(run, "A", reference=ref, tags=False)
    explain(run, "B", reference=ref, tags=False)
    coverage_report(run, "A", threshold=0.9)  # replaces A's part, keeps B's
    t = run.sql("SELECT model, any_value(threshold) AS t, count(*) AS n FROM coverage GROUP BY 1")
    assert dict(zip(t.model, t.t)) == {"A": 0.9, "B": 0.5}
    assert run.sql("SELECT DISTINCT model FROM residue ORDER BY 1").model.tolist() == ["A", "B"]
    exp = expected_coverage(run, "A", 0.9)[("total", "any")][0]
    assert int(run.sql("SELECT n FROM coverage WHERE model = 'A' AND name = 'any'").n[0]) == exp


def test_stamp_follows_the_inputs(toy: tuple[RunStore, NgramReference]) -> None:
    run, ref = toy
    explain(run, "A", reference=ref, tags=False)

    def current() -> bool:
        return is_current(run, "A")

    assert current()
    explain(run, "B", reference=ref, tags=False)  # another model's explains: still current
    assert current()
    add_tags(run, "c", [(0, 0, 4, "new-capability")])  # the tags changed
    assert not current()
    explain(run, "A", reference=ref, tags=False)
    assert current()
