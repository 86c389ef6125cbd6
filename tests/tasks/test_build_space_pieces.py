"""The boundary check on tokenizers whose pieces end in a space (``'One▁day,▁'``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from capgym.errors import TaskError
from capgym.models.base import Encoding
from capgym.tasks import Example, build_example, make
from capgym.tasks.build import build_examples


def trailing_words(text: str) -> Encoding:
    """A toy encoder with one token per word *and the spaces after it*, BOS first."""
    ms = list(re.finditer(r"\s*\S+\s*|\s+", text))
    return Encoding(
        [1] + [hash(m.group()) % 997 + 2 for m in ms], [(0, 0)] + [m.span() for m in ms]
    )


def test_leading_space_of_the_answers_joins_the_prompt() -> None:
    ex = Example("e", "One day,", " Molly", (" Tom",))
    b = build_example(trailing_words, ex, "t")
    assert b.absorbed == " " and b.resplit == ""
    assert b.prompt_ids == trailing_words("One day, ").ids
    assert b.answer_ids == trailing_words("One day, Molly").ids[len(b.prompt_ids) :]
    assert b.wrong_ids == [trailing_words("One day, Tom").ids[len(b.prompt_ids) :]]


def test_answers_without_the_same_leading_space_are_still_refused() -> None:
    with pytest.raises(TaskError, match="merges with the end of the prompt"):
        build_example(trailing_words, Example("e", "One day,", " Molly", ("Tom",)), "t")


def test_tinystories_656k_builds_the_gym(assets: Path) -> None:
    from capgym.models import load_model

    if not (assets / "models" / "TinyStories-656K").is_dir():
        pytest.skip("TinyStories-656K is not in the assets")
    lm = load_model("TinyStories-656K")
    for task_id in ("repeated-name", "pronoun", "dialogue-name", "character-tracking"):
        task = make(task_id, n=60, seed=1)
        built, errors, _ = build_examples(lm, task.id, task.examples)
        assert len(built) >= 0.9 * len(task.examples), (task_id, errors[:2])
        examples = {e.id: e for e in task.examples}
        for b in built:
            ex = examples[b.example_id]
            if b.resplit or b.truncated:
                continue
            assert lm.encode(ex.prompt + b.absorbed).ids == b.prompt_ids
            assert lm.encode(ex.prompt + ex.answer).ids == b.prompt_ids + b.answer_ids
