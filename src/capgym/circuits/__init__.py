"""The interpretability gym: hooks, counterfactual pairs, circuit scores and baselines.

Every capability task with counterfactual pairs becomes a causal challenge: find the
components (attention heads, MLPs) or edges through which a model computes the
answer.  :func:`make_env` gives the environment; :func:`circuits` runs the baselines
over models x tasks and fills the run store's ``components``, ``circuit_scores`` and
``leaderboard`` tables.
"""

from __future__ import annotations

from capgym.circuits.env import Env, make_env
from capgym.circuits.hooks import Component, HookedModel

__all__ = ["Component", "Env", "HookedModel", "make_env"]
