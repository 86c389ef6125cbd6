"""Optional cleaning filter: drop stories with mojibake or unexpected characters.

>>> from capgym.corpus.load import Corpus
>>> c = Corpus.from_texts("d", ["Tom said hi.", "Itâ€™s fine."])
>>> kept, report = clean(c)
>>> len(kept), report.dropped, report.reasons
(1, 1, {'mojibake': 1})
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from capgym.corpus.load import Corpus

# UTF-8 decoded as cp1252/latin-1: "â€™", "Ã©", ...
_MOJIBAKE = re.compile("â€|Ã[\u0080-\u00bf]|Â[\u0080-\u00bf]|\ufffd")
DEFAULT_ALLOWED = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    " \n\t.,;:!?'\"-()[]&%$#@*/+=<>_~`^|\\{}"
)


@dataclass(frozen=True)
class CleanReport:
    """How many stories a cleaning pass kept and dropped, and why."""

    kept: int
    dropped: int
    reasons: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        why = ", ".join(f"{k}: {v}" for k, v in sorted(self.reasons.items())) or "none"
        return f"kept {self.kept} stories, dropped {self.dropped} ({why})"


def clean(
    corpus: Corpus, drop_mojibake: bool = True, allowed_chars: str | None = None
) -> tuple[Corpus, CleanReport]:
    """Drop stories with mojibake and, if ``allowed_chars`` is given, any other character."""
    allowed = set(allowed_chars) if allowed_chars is not None else None
    ids: list[int] = []
    texts: list[str] = []
    reasons: dict[str, int] = {}
    for i, t in zip(corpus.ids, corpus.texts):
        reason = None
        if drop_mojibake and _MOJIBAKE.search(t):
            reason = "mojibake"
        elif allowed is not None and any(ch not in allowed for ch in t):
            reason = "disallowed characters"
        if reason:
            reasons[reason] = reasons.get(reason, 0) + 1
        else:
            ids.append(i)
            texts.append(t)
    kept = Corpus(corpus.name, ids, texts, corpus.source, dict(corpus.meta))
    return kept, CleanReport(kept=len(ids), dropped=len(corpus) - len(ids), reasons=reasons)
