"""pronoun: a third-person pronoun that must agree with its antecedent.

After "Sara found a shell", the next "she"/"her" must be feminine; after "the cookies",
"them" must be plural; after "a lemon on the ground", "play with it" refers to the
lemon.  The model has to find the antecedent and copy its gender and number.

Span: a personal pronoun, or the pronoun part of a contraction ("she" of "she'd",
"they" of "they're"), with an antecedent of matching gender and number before it
(outside quotations when the pronoun is): within WINDOW_SENTENCES (3) sentences for
he/she forms, WINDOW_PLURAL (6) for they/them/their forms, and for "it" only the same
or the previous sentence (WINDOW_IT = 1; further back, "it" was wrong in 3 of 8 read).
A pronoun with no antecedent in its window takes the antecedent of the last pronoun of
the same gender resolved within that window ("Lily ... She ... She ... Then, she"), in
narration and in quotations separately.
he/him/his/himself and she/her/hers/herself: the nearest person (a name, a kinship
word, or a person noun like "girl") of that gender, else the nearest person of unknown
gender.  they/their/theirs/themselves: the nearest "X and Y" pair of persons (a list
"Tom, Sam, and Max" and a person with a group, "Tim and his friends", count as one),
else the nearest plural of a being ("the kids", "the birds") or a group noun ("the
family", "the team"); a "They" opening a narrative sentence continues the plural
subject of a sentence at most two back when no pair was named after it ("They hugged
Mom and Dad. They cried": the same children).  them: the nearest such pair, group or
plural noun, whichever is nearer.  "they all"/"them all" names three or more, so it
never takes a pair of two, only a list of three, a person with a group, a group noun or
a plural ("Tom and Sam were brave. Max agreed. They all worked": not "Tom and Sam"; all
15 that took a pair of two in the 1,000 validation stories meant more); with none of
those in its window it is not tagged.
it/itself as an *object* only (after a verb or preposition, not sentence-initial, not
"it is/was": subject "it" is as often the weather or an event): the nearest singular
thing noun in a noun phrase (after a determiner; a reference-corpus noun, or a word
that ends the phrase: "a peach on", "his toy truck and"; not a person, name or generic
noun like "day"), one outside a prepositional phrase first ("a lemon
on the ground ... with it": the lemon).  Genders come from built-in lexicons, "a girl named
X", and he/she votes in the reference corpus.  attrs: ``pronoun`` (the word as
written, contraction included), ``gender`` (m/f/pl/n), ``number`` (sg/pl),
``antecedent``, ``antecedent_char``, ``antecedent_gender`` (m/f/pl/n, or "unknown"),
``distance_words``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from capgym.tags.context import TagContext
from capgym.tags.doc import Doc
from capgym.tags.families.repeated_noun import GENERIC_NOUNS
from capgym.tags.registry import Span, tagger
from capgym.tags.words import (
    ANIMATE,
    CLOSED_CLASS,
    DETERMINERS,
    GENDER,
    NUMBERS,
    PERSON_NOUNS,
    PREPOSITIONS,
    lexicon,
    singular,
)

_PRONOUNS = {w: "m" for w in lexicon("he him his himself")}
_PRONOUNS |= {w: "f" for w in lexicon("she her hers herself")}
_PRONOUNS |= {w: "pl" for w in lexicon("they them their theirs themselves")}
_PRONOUNS |= {w: "n" for w in lexicon("it itself")}
_CONTRACTED = lexicon("d s ll re ve")  # she'd, he's, they'll, they're, they've
# Singular nouns for groups of beings, which "they" can refer to.
GROUPS = lexicon("family team group class crowd herd flock band club gang")
# Before an object "it": a word that ends a clause makes "it" a subject instead.
_CLAUSE_WORDS = lexicon("and but so because when if that then or while as until after before")
_SUBJECT_VERBS = lexicon("is was will would can could did does has had isn't wasn't")
WINDOW_SENTENCES = 3
WINDOW_PLURAL = 6
WINDOW_IT = 1


@dataclass(frozen=True)
class _Cand:
    index: int  # last word of the antecedent
    start: int
    end: int
    gender: str | None  # m/f for persons, "pl" for plurals, "n" for things, None unknown
    kind: str = "person"  # person, pair, group, being (plural), thing, thing-in-pp
    many: bool = False  # three or more beings: "they all" may take it, not a pair of two


@tagger("pronoun", doc=__doc__)
def pronoun(text: str, ctx: TagContext) -> Iterable[Span]:
    """Pronouns with an agreeing antecedent.

    >>> [(s.attrs["pronoun"], s.attrs["antecedent"]) for s in pronoun(
    ...     "Tom met a girl named Sara. She smiled at him.", TagContext())]
    [('She', 'Sara'), ('him', 'Tom')]
    """
    doc = ctx.doc(text)
    persons, plurals = _candidates(doc, ctx)
    things: list[_Cand] | None = None
    chain: dict[str, tuple[int, bool, _Cand]] = {}  # gender -> last resolved pronoun
    pair_at = {c.start: c for c in plurals if c.kind == "pair"}
    subject_pl: tuple[int, _Cand] | None = None  # the last plural subject of a sentence
    spans = []
    for i, word in enumerate(doc.lower):
        if doc.words[i][0] in pair_at and _main_subject(doc, i):  # "Mom and Dad came."
            subject_pl = (doc.sent_id[i], pair_at[doc.words[i][0]])
        base, _, rest = word.partition("'")
        gender = _PRONOUNS.get(base)
        if gender is None or (rest and (rest not in _CONTRACTED or gender == "n")):
            continue
        many = gender == "pl" and doc.lower[i + 1 : i + 2] == ["all"]  # "they all"
        pool = [c for c in plurals if c.many or c.kind != "pair"] if many else plurals
        if gender == "pl":
            lo_sent = doc.sent_id[i] - WINDOW_PLURAL
            subject = subject_pl if subject_pl is None or _fits(subject_pl[1], many) else None
            if base == "them":  # objects are as often things: the nearest plural
                kinds = ("pair", "group", "being", "thing")
                ante = _nearest_plural(pool, i, lo_sent, doc, kinds)
            elif subject is not None and _continues_subject(subject[0], plurals, i, doc):
                ante = subject[1]  # "They hugged Mom and Dad. They cried": the same group
            else:  # a pair of characters in the window wins: "Tom and Sue ... they"
                ante = _nearest_plural(pool, i, lo_sent, doc, ("pair", "group", "being"), "pair")
        elif gender == "n":
            if not _object_it(doc, i):
                continue
            things = _things(doc, ctx) if things is None else things
            near = list(_window(things, i, doc.sent_id[i] - WINDOW_IT, doc))
            # the same sentence first; within a sentence a noun outside a prepositional
            # phrase first ("saw a peach on the ground and picked it up": the peach)
            rank = [(doc.sent_id[c.index] != doc.sent_id[i], c.kind != "thing") for c in near]
            ante = near[min(range(len(near)), key=rank.__getitem__)] if near else None
        else:
            ante = _nearest_person(persons, i, doc.sent_id[i] - WINDOW_SENTENCES, doc, gender)
        narrated = doc.quote_of[i] < 0
        if ante is None and gender in chain:  # "Lily ... She ... She ... Then, she"
            sent, was_narrated, prev = chain[gender]
            window = WINDOW_PLURAL if gender == "pl" else WINDOW_SENTENCES
            if doc.sent_id[i] - sent <= window and was_narrated == narrated and _fits(prev, many):
                ante = prev
        if ante is None:
            continue
        if gender != "n":
            chain[gender] = (doc.sent_id[i], narrated, ante)
        if base == "they" and _main_subject(doc, i):
            subject_pl = (doc.sent_id[i], ante)
        attrs = {
            "pronoun": doc.words[i][2],
            "gender": gender,
            "number": "pl" if gender == "pl" else "sg",
            "antecedent": text[ante.start : ante.end],
            "antecedent_char": ante.start,
            "antecedent_gender": ante.gender or "unknown",
            "distance_words": i - ante.index,
        }
        start = doc.words[i][0]
        spans.append(Span(start, start + len(base), attrs))
    return spans


def _fits(c: _Cand, many: bool) -> bool:
    """Whether ``c`` may be the antecedent of a "they all" (``many``): not a pair of two
    ("Tom and Sam ... Max agreed. They all": three)."""
    return not many or c.many or c.kind != "pair"


def _continues_subject(sent: int, plurals: list[_Cand], i: int, doc: Doc) -> bool:
    """Whether a sentence-initial "they" at word ``i`` takes the plural subject of
    sentence ``sent`` (at most two back, and no pair named in a later sentence) rather
    than the nearest pair: in "They went with Mom and Dad. They ..." the pair is an
    object."""
    if not _main_subject(doc, i) or doc.sent_id[i] - sent > 2:
        return False
    pair = _nearest_plural(plurals, i, sent, doc, ("pair",))
    return pair is None or doc.sent_id[pair.index] <= sent


def _main_subject(doc: Doc, i: int) -> bool:
    """Whether word ``i`` opens a narrative sentence (its subject, in TinyStories)."""
    return doc.sent_start[i] and doc.quote_of[i] < 0


def _object_it(doc: Doc, i: int) -> bool:
    """Whether "it" at word ``i`` is an object: after a verb or preposition in its clause,
    not sentence-initial and not followed by a verb that makes it a subject."""
    if i == 0 or doc.sent_start[i] or doc.quote_start[i] or doc.gap_punct[i]:
        return False
    if doc.lower[i - 1] in _CLAUSE_WORDS or doc.lower[i - 1] in _PRONOUNS:
        return False
    return not (i + 1 < len(doc.words) and doc.lower[i + 1] in _SUBJECT_VERBS)


def _things(doc: Doc, ctx: TagContext) -> list[_Cand]:
    """Singular thing nouns in noun phrases: the antecedents "it" may take."""
    out = []
    for i, low in enumerate(doc.lower):
        if low in CLOSED_CLASS | NUMBERS or low in PERSON_NOUNS | GROUPS | GENERIC_NOUNS:
            continue
        if singular(low) != low or doc.cap_informative(i):
            continue
        np_final = (
            i + 1 == len(doc.words) or doc.gap_punct[i + 1] or doc.lower[i + 1] in CLOSED_CLASS
        )
        verbal = low.endswith(("ing", "ly", "ed"))
        if low not in ctx.nouns and (verbal or not np_final):  # a corpus noun, or ends an NP
            continue
        d = doc.np_determiner(i)
        if d >= 0:
            in_pp = d > 0 and not doc.gap_punct[d] and doc.lower[d - 1] in PREPOSITIONS
            kind = "thing-in-pp" if in_pp else "thing"
            out.append(_Cand(i, doc.words[i][0], doc.words[i][1], "n", kind))
    return out


def _window(pool: list[_Cand], i: int, lo_sent: int, doc: Doc) -> Iterable[_Cand]:
    """Candidates before word ``i`` from sentence ``lo_sent`` on, nearest first; a
    pronoun in narration skips candidates inside quotations."""
    narrated = doc.quote_of[i] < 0
    for c in reversed(pool):
        if c.index >= i:
            continue
        if doc.sent_id[c.index] < lo_sent:
            return
        if not (narrated and doc.quote_of[c.index] >= 0):
            yield c


def _nearest_person(pool: list[_Cand], i: int, lo_sent: int, doc: Doc, g: str) -> _Cand | None:
    unknown = None
    for c in _window(pool, i, lo_sent, doc):
        if c.gender == g:
            return c
        if c.gender is None and unknown is None:
            unknown = c
    return unknown


def _nearest_plural(
    pool: list[_Cand], i: int, lo_sent: int, doc: Doc, kinds: tuple[str, ...], prefer: str = ""
) -> _Cand | None:
    for c in _window(pool, i, lo_sent, doc):
        if c.kind == prefer:
            return c
    for c in _window(pool, i, lo_sent, doc):
        if c.kind in kinds:
            return c
    return None


def _candidates(doc: Doc, ctx: TagContext) -> tuple[list[_Cand], list[_Cand]]:
    """Persons and plural antecedents of ``doc``, in text order."""
    persons: dict[int, _Cand] = {}  # keyed by first word, to find "X and Y"
    in_mention: set[int] = set()
    for m in doc.mentions:
        in_mention.update(range(m.first, m.last + 1))
        words = m.key.split()
        g = _intro_gender(doc, m.first) or ctx.gender_of(words[0]) or ctx.gender_of(words[-1])
        persons[m.first] = _Cand(m.last, m.start, m.end, g)
    for i, low in enumerate(doc.lower):
        if low in PERSON_NOUNS and i not in in_mention:
            persons[i] = _Cand(i, doc.words[i][0], doc.words[i][1], ctx.gender_of(low))
    by_last = {c.index: c for c in persons.values()}
    plurals = []
    nouns = ctx.nouns
    for i, low in enumerate(doc.lower):
        if low in CLOSED_CLASS or i in in_mention or doc.cap_informative(i):
            continue
        sg = singular(low)
        if sg != low and (sg in nouns or low in nouns):
            kind = "being" if sg in ANIMATE else "thing"
            plurals.append(_Cand(i, doc.words[i][0], doc.words[i][1], "pl", kind, True))
        elif low in GROUPS and doc.np_determiner(i) >= 0:  # "the family ... they"
            plurals.append(_Cand(i, doc.words[i][0], doc.words[i][1], "pl", "group", True))
    beings = {c.index: c for c in plurals if c.kind == "being"}
    for i, low in enumerate(doc.lower):  # "Tom and Sue", "the boy and his mom"
        if low != "and" or i - 1 not in by_last or i + 1 >= len(doc.words):
            continue
        right = None
        if not doc.gap_punct[i + 1]:
            j = i + 2 if doc.lower[i + 1] in DETERMINERS else i + 1
            right = persons.get(j) or beings.get(j)  # "Tim and his friends": one group
        if right is not None:
            start = _list_start(doc, i - 1, by_last)
            many = start < by_last[i - 1].start or right.kind == "being"  # "Tom, Sam and Max"
            plurals.append(_Cand(right.index, start, right.end, "pl", "pair", many))
    plurals.sort(key=lambda c: c.index)
    return sorted(persons.values(), key=lambda c: c.index), plurals


def _list_start(doc: Doc, k: int, by_last: dict[int, _Cand]) -> int:
    """Start of a comma list of persons ending at word ``k``: "Tom, Sam, and Max"."""
    start = by_last[k].start
    first = doc.word_range(start, start + 1).start
    while first > 0 and doc.text[doc.words[first - 1][1] : start] == ", " and first - 1 in by_last:
        start = by_last[first - 1].start
        first = doc.word_range(start, start + 1).start
    return start


def _intro_gender(doc: Doc, first: int) -> str | None:
    """Gender from "a little girl named X" right before a name."""
    if first < 2 or doc.lower[first - 1] not in ("named", "called"):
        return None
    for j in range(first - 2, max(first - 6, -1), -1):
        if doc.lower[j] in PERSON_NOUNS:
            return GENDER.get(doc.lower[j])
    return None
