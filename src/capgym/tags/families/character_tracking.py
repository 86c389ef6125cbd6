"""character-tracking: choosing which character acts or speaks next.

With two characters on stage, the next sentence's subject or speaker is often the other
one ("Tom asked ... Sue said ..."), and "X and Y" pairs come back together.  Predicting
the right name needs a model of who is present and whose turn it is.

Span: a character mention (see repeated-name) that was mentioned before and is either
(a) ``turn``: the subject of a narrative sentence (its first word, outside quotations)
or a speaker tag next to a speech verb after a quotation, when the previous such
subject was a different character; or (b) ``pair``: the second member of "X and Y"
where X is another character.  attrs: ``move``, ``name``, ``other`` (the previous
subject or the partner), ``n_characters`` (distinct characters mentioned so far).
"""

from __future__ import annotations

from collections.abc import Iterable

from capgym.tags.context import TagContext
from capgym.tags.doc import Doc, Mention
from capgym.tags.registry import Span, tagger
from capgym.tags.words import SPEECH_VERBS


@tagger("character-tracking", doc=__doc__)
def character_tracking(text: str, ctx: TagContext) -> Iterable[Span]:
    """Turn-taking subjects and second members of character pairs.

    >>> text = "Tom and Sue played. Tom fell. Sue helped him. Then Tom and Sue ran."
    >>> [(s.attrs["name"], s.attrs["move"]) for s in character_tracking(text, TagContext())]
    [('Sue', 'turn'), ('Sue', 'pair')]
    """
    doc = ctx.doc(text)
    by_last = {m.last: m for m in doc.mentions}
    seen: set[str] = set()
    last_subject: str | None = None
    spans = []
    for m in doc.mentions:
        pair = (
            by_last.get(m.first - 2) if m.first >= 2 and doc.lower[m.first - 1] == "and" else None
        )
        subject = _is_subject(doc, m)
        move, other = "", ""
        if m.key in seen and pair is not None and pair.key != m.key and not doc.gap_punct[m.first]:
            move, other = "pair", pair.key
        elif m.key in seen and subject and last_subject not in (None, m.key):
            move, other = "turn", str(last_subject)
        if move:
            attrs = {"move": move, "name": m.key, "other": other, "n_characters": len(seen)}
            spans.append(Span(m.start, m.end, attrs))
        if subject:
            last_subject = m.key
        seen.add(m.key)
    return spans


def _is_subject(doc: Doc, m: Mention) -> bool:
    """Sentence-initial outside quotations, or a speaker tag right after a quotation."""
    if doc.quote_of[m.first] >= 0:
        return False
    if doc.sent_start[m.first]:
        return True
    if m.first > 0 and doc.lower[m.first - 1] in SPEECH_VERBS:  # '," said Tom'
        return _quote_in_gap(doc, m.first - 1)
    if m.last + 1 < len(doc.words) and doc.lower[m.last + 1] in SPEECH_VERBS:  # '," Tom said'
        return _quote_in_gap(doc, m.first)
    return False


def _quote_in_gap(doc: Doc, k: int) -> bool:
    start = doc.words[k - 1][1] if k > 0 else 0
    gap = doc.text[start : doc.words[k][0]]
    return '"' in gap or "”" in gap
