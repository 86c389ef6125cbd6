"""Synthetic examples from templates with slots, sampled reproducibly with a seed.

A template's ``prompt``, ``answer`` and ``wrong`` hold placeholders: ``{name}`` is the
slot's value, ``{name.pron}`` one of its attributes, and a capitalised spelling
(``{Name}``, ``{name.Pron}``) capitalises the result; ``{{``/``}}`` are literal braces.
All slots of one example take different values, none a prefix of another (``Tim`` and
``Timmy`` would leave a contrast with no token where the candidates differ).  ``symmetric: [a, b]`` emits each
sample twice, the second time with ``a`` and ``b`` exchanged (as in IOI datasets).

>>> import random
>>> from capgym.tasks.fillers import Fillers
>>> slots = parse_slots({"name": "names.girl"}, "demo")
>>> t = Template("t", "{Name} lost {name.poss} hat.", " {name.Pron}", (), slots)
>>> ex, _ = expand("demo", [t], Fillers.default(), 1, random.Random(0))[0]
>>> ex.prompt, ex.answer
('Molly lost her hat.', ' She')
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from capgym.errors import TaskError
from capgym.tasks.example import Example
from capgym.tasks.fillers import Fillers, Record

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?\}")
_META_ATTRS = ("gender", "number")


@dataclass(frozen=True)
class Slot:
    """Where a slot's values come from and how they relate to other slots."""

    name: str
    source: str | tuple[Any, ...]
    same: dict[str, str] = field(default_factory=dict)  # attribute -> other slot
    differ: dict[str, str] = field(default_factory=dict)

    def deps(self) -> set[str]:
        return set(self.same.values()) | set(self.differ.values())


def parse_slots(raw: dict[str, Any], where: str) -> dict[str, Slot]:
    """Slots from the ``slots:`` mapping of a task file (already schema-checked)."""
    out = {}
    for name, spec in raw.items():
        if isinstance(spec, str):
            out[name] = Slot(name, spec)
        elif isinstance(spec, list):
            out[name] = Slot(name, tuple(spec))
        else:
            src = spec["from"]
            src = tuple(src) if isinstance(src, list) else src
            out[name] = Slot(name, src, dict(spec.get("same", {})), dict(spec.get("differ", {})))
    for s in out.values():
        missing = s.deps() - set(out)
        if missing:
            raise TaskError(f"{where}: slot '{s.name}' refers to unknown slot '{min(missing)}'")
    return out


@dataclass(frozen=True)
class Template:
    """One template; ``slots`` holds the task's slots merged with the template's own."""

    id: str
    prompt: str
    answer: str
    wrong: tuple[str, ...]
    slots: dict[str, Slot]
    symmetric: tuple[str, str] | None = None
    weight: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)

    def texts(self) -> list[str]:
        return [self.prompt, self.answer, *self.wrong]

    def used(self) -> list[str]:
        """Slots the template needs (placeholders and their constraints), dependencies first."""
        names: list[str] = []
        for text in self.texts():
            for m in _PLACEHOLDER.finditer(text):
                if m.group(1):
                    names.append(self._slot_name(m.group(1)))
        order: list[str] = []

        def visit(n: str) -> None:
            if n not in order:
                for d in sorted(self.slots[n].deps()):
                    visit(d)
                order.append(n)

        for n in names:
            visit(n)
        return order

    def _slot_name(self, key: str) -> str:
        if key in self.slots:
            return key
        low = key[0].lower() + key[1:]
        if key[0].isupper() and low in self.slots:
            return low
        raise TaskError(f"template '{self.id}': unknown slot '{{{key}}}'; declare it under slots")

    def render(self, values: dict[str, Record]) -> tuple[str, str, tuple[str, ...]]:
        """(prompt, answer, wrong answers) with the placeholders filled in."""

        def sub(m: re.Match[str]) -> str:
            if m.group(0) in ("{{", "}}"):
                return m.group(0)[0]
            key, attr = m.group(1), m.group(2)
            slot = self._slot_name(key)
            if slot not in values:
                raise TaskError(f"template '{self.id}': slot '{slot}' is used inside a slot "
                                "value but not in the template itself")  # fmt: skip
            rec = values[slot]
            if attr is None:
                val = rec["value"]
            else:
                low = attr[0].lower() + attr[1:]
                if attr in rec:
                    val = rec[attr]
                elif attr[0].isupper() and low in rec:
                    val = _cap(rec[low])
                else:
                    raise TaskError(f"template '{self.id}': slot value '{rec['value']}' has no "
                                    f"attribute '{attr}'")  # fmt: skip
            return _cap(val) if key[0].isupper() and key not in self.slots else val

        out = []
        for text in self.texts():
            for _ in range(3):  # slot values may hold placeholders of other slots
                text = _PLACEHOLDER.sub(sub, text)
                if "{" not in text:
                    break
            out.append(text)
        return out[0], out[1], tuple(out[2:])


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _candidates(slot: Slot, fillers: Fillers) -> list[Record]:
    if isinstance(slot.source, tuple):
        return [{"value": str(v)} if not isinstance(v, dict) else
                {k: str(x) for k, x in v.items()} for v in slot.source]  # fmt: skip
    return fillers.get(slot.source)


def clashes(value: str, taken: set[str]) -> bool:
    """Whether ``value`` equals, or is a prefix of or extends, a taken value.

    >>> clashes("Timmy", {"Tim"}), clashes("Tom", {"Tim"})
    (True, False)
    """
    return any(value.startswith(t) or t.startswith(value) for t in taken)


def sample_values(t: Template, fillers: Fillers, rng: random.Random) -> dict[str, Record]:
    """One assignment of records to the template's slots (all values distinct, none a
    prefix of another)."""
    values: dict[str, Record] = {}
    for name in t.used():
        slot = t.slots[name]
        taken = {v["value"] for v in values.values()}
        pool = [
            r
            for r in _candidates(slot, fillers)
            if not clashes(r["value"], taken)
            and all(r.get(a) == values[o].get(a) for a, o in slot.same.items())
            and all(r.get(a) != values[o].get(a) for a, o in slot.differ.items())
        ]
        if not pool:
            raise TaskError(f"template '{t.id}': no value of slot '{name}' fits its constraints")
        values[name] = rng.choice(pool)
    return values


def slot_meta(values: dict[str, Record]) -> dict[str, str]:
    """``slot.<name>`` = value (plus its gender/number) for the uniformity analysis."""
    meta = {}
    for name, rec in values.items():
        meta[f"slot.{name}"] = rec["value"]
        for a in _META_ATTRS:
            if a in rec:
                meta[f"slot.{name}.{a}"] = rec[a]
    return meta


def make_example(
    task_id: str, t: Template, values: dict[str, Record], ex_id: str, extra: dict[str, Any]
) -> Example:
    """Render one example and check its answers; raises :class:`TaskError`."""
    try:
        prompt, answer, wrong = t.render(values)
    except TaskError as e:
        raise TaskError(f"task {task_id} example {ex_id}: {e}") from None
    if not answer.strip():
        raise TaskError(f"task {task_id} example {ex_id}: template '{t.id}' gives an empty answer")
    if answer in wrong or any(not w.strip() for w in wrong):
        raise TaskError(
            f"task {task_id} example {ex_id}: template '{t.id}' gives a wrong answer that is "
            f"empty or equal to the answer {answer!r}"
        )
    meta = {"source": "template", "template": t.id, **t.meta, **slot_meta(values), **extra}
    return Example(ex_id, prompt, answer, wrong, meta)


def _quota(templates: list[Template], n: int) -> list[int]:
    total = sum(t.weight for t in templates)
    raw = [n * t.weight / total for t in templates]
    q = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: q[i] - raw[i])[: n - sum(q)]:
        q[i] += 1
    return q


def _fill(
    task_id: str,
    t: Template,
    fillers: Fillers,
    rng: random.Random,
    quota: int,
    seen: set[tuple[str, str]],
    start: int,
) -> list[tuple[Example, dict[str, Record]]]:
    """Up to ``quota`` new distinct examples of one template (numbered from ``start``)."""
    out: list[tuple[Example, dict[str, Record]]] = []
    k, tries, goal = start, 0, len(seen) + quota
    while len(seen) < goal and tries < 20 * quota + 20:
        tries += 1
        try:
            values = sample_values(t, fillers, rng)
        except TaskError as e:
            raise TaskError(f"task {task_id}: {e}") from None
        variants = [("", values)]
        if t.symmetric:
            a, b = t.symmetric
            variants = [("a", values), ("b", {**values, a: values[b], b: values[a]})]
        exs = [
            make_example(task_id, t, v, f"{t.id}-{k:04d}{sfx}",
                         {"pair": f"{t.id}-{k:04d}", "order": sfx} if sfx else {})
            for sfx, v in variants
        ]  # fmt: skip
        keys = [(e.prompt, e.answer) for e in exs]
        if any(key in seen for key in keys):
            continue
        seen.update(keys)
        out.extend(zip(exs, [v for _, v in variants]))
        k += 1
    return out


def expand(
    task_id: str, templates: list[Template], fillers: Fillers, n: int, rng: random.Random
) -> list[tuple[Example, dict[str, Record]]]:
    """About ``n`` distinct examples spread over the templates by weight, with their values.

    A template that runs out of distinct fillings leaves its share to the others.
    """
    by_t: list[list[tuple[Example, dict[str, Record]]]] = [[] for _ in templates]
    seen: list[set[tuple[str, str]]] = [set() for _ in templates]
    open_ = list(range(len(templates)))
    missing = n
    for _ in range(3):
        if missing <= 0 or not open_:
            break
        quotas = _quota([templates[i] for i in open_], missing)
        still = []
        for i, quota in zip(open_, quotas):
            new = _fill(task_id, templates[i], fillers, rng, quota, seen[i], len(by_t[i]))
            by_t[i] += new
            if len(new) >= quota:
                still.append(i)
        open_ = still
        missing = n - sum(len(s) for s in seen)
    return [item for items in by_t for item in items]
