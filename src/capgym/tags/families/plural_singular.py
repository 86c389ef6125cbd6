"""plural-singular: a noun reappearing in its other number ("the puppies ... one puppy").

A model that has seen "puppies" can predict "puppy" (and the reverse) by copying the
stem and choosing the inflection that the new noun phrase needs.

Span: a noun in a noun phrase (determiner, possessive or number within the two words
before it, a comma between two adjectives allowed: "a big, yummy cake"; not "all"/"both"
after a pronoun: "they all became good friends"; a possessive noun counts without its
"'s": "her best friend's") whose other number (singular <-> plural, regular or
irregular) occurred earlier in the story, whose own form did *not* occur earlier (so
predicting it needs a change of number, not a copy: "went to see the zebras, ... a
unique zebra"), and whose singular is in the reference noun lexicon (not "other":
"help others ... each other" is a pronoun).  "this"/"that" open only a singular noun
phrase: in "learned that ducks are nice", "ducks" has no determiner.  attrs: ``word``,
``lemma`` (singular), ``number`` ("singular"/"plural", of this word), ``other_form``,
``other_char`` (start of the latest earlier other-number form), ``distance_words``.
"""

from __future__ import annotations

from collections.abc import Iterable

from capgym.tags.context import TagContext
from capgym.tags.doc import Doc
from capgym.tags.families.repeated_noun import GENERIC_NOUNS
from capgym.tags.registry import Span, tagger
from capgym.tags.words import CLOSED_CLASS, DETERMINERS, NUMBERS, PRONOUNS, singular

_NP_STARTERS = DETERMINERS | NUMBERS
_FLOATING = frozenset({"all", "both", "each"})
# "other(s)" is a pronoun ("help others", "each other", "the others"), not a noun.
_NOT_NOUNS = GENERIC_NOUNS | {"other"}


@tagger("plural-singular", doc=__doc__)
def plural_singular(text: str, ctx: TagContext) -> Iterable[Span]:
    """Nouns whose other number, and not their own form, appeared earlier.

    >>> ctx = TagContext(["The puppy ran. A puppy, a puppy and the puppies."])
    >>> [s.attrs["other_form"] for s in plural_singular("Two puppies. One puppy.", ctx)]
    ['puppies']
    >>> plural_singular("A puppy. Two puppies. The puppy.", ctx)[1:]  # "puppy" again: a copy
    []
    """
    doc = ctx.doc(text)
    nouns = ctx.nouns
    last: dict[str, dict[str, int]] = {}  # lemma -> form -> latest word index
    spans = []
    for i, (s, e, _) in enumerate(doc.words):
        low = doc.name_base(i)  # "her best friend's birthday": the noun is "friend"
        e = s + len(low)
        if low in CLOSED_CLASS or doc.cap_informative(i):
            continue
        lemma = singular(low)
        if lemma not in nouns or lemma in _NOT_NOUNS:
            continue
        forms = last.setdefault(lemma, {})
        others = [(j, f) for f, j in forms.items() if f != low]
        if others and low not in forms and _in_noun_phrase(doc, i, nouns):
            j, form = max(others)
            attrs = {
                "word": low,
                "lemma": lemma,
                "number": "singular" if lemma == low else "plural",
                "other_form": form,
                "other_char": doc.words[j][0],
                "distance_words": i - j,
            }
            spans.append(Span(s, e, attrs))
        forms[low] = i
    return spans


def _in_noun_phrase(doc: Doc, i: int, nouns: frozenset[str]) -> bool:
    """Whether word ``i`` ends a noun phrase opened by a determiner, possessive or number,
    also across a comma between two adjectives ("a big, yummy cake"), but not after a
    floating quantifier ("they all became good friends").

    >>> d = Doc.build("They all became good friends. A big, yummy cake. The ball, cake.")
    >>> [_in_noun_phrase(d, i, frozenset({"ball", "cake", "friend"})) for i in (4, 8, 11)]
    [False, True, False]
    """
    j = doc.np_determiner(i)
    comma = i >= 3 and doc.text[doc.words[i - 2][1] : doc.words[i - 1][0]] == ", "
    # DET ADJ, ADJ NOUN; the word before the comma must not be a noun ("the ball, cake")
    if (
        j < 0
        and comma
        and doc.lower[i - 3] in _NP_STARTERS
        and not (doc.gap_punct[i - 2] or doc.gap_punct[i])
        and singular(doc.lower[i - 2]) not in nouns
        and doc.lower[i - 1] not in CLOSED_CLASS
    ):
        j = i - 3
    if j > 0 and doc.lower[j] in _FLOATING and doc.lower[j - 1] in PRONOUNS:
        return False
    return j >= 0
