"""story-closing: closing formulas and morals in the second half of a story.

TinyStories end with formulas ("From that day on", "happily ever after", "The end") and
morals ("learned that", "learned a lesson", "The moral of the story is").  Predicting
them needs a sense of where the story is, not just the last few words.

Span: each word of a closing formula that starts in the second half of the story,
outside quotations ("The end" only as the last words).  attrs: ``formula``
(lower-cased), ``index`` (word index within the formula) and ``rel_pos`` (formula start
/ story length).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from capgym.tags.context import TagContext
from capgym.tags.registry import Span, tagger

_CLOSING = re.compile(
    r"\b(?:from (?:that day|that moment|then|that time) on(?:wards?)?"
    r"|(?:and )?(?:they )?(?:all )?lived happily ever after"
    r"|happily ever after"
    r"|learned (?:that|a (?:big |valuable |good |very important |important )?lesson"
    r"|an important lesson|the importance|how important|to)"
    r"|the moral of the story is"
    r"|(?:they )?never forgot"
    r"|(?:were|became) (?:the )?best (?:of )?friends(?: forever)?"
    r"|it was the best day ever)\b"
    r"|\bthe end\b(?=[.!]?\s*\Z)",
    re.IGNORECASE,
)
MIN_REL_POS = 0.5


@tagger("story-closing", doc=__doc__)
def story_closing(text: str, ctx: TagContext) -> Iterable[Span]:
    """Words of closing formulas in the second half of the story.

    >>> text = "Tom lost his ball. He cried and cried. From that day on, he was careful."
    >>> [s.attrs["formula"] for s in story_closing(text, TagContext())][:1]
    ['from that day on']
    """
    doc = ctx.doc(text)
    spans: list[Span] = []
    n = max(len(text), 1)
    for m in _CLOSING.finditer(text):
        rel = m.start() / n
        words = doc.word_range(*m.span())
        if rel < MIN_REL_POS or not words or doc.quote_of[words[0]] >= 0:
            continue
        formula = " ".join(m.group().lower().split())
        spans += doc.word_spans(*m.span(), formula=formula, rel_pos=round(rel, 2))
    return spans
