"""The unit of a task: a prompt, the correct answer, wrong answers and metadata.

Answers are strings; they become token ids only when a task is built for a model
(:mod:`capgym.tasks.build`).  ``meta`` is flat JSON (strings, numbers, booleans) so
that every field can be a slice in the uniformity analysis.

>>> ex = Example("t-0", "Lily saw Tom. She waved at", " Tom", (" Lily",), {"template": "t"})
>>> ex.with_meta(perturbation="none").meta["perturbation"]
'none'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

Meta = dict[str, Any]

_WORD = re.compile(r"[A-Za-z0-9']+")


@dataclass(frozen=True)
class Example:
    """One (prompt, answer, wrong answers) item of a task."""

    id: str
    prompt: str
    answer: str
    wrong: tuple[str, ...] = ()
    meta: Meta = field(default_factory=dict)

    def with_meta(self, **kw: Any) -> Example:
        return replace(self, meta={**self.meta, **kw})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the plain jsonl export and the task hash use it)."""
        return {
            "id": self.id,
            "prompt": self.prompt,
            "answer": self.answer,
            "wrong": list(self.wrong),
            "meta": self.meta,
        }


def distance_words(prompt: str, answer: str) -> int | None:
    """Words between the last earlier occurrence of the answer's word and the prompt end.

    ``None`` when the answer does not occur in the prompt (nothing to copy from).

    >>> distance_words("Tom had a hat. Then", " Tom")
    4
    >>> distance_words("Tom had a hat.", " cat") is None
    True
    """
    target = answer.strip().strip(".,!?\"'").lower()
    if not target:
        return None
    words = [w.lower() for w in _WORD.findall(prompt)]
    for i in range(len(words) - 1, -1, -1):
        if words[i] == target:
            return len(words) - 1 - i
    return None


def distance_bucket(d: int | None) -> str:
    """Coarse distance classes used for slicing.

    >>> distance_bucket(3), distance_bucket(40), distance_bucket(None)
    ('0-9', '30-99', 'absent')
    """
    if d is None:
        return "absent"
    for hi, label in ((10, "0-9"), (30, "10-29"), (100, "30-99")):
        if d < hi:
            return label
    return "100+"


def with_distance(ex: Example) -> Example:
    """Add ``distance_words`` and ``distance_bucket`` to the metadata."""
    d = distance_words(ex.prompt, ex.answer)
    return ex.with_meta(distance_words=d, distance_bucket=distance_bucket(d))
