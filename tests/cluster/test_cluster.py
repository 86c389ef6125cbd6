"""Clustering the residue: states read correctly, scores computed right, and the method
validated by rediscovering hidden families on the real stories260K model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from capgym.cluster.report import rediscovery_scores
from capgym.cluster.skeleton import skeleton
from capgym.store import RunStore, open_run
from capgym.tags.registry import unregister

CORPUS = "tinystories-validation-0-999"


def test_rediscovery_scores_match_a_hand_count() -> None:
    # cluster 0: a a b; cluster 1: b residue residue; noise: a, residue
    members = pd.DataFrame({
        "label": ["a", "a", "b", "b", "residue", "residue", "a", "residue"],
        "cluster": [0, 0, 0, 1, 1, 1, -1, -1],
    })  # fmt: skip
    r = rediscovery_scores(members, ("a", "b"))
    assert r.purity == pytest.approx(4 / 6)  # majorities: a (2 of 3), residue (2 of 3)
    fam = r.per_family.set_index("family")
    assert fam.loc["a", "recovered"] == pytest.approx(2 / 3)  # 2 of a's 3 in an a-cluster
    assert fam.loc["a", "noise"] == pytest.approx(1 / 3)
    assert fam.loc["b", "recovered"] == 0.0  # b's clusters have other majorities
    assert (r.n_hidden, r.n_residue, r.n_clusters) == (5, 3, 2)
    perfect = pd.DataFrame({"label": list("aabb"), "cluster": [3, 3, 7, 7]})
    assert rediscovery_scores(perfect, ("a", "b")).ami_hidden == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(
        {"label": rng.choice(list("ab"), 2000), "cluster": rng.integers(0, 5, 2000)}
    )
    assert abs(rediscovery_scores(noise, ("a", "b")).ami_hidden) < 0.01  # chance is 0


def test_skeleton_is_a_working_tagger() -> None:
    code = skeleton("candidate-t-1", "cluster 1", ["upon", "↵"], ["<start>", "once"], ["x"])
    ns: dict = {}
    exec(compile(code, "skeleton", "exec"), ns)  # noqa: S102 - the generated file, run as a user would
    text = "Once upon a time.\n\nOnce upon a hill."
    got = [text[s.char_start : s.char_end] for s in ns["candidate"](text, None)]
    unregister("candidate-t-1")
    assert got == ["upon", "upon"]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> RunStore:
    from capgym.corpus import load_corpus
    from capgym.models import load_model
    from capgym.score import score

    run = open_run(tmp_path_factory.mktemp("cluster") / "run")
    corpus = load_corpus(CORPUS)
    for name in ("stories260K", "llama2xs-279K"):
        score(load_model(name), corpus.head(300), run, progress=False)
    return run


@pytest.mark.slow
def test_states_reproduce_the_stored_log_probabilities(real_run: RunStore) -> None:
    from capgym.cluster.states import final_states, output_layer, stored_ids
    from capgym.models import load_model

    lm = load_model("stories260K")
    rows = real_run.sql("SELECT corpus, story, pos, token_id, logprob FROM scores "
                        "WHERE model = 'stories260K' AND story < 3 ORDER BY story, pos")  # fmt: skip
    con = real_run.connect()
    ids = {k: [lm.bos_id, *v] for k, v in stored_ids(con, "stories260K", rows).items()}
    con.close()
    states = final_states(lm, ids, rows)
    # the unembedding applied to the captured states gives the scored log-probabilities
    with torch.no_grad():
        logits = output_layer(lm)(torch.from_numpy(states))
    lp = torch.log_softmax(logits.float(), -1)[
        torch.arange(len(rows)), rows["token_id"].to_numpy().copy()
    ]
    assert np.abs(lp.numpy() - rows["logprob"].to_numpy()).max() < 1e-4


@pytest.mark.slow
def test_rediscovery_on_stories260k(real_run: RunStore) -> None:
    from capgym.cluster import HIDDEN, cluster

    r = cluster(real_run, "stories260K", hide=HIDDEN, max_positions=2400, write=False)
    red = r.rediscovery
    assert red is not None and red.n_hidden > 1000 and red.n_residue == 1200
    # measured on 300 stories: AMI 0.566, purity 0.921, recovered: repeated-name 0.48,
    # closing-quote 1.00, pronoun 0.63, story-opening 0.99; chance is AMI 0
    assert red.ami_hidden > 0.5 and red.purity > 0.85, red.to_dict()
    fam = red.per_family.set_index("family")
    assert fam.loc["closing-quote", "recovered"] > 0.9
    assert fam.loc["story-opening", "recovered"] > 0.9
    assert fam.loc["pronoun", "recovered"] > 0.45 and fam.loc["repeated-name", "recovered"] > 0.25
    # every cluster has its description, examples and a skeleton that compiles
    c = r.candidates(5)
    assert len(c) == 5 and c["share_mass"].is_monotonic_decreasing
    for row in c.itertuples():
        compile(row.skeleton, row.tagger, "exec")
        ex = r.examples[r.examples["cluster"] == row.cluster]
        assert 1 <= len(ex) <= 10 and ex["snippet"].str.contains(r"\[\[").all()
    assert r._repr_html_().count('data-mode="single"') == len(r.examples)


@pytest.mark.slow
def test_rediscovery_with_attention_features(real_run: RunStore) -> None:
    from capgym.cluster import HIDDEN, cluster

    r = cluster(real_run, "stories260K", hide=HIDDEN, max_positions=2400, write=False,
                features=("hidden", "attention"))  # fmt: skip
    red = r.rediscovery
    assert red is not None and r.features == ("hidden", "attention")
    # measured on 300 stories: AMI 0.554, purity 0.874 (500 stories, seeds 0-2: 0.563,
    # 0.893), no better than the final state alone, which stays the default
    assert red.ami_hidden > 0.48 and red.purity > 0.8, red.to_dict()
    fam = red.per_family.set_index("family")
    assert fam.loc["closing-quote", "recovered"] > 0.9
    assert fam.loc["story-opening", "recovered"] > 0.9
    assert r.to_dict()["features"] == ["hidden", "attention"]


@pytest.mark.slow
def test_untagged_gains_are_clustered_and_stored(real_run: RunStore) -> None:
    from capgym.cluster import cluster

    r = cluster(real_run, "stories260K", against="llama2xs-279K", max_positions=1500)
    assert set(r.members["label"]) <= {"gain-rank", "gain-confidence"}
    assert r.n_clusters >= 2
    # the members are gains: stories260K confident correct, llama2xs-279K not, no tag
    m = r.members.merge(real_run.sql(
        "SELECT story, pos, rank, logprob FROM scores WHERE model = 'llama2xs-279K'"),
        on=["story", "pos"])  # fmt: skip
    assert not ((m["rank"] == 0) & (m["logprob"] >= math.log(0.5))).any()
    assert ((m["rank"] == 0) == (m["label"] == "gain-confidence")).all()
    stored = real_run.sql("SELECT * FROM clusters WHERE source = 'gains over llama2xs-279K'")
    assert len(stored) == len(r.clusters)
    n = real_run.sql("SELECT count(*) AS n FROM cluster_members WHERE model = 'stories260K'")
    assert n["n"][0] == len(r.members)


@pytest.mark.slow
def test_cli_clusters_writes_skeletons_and_rejects_bad_input(
    real_run: RunStore, tmp_path: Path
) -> None:
    import json

    from tests.cli import assert_one_line_error, capgym

    out = str(real_run.path)
    res = capgym("cluster", "--model", "stories260K", "--out", out, "--max-positions", "800",
                 "--skeletons", str(tmp_path / "sk"), "--json", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["source"] == "residue" and data["n_clusters"] >= 2
    files = sorted((tmp_path / "sk").glob("*.py"))
    assert files and all("@tagger(" in f.read_text() for f in files)
    from capgym.tags import load_user_taggers
    from capgym.tags.registry import unregister

    names = load_user_taggers(files[0])  # a skeleton is a tagger file as it stands
    assert names and all(unregister(n) is None for n in names)
    bad = capgym("cluster", "--model", "stories260K", "--against", "llama2xs-279K",
                 "--hide", "known", "--out", out, cwd=tmp_path)  # fmt: skip
    assert_one_line_error(bad, "--hide")
    bad = capgym("cluster", "--model", "stories260K", "--features", "hidden,states",
                 "--out", out, cwd=tmp_path)  # fmt: skip
    assert_one_line_error(bad, "unknown feature set 'states'")
    bad = capgym("cluster", "--model", "stories260K", "--min-size", "1", "--out", out,
                 cwd=tmp_path)  # fmt: skip
    assert_one_line_error(bad, "min_cluster_size must be at least 2, got 1")  # not HDBSCAN's
    bad = capgym("cluster", "--model", "stories260K", "--hide", "pronouns", "--out", out,
                 cwd=tmp_path)  # fmt: skip
    assert_one_line_error(bad, "hidden family 'pronouns'", "pronoun")  # not an AMI of nan
    (tmp_path / "a-file").write_text("")
    bad = capgym("cluster", "--model", "stories260K", "--skeletons", str(tmp_path / "a-file"),
                 "--out", out, cwd=tmp_path)  # fmt: skip
    assert_one_line_error(bad, "--skeletons", "a-file")  # before the clustering, not --out
    bad = capgym("cluster", "--model", "stories260K", "--top", "-1", "--out", out, cwd=tmp_path)
    assert_one_line_error(bad, "--top")  # was exit 0, all clusters but the last shown


def test_a_tied_cluster_recovers_no_family_whatever_the_row_order() -> None:
    # cluster 0: a a b b (a tie), cluster 1: a residue residue (residue wins)
    labels = ["a", "a", "b", "b", "a", "residue", "residue"]
    clusters = [0, 0, 0, 0, 1, 1, 1]
    for order in (range(7), reversed(range(7))):
        rows = list(order)
        members = pd.DataFrame(
            {"label": [labels[i] for i in rows], "cluster": [clusters[i] for i in rows]}
        )
        r = rediscovery_scores(members, ("a", "b"))
        fam = r.per_family.set_index("family")
        assert fam.loc["a", "recovered"] == 0.0 and fam.loc["b", "recovered"] == 0.0
        assert fam.loc["a", "best_share"] == pytest.approx(2 / 3)
        assert r.purity == pytest.approx(4 / 7) and r.n_clusters == 2
    won = pd.DataFrame({"label": ["a", "a", "b"], "cluster": [0, 0, 0]})  # no tie: a wins
    assert rediscovery_scores(won, ("a", "b")).per_family.set_index("family").loc[
        "a", "recovered"
    ] == pytest.approx(1.0)
