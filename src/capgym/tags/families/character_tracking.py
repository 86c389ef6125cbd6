"""character-tracking: choosing which character acts or speaks next.

With two characters on stage, the next sentence's subject or speaker is often the other
one ("Tom asked ... Sue said ..."), "X and Y" pairs come back together, and a pronoun
subject can name a character other than the last one who acted ("Spot was so happy.
Buddy barked. He and Buddy ran": "He" is Spot again).  Predicting it needs a model of
who is present and whose turn it is, not only copying the last name.

Span: a subject that refers to a character already in the story, when the previous
subject was a different character (``turn``): the first word of a narrative sentence
(outside quotations) or a speaker tag next to a speech verb after a quotation, being
either a character mention (see repeated-name) or a he/she/they pronoun whose antecedent
the pronoun family finds (``form`` "pronoun"; the referent is the antecedent, a pair
"Tom and Sam" when both were named before); or the second member of "X and Y" where X is
another character (``pair``, names only).  Pronoun subjects are what this family adds
beyond repeated-name.  The previous subject is also taken from a subject after a
sentence-opening phrase, which is not tagged ("One day, Tim met", "But Tom and Sam
were"), from a name in apposition to a possessive subject, not tagged either ("Lily's
friend, Timmy, came", "Her pal, an owl named Ollie, came": Timmy and Ollie act), and
from a parent named by a possessive ("Tom's mom asked", "His mom said"); a possessive
name is not a subject ("Sue's dog came"), and "They all" or a "they" the pronoun family
cannot resolve leaves the previous subject unknown; a he/she right after a subject of
that gender continues it, whatever character the pronoun family picks ("Rex
barked at Tom. He ran away": no turn).  attrs: ``move``,
``form`` ("name"/"pronoun"), ``name`` (the referent), ``other`` (the previous subject or
the partner), ``n_characters`` (distinct characters mentioned so far).
"""

from __future__ import annotations

from collections.abc import Iterable

from capgym.tags.context import TagContext
from capgym.tags.doc import Doc, Mention
from capgym.tags.families.pronoun import pronoun
from capgym.tags.registry import Span, tagger
from capgym.tags.words import CLOSED_CLASS, FAMILY, SPEECH_VERBS, lexicon

_SUBJECT_PRONOUNS = lexicon("he she they")
_POSSESSIVES = lexicon("his her their my your our")
_CONJUNCTIONS = lexicon("but and so then now")
_GENDER = {"he": "m", "she": "f"}


@tagger("character-tracking", doc=__doc__)
def character_tracking(text: str, ctx: TagContext) -> Iterable[Span]:
    """Turn-taking subjects (names and pronouns) and second members of character pairs.

    >>> text = "Tom and Sue played. Tom fell. Sue helped him. Then Tom and Sue ran."
    >>> [(s.attrs["name"], s.attrs["move"]) for s in character_tracking(text, TagContext())]
    [('Sue', 'turn'), ('Sue', 'pair')]
    >>> text = "Spot was happy. Spot saw Lily. Lily sang. He ran to her."
    >>> [(s.attrs["name"], s.attrs["form"]) for s in character_tracking(text, TagContext())]
    [('Lily', 'name'), ('Spot', 'pronoun')]
    """
    doc = ctx.doc(text)
    by_first = {m.first: m for m in doc.mentions}
    by_last = {m.last: m for m in doc.mentions}
    by_start = {m.start: m.key for m in doc.mentions}
    referents, kin_referents, gender = _pronoun_referents(text, ctx, doc, by_start)
    seen: set[str] = set()
    last_subject: str | None = None
    spans = []
    for i in range(len(doc.words)):
        m = by_first.get(i)
        fronted = _fronted(doc, i, by_first) or _appositive(doc, i, by_first)
        kin = _kin_subject(doc, i) if doc.sent_start[i] or fronted else ""
        if kin:  # "Tom's mom asked", "His dad said": the parent acts
            last_subject = kin
            if m is not None:
                seen.add(m.key)
            continue
        if doc.lower[i] == "they" and (i not in referents or doc.lower[i + 1 : i + 2] == ["all"]):
            if fronted or _is_subject(doc, i, i):  # "They all ran", or a group we cannot name
                last_subject = None
            continue
        same = _GENDER.get(doc.lower[i])
        resolved = i in referents or i in kin_referents
        if resolved and same is not None and _gender(last_subject, gender, ctx) == same:
            continue  # "Ben is sad. He misses Sam. He ...": a he after a he-subject is him
        if i in kin_referents and (fronted or _is_subject(doc, i, i)):  # "she" = "his mom"
            last_subject = kin_referents[i]
            continue
        if m is not None:
            key, end, last, form = m.key, m.end, m.last, "name"
        elif i in referents:
            key, end, last, form = referents[i], doc.words[i][1], i, "pronoun"
        else:
            continue
        owner = doc.lower[last].endswith("'s")  # "Sue's dog came": the dog is the subject
        subject = _is_subject(doc, i, last) and not owner
        fronted = fronted and not owner
        pair = (
            by_last.get(i - 2) if form == "name" and i >= 2 and doc.lower[i - 1] == "and" else None
        )
        move, other = "", ""
        known = all(k.strip(", ") in seen for k in key.split(" and "))  # a pair: both seen
        if known and pair is not None and pair.key != key and not doc.gap_punct[i]:
            move, other = "pair", pair.key
        elif known and subject and last_subject is not None and _apart(key, last_subject):
            move, other = "turn", str(last_subject)
        if move:
            attrs = {"move": move, "form": form, "name": key, "other": other,
                     "n_characters": len(seen)}  # fmt: skip
            spans.append(Span(doc.words[i][0], end, attrs))
        if subject or fronted:  # "One day, Tim met ..." is Tim's turn too, though not tagged
            last_subject = key
        if form == "name":
            seen.add(key)
    return spans


def _pronoun_referents(
    text: str, ctx: TagContext, doc: Doc, by_start: dict[int, str]
) -> tuple[dict[int, str], dict[int, str], dict[str, str]]:
    """Word index -> referent of each he/she/they pronoun the pronoun family resolves to a
    character mention (or to a pair of them, "Tom and Sue"); of each he/she it resolves
    to a kinship word in lower case ("his mom ... she": "mom"); and referent -> the
    gender ("m"/"f") of the he/she pronouns resolved to it."""
    index = {s: i for i, s in enumerate(doc.starts)}
    out, kin, gender = {}, {}, {}
    for sp in pronoun(text, ctx):
        if sp.attrs["pronoun"].lower() not in _SUBJECT_PRONOUNS:
            continue
        ante = by_start.get(sp.attrs["antecedent_char"])
        if ante is not None and sp.attrs["gender"] != "pl":
            out[index[sp.char_start]] = ante
            gender[ante] = sp.attrs["gender"]
        elif sp.attrs["gender"] == "pl" and " and " in sp.attrs["antecedent"]:
            out[index[sp.char_start]] = sp.attrs["antecedent"]
        elif sp.attrs["antecedent"].lower() in FAMILY:
            kin[index[sp.char_start]] = sp.attrs["antecedent"].lower()
            gender[sp.attrs["antecedent"].lower()] = sp.attrs["gender"]
    return out, kin, gender


def _gender(key: str | None, resolved: dict[str, str], ctx: TagContext) -> str | None:
    """Gender of character ``key``: that of the pronouns resolved to it, else of its name
    ("m"/"f"; None for a pair or when unknown)."""
    if key is None or " and " in key:
        return None
    words = key.split()
    return resolved.get(key) or ctx.gender_of(words[0]) or ctx.gender_of(words[-1])


def _fronted(doc: Doc, i: int, by_first: dict[int, Mention]) -> bool:
    """Whether word ``i`` is the subject after a sentence-opening phrase: "But Tom ...",
    "One day, Tim ...", "When they got home, Timmy ..." (narration only; not inside a
    list of names, "Tom, Sam, and Max").

    >>> d = Doc.build("One day, Tim ran. But Sue sat. Tom, Sam and Max ate.")
    >>> [_fronted(d, i, {m.first: m for m in d.mentions}) for i in (2, 5, 8)]
    [True, True, False]
    """
    if doc.sent_start[i] or doc.quote_of[i] >= 0:
        return False
    k = i
    while k > 0 and not doc.sent_start[k]:
        k -= 1
    if i == k + 1 and doc.lower[k] in _CONJUNCTIONS and not doc.gap_punct[i]:
        return True
    gap = doc.text[doc.words[i - 1][1] : doc.words[i][0]]
    commas = [j for j in range(k + 1, i) if "," in doc.text[doc.words[j - 1][1] : doc.starts[j]]]
    return gap == ", " and not commas and i - k <= 8 and k not in by_first


def _appositive(doc: Doc, i: int, by_first: dict[int, Mention]) -> bool:
    """Whether word ``i`` starts a name in apposition to a possessive subject: "Lily's
    friend, Timmy, came", "Then his dog, Max, ran", "One day, her friend, a wise owl
    named Ollie, came" (narration; not an object, "She saw her friend, Tom", nor a list,
    "Lily's mom, Tom and Sue").

    >>> d = Doc.build("Lily's friend, Tim, came. Then her cat, Tom, ran. Ann saw her dog, Max.")
    >>> [_appositive(d, i, {m.first: m for m in d.mentions}) for i in (2, 7, 14)]
    [True, True, False]
    >>> d = Doc.build("His pal, a wise owl named Ollie, came.")
    >>> _appositive(d, 6, {m.first: m for m in d.mentions})
    True
    """
    m = by_first.get(i)
    if m is None or i < 2 or doc.quote_of[i] >= 0:
        return False
    after = m.last + 1
    if after < len(doc.words) and (doc.lower[after] == "and" or after in by_first):
        return False  # a list of names, "Lily's mom, Tom and Sue"
    c = i if _gap(doc, i) == ", " else _named_after_comma(doc, i)
    for j in range(c - 2, max(c - 5, -1), -1):  # "Lily's [little] [big] brother, Max"
        if doc.gap_punct[j + 1] or doc.lower[j + 1] in CLOSED_CLASS:
            return False
        if doc.lower[j] in _POSSESSIVES or doc.name_base(j) != doc.lower[j]:
            return doc.sent_start[j] or _fronted(doc, j, by_first)
    return False


def _named_after_comma(doc: Doc, i: int) -> int:
    """For the name at word ``i`` in ", a wise owl named Ollie", the index of the "a"
    after the comma; else -1."""
    if doc.lower[i - 1] not in ("named", "called") or doc.gap_punct[i - 1]:
        return -1
    for c in range(i - 2, max(i - 7, 0), -1):
        if doc.lower[c] in ("a", "an", "the") and _gap(doc, c) == ", ":
            return c
        if doc.gap_punct[c]:
            return -1
    return -1


def _gap(doc: Doc, i: int) -> str:
    """The text between word ``i - 1`` and word ``i``."""
    return doc.text[doc.words[i - 1][1] : doc.words[i][0]]


def _kin_subject(doc: Doc, i: int) -> str:
    """The kinship word of a subject like "Tom's mom" or "His dad" at word ``i``, else "".

    >>> d = Doc.build("Tom's mom smiled. His dad sat. Tom ran.")
    >>> [_kin_subject(d, i) for i in (0, 3, 6)]
    ['mom', 'dad', '']
    """
    if doc.quote_of[i] >= 0 or i + 1 >= len(doc.words) or doc.gap_punct[i + 1]:
        return ""
    owner = doc.lower[i] in _POSSESSIVES or doc.lower[i].endswith("'s")
    return doc.lower[i + 1] if owner and doc.lower[i + 1] in FAMILY else ""


def _apart(a: str, b: str) -> bool:
    """Whether characters ``a`` and ``b`` share no member ("Sara" is part of "Sara and
    Ben", so a turn from the pair to Sara is no turn).

    >>> _apart("Sara", "Ben"), _apart("Sara", "Sara and Ben")
    (True, False)
    """
    return {k.strip(", ") for k in a.split(" and ")}.isdisjoint(
        k.strip(", ") for k in b.split(" and ")
    )


def _is_subject(doc: Doc, first: int, last: int) -> bool:
    """Sentence-initial outside quotations, or a speaker tag right after a quotation."""
    if doc.quote_of[first] >= 0:
        return False
    if doc.sent_start[first]:
        return True
    if first > 0 and doc.lower[first - 1] in SPEECH_VERBS:  # '," said Tom'
        return _quote_in_gap(doc, first - 1)
    if last + 1 < len(doc.words) and doc.lower[last + 1] in SPEECH_VERBS:  # '," Tom said'
        return _quote_in_gap(doc, first)
    return False


def _quote_in_gap(doc: Doc, k: int) -> bool:
    start = doc.words[k - 1][1] if k > 0 else 0
    gap = doc.text[start : doc.words[k][0]]
    return '"' in gap or "”" in gap
