"""The tables ``capgym explain`` leaves in the run: ``coverage`` and ``residue``.

Later stages (the atlas) read coverage from these tables instead of computing it again,
so every coverage number in capgym comes from :mod:`capgym.explain.coverage`.

* ``coverage``: one row per (model, kind, name), the rows of ``ExplainReport.shares``
  (capabilities, explainers, then the ``any capability`` / ``any explainer`` / ``any`` /
  ``residue`` totals), each with the model's figures repeated: ``corpora``,
  ``threshold``, ``n_scored``, ``n_confident``, ``mass_confident``; ``idx`` keeps the
  report's order and ``stamp`` digests the inputs (score sets, tags, explains).
* ``residue``: one row per confident correct position that nothing covers: model,
  corpus, story, pos, p, es/ee (the token's effective span), piece, and the grouping
  dimensions of :mod:`capgym.explain.residue`.

Each ``capgym explain`` replaces the model's part of both tables (so they hold the
latest corpora and threshold it was run with).  :func:`is_current` says whether the
run's inputs changed since.

>>> import tempfile
>>> from capgym.store import open_run
>>> run = open_run(tempfile.mkdtemp())
>>> is_current(run, "m", ["c"], inputs_stamp(run, "m", ["c"]))
True
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa

from capgym.explain.store import explains_path
from capgym.store import RunStore

COVERAGE_VERSION = 1  # bump when the definitions of coverage.py change
COVERAGE = pa.schema(
    [
        ("model", pa.string()),
        ("corpora", pa.list_(pa.string())),
        ("threshold", pa.float64()),
        ("n_scored", pa.int64()),
        ("n_confident", pa.int64()),
        ("mass_confident", pa.float64()),
        ("idx", pa.int32()),
        ("kind", pa.string()),  # capability, explainer or total
        ("name", pa.string()),
        ("n", pa.int64()),
        ("share", pa.float64()),
        ("mass", pa.float64()),
        ("share_mass", pa.float64()),
        ("n_exclusive", pa.int64()),  # null on total rows
        ("stamp", pa.string()),
    ]
)
RESIDUE = pa.schema(
    [
        ("model", pa.string()),
        ("corpus", pa.string()),
        ("story", pa.int64()),
        ("pos", pa.int32()),
        ("p", pa.float64()),
        ("es", pa.int64()),
        ("ee", pa.int64()),
        ("piece", pa.string()),
        ("word", pa.string()),
        ("prev-word", pa.string()),
        ("prev-2-words", pa.string()),
        ("word-class", pa.string()),
        ("position", pa.string()),
    ]
)
_TAIL = 1 << 16  # bytes of each Parquet file digested: its footer (sizes, statistics)


def _digest(path: Path) -> str:
    """A cheap content digest of a Parquet file: its size and its last bytes (the footer
    with every column chunk's size and statistics), stable when a run folder is copied."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - _TAIL))
        tail = fh.read()
    return f"{size}:{hashlib.sha256(tail).hexdigest()[:16]}"


def inputs_stamp(run: RunStore, model: str, corpora: list[str]) -> str:
    """Digest of what the coverage of ``model`` on ``corpora`` is computed from: its
    current score sets, every ``tags`` part and its ``explains`` parts (every part when
    the run has none named after the model, as in hand-made runs)."""
    sets = run.current_score_sets()
    h = hashlib.sha256(f"v{COVERAGE_VERSION}\n".encode())
    h.update(json.dumps({c: sets.get((model, c)) for c in sorted(corpora)}).encode())
    own = [p for p in (explains_path(run, model, c) for c in corpora) if p.exists()]
    for p in [*run.table_parts("tags"), *(own or run.table_parts("explains"))]:
        h.update(f"\n{p.parent.name}/{p.name}:{_digest(p)}".encode())
    return h.hexdigest()[:16]


def is_current(run: RunStore, model: str, corpora: list[str], stamp: str) -> bool:
    """Whether coverage stored with ``stamp`` still matches the run's inputs."""
    return inputs_stamp(run, model, list(corpora)) == stamp


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
        idx=range(len(shares)), stamp=inputs_stamp(run, model, corpora),
    )  # fmt: skip
    cov["n_exclusive"] = cov["n_exclusive"].astype("Int64")
    run.put_table("coverage", model, _arrow(cov, COVERAGE))
    run.put_table("residue", model, _arrow(residue.assign(model=model), RESIDUE))


def _arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
