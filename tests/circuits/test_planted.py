"""Ground truth: the scorer and every baseline recover the hand-planted copying circuit."""

from __future__ import annotations

import pytest

from capgym.circuits import HookedModel
from capgym.circuits.baselines import Ranking, attribution_patching, head_auroc, node_patching
from capgym.circuits.edges import eap_ig, node_scores
from capgym.circuits.env import Env
from capgym.circuits.hypothesis import recovery
from capgym.circuits.planted import CIRCUIT, DECOYS, PLANTED, planted_model, planted_pairs


@pytest.fixture(scope="module")
def planted() -> Env:
    lm = planted_model()
    return Env(task=None, model=lm, pairs=planted_pairs(lm, 48))  # type: ignore[arg-type]


def test_planted_circuit_is_faithful(planted: Env) -> None:
    assert planted.score(list(CIRCUIT)) > 0.95
    assert planted.score(list(CIRCUIT), mode="mean") > 0.9
    assert abs(planted.score(["embed", *DECOYS])) < 0.05  # attends to the name, copies nothing
    assert recovery(planted.hooked, planted.pairs, tuple(sorted(PLANTED))) > 0.9


def test_baselines_rank_the_planted_heads_first(planted: Env) -> None:
    hm, ps = planted.hooked, planted.pairs
    for ranking in (node_patching(hm, ps), attribution_patching(hm, ps)):
        assert head_auroc(ranking, set(PLANTED)) >= 0.95, ranking.method
    scores = node_scores(eap_ig(hm, ps))
    names = sorted(scores, key=lambda n: -scores[n])
    as_ranking = Ranking("eap-ig", "node", tuple(names), tuple(scores[n] for n in names), 0.0)
    assert head_auroc(as_ranking, set(PLANTED)) >= 0.95


def test_auroc() -> None:
    r = Ranking("x", "node", ("L0H0", "embed", "L0H1", "L0H2"), (3.0, 2.0, 1.0, 0.5), 0.0)
    assert head_auroc(r, {"L0H0"}) == 1.0
    assert head_auroc(r, {"L0H2"}) == 0.0
    assert head_auroc(r, {"L0H1"}) == 0.5


def test_hooked_planted_model_has_the_components() -> None:
    hm = HookedModel(planted_model())
    assert [c.name for c in hm.components][:3] == ["embed", "L0H0", "L0H1"]


def test_auroc_equals_pairwise_count() -> None:
    """head_auroc against an independent count over every (positive, negative) pair."""
    import random

    rng = random.Random(0)
    heads = [f"L{layer}H{h}" for layer in range(3) for h in range(4)]
    for _ in range(20):
        order = rng.sample([*heads, "embed", "MLP0", "MLP1"], 15)
        positives = set(rng.sample(heads, rng.randint(1, 6)))
        r = Ranking("x", "node", tuple(order), tuple(range(15, 0, -1)), 0.0)
        pos = [order.index(h) for h in heads if h in positives]
        neg = [order.index(h) for h in heads if h not in positives]
        expect = sum(p < q for p in pos for q in neg) / (len(pos) * len(neg))
        assert abs(head_auroc(r, positives) - expect) < 1e-12
