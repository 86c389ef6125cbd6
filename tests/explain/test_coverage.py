"""Coverage arithmetic and residue grouping on a tiny hand-made run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from capgym.errors import StoreError, UsageError
from capgym.explain import ExplainReport, NgramReference, explain
from tests.explain.synth import add_scores, add_tags, new_run, pieces, score_rows

TEXT = "Lily saw a kite. Lily saw it."
# pos:  1 Lily, 2 saw, 3 a, 4 kite, 5 ".", 6 Lily, 7 saw, 8 it, 9 "."
PROBS = {1: (0.2, 3), 2: (0.6, 0), 3: (0.7, 0), 4: (0.4, 0), 5: (0.9, 0), 6: (0.8, 0),
         7: (0.95, 0), 8: (0.5, 0), 9: (0.99, 1)}  # fmt: skip
NOTHING = NgramReference.fit([[999]], min_count=1)  # predicts a token that never occurs


@pytest.fixture()
def report(tmp_path: Path) -> ExplainReport:
    run = new_run(tmp_path / "run", "c", [TEXT])
    add_scores(run, "m", "c", score_rows("m", "c", 0, pieces(TEXT), {}, lambda p, _: PROBS[p]))
    add_tags(
        run,
        "c",
        [
            (0, 17, 21, "repeated-name"),  # the second Lily (token " Lily" = [16, 21))
            (0, 15, 16, "story-structure"),  # the first full stop
            (0, 17, 21, "word-completion"),  # " Lily" starts before the word: not a completion
            (0, 11, 15, "repeated-noun"),  # kite: p = 0.4, not confident
        ],
    )
    return explain(run, "m", reference=NOTHING, tags=False)


def row(r: ExplainReport, name: str) -> dict[str, float]:
    return r.shares[r.shares["name"] == name].iloc[0].to_dict()


def test_confident_set(report: ExplainReport) -> None:
    # confident correct: rank 0 and p >= 0.5 -> positions 2, 3, 5, 6, 7, 8
    assert report.n_scored == 9
    assert report.n_confident == 6
    assert report.mass_confident == pytest.approx(0.6 + 0.7 + 0.9 + 0.8 + 0.95 + 0.5)


def test_shares_by_count_and_mass(report: ExplainReport) -> None:
    m = 4.45
    name = row(report, "repeated-name")
    assert (name["n"], name["n_exclusive"]) == (1, 0)  # pos 6, also word-repeat
    assert name["share"] == pytest.approx(1 / 6)
    assert name["share_mass"] == pytest.approx(0.8 / m)
    structure = row(report, "story-structure")
    assert (structure["n"], structure["n_exclusive"]) == (1, 1)  # pos 5
    assert row(report, "word-completion")["n"] == 0
    assert row(report, "repeated-noun")["n"] == 0
    repeat = row(report, "word-repeat")  # pos 6 (Lily) and 7 (saw)
    assert (repeat["n"], repeat["n_exclusive"]) == (2, 1)
    assert repeat["share_mass"] == pytest.approx((0.8 + 0.95) / m)
    for name in ("unigram", "bigram", "trigram", "induction", "induction-long"):
        assert row(report, name)["n"] == 0
    assert row(report, "any capability")["n"] == 2
    assert row(report, "any explainer")["n"] == 2
    assert row(report, "any")["n"] == 3
    assert row(report, "residue")["n"] == 3
    assert report.coverage == pytest.approx(0.5)
    assert report.coverage_mass == pytest.approx((0.9 + 0.8 + 0.95) / m)
    assert row(report, "residue")["share_mass"] == pytest.approx(1 - report.coverage_mass)


def test_residue_groups(report: ExplainReport) -> None:
    g = report.residue_groups
    words = g[g.dimension == "word"]
    assert words["group"].tolist() == ["a", "saw", "it"]  # by mass: 0.7, 0.6, 0.5
    assert words["share_mass"].tolist() == pytest.approx([0.7 / 1.8, 0.6 / 1.8, 0.5 / 1.8])
    prev = g[g.dimension == "prev-word"].set_index("group")["mass"].to_dict()
    assert prev == pytest.approx({"saw": 1.2, "lily": 0.6})
    prev2 = g[g.dimension == "prev-2-words"].set_index("group")["n"].to_dict()
    assert prev2 == {"lily saw": 2, "<start> lily": 1}
    pos = g[g.dimension == "position"].set_index("group")["n"].to_dict()
    assert pos == {"first sentence": 2, "late": 1}
    classes = set(g[g.dimension == "word-class"]["group"])
    assert {"determiner", "pronoun"} <= classes
    ex = report.residue_examples
    it = ex[(ex.dimension == "word") & (ex.group == "it")].iloc[0]
    assert it["snippet"].endswith("saw[[ it]].")
    assert (it["story"], it["pos"]) == (0, 8)


def test_outputs(report: ExplainReport) -> None:
    md = report.to_markdown()
    assert "+ word-completion 50.0%" in md and "| word | a |" in md  # the any layer
    html = report._repr_html_()
    assert "residue by word" in html and html.count("__capgymTokens = true") == 1  # assets once
    # token views: the first story, and each residue example outlined in its window
    n = len(report.residue_examples)
    assert html.count('data-mode="single"') == n + 1 and html.count("cg-t cg-hl") == n
    assert "m: story 0 (c)" in html
    offline = replace(report, run=None)._repr_html_()  # no run: text snippets, the frame's view
    assert "saw[[ it]]." in offline and offline.count('data-mode="single"') == 1
    d = report.to_dict()
    assert d["coverage"] == pytest.approx(0.5) and d["shares"][0]["kind"] == "capability"


def test_explains_are_cached_and_stored(tmp_path: Path) -> None:
    run = new_run(tmp_path / "run", "c", [TEXT])
    add_scores(run, "m", "c", score_rows("m", "c", 0, pieces(TEXT), {}, lambda p, _: PROBS[p]))
    explain(run, "m", reference=NOTHING, tags=False)
    stored = run.sql("SELECT explainer, count(*) AS n FROM explains GROUP BY 1")
    assert dict(zip(stored.explainer, stored.n)) == {"word-repeat": 2}
    from capgym.explain.store import ensure_explains

    assert ensure_explains(run, "m", ["c"], NOTHING, 3) == []  # cached: same reference
    other = NgramReference.fit([[1]], min_count=1)
    assert ensure_explains(run, "m", ["c"], other, 3) == ["c"]


def test_bad_input(tmp_path: Path) -> None:
    run = new_run(tmp_path / "run", "c", [TEXT])
    with pytest.raises(StoreError, match="capgym score --model nope"):
        explain(run, "nope", reference=NOTHING, tags=False)
    add_scores(run, "m", "c", score_rows("m", "c", 0, pieces(TEXT), {}, lambda p, _: PROBS[p]))
    with pytest.raises(StoreError, match="not scored on corpus 'd'"):
        explain(run, "m", corpus="d", reference=NOTHING, tags=False)
    with pytest.raises(UsageError, match="threshold"):
        explain(run, "m", threshold=1.5, reference=NOTHING, tags=False)
    with pytest.raises(StoreError, match="does not exist"):
        explain(tmp_path / "missing", "m")


def test_no_confident_predictions(tmp_path: Path) -> None:
    run = new_run(tmp_path / "run", "c", [TEXT])
    add_scores(run, "m", "c", score_rows("m", "c", 0, pieces(TEXT), {}, lambda p, _: (0.1, 2)))
    r = explain(run, "m", reference=NOTHING, tags=False)
    assert r.n_confident == 0 and r.coverage == 0.0 and "no confident" in r.to_markdown()
