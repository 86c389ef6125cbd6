"""Where a mined name is determined by its story, and which other name is then wrong.

A tagged name mention is a fair item (prompt = story up to it) only when the context
fixes the next word to be a name *and* rules out the other candidate.  Read by hand,
most tagged mentions fail this: the prompt ends at a sentence end or paragraph break
(a pronoun, "the" or any character may come next), or the other character could as
well be the subject.  Four slots pass (``slot_of``):

- ``reply``: a speaker tag right after a closed quotation ('"I know," replied |'),
  when the other character is *excluded as speaker*: addressed by name inside that
  quotation ('"Thank you, Tom," said |' - Tom is spoken to, not speaking), or tagged
  as the speaker of the quotation just before it, with only narration-free speech
  between ('"Can I play?" asked Tom. "Yes," said |' - the reply is the other's).
- ``addressee``: inside a quotation right after a greeting or thanks ('Lily smiled and
  said, "Thank you,|'; not after "Yes," / "No," / "Okay,", where "I ..." is as likely),
  when the speaker is named before the quotation in the same sentence
  (the speaker does not address herself; the wrong answer is the speaker).
- ``pair``: after "X and" where the pair "X and Y" (or "Y and X") was already used,
  with no other partner of X ('Peter and Jane ... Peter and |'); the wrong answer is
  X ("Peter and Peter" is not English).
- ``name-is``: after "name is"/"name was" ('Hi, my name is |') where the speaker was
  named before; the wrong answer is another character of the story.

In every slot the answer's name occurs earlier in the prompt (it is copied) and so
does the wrong name.

>>> names = ["Tom", "Sue"]
>>> slot_of('Tom met Sue. "Thank you, Tom," said', "Sue", names)
('reply', 'Tom')
>>> slot_of('Tom met Sue. She was happy.', "Sue", names) is None
True
>>> slot_of('Sue and Tom played. Then Sue and', "Tom", names)
('pair', 'Sue')
"""

from __future__ import annotations

import re

from capgym.tags.words import SPEECH_VERBS

_VERBS = "|".join(sorted(SPEECH_VERBS))
_QUOTE = '"“”'
_CLOSED_THEN_VERB = re.compile(rf"[,.!?]\s*[\"”]\s*(?:{_VERBS})$")
_GREETING = re.compile(
    r"[\"“](?:[^\"“”]*[.!?]\s+)?(?:hi|hello|hey|thank you|thanks|good night|goodbye|bye|"
    r"good morning)[,!]?$",
    re.IGNORECASE,
)
_SPEAKER_BEFORE = re.compile(
    rf"(?:^|[.!?\n]\s*)([A-Z][\w.]*(?: [A-Z]\w*)?)(?: \w+){{0,4}}? (?:{_VERBS})[,:]?\s*[\"“]"
    rf"[^\"“”]*$"
)
_FAMILY_KEYS = {
    "mom": "mother", "mommy": "mother", "mama": "mother", "mum": "mother",
    "mummy": "mother", "mother": "mother", "dad": "father", "daddy": "father",
    "papa": "father", "father": "father",
}  # fmt: skip


def person(name: str) -> str:
    """One key per character: case folded, "Mom"/"Mommy"/"mum" the same person.

    >>> person("Mommy") == person("mom"), person("Tom") == person("Tim")
    (True, False)
    """
    low = name.strip().lower()
    return _FAMILY_KEYS.get(low, low)


def _mentioned(name: str, text: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", text) is not None


def _last_quote(prompt: str) -> tuple[int, int] | None:
    """(opening, closing) positions of the quotation that closes at the end of the
    prompt (before the speech verb), or None."""
    m = _CLOSED_THEN_VERB.search(prompt)
    if m is None:
        return None
    close = max(prompt.rfind(q, 0, len(prompt)) for q in '"”')
    opening = max(prompt.rfind(q, 0, close) for q in '"“')
    return (opening, close) if opening >= 0 else None


def _addressed(quote: str) -> set[str]:
    """The persons spoken to in ``quote`` ('"Thank you, Tom!"', '"Tom, look"', '"Hi mom!"'),
    as :func:`person` keys; words that are no name ("hi") are harmless, callers look up
    names.

    >>> sorted(_addressed('"Hi, Tom! Thank you, mom."'))
    ['hi', 'mother', 'tom']
    """
    after = r"(?:(?<=[\"“])|(?<=, )|(?<=\bhi )|(?<=\bhey )|(?<=\bhello ))"
    found = re.findall(after + r"([A-Za-z]+)[,.!?]", quote, re.IGNORECASE)
    return {person(w) for w in found}


def _previous_speaker(prompt: str, opening: int, names: list[str]) -> str | None:
    """The name tagged as speaker of the quotation right before the one opening at
    ``opening``, when only that speaker tag (no narration) lies between them."""
    close = max(prompt.rfind(q, 0, opening) for q in '"”')
    if close < 0:
        return None
    gap = prompt[close + 1 : opening]
    if len(gap) > 60 or gap.count("\n") > 2:
        return None
    words = re.findall(r"[\w']+", gap)
    found = [n for n in names if _mentioned(n, gap)]
    verbs = [w for w in words if w.lower() in SPEECH_VERBS]
    if len(found) != 1 or not verbs or len(words) > 4:
        return None
    return found[0]


def _reply(prompt: str, answer: str, names: list[str]) -> str | None:
    span = _last_quote(prompt)
    if span is None:
        return None
    quote = prompt[span[0] : span[1] + 1]
    others = [n for n in names if person(n) != person(answer)]
    vocatives = _addressed(quote)
    spoken_to = [n for n in others if person(n) in vocatives]
    if spoken_to:
        return spoken_to[0]
    prev = _previous_speaker(prompt, span[0], names)
    return prev if prev is not None and person(prev) != person(answer) else None


def _addressee(prompt: str, answer: str, names: list[str]) -> str | None:
    if _GREETING.search(prompt) is None:
        return None
    m = _SPEAKER_BEFORE.search(prompt)
    if m is None:
        return None
    speaker = next((n for n in names if n == m.group(1)), None)
    return speaker if speaker is not None and person(speaker) != person(answer) else None


def _pair(prompt: str, answer: str, names: list[str]) -> str | None:
    m = re.search(r"\b([A-Z][\w]*) and$", prompt)
    if m is None or person(m.group(1)) == person(answer):
        return None
    first = m.group(1)
    if first not in names:
        return None
    earlier = prompt[: m.start()]
    partners = {person(p) for p in re.findall(rf"\b{first} and ([A-Z]\w*)", earlier)}
    partners |= {person(p) for p in re.findall(rf"\b([A-Z]\w*) and {first}\b", earlier)}
    # the earlier pairs name one partner only, and it is the answer
    return first if partners == {person(answer)} else None


def _name_is(prompt: str, answer: str, names: list[str]) -> str | None:
    if re.search(r"\bname (?:is|was)$", prompt) is None:
        return None
    others = [n for n in names if person(n) != person(answer) and n[:1].isupper()]
    return others[0] if others else None


SLOTS = ("reply", "addressee", "pair", "name-is")


def slot_of(
    prompt: str, answer: str, names: list[str], slots: tuple[str, ...] = SLOTS
) -> tuple[str, str] | None:
    """(slot, wrong name) when a name is determined at the end of ``prompt`` and the
    other name is excluded, else None; ``names`` are the story's characters (in order of
    first mention), ``slots`` the slots to try.  See the module doc for the slots."""
    prompt = prompt.rstrip(" ")
    answer = answer.strip()
    if not answer[:1].isupper() or not _mentioned(answer, prompt):
        return None
    rules = {"reply": _reply, "addressee": _addressee, "pair": _pair, "name-is": _name_is}
    for slot in slots:
        wrong = rules[slot](prompt, answer, names)
        if wrong is not None and _mentioned(wrong, prompt):
            return slot, wrong
    return None
