"""pronoun: a third-person pronoun that must agree with its antecedent.

After "Sara found a shell", the next "she"/"her" must be feminine; after "the cookies",
"them" must be plural.  The model has to find the antecedent and copy its gender and
number.

Span: a pronoun (he him his himself / she her hers herself / they them their theirs
themselves / it its itself) with an antecedent of matching gender and number within the
three sentences before it: for he/she forms the nearest person (a name, a kinship word,
or a person noun like "girl") of that gender, else the nearest person of unknown gender;
for they forms the nearest "X and Y" pair of persons or plural noun; for it forms the
nearest singular non-person noun phrase in the same or previous sentence ("it was",
"it is" and the like are skipped as mostly non-referring).  Genders come from built-in
lexicons, "a girl named X", and he/she votes in the reference corpus.  attrs:
``pronoun``, ``gender`` (m/f/n/pl), ``number`` (sg/pl), ``antecedent``,
``antecedent_char``, ``antecedent_gender`` (m/f/n/pl or "unknown"), ``distance_words``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from capgym.tags.context import TagContext
from capgym.tags.doc import Doc
from capgym.tags.registry import Span, tagger
from capgym.tags.words import CLOSED_CLASS, DETERMINERS, GENDER, PERSON_NOUNS, lexicon, singular

_PRONOUNS = {w: ("m", "sg") for w in lexicon("he him his himself")}
_PRONOUNS |= {w: ("f", "sg") for w in lexicon("she her hers herself")}
_PRONOUNS |= {w: ("pl", "pl") for w in lexicon("they them their theirs themselves")}
_PRONOUNS |= {w: ("n", "sg") for w in lexicon("it its itself")}
_DUMMY_IT_NEXT = lexicon("was is will would seemed looked felt started began")
WINDOW_SENTENCES = 3


@dataclass(frozen=True)
class _Cand:
    index: int  # last word of the antecedent
    start: int
    end: int
    gender: str | None  # m/f for persons, "pl", "n", or None when unknown


@tagger("pronoun", doc=__doc__)
def pronoun(text: str, ctx: TagContext) -> Iterable[Span]:
    """Pronouns with an agreeing antecedent.

    >>> [(s.attrs["pronoun"], s.attrs["antecedent"]) for s in pronoun(
    ...     "Tom met a girl named Sara. She smiled at him.", TagContext())]
    [('She', 'Sara'), ('him', 'Tom')]
    """
    doc = ctx.doc(text)
    persons, plurals, things = _candidates(doc, ctx)
    spans = []
    for i, low in enumerate(doc.lower):
        if low not in _PRONOUNS:
            continue
        gender, number = _PRONOUNS[low]
        if low == "it" and i + 1 < len(doc.words) and doc.lower[i + 1] in _DUMMY_IT_NEXT:
            continue
        lo_sent = doc.sent_id[i] - (1 if gender == "n" else WINDOW_SENTENCES)
        pool = {"m": persons, "f": persons, "pl": plurals, "n": things}[gender]
        ante = _nearest(pool, i, lo_sent, doc, gender)
        if ante is None:
            continue
        attrs = {
            "pronoun": doc.words[i][2],
            "gender": gender,
            "number": number,
            "antecedent": text[ante.start : ante.end],
            "antecedent_char": ante.start,
            "antecedent_gender": ante.gender or "unknown",
            "distance_words": i - ante.index,
        }
        spans.append(Span(doc.words[i][0], doc.words[i][1], attrs))
    return spans


def _nearest(pool: list[_Cand], i: int, lo_sent: int, doc: Doc, gender: str) -> _Cand | None:
    unknown = None
    for c in reversed(pool):
        if c.index >= i:
            continue
        if doc.sent_id[c.index] < lo_sent:
            break
        if c.gender == gender or gender in ("pl", "n"):
            return c
        if c.gender is None and unknown is None:
            unknown = c
    return unknown


def _candidates(doc: Doc, ctx: TagContext) -> tuple[list[_Cand], list[_Cand], list[_Cand]]:
    """Persons, plural antecedents and singular things of ``doc``, in text order."""
    persons: dict[int, _Cand] = {}  # keyed by first word, to find "X and Y"
    in_mention: set[int] = set()
    for m in doc.mentions:
        in_mention.update(range(m.first, m.last + 1))
        g = _intro_gender(doc, m.first) or ctx.gender_of(m.key.split()[0])
        if g is None and len(m.key.split()) > 1:
            g = ctx.gender_of(m.key.split()[-1])
        persons[m.first] = _Cand(m.last, m.start, m.end, g)
    for i, low in enumerate(doc.lower):
        if low in PERSON_NOUNS and i not in in_mention:
            persons[i] = _Cand(i, doc.words[i][0], doc.words[i][1], ctx.gender_of(low))
    by_last = {c.index: c for c in persons.values()}
    plurals, things = [], []
    nouns = ctx.nouns
    for i, low in enumerate(doc.lower):
        if low in CLOSED_CLASS or i in in_mention or doc.cap_informative(i):
            continue
        if low == "and" or low in PERSON_NOUNS:
            continue
        sg = singular(low)
        if sg != low and (sg in nouns or low in nouns):
            plurals.append(_Cand(i, doc.words[i][0], doc.words[i][1], "pl"))
        elif low in nouns and doc.np_determiner(i) >= 0:
            things.append(_Cand(i, doc.words[i][0], doc.words[i][1], "n"))
    for i, low in enumerate(doc.lower):  # "Tom and Sue", "the boy and his mom"
        if low != "and" or i - 1 not in by_last:
            continue
        j = i + 2 if i + 2 in persons and doc.lower[i + 1] in DETERMINERS else i + 1
        if j in persons and not doc.gap_punct[i + 1]:
            right = persons[j]
            plurals.append(_Cand(right.index, by_last[i - 1].start, right.end, "pl"))
    plurals.sort(key=lambda c: c.index)
    return sorted(persons.values(), key=lambda c: c.index), plurals, things


def _intro_gender(doc: Doc, first: int) -> str | None:
    """Gender from "a little girl named X" right before a name."""
    if first < 2 or doc.lower[first - 1] not in ("named", "called"):
        return None
    for j in range(first - 2, max(first - 6, -1), -1):
        if doc.lower[j] in PERSON_NOUNS:
            return GENDER.get(doc.lower[j])
    return None
