"""The gym environment: one (task, model) causal challenge with its pairs, metric and scorer.

>>> import capgym
>>> env = capgym.make("repeated-name", model="stories260K", n_pairs=16)
>>> env.pairs.n_valid, env.components[1].name
(16, 'L0H0')
>>> round(env.score([c.name for c in env.components]), 6), env.score([])
(1.0, 0.0)
>>> every_position = range(env.pairs.clean.shape[1])  # "@k": k tokens before the decision
>>> env.score([f"{c.name}@{k}" for c in env.components for k in every_position])
1.0
>>> sorted(env.baselines(["patching"]))
['patching']
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import torch

from capgym.circuits.baselines import Ranking, _rank, attribution_patching, node_patching
from capgym.circuits.edges import (
    Edge,
    eap_ig,
    edge_curve,
    edge_indices,
    edges_of,
    run_edge_variants,
)
from capgym.circuits.hooks import Component, Edit, HookedModel, Node
from capgym.circuits.hypothesis import HypothesisCheck, check
from capgym.circuits.pairs import PairSet, build_pairs, logit_diff
from capgym.circuits.patching import Sources, position_effects, sources
from capgym.circuits.score import (
    Curve,
    curve,
    faithfulness_rows,
    position_curve,
    score_circuit,
)
from capgym.errors import UsageError
from capgym.models.base import LanguageModel
from capgym.tasks.task import Task

METHODS = ("patching", "attribution", "eap-ig")
# rankings of (component, position) nodes: on request only (not run by `capgym circuits`)
POSITION_METHODS = ("patching-pos",)
POSITIONS = 8  # patching-pos ranks each component at the last POSITIONS tokens
DEFAULT_PAIRS = 200


def check_methods(methods: Sequence[str]) -> None:
    """A one-line usage error for the first name in ``methods`` not in :data:`METHODS`."""
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise UsageError(f"unknown method {bad[0]!r}; choose from {', '.join(METHODS)}")


class Env:
    """A task's counterfactual pairs on one model, with interventions and scoring."""

    def __init__(self, task: Task, model: LanguageModel, n_pairs: int | None = DEFAULT_PAIRS,
                 pairs: PairSet | None = None) -> None:  # fmt: skip
        self.task = task
        self.model = model
        self.hooked = HookedModel(model)
        self.pairs = pairs if pairs is not None else build_pairs(model, task, limit=n_pairs)
        self._sources: dict[str, Sources] = {}

    @property
    def examples(self) -> list[Any]:
        return self.task.examples

    @property
    def components(self) -> list[Component]:
        return self.hooked.components

    @cached_property
    def edges(self) -> list[Edge]:
        return edges_of(self.hooked)

    def metric(self, logits: torch.Tensor) -> torch.Tensor:
        """Decision-point logit difference of each pair from logits ``[P, T, vocab]``."""
        return logit_diff(logits, self.pairs)

    def run(self, edits: dict[str, Edit] | None = None, on: str = "clean") -> torch.Tensor:
        """The metric per pair with ``edits`` (hook name -> function) on the clean or corrupted prompts."""
        if on not in ("clean", "corrupt"):
            raise UsageError(f"on must be 'clean' or 'corrupt', not {on!r}")
        ids = self.pairs.clean if on == "clean" else self.pairs.corrupt
        return self.metric(self.hooked.run(ids, edits=edits)[0])

    @cached_property
    def m_clean(self) -> float:
        """Mean metric of the unedited model on the clean prompts (computed once)."""
        return float(self.run().mean())

    @cached_property
    def m_corrupt(self) -> float:
        """Mean metric of the unedited model on the corrupted prompts (computed once)."""
        return float(self.run(on="corrupt").mean())

    def sources(self, mode: str = "patch") -> Sources:
        if mode not in self._sources:
            self._sources[mode] = sources(self.hooked, self.pairs, mode)
        return self._sources[mode]

    def score(self, circuit: Sequence[str | Component | Node], mode: str = "patch") -> float:
        """Faithfulness of a node circuit or an edge circuit ("u->v" names).

        Nodes are component names, optionally at one position: ``"L4H3@0"`` keeps head
        L4H3 clean only at the decision token, ``"L4H3@2"`` two tokens before it (see
        :mod:`capgym.circuits.score`).
        """
        names = [c if isinstance(c, str) else c.name for c in circuit]
        if any("->" in n for n in names):
            if mode != "patch":
                raise UsageError("edge circuits are scored with mode='patch' only")
            return self._score_edges(names)
        return score_circuit(self.hooked, self.pairs, self.sources(mode), names)

    def position_effects(self, last: int = POSITIONS, mode: str = "patch") -> dict[str, float]:
        """Effect of replacing each component at each of the ``last`` final tokens alone.

        Keys are nodes ``"L4H3@k"`` (k tokens before the decision token); the value is
        m(clean) - m(with that one node replaced), the mean over pairs
        (:func:`~capgym.circuits.patching.position_effects`).
        """
        effects = position_effects(self.hooked, self.pairs, self.sources(mode), last)
        return {f"{c.name}@{k}": float(effects[i, k])
                for i, c in enumerate(self.components) for k in range(effects.shape[1])}  # fmt: skip

    def _score_edges(self, names: list[str]) -> float:
        keep = torch.zeros(1, len(self.edges), dtype=torch.bool)
        keep[0, edge_indices(self.edges, names)] = True
        hm, ps, edges = self.hooked, self.pairs, self.edges
        return faithfulness_rows(lambda k: run_edge_variants(hm, ps, k, edges), keep)[0]

    def baselines(self, methods: Sequence[str] = METHODS) -> dict[str, Ranking]:
        """Rankings of the built-in methods (node patching, attribution patching, EAP-IG).

        ``"patching-pos"`` (on request) ranks nodes ``"L4H3@k"``: each component at each
        of the last :data:`POSITIONS` tokens, patched alone.
        """
        runners = {"patching": lambda: node_patching(self.hooked, self.pairs, self.sources()),
                   "attribution": lambda: attribution_patching(self.hooked, self.pairs),
                   "eap-ig": lambda: eap_ig(self.hooked, self.pairs),
                   "patching-pos": self._position_ranking}  # fmt: skip
        check_methods([m for m in methods if m not in POSITION_METHODS])
        return {m: runners[m]() for m in methods}

    def _position_ranking(self) -> Ranking:
        t0 = time.perf_counter()
        effects = self.position_effects()
        return _rank(
            "patching-pos", "node", list(effects), torch.tensor(list(effects.values())), t0
        )

    def curve(self, ranking: Ranking, mode: str = "patch") -> Curve:
        """Faithfulness curve of a node, positioned-node or edge ranking.

        A positioned-node ranking (``patching-pos``) is scored over every component at
        every position (:func:`~capgym.circuits.score.position_curve`).
        """
        if ranking.level == "edge":
            return edge_curve(self.hooked, self.pairs, ranking)
        if any("@" in n for n in ranking.names):
            nodes = [Node.parse(n) for n in ranking.names]
            return position_curve(self.hooked, self.pairs, self.sources(mode), nodes)
        comps = [Component.parse(n) for n in ranking.names]
        return curve(self.hooked, self.pairs, self.sources(mode), comps)

    def check_hypothesis(self) -> HypothesisCheck | None:
        """The task file's ``mechanism:`` hypothesis checked on this model (None if absent)."""
        from capgym.tasks.schema import read_task_file

        if self.task.path is None:
            return None
        spec = read_task_file(self.task.path)[0].get("mechanism")
        return check(self.hooked, self.pairs, self.task, spec) if spec else None


def make_env(task: str | Task, model: str | LanguageModel, n_pairs: int | None = DEFAULT_PAIRS,
             **task_kw: Any) -> Env:  # fmt: skip
    """The environment of ``task`` on ``model`` (names or loaded objects)."""
    from capgym.models import load_model
    from capgym.tasks import make as make_task

    t = task if isinstance(task, Task) else make_task(task, **task_kw)
    lm = model if isinstance(model, LanguageModel) else load_model(model)
    return Env(t, lm, n_pairs=n_pairs)


def make(task: str | Any, *, model: str | LanguageModel | None = None, n_pairs: int | None = DEFAULT_PAIRS,
         **kw: Any) -> Any:  # fmt: skip
    """``capgym.make``: a :class:`~capgym.tasks.Task`, or with ``model=`` its :class:`Env`."""
    from capgym.tasks import make as make_task

    if model is None:
        return make_task(task, **kw)
    return make_env(task, model, n_pairs=n_pairs, **kw)
