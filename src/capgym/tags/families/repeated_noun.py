"""repeated-noun: a noun that reappears after being introduced ("a red kite ... the kite").

After "a red kite" enters a story, "the ..." is likely to continue with "kite": the model
copies an introduced entity rather than guessing a noun.

Span: a later occurrence of the same word form, when the word is a noun (in the
reference corpus's noun lexicon: words seen as "the w," / "a w and"), it stands in a
noun phrase (a determiner, possessive or number within the two words before it) and it
is not a name or a generic noun (day, time, way, thing, ...).  attrs: ``noun``,
``n_previous``, ``first_char``, ``prev_char``, ``distance_chars``, ``distance_words``.
"""

from __future__ import annotations

from collections.abc import Iterable

from capgym.tags.context import TagContext
from capgym.tags.registry import Span, tagger
from capgym.tags.words import lexicon

GENERIC_NOUNS = lexicon(
    "day days time times way ways lot lots thing things bit end kind sort moment minute"
    " minutes while today tomorrow morning night evening afternoon side part rest fun idea"
    " ideas home place places week year years hour hours"
)


@tagger("repeated-noun", doc=__doc__)
def repeated_noun(text: str, ctx: TagContext) -> Iterable[Span]:
    """Later noun-phrase occurrences of a noun already in the story.

    >>> ctx = TagContext(["The kite was red. A kite, a kite and the kite."])
    >>> [(s.char_start, s.attrs["noun"]) for s in repeated_noun("A red kite. The kite.", ctx)]
    [(16, 'kite')]
    """
    doc = ctx.doc(text)
    nouns = ctx.nouns
    seen: dict[str, list[int]] = {}
    spans = []
    for i, (s, e, w) in enumerate(doc.words):
        low = doc.lower[i]
        if low not in nouns or low in GENERIC_NOUNS or doc.cap_informative(i):
            continue
        earlier = seen.setdefault(low, [])
        if earlier and doc.np_determiner(i) >= 0:
            prev = earlier[-1]
            attrs = {
                "noun": low,
                "n_previous": len(earlier),
                "first_char": doc.words[earlier[0]][0],
                "prev_char": doc.words[prev][0],
                "distance_chars": s - doc.words[prev][0],
                "distance_words": i - prev,
            }
            spans.append(Span(s, e, attrs))
        earlier.append(i)
    return spans
