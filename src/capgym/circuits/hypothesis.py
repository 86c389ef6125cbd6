"""Machine-checkable mechanism hypotheses from task files, checked on a model.

A task file may state its hypothesis in a form a program can test::

    mechanism:
      attention: {from: decision, to: answer, min_mass: 0.3}

``from: decision`` is the position where the answer is predicted; ``to`` is one of

* ``answer``: the earlier tokens spelling the answer (an induction / copying head);
* ``{slot: name}``: the tokens of a template slot's value (e.g. a pronoun's antecedent);
* ``{text: "\\""}``: the tokens covering a piece of text (e.g. the opening quote);
* ``previous-token+1``: the tokens right after earlier occurrences of the current token.

A head *satisfies* the hypothesis when its attention mass from ``from`` to ``to``,
averaged over the valid pairs' clean prompts, is at least ``min_mass``.  The check then
reports how much patching those heads alone recovers: the corrupted prompt is run with
the satisfying heads' outputs taken from the clean prompt, and
``recovery = (m(patched) - m(corrupt)) / (m(clean) - m(corrupt))``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from capgym.circuits.hooks import Component, HookedModel
from capgym.circuits.pairs import PairSet
from capgym.circuits.patching import run_variants, sources
from capgym.circuits.score import faithfulness
from capgym.errors import TaskError
from capgym.tasks.task import Task


@dataclass(frozen=True)
class HypothesisCheck:
    """Per-head attention mass, the heads that satisfy the hypothesis, and their recovery."""

    statement: str
    mass: dict[str, float]
    satisfied: tuple[str, ...]
    recovery: float


def statement(spec: dict[str, Any]) -> str:
    att = spec["attention"]
    return (
        f"attention from {att.get('from', 'decision')} to {att['to']} >= {att.get('min_mass', 0.3)}"
    )


def _targets(hm: HookedModel, ps: PairSet, task: Task, to: Any) -> torch.Tensor:
    """``[P, T]`` booleans: the key positions the hypothesis names, before the decision."""
    meta = {e.id: e.meta for e in task.examples}
    out = torch.zeros(ps.clean.shape, dtype=torch.bool)
    for i, p in enumerate(ps.pairs):
        last = int(ps.length[i]) - 1
        ids = ps.clean[i, : last + 1]
        if to == "previous-token+1":
            hits = (ids[:-1] == ids[last]).nonzero()[:, 0] + 1
            out[i, hits[hits < last]] = True
            continue
        if to == "answer":
            text = p.answer.strip()
        elif isinstance(to, dict) and "slot" in to:
            text = str(meta.get(p.example_id, {}).get(f"slot.{to['slot']}", ""))
        elif isinstance(to, dict) and "text" in to:
            text = str(to["text"])
        else:
            raise TaskError(f"task {task.id}: unknown attention target {to!r}; use answer, "
                            "{slot: ...}, {text: ...} or previous-token+1")  # fmt: skip
        if not text:
            continue
        enc = hm.lm.encode(p.clean)
        start = p.clean.find(text)
        while start >= 0:
            end = start + len(text)
            for j, (s, e) in enumerate(enc.spans[: last + 1]):
                if s < end and e > start and j < last:
                    out[i, j] = True
            start = p.clean.find(text, start + 1)
    return out


def check(hm: HookedModel, ps: PairSet, task: Task, spec: dict[str, Any]) -> HypothesisCheck:
    """Test an ``attention:`` hypothesis on ``hm`` with the pairs ``ps`` (see module doc)."""
    att = spec.get("attention")
    if not isinstance(att, dict) or "to" not in att:
        raise TaskError(f"task {task.id}: mechanism needs attention: {{to: ..., min_mass: ...}}")
    if att.get("from", "decision") != "decision":
        raise TaskError(f"task {task.id}: only 'from: decision' is supported")
    threshold = float(att.get("min_mass", 0.3))
    targets = _targets(hm, ps, task, att["to"])
    n_layers = hm.points.n_layers
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(n_layers)]
    _, cache = hm.run(ps.clean, cache=names)
    rows = torch.arange(ps.n_valid)
    last = ps.length - 1
    mass: dict[str, float] = {}
    for layer in range(n_layers):
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"][rows, :, last]  # [P, H, T]
        per_head = (pattern * targets[:, None, :]).sum(-1).mean(0)
        for head, value in enumerate(per_head.tolist()):
            mass[Component("head", layer, head).name] = value
    satisfied = tuple(n for n, v in sorted(mass.items(), key=lambda kv: -kv[1]) if v >= threshold)
    return HypothesisCheck(statement(spec), mass, satisfied, recovery(hm, ps, satisfied))


def recovery(hm: HookedModel, ps: PairSet, heads: tuple[str, ...]) -> float:
    """Share of the clean-corrupt metric gap restored by patching ``heads`` clean into corrupt."""
    if not heads:
        return 0.0
    flipped = replace(ps, clean=ps.corrupt, corrupt=ps.clean)
    src = sources(hm, flipped, "patch")  # the clean prompts' activations
    n = len(hm.components)
    keep = torch.ones(2, n, dtype=torch.bool)
    wanted = set(heads)
    for j, c in enumerate(hm.components):
        if c.name in wanted:
            keep[1, j] = False
    m_corrupt, m_patched = run_variants(hm, flipped, src, keep).mean(1).tolist()
    m_clean = float(run_variants(hm, ps, src, keep[:1]).mean())
    return faithfulness(m_patched, m_clean, m_corrupt)
