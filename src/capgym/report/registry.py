"""Definitions and hypotheses of capabilities, from the run or from the registries.

Looked up in order: a ``capabilities(capability, definition, hypothesis)`` table in the
run; the tagger registry (its documentation is the definition); the gym's task files
(description and hypothesis).  Missing registries are fine: the card says so.

>>> describe_one("no-such-capability", {}).definition
''
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from capgym.errors import CapgymError
from capgym.report.frame import Frame


@dataclass(frozen=True)
class CapabilityInfo:
    """What the report says about a capability besides its numbers."""

    name: str
    definition: str = ""
    hypothesis: str = ""
    tasks: tuple[str, ...] = ()
    source: str = ""


def _from_run(f: Frame) -> dict[str, CapabilityInfo]:
    if not f.has("capabilities"):
        return {}
    cols = set(f.columns("capabilities"))
    if "capability" not in cols:
        return {}
    sel = ", ".join(c if c in cols else f"NULL AS {c}" for c in ("definition", "hypothesis"))
    df = f.df(f"SELECT capability, {sel} FROM capabilities")
    return {
        str(r.capability): CapabilityInfo(
            str(r.capability), str(r.definition or ""), str(r.hypothesis or ""), source="run"
        )
        for r in df.itertuples()
    }


def _tagger_doc(name: str) -> str:
    from capgym.tags import get_tagger

    try:
        return get_tagger(name).doc
    except (CapgymError, KeyError):
        return ""


def _task_infos() -> dict[str, list[dict[str, str]]]:
    """capability -> [{id, description, hypothesis}] from the gym's task files."""
    from capgym.tasks.registry import list_tasks

    try:
        tasks = list_tasks()
    except CapgymError:
        return {}
    out: dict[str, list[dict[str, str]]] = {}
    for r in tasks.itertuples():
        try:
            head = yaml.safe_load(Path(str(r.path)).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            head = {}
        hyp = " ".join(str(head.get("hypothesis", "")).split()) if isinstance(head, dict) else ""
        out.setdefault(str(r.capability), []).append(
            {"id": str(r.id), "description": str(r.description), "hypothesis": hyp}
        )
    return out


def describe_one(
    name: str, tasks: dict[str, list[dict[str, str]]], base: CapabilityInfo | None = None
) -> CapabilityInfo:
    """Fill the blanks of ``base`` from the tagger and task registries."""
    info = base or CapabilityInfo(name)
    ts = tasks.get(name, [])
    definition = (
        info.definition
        or _tagger_doc(name)
        or next((t["description"] for t in ts if t["description"]), "")
    )
    hypothesis = info.hypothesis or next((t["hypothesis"] for t in ts if t["hypothesis"]), "")
    source = info.source or ("registry" if definition or hypothesis else "")
    return replace(
        info,
        definition=definition,
        hypothesis=hypothesis,
        tasks=tuple(t["id"] for t in ts),
        source=source,
    )


def describe(f: Frame, names: list[str]) -> dict[str, CapabilityInfo]:
    """Information on each capability in ``names``."""
    run_infos = _from_run(f)
    tasks = _task_infos()
    return {n: describe_one(n, tasks, run_infos.get(n)) for n in names}
