"""The scorer: full circuit 1 and empty circuit 0 exactly; batched patching equals the naive loop."""

from __future__ import annotations

import pytest
import torch

from capgym.circuits.baselines import naive_node_patching, node_patching
from capgym.circuits.env import Env
from capgym.circuits.pairs import logit_diff
from capgym.circuits.patching import run_variants
from capgym.circuits.score import FRACTIONS, integrals, sizes_for


def test_full_is_one_and_empty_is_zero(env_name: Env) -> None:
    everything = [c.name for c in env_name.components]
    for mode in ("patch", "mean", "zero", "resample"):
        assert env_name.score(everything, mode) == 1.0
        assert env_name.score([], mode) == 0.0
    edges = [e.name for e in env_name.edges]
    assert env_name.score(edges) == 1.0
    assert env_name.score(["embed->logits"]) != 1.0


def test_empty_circuit_is_the_corrupted_run(env_name: Env) -> None:
    hm, ps = env_name.hooked, env_name.pairs
    n = len(hm.components)
    empty = run_variants(hm, ps, env_name.sources(), torch.zeros(1, n, dtype=torch.bool))[0]
    assert torch.allclose(empty, logit_diff(hm.run(ps.corrupt)[0], ps), atol=1e-4)
    from capgym.circuits.edges import run_edge_variants

    edge_empty = run_edge_variants(
        hm, ps, torch.zeros(1, len(env_name.edges), dtype=torch.bool), env_name.edges
    )[0]
    assert torch.allclose(edge_empty, empty, atol=1e-4)


def test_batched_node_patching_equals_naive_loop(env_name: Env) -> None:
    ps = env_name.pairs.subset(list(range(3)))
    hm = env_name.hooked
    from capgym.circuits.patching import sources

    src = sources(hm, ps, "patch")
    fast = node_patching(hm, ps, src).as_dict()
    slow = naive_node_patching(hm, ps, src)
    for c, value in zip(hm.components, slow.tolist()):
        assert abs(fast[c.name] - value) < 1e-4


def test_curve_integrals() -> None:
    assert sizes_for(46)[:4] == [0, 1, 1, 3]
    cpr, cmd = integrals(FRACTIONS, [1.0] * len(FRACTIONS))
    assert abs(cpr - 1) < 1e-12 and cmd == 0
    cpr, cmd = integrals((0.0, 0.5, 1.0), (0.0, 0.5, 1.0))
    assert abs(cpr - 0.5) < 1e-12 and abs(cmd - 0.5) < 1e-12


def test_curve_of_a_ranking_ends_at_one(env_name: Env) -> None:
    ranking = env_name.baselines(["attribution"])["attribution"]
    curve = env_name.curve(ranking)
    assert curve.faithfulness[0] == 0.0 and curve.faithfulness[-1] == 1.0
    assert curve.sizes[-1] == len(env_name.components)
    assert 0 < curve.cpr <= 1.5 and curve.cmd >= 0


def test_curve_integrals_equal_numpy_trapezoid() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(10):
        faith = rng.normal(0.5, 0.6, len(FRACTIONS))
        cpr, cmd = integrals(FRACTIONS, faith.tolist())
        assert abs(cpr - np.trapezoid(faith, FRACTIONS)) < 1e-12
        assert abs(cmd - np.trapezoid(np.abs(1 - faith), FRACTIONS)) < 1e-12


@pytest.mark.parametrize(
    ("names", "level"),
    [(("L9H0", "embed"), "node"), (("L9H0@0", "embed@0"), "node"), (("embed->L9H0.q",), "edge")],
)
def test_rankings_naming_what_the_model_lacks_are_usage_errors(
    env_name: Env, names: tuple[str, ...], level: str
) -> None:
    from capgym.circuits.baselines import Ranking
    from capgym.errors import UsageError

    ranking = Ranking("mine", level, names, (1.0,) * len(names), 0.0)
    with pytest.raises(UsageError, match="L9H0"):
        env_name.curve(ranking)


def test_recovery_is_a_hand_made_clean_patch(env_name: Env) -> None:
    """The hypothesis check's recovery equals running the corrupted prompts with the heads'
    z replaced by their clean z, through a plain hook (not run_variants)."""
    from capgym.circuits.hooks import patch
    from capgym.circuits.hypothesis import recovery

    hm, ps = env_name.hooked, env_name.pairs
    hook = "blocks.4.attn.hook_z"
    _, clean = hm.run(ps.clean, cache=[hook])
    mask = torch.zeros(len(ps.corrupt), hm.points.n_heads, dtype=torch.bool)
    mask[:, [3, 4]] = True
    patched, _ = hm.run(ps.corrupt, edits={hook: patch(clean[hook], mask)})

    def m(logits: torch.Tensor) -> float:
        return float(logit_diff(logits, ps).mean())

    m_clean, m_corrupt = m(hm.run(ps.clean)[0]), m(hm.run(ps.corrupt)[0])
    want = (m(patched) - m_corrupt) / (m_clean - m_corrupt)
    assert recovery(hm, ps, ("L4H3", "L4H4")) == pytest.approx(want, abs=1e-5)
    assert recovery(hm, ps, ()) == 0.0
