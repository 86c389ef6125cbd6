"""Trivial baselines of a task: how far a heuristic that reads no model gets.

Each heuristic picks, among an example's candidates (the answer and its wrong answers,
each reduced to its first word), the one that

* ``recency``: occurs last in the prompt (the most recent name);
* ``frequency``: occurs most often in the prompt (the most frequent earlier name);
* ``unigram``: is most frequent in the reference corpus (:data:`REFERENCE_CORPUS`,
  when it can be loaded; else NaN).

Words match whole and case-insensitively.  A tie is broken at random, so an example
scores the heuristic's *expected* accuracy: 1 / (number tied) when the answer is among
the tied candidates, else 0 (no candidate in the prompt: all tie, the chance level).
A task whose best heuristic reaches :data:`SOLVES` is flagged: its headline score may
measure the heuristic rather than the capability.

>>> from capgym.tasks.example import Example
>>> ex = Example("e", "Tom met Sue. Sue waved at", " Tom", (" Sue",))
>>> recency(ex), frequency(ex)
(0.0, 0.0)
>>> recency_label(ex)
'wrong'
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from capgym.tasks.example import Example

REFERENCE_CORPUS = "tinystories-validation-0-999"
SOLVES = 0.8  # a heuristic at or above this share "solves" the task
_WORD = re.compile(r"[A-Za-z']+")


def _first_word(text: str) -> str | None:
    m = _WORD.search(text)
    return m.group().lower() if m else None


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _pick(ex: Example, score: dict[str, float]) -> float:
    """Expected accuracy of picking the best-``score`` candidate, ties at random (NaN
    when a candidate has no word: punctuation answers are not a heuristic's choice)."""
    cands = [_first_word(c) for c in (ex.answer, *ex.wrong)]
    if any(c is None for c in cands):
        return math.nan
    values = [score.get(c, -1.0) for c in cands]  # type: ignore[arg-type]
    best = max(values)
    tied = [i for i, v in enumerate(values) if v == best]
    return 1.0 / len(tied) if 0 in tied else 0.0


def recency(ex: Example) -> float:
    """Expected accuracy of "the candidate that occurs last in the prompt"."""
    return _pick(ex, {w: float(i) for i, w in enumerate(_words(ex.prompt))})


def frequency(ex: Example) -> float:
    """Expected accuracy of "the candidate that occurs most often in the prompt"."""
    return _pick(ex, {w: float(n) for w, n in Counter(_words(ex.prompt)).items()})


def unigram(ex: Example, counts: Counter[str] | None) -> float:
    """Expected accuracy of "the candidate most frequent in the reference corpus"."""
    if counts is None:
        return math.nan
    cands = [c for c in map(_first_word, (ex.answer, *ex.wrong)) if c is not None]
    return _pick(ex, {c: float(counts.get(c, 0)) for c in cands})


def recency_label(ex: Example) -> str:
    """Which candidate is the most recent in the prompt: ``answer``, ``wrong``, or
    ``none`` (no candidate occurs in the prompt, or the example has no wrong answer)."""
    if not ex.wrong:
        return "none"
    last = {w: i for i, w in enumerate(_words(ex.prompt))}
    cands = [_first_word(c) for c in (ex.answer, *ex.wrong)]
    if any(c is None for c in cands):
        return "none"
    pos = [last.get(c, -1) for c in cands]  # type: ignore[arg-type]
    if max(pos) < 0:
        return "none"
    return "answer" if pos.index(max(pos)) == 0 else "wrong"


@lru_cache(maxsize=4)
def unigram_counts(corpus: str = REFERENCE_CORPUS) -> Counter[str] | None:
    """Word counts of ``corpus`` (lower-cased), or None when it cannot be loaded."""
    try:
        from capgym.corpus import load_corpus

        texts: Iterable[str] = load_corpus(corpus).to_frame()["text"]
    except Exception:  # noqa: BLE001  (no assets: the unigram baseline is NaN)
        return None
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(_words(t))
    return counts


def _mean(xs: list[float]) -> float:
    v = [x for x in xs if not math.isnan(x)]
    return sum(v) / len(v) if v else math.nan


def baselines(examples: list[Example], counts: Counter[str] | None = None) -> dict[str, float]:
    """Mean expected accuracy of each heuristic over ``examples`` that have wrong answers
    (those whose candidates are words), the best one and whether it solves the task
    (``solved_by_heuristic``, 1.0 or 0.0; NaN when no heuristic applies)."""
    exs = [e for e in examples if e.wrong]
    out = {
        "baseline_recency": _mean([recency(e) for e in exs]),
        "baseline_frequency": _mean([frequency(e) for e in exs]),
        "baseline_unigram": _mean([unigram(e, counts) for e in exs]),
    }
    known = [v for v in out.values() if not math.isnan(v)]
    out["baseline_best"] = max(known) if known else math.nan
    out["solved_by_heuristic"] = float(max(known) >= SOLVES) if known else math.nan
    return out
