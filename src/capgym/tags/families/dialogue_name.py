"""dialogue-name: a name used as addressee or speaker tag in dialogue.

In '"Thank you, Ben"' the addressee is the other participant; in '"...," said Mom' the
speaker tag names who spoke.  Both need the model to track who is in the conversation.

Span: a character mention (see repeated-name) that is (a) ``addressee``: inside a
quotation, right after the opening mark or after ", " or a greeting ("Hi Tom"), and
followed by , . ! or ? (a kinship word in lower case counts here too: "Thank you, mom");
or (b) ``speaker``: next to a speech verb ("said", "asked", ...) that directly follows a
closing quote ('," said Mom', '," Mom said') or directly precedes an opening one ('Mom
said, "'), or before "VERB and" + speech verb that precedes one ('Mom laughed and said,
"', 'Lily smiled and said, "'); not across a sentence end: in '?" Lily asked. "Of
course"' Lily spoke the quotation before.  A name between a quotation and "VERB and
said" answers it ('"I bet you can't!" Tom laughed and said, "..."') and is the speaker
of the next quotation only.  attrs: ``name``, ``role``, ``where`` ("in-quote",
"after-quote", "before-quote") and ``quote_char`` (the related quotation's opening
mark).
"""

from __future__ import annotations

from collections.abc import Iterable

from capgym.tags.context import TagContext
from capgym.tags.doc import Doc
from capgym.tags.registry import Span, tagger
from capgym.tags.words import CLOSED_CLASS, FAMILY, SPEECH_VERBS, lexicon

_GREETINGS = lexicon("hi hello hey bye goodbye thanks please sorry yes no okay ok oh")


@tagger("dialogue-name", doc=__doc__)
def dialogue_name(text: str, ctx: TagContext) -> Iterable[Span]:
    """Names as addressees inside quotations and as speaker tags around them.

    >>> ctx = TagContext()
    >>> [(s.attrs["name"], s.attrs["role"]) for s in dialogue_name(
    ...     '"Hi, Ben!" said Mom.', ctx)]
    [('Ben', 'addressee'), ('Mom', 'speaker')]
    """
    doc = ctx.doc(text)
    cands = {m.first: (m.start, m.end, m.key, m.last, True) for m in doc.mentions}
    for i, low in enumerate(doc.lower):
        if low in FAMILY and i not in cands:  # "Thank you, mom": only as an addressee
            cands[i] = (doc.words[i][0], doc.words[i][1], doc.words[i][2], i, False)
    closes = {c: o for o, c in doc.quotes}
    opens = {o for o, _ in doc.quotes}
    spans = []
    for first in sorted(cands):
        s, e, name, last, is_mention = cands[first]
        found = _addressee(doc, first, s, e)
        if not found and is_mention:
            found = _speaker(doc, first, last, closes, opens)
        if found:
            where, quote = found
            role = "addressee" if where == "in-quote" else "speaker"
            attrs = {"name": name, "role": role, "where": where, "quote_char": quote}
            spans.append(Span(s, e, attrs))
    return spans


def _addressee(doc: Doc, i: int, s: int, e: int) -> tuple[str, int] | None:
    q = doc.quote_of[i]
    if q < 0 or doc.text[e : e + 1] not in (",", ".", "!", "?") or e >= doc.quotes[q][1] + 1:
        return None
    before = doc.text[max(s - 2, 0) : s]
    greeted = i > 0 and doc.lower[i - 1] in _GREETINGS and before.endswith(" ")
    if doc.quote_start[i] or before == ", " or greeted:
        return "in-quote", doc.quotes[q][0]
    return None


def _speaker(
    doc: Doc, first: int, last: int, closes: dict[int, int], opens: set[int]
) -> tuple[str, int] | None:
    n = len(doc.words)
    if doc.quote_of[first] >= 0:
        return None
    verb_before = first > 0 and doc.lower[first - 1] in SPEECH_VERBS
    verb_after = last + 1 < n and doc.lower[last + 1] in SPEECH_VERBS
    # 'Lily smiled and said, "...': any verb, then "and" and a speech verb
    acted = (
        not verb_after
        and last + 3 < n
        and not doc.lower[last].endswith("'s")  # "looked at Lily's knee and said"
        and doc.lower[last + 1] not in CLOSED_CLASS
        and doc.lower[last + 2] == "and"
        and doc.lower[last + 3] in SPEECH_VERBS
        and not any(doc.gap_punct[last + 1 : last + 4])
    )
    if verb_before:  # '," said Mom'
        o = _quote_closed_before(doc, first - 1, closes)
        if o is not None:
            return "after-quote", o
    if verb_after or acted:
        v = last + 1
        # '"I bet you can't!" Tom laughed and said, "..."': Tom answers; he is the speaker
        # of the next quotation, not of the one before him
        chained = v + 2 < n and doc.lower[v + 1] == "and" and doc.lower[v + 2] in SPEECH_VERBS
        after = doc.words[v + 2 if chained else v][1]
        for k in range(after, min(after + 4, len(doc.text))):  # 'Mom said, "'
            if k in opens and not any(ch in ".!?\n" for ch in doc.text[after:k]):
                return "before-quote", k
        o = None if chained else _quote_closed_before(doc, first, closes)  # '," Mom said'
        if o is not None:
            return "after-quote", o
    return None


def _quote_closed_before(doc: Doc, k: int, closes: dict[int, int]) -> int | None:
    """Opening position of a quotation that closes right before word ``k`` (spaces only
    between), else None."""
    start = doc.words[k - 1][1] if k > 0 else 0
    for c in range(doc.words[k][0] - 1, start - 1, -1):
        if c in closes:
            return closes[c]
        if not doc.text[c].isspace():
            return None
    return None
