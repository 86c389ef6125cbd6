"""Slot fillers: names by gender, animals, objects, places, colours, ... as records.

A record is a dict with a ``value`` (what ``{slot}`` renders to) and attributes
(``{slot.pron}``).  Lists come from ``fillers.yaml`` beside this file, extended by a
task's own ``fillers:``.  A list ``names`` is the union of ``names.girl`` and
``names.boy``; a list whose records have a ``plural`` also gets ``<list>.plural``.

>>> f = Fillers.default()
>>> rec = f.get("names.girl")[0]
>>> rec["value"], rec["pron"]
('Lily', 'she')
>>> flip_number(f.get("objects")[0])["value"]
'balls'
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from capgym.errors import TaskError

Record = dict[str, str]
FILLERS_FILE = Path(__file__).with_name("fillers.yaml")

_SINGULAR = {"number": "singular", "pron": "it", "obj": "it", "be": "is", "poss": "its"}
_PLURAL = {"number": "plural", "pron": "they", "obj": "them", "be": "are", "poss": "their"}


def _record(raw: Any, attrs: dict[str, Any], where: str) -> Record:
    if isinstance(raw, (str, int, float)):
        rec = {**attrs, "value": str(raw)}
    elif isinstance(raw, dict) and "value" in raw:
        rec = {**attrs, **raw}
    else:
        raise TaskError(f"{where}: a filler must be a string or a mapping with 'value'")
    rec = {k: str(v) for k, v in rec.items()}
    if "plural" in rec:
        rec = {**_SINGULAR, "sing": rec["value"], **rec}
    return rec


def flip_number(rec: Record) -> Record:
    """The record of the other grammatical number (``ball`` <-> ``balls``)."""
    if "plural" not in rec:
        return rec
    base = _PLURAL if rec.get("number", "singular") == "singular" else _SINGULAR
    value = rec["plural"] if base is _PLURAL else rec["sing"]
    return {**rec, **base, "value": value}


class Fillers:
    """Named lists of records; see the module docstring."""

    def __init__(self, lists: dict[str, list[Record]]) -> None:
        self.lists = lists

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], where: str) -> Fillers:
        lists: dict[str, list[Record]] = {}
        for name, spec in raw.items():
            if isinstance(spec, list):
                spec = {"values": spec}
            if not isinstance(spec, dict) or not isinstance(spec.get("values"), list):
                raise TaskError(f"{where}: filler list '{name}' needs a list of values")
            attrs = spec.get("attrs") or {}
            lists[name] = [_record(v, attrs, f"{where}: {name}") for v in spec["values"]]
            if lists[name] and all("plural" in r for r in lists[name]):
                lists[f"{name}.plural"] = [flip_number(r) for r in lists[name]]
        return cls(lists)

    @classmethod
    def default(cls) -> Fillers:
        """The built-in lists (parsed once per process)."""
        return _default()

    def extended(self, raw: dict[str, Any], where: str) -> Fillers:
        """These lists plus (overridden by) a task's own ``fillers:``."""
        return Fillers({**self.lists, **Fillers.from_mapping(raw, where).lists})

    def get(self, name: str) -> list[Record]:
        """Records of list ``name``, or of every list ``name.*`` together."""
        if name in self.lists:
            return self.lists[name]
        out = [r for k, v in sorted(self.lists.items()) if k.startswith(name + ".") for r in v]
        if not out:
            raise TaskError(f"unknown filler list '{name}'; known: {', '.join(self.names())}")
        return [r for r in out if r.get("number", "singular") == "singular" or "plural" not in r]

    def names(self) -> list[str]:
        return sorted(self.lists)


@lru_cache(maxsize=1)
def _default() -> Fillers:
    raw = yaml.safe_load(FILLERS_FILE.read_text(encoding="utf-8"))
    return Fillers.from_mapping(raw, str(FILLERS_FILE))
