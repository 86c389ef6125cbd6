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

**How a forward of edge circuits runs** (:func:`run_edge_variants`, timings in
``benchmarks/EDGES.md``): every receiver hook edits all its receivers at once.  Its
receivers with an excluded edge are grouped into distinct (row, excluded senders)
cases; a case's shift is the sum, in forward order, of its excluded embedding/MLP
senders' differences and, per earlier layer, of the shift of its (row, excluded heads)
case.  Those head shifts are shared by every hook of the forward and computed once, by
one batched call of the output projection (a case with every head excluded reuses the
projection of the corrupted ``z``).

**EAP-IG**: score(u->v) = (out_u(clean) - out_u(corrupt)) . mean over ``k = 1..steps``
of dm/d(input of v), the gradients taken with the input embeddings interpolated to
``corrupt + k/steps (clean - corrupt)``; summed over positions, averaged over pairs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from capgym.circuits.baselines import Ranking, _rank
from capgym.circuits.hooks import Component, Edit, HookedModel
from capgym.circuits.pairs import PairSet, logit_diff
from capgym.circuits.patching import last_only
from capgym.circuits.score import FRACTIONS, Curve, faithfulness_rows, integrals, sizes_for
from capgym.errors import UsageError

IG_STEPS = 5
# rows of one edge-circuit forward at 32 tokens: each row carries a residual copy per head
# for every q/k/v input, and small forwards stay in cache (1024: 1.7x slower on CPU)
EDGE_ROWS_PER_FORWARD = 64


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


def _sender_deltas(
    hm: HookedModel, clean: dict[str, torch.Tensor], corrupt: dict[str, torch.Tensor]
) -> dict[Component, torch.Tensor]:
    """out_u(clean) - out_u(corrupt) ``[P, T, d_model]`` for every sender, from the two runs'
    caches of the senders' hooks."""
    out: dict[Component, torch.Tensor] = {}
    n_heads = hm.points.n_heads
    eye = torch.eye(n_heads, dtype=torch.bool)[:, None, None, :, None]  # [H, 1, 1, H, 1]
    with torch.no_grad():
        for c in hm.components:
            if c.kind != "head":
                out[c] = clean[c.hook] - corrupt[c.hook]
            elif c.head == 0:  # all heads of the layer in one call of its output projection
                z_clean, z_corrupt = clean[c.hook], corrupt[c.hook]
                mixed = torch.where(eye, z_corrupt, z_clean)  # [H, P, T, H, d_head]
                wo = hm.points.z[c.layer]
                diff = wo.forward(z_clean.flatten(-2)) - wo.forward(mixed.flatten(-2))
                for h in range(n_heads):
                    out[Component("head", c.layer, h)] = diff[h]
    return out


def eap_ig(hm: HookedModel, ps: PairSet, steps: int = IG_STEPS) -> Ranking:
    """EAP-IG scores of every edge (see the module docstring), as a ranking."""
    t0 = time.perf_counter()
    recv = receivers(hm)
    hooks = sorted({r.hook for r in recv})
    senders = sorted({c.hook for c in hm.components})  # hook_embed among them
    _, clean = hm.run(ps.clean, cache=senders)
    _, corrupt = hm.run(ps.corrupt, cache=senders)
    e_clean, e_corrupt = clean["hook_embed"], corrupt["hook_embed"]
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
    deltas = _sender_deltas(hm, clean, corrupt)
    stacked = torch.stack([deltas[c] for c in hm.components])  # [S, P, T, d]
    stacked = stacked.reshape(len(stacked), -1)
    table: dict[
        str, torch.Tensor
    ] = {}  # hook -> score of (receiver slot, sender): one matrix product per hook
    for h, g in grads.items():
        g = g if g.dim() == 4 else g[:, :, None]  # [P, T, slots, d]
        table[h] = g.permute(2, 0, 1, 3).reshape(g.shape[2], -1) @ stacked.T
    edges = edges_of(hm)
    plan = _plan(hm, edges)
    scores = torch.empty(len(edges))
    for h, p in plan.items():
        scores[p.edge] = table[h][p.slot, p.sender]
    return _rank("eap-ig", "edge", [e.name for e in edges], scores, t0)


def node_scores(ranking: Ranking) -> dict[str, float]:
    """A node's score from an edge ranking: the sum of |score| of its outgoing edges."""
    out: dict[str, float] = {}
    for name, score in zip(ranking.names, ranking.scores):
        sender = name.split("->")[0]
        out[sender] = out.get(sender, 0.0) + abs(score)
    return out


@dataclass(frozen=True)
class _Hook:
    """The edges ending at one receiver hook: their indices, receiver slots and senders."""

    slots: int  # receivers at the hook: its heads, or 1 (the whole residual)
    edge: torch.Tensor
    slot: torch.Tensor
    sender: torch.Tensor


def _plan(hm: HookedModel, edges: list[Edge]) -> dict[str, _Hook]:
    """Each receiver hook's edges, so a chunk's masks are built by indexing."""
    by_name = {r.name: r for r in receivers(hm)}
    sender = {c: i for i, c in enumerate(hm.components)}
    parts: dict[str, list[tuple[int, int, int]]] = {}
    for i, e in enumerate(edges):
        r = by_name[e.receiver]
        parts.setdefault(r.hook, []).append((i, max(r.head, 0), sender[e.sender]))
    out = {}
    for hook, items in parts.items():
        edge, slot, send = torch.tensor(items).T
        out[hook] = _Hook(int(slot.max()) + 1, edge, slot, send)
    return out


@dataclass
class _Forward:
    """One forward of edge circuits: sender outputs as they are computed, head cases.

    ``cases[layer]`` are the distinct (row, excluded heads of ``layer``) pairs over every
    receiver hook of the forward; their shifts ``wo(z) - wo(z with those heads
    corrupted)`` are computed once, when the first receiver needs them.
    """

    hm: HookedModel
    corrupt: dict[str, torch.Tensor]
    wo_corrupt: dict[int, torch.Tensor]  # layer -> wo(corrupted z) [P, T, d_model]
    rows: torch.Tensor
    cases: dict[int, tuple[torch.Tensor, torch.Tensor]]  # layer -> (row [U], heads [U, H])
    diffs: dict[int, torch.Tensor] = field(default_factory=dict)  # sender -> current - corrupt
    zs: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> current z
    shifts: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> [U, T, d_model]

    def record(self, i: int, c: Component) -> Edit:
        def edit(act: torch.Tensor) -> torch.Tensor:
            if c.kind == "head":
                self.zs[c.layer] = act
            else:
                self.diffs[i] = act - self.corrupt[c.hook][self.rows]
            return act

        return edit

    def head_shift(self, layer: int) -> torch.Tensor:
        """``wo(z) - wo(z with the case's heads corrupted)`` for every case of ``layer``.

        Rows of ``wo`` are independent (bitllama's BitLinear normalises and quantises each
        row on its own), so one batched call is exact; a case with every head excluded
        is ``wo`` of the corrupted ``z``, computed once per pair.
        """
        if layer in self.shifts:
            return self.shifts[layer]
        row, on = self.cases[layer]
        z, wo = self.zs[layer], self.hm.points.z[layer]
        out = wo.forward(z.flatten(-2))[row]
        full = on.all(1)
        part = (~full).nonzero()[:, 0]
        if len(part):
            r = row[part]
            zc = self.corrupt[f"blocks.{layer}.attn.hook_z"][self.rows[r]]
            mixed = torch.where(on[part][:, None, :, None], zc, z[r])
            out[part] -= wo.forward(mixed.flatten(-2))
        whole = full.nonzero()[:, 0]
        out[whole] -= self.wo_corrupt[layer][self.rows[row[whole]]]
        self.shifts[layer] = out
        return out


def _distinct(row: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The first index of each distinct ``(row[i], mask[i])`` and each ``i``'s group.

    Exact (the masks are packed into 62-bit words and sorted), unlike hashing.

    >>> first, group = _distinct(torch.tensor([0, 0, 1, 0]),
    ...                          torch.tensor([[True], [False], [True], [True]]))
    >>> first.tolist(), group.tolist()
    ([1, 0, 2], [1, 0, 2, 1])
    """
    n, k = mask.shape
    if n == 0:
        return row.new_zeros(0), row.new_zeros(0)
    bits = torch.cat([mask, mask.new_zeros(n, (-k) % 62)], 1).view(n, -1, 62).long()
    keys = torch.cat([row[:, None], (bits << torch.arange(62)).sum(-1)], 1)
    order = torch.arange(n)
    for col in reversed(range(keys.shape[1])):  # least significant word first: a lexsort
        order = order[torch.sort(keys[order, col], stable=True).indices]
    ordered = keys[order]
    new = torch.ones(n, dtype=torch.bool)
    new[1:] = (ordered[1:] != ordered[:-1]).any(1)
    group = torch.empty_like(order)
    group[order] = new.cumsum(0) - 1
    return order[new], group


@dataclass(frozen=True)
class _Cases:
    """The receivers of one hook with an excluded edge, as distinct (row, mask) cases.

    ``which``: their flat ``row * slots + slot`` indices; ``case``: each one's case;
    ``row``/``mask``: each case's row and excluded senders; ``heads``: per sender layer,
    the cases with an excluded head there and their index in the layer's head cases.
    """

    which: torch.Tensor
    case: torch.Tensor
    row: torch.Tensor
    mask: torch.Tensor
    heads: list[tuple[int, torch.Tensor, torch.Tensor]]


def _edge_edits(
    hm: HookedModel, corrupt: dict[str, torch.Tensor], wo_corrupt: dict[int, torch.Tensor],
    excluded: torch.Tensor, rows: torch.Tensor, plan: dict[str, _Hook],
) -> dict[str, Edit]:  # fmt: skip
    """Edits running ``rows`` with the edges where ``excluded[row]`` is true patched.

    Each receiver hook subtracts, for each distinct (row, excluded senders) case among
    its receivers, the excluded senders' differences: for the embedding and MLPs their
    sum, for heads the shift of each (row, excluded heads) case of a layer, shared by
    every hook of the forward (:meth:`_Forward.head_shift`).
    """
    comps = hm.components
    per_hook: dict[str, tuple[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    for hook, p in plan.items():
        m = torch.zeros(len(rows), p.slots, len(comps), dtype=torch.bool)
        m[:, p.slot, p.sender] = excluded[:, p.edge]
        flat = m.view(-1, len(comps))
        which = flat.any(1).nonzero()[:, 0]
        if len(which):
            first, case = _distinct(which // p.slots, flat[which])
            per_hook[hook] = (p.slots, which, case, (which // p.slots)[first], flat[which[first]])
    heads: dict[int, list[int]] = {}
    for i, c in enumerate(comps):
        if c.kind == "head":
            heads.setdefault(c.layer, []).append(i)
    layer_cases: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    uses: dict[str, list[tuple[int, torch.Tensor, torch.Tensor]]] = {h: [] for h in per_hook}
    for layer, idx in heads.items():
        parts = []
        for hook, (_, _, _, row, mask) in per_hook.items():
            sub = mask[:, idx].any(1).nonzero()[:, 0]
            if len(sub):
                parts.append((hook, sub, row[sub], mask[sub][:, idx]))
        if not parts:
            continue
        all_rows = torch.cat([r for _, _, r, _ in parts])
        all_masks = torch.cat([m for _, _, _, m in parts])
        first, group = _distinct(all_rows, all_masks)
        layer_cases[layer] = (all_rows[first], all_masks[first])
        for (hook, sub, _, _), g in zip(parts, group.split([len(p[1]) for p in parts])):
            uses[hook].append((layer, sub, g))
    fwd = _Forward(hm, corrupt, wo_corrupt, rows, layer_cases)
    edits: dict[str, Edit] = {}
    for i, c in enumerate(comps):
        if c.hook not in edits:
            edits[c.hook] = fwd.record(i, c)
    for hook, (slots, which, case, row, mask) in per_hook.items():
        edits[hook] = _receiver_edit(fwd, slots, _Cases(which, case, row, mask, uses[hook]))
    return edits


def _receiver_edit(fwd: _Forward, slots: int, cases: _Cases) -> Edit:
    """The edit of one receiver hook with ``slots`` receivers (its heads, or 1)."""
    plain = [(i, cases.mask[:, i].nonzero()[:, 0]) for i, c in enumerate(fwd.hm.components)
             if c.kind != "head" and bool(cases.mask[:, i].any())]  # fmt: skip

    def edit(x: torch.Tensor) -> torch.Tensor:
        per_head = x.dim() == 4  # [B, T, H, d_model], one copy per head; else [B, T, d]
        b, t, d = x.shape[0], x.shape[1], x.shape[-1]
        shift = x.new_zeros(len(cases.row), t, d)  # per case, senders in forward order
        for i, sel in plain:
            shift.index_add_(0, sel, fwd.diffs[i][cases.row[sel]])
        for layer, sel, case in cases.heads:
            shift.index_add_(0, sel, fwd.head_shift(layer)[case])
        # a copy (never edit the residual stream in place) laid out [B, R, T, d], so that a
        # receiver is one row; returned as a [B, T, R, d] view
        own = (x if per_head else x[:, :, None]).transpose(1, 2)
        out = own.clone(memory_format=torch.contiguous_format)
        out.view(b * slots, t, d).index_add_(0, cases.which, shift[cases.case], alpha=-1)
        out = out.transpose(1, 2)
        return out if per_head else out[:, :, 0]

    return edit


def run_edge_variants(
    hm: HookedModel,
    ps: PairSet,
    keep: torch.Tensor,
    edges: list[Edge],
    rows_per_forward: int = EDGE_ROWS_PER_FORWARD,
) -> torch.Tensor:
    """Logit difference ``[V, P]`` of edge circuits ``keep`` (``[V, n_edges]``)."""
    hooks = sorted({c.hook for c in hm.components})
    _, corrupt = hm.run(ps.corrupt, cache=hooks)
    plan = _plan(hm, edges)
    with torch.no_grad():
        wo_corrupt = {layer: hm.points.z[layer].forward(corrupt[f"blocks.{layer}.attn.hook_z"].flatten(-2))
                      for layer in range(hm.points.n_layers)}  # fmt: skip
    v_count, p_count = keep.shape[0], ps.n_valid
    rows_variant = torch.arange(v_count).repeat_interleave(p_count)
    rows_pair = torch.arange(p_count).repeat(v_count)
    out = torch.empty(v_count * p_count)
    step = max(1, rows_per_forward * 32 // max(32, ps.clean.shape[1]))
    for start in range(0, len(rows_pair), step):
        rv, rp = rows_variant[start : start + step], rows_pair[start : start + step]
        excluded = ~keep[rv]
        edits = (
            {}
            if not bool(excluded.any())
            else _edge_edits(hm, corrupt, wo_corrupt, excluded, rp, plan)
        )
        edits["ln_final.hook_normalized"] = last_only(ps.length[rp] - 1)
        logits, _ = hm.run(ps.clean[rp], edits=edits)
        out[start : start + step] = logit_diff(logits, ps, rp, positions=torch.zeros_like(rp))
    return out.view(v_count, p_count)


def edge_indices(edges: list[Edge], names: Sequence[str]) -> list[int]:
    """Each edge name's index in ``edges``; a name not among them -> UsageError."""
    index = {e.name: i for i, e in enumerate(edges)}
    unknown = [n for n in names if n not in index]
    if unknown:
        raise UsageError(f"unknown edge {unknown[0]!r}; edges look like L0H1->L2H3.q (or "
                         ".k, .v), MLP0->M1, embed->logits (see env.edges)")  # fmt: skip
    return [index[n] for n in names]


def edge_curve(hm: HookedModel, ps: PairSet, ranking: Ranking) -> Curve:
    """Faithfulness of the top edges of an edge ranking at the fractions of :data:`FRACTIONS`."""
    edges = edges_of(hm)
    index = edge_indices(edges, ranking.names)
    n = len(edges)
    sizes = sizes_for(n)
    rows = torch.zeros(len(sizes), n, dtype=torch.bool)
    for row, k in zip(rows, sizes):
        row[index[:k]] = True
    faith = faithfulness_rows(lambda keep: run_edge_variants(hm, ps, keep, edges), rows)
    cpr, cmd = integrals(FRACTIONS, faith)
    return Curve(FRACTIONS, tuple(sizes), tuple(faith), cpr, cmd)
