"""The tables ``capgym explain`` leaves in the run: ``coverage`` and ``residue``.

Later stages (the atlas) read coverage from these tables instead of computing it again,
so every coverage number in capgym comes from :mod:`capgym.explain.coverage`.

* ``coverage``: one row per (model, kind, name), the rows of ``ExplainReport.shares``
  (capabilities, explainers, then the ``any capability`` / ``any explainer`` / ``any`` /
  ``residue`` totals), each with the model's figures repeated: ``corpora``,
  ``threshold``, ``n_scored``, ``n_confident``, ``mass_confident``; ``idx`` keeps the
  report's order.  Each part is stamped with the inputs it was computed from (score
  sets, tags, explains: :func:`inputs_stamp`).
* ``residue``: one row per confident correct position that nothing covers: model,
  corpus, story, pos, p, es/ee (the token's effective span), piece, and the grouping
  dimensions of :mod:`capgym.explain.residue`.

Each ``capgym explain`` replaces the model's part of both tables (so they hold the
latest corpora and threshold it was run with).  :func:`is_current` says whether the
run's inputs changed since.

>>> import tempfile
>>> from capgym.store import open_run
>>> run = open_run(tempfile.mkdtemp())
>>> is_current(run, "m")  # never explained
False
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from capgym.explain.store import explains_key
from capgym.store import RunStore
from capgym.store.schema import COVERAGE, RESIDUE

COVERAGE_VERSION = 1  # bump when the definitions of coverage.py change


def inputs_stamp(run: RunStore, model: str, corpora: list[str]) -> dict[str, object]:
    """What the coverage of ``model`` on ``corpora`` is computed from: its current score
    sets, every ``tags`` part and its ``explains`` parts (every part when the run has none
    named after the model, as in hand-made runs), each part by a digest of its content."""
    sets = run.current_score_sets()
    own = {c: run.version("explains", explains_key(model, c)) for c in sorted(corpora)}
    own = {c: v for c, v in own.items() if v is not None}
    return {
        "version": COVERAGE_VERSION,
        "corpora": sorted(corpora),
        "score_sets": {c: sets.get((model, c)) for c in sorted(corpora)},
        "tags": run.versions("tags"),
        "explains": own or run.versions("explains"),
    }


def is_current(run: RunStore, model: str) -> bool:
    """Whether the stored coverage of ``model`` still matches the run's inputs."""
    stamp = run.stamp("coverage", model)
    if not stamp or not isinstance(stamp.get("corpora"), list):
        return False
    return run.is_fresh("coverage", model, inputs_stamp(run, model, stamp["corpora"]))


def write_tables(
    run: RunStore,
    model: str,
    corpora: list[str],
    threshold: float,
    totals: tuple[int, int, float],
    shares: pd.DataFrame,
    residue: pd.DataFrame,
) -> None:
    """Replace the ``coverage`` and ``residue`` parts of ``model``.

    ``totals`` is (n_scored, n_confident, mass_confident); ``shares`` the frame of
    :func:`capgym.explain.coverage.shares`; ``residue`` the rows of
    :func:`capgym.explain.residue.build_residue`.
    """
    n_scored, n_conf, mass = totals
    cov = shares.assign(
        model=model, corpora=[list(corpora)] * len(shares), threshold=float(threshold),
        n_scored=int(n_scored), n_confident=int(n_conf), mass_confident=float(mass),
        idx=range(len(shares)),
    )  # fmt: skip
    cov["n_exclusive"] = cov["n_exclusive"].astype("Int64")
    run.write_table(
        "coverage", model, _arrow(cov, COVERAGE), stamp=inputs_stamp(run, model, corpora)
    )
    run.write_table("residue", model, _arrow(residue.assign(model=model), RESIDUE))


def _arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
