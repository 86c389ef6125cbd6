"""Node baselines every challenge starts with: exact activation patching and attribution patching.

Both estimate, per component, the *effect* ``m(clean) - m(clean with the component
replaced by its corrupted activation)`` (mean decision-point logit difference over the
pairs; positive = the component carries the clean answer):

* ``patching``: measured exactly, one variant per component, batched
  (:func:`~capgym.circuits.patching.run_variants`);
* ``attribution``: the first-order estimate ``-(a_corrupt - a_clean) . dm/da`` summed
  over positions and dimensions (Nanda 2023; Syed et al. 2023), from one forward and
  backward on the clean prompts and one forward on the corrupted ones.  On bitllama
  the gradient passes the quantisers as a straight-through estimator.

A :class:`Ranking` lists components by decreasing ``|effect|``.  EAP-IG on edges is in
:mod:`capgym.circuits.edges`.

>>> from capgym.models import load_model
>>> from capgym.tasks import make
>>> from capgym.circuits.pairs import build_pairs
>>> hm = HookedModel(load_model("stories260K"))
>>> ps = build_pairs(hm.lm, make("repeated-name", n=20), limit=4)
>>> r = node_patching(hm, ps)
>>> r.method, len(r.names) == len(hm.components)
('patching', True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from capgym.circuits.hooks import Component, HookedModel
from capgym.circuits.pairs import PairSet, logit_diff
from capgym.circuits.patching import Sources, run_variants, sources


@dataclass(frozen=True)
class Ranking:
    """Items (component or edge names) best first, with their effect estimates."""

    method: str
    level: str  # "node" or "edge"
    names: tuple[str, ...]
    scores: tuple[float, ...]
    seconds: float

    def top(self, k: int) -> list[tuple[str, float]]:
        return list(zip(self.names[:k], self.scores[:k]))

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.names, self.scores))


def _rank(method: str, level: str, names: list[str], scores: torch.Tensor, t0: float) -> Ranking:
    order = scores.abs().argsort(descending=True, stable=True).tolist()
    return Ranking(method, level, tuple(names[i] for i in order),
                   tuple(float(scores[i]) for i in order), time.perf_counter() - t0)  # fmt: skip


def node_patching(hm: HookedModel, ps: PairSet, src: Sources | None = None) -> Ranking:
    """Exact effect of replacing each component alone (from the corrupted run by default)."""
    t0 = time.perf_counter()
    src = src or sources(hm, ps, "patch")
    n = len(hm.components)
    keep = torch.cat([torch.ones(1, n, dtype=torch.bool), ~torch.eye(n, dtype=torch.bool)])
    m = run_variants(hm, ps, src, keep).mean(1)
    return _rank("patching", "node", [c.name for c in hm.components], m[0] - m[1:], t0)


def naive_node_patching(hm: HookedModel, ps: PairSet, src: Sources) -> torch.Tensor:
    """The same effects with one forward per (component, pair): the benchmark's reference."""
    from capgym.circuits.patching import edits_for

    n = len(hm.components)
    clean = logit_diff(hm.run(ps.clean)[0], ps)
    out = torch.empty(n)
    for j in range(n):
        keep = torch.ones(1, n, dtype=torch.bool)
        keep[0, j] = False
        total = 0.0
        for p in range(ps.n_valid):
            rows = torch.tensor([p])
            logits, _ = hm.run(ps.clean[rows], edits=edits_for(hm, src, keep, rows))
            total += float(clean[p] - logit_diff(logits, ps, rows)[0])
        out[j] = total / ps.n_valid
    return out


def _component_dot(hm: HookedModel, delta: dict[str, torch.Tensor],
                   grad: dict[str, torch.Tensor]) -> torch.Tensor:  # fmt: skip
    """Per component: the sum over pairs, positions and dims of delta * grad.

    ``grad`` is the gradient of the *mean* metric, so the sum is a mean over pairs.
    """
    out = []
    for c in hm.components:
        prod = delta[c.hook] * grad[c.hook]
        if c.kind == "head":
            prod = prod[:, :, c.head]
        out.append(prod.sum())
    return torch.stack(out)


def attribution_patching(hm: HookedModel, ps: PairSet) -> Ranking:
    """Gradient x activation-difference estimate of every component's effect."""
    t0 = time.perf_counter()
    hooks = sorted({c.hook for c in hm.components})
    logits, clean = hm.run(ps.clean, cache=hooks, grad=True)
    m = logit_diff(logits, ps).mean()
    grads = dict(zip(hooks, torch.autograd.grad(m, [clean[h] for h in hooks])))
    _, corrupt = hm.run(ps.corrupt, cache=hooks)
    delta = {h: corrupt[h] - clean[h].detach() for h in hooks}
    # the estimated change of m when patched is delta . grad; the effect is its negative
    effect = -_component_dot(hm, delta, grads)
    return _rank("attribution", "node", [c.name for c in hm.components], effect.detach(), t0)


def head_auroc(ranking: Ranking, positives: set[str]) -> float:
    """AUROC of a ranking's order at telling ``positives`` from the other heads.

    Only heads (``L<l>H<h>``) count; the probability that a random positive head is
    ranked above a random other head (ties impossible: a ranking is an order).
    """
    heads = [n for n in ranking.names if Component.parse(n).kind == "head"]
    pos_ranks = [i for i, n in enumerate(heads) if n in positives]
    n_pos, n_neg = len(pos_ranks), len(heads) - len(pos_ranks)
    if not n_pos or not n_neg:
        return float("nan")
    # each positive beats the negatives ranked after it
    wins = sum(n_neg - (i - k) for k, i in enumerate(pos_ranks))
    return wins / (n_pos * n_neg)
