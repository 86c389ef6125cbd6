"""explain and diff on the real models and the first validation stories."""

from __future__ import annotations

import pytest

from capgym.store import RunStore, open_run

CORPUS = "tinystories-validation-0-999"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    import os

    if not os.environ.get("CAPGYM_ASSETS"):
        pytest.skip("CAPGYM_ASSETS is not set to the shared assets folder")
    from capgym.corpus import load_corpus
    from capgym.models import load_model
    from capgym.score import score

    run = open_run(tmp_path_factory.mktemp("real") / "run")
    corpus = load_corpus(CORPUS)
    for name, n in (("stories260K", 50), ("llama2xs-279K", 20), ("babyllama-936K", 8)):
        score(load_model(name), corpus.head(n), run, progress=False)
    return run


def test_explain_stories260k(real_run: RunStore) -> None:
    from capgym.explain import EXPLAINERS, explain

    r = explain(real_run, "stories260K", CORPUS)
    assert 0.0 < r.coverage < 1.0 and 0.0 < r.coverage_mass < 1.0
    assert r.n_confident > 1000
    named, with_explainers, with_completion, only = r.layers.values()
    assert 0 < named < with_explainers <= with_completion == r.coverage  # layers nest
    # explainers only: covered by something, but by no tag
    assert only == pytest.approx(r.coverage - r.share("any capability"), abs=1e-12)
    explainers = r.shares[r.shares.kind == "explainer"].set_index("name")
    assert set(EXPLAINERS) == set(explainers.index)
    assert (explainers["n"] > 0).all()
    caps = r.shares[r.shares.kind == "capability"]
    assert len(caps) >= 10 and caps["n"].sum() > 0
    assert set(r.residue_groups.dimension) == {
        "word", "prev-word", "prev-2-words", "word-class", "position"
    }  # fmt: skip
    assert r.residue_examples["snippet"].str.contains(r"\[\[").all()
    assert r._repr_html_().count('data-mode="single"') == len(r.residue_examples) + 1
    # the explains table is in the run store, one row per (position, explainer)
    n = real_run.sql("SELECT count(*) AS n, count(DISTINCT (story, pos, explainer)) AS d "
                     "FROM explains WHERE model = 'stories260K'")  # fmt: skip
    assert n["n"][0] == n["d"][0] > 0


def test_diff_same_tokenizer(real_run: RunStore) -> None:
    from capgym.diff import diff

    d = diff(real_run, "llama2xs-279K", "stories260K", CORPUS)
    assert d.mode == "token" and d.n_unaligned == 0
    assert d.n_gains > d.n_losses  # the fully trained model gains
    assert (
        d.n_units
        == real_run.sql("SELECT count(*) AS n FROM scores WHERE model = 'llama2xs-279K'")["n"][0]
    )


def test_diff_across_tokenizers(real_run: RunStore) -> None:
    from capgym.diff import diff

    d = diff(real_run, "stories260K", "babyllama-936K", CORPUS)
    assert d.mode == "word" and d.n_units > 500
    # every token lies in exactly one unit, so the units' log-probs add up to the story's
    total = real_run.sql(
        "SELECT model, sum(logprob) AS lp FROM scores WHERE story < 8 GROUP BY model"
    ).set_index("model")["lp"]
    assert d.units["lp_a"].sum() == pytest.approx(total["stories260K"], rel=1e-4)
    assert d.units["lp_b"].sum() == pytest.approx(total["babyllama-936K"], rel=1e-4)
    assert (d.units["n_b"] >= d.units["n_a"]).mean() > 0.9  # characters vs word pieces
