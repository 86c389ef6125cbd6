"""Fixtures for the tagger tests: a tiny TinyStories-style reference corpus and helpers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from capgym.tags import TagContext, get_tagger

_TEMPLATES = [
    (
        "Once upon a time, there was a little girl named {a}. {a} loved to play hide and seek"
        " with her friend {b}. One day, {a} and {b} went to the park. They saw a big red ball."
        ' {b} kicked the ball. The ball went up high! {a} laughed and said, "Good job, {b}!"'
        " From that day on, they played with the ball every day."
    ),
    (
        "One day, a boy named {b} found a kite. The kite was blue. {b} ran to his mom and said,"
        ' "Mom, look at my kite!" His mom smiled and said, "It is a very nice kite." {b} played'
        " with the kite all day. He was very happy."
    ),
    (
        "{a} and {b} wanted to play hide and seek. {a} hid behind a tree. {b} looked and looked,"
        " but he could not find her. Then {b} saw a dog. The dog ran to the tree. {a} laughed."
        " They had lots of fun. The end."
    ),
    (
        "Once upon a time, there was a cat named {c}. {c} liked to sleep in the sun. One day, it"
        " started to rain. The rain made {c} wet. {c} saw a mouse. The mouse ran away. {c} found"
        " a warm blanket. The blanket was soft. {c} fell asleep on the blanket."
    ),
    (
        "{a} went to the beach with her dad. The sand was hot and the waves were big. She found"
        ' a shell. The shell was pink. Her dad said, "What a pretty shell!" {a} smiled. She'
        " learned that the beach is full of surprises."
    ),
    (
        "{a} had two puppies. The puppies liked to run. One puppy was brown and one puppy was"
        " white. {a} baked cookies. The cookies were yummy. {a} gave the puppies a bath."
    ),
]
_CASTS = [
    ("Mia", "Ben", "Tiger"),
    ("Zara", "Leo", "Fluffy"),
    ("Anna", "Max", "Snowy"),
    ("Kira", "Omar", "Whiskers"),
]
REFERENCE = [t.format(a=a, b=b, c=c) for a, b, c in _CASTS for t in _TEMPLATES]


@pytest.fixture(scope="session")
def ctx() -> TagContext:
    """A context over the tiny reference corpus (names, nouns, phrases learned from it)."""
    return TagContext(REFERENCE)


def run(name: str, text: str, ctx: TagContext) -> list[tuple[str, dict[str, Any]]]:
    """``(span text, attrs)`` of every span tagger ``name`` returns on ``text``."""
    spans = list(get_tagger(name).fn(text, ctx))
    for s in spans:
        assert 0 <= s.char_start < s.char_end <= len(text)
        json.dumps(dict(s.attrs))
    return [(text[s.char_start : s.char_end], dict(s.attrs)) for s in spans]


def texts(name: str, text: str, ctx: TagContext) -> list[str]:
    """The span texts tagger ``name`` marks in ``text``."""
    return [t for t, _ in run(name, text, ctx)]
