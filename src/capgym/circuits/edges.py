"""Edges between components: EAP-IG rankings and edge circuits run exactly.

Senders are the embedding, every head and every MLP.  Receivers are what reads the
residual stream, as in MIB and EAP-IG (Hanna et al. 2024): the query, key and value
input of every head (``L{l}H{h}.q``, ``.k``, ``.v``: TransformerLens's
``blocks.{l}.hook_q_input`` ... with one residual copy per head, normed separately;
grouped key/value heads are ungrouped, so each query head has its own key and value
input), the input of every MLP (``M{l}``, ``hook_resid_mid``) and of the unembedding
(``logits``, the final residual).  An edge ``u->v`` exists when ``u`` writes before
``v`` reads, e.g. ``L0H1->L2H3.q``, ``embed->M0``, ``MLP4->logits``.  Backends without
per-head inputs (``Points.split_attention`` is None: the Hugging Face ones) have one
attention receiver per layer instead, ``A{l}`` (``hook_resid_pre``, shared by its heads).

**Edge circuits.**  In a run of an edge circuit ``E``, receiver ``v`` reads the clean
residual stream minus, for every sender ``u`` with ``u->v`` outside ``E``, the
difference between ``u``'s current output and its output on the corrupted prompt
(the standard edge patching of ACDC/EAP/MIB); a head's query, key and value are then
computed from its own three inputs, each through the layer's norm.  A head's output
is the attention layer's output projection of its ``z``; for several excluded heads
of one layer the projection is applied to ``z`` with those heads replaced together,
which equals the sum of per-head differences for a linear projection and is exact for
bitllama's normalising BitLinear too.

**EAP-IG**: score(u->v) = (out_u(clean) - out_u(corrupt)) . mean over ``k = 1..steps``
of dm/d(input of v), the gradients taken with the input embeddings interpolated to
``corrupt + k/steps (clean - corrupt)``; summed over positions, averaged over pairs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from capgym.circuits.baselines import Ranking, _rank
from capgym.circuits.hooks import Component, Edit, HookedModel
from capgym.circuits.pairs import PairSet, logit_diff
from capgym.circuits.patching import last_only
from capgym.circuits.score import FRACTIONS, Curve, faithfulness, integrals, sizes_for

IG_STEPS = 5


@dataclass(frozen=True)
class Edge:
    sender: Component
    receiver: str  # "L{l}H{h}.q" (or .k, .v), "A{l}", "M{l}" or "logits"

    @property
    def name(self) -> str:
        return f"{self.sender.name}->{self.receiver}"


@dataclass(frozen=True)
class Receiver:
    """What reads the residual stream: its name, the hook of its input, layer and head."""

    name: str
    hook: str
    layer: int
    head: int = -1  # the head whose own input this is; -1: the whole residual


def receivers(hm: HookedModel) -> list[Receiver]:
    """Every receiver, in forward order (per-head q/k/v inputs where the backend has them)."""
    pts = hm.points
    out = []
    for layer in range(pts.n_layers):
        if pts.split_attention is None:
            out.append(Receiver(f"A{layer}", f"blocks.{layer}.hook_resid_pre", layer))
        else:
            out += [Receiver(f"L{layer}H{h}.{s}", f"blocks.{layer}.hook_{s}_input", layer, h)
                    for h in range(pts.n_heads) for s in "qkv"]  # fmt: skip
        out.append(Receiver(f"M{layer}", f"blocks.{layer}.hook_resid_mid", layer))
    return [*out, Receiver("logits", "hook_resid_final", pts.n_layers)]


def edges_of(hm: HookedModel) -> list[Edge]:
    """Every edge of the model's graph, grouped by receiver."""
    out = []
    for r in receivers(hm):
        attn = not r.name.startswith(("M", "logits"))
        for c in hm.components:
            before = (c.kind == "embed" or c.layer < r.layer
                      or (c.layer == r.layer and c.kind == "head" and not attn))  # fmt: skip
            if before:
                out.append(Edge(c, r.name))
    return out


def _sender_deltas(hm: HookedModel, ps: PairSet) -> dict[Component, torch.Tensor]:
    """out_u(clean) - out_u(corrupt) ``[P, T, d_model]`` for every sender."""
    hooks = sorted({c.hook for c in hm.components})
    _, clean = hm.run(ps.clean, cache=hooks)
    _, corrupt = hm.run(ps.corrupt, cache=hooks)
    out: dict[Component, torch.Tensor] = {}
    with torch.no_grad():
        for c in hm.components:
            if c.kind != "head":
                out[c] = clean[c.hook] - corrupt[c.hook]
                continue
            z_clean, z_corrupt = clean[c.hook], corrupt[c.hook]
            mixed = z_clean.clone()
            mixed[:, :, c.head] = z_corrupt[:, :, c.head]
            wo = hm.points.z[c.layer]
            out[c] = wo.forward(z_clean.flatten(-2)) - wo.forward(mixed.flatten(-2))
    return out


def eap_ig(hm: HookedModel, ps: PairSet, steps: int = IG_STEPS) -> Ranking:
    """EAP-IG scores of every edge (see the module docstring), as a ranking."""
    t0 = time.perf_counter()
    recv = receivers(hm)
    hooks = sorted({r.hook for r in recv})
    _, emb = hm.run(ps.clean, cache=["hook_embed"])
    _, emb_c = hm.run(ps.corrupt, cache=["hook_embed"])
    e_clean, e_corrupt = emb["hook_embed"], emb_c["hook_embed"]
    grads = {h: torch.zeros(0) for h in hooks}
    for k in range(1, steps + 1):
        alpha = k / steps
        # a leaf that requires grad, so every receiver's input is differentiable
        mix = (e_corrupt + alpha * (e_clean - e_corrupt)).detach().requires_grad_(True)
        logits, cache = hm.run(ps.clean, edits={"hook_embed": lambda _a, mix=mix: mix},
                               cache=hooks, grad=True)  # fmt: skip
        m = logit_diff(logits, ps).mean()
        for h, g in zip(hooks, torch.autograd.grad(m, [cache[h] for h in hooks])):
            grads[h] = g / steps if grads[h].numel() == 0 else grads[h] + g / steps
    deltas = _sender_deltas(hm, ps)
    by_name = {r.name: r for r in recv}
    edges = edges_of(hm)
    scores = []
    for e in edges:
        r = by_name[e.receiver]
        grad = grads[r.hook] if r.head < 0 else grads[r.hook][:, :, r.head]
        scores.append((deltas[e.sender] * grad).sum())
    return _rank("eap-ig", "edge", [e.name for e in edges], torch.stack(scores).detach(), t0)


def node_scores(ranking: Ranking) -> dict[str, float]:
    """A node's score from an edge ranking: the sum of |score| of its outgoing edges."""
    out: dict[str, float] = {}
    for name, score in zip(ranking.names, ranking.scores):
        sender = name.split("->")[0]
        out[sender] = out.get(sender, 0.0) + abs(score)
    return out


def _edge_edits(
    hm: HookedModel, ps: PairSet, corrupt: dict[str, torch.Tensor], excluded: torch.Tensor,
    rows: torch.Tensor, edges: list[Edge],
) -> dict[str, Edit]:  # fmt: skip
    """Edits running ``rows`` with the edges where ``excluded[row]`` is true patched."""
    current: dict[str, torch.Tensor] = {}
    edits: dict[str, Edit] = {}

    def record(name: str) -> Edit:
        def edit(act: torch.Tensor) -> torch.Tensor:
            current[name] = act
            return act

        return edit

    for c in hm.components:
        edits[c.hook] = record(c.hook)
    by_receiver: dict[str, list[int]] = {}
    for i, e in enumerate(edges):
        by_receiver.setdefault(e.receiver, []).append(i)
    per_hook: dict[str, list[tuple[int, Edit]]] = {}
    for r in receivers(hm):
        idx = by_receiver[r.name]
        if not bool(excluded[:, idx].any()):
            continue
        senders = [edges[i].sender for i in idx]
        per_hook.setdefault(r.hook, []).append(
            (r.head, _receiver_edit(hm, corrupt, current, excluded[:, idx], rows, senders))
        )
    for hook, parts in per_hook.items():
        edits[hook] = _per_head(parts)
    return edits


def _per_head(parts: list[tuple[int, Edit]]) -> Edit:
    """One edit of a receiver hook: whole-residual parts (head -1) or one per head."""
    if parts[0][0] < 0:
        return parts[0][1]

    def edit(x: torch.Tensor) -> torch.Tensor:  # [B, T, H, d_model], one copy per head
        heads = list(x.unbind(2))
        for head, part in parts:
            heads[head] = part(heads[head])
        return torch.stack(heads, 2)

    return edit


def _receiver_edit(
    hm: HookedModel, corrupt: dict[str, torch.Tensor], current: dict[str, torch.Tensor],
    excl: torch.Tensor, rows: torch.Tensor, senders: list[Component],
) -> Edit:  # fmt: skip
    def edit(x: torch.Tensor) -> torch.Tensor:
        shift = torch.zeros_like(x)
        heads: dict[int, torch.Tensor] = {}
        for j, u in enumerate(senders):
            on = excl[:, j]
            if not bool(on.any()):
                continue
            if u.kind == "head":
                heads.setdefault(
                    u.layer, torch.zeros(len(rows), hm.points.n_heads, dtype=torch.bool)
                )
                heads[u.layer][:, u.head] = on
                continue
            diff = current[u.hook] - corrupt[u.hook][rows]
            shift = shift + on[:, None, None] * diff
        for layer, mask in heads.items():
            hook = f"blocks.{layer}.attn.hook_z"
            z = current[hook]
            mixed = torch.where(mask[:, None, :, None], corrupt[hook][rows], z)
            wo = hm.points.z[layer]
            shift = shift + (wo.forward(z.flatten(-2)) - wo.forward(mixed.flatten(-2)))
        return x - shift

    return edit


def run_edge_variants(
    hm: HookedModel,
    ps: PairSet,
    keep: torch.Tensor,
    edges: list[Edge],
    rows_per_forward: int = 1024,
) -> torch.Tensor:
    """Logit difference ``[V, P]`` of edge circuits ``keep`` (``[V, n_edges]``)."""
    hooks = sorted({c.hook for c in hm.components})
    _, corrupt = hm.run(ps.corrupt, cache=hooks)
    v_count, p_count = keep.shape[0], ps.n_valid
    rows_variant = torch.arange(v_count).repeat_interleave(p_count)
    rows_pair = torch.arange(p_count).repeat(v_count)
    out = torch.empty(v_count * p_count)
    step = max(1, rows_per_forward * 32 // max(32, ps.clean.shape[1]))
    for start in range(0, len(rows_pair), step):
        rv, rp = rows_variant[start : start + step], rows_pair[start : start + step]
        excluded = ~keep[rv]
        edits = (
            {} if not bool(excluded.any()) else _edge_edits(hm, ps, corrupt, excluded, rp, edges)
        )
        edits["ln_final.hook_normalized"] = last_only(ps.length[rp] - 1)
        logits, _ = hm.run(ps.clean[rp], edits=edits)
        out[start : start + step] = logit_diff(logits, ps, rp, positions=torch.zeros_like(rp))
    return out.view(v_count, p_count)


def edge_curve(hm: HookedModel, ps: PairSet, ranking: Ranking) -> Curve:
    """Faithfulness of the top edges of an edge ranking at the fractions of :data:`FRACTIONS`."""
    edges = edges_of(hm)
    index = {e.name: i for i, e in enumerate(edges)}
    n = len(edges)
    sizes = sizes_for(n)
    rows = [torch.ones(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)]
    for k in sizes:
        row = torch.zeros(n, dtype=torch.bool)
        row[[index[name] for name in ranking.names[:k]]] = True
        rows.append(row)
    unique, back = torch.unique(torch.stack(rows), dim=0, return_inverse=True)
    m = run_edge_variants(hm, ps, unique, edges).mean(1)[back].tolist()
    faith = [faithfulness(x, m[0], m[1]) for x in m[2:]]
    cpr, cmd = integrals(FRACTIONS, faith)
    return Curve(FRACTIONS, tuple(sizes), tuple(faith), cpr, cmd)
