"""Per-head edge receivers (q/k/v inputs): exact runs, exact edge patching, EAP-IG."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from capgym.circuits import HookedModel
from capgym.circuits.edges import edges_of, run_edge_variants
from capgym.circuits.env import Env, make_env
from capgym.circuits.pairs import logit_diff
from capgym.circuits.patching import run_variants
from capgym.models import load_model


@pytest.mark.parametrize("name", ["stories260K", "bitllama-1M"])
def test_split_inputs_are_the_plain_forward(assets: Path, name: str) -> None:
    hm = HookedModel(load_model(name))
    ids = torch.randint(3, 500, (2, 9), generator=torch.Generator().manual_seed(0))
    ids[:, 0] = 1
    plain = hm.run(ids)[0]
    inputs = [
        f"blocks.{layer}.hook_{s}_input" for layer in range(hm.points.n_layers) for s in "qkv"
    ]
    split, cache = hm.run(ids, cache=inputs)
    assert torch.equal(split, plain)
    x = cache["blocks.1.hook_k_input"]
    assert x.shape == (2, 9, hm.points.n_heads, hm.points.d_model)
    assert bool((x == x[:, :, :1]).all())  # every head's copy is the residual stream
    graded, _ = hm.run(ids, cache=inputs, grad=True)
    assert torch.allclose(graded.detach(), plain, atol=1e-5)


def test_edges_end_at_each_heads_q_k_v(env_name: Env) -> None:
    hm = env_name.hooked
    n, h = hm.points.n_layers, hm.points.n_heads
    names = {e.name for e in env_name.edges}
    assert {"embed->L0H0.q", "L0H1->L2H3.k", "MLP1->L2H3.v", "L4H3->M4", "MLP4->logits"} <= names
    assert "L2H0->L2H3.q" not in names and "MLP2->L2H3.q" not in names  # same layer
    senders_before = [1 + (h + 1) * layer for layer in range(n)]  # embed + earlier layers
    expect = sum(3 * h * s for s in senders_before) + sum(s + h for s in senders_before)
    assert len(env_name.edges) == expect + len(hm.components)  # + every sender -> logits


def _node_patched(env: Env, head: str) -> torch.Tensor:
    hm = env.hooked
    keep = torch.ones(1, len(hm.components), dtype=torch.bool)
    keep[0, [c.name for c in hm.components].index(head)] = False
    return run_variants(hm, env.pairs, env.sources(), keep)[0]


@pytest.mark.parametrize("head", ["L0H2", "L2H5", "L4H3"])
def test_all_edges_into_a_head_equal_patching_the_head(env_name: Env, head: str) -> None:
    """Its q, k and v inputs become the corrupted residual, so its z is the corrupted z."""
    edges = env_name.edges
    keep = torch.ones(1, len(edges), dtype=torch.bool)
    keep[0, [i for i, e in enumerate(edges) if e.receiver.split(".")[0] == head]] = False
    m = run_edge_variants(env_name.hooked, env_name.pairs, keep, edges)[0]
    node = _node_patched(env_name, head)
    assert torch.allclose(m, node, atol=1e-4)
    assert (
        float(
            (m - logit_diff(env_name.hooked.run(env_name.pairs.clean)[0], env_name.pairs))
            .abs()
            .max()
        )
        > 1e-3
    )


def test_all_edges_into_a_head_on_bitllama(assets: Path) -> None:
    env = make_env("repeated-name", "bitllama-1M", n_pairs=6)
    head = "L1H3"
    keep = torch.ones(1, len(env.edges), dtype=torch.bool)
    keep[0, [i for i, e in enumerate(env.edges) if e.receiver.split(".")[0] == head]] = False
    m = run_edge_variants(env.hooked, env.pairs, keep, env.edges)[0]
    assert torch.allclose(m, _node_patched(env, head), atol=1e-3)


def test_one_input_of_a_head_equals_a_hand_made_patch(env_name: Env) -> None:
    """Edges into L4H3.q only: its query reads the corrupted residual, its key and value do not;
    and one edge embed->L3H1.k subtracts the embedding's clean-corrupt difference only there."""
    hm, ps, edges = env_name.hooked, env_name.pairs, env_name.edges
    keep = torch.ones(2, len(edges), dtype=torch.bool)
    keep[0, [i for i, e in enumerate(edges) if e.receiver == "L4H3.q"]] = False
    keep[1, [e.name for e in edges].index("embed->L3H1.k")] = False
    m = run_edge_variants(hm, ps, keep, edges)
    _, corrupt = hm.run(ps.corrupt, cache=["blocks.4.hook_resid_pre", "hook_embed"])
    _, clean = hm.run(ps.clean, cache=["hook_embed"])

    def q_edit(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[:, :, 3] = corrupt["blocks.4.hook_resid_pre"]
        return x

    def k_edit(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[:, :, 1] -= clean["hook_embed"] - corrupt["hook_embed"]
        return x

    for row, (hook, edit) in enumerate(
        [("blocks.4.hook_q_input", q_edit), ("blocks.3.hook_k_input", k_edit)]
    ):
        by_hand = logit_diff(hm.run(ps.clean, edits={hook: edit})[0], ps)
        assert torch.allclose(m[row], by_hand, atol=1e-4)
        assert float((m[row] - env_name.run()).abs().max()) > 1e-4  # it did change something


def test_hf_backends_keep_layer_receivers(assets: Path) -> None:
    hm = HookedModel(load_model("TinyStories-656K"))
    assert hm.points.split_attention is None
    names = {e.name for e in edges_of(hm)}
    assert "embed->A0" in names and not any(n.endswith(".q") for n in names)


def test_planted_edges() -> None:
    """EAP-IG with per-head receivers ranks the planted heads first; their edges are the circuit."""
    from capgym.circuits.baselines import Ranking, head_auroc
    from capgym.circuits.edges import eap_ig, node_scores
    from capgym.circuits.planted import PLANTED, planted_model, planted_pairs

    lm = planted_model()
    env = Env(task=None, model=lm, pairs=planted_pairs(lm, 48))  # type: ignore[arg-type]
    scores = node_scores(eap_ig(env.hooked, env.pairs))
    names = sorted(scores, key=lambda n: -scores[n])
    ranking = Ranking("eap-ig", "node", tuple(names), tuple(scores[n] for n in names), 0.0)
    assert head_auroc(ranking, set(PLANTED)) >= 0.95
    out = ["L0H0->logits", "L1H0->logits"]
    assert env.score([f"embed->L{layer}H0.{s}" for layer in (0, 1) for s in "qkv"] + out) > 0.95
    # the values carry the name: without the v edges nothing is left
    assert abs(env.score([f"embed->L{layer}H0.{s}" for layer in (0, 1) for s in "qk"] + out)) < 0.05
