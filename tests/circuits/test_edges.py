"""Per-head edge receivers (q/k/v inputs): exact runs, exact edge patching, EAP-IG."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch.utils.hooks import RemovableHandle

from capgym.circuits import HookedModel
from capgym.circuits.edges import edges_of, run_edge_variants
from capgym.circuits.env import Env, make_env
from capgym.circuits.hooks import Component, Edit
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


def _reference_variants(env: Env, keep: torch.Tensor) -> torch.Tensor:
    """Edge patching written out receiver by receiver and sender by sender, row by row.

    The module docstring's definition, slowly: receiver ``v`` of row ``b`` reads its input
    minus, per excluded embed/MLP sender, that sender's current minus corrupted output,
    and per earlier layer with excluded heads, ``wo(z) - wo(z with those heads corrupted)``.
    """
    from capgym.circuits.edges import receivers

    hm, ps, edges = env.hooked, env.pairs, env.edges
    hooks = sorted({c.hook for c in hm.components})
    _, corrupt = hm.run(ps.corrupt, cache=hooks)
    out = torch.empty(keep.shape[0], ps.n_valid)
    for v in range(keep.shape[0]):
        for b in range(ps.n_valid):
            current: dict[str, torch.Tensor] = {}
            edits = {h: _recorder(current, h) for h in hooks}
            for r in receivers(hm):
                senders = [e.sender for i, e in enumerate(edges)
                           if e.receiver == r.name and not keep[v, i]]  # fmt: skip
                if senders:
                    edits[r.hook] = _reference_edit(hm, corrupt, current, b, r.head, senders,
                                                    edits.get(r.hook))  # fmt: skip
            edits["ln_final.hook_normalized"] = lambda x: x
            logits, _ = hm.run(ps.clean[b : b + 1], edits=edits)
            last = ps.length[b] - 1
            out[v, b] = logit_diff(logits[:, last : last + 1], ps, torch.tensor([b]),
                                   positions=torch.zeros(1, dtype=torch.long))[0]  # fmt: skip
    return out


def _recorder(current: dict[str, torch.Tensor], name: str) -> Edit:
    def edit(act: torch.Tensor) -> torch.Tensor:
        current[name] = act
        return act

    return edit


def _reference_edit(hm: HookedModel, corrupt: dict[str, torch.Tensor],
                    current: dict[str, torch.Tensor], b: int, head: int,
                    senders: list[Component], before: Edit | None) -> Edit:  # fmt: skip
    def edit(x: torch.Tensor) -> torch.Tensor:
        if before is not None:
            x = before(x)
        own = x[:, :, head] if head >= 0 else x
        shift = torch.zeros_like(own)
        layers: dict[int, list[int]] = {}
        for u in senders:
            if u.kind == "head":
                layers.setdefault(u.layer, []).append(u.head)
            else:
                shift = shift + (current[u.hook] - corrupt[u.hook][b : b + 1])
        for layer, heads in layers.items():
            z = current[f"blocks.{layer}.attn.hook_z"]
            mixed = z.clone()
            mixed[:, :, heads] = corrupt[f"blocks.{layer}.attn.hook_z"][b : b + 1, :, heads]
            wo = hm.points.z[layer]
            shift = shift + (wo.forward(z.flatten(-2)) - wo.forward(mixed.flatten(-2)))
        if head < 0:
            return own - shift
        x = x.clone()
        x[:, :, head] = own - shift
        return x

    return edit


@pytest.mark.parametrize("name", ["stories260K", "bitllama-1M"])
def test_batched_edge_patching_equals_the_reference(assets: Path, name: str) -> None:
    """Random edge masks (5%, 50%, 95% of edges excluded, and every edge of one layer's
    senders) give the reference's logit differences on every pair."""
    env = make_env("repeated-name", name, n_pairs=4)
    n = len(env.edges)
    gen = torch.Generator().manual_seed(1)
    keep = torch.stack([torch.rand(n, generator=gen) >= p for p in (0.05, 0.5, 0.95)])
    layer1 = torch.tensor([e.sender.layer != 1 for e in env.edges])
    keep = torch.cat([keep, layer1[None]])
    fast = run_edge_variants(env.hooked, env.pairs, keep, env.edges, rows_per_forward=2)
    slow = _reference_variants(env, keep)
    clean = env.run()
    assert float((slow - clean).abs().max()) > 1e-2  # the masks do change the output
    assert torch.allclose(fast, slow, atol=1e-5, rtol=1e-5), float((fast - slow).abs().max())


@pytest.mark.parametrize("name", ["stories260K", "bitllama-1M"])
def test_head_rows_projection_equals_the_full_one(assets: Path, name: str) -> None:
    """Gradient runs project each head's copy onto its own rows only: same values and
    gradients as the full projection (with bitllama's straight-through gradient)."""
    from capgym.circuits.adapters import _head_rows
    from capgym.models.bitllama import BitLinear, reference_bitlinear

    m = load_model(name).module
    attn = m.layers[1].attention
    hd, h = attn.head_dim, attn.n_heads
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, h, m.cfg.dim, generator=gen).requires_grad_(True)
    rows = torch.arange(h) // (h // attn.n_kv_heads)
    weight = torch.randn(2, 5, h, hd, generator=gen)

    def full(x: torch.Tensor) -> torch.Tensor:
        if isinstance(attn.wk, BitLinear):
            smooth = (
                torch.nn.functional.linear(
                    x / (torch.sqrt(x.pow(2).mean(-1, keepdim=True)) * x.shape[-1]), attn.wk.codes
                )
                * attn.wk.scale
            )
            out = reference_bitlinear(x, attn.wk.codes, attn.wk.scale).detach()
            out = out + (smooth - smooth.detach())
        else:
            out = attn.wk(x)
        return out.view(2, 5, h, -1, hd)[:, :, torch.arange(h), rows]

    with torch.enable_grad():
        fast, slow = _head_rows(attn.wk, x, rows, hd), full(x)
        g_fast = torch.autograd.grad((fast * weight).sum(), x)[0]
        g_slow = torch.autograd.grad((slow * weight).sum(), x)[0]
    assert torch.allclose(fast, slow, atol=1e-5, rtol=1e-5)
    assert torch.allclose(g_fast, g_slow, atol=1e-5, rtol=1e-5)
    assert float(g_fast.abs().max()) > 0


def test_eap_ig_scores_equal_the_per_edge_formula(env_name: Env) -> None:
    """Each EAP-IG score is (out_u(clean) - out_u(corrupt)) . mean_k grad at v's own input,
    computed here edge by edge (one head patched at a time, gradients taken per step),
    independently of the batched sender table and receiver plan."""
    from capgym.circuits.edges import IG_STEPS, eap_ig, receivers

    hm, ps = env_name.hooked, env_name.pairs
    recv = {r.name: r for r in receivers(hm)}
    hooks = sorted({r.hook for r in recv.values()})
    senders = sorted({c.hook for c in hm.components})
    _, clean = hm.run(ps.clean, cache=[*senders, "hook_embed", "hook_resid_final"])
    _, corrupt = hm.run(ps.corrupt, cache=[*senders, "hook_embed", "hook_resid_final"])
    grads = {h: torch.zeros(()) for h in hooks}
    for k in range(1, IG_STEPS + 1):
        e = corrupt["hook_embed"] + k / IG_STEPS * (clean["hook_embed"] - corrupt["hook_embed"])
        mix = e.detach().requires_grad_(True)
        logits, cache = hm.run(ps.clean, edits={"hook_embed": lambda _a, mix=mix: mix},
                               cache=hooks, grad=True)  # fmt: skip
        got = torch.autograd.grad(logit_diff(logits, ps).mean(), [cache[h] for h in hooks])
        for h, g in zip(hooks, got):
            grads[h] = grads[h] + g / IG_STEPS

    def delta(c: Component) -> torch.Tensor:
        if c.kind != "head":
            return clean[c.hook] - corrupt[c.hook]
        z, zc, wo = clean[c.hook], corrupt[c.hook], hm.points.z[c.layer]
        mixed = z.clone()
        mixed[:, :, c.head] = zc[:, :, c.head]
        return wo.forward(z.flatten(-2)) - wo.forward(mixed.flatten(-2))

    ranking = eap_ig(hm, ps)
    got = dict(zip(ranking.names, ranking.scores))
    assert len(got) == len(env_name.edges)
    with torch.no_grad():
        deltas = {c: delta(c) for c in hm.components}
        for e in env_name.edges:
            r = recv[e.receiver]
            g = grads[r.hook] if r.head < 0 else grads[r.hook][:, :, r.head]
            want = float((deltas[e.sender] * g).sum())
            assert got[e.name] == pytest.approx(want, rel=1e-4, abs=1e-6), e.name
    # the senders' outputs add up to the final residual (stories260K's projections are linear)
    total = torch.stack(list(deltas.values())).sum(0)
    gap = clean["hook_resid_final"] - corrupt["hook_resid_final"]
    assert torch.allclose(total, gap, atol=1e-4), float((total - gap).abs().max())


def _count_calls(modules: list[torch.nn.Module]) -> tuple[list[int], list[RemovableHandle]]:
    """Forward calls of each of ``modules`` (counted by hooks; remove the handles after)."""
    calls = [0] * len(modules)

    def counter(i: int) -> Callable[..., None]:
        def hook(*_: object) -> None:
            calls[i] += 1

        return hook

    return calls, [m.register_forward_hook(counter(i)) for i, m in enumerate(modules)]


def _shared_attention_first(hm: HookedModel) -> list[RemovableHandle]:
    """Pre-hooks making each attention module run its own forward before the per-head one
    and discarding it: how per-head inputs were computed before attention ran once."""

    def run_own(m: torch.nn.Module, args: tuple[object, ...]) -> None:
        type(m).forward(m, *args)

    return [m.register_forward_pre_hook(run_own) for m in hm.points.attention]


def test_per_head_inputs_compute_attention_once(env_name: Env) -> None:
    """With q/k/v hooks on a layer, its projections run once per forward (the per-head
    attention stands in for the module's own), and patched outputs are bit for bit those of
    the former order (the module's own attention first, then the per-head one)."""
    hm, ps, edges = env_name.hooked, env_name.pairs, env_name.edges
    attn = hm.points.attention
    calls, handles = _count_calls([a.wq for a in attn] + [a.wo for a in attn])
    edits: dict[str, Edit] = {"blocks.2.hook_v_input": lambda a: a * 0.5,
                              "blocks.3.hook_q_input": lambda a: a.flip(1)}  # fmt: skip
    hm.run(ps.clean[:2], edits=edits)
    for h in handles:
        h.remove()
    assert calls == [1] * (2 * len(attn))
    assert all("forward" not in vars(a) for a in attn)  # the module's own forward is back
    keep = torch.rand(3, len(edges), generator=torch.Generator().manual_seed(0)) < 0.5
    cached = ["blocks.2.hook_k_input", "blocks.2.attn.hook_z", "blocks.2.attn.hook_pattern"]

    def patched() -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        return (run_edge_variants(hm, ps, keep, edges),
                *hm.run(ps.clean[:3], edits=edits, cache=cached))  # fmt: skip

    now = patched()
    handles = _shared_attention_first(hm)
    try:
        before = patched()
    finally:
        for h in handles:
            h.remove()
    assert torch.equal(now[0], before[0]) and torch.equal(now[1], before[1])
    assert all(torch.equal(now[2][n], before[2][n]) for n in cached)
