"""Scoring a circuit: faithfulness, and the faithfulness curve of a ranking.

A node circuit ``C`` is a set of components.  The model is run on the clean prompts
with every component *outside* ``C`` replaced (from the corrupted prompt of the same
pair, or by its mean over clean prompts).  With ``m`` the mean decision-point logit
difference over the pairs::

    faithfulness(C) = (m(C) - m(empty)) / (m(model) - m(empty))

so the full circuit scores exactly 1 (nothing is replaced: the plain forward) and the
empty circuit exactly 0 (by definition).

**Positions.**  A circuit item may name one position, ``"L4H3@k"`` (a
:class:`~capgym.circuits.hooks.Node`): the component is kept clean at the token ``k``
places before the decision token (``@0`` = the decision token) and replaced at every
other position not named; an item without ``@`` keeps every position.  A pair of ``n``
tokens has no token ``k >= n``, so such an item is absent from that pair.  A circuit
naming every component at every position ``0 .. T-1`` (``T`` the longest prompt) is the
full circuit and scores exactly 1, like the position-free one.

**Curves** (an analogue of MIB's circuit-localisation metrics, Mueller et al. 2025).
A ranking of components gives circuits of its top ``k = ceil(f N)`` components for
the fractions ``f`` of :data:`FRACTIONS` (N = number of components).  With ``F(f)`` the
faithfulness of the circuit at fraction ``f``, integrated with the trapezoid rule over
``f`` in [0, 1]:

* ``cpr`` = integral of ``F(f)`` (higher is better: small circuits that recover the
  behaviour; the analogue of MIB's CPR);
* ``cmd`` = integral of ``|1 - F(f)|`` (lower is better: how far the circuits are from
  the model's behaviour, either way; the analogue of MIB's CMD).

MIB integrates over the fraction of *edges* with a finer grid; here a node ranking
uses nodes, and an edge ranking edges (see :mod:`capgym.circuits.edges`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from capgym.circuits.hooks import Component, HookedModel, Node
from capgym.circuits.pairs import PairSet
from capgym.circuits.patching import Sources, run_variants
from capgym.errors import UsageError

FRACTIONS: tuple[float, ...] = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


@dataclass(frozen=True)
class Curve:
    """Faithfulness of the top-``sizes[i]`` circuits of a ranking, and its integrals."""

    fractions: tuple[float, ...]
    sizes: tuple[int, ...]
    faithfulness: tuple[float, ...]
    cpr: float
    cmd: float

    def at(self, fraction: float) -> float:
        """Faithfulness at a grid fraction (e.g. 0.05 or 0.2)."""
        return self.faithfulness[self.fractions.index(fraction)]


def indices(hm: HookedModel, comps: Sequence[Component]) -> list[int]:
    """Each component's index in ``hm.components``; one the model lacks -> UsageError."""
    index = {c: i for i, c in enumerate(hm.components)}
    for comp in comps:
        if comp not in index:
            raise UsageError(f"component {comp.name} is not in model {hm.lm.name} "
                             f"({len(hm.components)} components)")  # fmt: skip
    return [index[c] for c in comps]


def keep_mask(
    hm: HookedModel, circuit: Sequence[Node | Component | str], n_positions: int | None = None
) -> torch.Tensor:
    """True for the circuit's components: ``[n_components]``, or ``[n_components, T]``.

    With ``n_positions = T`` entry ``[c, k]`` keeps component ``c`` at ``k`` tokens before
    the decision token (an item without a position fills its row; positions ``k >= T``
    name no token of any pair and are dropped).  Without ``n_positions`` an item with a
    position is an error.
    """
    shape = (len(hm.components),) if n_positions is None else (len(hm.components), n_positions)
    keep = torch.zeros(shape, dtype=torch.bool)
    parsed = [Node.parse(item) if isinstance(item, str) else item for item in circuit]
    nodes = [node if isinstance(node, Node) else Node(node) for node in parsed]
    for node, i in zip(nodes, indices(hm, [node.component for node in nodes])):
        if node.position is None:
            keep[i] = True
        elif n_positions is None:
            raise UsageError(f"{node.name}: positions need a position-resolved mask")
        elif node.position < n_positions:
            keep[i, node.position] = True
    return keep


def has_positions(circuit: Sequence[Node | Component | str]) -> bool:
    """Whether any item of the circuit names a position (``"L4H3@0"``)."""
    return any((isinstance(c, str) and "@" in c) or (isinstance(c, Node) and c.position is not None)
               for c in circuit)  # fmt: skip


def faithfulness(m_circuit: float, m_model: float, m_empty: float) -> float:
    """(m(C) - m(empty)) / (m(model) - m(empty)); NaN when model and empty agree."""
    den = m_model - m_empty
    return (m_circuit - m_empty) / den if den != 0 else math.nan


def faithfulness_rows(
    run: Callable[[torch.Tensor], torch.Tensor], keep: torch.Tensor
) -> list[float]:
    """Faithfulness of each row of the masks ``keep``, where ``run(masks)`` gives the metric
    ``[V, P]`` of each mask (node masks: :func:`run_variants`; edge masks:
    :func:`~capgym.circuits.edges.run_edge_variants`).  All rows run batched in one pass.
    """
    full = torch.ones(1, *keep.shape[1:], dtype=torch.bool)
    empty = torch.zeros(1, *keep.shape[1:], dtype=torch.bool)
    # equal circuits are run once, so the full circuit is exactly the model (1) and the
    # empty one exactly the empty circuit (0), whatever the batching
    rows = torch.cat([full, empty, keep])
    unique, back = torch.unique(rows.flatten(1), dim=0, return_inverse=True)
    m = run(unique.view(-1, *keep.shape[1:])).mean(1)[back].tolist()
    m_model, m_empty = m[0], m[1]
    return [faithfulness(x, m_model, m_empty) for x in m[2:]]


def score_masks(hm: HookedModel, ps: PairSet, src: Sources, keep: torch.Tensor) -> list[float]:
    """Faithfulness of each row of ``keep`` (``[V, n_components]`` or ``[V, n_components, T]``)."""
    return faithfulness_rows(lambda masks: run_variants(hm, ps, src, masks), keep)


def score_circuit(
    hm: HookedModel, ps: PairSet, src: Sources, circuit: Sequence[Node | Component | str]
) -> float:
    """Faithfulness of one node circuit, items with or without positions (module docstring)."""
    n_positions = ps.clean.shape[1] if has_positions(circuit) else None
    return score_masks(hm, ps, src, keep_mask(hm, circuit, n_positions)[None])[0]


def sizes_for(n: int, fractions: Sequence[float] = FRACTIONS) -> list[int]:
    return [min(n, math.ceil(f * n - 1e-9)) for f in fractions]


def integrals(fractions: Sequence[float], faith: Sequence[float]) -> tuple[float, float]:
    """(cpr, cmd): trapezoid integrals of F and |1 - F| over the fractions."""
    cpr = cmd = 0.0
    for i in range(1, len(fractions)):
        w = fractions[i] - fractions[i - 1]
        cpr += w * (faith[i] + faith[i - 1]) / 2
        cmd += w * (abs(1 - faith[i]) + abs(1 - faith[i - 1])) / 2
    return cpr, cmd


def curve(
    hm: HookedModel,
    ps: PairSet,
    src: Sources,
    ranking: Sequence[Component],
    fractions: Sequence[float] = FRACTIONS,
) -> Curve:
    """The faithfulness curve of a node ranking (best first) and its integrals."""
    n = len(hm.components)
    sizes = sizes_for(n, fractions)
    rows = []
    index = indices(hm, ranking)
    for k in sizes:
        order = torch.zeros(n, dtype=torch.bool)
        order[index[:k]] = True
        rows.append(order)
    faith = score_masks(hm, ps, src, torch.stack(rows))
    cpr, cmd = integrals(fractions, faith)
    return Curve(tuple(fractions), tuple(sizes), tuple(faith), cpr, cmd)


def position_curve(
    hm: HookedModel,
    ps: PairSet,
    src: Sources,
    ranking: Sequence[Node],
    fractions: Sequence[float] = FRACTIONS,
) -> Curve:
    """The faithfulness curve of a ranking of positioned nodes (``"L4H3@k"``, best first).

    The universe is every component at every position ``k < T`` (``T`` the longest
    prompt), ``N = n_components * T`` nodes; nodes the ranking does not name (e.g. the
    positions before the last 8 of ``patching-pos``) follow it, latest position first,
    then in component order, so the curve ends at the full circuit (exactly 1).
    """
    n, t_len = len(hm.components), ps.clean.shape[1]
    order: list[tuple[int, int]] = []
    for node, i in zip(ranking, indices(hm, [node.component for node in ranking])):
        if node.position is None:
            raise UsageError(f"{node.name}: a position curve ranks nodes with @<k>")
        if node.position < t_len:
            order.append((i, node.position))
    named = set(order)
    if len(named) != len(order):
        raise UsageError("a position ranking names some node twice")
    order += [(c, k) for k in range(t_len) for c in range(n) if (c, k) not in named]
    sizes = sizes_for(len(order), fractions)
    rows = torch.zeros(len(sizes), n, t_len, dtype=torch.bool)
    at = torch.tensor(order, dtype=torch.long).view(-1, 2)
    for row, size in enumerate(sizes):
        rows[row, at[:size, 0], at[:size, 1]] = True
    faith = score_masks(hm, ps, src, rows)
    cpr, cmd = integrals(fractions, faith)
    return Curve(tuple(fractions), tuple(sizes), tuple(faith), cpr, cmd)
