"""Mined name examples only where the story determines the name (tasks/name_slots.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from capgym.tasks import make
from capgym.tasks.name_slots import SLOTS, person, slot_of

NAMES = ["Tom", "Sue", "Mom"]


def test_a_reply_excludes_the_name_spoken_to() -> None:
    assert slot_of('Tom saw Sue. "Hi, Tom!" said', "Sue", NAMES) == ("reply", "Tom")
    assert slot_of('Tom saw Sue. "Hi, Sue!" said', "Tom", NAMES) == ("reply", "Sue")


def test_a_reply_excludes_the_previous_speaker() -> None:
    prompt = 'Tom and Sue played. "Can I have a turn?" asked Tom.\n\n"Yes, you can," said'
    assert slot_of(prompt, "Sue", NAMES) == ("reply", "Tom")
    # narration between the two quotations: the turn is not determined
    prompt = 'Tom and Sue played. "Can I play?" asked Tom. Sue ran off and came back. "No," said'
    assert slot_of(prompt, "Sue", NAMES) is None


def test_an_addressee_is_not_the_speaker() -> None:
    assert slot_of('Sue gave Tom a cake. Tom smiled and said, "Thank you,', "Sue", NAMES) == (
        "addressee",
        "Tom",
    )
    # after "Yes," the next word is as likely "I" as a name
    assert slot_of('Sue gave Tom a cake. Tom smiled and said, "Yes,', "Sue", NAMES) is None


def test_a_pair_repeats_its_only_partner() -> None:
    assert slot_of("Tom and Sue ran. Then Tom and", "Sue", NAMES) == ("pair", "Tom")
    # Tom had two partners: which one comes is not determined
    assert slot_of("Tom and Sue ran. Tom and Mom sat. Then Tom and", "Sue", NAMES) is None


def test_no_slot_at_a_sentence_end_or_for_an_unseen_name() -> None:
    assert slot_of("Tom and Sue ran. Then", "Sue", NAMES) is None
    assert slot_of("Tom and Sue ran.\n\n", "Tom", NAMES) is None
    assert slot_of('"Hi, Tom!" said', "Sue", NAMES) is None  # Sue is not in the prompt


def test_family_words_are_one_person() -> None:
    assert person("Mommy") == person("mom") and person("Tom") != person("Sue")
    # "mom" is spoken to, so "Mommy" (the same person) is not the speaker: no slot
    assert slot_of('Mommy hugged Lily. "Thank you, mom!" said', "Mommy", ["Mommy", "mom"]) is None
    assert slot_of('Mommy hugged Lily. "Thank you, mom!" said', "Lily", ["Mommy", "Lily"]) == (
        "reply",
        "Mommy",
    )


# Read by hand (prompt tail, answer, wrong; on stories260K's and TinyStories-656K's
# tokens): before these rules 7/20, 12/20 and 10/20 mined examples of repeated-name,
# dialogue-name and character-tracking were bad; after, 0/20 of each on both tokenizers
# (one earlier bad one, a pronoun "She" as the wrong name, is now excluded).
@pytest.mark.parametrize(
    ("task_id", "at_least"),
    [("repeated-name", 150), ("dialogue-name", 25), ("character-tracking", 150)],
)
def test_mined_name_examples_are_determined(task_id: str, at_least: int, assets: Path) -> None:
    task = make(task_id, n=1, perturb=False, corpus="tinystories-validation-0-999", mined=10_000)
    mined = [e for e in task.examples if e.meta["source"] == "mined"]
    assert len(mined) >= at_least
    for e in mined:
        end = e.prompt.rstrip(" ")
        assert e.meta["slot"] in SLOTS
        # never at a sentence end, a paragraph break or right after a closed quotation
        assert not re.search(r"[.!?\n\"”]$", end), e
        ans, (wrong,) = e.answer.strip(), [w.strip() for w in e.wrong]
        assert person(ans) != person(wrong)
        for name in (ans, wrong):  # the answer is copied; the wrong name is in the story
            assert re.search(rf"\b{re.escape(name)}\b", e.prompt), e
        if e.meta["slot"] == "reply":
            assert re.search(r"[\"”]\s*\w+$", end), e
        if e.meta["slot"] == "pair":
            assert end.endswith(f"{wrong} and"), e
