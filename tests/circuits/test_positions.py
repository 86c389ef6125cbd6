"""Position-restricted nodes ("L4H3@k"): parsing, exact end points, hand-built patches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from capgym.circuits.env import Env
from capgym.circuits.hooks import Component, Node
from capgym.circuits.pairs import logit_diff
from capgym.circuits.patching import position_effects, run_variants
from capgym.circuits.planted import CIRCUIT, planted_model, planted_pairs
from capgym.circuits.score import keep_mask
from capgym.errors import UsageError


@given(st.integers(0, 40), st.integers(0, 40), st.one_of(st.none(), st.integers(0, 500)))
def test_node_names_round_trip(layer: int, head: int, pos: int | None) -> None:
    for comp in (Component("head", layer, head), Component("mlp", layer), Component("embed")):
        node = Node(comp, pos)
        assert Node.parse(node.name) == node
    at = "" if pos is None else f"@{pos}"
    long = Node.parse(f"blocks.{layer}.attn.hook_z.{head}{at}")
    assert long == Node(Component("head", layer, head), pos)
    assert Node.parse(f"blocks.{layer}.hook_mlp_out{at}").component == Component("mlp", layer)
    assert Node.parse(f"hook_embed{at}").component == Component("embed")


@pytest.mark.parametrize("bad", ["L4H3@", "L4H3@-1", "L4H3@x", "L4H3@1@2", "head7@0", "@0"])
def test_bad_nodes_are_one_line_errors(bad: str) -> None:
    with pytest.raises(UsageError) as err:
        Node.parse(bad)
    assert "\n" not in str(err.value)


def every_position(env: Env, comps: list[str]) -> list[str]:
    return [f"{c}@{k}" for c in comps for k in range(env.pairs.clean.shape[1])]


def test_full_and_empty_at_every_position(env_name: Env) -> None:
    comps = [c.name for c in env_name.components]
    for mode in ("patch", "mean"):
        assert env_name.score(every_position(env_name, comps), mode) == 1.0
        assert env_name.score([], mode) == 0.0
        assert env_name.score(["embed", "L4H3@0"], mode) != env_name.score(["embed"], mode)
    with pytest.raises(UsageError, match="not in model"):
        env_name.score(["L9H0@0"])


def test_position_by_position_equals_position_free(env_name: Env) -> None:
    comps = [c.name for c in env_name.components]
    some = comps[::2]  # half the components, so that this is not the full circuit
    for mode in ("patch", "mean"):
        free, by_pos = (
            env_name.score(some, mode),
            env_name.score(every_position(env_name, some), mode),
        )
        assert 0.0 < abs(free) < 1.0 and abs(free - by_pos) < 1e-9
    # a position-free node inside a positional circuit keeps all its positions
    mixed = ["embed", "L4H3", "L4H4@0", "MLP4@0"]
    spelled = ["embed", *every_position(env_name, ["L4H3"]), "L4H4@0", "MLP4@0"]
    assert abs(env_name.score(mixed) - env_name.score(spelled)) < 1e-9


def test_a_position_is_the_token_k_before_the_decision(env_name: Env) -> None:
    """Replacing L4H3 at @k only equals a hand-made patch of token length-1-k, pair by pair."""
    hm, ps = env_name.hooked, env_name.pairs
    n, t_len = len(hm.components), ps.clean.shape[1]
    col = [c.name for c in hm.components].index("L4H3")
    hook = "blocks.4.attn.hook_z"
    _, corrupt = hm.run(ps.corrupt, cache=[hook])
    for k in (0, 1, 5):
        keep = torch.ones(1, n, t_len, dtype=torch.bool)
        keep[0, col, k] = False
        fast = run_variants(hm, ps, env_name.sources(), keep)[0]
        for p in range(4):
            t = int(ps.length[p]) - 1 - k

            def edit(z: torch.Tensor, p: int = p, t: int = t) -> torch.Tensor:
                z = z.clone()
                z[0, t, 3] = corrupt[hook][p, t, 3]
                return z

            rows = torch.tensor([p])
            slow = logit_diff(hm.run(ps.clean[rows], edits={hook: edit})[0], ps, rows)[0]
            assert abs(float(fast[p] - slow)) < 1e-4


def test_positions_before_the_first_token_are_absent(env_name: Env) -> None:
    """@k with k >= a pair's length names no token of that pair: it is left clean there."""
    hm, ps = env_name.hooked, env_name.pairs
    n, t_len = len(hm.components), ps.clean.shape[1]
    k = t_len - 1  # only the longest pairs have this token
    keep = torch.ones(2, n, t_len, dtype=torch.bool)
    keep[1, :, k] = False  # every component replaced at @k
    # mean-ablated (patching the first token changes nothing: BOS in both prompts)
    m = run_variants(hm, ps, env_name.sources("mean"), keep)
    short = ps.length <= k
    assert bool(short.any()) and bool((~short).any())
    assert torch.allclose(m[0, short], m[1, short], atol=1e-4)
    assert not torch.allclose(m[0, ~short], m[1, ~short], atol=1e-2)
    assert keep_mask(hm, ["L4H3@999"], t_len).sum() == 0  # beyond every pair: dropped


def test_position_effects_match_single_node_scores(env_name: Env) -> None:
    ps = env_name.pairs.subset(list(range(6)))
    hm, env = env_name.hooked, Env(env_name.task, env_name.model, pairs=ps)
    effects = position_effects(hm, ps, env.sources(), last=3)
    assert effects.shape == (len(hm.components), 3)
    gap = env.m_clean - env.m_corrupt
    everything = [c.name for c in hm.components]
    for i, c in enumerate(hm.components):
        if c.name not in ("L4H3", "L4H4", "MLP4", "L0H0"):
            continue
        for k in range(3):
            rest = [n for n in every_position(env, everything) if n != f"{c.name}@{k}"]
            expect = (1 - env.score(rest)) * gap
            assert abs(float(effects[i, k]) - expect) < 1e-3 * max(1.0, abs(gap))


def test_patching_pos_ranking(env_name: Env) -> None:
    ranking = env_name.baselines(["patching-pos"])["patching-pos"]
    assert len(ranking.names) == 8 * len(env_name.components)
    assert ranking.names[0].endswith("@0") and ranking.names[0].startswith("L4")
    curve = env_name.curve(ranking)
    assert curve.faithfulness[0] == 0.0 and curve.faithfulness[-1] == 1.0
    assert curve.sizes[-1] == len(env_name.components) * env_name.pairs.clean.shape[1]
    # the last 8 tokens hold no name: kept alone they carry nothing in patch mode
    assert curve.at(0.3) == 0.0


def test_position_curve_over_every_position(env_name: Env) -> None:
    """Ranked over all positions, the name tokens and the decision heads recover the behaviour."""
    from capgym.circuits.score import position_curve

    ps = env_name.pairs.subset(list(range(6)))
    env = Env(env_name.task, env_name.model, pairs=ps)
    effects = env.position_effects(last=ps.clean.shape[1])
    ranked = sorted(effects, key=lambda n: -abs(effects[n]))
    curve = position_curve(env.hooked, ps, env.sources(), [Node.parse(n) for n in ranked])
    assert curve.faithfulness[0] == 0.0 and curve.faithfulness[-1] == 1.0
    assert curve.at(0.05) > 0.5
    with pytest.raises(UsageError, match="unknown method"):
        env_name.baselines(["patching-posx"])


def test_planted_heads_at_the_decision_token() -> None:
    lm = planted_model()
    env = Env(task=None, model=lm, pairs=planted_pairs(lm, 48))  # type: ignore[arg-type]
    at_decision = ["embed", "L0H0@0", "L1H0@0"]
    whole, restricted = env.score(list(CIRCUIT)), env.score(at_decision)
    assert whole > 0.95 and abs(whole - restricted) < 1e-3
    assert abs(env.score(["embed", "L0H0@1", "L1H0@1"])) < 0.05  # the wrong token
    assert abs(env.score(["embed@0", "L0H0@0", "L1H0@0"])) < 0.05  # the name is never read
    assert abs(env.score(at_decision, "mean") - env.score(list(CIRCUIT), "mean")) < 0.01


def test_submit_a_positional_circuit(assets: Path, tmp_path: Path) -> None:
    from capgym.circuits.runner import read_circuit, submit

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "at-decision", "nodes": ["embed", "L4H3@0", "MLP4@0"]}))
    assert read_circuit(path)[1] == ["embed", "L4H3@0", "MLP4@0"]
    row = submit("repeated-name", "stories260K", path, out=tmp_path / "run", n_pairs=8).iloc[0]
    assert row.method == "submission:at-decision" and 0 < row.faithfulness < 1
    assert row.note.endswith("(some at named positions only)")
    path.write_text(json.dumps({"nodes": ["L4H3@last"]}))
    with pytest.raises(UsageError, match="bad position"):
        submit("repeated-name", "stories260K", path, out=tmp_path / "run", n_pairs=8)
